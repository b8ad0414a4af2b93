package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/internal/nginxtest"
)

// TestShortTimeoutIsNotBlamedOnTheNetwork: --timeout 1ms against a loopback listener that
// accepts and never answers says the timeout was too short for the step and asks for a larger
// one; --timeout 1s against the same listener still fails it as a dropped path.
func TestShortTimeoutIsNotBlamedOnTheNetwork(t *testing.T) {
	dir := t.TempDir()
	agent := issue(t, newRoot(t, "ca"), leafSpec("agent", x509.ExtKeyUsageClientAuth))
	cert, key := writeCerts(t, dir+"/agent.crt", agent), writeKey(t, dir+"/agent.key", agent)
	// The kernel completes the TCP handshake from the backlog; nobody ever reads.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	args := []string{"--agent-config", "/nonexistent/nginx-agent.conf", "--server", ln.Addr().String(),
		"--cert", cert, "--key", key, "--no-logs", "--nginx-config", "/nonexistent/nginx.conf"}

	short := checkJSON(t, nil, append(args, "--timeout", "1ms")...)
	f, ok := short.find("endpoint-timeout")
	if !ok {
		t.Fatalf("no endpoint-timeout finding:\n%s", short.stdout)
	}
	if f.Severity != "warn" || !strings.Contains(f.Summary, "--timeout 1ms, too short for this step") ||
		strings.Contains(f.Summary, "dropped") {
		t.Errorf("--timeout 1ms: endpoint-timeout %s %q, want a warning that the timeout was too short", f.Severity, f.Summary)
	}
	if fix := fixText(f); !strings.Contains(fix, "mtls-doctor --check --timeout 5s") || strings.Contains(fix, "iptables") {
		t.Errorf("--timeout 1ms: the fix does not ask for a larger --timeout (or blames a firewall):\n%s", fix)
	}

	long := checkJSON(t, nil, append(args, "--timeout", "1s")...)
	if f, _ := long.find("endpoint-timeout"); f.Severity != "fail" || !strings.Contains(f.Summary, "timed out") {
		t.Errorf("--timeout 1s: endpoint-timeout %s %q, want the timeout failed", f.Severity, f.Summary)
	}
}

// fixText is every command of a finding's playbook, one a line.
func fixText(f diagnostics.JSONFinding) string {
	var cmds []string
	for _, s := range f.Fix {
		cmds = append(cmds, s.Commands...)
	}
	return strings.Join(cmds, "\n")
}

// TestWrongTypedSettingIsNamed: `grpcPort: [1,2]` is reported as a list at its file:line,
// not as a port that is unset.
func TestWrongTypedSettingIsNamed(t *testing.T) {
	conf := t.TempDir() + "/nginx-agent.conf"
	writeFile(t, conf, []byte("server:\n  host: 127.0.0.1\n  grpcPort: [1,2]\ntls:\n  enable: true\n"), 0o644)
	res := checkJSON(t, nil, "--agent-config", conf, "--no-logs", "--timeout", "1s", "--nginx-config", "/nonexistent/nginx.conf")
	f, ok := res.find("agent-config-invalid")
	if !ok || f.Severity != "fail" {
		t.Fatalf("agent-config-invalid: %+v\n%s", f, res.excerpt())
	}
	if want := conf + ":3: server.grpcPort is a list, not one value"; !strings.Contains(f.Summary, want) {
		t.Errorf("summary %q does not contain %q", f.Summary, want)
	}
	if text := findingText(f); strings.Contains(text, "no server port is set") || strings.Contains(text, "is not a port number") {
		t.Errorf("the list is reported as an unset port:\n%s", text)
	}
	if fix := fixText(f); !strings.Contains(fix, "sudo sed -n '2,6p' "+conf) {
		t.Errorf("the fix does not show the line:\n%s", fix)
	}
}

// TestPKCS12GetsConversionHint: a .p12 bundle made by `openssl pkcs12 -export`, given as the
// agent's cert and key, is named as PKCS#12 (not "holds no certificate") and the fix converts
// it with openssl pkcs12, the path quoted for sh.
func TestPKCS12GetsConversionHint(t *testing.T) {
	bin := nginxtest.RequireOpenSSL(t)
	dir := filepath.Join(t.TempDir(), "agent certs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	agent := issue(t, newRoot(t, "ca"), leafSpec("agent", x509.ExtKeyUsageClientAuth))
	cert, key := writeCerts(t, dir+"/agent.crt", agent), writeKey(t, dir+"/agent.key", agent)
	bundle := dir + "/agent.p12"
	out, err := exec.Command(bin, "pkcs12", "-export", "-in", cert, "-inkey", key, "-out", bundle, "-passout", "pass:secret").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl pkcs12 -export: %v\n%s", err, out)
	}
	res := checkJSON(t, nil, "--agent-config", "/nonexistent/nginx-agent.conf", "--server", "127.0.0.1:1",
		"--cert", bundle, "--key", bundle, "--no-logs", "--timeout", "1s", "--nginx-config", "/nonexistent/nginx.conf")
	f, ok := res.find("agent-cert-file-unreadable")
	if !ok || f.Severity != "fail" {
		t.Fatalf("agent-cert-file-unreadable: %+v\n%s", f, res.excerpt())
	}
	if want := "cert " + bundle + " is a PKCS#12 bundle (.p12/.pfx)"; !strings.Contains(f.Summary, want) {
		t.Errorf("summary %q does not contain %q", f.Summary, want)
	}
	if text := findingText(f); strings.Contains(text, "holds no certificate") || strings.Contains(text, "do not parse") {
		t.Errorf("the bundle is reported as an empty or broken file:\n%s", text)
	}
	q := "'" + dir + "/agent"
	fix := fixText(f)
	for _, want := range []string{
		"sudo openssl pkcs12 -in " + q + ".p12' -clcerts -nokeys -out " + q + "-cert.pem'",
		"sudo openssl pkcs12 -in " + q + ".p12' -nocerts -nodes -out " + q + "-key.pem'",
	} {
		if !strings.Contains(fix, want) {
			t.Errorf("the fix lacks %q:\n%s", want, fix)
		}
	}
}

// stdinHint is the start of the line --nginx-config - prints when stdin is a terminal.
const stdinHint = "mtls-doctor: reading `nginx -T` output from standard input (this terminal); end it with Ctrl-D"

// TestNginxConfigStdinHintOnTerminal: --nginx-config - with stdin a terminal (a tmux pane)
// says what it waits for, and Ctrl-D ends the wait; with stdin a pipe it says nothing.
func TestNginxConfigStdinHintOnTerminal(t *testing.T) {
	bin, dir := buildForTmux(t)
	script := fmt.Sprintf("cd %s && TERM=dumb %s --check --agent-config /nonexistent/nginx-agent.conf --no-logs --nginx-config -; echo \"EXITED $?\"; sleep 60", dir, bin)
	s := startTmux(t, "stdin-hint", 220, 40, script)
	s.waitFor(60*time.Second, stdinHint, "sudo nginx -T | mtls-doctor --nginx-config -")
	if screen := s.capture(); strings.Contains(screen, "EXITED") {
		t.Fatalf("the run ended before the end of its input:\n%s", screen)
	}
	s.keys("C-d")
	s.waitFor(60*time.Second, "EXITED")

	code, _, stderr := runOutput(t, nil, "--check", "--agent-config", "/nonexistent/nginx-agent.conf", "--no-logs", "--nginx-config", "-")
	if strings.Contains(stderr, "reading `nginx -T`") {
		t.Errorf("exit %d: the terminal hint is printed for piped input:\n%s", code, stderr)
	}
}

// TestLogsFollowMissingFileSaysItWaits: `logs --follow` on a path that does not exist says on
// stderr which path it waits for and that it starts when it appears; when the file is
// created its lines are streamed.
func TestLogsFollowMissingFileSaysItWaits(t *testing.T) {
	lines, err := os.ReadFile(realErrorLog)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "error.log")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"logs", "--follow", "-o", "json", path}, environ{vars: []string{"TZ=UTC"}}, strings.NewReader(""), &stdout, &stderr)
	}()
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s after 15 s; stdout:\n%s\nstderr:\n%s", what, stdout.String(), stderr.String())
			}
		}
	}
	want := "mtls-doctor: " + path + " does not exist yet; waiting for it, and it is read from its start when it appears."
	waitFor("word about the missing file", func() bool { return strings.Contains(stderr.String(), want) })
	writeFile(t, path, lines, 0o644)
	waitFor("event from the created file", func() bool { return strings.Contains(stdout.String(), `"kind"`) })
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("logs --follow did not stop after cancel")
	}
}
