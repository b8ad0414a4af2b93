package diagnostics

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/logparse"
	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// frontConf is a front NGINX with one verified mTLS link to backend.example.com.
const frontConf = `http {
    server {
        listen 80;
        server_name front.example.com;
        location /api/ {
            proxy_pass https://backend.example.com:8443;
            proxy_ssl_certificate /etc/nginx/proxy.crt;
            proxy_ssl_certificate_key /etc/nginx/proxy.key;
            proxy_ssl_trusted_certificate /etc/nginx/upstream-ca.pem;
            proxy_ssl_verify on;
            proxy_ssl_server_name on;
        }
    }
}
`

// upstreamPKI is the link's PKI: one CA issues the upstream's server certificate and the
// front's client certificate.
type upstreamPKI struct {
	ca, server, client *testCert
}

func newUpstreamPKI(t *testing.T) *upstreamPKI {
	t.Helper()
	p := &upstreamPKI{}
	p.ca = mkCert(t, certSpec{cn: "upstream-ca", ca: true, notAfter: testNow.AddDate(10, 0, 0)}, nil)
	p.server = mkCert(t, certSpec{cn: "backend.example.com", dns: []string{"backend.example.com"},
		eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, p.ca)
	p.client = mkCert(t, certSpec{cn: "front-proxy", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		keyUsage: x509.KeyUsageDigitalSignature}, p.ca)
	return p
}

// upstreamFacts builds the link facts of conf the way the gatherer does, with the files
// of p and one probe per server that saw a healthy upstream.
func upstreamFacts(t *testing.T, conf string, p *upstreamPKI) *probes.UpstreamFacts {
	t.Helper()
	cfg, err := nginxconf.Parse(testNginxMain, []byte(conf), nginxconf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out := &probes.UpstreamFacts{Version: "1.22.1", Concurrency: 8, StepTimeout: 5 * time.Second}
	for _, link := range cfg.UpstreamLinks("1.22.1") {
		l := &probes.UpstreamLinkFacts{UpstreamLink: link}
		if s := link.SSL.Certificate; s.Path != "" {
			l.Cert = certFile(probes.RoleCert, s.Path, p.client.cert)
		}
		if s := link.SSL.CertificateKey; s.Path != "" {
			l.Key = keyFile(s.Path, p.client)
		}
		if s := link.SSL.TrustedCertificate; s.Path != "" {
			l.TrustedCA = certFile(probes.RoleCA, s.Path, p.ca.cert)
		}
		for _, srv := range link.Servers {
			l.Probes = append(l.Probes, healthyProbe(link, srv, p))
		}
		out.Links = append(out.Links, l)
	}
	return out
}

func healthyProbe(link *nginxconf.UpstreamLink, srv nginxconf.UpstreamServer, p *upstreamPKI) *probes.UpstreamProbe {
	return &probes.UpstreamProbe{
		Server: srv, SNI: link.SNI, TCPAddr: srv.Address, ClientCertOffered: true,
		TLS: &probes.TLSObservation{Version: 0x0303, CipherSuite: 0xc02b, PeerChain: []*x509.Certificate{p.server.cert},
			CertRequested: true, AcceptableCAs: [][]byte{p.ca.cert.RawSubject}, ClientCertSent: true, ClientChainLen: 1},
		HTTP:   &probes.HTTPObservation{Status: 200, Proto: "HTTP/1.1"},
		Verify: &probes.UpstreamVerify{Enabled: true, Trusted: true, Name: link.SSLName, NameMatched: true},
	}
}

func upstreamHost(t *testing.T) (*Facts, *upstreamPKI) {
	t.Helper()
	p := newUpstreamPKI(t)
	f := &Facts{Now: testNow, Thresholds: DefaultThresholds(), Errors: map[FactKind]string{}}
	f.Upstreams = upstreamFacts(t, frontConf, p)
	return f, p
}

func runID(t *testing.T, f *Facts, id string) Finding {
	t.Helper()
	ch, ok := DefaultCatalog().Lookup(id)
	if !ok {
		t.Fatalf("no check %s", id)
	}
	return ch.run(f)
}

// TestUpstreamHealthyLink: every upstream check passes on a verified mTLS link and names
// the link as its subject.
func TestUpstreamHealthyLink(t *testing.T) {
	f, _ := upstreamHost(t)
	for _, ch := range DefaultCatalog() {
		if ch.Category != CategoryUpstream {
			continue
		}
		fd := ch.run(f)
		if fd.Severity != SeverityOK {
			t.Errorf("%s: %s %q", ch.ID, fd.Severity, fd.Summary)
		}
		if fd.Subject.Kind != SubjectUpstreamLink || fd.Subject.Name != "front.example.com → backend.example.com:8443" {
			t.Errorf("%s: subject %+v", ch.ID, fd.Subject)
		}
	}
}

// TestUpstreamChecks breaks one thing of the healthy link per case.
func TestUpstreamChecks(t *testing.T) {
	other := func(t *testing.T) *testCert {
		return mkCert(t, certSpec{cn: "other-ca", ca: true, notAfter: testNow.AddDate(10, 0, 0)}, nil)
	}
	cases := []struct {
		name, id string
		want     Severity
		conf     func(string) string
		mutate   func(t *testing.T, l *probes.UpstreamLinkFacts, p *upstreamPKI)
		summary  string
		cause    string
		fix      string // a step's command or diff holds this
	}{
		{name: "no certificate, upstream answers 496", id: "upstream-client-cert-not-configured", want: SeverityFail,
			conf: without("proxy_ssl_certificate /etc/nginx/proxy.crt;", "proxy_ssl_certificate_key /etc/nginx/proxy.key;"),
			mutate: func(t *testing.T, l *probes.UpstreamLinkFacts, p *upstreamPKI) {
				l.Probes[0].TLS.ClientCertSent, l.Probes[0].ClientCertOffered = false, false
				l.Probes[0].HTTP = &probes.HTTPObservation{Status: 400, BodyTitle: "400 No required SSL certificate was sent"}
			},
			summary: "requires a client certificate", cause: "not-configured", fix: "+            proxy_ssl_certificate <proxy-client-cert-path>;"},
		{name: "proxy_ssl_certificate under grpc_pass", id: "upstream-client-cert-not-configured", want: SeverityFail,
			conf: func(c string) string {
				return strings.Replace(c, "proxy_pass https://backend.example.com:8443;", "grpc_pass grpcs://backend.example.com:8443;", 1)
			},
			mutate: func(t *testing.T, l *probes.UpstreamLinkFacts, p *upstreamPKI) {
				l.Probes[0].TLS.ClientCertSent = false
				l.Probes[0].TLS.Error = &probes.ProbeError{Kind: probes.ErrTLSAlert, Alert: 116, Message: "remote error: tls: certificate required"}
			},
			summary: "proxy_ssl_certificate does nothing under grpc_pass", cause: "foreign-directive", fix: "+            grpc_ssl_certificate /etc/nginx/proxy.crt;"},
		{name: "key directive missing", id: "upstream-client-cert-file-invalid", want: SeverityFail,
			conf: without("proxy_ssl_certificate_key /etc/nginx/proxy.key;"), summary: "without proxy_ssl_certificate_key", cause: "directive-missing"},
		{name: "cert and key swapped", id: "upstream-client-cert-file-invalid", want: SeverityFail,
			mutate: func(t *testing.T, l *probes.UpstreamLinkFacts, p *upstreamPKI) {
				l.Cert = keyFile("/etc/nginx/proxy.crt", p.client)
				l.Cert.Role = probes.RoleCert
			},
			summary: "swapped", cause: "swapped"},
		{name: "key mismatch", id: "upstream-client-key-mismatch", want: SeverityFail,
			mutate: func(t *testing.T, l *probes.UpstreamLinkFacts, p *upstreamPKI) {
				l.Key = keyFile("/etc/nginx/proxy.key", p.server)
			},
			summary: "does not belong to", cause: "key-mismatch", fix: "sudo openssl req -new -key /etc/nginx/proxy.key"},
		{name: "encrypted key without password file", id: "upstream-client-key-encrypted", want: SeverityFail,
			mutate: func(t *testing.T, l *probes.UpstreamLinkFacts, p *upstreamPKI) {
				l.Key.Key = nil
				l.Key.Blocks = []probes.PEMBlock{{Type: "ENCRYPTED PRIVATE KEY", Encrypted: true}}
				l.KeyUnlock = &probes.KeyUnlock{Error: "no password file"}
			},
			summary: "no proxy_ssl_password_file", cause: "key-encrypted", fix: "proxy_ssl_password_file"},
		{name: "wrong password", id: "upstream-client-key-encrypted", want: SeverityFail,
			conf: with("proxy_ssl_password_file /etc/nginx/proxy.pass;"),
			mutate: func(t *testing.T, l *probes.UpstreamLinkFacts, p *upstreamPKI) {
				l.Key.Key = nil
				l.Key.Blocks = []probes.PEMBlock{{Type: "ENCRYPTED PRIVATE KEY", Encrypted: true}}
				l.PasswordFile = &probes.PasswordFileFacts{Path: "/etc/nginx/proxy.pass", Exists: true, Passphrases: 2}
				l.KeyUnlock = &probes.KeyUnlock{Error: "no passphrase decrypts it"}
			},
			summary: "none of the 2 passphrases", cause: "key-encrypted"},
		{name: "weak key", id: "upstream-client-cert-weak-key", want: SeverityFail,
			mutate: func(t *testing.T, l *probes.UpstreamLinkFacts, p *upstreamPKI) {
				weak := mkCert(t, certSpec{cn: "front-proxy", rsaBits: 1024, eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, p.ca)
				l.Cert.Certs = []*x509.Certificate{weak.cert}
			},
			summary: "1024-bit RSA", cause: "weak-key", fix: "genpkey"},
		{name: "client cert expired", id: "upstream-client-cert-expired", want: SeverityFail,
			mutate: func(t *testing.T, l *probes.UpstreamLinkFacts, p *upstreamPKI) {
				l.Cert.Certs = []*x509.Certificate{mkCert(t, certSpec{cn: "front-proxy", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
					notBefore: testNow.AddDate(-1, 0, -2), notAfter: testNow.AddDate(0, 0, -2)}, p.ca).cert}
			},
			summary: "expired", cause: "expired", fix: "-CA '<upstream-ca-cert-path>' -CAkey '<upstream-ca-key-path>'"},
		{name: "client cert not yet valid", id: "upstream-client-cert-not-yet-valid", want: SeverityFail,
			mutate: func(t *testing.T, l *probes.UpstreamLinkFacts, p *upstreamPKI) {
				l.Cert.Certs = []*x509.Certificate{mkCert(t, certSpec{cn: "front-proxy", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
					notBefore: testNow.AddDate(0, 0, 2), notAfter: testNow.AddDate(1, 0, 0)}, p.ca).cert}
			},
			summary: "not valid until", cause: "not-yet-valid"},
		{name: "client cert expiring", id: "upstream-client-cert-expiring", want: SeverityWarn,
			mutate: func(t *testing.T, l *probes.UpstreamLinkFacts, p *upstreamPKI) {
				l.Cert.Certs = []*x509.Certificate{mkCert(t, certSpec{cn: "front-proxy", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
					notBefore: testNow.AddDate(-1, 0, 0), notAfter: testNow.AddDate(0, 0, 10)}, p.ca).cert}
			},
			summary: "expires", cause: "expiring"},
		{name: "serverAuth only", id: "upstream-client-cert-wrong-purpose", want: SeverityFail,
			mutate: func(t *testing.T, l *probes.UpstreamLinkFacts, p *upstreamPKI) {
				l.Cert.Certs = []*x509.Certificate{mkCert(t, certSpec{cn: "front-proxy", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, p.ca).cert}
			},
			summary: "without clientAuth", cause: "wrong-purpose"},
		{name: "issued by a CA the upstream does not name", id: "upstream-client-cert-unknown-ca", want: SeverityFail,
			mutate: func(t *testing.T, l *probes.UpstreamLinkFacts, p *upstreamPKI) {
				l.Cert.Certs = []*x509.Certificate{mkCert(t, certSpec{cn: "front-proxy", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, other(t)).cert}
			},
			summary: "accepts client certificates from", cause: "untrusted"},
		{name: "go upstream alert 48", id: "upstream-client-cert-unknown-ca", want: SeverityFail,
			mutate: func(t *testing.T, l *probes.UpstreamLinkFacts, p *upstreamPKI) {
				l.Probes[0].TLS.Error = &probes.ProbeError{Kind: probes.ErrTLSAlert, Alert: 48, Message: "remote error: tls: unknown certificate authority"}
			},
			summary: "alert 48", cause: "untrusted"},
		{name: "upstream NGINX answers 495", id: "upstream-client-cert-rejected", want: SeverityFail,
			mutate: func(t *testing.T, l *probes.UpstreamLinkFacts, p *upstreamPKI) {
				l.Probes[0].HTTP = &probes.HTTPObservation{Status: 400, BodyTitle: "400 The SSL certificate error"}
			},
			summary: "refused NGINX's client certificate", cause: "rejected", fix: "client SSL certificate verify error"},
		{name: "verify off", id: "upstream-verify-off", want: SeverityWarn,
			conf: without("proxy_ssl_verify on;"), summary: "does not verify", cause: "verify-off", fix: "+            proxy_ssl_verify on;"},
		{name: "verify on without a trusted CA", id: "upstream-trusted-ca-missing", want: SeverityFail,
			conf: without("proxy_ssl_trusted_certificate /etc/nginx/upstream-ca.pem;"), summary: "without proxy_ssl_trusted_certificate", cause: "no-ca-file"},
		{name: "untrusted upstream", id: "upstream-cert-untrusted", want: SeverityFail,
			mutate: func(t *testing.T, l *probes.UpstreamLinkFacts, p *upstreamPKI) {
				l.Probes[0].Verify.Code, l.Probes[0].Verify.Text = 21, "unable to verify the first certificate"
			},
			summary: "does not chain to", cause: "untrusted"},
		{name: "name mismatch with an IP", id: "upstream-name-mismatch", want: SeverityFail,
			mutate: func(t *testing.T, l *probes.UpstreamLinkFacts, p *upstreamPKI) {
				l.Probes[0].Verify.Name, l.Probes[0].Verify.NameMatched = "10.0.0.9", false
			},
			summary: "DNS names only", cause: "name-mismatch", fix: "proxy_ssl_name"},
		{name: "no SNI, alert 112", id: "upstream-sni-missing", want: SeverityFail,
			conf: without("proxy_ssl_server_name on;"),
			mutate: func(t *testing.T, l *probes.UpstreamLinkFacts, p *upstreamPKI) {
				l.Probes[0].TLS.Error = &probes.ProbeError{Kind: probes.ErrTLSAlert, Alert: 112, Message: "remote error: tls: unrecognized name"}
			},
			summary: "alert 112", cause: "unrecognized-name", fix: "proxy_ssl_server_name on;"},
		{name: "upstream cert expired", id: "upstream-cert-expired", want: SeverityFail,
			mutate: func(t *testing.T, l *probes.UpstreamLinkFacts, p *upstreamPKI) {
				l.Probes[0].Verify.Code, l.Probes[0].Verify.Text = 10, "certificate has expired"
			},
			summary: "certificate has expired", cause: "expired"},
		{name: "upstream cert revoked", id: "upstream-cert-revoked", want: SeverityFail,
			mutate: func(t *testing.T, l *probes.UpstreamLinkFacts, p *upstreamPKI) {
				l.Probes[0].Verify.Code, l.Probes[0].Verify.Text = 23, "certificate revoked"
			},
			summary: "certificate revoked"},
		{name: "two intermediates at depth 1", id: "upstream-verify-depth", want: SeverityFail,
			mutate: func(t *testing.T, l *probes.UpstreamLinkFacts, p *upstreamPKI) {
				i1 := mkCert(t, certSpec{cn: "upstream-int-1", ca: true, notAfter: testNow.AddDate(5, 0, 0)}, p.ca)
				i2 := mkCert(t, certSpec{cn: "upstream-int-2", ca: true, notAfter: testNow.AddDate(5, 0, 0)}, i1)
				leaf := mkCert(t, certSpec{cn: "backend.example.com", dns: []string{"backend.example.com"},
					eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, i2)
				l.Probes[0].TLS.PeerChain = []*x509.Certificate{leaf.cert, i2.cert, i1.cert}
				l.Probes[0].Verify.Code, l.Probes[0].Verify.Text = 20, "unable to get local issuer certificate"
			},
			summary: "needs proxy_ssl_verify_depth", cause: "verify-depth", fix: "proxy_ssl_verify_depth 2;"},
		{name: "TLS 1.3 only upstream", id: "upstream-tls-version-mismatch", want: SeverityFail,
			mutate: func(t *testing.T, l *probes.UpstreamLinkFacts, p *upstreamPKI) {
				l.Probes[0].TLS = &probes.TLSObservation{Error: &probes.ProbeError{Kind: probes.ErrTLSAlert, Alert: 70, Message: "remote error: tls: protocol version not supported"}}
				l.Probes[0].HTTP, l.Probes[0].Verify = nil, nil
			},
			summary: "shares no TLS version", cause: "tls-version", fix: "proxy_ssl_protocols TLSv1.2 TLSv1.3;"},
		{name: "alert 40", id: "upstream-tls-handshake-failed", want: SeverityFail,
			mutate: func(t *testing.T, l *probes.UpstreamLinkFacts, p *upstreamPKI) {
				l.Probes[0].TLS = &probes.TLSObservation{Error: &probes.ProbeError{Kind: probes.ErrTLSAlert, Alert: 40, Message: "remote error: tls: handshake failure"}}
				l.Probes[0].HTTP, l.Probes[0].Verify = nil, nil
			},
			summary: "alert 40 handshake failure", cause: "handshake-failed"},
		{name: "alert 40, every variation refused", id: "upstream-tls-handshake-failed", want: SeverityFail,
			mutate: func(t *testing.T, l *probes.UpstreamLinkFacts, p *upstreamPKI) {
				refused := &probes.ProbeError{Kind: probes.ErrTLSAlert, Alert: 40, Message: "remote error: tls: handshake failure"}
				l.Probes[0].TLS = &probes.TLSObservation{Error: refused}
				l.Probes[0].HTTP, l.Probes[0].Verify = nil, nil
				l.Probes[0].Variations = []probes.HandshakeVariation{{Change: probes.VariationTLS13, Error: refused},
					{Change: probes.VariationCipher, Cipher: "AES128-SHA", Error: refused}}
			},
			summary: "alert 40 handshake failure", cause: "handshake-failed", fix: "<upstream-error-log>"},
		{name: "alert 40 without SNI, accepted with it", id: "upstream-tls-handshake-failed", want: SeverityFail,
			conf: without("proxy_ssl_server_name on;"),
			mutate: func(t *testing.T, l *probes.UpstreamLinkFacts, p *upstreamPKI) {
				l.Probes[0].TLS = &probes.TLSObservation{Error: &probes.ProbeError{Kind: probes.ErrTLSAlert, Alert: 40, Message: "remote error: tls: handshake failure"}}
				l.Probes[0].HTTP, l.Probes[0].Verify = nil, nil
				l.Probes[0].Variations = []probes.HandshakeVariation{{Change: probes.VariationSNI, SNI: "backend.example.com", Accepted: true}}
			},
			summary: "refuses a handshake without SNI", cause: "sni-required", fix: "proxy_ssl_server_name on;"},
		{name: "alert 40, a left-out suite accepted", id: "upstream-tls-handshake-failed", want: SeverityFail,
			conf: func(c string) string {
				return strings.Replace(c, "proxy_ssl_verify on;", "proxy_ssl_verify on;\n            proxy_ssl_ciphers ECDHE+AESGCM;", 1)
			},
			mutate: func(t *testing.T, l *probes.UpstreamLinkFacts, p *upstreamPKI) {
				refused := &probes.ProbeError{Kind: probes.ErrTLSAlert, Alert: 40, Message: "remote error: tls: handshake failure"}
				l.Probes[0].TLS = &probes.TLSObservation{Error: refused}
				l.Probes[0].HTTP, l.Probes[0].Verify = nil, nil
				l.Probes[0].Ciphers = []string{"ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES128-GCM-SHA256"}
				l.Probes[0].Variations = []probes.HandshakeVariation{{Change: probes.VariationCipher, Cipher: "AES128-SHA", Error: refused},
					{Change: probes.VariationCipher, Cipher: "ECDHE-RSA-CHACHA20-POLY1305", Accepted: true}}
			},
			summary: "accepts ECDHE-RSA-CHACHA20-POLY1305, which proxy_ssl_ciphers (/etc/nginx/nginx.conf:11) leaves out",
			cause:   "no-shared-cipher", fix: "proxy_ssl_ciphers ECDHE+AESGCM:ECDHE-RSA-CHACHA20-POLY1305;"},
		{name: "alert 40, TLS 1.3 accepted", id: "upstream-tls-version-mismatch", want: SeverityFail,
			mutate: func(t *testing.T, l *probes.UpstreamLinkFacts, p *upstreamPKI) {
				l.Probes[0].TLS = &probes.TLSObservation{Error: &probes.ProbeError{Kind: probes.ErrTLSAlert, Alert: 40, Message: "remote error: tls: handshake failure"}}
				l.Probes[0].HTTP, l.Probes[0].Verify = nil, nil
				l.Probes[0].Variations = []probes.HandshakeVariation{{Change: probes.VariationTLS13, Accepted: true}}
			},
			summary: "shares no TLS version", cause: "tls-version", fix: "proxy_ssl_protocols TLSv1.2 TLSv1.3;"},
		{name: "plaintext upstream", id: "upstream-not-tls", want: SeverityFail,
			mutate: func(t *testing.T, l *probes.UpstreamLinkFacts, p *upstreamPKI) {
				l.Probes[0].TLS = &probes.TLSObservation{Error: &probes.ProbeError{Kind: probes.ErrNotTLS, Message: "tls: first record does not look like a TLS handshake"}}
				l.Probes[0].HTTP, l.Probes[0].Verify = nil, nil
			},
			summary: "does not speak TLS", cause: "not-tls"},
		{name: "refused", id: "upstream-unreachable", want: SeverityFail,
			mutate: func(t *testing.T, l *probes.UpstreamLinkFacts, p *upstreamPKI) {
				l.Probes[0] = &probes.UpstreamProbe{Server: l.Servers[0], TCPError: &probes.ProbeError{Kind: probes.ErrRefused, Message: "connect: connection refused"}}
			},
			summary: "cannot connect", cause: "unreachable", fix: "openssl s_client -connect backend.example.com:8443"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newUpstreamPKI(t)
			conf := frontConf
			if tc.conf != nil {
				conf = tc.conf(conf)
			}
			f := &Facts{Now: testNow, Thresholds: DefaultThresholds(), Errors: map[FactKind]string{}}
			f.Upstreams = upstreamFacts(t, conf, p)
			if len(f.Upstreams.Links) != 1 {
				t.Fatalf("%d links", len(f.Upstreams.Links))
			}
			if tc.mutate != nil {
				tc.mutate(t, f.Upstreams.Links[0], p)
			}
			fd := runID(t, f, tc.id)
			if fd.Severity != tc.want || !strings.Contains(fd.Summary, tc.summary) {
				t.Errorf("got %s %q, want %s containing %q", fd.Severity, fd.Summary, tc.want, tc.summary)
			}
			if tc.cause != "" && fd.Cause.Code != tc.cause {
				t.Errorf("cause %q, want %q", fd.Cause.Code, tc.cause)
			}
			if fd.Subject.Kind != SubjectUpstreamLink || !strings.Contains(fd.Subject.Name, " → backend.example.com:8443") {
				t.Errorf("subject %+v", fd.Subject)
			}
			if len(fd.Fix) == 0 {
				t.Fatalf("no fix steps")
			}
			checkUpstreamSteps(t, tc.id, fd.Fix)
			if tc.fix != "" && !stepsHold(fd.Fix, tc.fix) {
				t.Errorf("no step holds %q:\n%+v", tc.fix, fd.Fix)
			}
		})
	}
}

// checkUpstreamSteps holds steps to the playbook rules: titled, verified by real checks,
// every placeholder of the commands declared as an Input, no key material, POSIX sh.
func checkUpstreamSteps(t *testing.T, id string, steps []Step) {
	t.Helper()
	c := DefaultCatalog()
	for i, s := range steps {
		if s.Title == "" || len(s.Verify) == 0 {
			t.Errorf("%s step %d: title %q, verify %v", id, i+1, s.Title, s.Verify)
		}
		for _, v := range s.Verify {
			if _, ok := c.Lookup(v); !ok {
				t.Errorf("%s step %d: verify names unknown check %q", id, i+1, v)
			}
		}
		text := strings.Join(append([]string{s.Title, s.Why, s.File, s.Diff}, s.Commands...), "\n")
		for _, m := range placeholderPattern().FindAllString(text, -1) {
			declared := false
			for _, in := range s.Inputs {
				declared = declared || in.Name == m
			}
			if !declared {
				t.Errorf("%s step %d: placeholder %s is not a declared Input", id, i+1, m)
			}
		}
		if strings.Contains(text, "PRIVATE KEY") {
			t.Errorf("%s step %d: mentions PRIVATE KEY", id, i+1)
		}
		checkShellSyntax(t, id, s.Commands)
	}
}

func stepsHold(steps []Step, s string) bool {
	for _, st := range steps {
		if strings.Contains(st.Diff, s) || strings.Contains(strings.Join(st.Commands, "\n"), s) {
			return true
		}
	}
	return false
}

func without(lines ...string) func(string) string {
	return func(c string) string {
		for _, l := range lines {
			if !strings.Contains(c, l) {
				panic("frontConf lacks " + l)
			}
			c = strings.Replace(c, "            "+l+"\n", "", 1)
		}
		return c
	}
}

func with(lines ...string) func(string) string {
	return func(c string) string {
		for _, l := range lines {
			c = strings.Replace(c, "            proxy_ssl_verify on;\n", "            proxy_ssl_verify on;\n            "+l+"\n", 1)
		}
		return c
	}
}

// TestUpstreamLogsAttributed: the front's logged failures become the finding of the link
// they name, and the upstream's own 496 line is not an agent's.
func TestUpstreamLogsAttributed(t *testing.T) {
	f, _ := upstreamHost(t)
	f.Upstreams.Offline = true
	for _, l := range f.Upstreams.Links {
		l.Probes = nil
	}
	lines := []string{
		`2026/12/05 07:56:05 [error] 1#1: *1 upstream SSL certificate verify error: (10:certificate has expired) while SSL handshaking to upstream, client: 127.0.0.1, server: front.example.com, request: "GET /api/ HTTP/1.1", upstream: "https://backend.example.com:8443/api/", host: "front.example.com"`,
		`2026/12/05 07:56:05 [info] 2#2: *1 client sent no required SSL certificate while reading client request headers, client: 10.0.0.1, server: backend.example.com, request: "GET /api/ HTTP/1.0", host: "backend.example.com:8443"`,
	}
	var events []logparse.Event
	p := logparse.Parser{Location: time.UTC}
	for _, line := range lines {
		ev, _, st := p.Parse(line)
		if st != logparse.LineClassified {
			t.Fatalf("not classified: %s", line)
		}
		events = append(events, ev)
	}
	f.Logs = &logparse.Report{From: testNow.Add(-time.Hour), To: testNow, Summaries: logparse.Aggregate(events)}
	for id, want := range map[string]struct {
		sev  Severity
		text string
	}{
		// Not probed: the front's line is the verdict.
		"upstream-cert-expired": {SeverityFail, "NGINX failed 1 connection to backend.example.com:8443"},
		// The configuration names a certificate now, but the upstream logged none sent.
		"upstream-client-cert-not-configured": {SeverityWarn, "but the upstream backend.example.com:8443 refused 1 request from NGINX"},
	} {
		fd := runID(t, f, id)
		if fd.Severity != want.sev || !strings.Contains(fd.Summary, want.text) {
			t.Errorf("%s: %s %q, want %s with %q", id, fd.Severity, fd.Summary, want.sev, want.text)
		}
		if fd.Subject.Name != "front.example.com → backend.example.com:8443" {
			t.Errorf("%s: subject %+v", id, fd.Subject)
		}
		if len(fd.Evidence) == 0 || len(fd.Evidence[0].Quote) == 0 {
			t.Errorf("%s: no quoted line: %+v", id, fd.Evidence)
		}
	}
	if fd := runID(t, f, "agent-cert-not-sent"); fd.Severity != SeverityOK {
		t.Errorf("agent-cert-not-sent: %s %q: the upstream's line is not an agent's", fd.Severity, fd.Summary)
	}
}

// TestUpstreamMarkdownNamesTheLink: the Markdown report says which link a problem is on.
func TestUpstreamMarkdownNamesTheLink(t *testing.T) {
	f, _ := upstreamHost(t)
	l := f.Upstreams.Links[0]
	l.Probes[0] = &probes.UpstreamProbe{Server: l.Servers[0], TCPError: &probes.ProbeError{Kind: probes.ErrRefused, Message: "connect: connection refused"}}
	fd := runID(t, f, "upstream-unreachable")
	var b strings.Builder
	if err := WriteMarkdown(&b, &Report{Findings: []Finding{fd}, Facts: f}, MarkdownOptions{Catalog: DefaultCatalog()}); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	if !strings.Contains(md, "On upstream-link `front.example.com → backend.example.com:8443`.") {
		t.Errorf("report does not name the link:\n%s", md)
	}
}

// TestUpstreamOfflineVerdict: with the upstream's server block in the same configuration
// and no probe, NGINX's verdict on the front's certificate is predicted from that block.
func TestUpstreamOfflineVerdict(t *testing.T) {
	const conf = `http {
    server {
        listen 80;
        server_name front.example.com;
        location /api/ {
            proxy_pass https://127.0.0.1:8443;
            proxy_ssl_certificate /etc/nginx/proxy.crt;
            proxy_ssl_certificate_key /etc/nginx/proxy.key;
        }
    }
    server {
        listen 127.0.0.1:8443 ssl;
        server_name backend.example.com;
        ssl_certificate /etc/nginx/backend.crt;
        ssl_certificate_key /etc/nginx/backend.key;
        ssl_client_certificate /etc/nginx/upstream-ca.pem;
        ssl_verify_client on;
    }
}
`
	for _, tc := range []struct {
		name, id, line string
		noCert         bool
	}{
		{name: "other CA", id: "upstream-client-cert-unknown-ca", line: "client SSL certificate verify error: (2"},
		{name: "no certificate", id: "upstream-client-cert-not-configured", line: "client sent no required SSL certificate", noCert: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newUpstreamPKI(t)
			c := conf
			if tc.noCert {
				c = without("proxy_ssl_certificate /etc/nginx/proxy.crt;", "proxy_ssl_certificate_key /etc/nginx/proxy.key;")(c)
			}
			f := &Facts{Now: testNow, Thresholds: DefaultThresholds(), Errors: map[FactKind]string{}}
			f.Upstreams = upstreamFacts(t, c, p)
			f.Upstreams.Offline = true
			l := f.Upstreams.Links[0]
			l.Probes = nil
			if !tc.noCert {
				other := mkCert(t, certSpec{cn: "other-ca", ca: true, notAfter: testNow.AddDate(10, 0, 0)}, nil)
				l.Cert.Certs = []*x509.Certificate{mkCert(t, certSpec{cn: "front-proxy", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, other).cert}
			}
			cfg, _ := nginxconf.Parse(testNginxMain, []byte(c), nginxconf.Options{})
			srv := &probes.NginxServer{Server: cfg.HTTPServers()[1], ClientCA: certFile(probes.RoleCA, "/etc/nginx/upstream-ca.pem", p.ca.cert)}
			l.Local = []probes.LocalTerminator{{Address: "127.0.0.1:8443", Server: srv}}
			fd := runID(t, f, tc.id)
			if fd.Severity != SeverityFail || !strings.Contains(fd.Summary, "would refuse") || !strings.Contains(fd.Summary, tc.line) {
				t.Errorf("%s: %s %q", tc.id, fd.Severity, fd.Summary)
			}
		})
	}
}
