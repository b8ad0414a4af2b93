package demolab

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/mtls-doctor/mtls-doctor/internal/grpcstub"
)

// testNow is a fixed instant: the lab's certificates are placed around it, so nothing
// in these tests depends on the wall clock except the log timestamps.
var testNow = time.Date(2026, 11, 30, 20, 55, 1, 0, time.UTC)

// agentResult is what an agent-like client saw.
type agentResult struct {
	dialErr      error // TCP
	handshakeErr error // TLS, as the agent (grpc-go) verifies the server
	certSent     bool
	acceptable   int // CA names the server advertised
	h2Reply
	httpErr error
}

// dialAsAgent connects the way NGINX Agent v2 does with the lab's configuration: the
// files as written on disk, ALPN h2 only, server.command as SNI and verified name, then
// one gRPC POST on the Commander path. withCert false sends no certificate at all.
func dialAsAgent(t *testing.T, l *Lab, withCert bool) agentResult {
	t.Helper()
	l.mu.Lock()
	conf := l.agent.conf
	l.mu.Unlock()
	var res agentResult
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", l.Addr)
	if err != nil {
		res.dialErr = err
		return res
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(5 * time.Second))
	path := "/f5.nginx.agent.sdk.Commander/CommandChannel"
	if !conf.tlsEnable {
		res.h2Reply, res.httpErr = h2Post(raw, "http", l.Addr, path, false)
		return res
	}
	name := conf.command
	if name == "" {
		name = conf.host
	}
	// The agent lives at the lab's time (its clock may be far from the wall clock in a test).
	cfg := &tls.Config{ServerName: name, NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS12,
		InsecureSkipVerify: conf.skipVerify, Time: l.Clock}
	caPEM, err := os.ReadFile(conf.ca)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RootCAs = x509.NewCertPool()
	if !cfg.RootCAs.AppendCertsFromPEM(caPEM) {
		t.Fatalf("no certificate in %s", conf.ca)
	}
	pair, pairErr := tls.LoadX509KeyPair(conf.cert, conf.key)
	cfg.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
		res.acceptable = len(cri.AcceptableCAs)
		// The agent sends nothing when its pair does not load or, like every Go client,
		// when its chain reaches none of the advertised CA names.
		if !withCert || pairErr != nil || cri.SupportsCertificate(&pair) != nil {
			return &tls.Certificate{}, nil
		}
		res.certSent = true
		return &pair, nil
	}
	conn := tls.Client(raw, cfg)
	if err := conn.HandshakeContext(ctx); err != nil {
		res.handshakeErr = err
		return res
	}
	res.h2Reply, res.httpErr = h2Post(conn, "https", name, path, true)
	return res
}

// h2Reply is a reply read by h2Post.
type h2Reply struct {
	status                  int
	contentType, body       string
	grpcStatus, grpcMessage string
	header                  http.Header
}

// h2Post sends one gRPC request over conn with HTTP/2 and reads the whole reply.
func h2Post(conn net.Conn, scheme, authority, path string, isTLS bool) (h2Reply, error) {
	var protocols http.Protocols
	if isTLS {
		protocols.SetHTTP2(true)
	} else {
		protocols.SetUnencryptedHTTP2(true)
	}
	used := false
	tr := &http.Transport{
		Protocols: &protocols,
		DialTLSContext: func(context.Context, string, string) (net.Conn, error) {
			if used {
				return nil, errors.New("one connection only")
			}
			used = true
			return conn, nil
		},
		DialContext: func(context.Context, string, string) (net.Conn, error) {
			if used {
				return nil, errors.New("one connection only")
			}
			used = true
			return conn, nil
		},
	}
	defer tr.CloseIdleConnections()
	req, err := grpcstub.NewRequest(context.Background(), scheme+"://"+authority+path)
	if err != nil {
		return h2Reply{}, err
	}
	req.Header.Set("User-Agent", "nginx-agent/v2.46.7 grpc-go/1.79.3")
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return h2Reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return h2Reply{}, err
	}
	r := h2Reply{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), body: string(b),
		grpcStatus: resp.Header.Get("Grpc-Status"), grpcMessage: resp.Header.Get("Grpc-Message"), header: resp.Header}
	if r.grpcStatus == "" {
		r.grpcStatus, r.grpcMessage = resp.Trailer.Get("Grpc-Status"), resp.Trailer.Get("Grpc-Message")
	}
	return r, nil
}

// nginxLine is the layout of an NGINX error.log line for a connection.
var nginxLine = regexp.MustCompile(`^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(info|error)\] \d+#\d+: \*\d+ .+, client: 127\.0\.0\.1, server: \S+`)

// waitLog returns the first line of the log at path containing want, waiting briefly.
func waitLog(t *testing.T, path, want string) (string, bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		for line := range strings.Lines(string(b)) {
			if strings.Contains(line, want) {
				return strings.TrimRight(line, "\n"), true
			}
		}
		if time.Now().After(deadline) {
			return string(b), false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const (
	page495 = "<html>\r\n<head><title>400 The SSL certificate error</title></head>\r\n<body>\r\n" +
		"<center><h1>400 Bad Request</h1></center>\r\n<center>The SSL certificate error</center>\r\n" +
		"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
	page496 = "<html>\r\n<head><title>400 No required SSL certificate was sent</title></head>\r\n<body>\r\n" +
		"<center><h1>400 Bad Request</h1></center>\r\n<center>No required SSL certificate was sent</center>\r\n" +
		"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
	page404 = "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n" +
		"<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
	page502 = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n" +
		"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
	commandReq = `request: "POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0", host: "` + ServerName + `"`
)

// want is what NGINX would do with the agent's request in a scenario.
type want struct {
	dialErr      string // substring of the TCP error
	handshakeErr string // substring of the agent's handshake error
	status       int
	body         string // exact body; "" for gRPC replies
	grpcStatus   string
	certSent     bool
	log          string // substring of the error.log line (which must also have NGINX's layout)
	// files checks the lab's files, for faults that are in them rather than on the wire.
	files func(t *testing.T, l *Lab)
}

var grpcOK = want{status: 200, grpcStatus: "0", certSent: true}

// with returns w with a check of the lab's files.
func (w want) with(files func(t *testing.T, l *Lab)) want {
	w.files = files
	return w
}

var scenarioWants = map[string]want{
	"healthy": grpcOK,
	// A valid certificate is not rejected, so the missing mapping does not show on the wire.
	"nginx-grpc-errors-unmapped": grpcOK,
	"agent-cert-expiring":        grpcOK,
	"agent-config-missing": grpcOK.with(func(t *testing.T, l *Lab) {
		if _, err := os.Stat(l.AgentConfigPath); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %v, want it missing", l.AgentConfigPath, err)
		}
	}),
	"agent-config-invalid": grpcOK.with(func(t *testing.T, l *Lab) {
		b, err := os.ReadFile(l.AgentConfigPath)
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := yaml.Unmarshal(b, &v); err == nil {
			t.Errorf("%s parses as YAML:\n%s", l.AgentConfigPath, b)
		}
	}),
	"agent-skip-verify": grpcOK.with(func(t *testing.T, l *Lab) {
		if b, _ := os.ReadFile(l.AgentConfigPath); !strings.Contains(string(b), "skip_verify: true") {
			t.Errorf("config lacks skip_verify: true:\n%s", b)
		}
	}),
	"agent-cert-not-configured": {status: 400, body: page496, log: "client sent no required SSL certificate"},
	"agent-chain-incomplete":    {status: 400, body: page496, log: "client sent no required SSL certificate"},
	"endpoint-not-tls": {handshakeErr: "first record does not look like a TLS handshake",
		log: "[info] %s invalid connection preface while processing HTTP/2 connection, client: 127.0.0.1, server: 127.0.0.1:"},
	"tls-version-mismatch": {handshakeErr: "protocol version not supported",
		log: "SSL_do_handshake() failed (SSL: error:0A000102:SSL routines::unsupported protocol) while SSL handshaking"},
	"server-cert-cn-only":       {handshakeErr: "x509: certificate relies on legacy Common Name field", log: "SSL alert number 42"},
	"server-cert-expiring":      grpcOK,
	"server-cert-not-yet-valid": {handshakeErr: "x509: certificate has expired or is not yet valid", log: "SSL alert number 42"},
	"server-cert-wrong-purpose": {handshakeErr: "x509: certificate specifies an incompatible key usage", log: "SSL alert number 42"},
	"agent-cert-rejected": {status: 400, body: page495, certSent: true,
		log: "client SSL certificate verify error: (7:certificate signature failure) while reading client request headers"},
	"client-verify-depth": {status: 400, body: page495, certSent: true,
		log: "client SSL certificate verify error: (20:unable to get local issuer certificate) while reading client request headers"},
	"grpc-backend-unavailable": {status: 502, body: page502, certSent: true,
		log: `[error] %s connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: ` + ServerName + `, request: "POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0", upstream: "grpc://127.0.0.1:`},
	"agent-cert-expired": {status: 400, body: page495, certSent: true,
		log: "[info] %s client SSL certificate verify error: (10:certificate has expired) while reading client request headers, client: 127.0.0.1, server: " + ServerName + ", " + commandReq},
	"agent-cert-not-yet-valid": {status: 400, body: page495, certSent: true,
		log: "client SSL certificate verify error: (9:certificate is not yet valid) while reading client request headers"},
	"agent-cert-unknown-ca": {status: 400, body: page496,
		log: "[info] %s client sent no required SSL certificate while reading client request headers, client: 127.0.0.1, server: " + ServerName + ", " + commandReq},
	"agent-cert-wrong-purpose": {status: 400, body: page495, certSent: true,
		log: "client SSL certificate verify error: (26:unsuitable certificate purpose) while reading client request headers"},
	"agent-key-mismatch": {status: 400, body: page496, log: "client sent no required SSL certificate"},
	"server-name-mismatch": {handshakeErr: "x509: cannot validate certificate for 127.0.0.1 because it doesn't contain any IP SANs",
		log: "SSL_do_handshake() failed (SSL: error:0A000412:SSL routines::sslv3 alert bad certificate:SSL alert number 42) while SSL handshaking, client: 127.0.0.1, server: 127.0.0.1:"},
	"server-cert-untrusted":   {handshakeErr: "x509: certificate signed by unknown authority", log: "SSL alert number 42) while SSL handshaking"},
	"server-chain-incomplete": {handshakeErr: "x509: certificate signed by unknown authority", log: "SSL alert number 42) while SSL handshaking"},
	"server-cert-expired":     {handshakeErr: "x509: certificate has expired or is not yet valid", log: "SSL alert number 42) while SSL handshaking"},
	"alpn-h2-missing": {handshakeErr: "no application protocol",
		log: "SSL_do_handshake() failed (SSL: error:0A0000EB:SSL routines::no application protocol) while SSL handshaking"},
	"client-auth-not-required": grpcOK,
	"agent-tls-disabled": {status: -1,
		log: `[info] %s client sent invalid request while reading client request line, client: 127.0.0.1, server: ` + ServerName + `, request: "PRI * HTTP/2.0"`},
	"endpoint-refused": {dialErr: "connection refused"},
	"grpc-path-missing": {status: 404, body: page404, certSent: true,
		log: `[error] %s open() "/usr/share/nginx/html/f5.nginx.agent.sdk.Commander/CommandChannel" failed (2: No such file or directory), client: 127.0.0.1, server: ` + ServerName + ", " + commandReq},
}

func startLab(t testing.TB, name string) *Lab {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	l, err := Start(ctx, name, t.TempDir(), testNow)
	if err != nil {
		t.Fatalf("Start(%s): %v", name, err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

// TestScenarios dials every scenario as the agent would and checks what NGINX would
// answer and log. That the steps shown fix each one is cmd/mtls-doctor's TestDemoStepsFix.
func TestScenarios(t *testing.T) {
	if len(Scenarios()) < 30 {
		t.Fatalf("%d scenarios, want at least 30", len(Scenarios()))
	}
	for _, sc := range Scenarios() {
		w, ok := scenarioWants[sc.Name]
		if !ok {
			t.Errorf("scenario %s has no expectation in this test", sc.Name)
			continue
		}
		t.Run(sc.Name, func(t *testing.T) {
			t.Parallel()
			l := startLab(t, sc.Name)
			checkAgent(t, l, dialAsAgent(t, l, true), w)
		})
	}
}

func checkAgent(t *testing.T, l *Lab, got agentResult, w want) {
	t.Helper()
	if w.files != nil {
		w.files(t, l)
	}
	if w.dialErr != "" {
		if got.dialErr == nil || !strings.Contains(got.dialErr.Error(), w.dialErr) {
			t.Errorf("dial error %v, want %q", got.dialErr, w.dialErr)
		}
		return
	}
	if got.dialErr != nil {
		t.Fatalf("dial: %v", got.dialErr)
	}
	if w.handshakeErr != "" {
		if got.handshakeErr == nil || !strings.Contains(got.handshakeErr.Error(), w.handshakeErr) {
			t.Errorf("handshake error %v, want %q", got.handshakeErr, w.handshakeErr)
		}
	} else if got.handshakeErr != nil {
		t.Fatalf("handshake: %v", got.handshakeErr)
	}
	if got.certSent != w.certSent {
		t.Errorf("client certificate sent: %v, want %v", got.certSent, w.certSent)
	}
	switch {
	case w.status == -1:
		if got.httpErr == nil {
			t.Errorf("plaintext HTTP/2 got an answer (%d %q), want a protocol error", got.status, got.body)
		}
	case w.status != 0:
		if got.httpErr != nil {
			t.Fatalf("request: %v", got.httpErr)
		}
		if got.status != w.status {
			t.Errorf("status %d, want %d (body %q)", got.status, w.status, got.body)
		}
		if w.body != "" {
			if got.body != w.body {
				t.Errorf("body\n%q\nwant\n%q", got.body, w.body)
			}
			if got.contentType != "text/html" {
				t.Errorf("content-type %q, want text/html", got.contentType)
			}
		}
		if w.grpcStatus != "" {
			if got.contentType != "application/grpc" || got.grpcStatus != w.grpcStatus {
				t.Errorf("content-type %q grpc-status %q, want application/grpc, %s", got.contentType, got.grpcStatus, w.grpcStatus)
			}
		}
	}
	if w.log != "" {
		text := w.log
		if strings.Contains(text, "%s") {
			text = text[strings.Index(text, "%s")+2:]
		}
		line, ok := waitLog(t, l.ErrorLogPath(), text)
		if !ok {
			t.Fatalf("error.log lacks %q:\n%s", text, line)
		}
		if !nginxLine.MatchString(line) {
			t.Errorf("error.log line does not have NGINX's layout: %q", line)
		}
		if level, _, ok := strings.Cut(w.log, " %s"); ok && !strings.Contains(line, level+" ") {
			t.Errorf("error.log line %q is not at %s", line, level)
		}
		t.Logf("error.log: %s", line)
	}
}

func TestStartUnknownScenario(t *testing.T) {
	_, err := Start(context.Background(), "no-such-scenario", t.TempDir(), testNow)
	if err == nil || !strings.Contains(err.Error(), `no scenario "no-such-scenario"`) {
		t.Fatalf("err = %v", err)
	}
}

// mapGRPCErrors adds the server-level 495/496 → grpc-status 16 mapping to the lab's
// nginx.conf and reloads (also a lab whose NGINX is stopped), as the nginx-grpc-errors-unmapped step does.
func mapGRPCErrors(t *testing.T, l *Lab) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mgr.grpcErrors = true
	if err := l.writeFilesLocked(); err != nil {
		t.Fatal(err)
	}
	if err := l.reloadLocked(""); err != nil {
		t.Fatalf("reload: %v", err)
	}
}

// TestClock starts a lab at an instant far from the wall clock: the endpoint's Date header,
// its log lines and its certificate judgement all follow the lab's clock.
func TestClock(t *testing.T) {
	at := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	l, err := Start(context.Background(), "agent-cert-expired", t.TempDir(), at)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := dialAsAgent(t, l, true)
	if got.status != 400 || got.body != page495 {
		t.Fatalf("status %d body %q, want 495's page: the expired certificate judged at the lab's clock", got.status, got.body)
	}
	date, err := http.ParseTime(got.header.Get("Date"))
	if err != nil {
		t.Fatalf("Date header %q: %v", got.header.Get("Date"), err)
	}
	if d := date.Sub(at); d < -time.Second || d > time.Minute {
		t.Errorf("Date %s, want the lab's clock near %s", date, at)
	}
	line, ok := waitLog(t, l.ErrorLogPath(), "certificate has expired")
	if !ok || !strings.HasPrefix(line, "2031/01/02 03:0") {
		t.Errorf("error.log line %q, want it stamped 2031/01/02 03:0x", line)
	}
	if d := l.Clock().Sub(at); d < 0 || d > time.Minute {
		t.Errorf("Clock() is %s after the start instant", d)
	}
}

// TestGRPCErrorMapping applies the 495/496 mapping: NGINX still logs why it refused the
// agent, but answers with a gRPC error the agent understands instead of HTML.
func TestGRPCErrorMapping(t *testing.T) {
	l := startLab(t, "agent-cert-expired")
	mapGRPCErrors(t, l)
	got := dialAsAgent(t, l, true)
	if got.status != 200 || got.contentType != "application/grpc" || got.grpcStatus != "16" || got.grpcMessage != "client certificate rejected" {
		t.Errorf("got %d %q grpc-status %q %q, want 200 application/grpc 16 \"client certificate rejected\"",
			got.status, got.contentType, got.grpcStatus, got.grpcMessage)
	}
	if _, ok := waitLog(t, l.ErrorLogPath(), "client SSL certificate verify error: (10:certificate has expired)"); !ok {
		t.Error("the mapped rejection was not logged")
	}
	conf, _ := os.ReadFile(l.NginxConfPath())
	if !strings.Contains(string(conf), "error_page 495 496 = @grpc_unauthenticated;") {
		t.Errorf("nginx.conf lacks the mapping:\n%s", conf)
	}
}

// TestH2CConnLingersAfterGoAway: once a GOAWAY with an error code has gone out, written
// in pieces, the client reads everything and then the end of the connection while it is
// still open on its side; a GOAWAY without an error code (a graceful shutdown) leaves the
// connection open; after the client closes, the lab hears the connection is closed.
func TestH2CConnLingersAfterGoAway(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	raw, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	c := &h2cConn{peekedConn: peekedConn{Conn: raw, r: bufio.NewReader(raw)}, closed: func() { close(closed) }}
	settings := []byte{0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100}
	graceful := []byte{0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}
	refusal := []byte{0, 0, 10, 7, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 'h', 'i'}
	var want []byte
	for _, chunk := range [][]byte{settings[:4], settings[4:11], append(settings[11:], graceful[:9]...), graceful[9:], refusal[:12], refusal[12:]} {
		if _, err := c.Write(chunk); err != nil {
			t.Fatalf("write after %x: %v (the graceful GOAWAY shut the connection down?)", want, err)
		}
		want = append(want, chunk...)
	}
	_ = client.SetReadDeadline(time.Now().Add(lingeringTimeout / 2))
	got, err := io.ReadAll(client)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the client read %x, %v; want %x and the end of the connection", got, err, want)
	}
	client.Close()
	select {
	case <-closed:
	case <-time.After(lingeringTimeout + 5*time.Second):
		t.Fatal("the lab was not told the connection is closed")
	}
}
