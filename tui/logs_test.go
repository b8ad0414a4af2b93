package tui

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/logparse"
)

// realLines reads the recorded NGINX error.log lines and parses them as the Logs screen does.
func realLines(t testing.TB) []LogLine {
	t.Helper()
	f, err := os.Open(realLog)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := &logparse.Parser{Location: time.UTC}
	var out []LogLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, ParseLogLine(p, realLog, sc.Text()))
	}
	if len(out) == 0 {
		t.Fatal("no lines in " + realLog)
	}
	return out
}

func TestParseLogLine(t *testing.T) {
	var expired LogLine
	for _, ln := range realLines(t) {
		if strings.Contains(ln.Text, "certificate has expired") {
			expired = ln
		}
	}
	if expired.Event != "agent-cert-expired" || expired.Finding != "" || expired.Level != "info" || expired.Time.IsZero() ||
		!strings.HasPrefix(expired.Message, "client SSL certificate verify error") {
		t.Fatalf("expired line parsed as %+v", expired)
	}
}

// TestLinkFindings: a classified line links to the check that claims its kind, whatever
// that check's ID; a kind no check of the catalog claims links to nothing.
func TestLinkFindings(t *testing.T) {
	claims := diagnostics.Check{ID: "renamed-expiry-check", Category: diagnostics.CategoryAgentCert, Title: "t",
		Evaluate: func(*diagnostics.Facts) diagnostics.Result { return diagnostics.OK("ok") },
		LogKinds: []logparse.Kind{logparse.KindAgentCertExpired}}
	m := New(Options{Engine: &diagnostics.Engine{Catalog: diagnostics.Catalog{claims}}})
	lines := []LogLine{
		{Event: string(logparse.KindAgentCertExpired)},
		{Event: string(logparse.KindAgentCertRevoked)},
		{Event: string(logparse.KindAgentCertRevoked), Finding: "kept"},
		{},
	}
	m.linkFindings(lines)
	for i, want := range []string{"renamed-expiry-check", "", "kept", ""} {
		if lines[i].Finding != want {
			t.Errorf("line %d (%s) links to %q, want %q", i, lines[i].Event, lines[i].Finding, want)
		}
	}
	real := New(Options{Engine: &diagnostics.Engine{Catalog: diagnostics.DefaultCatalog()}})
	for _, k := range logparse.Kinds {
		ln := []LogLine{{Event: string(k)}}
		if real.linkFindings(ln); ln[0].Finding == "" {
			t.Errorf("the default catalog links no finding to a %s line", k)
		}
	}
}

// TestLogRingBounded adds far more lines than the ring holds: memory stays at capacity,
// the oldest lines go, the filter only sees what is kept and the cursor follows.
func TestLogRingBounded(t *testing.T) {
	lines := realLines(t)
	l := newLogView(100)
	for i := 0; i < 25; i++ {
		l.add(lines) // 23 lines a batch
	}
	total := 25 * len(lines)
	if len(l.ring) != 100 || cap(l.ring) != 100 {
		t.Fatalf("ring holds %d (cap %d), want 100", len(l.ring), cap(l.ring))
	}
	if l.first != uint64(total-100) || l.n != uint64(total) {
		t.Fatalf("first %d n %d, want %d %d", l.first, l.n, total-100, total)
	}
	if l.visible() != 100 || l.cursor != 99 {
		t.Fatalf("visible %d cursor %d, want 100 and 99", l.visible(), l.cursor)
	}
	l.setFilter("EXPIRED")
	for _, seq := range l.match {
		if seq < l.first || !strings.Contains(l.line(seq).Text, "expired") {
			t.Fatalf("match %d (first %d): %q", seq, l.first, l.line(seq).Text)
		}
	}
	want := 0
	for seq := l.first; seq < l.n; seq++ {
		if strings.Contains(l.line(seq).Text, "expired") {
			want++
		}
	}
	if len(l.match) != want || want == 0 {
		t.Fatalf("%d matches, want %d", len(l.match), want)
	}
	l.add(lines)
	if l.match[0] < l.first {
		t.Fatal("a match outlived its line")
	}
}

// TestLogsFollowPauseJump follows a source fed by the test: lines stream in, space pauses
// the view while lines keep arriving, a filter narrows, and Enter opens the linked finding.
func TestLogsFollowPauseJump(t *testing.T) {
	lines := realLines(t)
	h, send := driveLogs(t)
	count := func(n int) func(Model) bool { return func(m Model) bool { return m.logs.n == uint64(n) } }
	send(lines[:10])
	h.waitFor("10 lines", 5*time.Second, count(10))
	if s := h.screen(); !strings.Contains(s, "following") || !strings.Contains(s, "10 lines") {
		t.Fatalf("screen:\n%s", s)
	}
	h.press("p")
	send(lines[10:])
	h.waitFor("all lines", 5*time.Second, count(len(lines)))
	s := h.screen()
	if !strings.Contains(s, fmt.Sprintf("paused (%d new lines)", len(lines)-10)) || !strings.Contains(s, "10 lines") {
		t.Fatalf("paused screen:\n%s", s)
	}
	h.press("p")
	if s := h.screen(); !strings.Contains(s, fmt.Sprintf("%d lines", len(lines))) {
		t.Fatalf("resumed screen:\n%s", s)
	}
	h.press("/", "h", "a", "s", " ", "e", "x", "p", "enter", "enter")
	h.inspect(func(m Model) {
		if m.screen != screenFinding || m.selected != "agent-cert-expired" {
			t.Errorf("enter on the expired line: screen %s, finding %q", screenName(m.screen), m.selected)
		}
	})
	h.press("5", "esc")
	h.inspect(func(m Model) {
		if m.logs.filter != "" || m.logs.visible() != len(lines) {
			t.Errorf("esc kept filter %q (%d visible)", m.logs.filter, m.logs.visible())
		}
	})
}

// driveLogs drives the assistant over the agent-cert-expired lab at 80x24 on the Logs
// screen, its log source fed by send.
func driveLogs(t *testing.T) (h *harness, send func([]LogLine)) {
	t.Helper()
	feed := make(chan LogLine)
	tl := startLab(t, "agent-cert-expired")
	opts := tl.options()
	opts.Logs = LogSourceFunc(func(ctx context.Context, out chan<- LogLine) error {
		for {
			select {
			case ln := <-feed:
				out <- ln
			case <-ctx.Done():
				return nil
			}
		}
	})
	h = drive(t, New(opts), 80, 24)
	h.idle()
	h.press("5")
	return h, func(ls []LogLine) {
		for _, ln := range ls {
			select {
			case feed <- ln:
			case <-time.After(5 * time.Second):
				t.Fatal("the program stopped reading the log")
			}
		}
	}
}

// TestLogsSelectRelevantLine: the Logs screen opens on the agent's line, not on the newer
// line about mtls-doctor's own probe, and marks the selected line with the Overview's
// pointer, which shows without colour.
func TestLogsSelectRelevantLine(t *testing.T) {
	h, send := driveLogs(t)
	p := &logparse.Parser{Location: time.UTC}
	send([]LogLine{ParseLogLine(p, "error.log", agentNoCertLine), ParseLogLine(p, "error.log", ownNoCertLine)})
	h.waitFor("2 lines", 5*time.Second, func(m Model) bool { return m.logs.n == 2 })
	selected := func() string {
		t.Helper()
		s := h.screen()
		var rows []string
		for _, row := range strings.Split(s, "\n") {
			if strings.HasPrefix(row, " ▸ ") {
				rows = append(rows, row)
			}
		}
		if len(rows) != 1 {
			t.Fatalf("%d rows marked ▸, want 1:\n%s", len(rows), s)
		}
		return rows[0]
	}
	if row := selected(); strings.Contains(row, ownProbeLabel) || !strings.Contains(row, "→ client sent no required SSL") {
		t.Errorf("the Logs screen opens on %q, want the agent's line", row)
	}
	if s := h.screen(); !strings.Contains(s, "→ agent-cert-not-sent (Enter opens it)") {
		t.Errorf("the detail is not the agent's line:\n%s", s)
	}
	h.press("j")
	if row := selected(); !strings.Contains(row, ownProbeLabel) {
		t.Errorf("j selects %q, want the probe's line", row)
	}
}

func TestContainsFold(t *testing.T) {
	cases := []struct {
		s, needle string
		want      bool
	}{
		{"Client SSL Certificate", "ssl cert", true},
		{"client ssl", "ssl cert", false},
		{"", "", true},
		{"abc", "", true},
		{"ÄBC straße", "äbc", true},
		{"ÄBC straße", "STRASSE", false},
		{"x", "xy", false},
	}
	for _, c := range cases {
		if got := containsFold(c.s, strings.ToLower(c.needle)); got != c.want {
			t.Errorf("containsFold(%q, %q) = %v", c.s, c.needle, got)
		}
	}
}

// TestFollowLogFiles follows a real file: lines appended after the start arrive parsed
// and classified, and the follow ends with its context.
func TestFollowLogFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "error.log")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan LogLine, 64)
	done := make(chan error, 1)
	go func() {
		done <- FollowLogFiles([]logparse.File{{Path: path, Type: logparse.TypeNginxError}}, time.UTC).Follow(ctx, out)
	}()
	var want []string
	for _, ln := range realLines(t) {
		want = append(want, ln.Text)
	}
	// The follower starts at the end of the file: keep appending until the first line
	// shows up, then append the rest.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []LogLine
	deadline := time.After(15 * time.Second)
	fmt.Fprintln(f, want[0])
	for len(got) == 0 {
		select {
		case ln := <-out:
			got = append(got, ln)
		case <-time.After(300 * time.Millisecond):
			fmt.Fprintln(f, want[0])
		case <-deadline:
			t.Fatal("no line followed within 15s")
		}
	}
	for _, l := range want[1:] {
		fmt.Fprintln(f, l)
	}
	for !strings.Contains(got[len(got)-1].Text, "plain HTTP request") {
		select {
		case ln := <-out:
			got = append(got, ln)
		case <-deadline:
			t.Fatalf("followed %d lines within 15s", len(got))
		}
	}
	classified := 0
	for _, ln := range got {
		if ln.Source != path || ln.Time.IsZero() {
			t.Errorf("line %+v", ln)
		}
		if ln.Event != "" {
			classified++
		}
	}
	if classified < 10 {
		t.Errorf("%d classified lines", classified)
	}
	// copytruncate: the screen says so, then shows the lines written after it.
	if err := f.Truncate(0); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, want[0])
	var notice LogLine
	for {
		var ln LogLine
		select {
		case ln = <-out:
		case <-deadline:
			t.Fatal("no notice and line after the truncation within 15s")
		}
		if ln.Notice != "" {
			notice = ln
			continue
		}
		if ln.Text == want[0] {
			break
		}
	}
	if notice.Source != path || notice.Notice != "truncated" || !strings.Contains(notice.Message, "error.log truncated: reading it again from its start") || notice.Time.IsZero() {
		t.Errorf("notice %+v", notice)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Follow: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Follow did not end with its context")
	}
}

// agentNoCertLine is NGINX's line about an agent's request without a certificate, and
// ownNoCertLine the same line about mtls-doctor's own probe request.
const (
	agentNoCertLine = `2026/11/30 21:53:00 [info] 8536#8536: *2 client sent no required SSL certificate while reading client request headers, client: 127.0.0.1, server: nim.test.local, request: "POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0", host: "nim.test.local"`
	ownNoCertLine   = `2026/11/30 21:53:00 [info] 8536#8536: *3 client sent no required SSL certificate while reading client request headers, client: 127.0.0.1, server: nim.test.local, request: "POST /f5.nginx.agent.sdk.Commander/CommandChannel?` + logparse.OwnProbeQuery + ` HTTP/2.0", host: "nim.test.local"`
)

// TestOwnProbeLineLabelled: NGINX's line about mtls-doctor's own request without a
// certificate is shown dimmed and labelled as the probe's, and links to no finding; the
// same line for an agent's request links to agent-cert-not-sent.
func TestOwnProbeLineLabelled(t *testing.T) {
	p := &logparse.Parser{Location: time.UTC}
	m := New(Options{Engine: &diagnostics.Engine{Catalog: diagnostics.DefaultCatalog()}})
	lines := []LogLine{ParseLogLine(p, "error.log", agentNoCertLine), ParseLogLine(p, "error.log", ownNoCertLine)}
	m.linkFindings(lines)
	a, o := lines[0], lines[1]
	if a.Finding != "agent-cert-not-sent" || a.OwnProbe {
		t.Errorf("agent's line: finding %q, own %v", a.Finding, a.OwnProbe)
	}
	if o.Finding != "" || o.Event != "" || !o.OwnProbe || o.Time.IsZero() {
		t.Errorf("probe's line: finding %q, event %q, own %v, time %v", o.Finding, o.Event, o.OwnProbe, o.Time)
	}
	if row := m.logRow(&o, 200, false); !strings.Contains(row, ownProbeLabel) {
		t.Errorf("the probe's row is not labelled: %q", row)
	}
	if row := m.logRow(&a, 200, false); strings.Contains(row, ownProbeLabel) {
		t.Errorf("the agent's row is labelled as the probe's: %q", row)
	}
}

// TestNoiseLineDimmed: the [crit] SSL_shutdown() line NGINX 1.22 writes after a stream
// server refuses a connection is noise (logparse.Noise, which logRow draws dimmed instead
// of as a failure) and links to no finding; another [crit] line is not noise.
func TestNoiseLineDimmed(t *testing.T) {
	const (
		noise = `2026/12/05 17:14:39 [crit] 2941#2941: *2 SSL_shutdown() failed (SSL: error:0A000123:SSL routines::application data after close notify) while SSL handshaking, client: 127.0.0.1, server: 127.0.0.1:34567`
		crit  = `2026/12/05 17:14:39 [crit] 2941#2941: *3 SSL_shutdown() failed (SSL: error:0A000126:SSL routines::unexpected eof while reading) while SSL handshaking, client: 127.0.0.1, server: 127.0.0.1:34567`
	)
	p := &logparse.Parser{Location: time.UTC}
	m := New(Options{Engine: &diagnostics.Engine{Catalog: diagnostics.DefaultCatalog()}})
	lines := []LogLine{ParseLogLine(p, "error.log", noise), ParseLogLine(p, "error.log", crit)}
	m.linkFindings(lines)
	n, c := lines[0], lines[1]
	if n.Noise == "" || n.Finding != "" || n.Level != "crit" {
		t.Errorf("noise line: noise %q, finding %q, level %q", n.Noise, n.Finding, n.Level)
	}
	if c.Noise != "" {
		t.Errorf("other crit line called noise: %q", c.Noise)
	}
	if row := m.logRow(&n, 200, false); !strings.Contains(row, "application data after close notify") {
		t.Errorf("noise row lost its text: %q", row)
	}
}
