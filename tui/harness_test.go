package tui

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/internal/demolab"
	"github.com/mtls-doctor/mtls-doctor/internal/gather"
	"github.com/mtls-doctor/mtls-doctor/internal/playbook"
	"github.com/mtls-doctor/mtls-doctor/probes"
)

// testNow pins the clock: the lab's certificates are dated around it and the engine judges
// at it, so days left and dates in goldens never drift.
var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// labDirPrefix makes lab directories of a fixed length, so masking them keeps the layout.
const labDirPrefix = "/tmp/mtls-tui-"

// testLab is a running demo lab with an engine over the real probes pointed at it.
type testLab struct {
	lab    *demolab.Lab
	engine *diagnostics.Engine
	dir    string
}

// startLab starts scenario in a fresh directory; it is closed and removed after the test.
func startLab(t testing.TB, scenario string) *testLab {
	t.Helper()
	return startLabAt(t, scenario, testNow, func() time.Time { return testNow })
}

// startLabAt starts scenario with its certificates dated around now and an engine judging
// at clock: a test whose step issues a certificate with openssl (dated by the wall clock)
// needs the wall clock for both.
func startLabAt(t testing.TB, scenario string, now time.Time, clock func() time.Time) *testLab {
	t.Helper()
	dir := fmt.Sprintf("%s%08x", labDirPrefix, rand.Uint32())
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	l, err := demolab.Start(context.Background(), scenario, dir, now)
	if err != nil {
		t.Fatalf("start lab %s: %v", scenario, err)
	}
	t.Cleanup(func() { l.Close() })
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := l.InstallShims(exe); err != nil {
		t.Fatal(err)
	}
	th := diagnostics.DefaultThresholds()
	// The lab's server stamps its Date header with the wall clock, not testNow.
	th.MaxSkew = 100000 * time.Hour
	e := &diagnostics.Engine{
		Catalog: diagnostics.DefaultCatalog(),
		Gatherer: gather.New(gather.Options{
			Agent:   probes.AgentConfigOptions{Path: l.AgentConfigPath},
			Timeout: 5 * time.Second,
			// As the demo does: the lab's own nginx.conf, no host logs. No nginx binary
			// either, so `nginx -V` of this host does not reach the goldens.
			Nginx: probes.NginxOptions{Config: l.NginxConfPath(), NoBinary: true},
			Logs:  gather.LogOptions{Disabled: true},
		}),
		Thresholds: th,
		Now:        clock,
	}
	return &testLab{lab: l, engine: e, dir: dir}
}

// options are the assistant's options for the lab, as `mtls-doctor demo` sets them.
func (tl *testLab) options() Options {
	l := tl.lab
	apply := &ApplyOptions{
		Env:         playbook.Env{Dir: l.Dir, Path: []string{l.BinDir()}, Inputs: l.Inputs(), Vars: []string{"TMPDIR=" + l.Dir}},
		JournalRoot: filepath.Join(l.Dir, "journal"),
		NginxTest:   "nginx -t -c " + diagnostics.ShellQuote(l.NginxConfPath()),
		Confine:     l.Dir,
		Where:       "the demo lab",
	}
	return Options{Engine: tl.engine, Apply: apply, Title: "demo: " + l.Scenario.Name, ReportDir: tl.dir}
}

// TestMain lets this test binary act as the demo lab's shims (nginx, systemctl …), which
// the steps `a` runs call.
func TestMain(m *testing.M) {
	if code, ok := demolab.RunShim(os.Args[1:], os.Stdout, os.Stderr); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

var (
	hexGroupRE = regexp.MustCompile(`\b[0-9a-f]{8}\b`)
	portRE     = regexp.MustCompile(`127\.0\.0\.1:\d{4,5}\b`)
)

// normalize replaces what differs between runs with text of the same width: the lab's
// directory, its port and certificate fingerprints (keys and signatures are random).
func normalize(s string) string {
	s = regexp.MustCompile(regexp.QuoteMeta(labDirPrefix)+`[0-9a-f]{8}`).ReplaceAllString(s, labDirPrefix+"DIRDIRDI")
	s = portRE.ReplaceAllStringFunc(s, func(v string) string {
		return "127.0.0.1:" + strings.Repeat("P", len(v)-len("127.0.0.1:"))
	})
	return hexGroupRE.ReplaceAllString(s, "xxxxxxxx")
}

// harness runs a Model in a real tea.Program (teatest) and inspects it on the program's
// own goroutine, through a message filter, so tests never race the event loop.
type harness struct {
	t  testing.TB
	tm *teatest.TestModel
}

// inspectMsg asks the filter to call fn with the current model.
type inspectMsg struct {
	fn   func(Model)
	done chan struct{}
}

func drive(t testing.TB, m Model, width, height int) *harness {
	t.Helper()
	filter := func(tm tea.Model, msg tea.Msg) tea.Msg {
		if in, ok := msg.(inspectMsg); ok {
			if mm, ok := tm.(Model); ok {
				in.fn(mm)
			}
			close(in.done)
			return nil
		}
		return msg
	}
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(width, height),
		teatest.WithProgramOptions(tea.WithFilter(filter), tea.WithColorProfile(colorprofile.Ascii)))
	h := &harness{t: t, tm: tm}
	t.Cleanup(func() {
		tm.Quit()
		tm.WaitFinished(t, teatest.WithFinalTimeout(10*time.Second))
	})
	return h
}

// inspect runs fn on the program's goroutine with the model as it is after every message
// sent so far.
func (h *harness) inspect(fn func(Model)) {
	h.t.Helper()
	done := make(chan struct{})
	h.tm.Send(inspectMsg{fn: fn, done: done})
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		h.t.Fatal("the program did not answer within 10s")
	}
}

// screen returns the current frame without ANSI codes.
func (h *harness) screen() string {
	var s string
	h.inspect(func(m Model) { s = ansi.Strip(m.frame()) })
	return s
}

// waitFor polls until cond holds for the model, failing after limit.
func (h *harness) waitFor(what string, limit time.Duration, cond func(Model) bool) {
	h.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		var ok bool
		h.inspect(func(m Model) { ok = cond(m) })
		if ok {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out after %s waiting for %s; screen:\n%s", limit, what, h.screen())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// idle waits until no run is in progress and at least one has finished.
func (h *harness) idle() {
	h.t.Helper()
	h.waitFor("the checks to finish", 30*time.Second, func(m Model) bool { return m.run == nil && m.facts != nil })
}

// press sends keys by name ("tab", "enter", "esc", "space") or as typed text.
func (h *harness) press(keys ...string) {
	for _, k := range keys {
		h.tm.Send(keyMsg(k))
	}
}

// keyMsg builds the KeyPressMsg a terminal sends for k.
func keyMsg(k string) tea.KeyPressMsg {
	switch k {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "shift+tab":
		return tea.KeyPressMsg{Code: tea.KeyTab, Mod: tea.ModShift}
	case "space":
		return tea.KeyPressMsg{Code: tea.KeySpace, Text: " "}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "left":
		return tea.KeyPressMsg{Code: tea.KeyLeft}
	case "right":
		return tea.KeyPressMsg{Code: tea.KeyRight}
	case "pgdown":
		return tea.KeyPressMsg{Code: tea.KeyPgDown}
	case "pgup":
		return tea.KeyPressMsg{Code: tea.KeyPgUp}
	case "backspace":
		return tea.KeyPressMsg{Code: tea.KeyBackspace}
	case "ctrl+c":
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	}
	r := []rune(k)
	return tea.KeyPressMsg{Code: r[0], Text: k}
}

// screenName names sc for test messages, as its tab does on a wide terminal.
func screenName(sc screen) string {
	m := New(Options{})
	defer m.stop()
	return m.pages[sc].title(200)
}
