package demolab

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/internal/nginxtest"
	"github.com/mtls-doctor/mtls-doctor/internal/pki"
)

// reply is what one request got, from the lab or from NGINX, with the error.log line
// about it reduced to what does not vary between runs.
type reply struct {
	status      int
	contentType string
	body        string
	grpcStatus  string
	grpcMessage string
	log         string
}

// logTail cuts "2026/11/30 20:55:01 [info] 1234#1234: *5 " off an error.log line, and the
// listen address that differs between NGINX and the lab.
var logHead = regexp.MustCompile(`^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (\[[a-z]+\]) \d+#\d+: \*\d+ `)

func normalizeLog(line string) string {
	m := logHead.FindStringSubmatch(line)
	if m == nil {
		return ""
	}
	s := m[1] + " " + line[len(m[0]):]
	s = regexp.MustCompile(`open\(\) "[^"]*/html/`).ReplaceAllString(s, `open() "HTML/`)
	s = regexp.MustCompile(`upstream: "grpc://127\.0\.0\.1:\d+`).ReplaceAllString(s, `upstream: "grpc://UPSTREAM`)
	return regexp.MustCompile(`server: 127\.0\.0\.1:\d+`).ReplaceAllString(s, "server: LISTEN")
}

// requestOnce sends one gRPC POST with the given client chain (sent whatever CA names the
// server advertises, so the server's verification is what is compared) and returns the
// reply and the error.log line that mentions host.
func requestOnce(t *testing.T, addr, logPath, host, path string, chain *tls.Certificate) reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cfg := &tls.Config{
		ServerName:         ServerName,
		InsecureSkipVerify: true, // the server side is under test here
		NextProtos:         []string{"h2"},
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if chain == nil {
				return &tls.Certificate{}, nil
			}
			return chain, nil
		},
	}
	raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	conn := tls.Client(raw, cfg)
	if err := conn.HandshakeContext(ctx); err != nil {
		t.Fatalf("%s: handshake: %v", addr, err)
	}
	h, err := h2Post(conn, "https", host, path, true)
	if err != nil {
		t.Fatalf("%s: request: %v", addr, err)
	}
	r := reply{status: h.status, contentType: h.contentType, body: h.body, grpcStatus: h.grpcStatus, grpcMessage: h.grpcMessage}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(logPath)
		for line := range strings.Lines(string(b)) {
			if strings.Contains(line, `host: "`+host+`"`) {
				r.log = normalizeLog(strings.TrimRight(line, "\n"))
				return r
			}
		}
		if h.status == http.StatusOK {
			break // accepted requests log nothing in error.log
		}
		time.Sleep(10 * time.Millisecond)
	}
	return r
}

// TestMatchesRealNginx runs the lab and a real NGINX (Debian's 1.22.1 in CI) with the same
// certificates and configuration, sends both the same client chains, and requires the
// same status, content type, body and error.log line: the lab's verification, pages and
// log lines are NGINX's, not a guess.
func TestMatchesRealNginx(t *testing.T) {
	nginxtest.Require(t)
	now := time.Now() // real NGINX judges validity by the wall clock
	l, err := Start(context.Background(), "healthy", t.TempDir(), now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	g := pki.New(now)

	issue := func(parent *pki.Cert, spec pki.Spec) *pki.Cert {
		t.Helper()
		if spec.CommonName == "" {
			spec.CommonName = AgentName
		}
		c, err := g.Issue(parent, spec)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	client := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	other := issue(nil, pki.Spec{CommonName: otherName, IsCA: true})
	twin := issue(nil, pki.Spec{CommonName: rootName, IsCA: true})
	intA := issue(l.root, pki.Spec{CommonName: "nms-agent-int-a", IsCA: true})
	intB := issue(intA, pki.Spec{CommonName: "nms-agent-int-b", IsCA: true})
	expiredInt := issue(l.root, pki.Spec{CommonName: "nms-old-int", IsCA: true, From: -400 * day, Until: -day})
	revoked := issue(l.root, pki.Spec{EKU: client})

	type tc struct {
		name  string
		chain []*pki.Cert // leaf first, sent as is; nil sends no certificate
		path  string
		crl   bool // to the server block with ssl_crl
		down  bool // to the server block whose grpc_pass goes to a closed port
		// mapped goes to the server block that maps 495 and 496 to grpc-status 16.
		mapped bool
	}
	good := issue(l.root, pki.Spec{EKU: client})
	cases := []tc{
		{"good", []*pki.Cert{good}, "", false, false, false},
		{"no certificate", nil, "", false, false, false},
		{"expired", []*pki.Cert{issue(l.root, pki.Spec{EKU: client, From: -400 * day, Until: -day})}, "", false, false, false},
		{"not yet valid", []*pki.Cert{issue(l.root, pki.Spec{EKU: client, From: 2 * day, Until: 400 * day})}, "", false, false, false},
		{"serverAuth only", []*pki.Cert{issue(l.root, pki.Spec{EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})}, "", false, false, false},
		{"no EKU", []*pki.Cert{issue(l.root, pki.Spec{})}, "", false, false, false},
		{"keyUsage keyAgreement only", []*pki.Cert{issue(l.root, pki.Spec{EKU: client, KeyUsage: x509.KeyUsageKeyAgreement})}, "", false, false, false},
		{"keyUsage keyEncipherment only", []*pki.Cert{issue(l.root, pki.Spec{EKU: client, KeyUsage: x509.KeyUsageKeyEncipherment})}, "", false, false, false},
		{"other CA", []*pki.Cert{issue(other, pki.Spec{EKU: client})}, "", false, false, false},
		{"recreated CA with the same name", []*pki.Cert{issue(twin, pki.Spec{EKU: client})}, "", false, false, false},
		{"self-signed", []*pki.Cert{issue(nil, pki.Spec{EKU: client})}, "", false, false, false},
		{"other CA, sent with its root", []*pki.Cert{issue(other, pki.Spec{EKU: client}), other}, "", false, false, false},
		{"under the listed intermediate, sent alone", []*pki.Cert{issue(l.inter, pki.Spec{EKU: client})}, "", false, false, false},
		{"under an unlisted intermediate, sent with it", []*pki.Cert{issue(intA, pki.Spec{EKU: client}), intA}, "", false, false, false},
		{"under an unlisted intermediate, sent alone", []*pki.Cert{issue(intA, pki.Spec{EKU: client})}, "", false, false, false},
		{"two intermediates, both sent", []*pki.Cert{issue(intB, pki.Spec{EKU: client}), intB, intA}, "", false, false, false},
		{"expired intermediate", []*pki.Cert{issue(expiredInt, pki.Spec{EKU: client}), expiredInt}, "", false, false, false},
		{"revoked", []*pki.Cert{revoked}, "", true, false, false},
		{"good, with a CRL", []*pki.Cert{good}, "", true, false, false},
		{"unknown method", []*pki.Cert{good}, "/f5.nginx.agent.sdk.Commander/NoSuchMethod", false, false, false},
		{"no location", []*pki.Cert{good}, "/f5.nginx.agent.sdk.NoSuchService/Call", false, false, false},
		{"backend down", []*pki.Cert{good}, "", false, true, false},
		{"expired, 495 mapped to gRPC", []*pki.Cert{issue(l.root, pki.Spec{EKU: client, From: -400 * day, Until: -day})}, "", false, false, true},
		{"no certificate, 496 mapped to gRPC", nil, "", false, false, true},
		{"good, with the mapping", []*pki.Cert{good}, "", false, false, true},
	}

	// The same configuration for both: the lab's files, plus a CRL revoking one agent.
	dir := t.TempDir()
	// With ssl_crl OpenSSL wants a CRL from every CA of the chain (else "3:unable to get
	// certificate CRL"), so the file holds the root's and the intermediate's.
	rootCRL, err := g.CRL(l.root, revoked)
	if err != nil {
		t.Fatal(err)
	}
	interCRL, err := g.CRL(l.inter)
	if err != nil {
		t.Fatal(err)
	}
	var crls []*x509.RevocationList // what NGINX loads from crlPath
	for _, der := range [][]byte{rootCRL, interCRL} {
		rl, err := x509.ParseRevocationList(der)
		if err != nil {
			t.Fatal(err)
		}
		crls = append(crls, rl)
	}
	crlPath := filepath.Join(dir, "ca.crl")
	if err := pki.WriteFile(crlPath, append(pki.CRLPEM(rootCRL), pki.CRLPEM(interCRL)...), 0o644); err != nil {
		t.Fatal(err)
	}

	backend := nginxtest.StartBackend(t)
	ngxDir := filepath.Join(dir, "nginx")
	if err := os.Mkdir(ngxDir, 0o755); err != nil {
		t.Fatal(err)
	}
	srv := nginxtest.Server{
		Port: nginxtest.FreePort(t), SSL: true, HTTP2: true, ServerName: ServerName,
		Cert: l.path("manager/server.pem"), Key: l.path("manager/server.key"),
		ClientCA: l.path("manager/client-ca.pem"), VerifyClient: "on",
		Extra: "server_tokens off;\n" +
			"location /f5.nginx.agent.sdk.Commander {\n    grpc_pass grpc://" + backend.Addr() + ";\n}\n" +
			"location /f5.nginx.agent.sdk.MetricsService {\n    grpc_pass grpc://" + backend.Addr() + ";\n}\n",
	}
	withCRL := srv
	withCRL.Port, withCRL.CRL = nginxtest.FreePort(t), crlPath
	down := srv
	down.Port = nginxtest.FreePort(t)
	closed := fmt.Sprintf("127.0.0.1:%d", nginxtest.FreePort(t))
	down.Extra = strings.ReplaceAll(srv.Extra, backend.Addr(), closed)
	mapped := srv
	mapped.Port = nginxtest.FreePort(t)
	mapped.Extra += "error_page 495 496 = @grpc_unauthenticated;\n" +
		"location @grpc_unauthenticated {\n    default_type application/grpc;\n" +
		"    add_header grpc-status " + grpcUnauthenticated + ";\n    add_header grpc-message \"" + grpcRejectedMessage + "\";\n" +
		"    return 200;\n}\n"
	ngx := nginxtest.Start(t, ngxDir, nginxtest.Config{Dir: ngxDir,
		ServerBlock: srv.Block() + withCRL.Block() + down.Block() + mapped.Block()}.String())
	addrs := ngx.Addrs()

	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var chain *tls.Certificate
			if c.chain != nil {
				chain = &tls.Certificate{PrivateKey: c.chain[0].Key}
				for _, x := range c.chain {
					chain.Certificate = append(chain.Certificate, x.Cert.Raw)
				}
			}
			path := c.path
			if path == "" {
				path = "/f5.nginx.agent.sdk.Commander/CommandChannel"
			}
			host := fmt.Sprintf("case%d.test", i)
			ngxAddr := addrs[0]
			l.mu.Lock()
			l.mgr.crls, l.mgr.backendDown, l.mgr.grpcErrors = nil, c.down, c.mapped
			if c.crl {
				ngxAddr = addrs[1]
				l.mgr.crls = crls
			}
			if c.down {
				ngxAddr = addrs[2]
			}
			if c.mapped {
				ngxAddr = addrs[3]
			}
			l.mu.Unlock()
			want := requestOnce(t, ngxAddr, ngx.ErrorLogPath(), host, path, chain)
			got := requestOnce(t, l.Addr, l.ErrorLogPath(), host, path, chain)
			t.Logf("nginx: %d %s grpc-status=%q log=%q", want.status, want.contentType, want.grpcStatus, want.log)
			// NGINX's grpc module answers an unknown method with what the backend says; the
			// nginxtest backend answers every method with 0, the management plane with 12.
			if c.name == "unknown method" {
				want.grpcStatus, want.grpcMessage = "12", "unknown method NoSuchMethod for service f5.nginx.agent.sdk.Commander"
			}
			if got != want {
				t.Errorf("lab differs from NGINX\n got: %+v\nwant: %+v", got, want)
			}
		})
	}

	t.Run("plaintext", func(t *testing.T) {
		for _, req := range []string{
			"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
			"GET /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/1.1\r\nHost: plain.test\r\n\r\n",
		} {
			want, wantLog := plainOnce(t, ngx.Addr(), ngx.ErrorLogPath(), req)
			got, gotLog := plainOnce(t, l.Addr, l.ErrorLogPath(), req)
			if got != want || gotLog != wantLog {
				t.Errorf("%q: lab differs from NGINX\n got: %q\n      %q\nwant: %q\n      %q", req, got, gotLog, want, wantLog)
			}
		}
	})
}

// plainOnce sends a plaintext request to the TLS port and returns the status line and body
// (headers that vary, like Date, are dropped) and the last error.log line.
func plainOnce(t *testing.T, addr, logPath, req string) (string, string) {
	t.Helper()
	before, _ := os.ReadFile(logPath)
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	status, _ := br.ReadString('\n')
	var kept []string
	for {
		h, err := br.ReadString('\n')
		if err != nil || h == "\r\n" {
			break
		}
		if k, _, _ := strings.Cut(h, ":"); strings.EqualFold(k, "content-type") || strings.EqualFold(k, "content-length") || strings.EqualFold(k, "connection") {
			kept = append(kept, h)
		}
	}
	body, _ := io.ReadAll(br)
	var line string
	deadline := time.Now().Add(2 * time.Second)
	for line == "" && time.Now().Before(deadline) {
		b, _ := os.ReadFile(logPath)
		if rest := strings.TrimPrefix(string(b), string(before)); strings.Contains(rest, "\n") {
			for l := range strings.Lines(rest) {
				if strings.Contains(l, "[info]") {
					line = normalizeLog(strings.TrimRight(l, "\n"))
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return status + strings.Join(kept, "") + "\r\n" + string(body), line
}

// TestHandshakeMatchesRealNginx compares the faults that end the connection before any
// request: the agent must see the same error from the lab as from NGINX, and both must
// log the same line.
func TestHandshakeMatchesRealNginx(t *testing.T) {
	nginxtest.Require(t)
	backend := nginxtest.StartBackend(t)
	tests := []struct {
		scenario string
		server   func(s *nginxtest.Server)
		verify   bool // the client verifies the server against the lab's tls.ca
	}{
		{"endpoint-not-tls", func(s *nginxtest.Server) { s.SSL = false }, false},
		{"alpn-h2-missing", func(s *nginxtest.Server) { s.HTTP2 = false }, false},
		// OpenSSL 3 serves TLS 1.1 only at security level 0 (nginx-error-real.md).
		{"tls-version-mismatch", func(s *nginxtest.Server) { s.Protocols, s.Ciphers = "TLSv1.1", "DEFAULT@SECLEVEL=0" }, false},
		{"server-cert-untrusted", func(*nginxtest.Server) {}, true},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			l, err := Start(context.Background(), tt.scenario, t.TempDir(), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			srv := nginxtest.Server{
				Port: nginxtest.FreePort(t), SSL: true, HTTP2: true, ServerName: ServerName,
				Cert: l.path("manager/server.pem"), Key: l.path("manager/server.key"),
				ClientCA: l.path("manager/client-ca.pem"), VerifyClient: "on", Backend: backend.Addr(),
			}
			tt.server(&srv)
			ngxDir := filepath.Join(t.TempDir(), "nginx")
			if err := os.Mkdir(ngxDir, 0o755); err != nil {
				t.Fatal(err)
			}
			ngx := nginxtest.Start(t, ngxDir, nginxtest.Config{Dir: ngxDir, ServerBlock: srv.Block()}.String())

			wantErr, wantLog := handshakeOnce(t, l, ngx.Addr(), ngx.ErrorLogPath(), tt.verify)
			gotErr, gotLog := handshakeOnce(t, l, l.Addr, l.ErrorLogPath(), tt.verify)
			t.Logf("nginx: %s | %s", wantErr, wantLog)
			if wantErr == "" || wantLog == "" {
				t.Fatalf("NGINX did not fail the handshake (%q, %q): the comparison would prove nothing", wantErr, wantLog)
			}
			if gotErr != wantErr || gotLog != wantLog {
				t.Errorf("lab differs from NGINX\n got: %s | %s\nwant: %s | %s", gotErr, gotLog, wantErr, wantLog)
			}
		})
	}
}

// handshakeOnce does the agent's handshake (ALPN h2 only, TLS 1.2+, its certificate) and
// returns the error with the address removed, and the error.log line that followed.
func handshakeOnce(t *testing.T, l *Lab, addr, logPath string, verify bool) (string, string) {
	t.Helper()
	before, _ := os.ReadFile(logPath)
	cfg := &tls.Config{ServerName: ServerName, NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS12,
		InsecureSkipVerify: !verify}
	if verify {
		cfg.RootCAs = x509.NewCertPool()
		b, err := os.ReadFile(l.path(AgentCAName))
		if err != nil {
			t.Fatal(err)
		}
		cfg.RootCAs.AppendCertsFromPEM(b)
	}
	if pair, err := tls.LoadX509KeyPair(l.path(AgentCertName), l.path(AgentKeyName)); err == nil {
		cfg.Certificates = []tls.Certificate{pair}
	}
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: cfg}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", addr)
	msg := ""
	if err != nil {
		msg = strings.ReplaceAll(err.Error(), addr, "ADDR")
	} else {
		conn.Close()
	}
	var line string
	deadline := time.Now().Add(2 * time.Second)
	for line == "" && time.Now().Before(deadline) {
		b, _ := os.ReadFile(logPath)
		for l := range strings.Lines(strings.TrimPrefix(string(b), string(before))) {
			if strings.Contains(l, "*") && strings.Contains(l, "client: ") {
				line = normalizeLog(strings.TrimRight(l, "\n"))
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return msg, line
}

// TestNginxConfAccepted checks that every scenario's nginx.conf, the configuration the
// endpoint claims to behave like, is one NGINX accepts (nginx -t), also with the 495/496
// mapping the nginx-grpc-errors-unmapped step adds.
func TestNginxConfAccepted(t *testing.T) {
	bin := nginxtest.Require(t)
	nginxT := func(t *testing.T, l *Lab) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, "-t", "-p", l.Dir+"/", "-c", l.NginxConfPath(),
			"-e", filepath.Join(l.Dir, "nginx-t.log")).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "test is successful") {
			conf, _ := os.ReadFile(l.NginxConfPath())
			t.Errorf("nginx -t: %v\n%s\n%s", err, out, conf)
		}
	}
	for _, sc := range Scenarios() {
		t.Run(sc.Name, func(t *testing.T) {
			t.Parallel()
			l, err := Start(context.Background(), sc.Name, t.TempDir(), testNow)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if want, ok := nginxRefuses[sc.Name]; ok {
				nginxTRefuses(t, l, bin, want)
				return
			}
			nginxT(t, l)
			mapGRPCErrors(t, l)
			nginxT(t, l)
		})
	}
}

// nginxRefuses are the scenarios whose files on disk `nginx -t` refuses (the running
// NGINX keeps what it loaded before), with NGINX's message.
var nginxRefuses = map[string]string{
	"upstream-client-key-mismatch":  "failed (SSL: error:05800074:x509 certificate routines::key values mismatch)",
	"upstream-trusted-ca-missing":   "no proxy_ssl_trusted_certificate for proxy_ssl_verify",
	"upstream-client-cert-weak-key": "failed (SSL: error:0A00018F:SSL routines::ee key too small)",
}

// nginxTRefuses checks that the real nginx -t and the lab's refuse l's configuration with
// the same message.
func nginxTRefuses(t *testing.T, l *Lab, bin, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-t", "-p", l.Dir+"/", "-c", l.NginxConfPath(),
		"-e", filepath.Join(l.Dir, "nginx-t.log")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), want) {
		t.Errorf("nginx -t: %v, want it to fail with %q:\n%s", err, want, out)
	}
	var lout, lerr strings.Builder
	if code := l.nginxCommand([]string{"-t"}, &lout, &lerr); code == 0 || !strings.Contains(lerr.String(), want) {
		t.Errorf("the lab's nginx -t: exit %d, want it to fail with %q:\n%s", code, want, lerr.String())
	}
}
