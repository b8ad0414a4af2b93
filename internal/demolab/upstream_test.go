package demolab

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// upWant is what the upstream does with a request the front makes as its nginx.conf says.
type upWant struct {
	noCert     bool   // the front sends no client certificate (the location names none it uses)
	noSNI      bool   // the front sends no SNI
	maxVersion uint16 // the front's highest TLS version (0: TLS 1.3)
	dialErr    string // substring of the TCP error
	tlsErr     string // substring of the handshake's or first read's error
	status     int
	body       string // substring of the body
	log        string // substring of the upstream's error.log line
	// front checks what the front would do with the upstream's certificate chain.
	front func(t *testing.T, l *Lab, chain []*x509.Certificate)
}

var upstreamWants = map[string]upWant{
	// crypto/tls aborts a TLS 1.3 handshake without a client certificate after the client's
	// Finished: the client sees the alert on its first read.
	"upstream-client-cert-not-configured": {noCert: true, tlsErr: "certificate required"},
	"upstream-client-cert-expired":        {status: 400, body: "The SSL certificate error", log: "client SSL certificate verify error: (10:certificate has expired)"},
	"upstream-client-cert-expiring":       {status: 200, body: upstreamBody},
	"upstream-client-cert-not-yet-valid":  {status: 400, body: "The SSL certificate error", log: "(9:certificate is not yet valid)"},
	"upstream-client-cert-wrong-purpose":  {status: 400, body: "The SSL certificate error", log: "(26:unsuitable certificate purpose)"},
	"upstream-client-cert-unknown-ca":     {status: 400, body: "The SSL certificate error", log: "(21:unable to verify the first certificate)"},
	// The running NGINX keeps its loaded certificate; the key on disk does not open the one
	// on disk, so this test's client sends none and the upstream still requires one.
	"upstream-client-key-mismatch": {noCert: true, status: 400, body: "No required SSL certificate was sent"},
	"upstream-trusted-ca-missing":  {status: 200, body: upstreamBody},
	// The weak certificate on disk, were it sent, is refused by the upstream too.
	"upstream-client-cert-weak-key":    {status: 400, body: "The SSL certificate error"},
	"upstream-client-chain-incomplete": {status: 400, body: "The SSL certificate error", log: "(21:unable to verify the first certificate)"},
	"upstream-client-cert-revoked":     {status: 400, body: "The SSL certificate error", log: "(23:certificate revoked)"},
	"upstream-cert-expired": {status: 200, body: upstreamBody, front: func(t *testing.T, l *Lab, chain []*x509.Certificate) {
		if !chain[0].NotAfter.Before(testNow) {
			t.Errorf("the upstream's certificate is valid until %s", chain[0].NotAfter)
		}
	}},
	"upstream-cert-revoked": {status: 200, body: upstreamBody},
	"upstream-verify-depth": {status: 200, body: upstreamBody, front: func(t *testing.T, l *Lab, chain []*x509.Certificate) {
		if len(chain) != 3 {
			t.Errorf("the upstream sent %d certificates, want its leaf and two intermediates", len(chain))
		}
	}},
	"upstream-verify-off": {status: 200, body: upstreamBody},
	"upstream-cert-untrusted": {status: 200, body: upstreamBody, front: func(t *testing.T, l *Lab, chain []*x509.Certificate) {
		if verifiesAgainst(t, l, chain) {
			t.Errorf("the upstream's certificate chains to the front's trusted CA file")
		}
	}},
	"upstream-name-mismatch": {status: 200, body: upstreamBody, front: func(t *testing.T, l *Lab, chain []*x509.Certificate) {
		if !verifiesAgainst(t, l, chain) || chain[0].VerifyHostname("127.0.0.1") == nil {
			t.Errorf("the upstream's certificate should chain to the trusted CA and not name 127.0.0.1")
		}
	}},
	"upstream-sni-missing": {noSNI: true, status: 421, body: "421 Misdirected Request", front: func(t *testing.T, l *Lab, chain []*x509.Certificate) {
		if chain[0].VerifyHostname(UpstreamName) == nil {
			t.Errorf("without SNI the upstream port's default server answered with %s's certificate", UpstreamName)
		}
	}},
	"upstream-tls-version-mismatch": {maxVersion: tls.VersionTLS12, tlsErr: "protocol version", log: "SSL_do_handshake() failed (SSL: error:0A000102:SSL routines::unsupported protocol) while SSL handshaking"},
	"upstream-not-tls":              {tlsErr: "first record does not look like a TLS handshake"},
	"upstream-unreachable":          {dialErr: "connection refused"},
}

// verifiesAgainst reports whether chain verifies against the front's trusted CA file.
func verifiesAgainst(t *testing.T, l *Lab, chain []*x509.Certificate) bool {
	t.Helper()
	cas, err := loadCerts(l.path(filepath.Join(managerDir, proxyTrustedName)))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	for _, c := range cas {
		pool.AddCert(c.Cert)
	}
	_, err = chain[0].Verify(x509.VerifyOptions{Roots: pool, CurrentTime: testNow})
	return err == nil
}

// TestUpstreamScenarios sends, in every upstream scenario, the request the front would
// send (its client certificate from the lab's files, SNI, TLS versions) to the upstream,
// and checks what the upstream answers and logs.
func TestUpstreamScenarios(t *testing.T) {
	n := 0
	for _, sc := range Scenarios() {
		if !sc.Upstream {
			continue
		}
		n++
		w, ok := upstreamWants[sc.Name]
		if !ok {
			t.Errorf("upstream scenario %s has no expectation in this test", sc.Name)
			continue
		}
		t.Run(sc.Name, func(t *testing.T) {
			t.Parallel()
			l := startLab(t, sc.Name)
			if !strings.HasPrefix(sc.Name, "upstream-") || sc.ExpectFinding != sc.Name {
				t.Errorf("upstream scenario %q expects %q", sc.Name, sc.ExpectFinding)
			}
			checkUpstream(t, l, w)
		})
	}
	if n < 8 {
		t.Errorf("%d upstream scenarios, want at least 8", n)
	}
}

func checkUpstream(t *testing.T, l *Lab, w upWant) {
	t.Helper()
	checkUpstreamAt(t, l, l.UpstreamAddr(), w)
}

// checkUpstreamAt sends the front's request to the upstream port at addr.
func checkUpstreamAt(t *testing.T, l *Lab, addr string, w upWant) {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if w.dialErr != "" {
		if err == nil || !strings.Contains(err.Error(), w.dialErr) {
			t.Errorf("dial %s: %v, want %q", addr, err, w.dialErr)
		}
		if err == nil {
			raw.Close()
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(5 * time.Second))
	cfg := &tls.Config{InsecureSkipVerify: true, ServerName: UpstreamName, MaxVersion: w.maxVersion, NextProtos: []string{"http/1.1"}}
	if w.noSNI {
		cfg.ServerName = ""
	}
	if !w.noCert {
		pair, err := tls.LoadX509KeyPair(l.path(filepath.Join(managerDir, proxyCertName)), l.path(filepath.Join(managerDir, proxyKeyName)))
		if err != nil {
			t.Fatal(err)
		}
		// NGINX (OpenSSL) sends its certificate whatever CA names the upstream asks for;
		// crypto/tls's Certificates would send none to an upstream that lists another CA.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }
	}
	conn := tls.Client(raw, cfg)
	status, body, err := func() (int, string, error) {
		if err := conn.Handshake(); err != nil {
			return 0, "", err
		}
		if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: "+addr+"\r\nConnection: close\r\n\r\n"); err != nil {
			return 0, "", err
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		return resp.StatusCode, string(b), nil
	}()
	switch {
	case w.tlsErr != "":
		if err == nil || !strings.Contains(err.Error(), w.tlsErr) {
			t.Errorf("got %v (status %d), want the error %q", err, status, w.tlsErr)
		}
	case err != nil:
		t.Fatalf("request to the upstream: %v", err)
	default:
		if status != w.status || !strings.Contains(body, w.body) {
			t.Errorf("upstream answered %d %q, want %d with %q", status, body, w.status, w.body)
		}
	}
	if w.front != nil {
		chain := conn.ConnectionState().PeerCertificates
		if len(chain) == 0 {
			t.Fatal("the upstream sent no certificate")
		}
		w.front(t, l, chain)
	}
	if w.log != "" {
		line, ok := waitLog(t, l.ErrorLogPath(), w.log)
		if !ok {
			t.Fatalf("error.log has no line with %q:\n%s", w.log, line)
		}
		if !nginxLine.MatchString(line) && !strings.Contains(line, "while SSL handshaking, client: 127.0.0.1, server: "+addr) {
			t.Errorf("the line is not laid out as NGINX's: %s", line)
		}
		if strings.Contains(line, "client SSL certificate verify error") && !strings.Contains(line, "server: "+UpstreamName+",") {
			t.Errorf("the line is not the upstream server's: %s", line)
		}
	}
}

// frontLogs is the line NGINX logs about the request the lab sends through the front at
// start: the upstream's [info] line about the front's certificate, or the front's line
// about the upstream; "" where the request goes through.
var frontLogs = map[string]string{
	"upstream-client-cert-not-configured": `[crit] SSL_read() failed (SSL: error:0A00045C:SSL routines::tlsv13 alert certificate required:SSL alert number 116) while reading response header from upstream, client: 127.0.0.1, server: front.test.local, request: "POST /orders.v1.Orders/List HTTP/2.0", upstream: "grpcs://UPSTREAM"`,
	"upstream-client-cert-expired":        `[info] client SSL certificate verify error: (10:certificate has expired) while reading client request headers, client: 127.0.0.1, server: backend.test.local, request: "GET / HTTP/1.0", host: "UPSTREAM"`,
	"upstream-client-cert-expiring":       "",
	"upstream-client-cert-not-yet-valid":  `[info] client SSL certificate verify error: (9:certificate is not yet valid) while reading client request headers`,
	"upstream-client-cert-wrong-purpose":  `[info] client SSL certificate verify error: (26:unsuitable certificate purpose) while reading client request headers`,
	"upstream-client-cert-unknown-ca":     `[info] client SSL certificate verify error: (21:unable to verify the first certificate) while reading client request headers`,
	"upstream-client-key-mismatch":        "",
	"upstream-trusted-ca-missing":         "",
	"upstream-client-cert-weak-key":       "",
	"upstream-client-chain-incomplete":    `[info] client SSL certificate verify error: (21:unable to verify the first certificate) while reading client request headers`,
	"upstream-client-cert-revoked":        `[info] client SSL certificate verify error: (23:certificate revoked) while reading client request headers`,
	"upstream-cert-expired":               `[error] upstream SSL certificate verify error: (10:certificate has expired) while SSL handshaking to upstream`,
	"upstream-cert-revoked":               `[error] upstream SSL certificate verify error: (23:certificate revoked) while SSL handshaking to upstream`,
	"upstream-verify-depth":               `[error] upstream SSL certificate verify error: (20:unable to get local issuer certificate) while SSL handshaking to upstream`,
	"upstream-verify-off":                 "",
	"upstream-cert-untrusted":             `[error] upstream SSL certificate verify error: (21:unable to verify the first certificate) while SSL handshaking to upstream, client: 127.0.0.1, server: front.test.local, request: "GET / HTTP/1.1", upstream: "https://UPSTREAM/", host: "FRONT"`,
	"upstream-name-mismatch":              `[error] upstream SSL certificate does not match "127.0.0.1" while SSL handshaking to upstream`,
	"upstream-sni-missing":                `[error] upstream SSL certificate does not match "backend.test.local" while SSL handshaking to upstream`,
	"upstream-tls-version-mismatch":       `[error] SSL_do_handshake() failed (SSL: error:0A00042E:SSL routines::tlsv1 alert protocol version:SSL alert number 70) while SSL handshaking to upstream`,
	"upstream-not-tls":                    `[error] SSL_do_handshake() failed (SSL: error:0A00010B:SSL routines::wrong version number) while SSL handshaking to upstream`,
	"upstream-unreachable":                `[error] connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: front.test.local, request: "GET / HTTP/1.1", upstream: "https://UPSTREAM/", host: "FRONT"`,
}

// TestFrontLogs checks what error.log holds once a lab has started: NGINX's line about
// the request sent through the front, and for a healthy link no error at all.
func TestFrontLogs(t *testing.T) {
	for _, sc := range Scenarios() {
		if !sc.Upstream {
			continue
		}
		want, ok := frontLogs[sc.Name]
		if !ok {
			t.Errorf("upstream scenario %s has no expected log line", sc.Name)
			continue
		}
		t.Run(sc.Name, func(t *testing.T) {
			t.Parallel()
			l := startLab(t, sc.Name)
			b, err := os.ReadFile(l.ErrorLogPath())
			if err != nil {
				t.Fatal(err)
			}
			var lines []string
			for line := range strings.Lines(string(b)) {
				line = normalizeLog(strings.TrimRight(line, "\n"))
				line = strings.ReplaceAll(line, l.UpstreamAddr(), "UPSTREAM")
				lines = append(lines, strings.ReplaceAll(line, l.FrontAddr(), "FRONT"))
			}
			if want == "" {
				if len(lines) != 0 {
					t.Errorf("the healthy link's request logged %q", lines)
				}
				return
			}
			for _, line := range lines {
				if strings.HasPrefix(line, want) {
					return
				}
			}
			t.Errorf("error.log has no line starting %q:\n%s", want, strings.Join(lines, "\n"))
		})
	}
}

// TestUpstreamReload: in upstream-not-tls the front passes to the upstream's plaintext
// port while its TLS port answers as the healthy upstream; the upstream reads nginx.conf
// again on reload (ssl added to the plaintext listen takes effect) and stops with NGINX,
// its ports refusing connections while they stay the lab's.
func TestUpstreamReload(t *testing.T) {
	l := startLab(t, "upstream-not-tls")
	checkUpstream(t, l, upstreamWants["upstream-not-tls"])
	checkUpstreamAt(t, l, l.upstreamTLSAddr(), upWant{status: 200, body: upstreamBody})

	conf, err := os.ReadFile(l.NginxConfPath())
	if err != nil {
		t.Fatal(err)
	}
	plain := "listen " + l.UpstreamAddr() + ";"
	if !strings.Contains(string(conf), plain) {
		t.Fatalf("nginx.conf has no %q:\n%s", plain, conf)
	}
	fixed := strings.Replace(string(conf), plain, "listen "+l.UpstreamAddr()+" ssl;", 1)
	if err := os.WriteFile(l.NginxConfPath(), []byte(fixed), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb strings.Builder
	if code := l.nginxCommand([]string{"-s", "reload"}, &out, &errb); code != 0 {
		t.Fatalf("nginx -s reload: %d %s", code, errb.String())
	}
	checkUpstream(t, l, upWant{status: 200, body: upstreamBody})

	if code := l.nginxCommand([]string{"-s", "stop"}, &out, &errb); code != 0 {
		t.Fatalf("nginx -s stop: %d %s", code, errb.String())
	}
	checkUpstream(t, l, upWant{dialErr: "connection refused"})
	checkUpstreamAt(t, l, l.upstreamTLSAddr(), upWant{dialErr: "connection refused"})
	for _, addr := range []string{l.UpstreamAddr(), l.upstreamTLSAddr(), l.FrontAddr()} {
		if ln, err := net.Listen("tcp", addr); err == nil {
			ln.Close()
			t.Errorf("the stopped NGINX's port %s could be taken by another listener", addr)
		}
	}
}

// TestUpstreamServiceStart: the stopped Go service of upstream-unreachable starts with the
// lab's systemctl, and then accepts the front's certificate.
func TestUpstreamServiceStart(t *testing.T) {
	l := startLab(t, "upstream-unreachable")
	checkUpstream(t, l, upstreamWants["upstream-unreachable"])
	if r := l.shim("systemctl", []string{"start", upstreamUnit}); r.Code != 0 {
		t.Fatalf("systemctl start %s: %d %s", upstreamUnit, r.Code, r.Stderr)
	}
	checkUpstream(t, l, upWant{status: 200, body: upstreamBody})
	if r := l.shim("systemctl", []string{"is-active", upstreamUnit}); r.Code != 0 || r.Stdout != "active\n" {
		t.Errorf("systemctl is-active %s: %d %q", upstreamUnit, r.Code, r.Stdout)
	}
}

// TestUpstreamGoService: the Go gRPC upstream reads its files on reload, verifies the
// client certificate in the handshake and answers the gRPC health check.
func TestUpstreamGoService(t *testing.T) {
	l := startLab(t, "upstream-client-cert-not-configured")
	checkUpstream(t, l, upstreamWants["upstream-client-cert-not-configured"])
	// With the client certificate the location names (under the wrong prefix), the service
	// accepts the handshake.
	checkUpstream(t, l, upWant{status: 200})
	conf, _ := os.ReadFile(l.NginxConfPath())
	if !strings.Contains(string(conf), "grpc_pass grpcs://"+l.UpstreamAddr()+";") ||
		!strings.Contains(string(conf), "proxy_ssl_certificate ") || strings.Contains(string(conf), "grpc_ssl_certificate ") {
		t.Errorf("nginx.conf is not the grpcs:// link with proxy_ssl_certificate:\n%s", conf)
	}
}

// The agent → manager side of every upstream scenario is the healthy lab's.
func init() {
	for name := range upstreamWants {
		scenarioWants[name] = grpcOK
	}
}

// BenchmarkLoadUpstreamConf times what an upstream scenario's nginx -t and reload read:
// the manager's server, the upstream's blocks and the front's link with their files.
func BenchmarkLoadUpstreamConf(b *testing.B) {
	l := startLab(b, "upstream-sni-missing")
	for b.Loop() {
		l.mu.Lock()
		_, err := l.loadConf(l.NginxConfPath())
		l.mu.Unlock()
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStartLab times starting a lab and closing it: the agent-only healthy lab, and
// an upstream scenario's (its PKI, files, the front and upstream listeners, the request
// through the front).
func BenchmarkStartLab(b *testing.B) {
	for _, name := range []string{"healthy", "upstream-client-cert-expired"} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				l, err := Start(context.Background(), name, b.TempDir(), testNow)
				if err != nil {
					b.Fatal(err)
				}
				l.Close()
			}
		})
	}
}
