package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/internal/nginxtest"
	"github.com/mtls-doctor/mtls-doctor/internal/pki"
)

// runOutput runs mtls-doctor ARGS in-process with env, bounded by a deadline, and returns
// the exit code, stdout and stderr.
func runOutput(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, environ{vars: env}, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// keyLines are the base64 lines of a PEM private key: none may appear in any output.
func keyLines(keyPEM string) []string {
	var out []string
	for _, l := range strings.Split(keyPEM, "\n") {
		if l != "" && !strings.HasPrefix(l, "-----") {
			out = append(out, l)
		}
	}
	return out
}

func assertNoKeyMaterial(t *testing.T, what, out, keyPEM string) {
	t.Helper()
	if strings.Contains(out, "BEGIN PRIVATE KEY") {
		t.Errorf("%s: the key's BEGIN line is printed", what)
	}
	for _, l := range keyLines(keyPEM) {
		if strings.Contains(out, l[:min(len(l), 12)]) {
			t.Errorf("%s: key material %q… is printed:\n%s", what, l[:12], out)
			return
		}
	}
}

// TestPastedKeyIsNeverPrinted: a private key pasted where its path belongs (the --key
// flag, NGINX_AGENT_TLS_KEY, a YAML block scalar) is named as PEM data in every output
// format and never echoed.
func TestPastedKeyIsNeverPrinted(t *testing.T) {
	dir := t.TempDir()
	agent := issue(t, newRoot(t, "ca"), leafSpec("agent", x509.ExtKeyUsageClientAuth))
	certPath := writeCerts(t, dir+"/agent.crt", agent)
	keyPEM, err := agent.KeyPEM(pki.PKCS8)
	if err != nil {
		t.Fatal(err)
	}
	key := string(keyPEM)
	indented := "    " + strings.ReplaceAll(strings.TrimSpace(key), "\n", "\n    ")
	yamlConf := dir + "/yaml-block.conf"
	writeFile(t, yamlConf, []byte("server:\n  host: 127.0.0.1\n  grpcPort: 1\ntls:\n  enable: true\n  cert: "+certPath+
		"\n  key: |\n"+indented+"\n"), 0o644)
	plainConf := dir + "/plain.conf"
	writeFile(t, plainConf, []byte("server:\n  host: 127.0.0.1\n  grpcPort: 1\ntls:\n  enable: true\n  cert: "+certPath+"\n"), 0o644)

	cases := map[string]struct {
		env  []string
		args []string
	}{
		"--key flag":          {nil, []string{"--agent-config", plainConf, "--key", key}},
		"NGINX_AGENT_TLS_KEY": {[]string{"NGINX_AGENT_TLS_KEY=" + key}, []string{"--agent-config", plainConf}},
		"YAML key: | block":   {nil, []string{"--agent-config", yamlConf}},
	}
	for name, c := range cases {
		for _, format := range []string{"text", "json", "nagios", "prometheus"} {
			t.Run(name+"/"+format, func(t *testing.T) {
				args := append([]string{"--check", "-o", format, "--timeout", "1s", "--no-logs", "-v"}, c.args...)
				code, stdout, stderr := runOutput(t, c.env, args...)
				if code != exitFailure {
					t.Errorf("exit %d, want %d (a key where its path belongs fails)\n%s%s", code, exitFailure, stdout, stderr)
				}
				assertNoKeyMaterial(t, "stdout", stdout, key)
				assertNoKeyMaterial(t, "stderr", stderr, key)
				// A value from the flag is the flag's: the finding names it.
				want := "tls.key holds PEM data, not a path"
				if strings.HasPrefix(name, "--key") {
					want = "--key holds PEM data, not a path"
				}
				if format != "prometheus" && !strings.Contains(stdout, want) {
					t.Errorf("no %q in:\n%s", want, stdout)
				}
			})
		}
	}
}

// stepText is every fix step's commands and diff in r, one line each, for what they write.
func stepText(r checkResult) string {
	var b strings.Builder
	for _, f := range r.report.Findings {
		for _, st := range f.Fix {
			for _, c := range st.Commands {
				b.WriteString(f.ID + ": " + c + "\n")
			}
			if st.Diff != "" {
				b.WriteString(f.ID + ": diff of " + st.File + ":\n" + st.Diff + "\n")
			}
		}
	}
	return b.String()
}

// TestBadAgentConfigPathIsTheFlags: --agent-config naming a directory or a path that does
// not exist is reported as the flag's mistake, and no step creates, appends to or edits
// that path: the fix is to point the flag at the agent's file.
func TestBadAgentConfigPathIsTheFlags(t *testing.T) {
	dir := t.TempDir()
	withConf := filepath.Join(dir, "etc")
	if err := os.Mkdir(withConf, 0o755); err != nil {
		t.Fatal(err)
	}
	inside := filepath.Join(withConf, "nginx-agent.conf")
	writeFile(t, inside, []byte("server:\n  host: 127.0.0.1\n  grpcPort: 1\n"), 0o644)
	missing := filepath.Join(dir, "nope", "nginx-agent.conf")
	for _, c := range []struct {
		name, path, summary, rerun string
	}{
		{"directory", dir, "--agent-config " + dir + " is a directory, not a file", "mtls-doctor --check --agent-config '<agent-config-path>'"},
		{"directory holding nginx-agent.conf", withConf, "--agent-config " + withConf + " is a directory, not a file",
			"mtls-doctor --check --agent-config " + inside},
		{"missing path", missing, "--agent-config " + missing + " does not exist", "mtls-doctor --check --agent-config '<agent-config-path>'"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := checkJSON(t, nil, "--agent-config", c.path, "--no-logs", "--timeout", "1s")
			f, _ := r.find("agent-config-missing")
			if r.exit != exitFailure || f.Severity != "fail" || f.Summary != c.summary {
				t.Errorf("exit %d, agent-config-missing %s: %q; want exit 2 and fail: %q", r.exit, f.Severity, f.Summary, c.summary)
			}
			steps := stepText(r)
			for _, bad := range []string{"tee", "mkdir", "cp -p", "sed -i", "systemctl restart", "YAML"} {
				if strings.Contains(steps, bad) {
					t.Errorf("a step runs %q on a path that is no file:\n%s", bad, steps)
				}
			}
			if !strings.Contains(steps, c.rerun) {
				t.Errorf("no step runs %q:\n%s", c.rerun, steps)
			}
			_, text, _ := runOutput(t, nil, "--check", "--agent-config", c.path, "--no-logs", "--timeout", "1s")
			want := "agent configuration " + c.path + " (not a file)"
			if c.path == missing {
				want = "agent configuration " + c.path + " (not found)"
			}
			if first, _, _ := strings.Cut(text, "\n"); first != want || strings.Contains(text, "agent configuration file is found") {
				t.Errorf("the text report takes %s for the configuration file:\n%s", c.path, text)
			}
		})
	}
}

// TestFlagValuesAreFixedOnTheFlag: a private key pasted into --key is blamed on --key, and
// no step writes it, or its redaction, into a file: the fix passes a path to the flag.
func TestFlagValuesAreFixedOnTheFlag(t *testing.T) {
	dir := t.TempDir()
	agent := issue(t, newRoot(t, "ca"), leafSpec("agent", x509.ExtKeyUsageClientAuth))
	keyPEM, err := agent.KeyPEM(pki.PKCS8)
	if err != nil {
		t.Fatal(err)
	}
	noCert := dir + "/no-cert.conf"
	writeFile(t, noCert, []byte("server:\n  host: 127.0.0.1\n  grpcPort: 1\ntls:\n  enable: true\n"), 0o644)
	for name, config := range map[string]string{"with a file": noCert, "without a file": dir + "/missing.conf"} {
		t.Run(name, func(t *testing.T) {
			r := checkJSON(t, nil, "--agent-config", config, "--key", string(keyPEM), "--no-logs", "--timeout", "1s")
			assertNoKeyMaterial(t, "report", r.stdout+r.stderr, string(keyPEM))
			for _, id := range []string{"agent-cert-not-configured", "agent-cert-file-unreadable"} {
				if f, _ := r.find(id); f.Severity != "fail" || !strings.HasPrefix(f.Summary, "--key ") {
					t.Errorf("%s %s: %q; want a failure naming --key", id, f.Severity, f.Summary)
				}
			}
			steps := stepText(r)
			if strings.Contains(steps, "PEM data") || strings.Contains(steps, "key:") {
				t.Errorf("a step writes the pasted key's redaction, or a key setting, into a file:\n%s", steps)
			}
			if !strings.Contains(steps, "agent-cert-file-unreadable: mtls-doctor --check") ||
				!strings.Contains(steps, "--key '<agent-key-path>'") {
				t.Errorf("no step passes a key path to --key:\n%s", steps)
			}
		})
	}
}

// TestErrorsDoNotEchoKey: a key given to a flag that rejects its value is not repeated in
// the error message.
func TestErrorsDoNotEchoKey(t *testing.T) {
	agent := issue(t, newRoot(t, "ca"), leafSpec("agent", x509.ExtKeyUsageClientAuth))
	keyPEM, err := agent.KeyPEM(pki.PKCS8)
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runOutput(t, nil, "--check", "-o", string(keyPEM))
	if code != exitCannot || !strings.Contains(stderr, "unknown output format") {
		t.Errorf("exit %d, stderr %q: want exit 3 and the reason", code, stderr)
	}
	assertNoKeyMaterial(t, "stdout", stdout, string(keyPEM))
	assertNoKeyMaterial(t, "stderr", stderr, string(keyPEM))
}

// runBounded is runOutput that fails the test when the run does not end within 20 s
// (a blocking open ignores the context, so the deadline is the test's own).
func runBounded(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var stdout, stderr bytes.Buffer
		code := run(ctx, args, environ{}, strings.NewReader(""), &stdout, &stderr)
		done <- result{code, stdout.String(), stderr.String()}
	}()
	select {
	case r := <-done:
		return r.code, r.stdout, r.stderr
	case <-time.After(25 * time.Second):
		t.Fatalf("mtls-doctor %s did not end within 25 s", strings.Join(args, " "))
	}
	return 0, "", ""
}

// TestFIFOsNeverBlock: a FIFO given as --cert, --key, --ca, --nginx-config, included by the
// NGINX configuration, or given to `logs`, is refused as "not a regular file" at once.
func TestFIFOsNeverBlock(t *testing.T) {
	dir := t.TempDir()
	fifo := dir + "/fifo"
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	agent := issue(t, newRoot(t, "ca"), leafSpec("agent", x509.ExtKeyUsageClientAuth))
	cert, key := writeCerts(t, dir+"/agent.crt", agent), writeKey(t, dir+"/agent.key", agent)
	includer := dir + "/nginx.conf"
	writeFile(t, includer, []byte("events {}\nhttp { include "+fifo+"; }\n"), 0o644)
	common := []string{"--check", "-o", "json", "--agent-config", "/nonexistent/nginx-agent.conf", "--server", "127.0.0.1:1",
		"--timeout", "1s", "--no-logs", "--nginx-config", "/nonexistent/nginx.conf"}
	for name, args := range map[string][]string{
		"--cert":                 {"--cert", fifo, "--key", key},
		"--key":                  {"--cert", cert, "--key", fifo},
		"--ca":                   {"--cert", cert, "--key", key, "--ca", fifo},
		"--nginx-config":         {"--nginx-config", fifo},
		"include of a FIFO":      {"--nginx-config", includer},
		"--nginx-config and ca":  {"--nginx-config", fifo, "--ca", fifo},
		"manager --cert is FIFO": {"--nginx-config", includer, "--cert", fifo},
	} {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := runBounded(t, append(append([]string{}, common...), args...)...)
			if code == exitOK || !strings.Contains(stdout+stderr, "not a regular file") {
				t.Errorf("exit %d; want a problem saying 'not a regular file'\n%s\n%s", code, stdout, stderr)
			}
		})
	}
	t.Run("logs", func(t *testing.T) {
		code, stdout, stderr := runBounded(t, "logs", fifo)
		if code != exitCannot || !strings.Contains(stdout+stderr, "not a regular file") {
			t.Errorf("exit %d; want 3 and 'not a regular file'\n%s\n%s", code, stdout, stderr)
		}
	})
}

// TestBigAndEmptyCAFiles: a CA bundle of 5,001 certificates (2.9 MB; the agent reads it)
// is judged, not "unreadable", and an empty CA file is reported as such without also
// failing server-chain-incomplete, which cannot be judged without trust anchors.
func TestBigAndEmptyCAFiles(t *testing.T) {
	t.Run("5001 certificates", func(t *testing.T) {
		l := newLab(t)
		other := newRoot(t, "unrelated-ca")
		certs := []*pki.Cert{l.inter, l.root}
		for len(certs) < 5001 {
			certs = append(certs, other)
		}
		big := writeCerts(t, l.path("big-ca.pem"), certs...)
		if st, err := os.Stat(big); err != nil || st.Size() < 2<<20 {
			t.Fatalf("bundle is %v bytes (%v), want over 2 MiB", st.Size(), err)
		}
		l.conf.ca = big
		r := check(t, l.start(t))
		for _, id := range []string{"agent-cert-file-unreadable", "server-chain-incomplete", "server-cert-untrusted"} {
			if f, ok := r.find(id); !ok || f.Severity != "ok" {
				t.Errorf("%s: %+v, want ok\n%s", id, f, r.excerpt())
			}
		}
	})
	t.Run("empty", func(t *testing.T) {
		l := newLab(t)
		empty := l.path("empty-ca.pem")
		writeFile(t, empty, nil, 0o644)
		l.conf.ca = empty
		r := check(t, l.start(t))
		if f, ok := r.find("agent-cert-file-unreadable"); !ok || f.Severity != "fail" || !strings.Contains(f.Summary, "holds no certificate") {
			t.Errorf("agent-cert-file-unreadable: %+v, want a failure naming the empty CA file", f)
		}
		if f, _ := r.find("server-chain-incomplete"); f.Severity == "fail" || f.Severity == "warn" {
			t.Errorf("server-chain-incomplete %s: %s — the empty CA file is not a chain problem", f.Severity, f.Summary)
		}
	})
}

// badH2Server serves TLS with ALPN h2 on 127.0.0.1 with the lab's server certificate (so
// the agent trusts it) and answers every connection with misbehave, after the handshake.
func badH2Server(t *testing.T, l *lab, misbehave func(c net.Conn)) int {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(l.serverChain, l.serverKey)
	if err != nil {
		t.Fatal(err)
	}
	addr := nginxtest.ServeTLS(t, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"},
		ClientAuth: tls.RequestClientCert}, func(c *tls.Conn) {
		if err := c.Handshake(); err == nil {
			misbehave(c)
		}
	})
	ta, err := net.ResolveTCPAddr("tcp", addr) // a literal 127.0.0.1:PORT: no lookup
	if err != nil {
		t.Fatal(err)
	}
	return ta.Port
}

// h2Frame is an HTTP/2 frame (RFC 9113 §4.1).
func h2Frame(typ, flags byte, stream uint32, payload []byte) []byte {
	n := len(payload)
	return append([]byte{byte(n >> 16), byte(n >> 8), byte(n), typ, flags,
		byte(stream >> 24), byte(stream >> 16), byte(stream >> 8), byte(stream)}, payload...)
}

// TestNothingProbedIsNotOK: a host the agent cannot dial as written, and an endpoint that
// completes TLS with ALPN h2 and then misbehaves, never give "OK" with nothing judged.
func TestNothingProbedIsNotOK(t *testing.T) {
	t.Run("bracketed IPv4 literal is dialled", func(t *testing.T) {
		l := newLab(t)
		l.conf.host = "\"[127.0.0.1]\""
		r := check(t, l.start(t))
		if f, _ := r.find("grpc-backend-unavailable"); f.Severity != "ok" {
			t.Errorf("grpc-backend-unavailable %s: %s; want the request judged ok\n%s", f.Severity, f.Summary, r.excerpt())
		}
	})
	for _, host := range []string{"\"exa]mple\"", "\"[nim\"", "\"nim example\""} {
		t.Run("host "+host, func(t *testing.T) {
			l := newLab(t)
			l.noNginx = true
			l.conf.host, l.conf.port = host, 443
			r := check(t, l.start(t))
			if f, _ := r.find("endpoint-dns"); r.exit != exitFailure || f.Severity != "fail" || !strings.Contains(f.Summary, "not an address") {
				t.Errorf("exit %d, endpoint-dns %s: %s; want exit 2 and a failure naming the address", r.exit, f.Severity, f.Summary)
			}
		})
	}
	settings := h2Frame(0x4, 0, 0, nil)
	for name, misbehave := range map[string]func(c net.Conn){
		"closes after the handshake": func(c net.Conn) {},
		"sends GOAWAY": func(c net.Conn) {
			_, _ = c.Write(append(settings, h2Frame(0x7, 0, 0, make([]byte, 8))...))
			_, _ = io.Copy(io.Discard, c)
		},
		"sends endless CONTINUATION": func(c net.Conn) {
			go func() { _, _ = io.Copy(io.Discard, c) }()
			_, _ = c.Write(settings)
			time.Sleep(100 * time.Millisecond)
			// HEADERS without END_HEADERS on stream 1, then CONTINUATION frames for ever.
			if _, err := c.Write(h2Frame(0x1, 0, 1, []byte{0x88})); err != nil {
				return
			}
			block := h2Frame(0x9, 0, 1, bytes.Repeat([]byte{0x40, 0x01, 'x', 0x01, 'y'}, 3000))
			for {
				if _, err := c.Write(block); err != nil {
					return
				}
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			l := newLab(t)
			l.noNginx = true
			l.conf.port = badH2Server(t, l, misbehave)
			r := check(t, l.start(t))
			if r.exit == exitOK {
				t.Errorf("exit 0 (OK) although the gRPC request was never answered\n%s", r.excerpt())
			}
			if f, _ := r.find("grpc-backend-unavailable"); f.Severity == "skip" || f.Severity == "ok" {
				t.Errorf("grpc-backend-unavailable %s: %s; want the unjudged request to show", f.Severity, f.Summary)
			}
		})
	}
}

// TestNginxTestOutputIsScrubbed: nginx -t rejecting an ssl_certificate_key "data:" value
// prints the key's lines; none of them reaches any output format.
func TestNginxTestOutputIsScrubbed(t *testing.T) {
	l := newLab(t)
	keyPEM, err := l.server.KeyPEM(pki.PKCS8)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(keyPEM)), "\n")
	cut := strings.Join(lines[:3], "\n") // BEGIN and two lines: nginx cannot load it
	l.srv.Key = `"data:` + cut + `"`
	ngx := l.path("nginx")
	if err := os.Mkdir(ngx, 0o755); err != nil {
		t.Fatal(err)
	}
	main := filepath.Join(ngx, "nginx.conf")
	writeFile(t, main, []byte(nginxtest.Config{Dir: ngx, ServerBlock: l.srv.Block()}.String()), 0o644)
	for _, format := range []string{"text", "json", "nagios"} {
		code, stdout, stderr := runOutput(t, nil, "--check", "-o", format, "--no-logs", "--timeout", "1s",
			"--agent-config", "/nonexistent/nginx-agent.conf", "--nginx-config", main, "-v")
		if code == exitOK {
			t.Errorf("%s: exit 0 with a configuration nginx -t rejects", format)
		}
		if !strings.Contains(stdout, "cannot load certificate key") {
			t.Errorf("%s: nginx -t's complaint is not shown:\n%s", format, stdout)
		}
		assertNoKeyMaterial(t, format, stdout+stderr, string(keyPEM))
	}
}

// failingWriter fails every write, as /dev/full does.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, syscall.ENOSPC }

// TestWriteErrorsAreNotSwallowed: output that cannot be written ends the run with exit 3
// and a message, for every command that prints.
func TestWriteErrorsAreNotSwallowed(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"explain", "--list"}, {"--help"}, {"demo", "--list"},
		{"explain", "agent-cert-expired"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		var stderr bytes.Buffer
		code := run(ctx, args, environ{}, strings.NewReader(""), failingWriter{}, &stderr)
		cancel()
		if code != exitCannot || !strings.Contains(stderr.String(), "no space left on device") {
			t.Errorf("%v: exit %d, stderr %q; want exit 3 and the write error", args, code, stderr.String())
		}
	}
}
