package tui

import (
	"fmt"
	"image/color"
	"math"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
)

// footerGlobal ends every footer at every size: the keys a tired user needs.
const footerGlobal = "? help • q quit"

// TestCursorStaysOnScreen moves the Overview cursor through the whole list with every
// moving key and the mouse wheel, at three sizes: the selected row is always drawn.
func TestCursorStaysOnScreen(t *testing.T) {
	tl := startLab(t, "agent-cert-expired")
	for _, size := range [][2]int{{80, 24}, {120, 40}, {60, 20}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			h := drive(t, New(tl.options()), size[0], size[1])
			h.idle()
			var keys []string
			for range 60 {
				keys = append(keys, "j")
			}
			keys = append(keys, "g", "pgdown", "pgdown", "space", "space", "space", "b", "G", "k", "k", "b", "pgup", "g")
			for i, k := range keys {
				h.press(k)
				if s := h.screen(); !strings.Contains(s, unicodeGlyphs.pointer) {
					t.Fatalf("after key %d (%q) the cursor row is off screen:\n%s", i+1, k, s)
				}
			}
			for i := range 30 {
				button := tea.MouseWheelDown
				if i >= 20 {
					button = tea.MouseWheelUp
				}
				h.tm.Send(tea.MouseWheelMsg{Button: button})
				if s := h.screen(); !strings.Contains(s, unicodeGlyphs.pointer) {
					t.Fatalf("after wheel event %d the cursor row is off screen:\n%s", i+1, s)
				}
			}
		})
	}
}

// TestWindow pins the viewport rule: the cursor is never on the "more lines" row.
func TestWindow(t *testing.T) {
	for n := 0; n < 30; n++ {
		for h := 1; h < 12; h++ {
			for cursor := -1; cursor < n; cursor++ {
				for off := -2; off < n+2; off++ {
					start, end, more := window(n, cursor, off, h)
					shown := end - start
					if more {
						shown++
					}
					if shown > h || start < 0 || end > n || (more && end >= n) || (!more && end != n && h > 1) {
						t.Fatalf("window(%d, %d, %d, %d) = %d, %d, %v", n, cursor, off, h, start, end, more)
					}
					if cursor >= 0 && (cursor < start || cursor >= end) {
						t.Fatalf("window(%d, %d, %d, %d) = %d, %d: cursor not shown", n, cursor, off, h, start, end)
					}
				}
			}
		}
	}
}

// TestEveryProblemOnFirstScreen: at 80x24 and 60x20 the first frame names the verdict
// and every failing and warning check, without scrolling.
func TestEveryProblemOnFirstScreen(t *testing.T) {
	tl := startLab(t, "agent-cert-expired")
	for _, size := range [][2]int{{80, 24}, {60, 20}} {
		h := drive(t, New(tl.options()), size[0], size[1])
		h.idle()
		s := h.screen()
		var n map[diagnostics.Severity]int
		h.inspect(func(m Model) { n = m.counts() })
		if n[diagnostics.SeverityFail] == 0 || n[diagnostics.SeverityWarn] == 0 {
			t.Fatalf("the scenario has no failure and warning to show: %v", n)
		}
		verdict := fmt.Sprintf("✖ %d FAIL  ‼ %d WARN", n[diagnostics.SeverityFail], n[diagnostics.SeverityWarn])
		if !strings.Contains(strings.Split(s, "\n")[0], verdict) {
			t.Errorf("%dx%d: header lacks the verdict %q:\n%s", size[0], size[1], verdict, s)
		}
		if got := strings.Count(s, "✖ FAIL") + strings.Count(s, "‼ WARN"); got != n[diagnostics.SeverityFail]+n[diagnostics.SeverityWarn] {
			t.Errorf("%dx%d: %d problem rows on the first screen, want %d:\n%s", size[0], size[1], got,
				n[diagnostics.SeverityFail]+n[diagnostics.SeverityWarn], s)
		}
	}
}

// TestFooterKeys: on every screen, at 80x24 and 60x20, the footer ends with ? help and
// q quit; at 80x24 the Fix footer offers a (apply) in the demo lab and hides it elsewhere.
func TestFooterKeys(t *testing.T) {
	tl := startLab(t, "agent-cert-expired")
	for _, applier := range []bool{true, false} {
		opts := tl.options()
		if !applier {
			opts.Apply = nil
		}
		for _, size := range [][2]int{{80, 24}, {60, 20}} {
			h := drive(t, New(opts), size[0], size[1])
			h.idle()
			for _, k := range []string{"1", "2", "3", "4", "5", "?"} {
				h.press(k)
				lines := strings.Split(h.screen(), "\n")
				footer := lines[len(lines)-1]
				if !strings.HasSuffix(footer, footerGlobal) {
					t.Errorf("%dx%d screen %s: footer %q does not end with %q", size[0], size[1], k, footer, footerGlobal)
				}
				if k == "3" && size[0] == 80 && strings.Contains(footer, "a apply") != applier {
					t.Errorf("applier %v: Fix footer %q", applier, footer)
				}
			}
			h.press("?")
		}
	}
}

// TestHelpFits80x24: the Help screen shows every key at 80x24 without scrolling.
func TestHelpFits80x24(t *testing.T) {
	m := New(Options{})
	m.resize(80, 24)
	m.screen = screenHelp
	s := ansi.Strip(m.frame())
	if strings.Contains(s, "more line") {
		t.Fatalf("help needs scrolling at 80x24:\n%s", s)
	}
	for _, g := range m.keys.groups() {
		for _, b := range g.bindings {
			want := b.Help().Desc
			if b.Help().Key == "a" {
				want = "apply (off here)" // no ApplyOptions: a is off and Help says so
			}
			if !strings.Contains(s, b.Help().Key+" ") || !strings.Contains(s, want) {
				t.Errorf("help lacks %q %q:\n%s", b.Help().Key, b.Help().Desc, s)
			}
		}
	}
}

// TestHostFactsFold: the host facts take two lines until i shows all of them.
func TestHostFactsFold(t *testing.T) {
	tl := startLab(t, "agent-cert-expired")
	h := drive(t, New(tl.options()), 80, 24)
	h.idle()
	s := h.screen()
	if strings.Contains(s, "agent.key") || !strings.Contains(s, "(i: all host facts)") {
		t.Fatalf("host facts not folded:\n%s", s)
	}
	h.press("i")
	if s = h.screen(); !strings.Contains(s, "Key       "+tl.dir+"/agent.key") {
		t.Fatalf("i does not show the host facts:\n%s", s)
	}
	h.press("i")
	if s = h.screen(); strings.Contains(s, "agent.key") {
		t.Fatalf("i does not fold the host facts again:\n%s", s)
	}
}

// TestOverviewFilter: typing /expired filters the Overview and triggers no other key (e
// would export a report); n and N step through the matches, wrapping; esc clears the
// filter, and a second esc stays on the Overview.
func TestOverviewFilter(t *testing.T) {
	tl := startLab(t, "agent-cert-expired")
	h := drive(t, New(tl.options()), 80, 24)
	h.idle()
	h.press("/", "e", "x", "p", "i", "r", "e", "d", "enter")
	var order []string
	h.inspect(func(m Model) {
		order = m.overview.order(&m)
		if m.overview.filter != "expired" || m.overview.editing || strings.Contains(m.message, "Report") || m.screen != screenOverview {
			t.Errorf("filter %q editing %v message %q screen %s", m.overview.filter, m.overview.editing, m.message, screenName(m.screen))
		}
	})
	if len(order) < 2 || len(order) > 10 || !strings.Contains(strings.Join(order, " "), "agent-cert-expired") {
		t.Fatalf("filtered rows %v", order)
	}
	if entries, _ := filepath.Glob(filepath.Join(tl.dir, "*.md")); len(entries) > 0 {
		t.Errorf("typing the filter wrote a report: %v", entries)
	}
	cursor := func() (id string) { h.inspect(func(m Model) { id = m.overview.cursorID(&m) }); return }
	first := cursor()
	h.press("N")
	if got := cursor(); got != order[len(order)-1] {
		t.Errorf("N from the first match went to %q, want the last %q", got, order[len(order)-1])
	}
	h.press("n")
	if got := cursor(); got != first {
		t.Errorf("n from the last match went to %q, want the first %q", got, first)
	}
	if s := h.screen(); !strings.Contains(s, "filter: expired") || !strings.Contains(s, "n/N match") {
		t.Errorf("the filter or its keys are not shown:\n%s", s)
	}
	h.press("esc")
	h.inspect(func(m Model) {
		if m.overview.filter != "" || len(m.overview.order(&m)) != len(m.engine.Catalog) {
			t.Errorf("esc kept the filter %q", m.overview.filter)
		}
	})
	h.press("esc")
	h.inspect(func(m Model) {
		if m.screen != screenOverview {
			t.Errorf("esc on the Overview went to %s", screenName(m.screen))
		}
	})
}

// TestScreenKeysArrows: ←/→ and h/l switch screens like Tab; on the Fix screen n and p
// still move between steps.
func TestScreenKeysArrows(t *testing.T) {
	tl := startLab(t, "agent-cert-expired")
	h := drive(t, New(tl.options()), 80, 24)
	h.idle()
	var last screen // h on the first tab wraps to the last
	h.inspect(func(m Model) { last = m.tabs()[len(m.tabs())-1] })
	for _, s := range []struct {
		key  string
		want screen
	}{{"right", screenFinding}, {"l", screenFix}, {"left", screenFinding}, {"h", screenOverview}, {"h", last}} {
		h.press(s.key)
		h.inspect(func(m Model) {
			if m.screen != s.want {
				t.Fatalf("after %q: %s, want %s", s.key, screenName(m.screen), screenName(s.want))
			}
		})
	}
	h.press("3", "n")
	h.inspect(func(m Model) {
		if m.screen != screenFix || m.fix.walk == nil || m.fix.walk.step != 1 {
			t.Fatalf("n on Fix: screen %s", screenName(m.screen))
		}
	})
}

// TestMouseOnlyWhereNoCopy: the screens whose text is copied with the mouse leave the
// mouse to the terminal; the lists take the wheel.
func TestMouseOnlyWhereNoCopy(t *testing.T) {
	m := New(Options{})
	for sc := screen(0); sc < screenCount; sc++ {
		m.screen = sc
		want := tea.MouseModeCellMotion
		if sc == screenFinding || sc == screenFix {
			want = tea.MouseModeNone
		}
		if got := m.View().MouseMode; got != want {
			t.Errorf("%s: mouse mode %v, want %v", screenName(sc), got, want)
		}
	}
}

// TestShellLinesPasteAsOne lays out commands with quotes and escapes at several widths and
// runs both the original and the laid-out lines with a real sh: the output is the same,
// no line is wider than asked unless it is one word, and every line but the last ends in
// a backslash.
func TestShellLinesPasteAsOne(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	cmds := []string{
		`printf '[%s]\n' openssl x509 -in '/etc/nginx agent/agent.crt' -noout -subject -issuer -dates -ext subjectAltName,extendedKeyUsage`,
		`printf '[%s]\n' "a b   c" 'd "e" f' g\ h "x\"y z" end`,
		`printf '[%s]\n' /a/very/long/path/that/does/not/fit/on/any/line/of/this/width/at/all.pem short`,
	}
	for _, c := range cmds {
		want := runSh(t, sh, c)
		for _, width := range []int{20, 35, 60, 200} {
			lines := shellLines(c, width)
			for i, l := range lines {
				if i < len(lines)-1 && !strings.HasSuffix(l, " \\") {
					t.Errorf("width %d: line %q does not continue", width, l)
				}
				if ansi.StringWidth(l) > width && len(shellWords(strings.TrimSuffix(l, " \\"))) > 1 {
					t.Errorf("width %d: line %q is wider and holds several words", width, l)
				}
			}
			if got := runSh(t, sh, strings.Join(lines, "\n     ")); got != want {
				t.Errorf("width %d: laid out %q runs as\n%s\nwant\n%s", width, lines, got, want)
			}
		}
	}
}

func runSh(t *testing.T, sh, script string) string {
	t.Helper()
	out, err := exec.Command(sh, "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("sh -c %q: %v\n%s", script, err, out)
	}
	return string(out)
}

// FuzzShellWords: joining the words with single spaces and splitting again gives the same
// words, and an unquoted blank never ends up inside a word.
func FuzzShellWords(f *testing.F) {
	for _, s := range []string{`a 'b c' "d e" f\ g`, `'unterminated`, `"x\"y"`, "\t a  b\t", `\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words := shellWords(s)
		again := shellWords(strings.Join(words, " "))
		if strings.Join(again, "\x00") != strings.Join(words, "\x00") {
			t.Fatalf("%q: words %q, re-split %q", s, words, again)
		}
		for _, l := range shellLines(s, 10) {
			if strings.Contains(l, "\n") {
				t.Fatalf("line %q holds a newline", l)
			}
		}
	})
}

// TestHelpContrast: the footer's descriptions have at least WCAG AA contrast (4.5:1)
// against a black and a dark-grey background (dark terminals) and against white (light).
func TestHelpContrast(t *testing.T) {
	for _, c := range []struct {
		fg, bg color.Color
		name   string
	}{
		{helpDescDark, lipgloss.Color("#000000"), "dark on black"},
		{helpDescDark, lipgloss.Color("#1e1e1e"), "dark on #1e1e1e"},
		{helpDescLight, lipgloss.Color("#ffffff"), "light on white"},
	} {
		if r := contrast(c.fg, c.bg); r < 4.5 {
			t.Errorf("%s: contrast %.2f, want at least 4.5", c.name, r)
		}
	}
}

// contrast is the WCAG 2.1 contrast ratio of two colours.
func contrast(a, b color.Color) float64 {
	lum := func(c color.Color) float64 {
		r, g, bl, _ := c.RGBA()
		ch := func(v uint32) float64 {
			x := float64(v) / 0xffff
			if x <= 0.03928 {
				return x / 12.92
			}
			return math.Pow((x+0.055)/1.055, 2.4)
		}
		return 0.2126*ch(r) + 0.7152*ch(g) + 0.0722*ch(bl)
	}
	la, lb := lum(a), lum(b)
	return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)
}

// TestLogsMatchKeys: on Logs, n and N step through the filtered lines, wrapping, and do
// nothing without a filter.
func TestLogsMatchKeys(t *testing.T) {
	m := New(Options{})
	m.screen = screenLogs
	var lines []LogLine
	for i := range 6 {
		text := fmt.Sprintf("line %d", i)
		if i%2 == 0 {
			text += " ssl"
		}
		lines = append(lines, LogLine{Text: text})
	}
	m.logs.add(lines)
	m.logs.update(&m, keyMsg("n"))
	if m.logs.cursor != 5 {
		t.Fatalf("n without a filter moved the cursor to %d", m.logs.cursor)
	}
	m.logs.setFilter("ssl") // lines 0, 2, 4; the cursor follows the newest
	var got []int
	for _, k := range []string{"n", "n", "N", "N"} {
		m.logs.update(&m, keyMsg(k))
		got = append(got, m.logs.cursor)
	}
	if fmt.Sprint(got) != "[0 1 0 2]" {
		t.Errorf("cursor after n n N N: %v, want [0 1 0 2]", got)
	}
}

// TestUntrustedInNewRows: a command, a host fact and a typed filter holding terminal
// controls reach the screen escaped.
func TestUntrustedInNewRows(t *testing.T) {
	for _, l := range shellLines("cat '/etc/\x1b]52;c;ZXZpbA==\x07x.pem' --and more words to wrap", 20) {
		if strings.ContainsAny(l, "\x1b\x07") {
			t.Errorf("command line %q carries a control character", l)
		}
	}
	m := New(Options{NoColor: true})
	m.overview.filter, m.overview.editing = "ev\x1b[2Jil", true
	lines, _ := m.overview.lines(&m, 80)
	m.screen = screenLogs
	m.logs.filter, m.logs.editing = "ev\x1b[2Jil", true
	lines = append(lines, m.logs.lines(&m, 80, 20)...)
	for _, l := range lines {
		if strings.Contains(l, "\x1b[2J") {
			t.Errorf("line %q carries a raw escape", l)
		}
	}
}
