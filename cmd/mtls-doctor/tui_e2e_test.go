package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tmuxSession is a session of a private tmux server (its own socket).
type tmuxSession struct {
	t      *testing.T
	socket string
	target string // the session's name
}

func (s *tmuxSession) tmux(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "tmux", append([]string{"-L", s.socket, "-f", "/dev/null"}, args...)...).CombinedOutput()
	return string(out), err
}

// capture returns the visible pane as plain text.
func (s *tmuxSession) capture() string {
	out, err := s.tmux("capture-pane", "-p", "-t", s.target)
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
	if out, err := s.tmux(append([]string{"send-keys", "-t", s.target}, keys...)...); err != nil {
		s.t.Fatalf("send-keys %v: %v\n%s", keys, err, out)
	}
}

// start runs script in a new 100x30 session named s.target, as a UTF-8 xterm.
func (s *tmuxSession) start(script string, env ...string) {
	s.t.Helper()
	args := []string{"new-session", "-d", "-s", s.target, "-x", "100", "-y", "30",
		"-e", "TERM=xterm-256color", "-e", "LANG=C.UTF-8", "-e", "NO_COLOR="}
	for _, e := range env {
		args = append(args, "-e", e)
	}
	if out, err := s.tmux(append(args, "sh", "-c", script)...); err != nil {
		s.t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
}

// restored checks the terminal was given back: the alternate screen left, the cursor
// shown, the assistant's screen gone.
func (s *tmuxSession) restored(screen string) {
	s.t.Helper()
	if strings.Contains(screen, "1 Overview") {
		s.t.Errorf("the assistant's screen is still shown after it ended:\n%s", screen)
	}
	state, err := s.tmux("display-message", "-p", "-t", s.target, "#{alternate_on} #{cursor_flag}")
	if err != nil {
		s.t.Fatal(err)
	}
	if strings.TrimSpace(state) != "0 1" {
		s.t.Errorf("terminal not restored: alternate_on cursor_flag = %q, want \"0 1\"", strings.TrimSpace(state))
	}
}

// programPID is the process the session's shell started (the pane's child).
func (s *tmuxSession) programPID() int {
	s.t.Helper()
	out, err := s.tmux("display-message", "-p", "-t", s.target, "#{pane_pid}")
	if err != nil {
		s.t.Fatalf("pane_pid: %v\n%s", err, out)
	}
	shell := strings.TrimSpace(out)
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, st := range stats {
		b, err := os.ReadFile(st)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so read after its ')'.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 1 && f[1] == shell {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(st)))
			return pid
		}
	}
	s.t.Fatalf("no child of the pane's shell %s", shell)
	return 0
}

// requireTmux skips without tmux, except in CI.
func requireTmux(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tmux is missing in CI (.ci/run installs it)")
		}
		t.Skip("tmux not installed; the end-to-end TUI test needs it")
	}
}

// buildBinary builds mtls-doctor into a directory of the test.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mtls-doctor")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func newTmux(t *testing.T, name string) *tmuxSession {
	s := &tmuxSession{t: t, socket: fmt.Sprintf("mtls-doctor-e2e-%d-%s", os.Getpid(), name), target: name}
	t.Cleanup(func() { s.tmux("kill-server") })
	return s
}

// TestTUIEndToEnd runs the built binary in tmux on a demo fault, walks the fix with keys
// (a, then y to run the step shown against the lab) until the re-check passes, quits, and
// checks the terminal was given back: the alternate screen left, the cursor shown, the shell's next output on the normal screen;
// and that the exit code is the last run's verdict.
func TestTUIEndToEnd(t *testing.T) {
	requireTmux(t)
	bin := buildBinary(t)
	dir := filepath.Dir(bin)
	s := newTmux(t, "e2e")
	// The shell line runs the demo, then says how it ended and waits, so the pane outlives
	// the program and shows what the terminal looks like afterwards.
	start := time.Now()
	s.start(fmt.Sprintf("cd %s && %s demo agent-chain-incomplete; echo \"EXITED $?\"; sleep 60", dir, bin))
	s.waitFor(20*time.Second, "1 Overview")
	t.Logf("first frame %s after the session started (exec, lab start-up, first render)", time.Since(start).Round(time.Millisecond))

	s.waitFor(30*time.Second, "Checked ", "FAIL")
	s.keys("2")
	s.waitFor(5*time.Second, "agent-chain-incomplete", "Why")
	s.keys("Enter")
	s.waitFor(5*time.Second, "Fix agent-chain-incomplete", "Step 1 of")
	s.keys("r")
	s.waitFor(15*time.Second, "Still wrong")
	s.keys("a")
	s.waitFor(10*time.Second, "Apply step 1 of", "These commands run now", "y run")
	s.keys("y")
	s.waitFor(30*time.Second, "Verified: no failure left.")
	s.keys("1")
	s.keys("r")
	s.waitFor(15*time.Second, "Checked ")
	screen := s.capture()
	if header, _, _ := strings.Cut(screen, "\n"); strings.Contains(header, "FAIL") {
		t.Errorf("after the step a full re-check still fails:\n%s", screen)
	}
	// The exit code is the verdict the header shows, as --check would give it.
	header, _, _ := strings.Cut(screen, "\n")
	want := "EXITED 0"
	switch {
	case strings.Contains(header, "FAIL"):
		want = "EXITED 2"
	case strings.Contains(header, "WARN"):
		want = "EXITED 1"
	}

	s.keys("q")
	s.restored(s.waitFor(10*time.Second, want))
}

// TestTUISignals ends the assistant with each exit signal at varied times after its first
// frame (while the checks run and after), and with Ctrl+C: every time it must exit with
// 128+N (130 for Ctrl+C), give the terminal back, and leave no demo PKI behind. Bubble
// Tea's own signal handler froze it in about a third of such trials.
func TestTUISignals(t *testing.T) {
	requireTmux(t)
	bin := buildBinary(t)
	tmp := t.TempDir() // the demo's TMPDIR
	type trial struct {
		sig   syscall.Signal // 0: Ctrl+C typed
		delay time.Duration
	}
	var trials []trial
	sigs := []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT}
	for i := range 20 {
		trials = append(trials, trial{sigs[i%len(sigs)], time.Duration(i) * 100 * time.Millisecond})
	}
	for i := range 5 {
		trials = append(trials, trial{0, time.Duration(i) * 300 * time.Millisecond})
	}
	const lanes = 3 // sessions at once: the machine is shared
	for lane := range lanes {
		t.Run(fmt.Sprintf("lane-%d", lane), func(t *testing.T) {
			t.Parallel()
			for i := lane; i < len(trials); i += lanes {
				tr := trials[i]
				s := newTmux(t, fmt.Sprintf("sig%d", i))
				s.start(fmt.Sprintf("%s demo agent-cert-expired; echo \"EXITED $?\"; sleep 60", bin), "TMPDIR="+tmp)
				s.waitFor(20*time.Second, "1 Overview")
				time.Sleep(tr.delay)
				want := 130
				if tr.sig == 0 {
					s.keys("C-c")
				} else {
					if err := syscall.Kill(s.programPID(), tr.sig); err != nil {
						t.Fatalf("kill -%d: %v", tr.sig, err)
					}
					want = 128 + int(tr.sig)
				}
				screen := s.waitFor(10*time.Second, fmt.Sprintf("EXITED %d", want))
				if strings.Contains(screen, "still cleaning up") {
					t.Errorf("trial %d (signal %d after %s): the clean-up did not finish, main forced the exit:\n%s", i, tr.sig, tr.delay, screen)
				}
				s.restored(screen)
				s.tmux("kill-server")
			}
		})
	}
	t.Cleanup(func() {
		if left, _ := filepath.Glob(filepath.Join(tmp, "mtls-doctor-demo-*")); len(left) > 0 {
			t.Errorf("demo directories left behind: %v", left)
		}
	})
}
