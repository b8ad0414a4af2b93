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

func TestCursorAddressable(t *testing.T) {
	for term, want := range map[string]bool{"": false, "dumb": false, "xterm-256color": true, "no-such-terminal-xyz": true} {
		if got := cursorAddressable(term); got != want {
			t.Errorf("cursorAddressable(%q) = %v, want %v", term, got, want)
		}
	}
}

// buildForTmux builds the binary for a tmux test, skipping (failing in CI) without tmux.
func buildForTmux(t *testing.T) (bin, dir string) {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tmux is missing in CI (.ci/run installs it)")
		}
		t.Skip("tmux not installed; this test needs it")
	}
	dir = t.TempDir()
	bin = filepath.Join(dir, "mtls-doctor")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin, dir
}

// startTmux runs script in a private tmux server of the given size. tmux sets TERM in its
// panes itself (default-terminal), so the script sets TERM for the program.
func startTmux(t *testing.T, name string, w, h int, script string) *tmuxSession {
	t.Helper()
	s := &tmuxSession{t: t, socket: fmt.Sprintf("mtls-doctor-%s-%d", name, os.Getpid())}
	t.Cleanup(func() { s.tmux("kill-server") })
	if out, err := s.tmux("new-session", "-d", "-s", "e2e", "-x", fmt.Sprint(w), "-y", fmt.Sprint(h),
		"-e", "LANG=C.UTF-8", "sh", "-c", script); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	return s
}

// TestDumbTerminalFallsBack: on a terminal without cursor addressing the demo prints the
// --check report after a one-line note, and never draws the full-screen assistant.
func TestDumbTerminalFallsBack(t *testing.T) {
	bin, dir := buildForTmux(t)
	script := fmt.Sprintf("cd %s && TERM=dumb %s demo agent-cert-expired --timeout 2s; echo \"EXITED $?\"; sleep 60", dir, bin)
	s := startTmux(t, "dumb", 100, 50, script)
	s.waitFor(60*time.Second, "EXITED 0")
	screen, err := s.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", "e2e") // with the scrollback
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`mtls-doctor: TERM="dumb" cannot move the cursor`, "Demo: mtls-doctor found the planted fault"} {
		if !strings.Contains(screen, want) {
			t.Errorf("screen lacks %q:\n%s", want, screen)
		}
	}
	if strings.Contains(screen, "1 Overview") {
		t.Errorf("the full-screen assistant was drawn on a dumb terminal:\n%s", screen)
	}
}

// TestOverviewCursorInTmux runs the demo at 80x24 in a real terminal (tmux), scrolls the
// Overview to the bottom and back with j, G, space and PgDn, and checks after each key
// that the cursor row (▸) is on screen and the footer still offers ? help and q quit.
func TestOverviewCursorInTmux(t *testing.T) {
	bin, dir := buildForTmux(t)
	script := fmt.Sprintf("cd %s && TERM=xterm-256color %s demo agent-cert-expired; echo \"EXITED $?\"; sleep 60", dir, bin)
	s := startTmux(t, "cursor", 80, 24, script)
	s.waitFor(30*time.Second, "Checked ", "Problems")
	check := func(after string) {
		t.Helper()
		// The frame is redrawn after the key arrives; wait for it to settle on the pointer.
		deadline := time.Now().Add(5 * time.Second)
		for {
			screen := s.capture()
			lines := strings.Split(strings.TrimRight(screen, "\n"), "\n")
			if strings.Contains(screen, "▸") && strings.HasSuffix(strings.TrimSpace(lines[len(lines)-1]), "? help • q quit") {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("after %s the cursor row or the footer is off screen:\n%s", after, screen)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	s.keys("G")
	s.waitFor(5*time.Second, "logs of NGINX and the agent can be read")
	check("G")
	s.keys("g")
	s.waitFor(5*time.Second, "Problems")
	for i := range 40 {
		s.keys("j")
		if i%5 == 4 {
			check(fmt.Sprintf("%d presses of j", i+1))
		}
	}
	for _, k := range []string{"Space", "PageDown", "PageDown", "b", "PageUp", "End", "Home"} {
		s.keys(k)
		check(k)
	}
	s.keys("q")
	s.waitFor(10*time.Second, "EXITED")
}
