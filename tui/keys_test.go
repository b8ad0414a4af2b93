package tui

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"image/color"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/internal/gather"
	"github.com/mtls-doctor/mtls-doctor/probes"
)

// TestNavigation walks the screens with Tab, Shift+Tab, digits, Enter, Esc and ?.
func TestNavigation(t *testing.T) {
	tl := startLab(t, "agent-cert-expired")
	h := drive(t, New(tl.options()), 80, 24)
	h.idle()
	cur := func() (sc screen, cursor, selected string) {
		h.inspect(func(m Model) { sc, cursor, selected = m.screen, m.overview.cursorID(&m), m.selected })
		return
	}
	if sc, cursor, _ := cur(); sc != screenOverview || cursor != "agent-cert-expired" {
		t.Fatalf("start: screen %s, cursor %q; want Overview on the first failure", screenName(sc), cursor)
	}
	type step struct {
		key  string
		want screen
	}
	// Tab visits every registered tab in order and wraps; Shift+Tab wraps the other way.
	var tabs []screen
	h.inspect(func(m Model) { tabs = m.tabs() })
	var steps []step
	for _, sc := range append(tabs[1:], tabs[0]) {
		steps = append(steps, step{"tab", sc})
	}
	steps = append(steps, []step{
		{"shift+tab", tabs[len(tabs)-1]}, {"1", screenOverview}, {"4", screenCerts},
		{"?", screenHelp}, {"esc", screenCerts}, {"?", screenHelp}, {"?", screenCerts}, {"esc", screenOverview},
	}...)
	for _, s := range steps {
		h.press(s.key)
		if sc, _, _ := cur(); sc != s.want {
			t.Fatalf("after %q: screen %s, want %s", s.key, screenName(sc), screenName(s.want))
		}
	}
	// j moves to the next check, k back; Enter opens the selected one; Esc returns.
	h.press("j")
	_, second, _ := cur()
	if second == "agent-cert-expired" || second == "" {
		t.Fatalf("j did not move the cursor (still %q)", second)
	}
	h.press("enter")
	if sc, _, sel := cur(); sc != screenFinding || sel != second {
		t.Fatalf("enter: screen %s selected %q, want Finding %q", screenName(sc), sel, second)
	}
	if !strings.Contains(h.screen(), second) {
		t.Fatalf("finding screen does not name %s:\n%s", second, h.screen())
	}
	h.press("esc", "k")
	if sc, cursor, _ := cur(); sc != screenOverview || cursor != "agent-cert-expired" {
		t.Fatalf("esc, k: screen %s cursor %q", screenName(sc), cursor)
	}
	h.press("q")
	h.tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
}

// TestWalkthroughApplyRecheck is the whole loop in the demo lab: the Fix screen, a
// re-check that says what is still wrong, `a` showing the consent screen (commands, files
// backed up), n changing nothing, then `a` `y` running the step's own commands against the
// lab's files, re-checking, and saying it is verified with no failure left.
func TestWalkthroughApplyRecheck(t *testing.T) {
	tl := startLab(t, "agent-chain-incomplete")
	certPath := tl.lab.Inputs()["<agent-cert-path>"]
	orig, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	h := drive(t, New(tl.options()), 80, 24)
	h.idle()
	h.press("2", "enter")
	if screen := h.screen(); !strings.Contains(screen, "Fix agent-chain-incomplete") {
		t.Fatalf("Fix screen:\n%s", screen)
	}
	h.press("r")
	h.idle()
	var verdict string
	h.inspect(func(m Model) { verdict = strings.Join(m.fix.walk.verdict, "\n") })
	if !strings.Contains(verdict, "Still wrong") || !strings.Contains(verdict, "agent-chain-incomplete") {
		t.Fatalf("re-check before the fix: verdict %q", verdict)
	}
	h.press("a")
	var cmds []string
	h.inspect(func(m Model) {
		if m.fix.walk.plan != nil {
			cmds = m.fix.walk.plan.commands
		}
	})
	if len(cmds) == 0 {
		t.Fatalf("no consent screen after a:\n%s", h.screen())
	}
	// The consent screen shows what will run, as the step shows it.
	if s := h.screen(); !strings.Contains(s, "Apply step 1 of") || !strings.Contains(s, "These commands run now") {
		t.Fatalf("consent screen:\n%s", s)
	}
	// Its footer names the two answers, and not n as "step" (n cancels here).
	if s := h.screen(); !strings.Contains(s, "y run") || !strings.Contains(s, "n/esc cancel") || strings.Contains(s, "n/p step") {
		t.Fatalf("consent screen's footer:\n%s", s)
	}
	h.press("n")
	h.inspect(func(m Model) {
		if m.fix.walk.plan != nil || m.fix.walk.applying {
			t.Error("n did not cancel")
		}
	})
	if now, _ := os.ReadFile(certPath); string(now) != string(orig) {
		t.Fatal("the agent's certificate changed although the user said n")
	}
	h.press("a", "y")
	h.waitFor("the step to run and the re-check to finish", 30*time.Second, func(m Model) bool {
		return !m.fix.walk.applying && len(m.fix.walk.verdict) > 0
	})
	var done bool
	var sev diagnostics.Severity
	h.inspect(func(m Model) {
		done, sev = m.fix.walk.done, m.findings["agent-chain-incomplete"].Severity
		verdict = strings.Join(m.fix.walk.verdict, "\n")
	})
	if !done || sev != diagnostics.SeverityOK || !strings.Contains(verdict, "verified") {
		t.Fatalf("after a y: done %v, severity %s, verdict %q\n%s", done, sev, verdict, h.screen())
	}
	if now, _ := os.ReadFile(certPath); string(now) == string(orig) {
		t.Fatal("the step's commands did not change the agent's certificate file")
	}
	if s := h.screen(); !strings.Contains(s, "Verified: no failure left.") {
		t.Fatalf("screen does not say the step is verified:\n%s", s)
	}
}

// TestWalkthroughApplyUpstream is the loop on the NGINX → upstream link: `a` `y` on the
// Fix screen runs the step's own commands against the demo lab's files — in
// upstream-client-cert-expired, openssl reissuing the front's client certificate; in
// upstream-name-mismatch, sed setting proxy_ssl_name in the front's location — reloads the
// lab's NGINX, and the re-check verifies it.
func TestWalkthroughApplyUpstream(t *testing.T) {
	for _, tc := range []struct{ id, input string }{
		{"upstream-client-cert-expired", "<proxy-client-cert-path>"},
		{"upstream-name-mismatch", "<manager-nginx-conf>"},
	} {
		t.Run(tc.id, func(t *testing.T) {
			// openssl dates a reissued certificate by the wall clock: so do the lab and the engine.
			tl := startLabAt(t, tc.id, time.Now(), time.Now)
			changed := tl.lab.Inputs()[tc.input]
			orig, err := os.ReadFile(changed)
			if err != nil {
				t.Fatal(err)
			}
			h := drive(t, New(tl.options()), 80, 24)
			h.idle()
			h.press("2", "enter")
			if screen := h.screen(); !strings.Contains(screen, "Fix "+tc.id) {
				t.Fatalf("Fix screen:\n%s", screen)
			}
			h.press("a", "y")
			h.waitFor("the step to run and the re-check to finish", 30*time.Second, func(m Model) bool {
				return !m.fix.walk.applying && len(m.fix.walk.verdict) > 0
			})
			var done bool
			var sev diagnostics.Severity
			var verdict string
			h.inspect(func(m Model) {
				done, sev = m.fix.walk.done, m.findings[tc.id].Severity
				verdict = strings.Join(m.fix.walk.verdict, "\n")
			})
			if !done || sev != diagnostics.SeverityOK || !strings.Contains(verdict, "verified") {
				t.Fatalf("after a y: done %v, severity %s, verdict %q\n%s", done, sev, verdict, h.screen())
			}
			if now, _ := os.ReadFile(changed); string(now) == string(orig) {
				t.Fatalf("the step's commands did not change %s", changed)
			}
		})
	}
}

// TestApplyBlocked: a step that needs a placeholder the user has not filled, that runs on
// the other host, that says it is manual or that opens an editor is never run; `a` says why.
func TestApplyBlocked(t *testing.T) {
	opts := &ApplyOptions{Host: diagnostics.HostAgent}
	for _, tc := range []struct {
		st   diagnostics.Step
		want string
	}{
		{diagnostics.Step{Commands: []string{"openssl x509 -CAkey '<ca-key-path>'"}, Inputs: []diagnostics.Input{{Name: "<ca-key-path>"}}}, "needs <ca-key-path>"},
		{diagnostics.Step{Commands: []string{"true"}, Host: diagnostics.HostManager}, "runs on the manager host"},
		{diagnostics.Step{Commands: []string{"true"}, Manual: "Ask the PKI team."}, "Ask the PKI team."},
		{diagnostics.Step{Commands: []string{"sudoedit /etc/x"}}, "sudoedit waits for a person"},
		{diagnostics.Step{Commands: []string{"true"}}, ""},
	} {
		if got := blockedReason(opts, tc.st); tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("blockedReason(%+v) = %q, want %q", tc.st, got, tc.want)
		}
	}
	if got := blockedReason(nil, diagnostics.Step{Commands: []string{"true"}}); !strings.Contains(got, "copy") {
		t.Errorf("blockedReason without apply options = %q", got)
	}
}

// TestStepNavigationAndCopy moves between steps and commands and copies a command with
// OSC 52, read back from the terminal output.
func TestStepNavigationAndCopy(t *testing.T) {
	tl := startLab(t, "agent-cert-expired")
	h := drive(t, New(tl.options()), 120, 40)
	h.idle()
	h.press("3", "n", "j")
	var want string
	h.inspect(func(m Model) {
		if m.fix.walk.step != 1 || m.fix.walk.cmd != 1 {
			t.Errorf("step %d command %d, want step 2 command 2", m.fix.walk.step+1, m.fix.walk.cmd+1)
		}
		want = m.fix.walk.steps[1].Commands[1]
	})
	h.press("c")
	enc := base64.StdEncoding.EncodeToString([]byte(want))
	teatest.WaitFor(t, h.tm.Output(), func(b []byte) bool { return strings.Contains(string(b), "]52;c;"+enc) },
		teatest.WithDuration(5*time.Second))
	h.inspect(func(m Model) {
		if wantMsg := fmt.Sprintf("Sent %d bytes by OSC 52. Empty paste? Allow OSC 52 (tmux: set-clipboard on).", len(want)); m.message != wantMsg {
			t.Errorf("message %q, want %q", m.message, wantMsg)
		}
	})
	h.press("p", "p")
	h.inspect(func(m Model) {
		if m.fix.walk.step != 0 || m.fix.walk.cmd != 0 {
			t.Errorf("after p p: step %d command %d", m.fix.walk.step+1, m.fix.walk.cmd+1)
		}
	})
}

// TestEscCancelsBlackHole: a server that accepts and never speaks TLS keeps the probe
// waiting; the screen shows the checks running, and Esc ends the wait at once.
func TestEscCancelsBlackHole(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	tl := startLab(t, "healthy")
	e := *tl.engine
	e.Gatherer = gather.New(gather.Options{
		Agent:   probes.AgentConfigOptions{Path: tl.lab.AgentConfigPath, Overrides: probes.AgentOverrides{Server: ln.Addr().String()}},
		Timeout: time.Minute,
		Nginx:   probes.NginxOptions{Config: tl.lab.NginxConfPath(), NoBinary: true},
		Logs:    gather.LogOptions{Disabled: true},
	})
	opts := tl.options()
	opts.Engine = &e
	h := drive(t, New(opts), 80, 24)
	h.waitFor("the endpoint checks to run", 10*time.Second, func(m Model) bool {
		return m.states["endpoint-timeout"] == stateRunning
	})
	if s := h.screen(); !strings.Contains(s, " running") || !strings.Contains(s, "checking") {
		t.Fatalf("running checks not shown:\n%s", s)
	}
	start := time.Now()
	h.press("esc")
	h.idle()
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("cancel took %s", d)
	}
	h.inspect(func(m Model) {
		if f := m.findings["endpoint-timeout"]; f.Severity != diagnostics.SeveritySkip || !strings.Contains(f.Summary, "cancel") {
			t.Errorf("endpoint-timeout after cancel: %s %q", f.Severity, f.Summary)
		}
		if !strings.Contains(m.message, "Cancelled") {
			t.Errorf("message %q", m.message)
		}
	})
}

// TestResize checks that every frame, at any size, is exactly the terminal's height and
// never wider than it, on every screen.
func TestResize(t *testing.T) {
	tl := startLab(t, "server-name-mismatch")
	opts := tl.options()
	opts.Logs = LogFileSource(realLog, time.UTC)
	h := drive(t, New(opts), 80, 24)
	h.idle()
	sizes := [][2]int{{80, 24}, {40, 10}, {41, 11}, {200, 60}, {60, 15}, {120, 40}, {39, 9}, {1, 1}, {80, 24}}
	for _, key := range []string{"1", "2", "3", "4", "5", "?"} {
		h.press(key)
		for _, sz := range sizes {
			h.tm.Send(tea.WindowSizeMsg{Width: sz[0], Height: sz[1]})
			screen := h.screen()
			lines := strings.Split(screen, "\n")
			if sz[0] >= minWidth && sz[1] >= minHeight {
				assertFits(t, screen, sz[0], sz[1])
			} else if len(lines) > max(sz[1], 1) {
				t.Errorf("%dx%d: %d lines", sz[0], sz[1], len(lines))
			}
		}
	}
}

var colourSGR = regexp.MustCompile(`\x1b\[([0-9;:]*)m`)

// TestNoColor: with NoColor no SGR sequence sets a colour, and status still reads as
// glyph and word.
func TestNoColor(t *testing.T) {
	tl := startLab(t, "agent-cert-expired")
	opts := tl.options()
	opts.NoColor = true
	h := drive(t, New(opts), 80, 24)
	h.idle()
	for _, key := range []string{"1", "2", "3", "4", "5", "?"} {
		h.press(key)
		var frame string
		h.inspect(func(m Model) { frame = m.frame() })
		for _, sgr := range colourSGR.FindAllStringSubmatch(frame, -1) {
			for _, p := range strings.FieldsFunc(sgr[1], func(r rune) bool { return r == ';' || r == ':' }) {
				switch {
				case p == "38" || p == "48" || (len(p) == 2 && (p[0] == '3' || p[0] == '4' || p[0] == '9') && p[1] != '9'):
					t.Fatalf("screen %s sets a colour: %q", key, sgr[0])
				}
			}
		}
		if key == "1" && !strings.Contains(ansi.Strip(frame), "✖ FAIL") {
			t.Fatalf("status not readable without colour:\n%s", ansi.Strip(frame))
		}
	}
}

// TestASCII: with ASCII no character outside ASCII is drawn by the assistant itself.
func TestASCII(t *testing.T) {
	tl := startLab(t, "agent-cert-expired")
	opts := tl.options()
	opts.ASCII = true
	h := drive(t, New(opts), 100, 30)
	h.idle()
	for _, key := range []string{"1", "2", "3", "4", "?"} {
		h.press(key)
		for _, r := range h.screen() {
			if r > 0x7e {
				t.Fatalf("screen %s draws %q with ASCII set:\n%s", key, r, h.screen())
			}
		}
	}
}

// TestExportReport writes the Markdown report and checks it names the finding and its
// fix, never holds the agent's private key, and with Redact names no host or address. It
// records the version and command line, and its file name the host and the failure.
func TestExportReport(t *testing.T) {
	for _, redact := range []bool{false, true} {
		tl := startLab(t, "agent-cert-expired")
		opts := tl.options()
		opts.Redact = redact
		opts.Version, opts.Hostname = "1.2.3 (commit abc)", "agent-01.test.local"
		opts.Args = []string{"demo", "--token", "t0ps3cret"}
		h := drive(t, New(opts), 80, 24)
		h.idle()
		h.press("e")
		var msg string
		h.waitFor("the report", 10*time.Second, func(m Model) bool { msg = m.message; return strings.Contains(msg, "Report") })
		path, ok := strings.CutPrefix(msg, "Report written to ")
		if !ok {
			t.Fatalf("message %q", msg)
		}
		if filepath.Dir(path) != tl.dir {
			t.Errorf("report %s not in ReportDir %s", path, tl.dir)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("report mode %v, want 0600", st.Mode().Perm())
		}
		data, _ := os.ReadFile(path)
		text := string(data)
		wantName := "mtls-doctor-agent-01.test.local-agent-cert-expired-"
		if redact {
			wantName = "mtls-doctor-host-agent-cert-expired-"
		}
		if !strings.HasPrefix(filepath.Base(path), wantName) {
			t.Errorf("redact=%v: report file %s, want a name starting %s", redact, filepath.Base(path), wantName)
		}
		if strings.Contains(text, "t0ps3cret") {
			t.Errorf("report holds the token from the command line")
		}
		for _, want := range []string{"# mtls-doctor report", "### FAIL `agent-cert-expired`", "Renew the agent certificate", "## Certificates", "| ok |",
			"| mtls-doctor | 1.2.3 (commit abc) |", "| Command | `mtls-doctor demo --token [redacted]` |"} {
			if !strings.Contains(text, want) {
				t.Errorf("redact=%v: report lacks %q", redact, want)
			}
		}
		assertNoKey(t, text, filepath.Join(tl.dir, "agent.key"))
		for _, name := range []string{"nim.test.local", "agent-01.test.local", "127.0.0.1"} {
			if got := strings.Contains(text, name); got == redact {
				t.Errorf("redact=%v: report contains %s: %v", redact, name, got)
			}
		}
		if redact && !strings.Contains(text, "host-1") {
			t.Errorf("redacted report has no placeholder")
		}
	}
}

// assertNoKey fails if text holds a PEM key marker or any line of the key file's base64.
func assertNoKey(t *testing.T, text, keyPath string) {
	t.Helper()
	data, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text, "PRIVATE KEY") {
		t.Error("report holds a PRIVATE KEY marker")
	}
	for _, l := range strings.Split(string(data), "\n") {
		if len(l) > 16 && !strings.HasPrefix(l, "-----") && strings.Contains(text, l) {
			t.Errorf("report holds a line of the private key")
		}
	}
}

// TestRunQuit runs the program as Run does for the command: q ends it, Run returns nil,
// and the alternate screen entered at start is left again.
func TestRunQuit(t *testing.T) {
	tl := startLab(t, "healthy")
	opts := tl.options()
	in, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	defer inW.Close()
	out := &syncBuffer{}
	opts.Input, opts.Output = in, out
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, opts)
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "mtls-doctor") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	inW.Write([]byte("q"))
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("q did not quit within 20s")
	}
	s := out.String()
	enter, leave := strings.Index(s, "\x1b[?1049h"), strings.LastIndex(s, "\x1b[?1049l")
	if enter < 0 || leave < enter {
		t.Fatalf("alternate screen not entered and left (enter at %d, leave at %d)", enter, leave)
	}
}

// syncBuffer is a bytes.Buffer safe for the program's writer and the test's reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestGathererPanic: a gatherer that panics (on the engine's own goroutine) skips the
// checks that needed its facts, saying why; the program keeps running and answers keys.
func TestGathererPanic(t *testing.T) {
	tl := startLab(t, "healthy")
	e := *tl.engine
	inner := e.Gatherer
	e.Gatherer = diagnostics.GathererFunc(func(ctx context.Context, kind diagnostics.FactKind, f *diagnostics.Facts) error {
		if kind == diagnostics.FactEndpoint {
			var m map[string]int
			m["boom"]++ // a nil-map write, as a buggy probe would do
		}
		return inner.Gather(ctx, kind, f)
	})
	opts := tl.options()
	opts.Engine = &e
	h := drive(t, New(opts), 80, 24)
	h.idle()
	h.inspect(func(m Model) {
		f := m.findings["endpoint-timeout"]
		if f.Severity != diagnostics.SeveritySkip || !strings.Contains(f.Summary, "internal error while gathering") {
			t.Errorf("endpoint-timeout after the panic: %s %q", f.Severity, f.Summary)
		}
	})
	h.press("4")
	h.inspect(func(m Model) {
		if m.screen != screenCerts {
			t.Errorf("keys no longer answered after the panic")
		}
	})
}

// TestLightBackground: the terminal's answer to the background query switches the
// styles; the screen stays the same text.
func TestLightBackground(t *testing.T) {
	tl := startLab(t, "agent-cert-expired")
	h := drive(t, New(tl.options()), 80, 24)
	h.idle()
	dark := h.screen()
	var darkFrame string
	h.inspect(func(m Model) { darkFrame = m.frame() })
	h.tm.Send(tea.BackgroundColorMsg{Color: color.White})
	h.inspect(func(m Model) {
		if m.dark {
			t.Error("white background taken for dark")
		}
		if m.frame() == darkFrame {
			t.Error("light styles draw the same bytes as dark ones")
		}
	})
	if h.screen() != dark {
		t.Error("the text changed with the background")
	}
}

// TestResult: q leaves with the last run's verdict, Ctrl+C says it was an interruption,
// and quitting before any run finished gives no verdict.
func TestResult(t *testing.T) {
	tl := startLab(t, "agent-cert-expired")
	for _, k := range []string{"q", "ctrl+c"} {
		t.Run(k, func(t *testing.T) {
			h := drive(t, New(tl.options()), 100, 30)
			h.idle()
			h.press(k)
			h.tm.WaitFinished(t, teatest.WithFinalTimeout(10*time.Second))
			r := h.tm.FinalModel(t).(Model).result()
			if r.Interrupted != (k == "ctrl+c") {
				t.Errorf("Interrupted = %v after %s", r.Interrupted, k)
			}
			if r.Verdict == nil || diagnostics.ExitCode(r.Verdict) != 2 || len(r.Verdict.Findings) != len(tl.engine.Catalog) {
				t.Fatalf("verdict %+v, want every check with exit code 2 (the expired certificate fails)", r.Verdict)
			}
		})
	}
	t.Run("before-the-first-run", func(t *testing.T) {
		m, _ := New(tl.options()).update(keyMsg("q"))
		if r := m.result(); r.Verdict != nil || r.Interrupted {
			t.Errorf("result %+v, want no verdict", r)
		}
	})
}

// TestScreenKeysFollowTabs: the digits reach every registered tab and no further, so a
// screen added to newPages gets its digit and its help text without touching the KeyMap.
func TestScreenKeysFollowTabs(t *testing.T) {
	m := New(Options{})
	n := len(m.tabs())
	if got := m.keys.Screen.Help().Key; got != fmt.Sprintf("1-%d", n) {
		t.Errorf("help for the digits is %q with %d tabs", got, n)
	}
	if keys := m.keys.Screen.Keys(); len(keys) != n || keys[n-1] != fmt.Sprint(n) {
		t.Errorf("digits %v for %d tabs", keys, n)
	}
	if b := screenKeys(12); len(b.Keys()) != 9 || b.Help().Key != "1-9" {
		t.Errorf("12 tabs: %v %q", b.Keys(), b.Help().Key)
	}
}
