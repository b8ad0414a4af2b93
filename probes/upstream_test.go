package probes

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/internal/nginxtest"
	"github.com/mtls-doctor/mtls-doctor/internal/pki"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// encryptKey writes keyPEM encrypted with pass, with openssl's arguments (e.g.
// "-aes256", or "-traditional -des3"), and returns the file's contents.
func encryptKey(t *testing.T, bin, dir string, keyPEM []byte, pass string, args ...string) []byte {
	t.Helper()
	in, out, pw := filepath.Join(dir, "plain.key"), filepath.Join(dir, "enc.key"), filepath.Join(dir, "pw")
	if err := os.WriteFile(in, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pw, []byte(pass), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"pkey", "-in", in, "-out", out, "-passout", "file:" + pw}, args...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl pkey %v: %v\n%s", args, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestUnlockKeyOpenSSLFormats(t *testing.T) {
	bin := nginxtest.RequireOpenSSL(t)
	g := pki.New(time.Now())
	rsaKey, err := g.SelfSigned(pki.Spec{CommonName: "proxy", Key: pki.RSA})
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := g.SelfSigned(pki.Spec{CommonName: "proxy", Key: pki.ECDSAP256})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		c    *pki.Cert
		args []string
	}{
		{"pkcs8 aes256 (openssl 3 default scheme)", rsaKey, []string{"-aes256"}},
		{"pkcs8 aes128 ec", ecKey, []string{"-aes128"}},
		{"pkcs8 des3", rsaKey, []string{"-des3"}},
		{"traditional aes128", rsaKey, []string{"-traditional", "-aes128"}},
		{"traditional des3 ec", ecKey, []string{"-traditional", "-des3"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			plain, err := tt.c.KeyPEM(pki.PKCS8)
			if err != nil {
				t.Fatal(err)
			}
			enc := encryptKey(t, bin, t.TempDir(), plain, "s3cret pass", tt.args...)
			if ff := ParsePEMOrDER(RoleKey, enc); !keyEncrypted(&ff) {
				t.Fatalf("not seen as encrypted: %+v", ff.Blocks)
			}
			u, key := UnlockKey(enc, [][]byte{[]byte("wrong"), []byte("s3cret pass")})
			if u.Line != 2 || u.Error != "" || key == nil || u.Key == nil {
				t.Fatalf("unlock: %+v", u)
			}
			if _, err := tls.X509KeyPair(pki.CertsPEM(tt.c), key); err != nil {
				t.Fatalf("decrypted key does not pair with its certificate: %v", err)
			}
			u, key = UnlockKey(enc, [][]byte{[]byte("wrong"), []byte("s3cret")})
			if u.Line != 0 || key != nil || !strings.Contains(u.Error, "none of the 2 passphrases") || u.Unsupported {
				t.Fatalf("wrong passphrases: %+v", u)
			}
			if u, _ := UnlockKey(enc, nil); !strings.Contains(u.Error, "no password file") {
				t.Fatalf("no passphrases: %+v", u)
			}
		})
	}
}

func TestReadPasswordFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "pass")
	if err := os.WriteFile(p, []byte("first\r\n\nsecond\nlast-without-newline"), 0o600); err != nil {
		t.Fatal(err)
	}
	pf, ps, lines := readPasswordFile(p)
	if pf.Passphrases != 3 || fmt.Sprint(lines) != "[1 3 4]" || string(ps[0]) != "first" || string(ps[2]) != "last-without-newline" {
		t.Fatalf("%+v %q %v", pf, ps, lines)
	}
	if err := os.WriteFile(p, []byte(strings.Repeat("x", 4096)), 0o600); err != nil {
		t.Fatal(err)
	}
	if pf, _, _ := readPasswordFile(p); !strings.Contains(pf.ReadError, "too long line") {
		t.Fatalf("long line: %+v", pf)
	}
	if pf, _, _ := readPasswordFile(filepath.Join(dir, "missing")); pf.Exists {
		t.Fatalf("missing file: %+v", pf)
	}
}

func TestCheckHost(t *testing.T) {
	g := pki.New(time.Now())
	mk := func(spec pki.Spec) *x509.Certificate {
		c, err := g.SelfSigned(spec)
		if err != nil {
			t.Fatal(err)
		}
		return c.Cert
	}
	withIP := mk(pki.Spec{CommonName: "127.0.0.1", DNSNames: []string{"upstream.test"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	ipOnly := mk(pki.Spec{CommonName: "127.0.0.1", IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	wild := mk(pki.Spec{DNSNames: []string{"*.svc.example.com", "f*o.example.com", "*.com"}})
	cnOnly := mk(pki.Spec{CommonName: "legacy.example.com"})
	for _, tt := range []struct {
		c    *x509.Certificate
		name string
		want bool
	}{
		{withIP, "upstream.test", true},
		{withIP, "UPSTREAM.test", true},
		// The IP SAN is never consulted, and the CN not when a DNS SAN exists.
		{withIP, "127.0.0.1", false},
		// No DNS SAN: the CN is compared as text.
		{ipOnly, "127.0.0.1", true},
		{wild, "a.svc.example.com", true},
		{wild, "a.b.svc.example.com", false},
		{wild, "svc.example.com", false},
		{wild, "foo.example.com", true},
		{wild, "fo.example.com", true},
		{wild, "bar.example.com", false},
		{wild, "x.com", false},
		{cnOnly, "legacy.example.com", true},
		{cnOnly, "", false},
	} {
		if got := CheckHost(tt.c, tt.name); got != tt.want {
			t.Errorf("CheckHost(%v %v, %q) = %v, want %v", tt.c.DNSNames, tt.c.Subject.CommonName, tt.name, got, tt.want)
		}
	}
}

func TestUpstreamVersions(t *testing.T) {
	for in, want := range map[string][2]uint16{
		"TLSv1 TLSv1.1 TLSv1.2": {tls.VersionTLS10, tls.VersionTLS12},
		"TLSv1.2 TLSv1.3":       {tls.VersionTLS12, tls.VersionTLS13},
		"TLSv1.3":               {tls.VersionTLS13, tls.VersionTLS13},
		"SSLv3":                 {0, 0},
		"":                      {0, 0},
	} {
		if lo, hi := upstreamVersions(in); lo != want[0] || hi != want[1] {
			t.Errorf("%q: %x-%x, want %x-%x", in, lo, hi, want[0], want[1])
		}
	}
}

// upstreamPKI is the PKI of the upstream tests: the upstream's server certificate
// (DNS upstream.test and IP 127.0.0.1), and the front's client certificate from its own CA.
type upstreamPKI struct {
	dir                              string
	serverCA, clientCA, server, cert string
	key, encKey, pass, wrongPass     string
	clientCACert                     *x509.Certificate
}

// startUpstreamNginx starts a real NGINX upstream that serves p's server certificate over
// TLS on a free 127.0.0.1 port, with srv's other fields, and returns the port.
func (p upstreamPKI) startUpstreamNginx(t *testing.T, srv nginxtest.Server) int {
	t.Helper()
	dir := t.TempDir()
	srv.Port, srv.SSL, srv.Cert, srv.Key = nginxtest.FreePort(t), true, p.server, filepath.Join(p.dir, "server.key")
	nginxtest.Start(t, dir, nginxtest.Config{Dir: dir, ServerBlock: srv.Block()}.String())
	return srv.Port
}

// frontLinks parses a front NGINX configuration held in conf as the file path and loads
// its upstream links with the defaults of nginx version.
func frontLinks(t *testing.T, path, conf, version string) *UpstreamFacts {
	t.Helper()
	cfg, err := nginxconf.Parse(path, []byte(conf), nginxconf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return LoadUpstreams(cfg, nil, version)
}

// probeLinks probes uf's links with opts, bounded as a whole.
func probeLinks(uf *UpstreamFacts, opts UpstreamProbeOptions) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ProbeUpstreams(ctx, uf, opts)
}

func newUpstreamPKI(t *testing.T) upstreamPKI {
	t.Helper()
	dir := t.TempDir()
	g := pki.New(time.Now())
	issue := func(parent *pki.Cert, spec pki.Spec) *pki.Cert {
		c, err := g.Issue(parent, spec)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	sca := issue(nil, pki.Spec{CommonName: "upstream-server-ca", IsCA: true})
	cca := issue(nil, pki.Spec{CommonName: "proxy-client-ca", IsCA: true})
	srv := issue(sca, pki.Spec{CommonName: "upstream.test", DNSNames: []string{"upstream.test"}, IPs: []net.IP{net.ParseIP("127.0.0.1")},
		EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	cli := issue(cca, pki.Spec{CommonName: "front-proxy", EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	p := upstreamPKI{dir: dir, clientCACert: cca.Cert}
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := pki.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	p.serverCA, p.clientCA = write("server-ca.pem", pki.CertsPEM(sca)), write("client-ca.pem", pki.CertsPEM(cca))
	p.server = write("server.pem", pki.CertsPEM(srv))
	if err := pki.WriteKey(filepath.Join(dir, "server.key"), srv); err != nil {
		t.Fatal(err)
	}
	p.cert = write("proxy.pem", pki.CertsPEM(cli))
	keyPEM, err := cli.KeyPEM(pki.PKCS8)
	if err != nil {
		t.Fatal(err)
	}
	p.key = write("proxy.key", keyPEM)
	p.encKey = write("proxy-enc.key", encryptKey(t, nginxtest.RequireOpenSSL(t), t.TempDir(), keyPEM, "right", "-aes256"))
	p.pass = write("pass", []byte("wrong\nright\n"))
	p.wrongPass = write("wrong-pass", []byte("wrong\n"))
	return p
}

// TestProbeUpstreamsRealNginx probes a real NGINX upstream with ssl_verify_client on
// through the links of a front configuration, as the front NGINX 1.22 would connect.
func TestProbeUpstreamsRealNginx(t *testing.T) {
	nginxtest.Require(t)
	p := newUpstreamPKI(t)
	dir := t.TempDir()
	port := p.startUpstreamNginx(t, nginxtest.Server{ClientCA: p.clientCA, VerifyClient: "on", Extra: "location / { return 200 'upstream ok'; }\n"})

	target := fmt.Sprintf("https://127.0.0.1:%d", port)
	front := fmt.Sprintf(`http {
  proxy_ssl_trusted_certificate %[2]s;
  proxy_ssl_verify on;
  server {
    listen 127.0.0.1:1;
    location /good { proxy_pass %[1]s; proxy_ssl_certificate %[3]s; proxy_ssl_certificate_key %[4]s; proxy_ssl_name upstream.test; }
    location /nocert { proxy_pass %[1]s; }
    location /ipname { proxy_pass %[1]s; proxy_ssl_certificate %[3]s; proxy_ssl_certificate_key %[4]s; }
    location /enc { proxy_pass %[1]s/x; proxy_ssl_certificate %[3]s; proxy_ssl_certificate_key %[5]s; proxy_ssl_password_file %[6]s; proxy_ssl_name upstream.test; }
    location /wrongpass { proxy_pass %[1]s; proxy_ssl_certificate %[3]s; proxy_ssl_certificate_key %[5]s; proxy_ssl_password_file %[7]s; }
    location /untrusted { proxy_pass %[1]s; proxy_ssl_trusted_certificate %[8]s; proxy_ssl_name upstream.test; }
  }
}
`, target, p.serverCA, p.cert, p.key, p.encKey, p.pass, p.wrongPass, p.clientCA)
	uf := frontLinks(t, filepath.Join(dir, "front.conf"), front, "1.22.1")
	if len(uf.Links) != 6 || !uf.Offline {
		t.Fatalf("links: %d offline %v", len(uf.Links), uf.Offline)
	}
	probeLinks(uf, UpstreamProbeOptions{Timeout: 3 * time.Second})
	if uf.Offline || uf.Concurrency != DefaultUpstreamConcurrency {
		t.Fatalf("offline %v concurrency %d", uf.Offline, uf.Concurrency)
	}
	byPath := map[string]*UpstreamLinkFacts{}
	for _, l := range uf.Links {
		byPath[l.Location.Path] = l
		if len(l.Probes) != 1 || l.Probes[0].TLS == nil {
			t.Fatalf("%s: probes %+v", l.Location.Path, l.Probes)
		}
	}
	probe := func(path string) *UpstreamProbe { return byPath[path].Probes[0] }

	good := probe("/good")
	if good.TLS.Error != nil || good.HTTP == nil || good.HTTP.Status != 200 {
		t.Fatalf("good: tls %+v http %+v", good.TLS.Error, good.HTTP)
	}
	// NGINX 1.22's default proxy_ssl_protocols has no TLSv1.3.
	if good.TLS.Version != tls.VersionTLS12 || good.MaxVersion != tls.VersionTLS12 {
		t.Errorf("good: version %x, max offered %x; want TLS 1.2", good.TLS.Version, good.MaxVersion)
	}
	if !good.ClientCertOffered || !good.TLS.ClientCertSent || len(good.TLS.AcceptableCAs) != 1 ||
		string(good.TLS.AcceptableCAs[0]) != string(p.clientCACert.RawSubject) {
		t.Errorf("good: offered %v sent %v CAs %d", good.ClientCertOffered, good.TLS.ClientCertSent, len(good.TLS.AcceptableCAs))
	}
	if v := good.Verify; v == nil || !v.Enabled || !v.Trusted || v.Code != 0 || !v.NameMatched || v.Name != "upstream.test" {
		t.Errorf("good verify: %+v", good.Verify)
	}
	if good.SNI != "" {
		t.Errorf("proxy_ssl_server_name is off: SNI %q sent", good.SNI)
	}

	nocert := probe("/nocert")
	if nocert.ClientCertOffered || nocert.HTTP == nil || nocert.HTTP.Status != 400 || nocert.HTTP.BodyTitle != "400 No required SSL certificate was sent" {
		t.Errorf("nocert: %+v", nocert.HTTP)
	}
	// proxy_ssl_name defaults to the proxy_pass host, an IP here: the certificate's IP
	// SAN does not count, its DNS SAN does not match.
	if v := probe("/ipname").Verify; v == nil || v.NameMatched || v.Name != "127.0.0.1" || v.Code != 0 {
		t.Errorf("ipname verify: %+v", v)
	}

	enc := byPath["/enc"]
	if enc.KeyUnlock == nil || enc.KeyUnlock.Line != 2 || enc.PasswordFile == nil || enc.PasswordFile.Passphrases != 2 {
		t.Fatalf("enc: unlock %+v password %+v", enc.KeyUnlock, enc.PasswordFile)
	}
	if pr := enc.Probes[0]; !pr.ClientCertOffered || pr.HTTP == nil || pr.HTTP.Status != 200 {
		t.Errorf("enc probe: offered %v http %+v", pr.ClientCertOffered, pr.HTTP)
	}
	wrong := byPath["/wrongpass"]
	if wrong.KeyUnlock == nil || wrong.KeyUnlock.Line != 0 || !strings.Contains(wrong.KeyUnlock.Error, "bad decrypt") {
		t.Fatalf("wrongpass unlock: %+v", wrong.KeyUnlock)
	}
	if pr := wrong.Probes[0]; pr.ClientCertOffered || !strings.Contains(pr.ClientCertError, "encrypted") || pr.HTTP.Status != 400 {
		t.Errorf("wrongpass probe: %+v %+v", pr, pr.HTTP)
	}
	// A lone leaf whose issuer is not trusted: OpenSSL's last error is 21.
	if v := probe("/untrusted").Verify; v == nil || v.Code != 21 {
		t.Errorf("untrusted: %+v, want 21 unable to verify the first certificate", v)
	}
}

// goUpstream is a Go TLS server that requires a client certificate from pool and aborts
// the handshake otherwise, as Go, Java or Envoy upstreams do.
func goUpstream(t *testing.T, p upstreamPKI, pool *x509.CertPool, maxVersion uint16) string {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(p.server, filepath.Join(p.dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	return nginxtest.ServeTLS(t, &tls.Config{Certificates: []tls.Certificate{cert},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool, MaxVersion: maxVersion}, func(c *tls.Conn) {
		if err := c.Handshake(); err != nil {
			return
		}
		_, _ = c.Read(make([]byte, 4096))
		_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
	})
}

// TestProbeUpstreamGoRejects: an upstream that aborts the handshake is seen with its
// alert, under TLS 1.2 (during the handshake) and TLS 1.3 (after the client's).
func TestProbeUpstreamGoRejects(t *testing.T) {
	p := newUpstreamPKI(t)
	otherPool := x509.NewCertPool() // trusts nothing the front has
	g := pki.New(time.Now())
	other, err := g.SelfSigned(pki.Spec{CommonName: "someone-else", IsCA: true})
	if err != nil {
		t.Fatal(err)
	}
	otherPool.AddCert(other.Cert)
	goodPool := x509.NewCertPool()
	goodPool.AddCert(p.clientCACert)

	for _, tt := range []struct {
		name      string
		pool      *x509.CertPool
		version   string // nginx version: 1.22.1 offers up to TLS 1.2, 1.27.3 up to 1.3
		withCert  bool
		wantAlert int
		status    int
	}{
		{"unknown CA, TLS 1.2", otherPool, "1.22.1", true, 48, 0},
		{"no certificate, TLS 1.2", goodPool, "1.22.1", false, 40, 0},
		{"no certificate, TLS 1.3", goodPool, "1.27.3", false, 116, 0},
		{"unknown CA, TLS 1.3", otherPool, "1.27.3", true, 48, 0},
		{"accepted, TLS 1.3", goodPool, "1.27.3", true, 0, 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := goUpstream(t, p, tt.pool, 0)
			conf := "http { server { location / { proxy_pass https://" + addr + ";"
			if tt.withCert {
				conf += " proxy_ssl_certificate " + p.cert + "; proxy_ssl_certificate_key " + p.key + ";"
			}
			conf += " } } }"
			uf := frontLinks(t, "/front.conf", conf, tt.version)
			probeLinks(uf, UpstreamProbeOptions{Timeout: 3 * time.Second, Concurrency: 1})
			pr := uf.Links[0].Probes[0]
			if tt.wantAlert == 0 {
				if pr.TLS.Error != nil || pr.HTTP == nil || pr.HTTP.Status != tt.status {
					t.Fatalf("tls %+v http %+v", pr.TLS.Error, pr.HTTP)
				}
				return
			}
			if pr.TLS.Error == nil || pr.TLS.Error.Kind != ErrTLSAlert || pr.TLS.Error.Alert != tt.wantAlert {
				t.Fatalf("want alert %d (%s), got %#v", tt.wantAlert, AlertName(tt.wantAlert), pr.TLS.Error)
			}
			if !pr.TLS.CertRequested {
				t.Error("the certificate request was not recorded")
			}
		})
	}
}

// TestUpstreamVerifyMatchesFrontNginx runs a real front NGINX with the links' settings
// and checks that what it logs for each is what UpstreamVerify predicted: the DNS-only
// name match (the upstream's IP SAN does not satisfy proxy_ssl_name 127.0.0.1) and the
// OpenSSL verify error.
func TestUpstreamVerifyMatchesFrontNginx(t *testing.T) {
	nginxtest.Require(t)
	p := newUpstreamPKI(t)
	frontDir, frontPort := t.TempDir(), nginxtest.FreePort(t)
	upPort := p.startUpstreamNginx(t, nginxtest.Server{ClientCA: p.clientCA, VerifyClient: "on", Extra: "location / { return 200 'upstream ok'; }\n"})

	// The three locations share one implicit upstream (same host:port), whose peer keeps
	// the TLS session: with proxy_ssl_session_reuse on (the default) /untrusted resumes
	// /good's session and NGINX accepts it without verifying again. Off, each request
	// verifies afresh, which is what the prediction models.
	locations := fmt.Sprintf(`proxy_ssl_session_reuse off;
proxy_ssl_certificate %[2]s;
proxy_ssl_certificate_key %[3]s;
proxy_ssl_verify on;
location /good { proxy_pass https://127.0.0.1:%[1]d; proxy_ssl_trusted_certificate %[4]s; proxy_ssl_name upstream.test; }
location /ipname { proxy_pass https://127.0.0.1:%[1]d; proxy_ssl_trusted_certificate %[4]s; }
location /untrusted { proxy_pass https://127.0.0.1:%[1]d; proxy_ssl_trusted_certificate %[5]s; proxy_ssl_name upstream.test; }
`, upPort, p.cert, p.key, p.serverCA, p.clientCA)
	front := nginxtest.Server{Port: frontPort, Extra: locations}
	conf := nginxtest.Config{Dir: frontDir, ServerBlock: front.Block()}.String()
	inst := nginxtest.Start(t, frontDir, conf)

	uf := frontLinks(t, filepath.Join(frontDir, "nginx.conf"), conf, "1.22.1")
	probeLinks(uf, UpstreamProbeOptions{Timeout: 3 * time.Second})
	predicted := map[string]*UpstreamVerify{}
	for _, l := range uf.Links {
		predicted[l.Location.Path] = l.Probes[0].Verify
	}

	client := &http.Client{Timeout: 5 * time.Second}
	for _, tt := range []struct {
		path   string
		status int
		line   string // what the front logs; "" for none
	}{
		{"/good", 200, ""},
		{"/ipname", 502, `upstream SSL certificate does not match "127.0.0.1" while SSL handshaking to upstream`},
		{"/untrusted", 502, "upstream SSL certificate verify error: (21:unable to verify the first certificate) while SSL handshaking to upstream"},
	} {
		resp, err := client.Get("http://" + inst.Addr() + tt.path)
		if err != nil {
			t.Fatalf("%s: %v", tt.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s: front answered %d, want %d", tt.path, resp.StatusCode, tt.status)
		}
		v := predicted[tt.path]
		switch {
		case tt.line == "":
			if v.Code != 0 || !v.NameMatched {
				t.Errorf("%s: predicted %+v, but NGINX accepted the upstream", tt.path, v)
			}
		case strings.Contains(tt.line, "does not match"):
			if v.Code != 0 || v.NameMatched {
				t.Errorf("%s: predicted %+v, but NGINX refused the name", tt.path, v)
			}
		default:
			if want := fmt.Sprintf("(%d:%s)", v.Code, v.Text); !strings.Contains(tt.line, want) {
				t.Errorf("%s: predicted %s, NGINX logs %q", tt.path, want, tt.line)
			}
		}
		if tt.line != "" {
			if _, ok := inst.WaitErrorLog(tt.line, 5*time.Second); !ok {
				t.Errorf("%s: the front did not log %q:\n%s", tt.path, tt.line, inst.ErrorLog())
			}
		}
	}
}

// TestProbeUpstreamGRPC probes a grpc_pass grpcs:// link to a real NGINX that terminates
// TLS with ssl_verify_client on and passes the call on to a gRPC backend: the probe's
// HTTP/2 call gets the backend's gRPC answer with the certificate, NGINX's 400 without.
func TestProbeUpstreamGRPC(t *testing.T) {
	nginxtest.Require(t)
	p := newUpstreamPKI(t)
	backend := nginxtest.StartBackend(t)
	port := p.startUpstreamNginx(t, nginxtest.Server{HTTP2: true, ClientCA: p.clientCA, VerifyClient: "on",
		Extra: "location /grpc.health.v1.Health { grpc_pass grpc://" + backend.Addr() + "; }\n"})

	conf := fmt.Sprintf(`http { server {
  location /with { grpc_pass grpcs://127.0.0.1:%[1]d; grpc_ssl_certificate %[2]s; grpc_ssl_certificate_key %[3]s; }
  location /without { grpc_pass grpcs://127.0.0.1:%[1]d; proxy_ssl_certificate %[2]s; proxy_ssl_certificate_key %[3]s; }
} }`, port, p.cert, p.key)
	uf := frontLinks(t, "/front.conf", conf, "1.22.1")
	probeLinks(uf, UpstreamProbeOptions{Timeout: 3 * time.Second})

	with := uf.Links[0].Probes[0]
	if with.TLS.Error != nil || with.TLS.ALPN != "h2" || with.HTTP == nil || with.HTTP.Status != 200 ||
		with.HTTP.GRPCStatus == nil || *with.HTTP.GRPCStatus != 0 {
		t.Fatalf("with: tls %+v http %+v", with.TLS, with.HTTP)
	}
	// proxy_ssl_certificate does nothing under grpc_pass: no certificate goes out.
	without := uf.Links[1]
	if len(without.Foreign) != 2 || without.Probes[0].ClientCertOffered {
		t.Fatalf("without: foreign %d, offered %v", len(without.Foreign), without.Probes[0].ClientCertOffered)
	}
	if h := without.Probes[0].HTTP; h == nil || h.Status != 400 || h.BodyTitle != "400 No required SSL certificate was sent" {
		t.Errorf("without: %+v", h)
	}
	if backend.Requests() != 1 {
		t.Errorf("backend saw %d calls, want 1", backend.Requests())
	}
}

// TestSessionSharersRealNginx shows what SessionSharers warns of, with a real front NGINX
// (1.22.1) whose two locations reach one upstream host:port with different trusted CAs.
// The session saved by whichever location connects first is resumed by the other, and
// its verify result comes with it: after /good, /untrusted is let through unverified;
// after /untrusted, /good fails with /untrusted's verify error although its own trusted
// CA is right (NGINX saves the session before it looks at the verify result).
func TestSessionSharersRealNginx(t *testing.T) {
	nginxtest.Require(t)
	p := newUpstreamPKI(t)
	upPort := p.startUpstreamNginx(t, nginxtest.Server{Extra: "location / { return 200 'upstream ok'; }\n"})
	locations := fmt.Sprintf(`proxy_ssl_verify on;
proxy_ssl_name upstream.test;
location /good { proxy_pass https://127.0.0.1:%[1]d; proxy_ssl_trusted_certificate %[2]s; }
location /untrusted { proxy_pass https://127.0.0.1:%[1]d; proxy_ssl_trusted_certificate %[3]s; }
location /other { proxy_pass https://localhost:%[1]d; proxy_ssl_trusted_certificate %[3]s; }
`, upPort, p.serverCA, p.clientCA)

	client := &http.Client{Timeout: 5 * time.Second}
	var conf string
	for _, order := range [][]struct {
		path   string
		status int
	}{
		{{"/good", 200}, {"/untrusted", 200}},
		{{"/untrusted", 502}, {"/good", 502}},
	} {
		frontDir := t.TempDir()
		conf = nginxtest.Config{Dir: frontDir, ServerBlock: nginxtest.Server{Port: nginxtest.FreePort(t), Extra: locations}.Block()}.String()
		inst := nginxtest.Start(t, frontDir, conf)
		for _, step := range order {
			resp, err := client.Get("http://" + inst.Addr() + step.path)
			if err != nil {
				t.Fatalf("%s: %v", step.path, err)
			}
			resp.Body.Close()
			if resp.StatusCode != step.status {
				t.Fatalf("%v: %s answered %d, want %d\n%s", order, step.path, resp.StatusCode, step.status, inst.ErrorLog())
			}
		}
		if err := inst.Stop(); err != nil {
			t.Fatal(err)
		}
	}

	uf := frontLinks(t, "/front.conf", conf, "1.22.1")
	var untrusted *UpstreamLinkFacts
	for _, l := range uf.Links {
		if l.Location.Path == "/untrusted" {
			untrusted = l
		}
	}
	// /other names the same port as "localhost": another implicit upstream, other peers.
	sharers := uf.SessionSharers(untrusted)
	if len(sharers) != 1 || sharers[0].Location.Path != "/good" {
		t.Fatalf("sharers of /untrusted: %v", sharers)
	}
}

// TestProbeUpstreamSNIAndFailures: SNI is sent only as *_ssl_server_name says, and the
// failures before TLS are told apart: nothing listening, and a plaintext upstream.
func TestProbeUpstreamSNIAndFailures(t *testing.T) {
	p := newUpstreamPKI(t)
	cert, err := tls.LoadX509KeyPair(p.server, filepath.Join(p.dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	snis := make(chan string, 8)
	addr := nginxtest.ServeTLS(t, &tls.Config{Certificates: []tls.Certificate{cert},
		GetConfigForClient: func(hi *tls.ClientHelloInfo) (*tls.Config, error) { snis <- hi.ServerName; return nil, nil }},
		func(c *tls.Conn) {
			_, _ = c.Read(make([]byte, 4096))
			_, _ = c.Write([]byte("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"))
		})
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	go func() {
		for {
			c, err := plain.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n"))
			c.Close()
		}
	}()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedAddr := closed.Addr().String()
	closed.Close()

	conf := fmt.Sprintf(`http { server {
  location /off { proxy_pass https://%[1]s; proxy_ssl_name upstream.test; }
  location /on { proxy_pass https://%[1]s; proxy_ssl_name upstream.test; proxy_ssl_server_name on; }
  location /ip { proxy_pass https://%[1]s; proxy_ssl_server_name on; }
  location /plain { proxy_pass https://%[2]s; }
  location /refused { proxy_pass https://%[3]s; }
} }`, addr, plain.Addr(), refusedAddr)
	uf := frontLinks(t, "/front.conf", conf, "1.22.1")
	probeLinks(uf, UpstreamProbeOptions{Timeout: 3 * time.Second, Concurrency: 1})
	got := map[string]*UpstreamProbe{}
	for _, l := range uf.Links {
		got[l.Location.Path] = l.Probes[0]
	}
	// Concurrency 1 probes in configuration order: the SNI seen follow the links.
	for _, want := range []struct{ path, sni string }{{"/off", ""}, {"/on", "upstream.test"}, {"/ip", ""}} {
		select {
		case s := <-snis:
			if s != want.sni || got[want.path].SNI != want.sni {
				t.Errorf("%s: upstream saw SNI %q, probe recorded %q, want %q", want.path, s, got[want.path].SNI, want.sni)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no handshake seen", want.path)
		}
		if h := got[want.path].HTTP; h == nil || h.Status != 204 {
			t.Errorf("%s: %+v", want.path, h)
		}
	}
	if e := got["/plain"].TLS.Error; e == nil || e.Kind != ErrNotTLS {
		t.Errorf("plaintext upstream: %+v", e)
	}
	if e := got["/refused"].TCPError; e == nil || e.Kind != ErrRefused {
		t.Errorf("nothing listening: %+v", e)
	}
}

// TestProbeUpstreamsLimit: past MaxProbes distinct probes, servers are counted as not
// probed rather than dialled, and links sharing a probe still get it.
func TestProbeUpstreamsLimit(t *testing.T) {
	var addrs []string
	for range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, ln.Addr().String())
		ln.Close() // refused: quick to probe
	}
	conf := fmt.Sprintf(`http { server {
  location /a { proxy_pass https://%[1]s; }
  location /a2 { proxy_pass https://%[1]s; }
  location /b { proxy_pass https://%[2]s; }
  location /c { proxy_pass https://%[3]s; }
} }`, addrs[0], addrs[1], addrs[2])
	uf := frontLinks(t, "/front.conf", conf, "1.22.1")
	probeLinks(uf, UpstreamProbeOptions{Timeout: time.Second, MaxProbes: 2})
	var got []string
	for _, l := range uf.Links {
		got = append(got, fmt.Sprintf("%s:%d/%d", l.Location.Path, len(l.Probes), l.NotProbed))
	}
	if want := "[/a:1/0 /a2:1/0 /b:1/0 /c:0/1]"; fmt.Sprint(got) != want || uf.NotProbed != 1 {
		t.Fatalf("probes/not probed per link %v (total %d), want %s", got, uf.NotProbed, want)
	}
	if uf.Links[0].Probes[0] != uf.Links[1].Probes[0] || uf.Links[0].Probes[0].TCPError == nil {
		t.Errorf("shared probe: %+v", uf.Links[0].Probes[0])
	}
}

// TestProbeUpstreamAsksWhatUpstreamAccepts: an upstream that refuses NGINX's ClientHello
// with alert 40 is asked, one change at a time, what it would accept; an upstream that
// refuses everything is asked a bounded number of times.
func TestProbeUpstreamAsksWhatUpstreamAccepts(t *testing.T) {
	p := newUpstreamPKI(t)
	cert, err := tls.LoadX509KeyPair(p.server, filepath.Join(p.dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(p.clientCACert)
	server := &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	clientCert := " proxy_ssl_certificate " + p.cert + "; proxy_ssl_certificate_key " + p.key + ";"
	probe := func(t *testing.T, addr, directives string) *UpstreamProbe {
		t.Helper()
		uf := frontLinks(t, "/front.conf", "http { server { location / { proxy_pass https://"+addr+";"+clientCert+directives+" } } }", "1.27.3")
		probeLinks(uf, UpstreamProbeOptions{Timeout: 3 * time.Second, Concurrency: 1})
		pr := uf.Links[0].Probes[0]
		if pr.TLS.Error == nil || pr.TLS.Error.Alert != 40 {
			t.Fatalf("NGINX's ClientHello: want alert 40, got %+v", pr.TLS.Error)
		}
		return pr
	}

	t.Run("the one suite proxy_ssl_ciphers leaves out", func(t *testing.T) {
		only := server.Clone()
		only.MaxVersion, only.CipherSuites = tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}
		addr := nginxtest.ServeTLS(t, only, func(c *tls.Conn) { _ = c.Handshake() })
		pr := probe(t, addr, " proxy_ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384;")
		if want := []string{"ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-AES128-GCM-SHA256"}; !slices.Equal(pr.Ciphers, want) {
			t.Errorf("offered %q, want %q", pr.Ciphers, want)
		}
		var accepted []string
		for _, v := range pr.Variations {
			if v.Change != VariationCipher {
				t.Errorf("variation %+v: the name is an IP (no SNI to try) and TLS 1.3 was offered", v)
			}
			if v.Accepted {
				accepted = append(accepted, v.Cipher)
			}
		}
		if len(pr.Variations) != len(openSSLSuites)-2 || !slices.Equal(accepted, []string{"ECDHE-ECDSA-CHACHA20-POLY1305"}) {
			t.Errorf("%d variations, accepted %q", len(pr.Variations), accepted)
		}
	})

	t.Run("SNI", func(t *testing.T) {
		u := nginxtest.StartSNIUpstream(t, server)
		pr := probe(t, u.Addr(), " proxy_ssl_name upstream.test;")
		if pr.SNI != "" {
			t.Errorf("SNI %q sent with proxy_ssl_server_name off", pr.SNI)
		}
		if len(pr.Variations) != 1 || pr.Variations[0].Change != VariationSNI || pr.Variations[0].SNI != "upstream.test" || !pr.Variations[0].Accepted {
			t.Errorf("variations %+v", pr.Variations)
		}
	})

	t.Run("refuses everything", func(t *testing.T) {
		u := nginxtest.StartAlertUpstream(t, 40)
		pr := probe(t, u.Addr(), " proxy_ssl_name upstream.test; proxy_ssl_protocols TLSv1.2;"+
			" proxy_ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384;")
		// SNI, TLS 1.3, and every suite left out: then the probe stops.
		want := 2 + len(openSSLSuites) - 2
		if len(pr.Variations) != want {
			t.Errorf("%d variations, want %d: %+v", len(pr.Variations), want, pr.Variations)
		}
		for _, v := range pr.Variations {
			if v.Accepted || v.Error == nil || v.Error.Alert != 40 {
				t.Errorf("variation %+v", v)
			}
		}
		if n := u.Conns(); n != 1+want {
			t.Errorf("%d connections, want %d (the probe and its variations)", n, 1+want)
		}
	})
}

// BenchmarkProbeUpstreamRefusedEverything is the cost of asking an upstream that refuses
// every ClientHello what it accepts: the probe as NGINX and its 17 variations, on loopback.
func BenchmarkProbeUpstreamRefusedEverything(b *testing.B) {
	u := nginxtest.StartAlertUpstream(b, 40)
	cfg, err := nginxconf.Parse("/front.conf", []byte("http { server { location / { proxy_pass https://"+u.Addr()+
		"; proxy_ssl_name upstream.test; proxy_ssl_protocols TLSv1.2; proxy_ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384; } } }"), nginxconf.Options{})
	if err != nil {
		b.Fatal(err)
	}
	uf := LoadUpstreams(cfg, nil, "1.27.3")
	for b.Loop() {
		ProbeUpstreams(context.Background(), uf, UpstreamProbeOptions{Timeout: 3 * time.Second})
		if n := len(uf.Links[0].Probes[0].Variations); n != 17 {
			b.Fatalf("%d variations", n)
		}
	}
}
