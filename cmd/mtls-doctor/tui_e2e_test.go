package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tmuxSession is a private tmux server (its own socket) with one session.
type tmuxSession struct {
	t      *testing.T
	socket string
}

func (s *tmuxSession) tmux(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "tmux", append([]string{"-L", s.socket, "-f", "/dev/null"}, args...)...).CombinedOutput()
	return string(out), err
}

// capture returns the visible pane as plain text.
func (s *tmuxSession) capture() string {
	out, err := s.tmux("capture-pane", "-p", "-t", "e2e")
	if err != nil {
		s.t.Fatalf("capture-pane: %v\n%s", err, out)
	}
	return out
}

// waitFor polls the pane until it contains all of want, failing after limit.
func (s *tmuxSession) waitFor(limit time.Duration, want ...string) string {
	s.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		screen := s.capture()
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(screen, w)
		}
		if ok {
			return screen
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("after %s the screen does not show %q:\n%s", limit, want, screen)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *tmuxSession) keys(keys ...string) {
	s.t.Helper()
	if out, err := s.tmux(append([]string{"send-keys", "-t", "e2e"}, keys...)...); err != nil {
		s.t.Fatalf("send-keys %v: %v\n%s", keys, err, out)
	}
}

// TestTUIEndToEnd runs the built binary in tmux on the demo's default fault, walks the fix
// with keys until the re-check passes, quits, and checks the terminal was given back:
// the alternate screen left, the cursor shown, the shell's next output on the normal screen.
func TestTUIEndToEnd(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tmux is missing in CI (.ci/run installs it)")
		}
		t.Skip("tmux not installed; the end-to-end TUI test needs it")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "mtls-doctor")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	s := &tmuxSession{t: t, socket: fmt.Sprintf("mtls-doctor-e2e-%d", os.Getpid())}
	t.Cleanup(func() { s.tmux("kill-server") })
	// The shell line runs the demo, then says how it ended and waits, so the pane outlives
	// the program and shows what the terminal looks like afterwards.
	script := fmt.Sprintf("cd %s && %s demo agent-cert-expired; echo \"EXITED $?\"; sleep 60", dir, bin)
	start := time.Now()
	if out, err := s.tmux("new-session", "-d", "-s", "e2e", "-x", "100", "-y", "30",
		"-e", "TERM=xterm-256color", "-e", "LANG=C.UTF-8", "-e", "NO_COLOR=", "sh", "-c", script); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	s.waitFor(20*time.Second, "1 Overview")
	t.Logf("first frame %s after the session started (exec, lab start-up, first render)", time.Since(start).Round(time.Millisecond))

	s.waitFor(30*time.Second, "Checked ", "agent certificate CN=agent-01.test.local expired")
	s.keys("2")
	s.waitFor(5*time.Second, "agent-cert-expired", "Why", "Renew the agent certificate")
	s.keys("Enter")
	s.waitFor(5*time.Second, "Fix agent-cert-expired", "Step 1 of 2")
	s.keys("r")
	s.waitFor(15*time.Second, "Still wrong")
	s.keys("a")
	s.waitFor(10*time.Second, "Applied in the lab")
	s.keys("r")
	screen := s.waitFor(15*time.Second, "agent-cert-expired passes now")
	if !strings.Contains(screen, "fixed") {
		t.Errorf("the Fix screen does not mark the walkthrough fixed:\n%s", screen)
	}
	s.keys("1")
	s.keys("r")
	s.waitFor(15*time.Second, "Checked ")
	if screen := s.capture(); strings.Contains(screen, "agent certificate CN=agent-01.test.local expired") {
		t.Errorf("after the fix a full re-check still reports the expired certificate:\n%s", screen)
	}

	s.keys("q")
	after := s.waitFor(10*time.Second, "EXITED 0")
	if strings.Contains(after, "1 Overview") {
		t.Errorf("the assistant's screen is still shown after it quit:\n%s", after)
	}
	state, err := s.tmux("display-message", "-p", "-t", "e2e", "#{alternate_on} #{cursor_flag}")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(state) != "0 1" {
		t.Errorf("terminal not restored: alternate_on cursor_flag = %q, want \"0 1\"", strings.TrimSpace(state))
	}
}
