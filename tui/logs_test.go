package tui

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

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
	if expired.Finding != "agent-cert-expired" || expired.Level != "info" || expired.Time.IsZero() ||
		!strings.HasPrefix(expired.Message, "client SSL certificate verify error") {
		t.Fatalf("expired line parsed as %+v", expired)
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
	feed := make(chan LogLine)
	src := LogSourceFunc(func(ctx context.Context, out chan<- LogLine) error {
		for {
			select {
			case ln := <-feed:
				out <- ln
			case <-ctx.Done():
				return nil
			}
		}
	})
	tl := startLab(t, "agent-cert-expired")
	opts := tl.options()
	opts.Logs = src
	h := drive(t, New(opts), 80, 24)
	h.idle()
	h.press("5")
	send := func(ls []LogLine) {
		for _, ln := range ls {
			select {
			case feed <- ln:
			case <-time.After(5 * time.Second):
				t.Fatal("the program stopped reading the log")
			}
		}
	}
	count := func(n int) func(Model) bool { return func(m Model) bool { return m.logs.n == uint64(n) } }
	send(lines[:10])
	h.waitFor("10 lines", 5*time.Second, count(10))
	if s := h.screen(); !strings.Contains(s, "following") || !strings.Contains(s, "10 lines") {
		t.Fatalf("screen:\n%s", s)
	}
	h.press("space")
	send(lines[10:])
	h.waitFor("all lines", 5*time.Second, count(len(lines)))
	s := h.screen()
	if !strings.Contains(s, fmt.Sprintf("paused (%d new lines)", len(lines)-10)) || !strings.Contains(s, "10 lines") {
		t.Fatalf("paused screen:\n%s", s)
	}
	h.press("space")
	if s := h.screen(); !strings.Contains(s, fmt.Sprintf("%d lines", len(lines))) {
		t.Fatalf("resumed screen:\n%s", s)
	}
	h.press("/", "h", "a", "s", " ", "e", "x", "p", "enter", "enter")
	h.inspect(func(m Model) {
		if m.screen != screenFinding || m.selected != "agent-cert-expired" {
			t.Errorf("enter on the expired line: screen %s, finding %q", screenNames[m.screen], m.selected)
		}
	})
	h.press("5", "esc")
	h.inspect(func(m Model) {
		if m.logs.filter != "" || m.logs.visible() != len(lines) {
			t.Errorf("esc kept filter %q (%d visible)", m.logs.filter, m.logs.visible())
		}
	})
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
