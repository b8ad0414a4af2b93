package nginxtest

import (
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/internal/pki"
)

// upstreamAccessFormat logs what the front got from its upstream: NGINX passes the
// upstream's 400 through, so only $upstream_status and $upstream_addr tell the link.
const upstreamAccessFormat = `log_format upstream '$remote_addr [$time_local] "$request" $status ` +
	`upstream=$upstream_addr upstream_status=$upstream_status';`

// link is one front NGINX → upstream setup of TestUpstreamLogLines.
type link struct {
	front, upstream *Instance
}

// startLink starts the upstream (when up is non-nil) and a front whose location / passes
// to target with ssl.
func startLink(t *testing.T, up *Server, target string, ssl ProxySSL) link {
	t.Helper()
	var l link
	if up != nil {
		dir := filepath.Join(t.TempDir(), "upstream")
		mustMkdir(t, dir)
		l.upstream = Start(t, dir, Config{Dir: dir, ServerBlock: up.Block()}.String())
		if target == "" {
			target = l.upstream.Addr()
		}
	}
	dir := filepath.Join(t.TempDir(), "front")
	mustMkdir(t, dir)
	front := FrontServer(FreePort(t), target, ssl)
	front.Extra += "access_log " + filepath.Join(dir, "upstream-access.log") + " upstream;\n"
	l.front = Start(t, dir, Config{Dir: dir, ServerBlock: upstreamAccessFormat + "\n" + front.Block()}.String())
	return l
}

func mustMkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

// get sends one GET through the front and returns the status and body.
func get(t *testing.T, front *Instance) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + front.Addr() + "/")
	if err != nil {
		t.Fatalf("GET through the front: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b)
}

// TestUpstreamLogLines runs real front and upstream NGINX (and Go upstreams) through the
// link's failures and checks the lines each NGINX writes; -v prints them, which is how
// testdata/logs/nginx-upstream-real.log was captured.
func TestUpstreamLogLines(t *testing.T) {
	Require(t)
	now := time.Now()
	type want struct {
		status  int
		front   string // a front error-log line holds this ("" none expected)
		upLog   string // an upstream error-log line holds this
		access  string // the front's upstream access line holds this
		level   string
		noFront bool
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, p *UpstreamPKI) link
		want  want
	}{
		{"healthy", func(t *testing.T, p *UpstreamPKI) link {
			up := p.UpstreamServer(FreePort(t))
			return startLink(t, &up, "", ProxySSL{Certificate: p.ClientCert, CertificateKey: p.ClientKey,
				TrustedCertificate: p.CAFile, Verify: "on", Name: UpstreamName})
		}, want{status: 200, access: "upstream_status=200"}},
		{"no client certificate", func(t *testing.T, p *UpstreamPKI) link {
			up := p.UpstreamServer(FreePort(t))
			return startLink(t, &up, "", ProxySSL{})
		}, want{status: 400, upLog: "client sent no required SSL certificate while reading client request headers",
			access: "upstream_status=400", level: "[info]"}},
		{"client certificate expired", func(t *testing.T, p *UpstreamPKI) link {
			old, err := p.Gen.Issue(p.CA, pki.Spec{CommonName: "front-proxy", From: -400 * 24 * time.Hour, Until: -24 * time.Hour,
				EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
			if err != nil {
				t.Fatal(err)
			}
			writeClient(t, p, old)
			up := p.UpstreamServer(FreePort(t))
			return startLink(t, &up, "", ProxySSL{Certificate: p.ClientCert, CertificateKey: p.ClientKey})
		}, want{status: 400, upLog: "client SSL certificate verify error: (10:certificate has expired)", access: "upstream_status=400", level: "[info]"}},
		{"upstream untrusted", func(t *testing.T, p *UpstreamPKI) link {
			up := p.UpstreamServer(FreePort(t))
			other := otherCA(t, p)
			return startLink(t, &up, "", ProxySSL{Certificate: p.ClientCert, CertificateKey: p.ClientKey,
				TrustedCertificate: other, Verify: "on", Name: UpstreamName})
		}, want{status: 502, front: "upstream SSL certificate verify error: (21:unable to verify the first certificate) while SSL handshaking to upstream", level: "[error]"}},
		{"upstream name mismatch", func(t *testing.T, p *UpstreamPKI) link {
			up := p.UpstreamServer(FreePort(t))
			return startLink(t, &up, "", ProxySSL{Certificate: p.ClientCert, CertificateKey: p.ClientKey,
				TrustedCertificate: p.CAFile, Verify: "on"})
		}, want{status: 502, front: `upstream SSL certificate does not match "127.0.0.1" while SSL handshaking to upstream`, level: "[error]"}},
		{"upstream unreachable", func(t *testing.T, p *UpstreamPKI) link {
			return startLink(t, nil, fmt.Sprintf("127.0.0.1:%d", FreePort(t)), ProxySSL{})
		}, want{status: 502, front: "connect() failed (111: Connection refused) while connecting to upstream", level: "[error]"}},
		{"upstream not TLS (NGINX)", func(t *testing.T, p *UpstreamPKI) link {
			up := Server{Port: FreePort(t), Extra: "location / { return 200; }\n"} // answers 400 to a ClientHello
			return startLink(t, &up, "", ProxySSL{})
		}, want{status: 502, front: "wrong version number) while SSL handshaking to upstream", level: "[error]"}},
		{"upstream not TLS (Go h2c)", func(t *testing.T, p *UpstreamPKI) link {
			b := StartBackend(t) // resets the connection on a ClientHello
			return startLink(t, nil, b.Addr(), ProxySSL{})
		}, want{status: 502, front: "peer closed connection in SSL handshake (104: Connection reset by peer) while SSL handshaking to upstream", level: "[error]"}},
		{"alert 40 in the handshake", func(t *testing.T, p *UpstreamPKI) link {
			u := StartAlertUpstream(t, 40)
			return startLink(t, nil, u.Addr(), ProxySSL{})
		}, want{status: 502, front: "alert handshake failure:SSL alert number 40) while SSL handshaking to upstream", level: "[error]"}},
		{"alert 70 in the handshake", func(t *testing.T, p *UpstreamPKI) link {
			u := StartAlertUpstream(t, 70)
			return startLink(t, nil, u.Addr(), ProxySSL{})
		}, want{status: 502, front: "SSL alert number 70) while SSL handshaking to upstream", level: "[error]"}},
		{"Go upstream, no client certificate, TLS 1.3", func(t *testing.T, p *UpstreamPKI) link {
			u := StartTLSUpstream(t, p.GoTLSConfig())
			// NGINX before 1.23.4 leaves TLSv1.3 out of the default proxy_ssl_protocols.
			return startLink(t, nil, u.Addr(), ProxySSL{Protocols: "TLSv1.2 TLSv1.3"})
		}, want{status: 502, front: "SSL alert number 116", level: "[crit]"}},
		{"Go upstream, no client certificate, TLS 1.2", func(t *testing.T, p *UpstreamPKI) link {
			u := StartTLSUpstream(t, p.GoTLSConfig())
			return startLink(t, nil, u.Addr(), ProxySSL{Protocols: "TLSv1.2"})
		}, want{status: 502, front: "SSL alert number 40", level: "[error]"}},
		{"Go upstream, client certificate of another CA", func(t *testing.T, p *UpstreamPKI) link {
			u := StartTLSUpstream(t, p.GoTLSConfig())
			g := pki.New(now)
			ca, _ := g.Root("other-ca")
			c, err := g.Issue(ca, pki.Spec{CommonName: "front-proxy", EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
			if err != nil {
				t.Fatal(err)
			}
			writeClient(t, p, c)
			return startLink(t, nil, u.Addr(), ProxySSL{Certificate: p.ClientCert, CertificateKey: p.ClientKey, Protocols: "TLSv1.2"})
		}, want{status: 502, front: "SSL alert number 48", level: "[error]"}},
		{"upstream certificate expired", func(t *testing.T, p *UpstreamPKI) link {
			old, err := p.Gen.Issue(p.CA, pki.Spec{CommonName: UpstreamName, DNSNames: []string{UpstreamName},
				From: -400 * 24 * time.Hour, Until: -24 * time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			writePair(t, p.ServerCert, p.ServerKey, old)
			up := p.UpstreamServer(FreePort(t))
			return startLink(t, &up, "", ProxySSL{Certificate: p.ClientCert, CertificateKey: p.ClientKey,
				TrustedCertificate: p.CAFile, Verify: "on", Name: UpstreamName})
		}, want{status: 502, front: "upstream SSL certificate verify error: (10:certificate has expired) while SSL handshaking to upstream", level: "[error]"}},
		{"upstream certificate revoked", func(t *testing.T, p *UpstreamPKI) link {
			der, err := p.Gen.CRL(p.CA, p.Server)
			if err != nil {
				t.Fatal(err)
			}
			crl := filepath.Join(filepath.Dir(p.CAFile), "ca.crl")
			if err := pki.WriteFile(crl, pki.CRLPEM(der), 0o644); err != nil {
				t.Fatal(err)
			}
			up := p.UpstreamServer(FreePort(t))
			return startLink(t, &up, "", ProxySSL{Certificate: p.ClientCert, CertificateKey: p.ClientKey,
				TrustedCertificate: p.CAFile, Verify: "on", Name: UpstreamName, CRL: crl})
		}, want{status: 502, front: "upstream SSL certificate verify error: (23:certificate revoked) while SSL handshaking to upstream", level: "[error]"}},
		{"Go upstream, client certificate expired", func(t *testing.T, p *UpstreamPKI) link {
			u := StartTLSUpstream(t, p.GoTLSConfig())
			old, err := p.Gen.Issue(p.CA, pki.Spec{CommonName: "front-proxy", From: -400 * 24 * time.Hour, Until: -24 * time.Hour,
				EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
			if err != nil {
				t.Fatal(err)
			}
			writeClient(t, p, old)
			return startLink(t, nil, u.Addr(), ProxySSL{Certificate: p.ClientCert, CertificateKey: p.ClientKey})
		}, want{status: 502, front: "alert certificate expired:SSL alert number 45) while SSL handshaking to upstream", level: "[error]"}},
		{"Go upstream needs SNI, none sent", func(t *testing.T, p *UpstreamPKI) link {
			u := StartSNIUpstream(t, p.GoTLSConfig())
			return startLink(t, nil, u.Addr(), ProxySSL{Certificate: p.ClientCert, CertificateKey: p.ClientKey, Name: UpstreamName})
		}, want{status: 502, front: "alert handshake failure:SSL alert number 40) while SSL handshaking to upstream", level: "[error]"}},
		{"Go upstream needs SNI, sent", func(t *testing.T, p *UpstreamPKI) link {
			u := StartSNIUpstream(t, p.GoTLSConfig())
			return startLink(t, nil, u.Addr(), ProxySSL{Certificate: p.ClientCert, CertificateKey: p.ClientKey, Name: UpstreamName, ServerName: "on"})
		}, want{status: 200}},
		{"no shared cipher (NGINX upstream, TLS 1.2)", func(t *testing.T, p *UpstreamPKI) link {
			up := p.UpstreamServer(FreePort(t))
			up.Protocols, up.Ciphers = "TLSv1.2", "ECDHE-ECDSA-CHACHA20-POLY1305"
			return startLink(t, &up, "", ProxySSL{Certificate: p.ClientCert, CertificateKey: p.ClientKey,
				Ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384"})
		}, want{status: 502, front: "alert handshake failure:SSL alert number 40) while SSL handshaking to upstream",
			upLog: "no shared cipher"}},
		{"TLS version mismatch", func(t *testing.T, p *UpstreamPKI) link {
			up := p.UpstreamServer(FreePort(t))
			up.Protocols = "TLSv1.3"
			return startLink(t, &up, "", ProxySSL{Certificate: p.ClientCert, CertificateKey: p.ClientKey, Protocols: "TLSv1.2"})
		}, want{status: 502, front: "SSL alert number 70", level: "[error]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := NewUpstreamPKI(t, t.TempDir(), now)
			l := tc.setup(t, p)
			status, body := get(t, l.front)
			if status != tc.want.status {
				t.Errorf("status %d, want %d (body %q)", status, tc.want.status, body)
			}
			if tc.want.status == 200 && !strings.Contains(body, UpstreamBody) {
				t.Errorf("body %q", body)
			}
			check := func(who string, inst *Instance, substr string) {
				t.Helper()
				line, ok := inst.WaitErrorLog(substr, 3*time.Second)
				if !ok {
					t.Errorf("%s error log has no %q:\n%s", who, substr, inst.ErrorLog())
					return
				}
				if tc.want.level != "" && !strings.Contains(line, tc.want.level) {
					t.Errorf("%s: %s, want level %s", who, line, tc.want.level)
				}
				t.Logf("%s: %s", who, line)
			}
			if tc.want.front != "" {
				check("front", l.front, tc.want.front)
			}
			if tc.want.upLog != "" {
				check("upstream", l.upstream, tc.want.upLog)
			}
			if tc.want.access != "" {
				line, ok := waitLine(filepath.Join(l.front.Dir(), "upstream-access.log"), tc.want.access, 3*time.Second)
				if !ok {
					t.Errorf("front access log has no %q", tc.want.access)
				}
				t.Logf("front access: %s", line)
			}
		})
	}
}

func writeClient(t *testing.T, p *UpstreamPKI, c *pki.Cert) {
	t.Helper()
	writePair(t, p.ClientCert, p.ClientKey, c)
}

func writePair(t *testing.T, certPath, keyPath string, c *pki.Cert) {
	t.Helper()
	if err := pki.WriteCerts(certPath, c); err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteKey(keyPath, c); err != nil {
		t.Fatal(err)
	}
}

// otherCA writes a CA that issued nothing of the link and returns its path.
func otherCA(t *testing.T, p *UpstreamPKI) string {
	t.Helper()
	ca, err := pki.New(p.Gen.Now).Root("other-ca")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(filepath.Dir(p.CAFile), "other-ca.pem")
	if err := pki.WriteCerts(path, ca); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestStreamModuleLoads starts a stream{} passthrough, so the harness's load_module line
// is right for this NGINX (CI installs libnginx-mod-stream).
func TestStreamModuleLoads(t *testing.T) {
	Require(t)
	b := StartBackend(t)
	dir := t.TempDir()
	port := FreePort(t)
	web := Server{Port: FreePort(t), Extra: "location / { return 204; }\n"}
	inst := Start(t, dir, Config{Dir: dir, ServerBlock: web.Block(),
		Stream: fmt.Sprintf("server {\n    listen 127.0.0.1:%d;\n    proxy_pass %s;\n}\n", port, b.Addr())}.String())
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 2*time.Second)
	if err != nil {
		t.Fatalf("stream port: %v\n%s", err, inst.ErrorLog())
	}
	c.Close()
}
