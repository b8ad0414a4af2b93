package demolab

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// logPrefix is how every line the lab may write to error.log for a client connection
// begins: time, level, pid#tid and the connection number.
var logPrefix = regexp.MustCompile(`^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(info|error)\] \d+#\d+: \*\d+ `)

// wellFormedLogLine reports whether line (without its LF) is such a line: the prefix, a
// message, then ", client: 127.0.0.1, server: " and a non-blank server, on one line. The
// rest is checked by hand, not by a regular expression: over a message of kilobytes (a
// long request line, escaped) Go's NFA took most of each input's time.
func wellFormedLogLine(line string) bool {
	loc := logPrefix.FindStringIndex(line)
	if loc == nil || strings.ContainsAny(line, "\n") {
		return false
	}
	const sep = ", client: 127.0.0.1, server: "
	rest := line[loc[1]:]
	for i := 1; i < len(rest); i++ {
		j := strings.Index(rest[i:], sep)
		if j < 0 {
			return false
		}
		i += j
		if k := i + len(sep); k < len(rest) && !strings.ContainsRune(" \t\f\r", rune(rest[k])) {
			return true
		}
	}
	return false
}

// The lab's request bounds under FuzzServeConn: what a line longer than the read buffer
// or the limit does is reached by inputs of a few hundred bytes, not 4 and 8 KiB. Go's
// minimizer takes time quadratic in an input's length (internal/fuzz, minimizeBytes: it
// tries removing every span), so each new input of kilobytes that a boundary made
// interesting held both workers for the whole -fuzzminimizetime (60 s), with no
// execution counted.
const (
	fuzzReadBuffer     = 64
	fuzzMaxRequestLine = 256
)

// FuzzServeConn feeds arbitrary client bytes to the endpoint, on its TLS listener and on
// its plaintext HTTP/2 one: it must neither panic nor hang, must answer plain HTTP with
// NGINX's 400, and must write only whole, well-formed error.log lines (a client cannot
// forge or split a line).
func FuzzServeConn(f *testing.F) {
	for _, seed := range []string{
		"",
		"\x00",
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/1.0\r\n\r\n",
		"GET /\"quoted\\path\x01 HTTP/1.1\r\nHost: \x7fevil\"\r\n\r\n",
		h2Preface,
		h2Preface + "\x00\x00\x00\x04\x00\x00\x00\x00\x00",
		"\x16\x03\x01\x00\x05hello",
		"\x16\x03\x01\xff\xff",
		strings.Repeat("A", fuzzMaxRequestLine+10) + "\r\n",
		"PRI * HTTP/2.0\r\n\r\n",
		"GET / HTTP/1.1\r\n" + strings.Repeat("X-A: b\r\n", 100),
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	// A loopback pair per input: unlike net.Pipe, TCP lets the client half-close, so the
	// endpoint sees the end of the input at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { ln.Close() })
	labs := map[bool]*Lab{}
	for plain, scenario := range map[bool]string{false: "healthy", true: "endpoint-not-tls"} {
		l, err := Start(context.Background(), scenario, f.TempDir(), testNow)
		if err != nil {
			f.Fatal(err)
		}
		f.Cleanup(func() { l.Close() })
		l.readBuffer, l.maxRequestLine = fuzzReadBuffer, fuzzMaxRequestLine
		labs[plain] = l
	}
	f.Fuzz(func(t *testing.T, input []byte, plain bool) {
		l := labs[plain]
		before := fileSize(l.ErrorLogPath())
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		server, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			l.serveConn(server)
		}()
		_ = client.SetDeadline(time.Now().Add(2 * time.Second))
		go func() {
			_, _ = client.Write(input)
			_ = client.(*net.TCPConn).CloseWrite()
		}()
		reply, _ := io.ReadAll(client)
		client.Close()
		select {
		case <-done:
		case <-time.After(handshakeTimeout + 5*time.Second):
			t.Fatalf("serveConn still running after the client left (input %q)", input)
		}
		// The lab is done with the connection (the HTTP server's too, for HTTP/2) before
		// the next input: what it still did would count as that input's coverage, which
		// then changes from run to run and keeps the fuzzer minimizing.
		for deadline := time.Now().Add(lingeringTimeout + 5*time.Second); l.openConns() > 0; time.Sleep(50 * time.Microsecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the lab still holds the connection after the client left (input %q)", input)
			}
		}
		if !plain && len(input) > 0 && input[0] != 0x16 && len(reply) > 0 && !strings.HasPrefix(string(reply), "HTTP/1.1 400 Bad Request\r\n") {
			t.Errorf("plain input %q got %q, want NGINX's 400", input, reply)
		}
		written, err := readFrom(l.ErrorLogPath(), before)
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(string(written)) {
			if !strings.HasSuffix(line, "\n") {
				continue // a line still being written by another connection
			}
			if !wellFormedLogLine(strings.TrimSuffix(line, "\n")) {
				t.Errorf("input %q wrote a malformed error.log line: %q", input, line)
			}
		}
	})
}

// openConns is the number of client connections the lab holds.
func (l *Lab) openConns() int {
	l.conns.mu.Lock()
	defer l.conns.mu.Unlock()
	return len(l.conns.conns)
}

// readFrom returns what path holds from offset on. Only the new part is read: the log
// grows with every input, and reading it whole each time made each input slower than the
// last (a minute's run writes megabytes), which stalled the fuzzer while it minimized.
func readFrom(path string, offset int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() < offset {
		return nil, fmt.Errorf("%s shrank from %d to %d bytes", path, offset, fi.Size())
	}
	return io.ReadAll(io.NewSectionReader(f, offset, fi.Size()-offset))
}

// TestWellFormedLogLine holds wellFormedLogLine to the layout as a regular expression.
func TestWellFormedLogLine(t *testing.T) {
	layout := regexp.MustCompile(`^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(info|error)\] \d+#\d+: \*\d+ [^\n]+, client: 127\.0\.0\.1, server: \S+[^\n]*$`)
	p := "2026/01/02 03:04:05 [info] 12#12: *7 "
	for _, line := range []string{
		p + "client sent invalid request, client: 127.0.0.1, server: agents.example.com, request: \"GET / HTTP/1.1\"",
		p + "x, client: 127.0.0.1, server: 127.0.0.1:443",
		p + ", client: 127.0.0.1, server: a",
		p + "x, client: 127.0.0.1, server: ",
		p + "x, client: 127.0.0.1, server:  a",
		p + "x, client: 127.0.0.1, server: \ta, client: 127.0.0.1, server: b",
		p + "x, client: 127.0.0.1, server: \va",
		p + "x, client: 127.0.0.2, server: a",
		p + "x\n, client: 127.0.0.1, server: a",
		"2026/01/02 03:04:05 [warn] 12#12: *7 x, client: 127.0.0.1, server: a",
		"2026/01/02 03:04:05 [info] 12#12: 7 x, client: 127.0.0.1, server: a",
		p + strings.Repeat("\\x41", 3000) + ", client: 127.0.0.1, server: a\x85",
	} {
		if got, want := wellFormedLogLine(line), layout.MatchString(line); got != want {
			t.Errorf("wellFormedLogLine(%.120q) = %v, the layout says %v", line, got, want)
		}
	}
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// FuzzNginxConf gives the lab's `nginx -t` the healthy nginx.conf with one line replaced
// by arbitrary text: it must not panic, and judging a configuration must not touch the
// running endpoint (reloadLocked applies a configuration only after loadConf accepted it,
// so a rejected one leaves the endpoint as it was).
//
// The input is the line, not the whole file, and the target judges without reloading: Go
// minimizes every new input by trying to remove each span of its bytes (quadratic in its
// length), and with 3 KB configurations at milliseconds per live reload that kept both
// workers minimizing for the whole run, at 0 execs/s. Arbitrary whole files are
// nginxconf's FuzzParse; the reload itself is covered by the scenario tests.
func FuzzNginxConf(f *testing.F) {
	l, err := Start(context.Background(), "healthy", f.TempDir(), testNow)
	if err != nil {
		f.Fatal(err)
	}
	defer l.Close()
	healthy, err := os.ReadFile(l.NginxConfPath())
	if err != nil {
		f.Fatal(err)
	}
	conf := string(healthy)
	f.Add(uint16(0), firstLine(conf))
	for _, edit := range [][2]string{
		{" ssl http2;", " ssl;"},
		{"ssl_verify_client      on;", "ssl_verify_client maybe;"},
		{"ssl_protocols          TLSv1.2 TLSv1.3;", "ssl_protocols TLSv9;"},
		{" ssl http2;", "; location / { grpc_pass grpc://; }"},
		{" ssl http2;", " ssl http2; } server { listen " + l.Addr + " ssl; }"},
		{" ssl http2;", "}{;\""},
	} {
		addLineEdit(f, conf, edit[0], edit[1])
	}
	l.mu.Lock()
	running := l.mgr
	l.mu.Unlock()
	f.Fuzz(func(t *testing.T, line uint16, text string) {
		if err := os.WriteFile(l.NginxConfPath(), []byte(replaceLine(conf, line, text)), 0o644); err != nil {
			t.Fatal(err)
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		loaded, err := l.loadConf("")
		if !sameEndpoint(l.mgr, running) {
			t.Fatalf("judging a configuration changed the running endpoint (err %v)", err)
		}
		if err == nil && loaded.mgr.ssl && len(loaded.mgr.chain) == 0 {
			t.Errorf("an accepted ssl listener has no certificate")
		}
	})
}

// replaceLine returns conf with its line n (counted from 0, modulo the number of lines)
// replaced by text.
func replaceLine(conf string, n uint16, text string) string {
	lines := strings.SplitAfter(conf, "\n")
	i := int(n) % len(lines)
	lines[i] = text + "\n"
	return strings.Join(lines, "")
}

// addLineEdit adds the replaceLine input that replaces old with replacement in the first
// line holding old.
func addLineEdit(f *testing.F, conf, old, replacement string) {
	for i, line := range strings.Split(conf, "\n") {
		if strings.Contains(line, old) {
			f.Add(uint16(i), strings.Replace(line, old, replacement, 1))
			return
		}
	}
	f.Fatalf("no line holds %q", old)
}

// firstLine is conf's first line, without its LF.
func firstLine(conf string) string {
	line, _, _ := strings.Cut(conf, "\n")
	return line
}

// sameEndpoint reports whether a and b serve the same TLS settings.
func sameEndpoint(a, b manager) bool {
	return a.ssl == b.ssl && a.verifyClient == b.verifyClient && a.verifyDepth == b.verifyDepth &&
		len(a.chain) == len(b.chain) && len(a.clientCAs) == len(b.clientCAs) && a.running == b.running
}

// FuzzUpstreamConf gives an upstream scenario's `nginx -t` its nginx.conf with one line
// replaced by arbitrary text: the front's link and the upstream's server blocks are read
// from it, so neither may panic, and judging it must leave the running front and upstream
// as they were (see FuzzNginxConf for why one line and no reload).
func FuzzUpstreamConf(f *testing.F) {
	l, err := Start(context.Background(), "upstream-sni-missing", f.TempDir(), testNow)
	if err != nil {
		f.Fatal(err)
	}
	defer l.Close()
	orig, err := os.ReadFile(l.NginxConfPath())
	if err != nil {
		f.Fatal(err)
	}
	conf := string(orig)
	f.Add(uint16(0), firstLine(conf))
	pass := "proxy_pass https://" + l.UpstreamAddr() + ";"
	for _, repl := range []string{
		pass,
		"proxy_pass https://unix:/nonexistent.sock;",
		"proxy_pass https://$host;",
		"proxy_pass https://backend; proxy_ssl_verify on;",
		"proxy_pass http://" + l.UpstreamAddr() + "; proxy_ssl_certificate x;",
		"grpc_pass grpcs://" + l.UpstreamAddr() + "; proxy_ssl_protocols TLSv9;",
		pass + " proxy_ssl_certificate_key /nonexistent;",
		pass + " proxy_ssl_trusted_certificate /dev/null;",
	} {
		addLineEdit(f, conf, pass, repl)
	}
	addLineEdit(f, conf, "ssl default_server;", "ssl default_server; ssl_verify_client on;")
	addLineEdit(f, conf, "http {", "http { upstream backend { server 127.0.0.1:1; }")
	l.mu.Lock()
	link, up := l.frontRun.link, l.upRun.ports[0].conf
	l.mu.Unlock()
	f.Fuzz(func(t *testing.T, line uint16, text string) {
		if err := os.WriteFile(l.NginxConfPath(), []byte(replaceLine(conf, line, text)), 0o644); err != nil {
			t.Fatal(err)
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		loaded, err := l.loadConf("")
		if l.frontRun.link != link || !sameEndpoint(l.upRun.ports[0].conf, up) {
			t.Fatalf("judging a configuration changed the front or the upstream (err %v)", err)
		}
		if err == nil && len(loaded.up) != len(l.upRun.ports) {
			t.Errorf("an accepted configuration loaded %d upstream ports, the lab has %d", len(loaded.up), len(l.upRun.ports))
		}
	})
}
