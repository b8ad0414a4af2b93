package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/internal/grpcstub"
	"github.com/mtls-doctor/mtls-doctor/internal/nginxtest"
	"github.com/mtls-doctor/mtls-doctor/internal/pki"
)

// The NGINX → upstream suite: a real front NGINX whose location / passes to an upstream
// over TLS with a client certificate (proxy_ssl_*), and a real upstream NGINX with
// ssl_verify_client on — or a Go crypto/tls upstream that rejects in the handshake, an
// upstream that answers with one alert, a plaintext one, or none. Each scenario breaks one
// thing, sends one request through the front so both NGINX log what happened, then runs
// `mtls-doctor --check -o json --nginx-config FRONT --logs FRONT,UPSTREAM` and asserts the
// finding, the exit code and the real line it quotes.

// upLab is one scenario's link.
type upLab struct {
	dir string
	pki *nginxtest.UpstreamPKI
	// The upstream: an NGINX server block, a Go TLS config, an alert, a plaintext NGINX,
	// or nothing listening.
	upstream *nginxtest.Server
	goTLS    *tls.Config
	alert    byte
	plain    bool
	// sniOnly makes the Go upstream refuse a ClientHello without SNI with alert 40.
	sniOnly bool
	// module is the front's pass module ("proxy" or "grpc"); ssl its upstream directives.
	module string
	ssl    nginxtest.ProxySSL
	// extra is written into the front's location.
	extra string
	// noStart writes the front's configuration without starting it (nginx -t refuses it).
	noStart bool

	// interFile holds the last intermediate made with intermediate, as its CA hands it out.
	// alertUp is the stand-in answering every ClientHello with alert.
	alertUp *nginxtest.AlertUpstream

	interFile string
	// clientCAFile holds the CA that issued the front's client certificate when it is not
	// the link's CA, as that CA hands it out.
	clientCAFile string
	// allowList is the Go upstream's allow-list of client subjects (one RFC 2253 DN a
	// line), which it reads when it starts; "" accepts any subject its CA issued.
	allowList string

	target          string
	front, up       *nginxtest.Instance
	goUp            *nginxtest.TLSUpstream
	frontConf       string
	frontLog, upLog string
}

// newUpLab is the healthy link: client certificate, the upstream verified by name with
// SNI, against an upstream NGINX requiring a client certificate from the same CA.
func newUpLab(t *testing.T) *upLab {
	t.Helper()
	nginxtest.Require(t)
	dir := t.TempDir()
	p := nginxtest.NewUpstreamPKI(t, dir, time.Now())
	up := p.UpstreamServer(nginxtest.FreePort(t))
	return &upLab{dir: dir, pki: p, upstream: &up, module: "proxy", ssl: nginxtest.ProxySSL{
		Certificate: p.ClientCert, CertificateKey: p.ClientKey, TrustedCertificate: p.CAFile,
		Verify: "on", Name: nginxtest.UpstreamName, ServerName: "on", Protocols: "TLSv1.2 TLSv1.3",
	}}
}

// start starts the upstream and the front and sends one request through the front.
func (u *upLab) start(t *testing.T) {
	t.Helper()
	switch {
	case u.goTLS != nil && u.sniOnly:
		u.goUp = nginxtest.StartSNIUpstream(t, u.goConfig(t))
		u.target = u.goUp.Addr()
	case u.goTLS != nil:
		u.goUp = nginxtest.StartTLSUpstream(t, u.goConfig(t))
		u.target = u.goUp.Addr()
	case u.alert != 0:
		u.alertUp = nginxtest.StartAlertUpstream(t, u.alert)
		u.target = u.alertUp.Addr()
	case u.plain:
		dir := filepath.Join(u.dir, "upstream")
		mkdir(t, dir)
		srv := nginxtest.Server{Port: nginxtest.FreePort(t), Extra: "location / { return 200; }\n"}
		u.up = nginxtest.Start(t, dir, nginxtest.Config{Dir: dir, ServerBlock: srv.Block()}.String())
		u.target = u.up.Addr()
	case u.upstream != nil:
		dir := filepath.Join(u.dir, "upstream")
		mkdir(t, dir)
		u.up = nginxtest.Start(t, dir, nginxtest.Config{Dir: dir, ServerBlock: u.upstream.Block()}.String())
		u.target = u.up.Addr()
		u.upLog = u.up.ErrorLogPath()
	default:
		u.target = fmt.Sprintf("127.0.0.1:%d", nginxtest.FreePort(t)) // nothing listens
	}
	dir := filepath.Join(u.dir, "front")
	mkdir(t, dir)
	scheme, pass := "https", "proxy_pass"
	if u.module == "grpc" {
		scheme, pass = "grpcs", "grpc_pass"
	}
	loc := pass + " " + scheme + "://" + u.target + ";\n" + u.ssl.Directives(u.module) + u.extra
	front := nginxtest.Server{Port: nginxtest.FreePort(t), ServerName: "front.test.local", HTTP2: u.module == "grpc",
		Extra: "location / {\n" + indentLines(loc, "    ") + "}\n"}
	conf := nginxtest.Config{Dir: dir, ServerBlock: front.Block()}.String()
	u.frontConf = filepath.Join(dir, nginxtest.ConfName)
	u.frontLog = filepath.Join(dir, nginxtest.ErrorLogName)
	if u.noStart {
		writeFile(t, u.frontConf, []byte(conf), 0o644)
		return
	}
	u.front = nginxtest.Start(t, dir, conf)
	u.request(t)
}

// goConfig is the Go upstream's TLS configuration as it starts: goTLS, and the
// allow-list read now, as a service reads its files when it starts.
func (u *upLab) goConfig(t *testing.T) *tls.Config {
	t.Helper()
	cfg := u.goTLS.Clone()
	if u.allowList == "" {
		return cfg
	}
	data, err := os.ReadFile(u.allowList)
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{}
	for line := range strings.Lines(string(data)) {
		allowed[strings.TrimSpace(line)] = true
	}
	cfg.VerifyPeerCertificate = func(_ [][]byte, chains [][]*x509.Certificate) error {
		if len(chains) == 0 || len(chains[0]) == 0 {
			return errors.New("no verified client certificate")
		}
		if dn := chains[0][0].Subject.String(); !allowed[dn] {
			return fmt.Errorf("%s is not on the allow-list", dn)
		}
		return nil
	}
	return cfg
}

// request sends one request through the front: HTTP/1.1 GET for proxy_pass, an HTTP/2
// (h2c) gRPC POST for grpc_pass.
func (u *upLab) request(t *testing.T) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	req, _ := http.NewRequest(http.MethodGet, "http://"+u.front.Addr()+"/", nil)
	if u.module == "grpc" {
		var protocols http.Protocols
		protocols.SetUnencryptedHTTP2(true)
		c.Transport = &http.Transport{Protocols: &protocols}
		req, _ = grpcstub.NewRequest(context.Background(), "http://"+u.front.Addr()+"/pkg.Service/Method")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Logf("request through the front: %v", err)
		return
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	t.Logf("request through the front: %s", resp.Status)
}

// check runs mtls-doctor on the front's configuration and both error logs.
func (u *upLab) check(t *testing.T) checkResult {
	t.Helper()
	logs := []string{u.frontLog}
	if u.upLog != "" {
		logs = append(logs, u.upLog)
	}
	return checkJSON(t, nil, "--nginx-config", u.frontConf, "--logs", strings.Join(logs, ","), "--since", "1h", "--timeout", "3s")
}

// waitLine waits for a line holding text in the front's or the upstream's error log.
func (u *upLab) waitLine(t *testing.T, level, text string) string {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		for _, path := range []string{u.frontLog, u.upLog} {
			if path == "" {
				continue
			}
			b, _ := os.ReadFile(path)
			for line := range strings.Lines(string(b)) {
				if strings.Contains(line, text) {
					if !strings.Contains(line, level) {
						t.Errorf("NGINX logged %q at another level than %s", line, level)
					}
					return strings.TrimSpace(line)
				}
			}
		}
		if time.Now().After(deadline) {
			b1, _ := os.ReadFile(u.frontLog)
			b2, _ := os.ReadFile(u.upLog)
			t.Fatalf("no NGINX line holds %q:\nfront:\n%s\nupstream:\n%s", text, b1, b2)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func indentLines(s, prefix string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		b.WriteString(prefix + line)
	}
	return b.String()
}

// newClient replaces the front's client certificate with one issued by issuer (nil: the
// link's CA) from spec.
func (u *upLab) newClient(t *testing.T, issuer *pki.Cert, spec pki.Spec) {
	t.Helper()
	if issuer == nil {
		issuer = u.pki.CA
	}
	c, err := u.pki.Gen.Issue(issuer, spec)
	if err != nil {
		t.Fatal(err)
	}
	writeCerts(t, u.pki.ClientCert, c)
	writeKey(t, u.pki.ClientKey, c)
}

// intermediate issues an intermediate CA named cn under the link's CA and writes its
// certificate to interFile.
func (u *upLab) intermediate(t *testing.T, cn string) *pki.Cert {
	t.Helper()
	c, err := u.pki.Gen.Issue(u.pki.CA, pki.Spec{CommonName: cn, IsCA: true})
	if err != nil {
		t.Fatal(err)
	}
	u.interFile = writeCerts(t, filepath.Join(u.dir, cn+".pem"), c)
	return c
}

func clientSpec() pki.Spec {
	return pki.Spec{CommonName: "front-proxy", EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
}

// upScenario is one setup of the suite.
type upScenario struct {
	name  string
	setup func(t *testing.T, u *upLab)
	// want is the finding that must have severity sev; exit the process's exit code.
	want, sev string
	exit      int
	// logLine is "[level]|text": NGINX (front or upstream) logs a line holding both, and
	// the finding quotes it. nginxT is text of nginx -t's refusal the finding quotes.
	logLine, nginxT string
	// cause is the finding's Cause.Code, when the scenario names it.
	cause string
}

// tls12 makes a Go upstream's refusal of the client certificate arrive in the handshake.
// Under TLS 1.3 the front finishes its handshake first, and whether it then reads Go's
// alert (SSL_read() failed … SSL alert number N) or a reset ("connect() failed (104:
// Connection reset by peer) while connecting to upstream") is a race.
const tls12 = "TLSv1.2"

var upScenarios = []upScenario{
	{name: "healthy", exit: exitOK},
	{name: "no-client-cert", want: "upstream-client-cert-not-configured", sev: "fail", exit: exitFailure,
		setup:   func(t *testing.T, u *upLab) { u.ssl.Certificate, u.ssl.CertificateKey = "", "" },
		logLine: "[info]|client sent no required SSL certificate while reading client request headers"},
	{name: "go-upstream-tls13-no-client-cert", want: "upstream-client-cert-not-configured", sev: "fail", exit: exitFailure,
		setup: func(t *testing.T, u *upLab) {
			u.goTLS, u.ssl.Certificate, u.ssl.CertificateKey = u.pki.GoTLSConfig(), "", ""
		},
		logLine: "[crit]|alert certificate required:SSL alert number 116) while reading response header from upstream"},
	{name: "client-cert-expired", want: "upstream-client-cert-expired", sev: "fail", exit: exitFailure,
		setup: func(t *testing.T, u *upLab) {
			s := clientSpec()
			s.From, s.Until = -400*24*time.Hour, -24*time.Hour
			u.newClient(t, nil, s)
		},
		logLine: "[info]|client SSL certificate verify error: (10:certificate has expired)"},
	{name: "go-upstream-client-cert-expired", want: "upstream-client-cert-expired", sev: "fail", exit: exitFailure,
		setup: func(t *testing.T, u *upLab) {
			s := clientSpec()
			s.From, s.Until = -400*24*time.Hour, -24*time.Hour
			u.newClient(t, nil, s)
			u.goTLS, u.ssl.Protocols = u.pki.GoTLSConfig(), tls12
		},
		logLine: "[error]|alert certificate expired:SSL alert number 45) while SSL handshaking to upstream"},
	{name: "client-cert-not-yet-valid", want: "upstream-client-cert-not-yet-valid", sev: "fail", exit: exitFailure,
		setup: func(t *testing.T, u *upLab) {
			s := clientSpec()
			s.From, s.Until = 24*time.Hour, 400*24*time.Hour
			u.newClient(t, nil, s)
		},
		logLine: "[info]|client SSL certificate verify error: (9:certificate is not yet valid)"},
	{name: "client-cert-serverauth-only", want: "upstream-client-cert-wrong-purpose", sev: "fail", exit: exitFailure,
		setup: func(t *testing.T, u *upLab) {
			u.newClient(t, nil, pki.Spec{CommonName: "front-proxy", EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		},
		logLine: "[info]|client SSL certificate verify error: (26:unsuitable certificate purpose)"},
	{name: "client-cert-other-ca", want: "upstream-client-cert-unknown-ca", sev: "fail", exit: exitFailure,
		setup: func(t *testing.T, u *upLab) {
			other, err := u.pki.Gen.Root("other-ca")
			if err != nil {
				t.Fatal(err)
			}
			u.newClient(t, other, clientSpec())
			u.clientCAFile = writeCerts(t, filepath.Join(u.dir, "other-ca.pem"), other)
		},
		logLine: "[info]|client SSL certificate verify error: (2"},
	{name: "go-upstream-client-cert-other-ca", want: "upstream-client-cert-unknown-ca", sev: "fail", exit: exitFailure,
		setup: func(t *testing.T, u *upLab) {
			other, err := u.pki.Gen.Root("other-ca")
			if err != nil {
				t.Fatal(err)
			}
			u.newClient(t, other, clientSpec())
			u.clientCAFile = writeCerts(t, filepath.Join(u.dir, "other-ca.pem"), other)
			u.goTLS, u.ssl.Protocols = u.pki.GoTLSConfig(), tls12
		},
		logLine: "[error]|alert unknown ca:SSL alert number 48) while SSL handshaking to upstream"},
	{name: "client-cert-revoked-by-upstream", want: "upstream-client-cert-revoked", sev: "fail", exit: exitFailure,
		setup: func(t *testing.T, u *upLab) {
			crl := filepath.Join(u.dir, "upstream-client.crl")
			writeFile(t, crl, crlPEM(t, u.pki.CA, u.pki.Client), 0o644)
			u.upstream.CRL = crl
		},
		logLine: "[info]|client SSL certificate verify error: (23:certificate revoked)"},
	{name: "go-upstream-dn-allow-list", want: "upstream-client-cert-rejected", sev: "fail", exit: exitFailure,
		setup: func(t *testing.T, u *upLab) {
			// The Go service's allow-list names another client, not the front.
			u.allowList = filepath.Join(u.dir, "allowed-clients.txt")
			writeFile(t, u.allowList, []byte("CN=other-front\n"), 0o644)
			u.goTLS, u.ssl.Protocols = u.pki.GoTLSConfig(), tls12
		},
		logLine: "[error]|alert bad certificate:SSL alert number 42) while SSL handshaking to upstream"},
	{name: "key-does-not-match", want: "upstream-client-key-mismatch", sev: "fail", exit: exitFailure,
		setup: func(t *testing.T, u *upLab) {
			u.ssl.CertificateKey = u.pki.ServerKey
			u.noStart = true
		},
		nginxT: "key values mismatch"},
	{name: "encrypted-key-without-password-file", want: "upstream-client-key-encrypted", sev: "fail", exit: exitFailure,
		setup: func(t *testing.T, u *upLab) {
			// openssl encrypts the key as an admin would (PKCS#8, AES-256).
			enc := u.pki.ClientKey + ".enc"
			out, err := exec.Command("openssl", "pkey", "-in", u.pki.ClientKey, "-aes256", "-passout", "pass:s3cret",
				"-out", enc).CombinedOutput()
			if err != nil {
				t.Fatalf("openssl pkey: %v\n%s", err, out)
			}
			if err := os.Rename(enc, u.pki.ClientKey); err != nil {
				t.Fatal(err)
			}
			u.noStart = true
		},
		nginxT: "cannot load certificate key"},
	{name: "client-cert-file-missing", want: "upstream-client-cert-file-invalid", sev: "fail", exit: exitFailure,
		setup: func(t *testing.T, u *upLab) {
			u.ssl.Certificate = filepath.Join(u.dir, "gone.pem")
			u.noStart = true
		},
		nginxT: "cannot load certificate"},
	{name: "client-cert-rsa-1024", want: "upstream-client-cert-weak-key", sev: "fail", exit: exitFailure,
		setup: func(t *testing.T, u *upLab) {
			s := clientSpec()
			s.Key, s.Bits = pki.RSA, 1024
			u.newClient(t, nil, s)
			u.noStart = true
		},
		nginxT: "ee key too small"},
	{name: "verify-off", want: "upstream-verify-off", sev: "warn", exit: exitWarning,
		setup: func(t *testing.T, u *upLab) { u.ssl.Verify = "" }},
	{name: "verify-without-trusted-ca", want: "upstream-trusted-ca-missing", sev: "fail", exit: exitFailure,
		setup: func(t *testing.T, u *upLab) {
			u.ssl.TrustedCertificate = ""
			u.noStart = true
		},
		nginxT: "no proxy_ssl_trusted_certificate for proxy_ssl_verify"},
	{name: "upstream-untrusted", want: "upstream-cert-untrusted", sev: "fail", exit: exitFailure,
		setup: func(t *testing.T, u *upLab) {
			other, err := u.pki.Gen.Root("other-ca")
			if err != nil {
				t.Fatal(err)
			}
			u.ssl.TrustedCertificate = writeCerts(t, filepath.Join(u.dir, "other-ca.pem"), other)
		},
		logLine: "[error]|upstream SSL certificate verify error: (21:unable to verify the first certificate) while SSL handshaking to upstream"},
	{name: "upstream-name-is-the-ip", want: "upstream-name-mismatch", sev: "fail", exit: exitFailure,
		setup:   func(t *testing.T, u *upLab) { u.ssl.Name, u.ssl.ServerName = "", "" },
		logLine: `[error]|upstream SSL certificate does not match "127.0.0.1" while SSL handshaking to upstream`},
	{name: "upstream-needs-sni", want: "upstream-sni-missing", sev: "fail", exit: exitFailure,
		setup: func(t *testing.T, u *upLab) {
			u.ssl.ServerName = ""
			// The upstream's default server refuses handshakes without its name.
			u.upstream.Extra += "}\nserver {\n    listen 127.0.0.1:" + fmt.Sprint(u.upstream.Port) + " ssl default_server;\n    ssl_reject_handshake on;\n"
		},
		// Alert 112 is not among the handshake reasons NGINX logs at [error]: [crit].
		logLine: "[crit]|SSL alert number 112) while SSL handshaking to upstream"},
	{name: "upstream-cert-expired", want: "upstream-cert-expired", sev: "fail", exit: exitFailure,
		setup: func(t *testing.T, u *upLab) {
			c, err := u.pki.Gen.Issue(u.pki.CA, pki.Spec{CommonName: nginxtest.UpstreamName, DNSNames: []string{nginxtest.UpstreamName},
				From: -400 * 24 * time.Hour, Until: -24 * time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			writeCerts(t, u.pki.ServerCert, c)
			writeKey(t, u.pki.ServerKey, c)
		},
		logLine: "[error]|upstream SSL certificate verify error: (10:certificate has expired) while SSL handshaking to upstream"},
	{name: "upstream-cert-revoked", want: "upstream-cert-revoked", sev: "fail", exit: exitFailure,
		setup: func(t *testing.T, u *upLab) {
			crl := filepath.Join(u.dir, "upstream-server.crl")
			writeFile(t, crl, crlPEM(t, u.pki.CA, u.pki.Server), 0o644)
			u.ssl.CRL = crl
		},
		logLine: "[error]|upstream SSL certificate verify error: (23:certificate revoked) while SSL handshaking to upstream"},
	{name: "upstream-two-intermediates-at-depth-1", want: "upstream-verify-depth", sev: "fail", exit: exitFailure,
		setup: func(t *testing.T, u *upLab) {
			i1, err := u.pki.Gen.Issue(u.pki.CA, pki.Spec{CommonName: "upstream-int-1", IsCA: true})
			if err != nil {
				t.Fatal(err)
			}
			i2, _ := u.pki.Gen.Issue(i1, pki.Spec{CommonName: "upstream-int-2", IsCA: true})
			leaf, _ := u.pki.Gen.Issue(i2, pki.Spec{CommonName: nginxtest.UpstreamName, DNSNames: []string{nginxtest.UpstreamName},
				EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			writeCerts(t, u.pki.ServerCert, leaf, i2, i1)
			writeKey(t, u.pki.ServerKey, leaf)
		},
		logLine: "[error]|upstream SSL certificate verify error: (2"},
	// The front's client certificate is issued by an intermediate its file leaves out; the
	// upstream trusts (and names) only the root, so it cannot build the chain.
	{name: "client-chain-without-intermediate", want: "upstream-client-chain-incomplete", sev: "fail", exit: exitFailure,
		setup: func(t *testing.T, u *upLab) {
			inter := u.intermediate(t, "upstream-client-int")
			u.newClient(t, inter, clientSpec())
			u.upstream.VerifyDepth = 2
			// The front knows the intermediate (its trusted CA file), the way an admin has it.
			u.ssl.TrustedCertificate = writeCerts(t, filepath.Join(u.dir, "ca-and-int.pem"), u.pki.CA, inter)
		},
		logLine: "[info]|client SSL certificate verify error: (21:unable to verify the first certificate)"},
	// The upstream's certificate hangs under two intermediates and its file holds only the
	// lower one; the front trusts only the root, so the upper one is missing.
	{name: "upstream-chain-without-upper-intermediate", want: "upstream-chain-incomplete", sev: "fail", exit: exitFailure,
		setup: func(t *testing.T, u *upLab) {
			upper := u.intermediate(t, "upstream-server-int-1")
			lower, err := u.pki.Gen.Issue(upper, pki.Spec{CommonName: "upstream-server-int-2", IsCA: true})
			if err != nil {
				t.Fatal(err)
			}
			leaf, err := u.pki.Gen.Issue(lower, pki.Spec{CommonName: nginxtest.UpstreamName, DNSNames: []string{nginxtest.UpstreamName},
				EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			if err != nil {
				t.Fatal(err)
			}
			writeCerts(t, u.pki.ServerCert, leaf, lower)
			writeKey(t, u.pki.ServerKey, leaf)
			u.ssl.VerifyDepth = "3"
		},
		logLine: "[error]|upstream SSL certificate verify error: (20:unable to get local issuer certificate) while SSL handshaking to upstream"},
	{name: "client-cert-expiring", want: "upstream-client-cert-expiring", sev: "warn", exit: exitWarning,
		setup: func(t *testing.T, u *upLab) {
			s := clientSpec()
			s.From, s.Until = -300*24*time.Hour, 3*24*time.Hour
			u.newClient(t, nil, s)
		}},
	{name: "upstream-tls13-only", want: "upstream-tls-version-mismatch", sev: "fail", exit: exitFailure,
		setup: func(t *testing.T, u *upLab) {
			u.upstream.Protocols = "TLSv1.3"
			u.ssl.Protocols = "TLSv1.2"
		},
		logLine: "[error]|alert protocol version:SSL alert number 70) while SSL handshaking to upstream"},
	// The upstream NGINX accepts TLS 1.2 with one suite only, which the front's
	// proxy_ssl_ciphers leaves out: OpenSSL answers "no shared cipher" with alert 40.
	{name: "upstream-handshake-failure-alert", want: "upstream-tls-handshake-failed", sev: "fail", exit: exitFailure,
		setup: func(t *testing.T, u *upLab) {
			u.upstream.Protocols, u.upstream.Ciphers = "TLSv1.2", "ECDHE-ECDSA-CHACHA20-POLY1305"
			u.ssl.Ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384"
		},
		cause:   diagnostics.CauseNoSharedCipher,
		logLine: "[error]|alert handshake failure:SSL alert number 40) while SSL handshaking to upstream"},
	// A virtual-hosted upstream (a CDN, an ingress) refuses a ClientHello without SNI with
	// alert 40; proxy_ssl_server_name is off.
	{name: "upstream-requires-sni", want: "upstream-tls-handshake-failed", sev: "fail", exit: exitFailure,
		setup: func(t *testing.T, u *upLab) {
			u.goTLS, u.sniOnly, u.ssl.ServerName = u.pki.GoTLSConfig(), true, ""
		},
		cause:   diagnostics.CauseSNIRequired,
		logLine: "[error]|alert handshake failure:SSL alert number 40) while SSL handshaking to upstream"},
	{name: "upstream-plaintext", want: "upstream-not-tls", sev: "fail", exit: exitFailure,
		setup:   func(t *testing.T, u *upLab) { u.plain = true },
		logLine: "[error]|wrong version number) while SSL handshaking to upstream"},
	{name: "upstream-down", want: "upstream-unreachable", sev: "fail", exit: exitFailure,
		setup:   func(t *testing.T, u *upLab) { u.upstream = nil },
		logLine: "[error]|connect() failed (111: Connection refused) while connecting to upstream"},
	// NIM 1.x's third topology: NGINX re-encrypts the agents' gRPC towards nginx-manager
	// with grpc_pass grpcs:// and grpc_ssl_certificate — an upstream link like any other.
	// The front here passes every gRPC path, the agents' too, over plaintext h2c without
	// asking the agents for a certificate: client-auth-not-required warns (exit 1), and the
	// link itself passes.
	{name: "nim1-grpcs-reencrypt", exit: exitWarning,
		setup: func(t *testing.T, u *upLab) { u.module, u.upstream.HTTP2 = "grpc", true }},
	{name: "nim1-grpcs-reencrypt-name-is-the-ip", want: "upstream-name-mismatch", sev: "fail", exit: exitFailure,
		setup: func(t *testing.T, u *upLab) {
			u.module, u.upstream.HTTP2 = "grpc", true
			u.ssl.Name, u.ssl.ServerName = "", ""
		},
		logLine: `[error]|upstream SSL certificate does not match "127.0.0.1" while SSL handshaking to upstream`},
	{name: "grpcs-with-proxy-ssl-directives", want: "upstream-client-cert-not-configured", sev: "fail", exit: exitFailure,
		setup: func(t *testing.T, u *upLab) {
			u.module = "grpc"
			u.upstream.HTTP2 = true
			// The certificate is named with proxy_ssl_*, which grpc_pass ignores.
			u.extra = "proxy_ssl_certificate " + u.ssl.Certificate + ";\nproxy_ssl_certificate_key " + u.ssl.CertificateKey + ";\n"
			u.ssl.Certificate, u.ssl.CertificateKey = "", ""
		},
		logLine: "[info]|client sent no required SSL certificate while reading client request headers"},
}

func TestUpstreamScenarios(t *testing.T) {
	for _, sc := range upScenarios {
		t.Run(sc.name, func(t *testing.T) {
			u := newUpLab(t)
			if sc.setup != nil {
				sc.setup(t, u)
			}
			u.start(t)
			var line string
			if sc.logLine != "" {
				level, text, _ := strings.Cut(sc.logLine, "|")
				line = u.waitLine(t, level, text)
				t.Logf("nginx: %s", line)
			}
			res := u.check(t)
			if res.exit != sc.exit {
				t.Errorf("exit %d, want %d:\n%s", res.exit, sc.exit, res.excerpt())
			}
			if sc.want == "" {
				for _, f := range res.report.Findings {
					if f.Severity == "fail" {
						t.Errorf("healthy link: %s fails: %s", f.ID, f.Summary)
					}
					if f.Category == string(diagnostics.CategoryUpstream) && f.Severity != "ok" && f.Severity != "skip" {
						t.Errorf("healthy link: %s is %s: %s", f.ID, f.Severity, f.Summary)
					}
				}
				return
			}
			f, ok := res.find(sc.want)
			if !ok || f.Severity != sc.sev {
				t.Fatalf("want %s %s, got %s %q\n%s", sc.want, sc.sev, f.Severity, f.Summary, res.excerpt())
			}
			if f.Subject == nil || f.Subject.Kind != diagnostics.SubjectUpstreamLink || !strings.HasPrefix(f.Subject.Name, "front.test.local → ") {
				t.Errorf("subject %+v", f.Subject)
			}
			quote := sc.nginxT
			if line != "" {
				_, quote, _ = strings.Cut(sc.logLine, "|")
			}
			if quote != "" && !quotes(f, quote) {
				t.Errorf("%s does not quote %q:\n%s", sc.want, quote, findingText(f))
			}
			if len(f.Fix) == 0 {
				t.Errorf("%s has no fix steps", sc.want)
			}
			if sc.cause != "" && (f.Cause == nil || f.Cause.Code != sc.cause) {
				t.Errorf("cause %+v, want %s:\n%s", f.Cause, sc.cause, findingText(f))
			}
		})
	}
}

// quotes reports whether a finding quotes a line holding text.
func quotes(f diagnostics.JSONFinding, text string) bool {
	for _, e := range f.Evidence {
		for _, q := range e.Quote {
			if strings.Contains(q, text) {
				return true
			}
		}
	}
	return false
}
