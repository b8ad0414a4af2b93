package tui

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/internal/safetext"
	"github.com/mtls-doctor/mtls-doctor/logparse"
)

// logCapacity bounds the lines kept for the Logs screen; older lines are dropped.
const logCapacity = 10000

// logView is the Logs screen's state: a ring buffer of lines, the filter and the
// matching lines' sequence numbers, the cursor and whether the view is paused.
// It is shared by copies of the model (a pointer), and only Update changes it.
type logView struct {
	ring  []LogLine
	first uint64 // sequence number of ring's oldest line
	n     uint64 // lines ever added; the next line gets sequence n

	filter  string
	editing bool     // the filter is being typed
	match   []uint64 // sequence numbers of lines matching filter, ascending

	cursor int    // index into match
	top    int    // first visible index into match
	follow bool   // cursor sticks to the newest line
	paused bool   // the view stays where it is while lines keep arriving
	limit  uint64 // when paused, lines from this sequence on are not shown
	// pick puts the following cursor on the most relevant of the newest lines instead
	// (relevance), until a key moves it: the newest line is often the probe's own.
	pick bool

	sources []string // the files lines came from, in order of appearance

	ch    chan LogLine
	errc  chan error
	ended bool
	err   string
}

func newLogView(capacity int) *logView {
	return &logView{ring: make([]LogLine, 0, capacity), follow: true, pick: true, ch: make(chan LogLine, 256), errc: make(chan error, 1)}
}

// line returns the line with sequence seq; it must still be in the ring.
func (l *logView) line(seq uint64) *LogLine {
	return &l.ring[seq%uint64(cap(l.ring))]
}

// add appends lines, dropping the oldest beyond capacity.
func (l *logView) add(lines []LogLine) {
	c := uint64(cap(l.ring))
	for _, ln := range lines {
		if ln.Source != "" && (len(l.sources) == 0 || l.sources[len(l.sources)-1] != ln.Source) && !slices.Contains(l.sources, ln.Source) && len(l.sources) < 16 {
			l.sources = append(l.sources, ln.Source)
		}
		seq := l.n
		if uint64(len(l.ring)) < c {
			l.ring = append(l.ring, ln)
		} else {
			l.ring[seq%c] = ln
			l.first++
		}
		l.n++
		if l.matches(&ln) {
			l.match = append(l.match, seq)
		}
	}
	// Forget matches that fell out of the ring; keep the cursor on the same line.
	drop := 0
	for drop < len(l.match) && l.match[drop] < l.first {
		drop++
	}
	if drop > 0 {
		l.match = append(l.match[:0], l.match[drop:]...)
		l.cursor = max(l.cursor-drop, 0)
		l.top = max(l.top-drop, 0)
	}
	if !l.paused {
		l.limit = l.n
	}
	if l.follow && !l.paused {
		l.cursor = max(l.visible()-1, 0)
	}
}

// visible is the number of matching lines shown (those before limit).
func (l *logView) visible() int {
	n := len(l.match)
	for n > 0 && l.match[n-1] >= l.limit {
		n--
	}
	return n
}

// matches reports whether ln passes the filter (case-insensitive, over text, source,
// level, event and finding).
func (l *logView) matches(ln *LogLine) bool {
	if l.filter == "" {
		return true
	}
	for _, s := range []string{ln.Text, ln.Source, ln.Event} {
		if containsFold(s, l.filter) {
			return true
		}
	}
	return false
}

// containsFold is a case-insensitive strings.Contains for a lower-case needle. It
// compares ASCII bytes directly and falls back to EqualFold around non-ASCII, so a filter
// over the whole buffer stays fast and allocates nothing.
func containsFold(s, lowerNeedle string) bool {
	n := len(lowerNeedle)
	if n == 0 {
		return true
	}
	first := lowerNeedle[0]
	for i := 0; i+n <= len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != first && c < utf8.RuneSelf && first < utf8.RuneSelf {
			continue
		}
		if strings.EqualFold(s[i:i+n], lowerNeedle) {
			return true
		}
	}
	return false
}

// setFilter rebuilds the matching lines for a new filter.
func (l *logView) setFilter(f string) {
	l.filter = strings.ToLower(f)
	l.match = l.match[:0]
	for seq := l.first; seq < l.n; seq++ {
		if l.matches(l.line(seq)) {
			l.match = append(l.match, seq)
		}
	}
	l.follow, l.pick = true, true
	l.cursor = max(l.visible()-1, 0)
}

// keepVisible scrolls so the cursor is on screen; while picking, it shows the newest h
// lines with the most relevant of them selected.
func (l *logView) keepVisible(h int) {
	n := l.visible()
	if l.pick && l.follow && !l.paused {
		l.top = max(n-h, 0)
		best := -1
		for i := n - 1; i >= l.top; i-- {
			if r := relevance(l.line(l.match[i])); r > best {
				best, l.cursor = r, i
			}
		}
	}
	l.cursor = clamp(l.cursor, 0, n-1)
	if l.cursor < l.top {
		l.top = l.cursor
	}
	if l.cursor >= l.top+h {
		l.top = l.cursor - h + 1
	}
	l.top = clamp(l.top, 0, n-h)
}

// relevance ranks a line for the first selection: an mTLS event above another line,
// and lines about mtls-doctor's own probe, noise and the follow's own notices last.
func relevance(ln *LogLine) int {
	switch {
	case ln.OwnProbe || ln.Noise != "" || ln.Notice != "":
		return 0
	case ln.Event != "":
		return 2
	}
	return 1
}

// Log follow messages.
type (
	logLinesMsg struct{ lines []LogLine }
	logEndMsg   struct{ err error }
)

// followLogs runs src in a goroutine; its lines arrive through waitLogs.
func followLogs(ctx context.Context, src LogSource, ch chan LogLine, errc chan error) tea.Cmd {
	return func() tea.Msg {
		go func() {
			defer func() {
				if p := recover(); p != nil {
					errc <- fmt.Errorf("log follow stopped: %v", p)
				}
				close(ch)
			}()
			if err := src.Follow(ctx, ch); err != nil && ctx.Err() == nil {
				errc <- err
			}
		}()
		return waitLogs(ctx, ch, errc)()
	}
}

// linkFindings points each classified line at the finding its event backs: the check of
// the catalog that claims the event's kind (a caller's own Finding is kept).
func (m *Model) linkFindings(lines []LogLine) {
	for i := range lines {
		if lines[i].Event == "" || lines[i].Finding != "" {
			continue
		}
		if ch, ok := m.engine.Catalog.Claiming(logparse.Kind(lines[i].Event)); ok {
			lines[i].Finding = ch.ID
		}
	}
}

// maxLogBatch bounds how many lines one message carries, so a burst cannot stall a frame.
const maxLogBatch = 2000

// waitLogs waits for the next line, then takes whatever else is ready, so a busy log
// costs one message per batch rather than one per line.
func waitLogs(ctx context.Context, ch chan LogLine, errc chan error) tea.Cmd {
	return func() tea.Msg {
		var first LogLine
		var ok bool
		select {
		case first, ok = <-ch:
		case <-ctx.Done():
			return nil
		}
		if !ok {
			select {
			case err := <-errc:
				return logEndMsg{err: err}
			default:
				return logEndMsg{}
			}
		}
		lines := []LogLine{first}
		for len(lines) < maxLogBatch {
			select {
			case ln, ok := <-ch:
				if !ok {
					return logLinesMsg{lines: lines}
				}
				lines = append(lines, ln)
			default:
				return logLinesMsg{lines: lines}
			}
		}
		return logLinesMsg{lines: lines}
	}
}

// logDetail is the number of lines showing the selected line in full.
const logDetail = 3

// logsPage is the Logs screen: a live follow of the NGINX and agent logs, drawn from its
// own window over the buffer (only the visible lines are formatted).
type logsPage struct {
	sized
	*logView
}

func newLogsPage(capacity int) *logsPage { return &logsPage{logView: newLogView(capacity)} }

func (p *logsPage) title(int) string { return "Logs" }

func (p *logsPage) typing() bool { return p.editing }

// escape clears the filter, else goes back to the Overview.
func (p *logsPage) escape(m *Model) {
	if p.filter != "" {
		p.setFilter("")
		return
	}
	m.screen = screenOverview
}

// scrollTop moves to the oldest line, as g does.
func (p *logsPage) scrollTop() { p.cursor, p.follow, p.pick = 0, false, false }

// shortHelp implements page.
func (p *logsPage) shortHelp(m *Model) []key.Binding {
	pause := m.keys.Pause
	pause.SetHelp("p", "pause")
	return []key.Binding{m.keys.Filter, m.keys.matches(p.filter != ""), pause, m.keys.open("finding", p.visible() > 0)}
}

// lineRows is the number of log lines shown: the body less the two heading lines, the
// rule and the detail of the selected line.
func (p *logsPage) lineRows() int { return max(p.height-3-logDetail, 1) }

// keepVisible implements page.
func (p *logsPage) keepVisible(*Model) { p.logView.keepVisible(p.lineRows()) }

// view implements page.
func (p *logsPage) view(m *Model) []string { return p.lines(m, p.width, p.height) }

// update moves through the lines, pauses, filters and jumps to a finding; while the
// filter is typed, it takes every key.
func (p *logsPage) update(m *Model, msg tea.KeyPressMsg) tea.Cmd {
	l := p.logView
	if l.editing {
		f, editing := editFilter(l.filter, msg)
		if f != l.filter {
			l.setFilter(f)
		}
		l.editing = editing
		return nil
	}
	n := l.visible()
	h := p.lineRows()
	switch {
	case key.Matches(msg, m.keys.Up):
		l.cursor--
	case key.Matches(msg, m.keys.Down):
		l.cursor++
	case key.Matches(msg, m.keys.PageUp):
		l.cursor -= h
	case key.Matches(msg, m.keys.PageDown):
		l.cursor += h
	case key.Matches(msg, m.keys.Top):
		l.cursor = 0
	case key.Matches(msg, m.keys.Bottom):
		l.cursor = n - 1
	case key.Matches(msg, m.keys.NextMatch), key.Matches(msg, m.keys.PrevMatch):
		if n == 0 || l.filter == "" {
			return nil
		}
		// Every shown line matches the filter: n and N step through them, wrapping.
		step := 1
		if key.Matches(msg, m.keys.PrevMatch) {
			step = n - 1
		}
		l.cursor = (clamp(l.cursor, 0, n-1) + step) % n
	case key.Matches(msg, m.keys.Pause):
		l.paused = !l.paused
		if !l.paused {
			l.limit = l.n
			l.follow = true
			l.cursor = l.visible() - 1
		}
		return nil
	case key.Matches(msg, m.keys.Filter):
		l.editing = true
		return nil
	case key.Matches(msg, m.keys.Open):
		if n == 0 {
			return nil
		}
		ln := l.line(l.match[clamp(l.cursor, 0, n-1)])
		_, runs := m.index[ln.Finding]
		switch {
		case ln.Finding == "" && ln.Event != "":
			m.setMessage("This line is a " + ln.Event + " event; no check that runs here judges it.")
			return nil
		case ln.Finding == "":
			m.setMessage("This line is not linked to a finding.")
			return nil
		case !runs:
			m.setMessage("This line is a " + ln.Event + " event; its check, " + ln.Finding + ", does not run here.")
			return nil
		}
		m.openFinding(ln.Finding)
		return nil
	case key.Matches(msg, m.keys.Recheck):
		return m.recheckAllIf(msg)
	default:
		return nil
	}
	l.cursor = clamp(l.cursor, 0, n-1)
	l.follow, l.pick = l.cursor >= n-1, false
	return nil
}

// maxFilter bounds a typed filter, in runes.
const maxFilter = 200

// editFilter applies a key to a `/` filter being typed, the same on every list screen:
// typed text narrows the list as it is typed, Enter keeps the filter, Esc drops it. It
// returns the filter, lower case, and whether typing goes on.
func editFilter(f string, msg tea.KeyPressMsg) (string, bool) {
	switch msg.String() {
	case "enter":
		return f, false
	case "esc":
		return "", false
	case "backspace":
		_, size := utf8.DecodeLastRuneInString(f)
		return f[:len(f)-size], true
	}
	if msg.Text != "" && utf8.RuneCountInString(f) < maxFilter {
		f += strings.ToLower(msg.Text)
	}
	return f, true
}

// logsLines renders exactly h lines: heading, the visible window and the selected line
// in full. Only the window is formatted, so the cost does not grow with the buffer.
func (p *logsPage) lines(m *Model, w, h int) []string {
	l := p.logView
	s := m.styles
	var out []string
	state := "following"
	switch {
	case m.opts.Logs == nil:
		state = "no log source"
	case l.paused:
		state = fmt.Sprintf("paused (%d new lines)", l.n-l.limit)
	case l.ended:
		state = "ended"
	}
	shown := l.visible()
	var names []string
	for _, src := range l.sources {
		names = append(names, filepath.Base(src))
	}
	head := " " + s.Section.Render("Logs")
	if len(names) > 0 {
		head += "  " + strings.Join(names, ", ")
	}
	head += fmt.Sprintf("  %s %s %s", state, m.g.dot, diagnostics.Plural(shown, "line"))
	if l.first > 0 {
		head += fmt.Sprintf(" (oldest %d dropped)", l.first)
	}
	out = append(out, fit(head, w, m.g.ellipsis))
	switch {
	case l.editing:
		out = append(out, fit(" /"+safetext.CleanLine(l.filter)+m.g.cursor, w, m.g.ellipsis))
	case l.filter != "":
		out = append(out, fit(s.Dim.Render(" filter: "+safetext.CleanLine(l.filter)+"   (n/N next/previous, / change, esc clear)"), w, m.g.ellipsis))
	case l.err != "":
		out = append(out, fit(s.Error.Render(" "+l.err), w, m.g.ellipsis))
	default:
		out = append(out, "")
	}
	lh := max(h-3-logDetail, 1)
	if m.opts.Logs == nil && shown == 0 {
		out = append(out, styleLines(wrapIndent("No logs are followed here. The NGINX error log and the agent log show up once they are found.", w, " ", " "), s.Dim.Render)...)
	}
	top := clamp(l.top, 0, shown-lh)
	cursor := clamp(l.cursor, 0, shown-1)
	if cursor < top || cursor >= top+lh {
		top = clamp(cursor-lh+1, 0, shown-lh)
	}
	for i := top; i < min(top+lh, shown); i++ {
		out = append(out, m.logRow(l.line(l.match[i]), w, i == cursor))
	}
	for len(out) < h-1-logDetail {
		out = append(out, "")
	}
	out = out[:h-1-logDetail]
	// The selected line in full, wrapped, under a rule.
	out = append(out, s.Dim.Render(strings.Repeat(m.g.rule, w)))
	var detail []string
	if shown > 0 {
		ln := l.line(l.match[cursor])
		detail = wrapIndent(ln.Text, w, " ", " ")
		if len(detail) > logDetail-1 && ln.Finding != "" || len(detail) > logDetail {
			n := logDetail
			if ln.Finding != "" {
				n--
			}
			detail = detail[:n]
			detail[n-1] = fit(detail[n-1]+" "+m.g.ellipsis, w, m.g.ellipsis)
		}
		if ln.Finding != "" {
			detail = append([]string{s.Bold.Render(fit(" "+m.g.arrow+" "+ln.Finding+" (Enter opens it)", w, m.g.ellipsis))}, detail...)
		}
	}
	for len(detail) < logDetail {
		detail = append(detail, "")
	}
	return append(out, detail[:logDetail]...)
}

// ownProbeLabel leads a line about mtls-doctor's own probe request, which is not an agent's.
const ownProbeLabel = "(mtls-doctor's probe) "

// logRow is one log line: time, level and text, a classified event marked and styled.
func (m *Model) logRow(ln *LogLine, w int, selected bool) string {
	ts := "        "
	if !ln.Time.IsZero() {
		ts = ln.Time.Format("15:04:05")
	}
	level := pad(ln.Level, 6)
	if len(level) > 6 {
		level = level[:6]
	}
	mark := "  "
	if ln.Event != "" {
		mark = m.g.arrow + " "
		if m.opts.ASCII {
			mark = "> "
		}
	}
	text := ln.Message
	if text == "" {
		text = ln.Text
	}
	text = strings.ReplaceAll(text, "\t", " ")
	if ln.OwnProbe {
		text = ownProbeLabel + text
	}
	// The pointer marks the selected line without colour, as on the Overview.
	lead := "   "
	if selected {
		lead = " " + m.g.pointer + " "
	}
	plain := fit(fmt.Sprintf("%s%s %s %s%s", lead, ts, level, mark, text), w-1, m.g.ellipsis)
	if selected {
		return m.styles.Selected.Render(pad(plain, w))
	}
	switch {
	case ln.OwnProbe, ln.Noise != "":
		return m.styles.Dim.Render(plain)
	case ln.Event != "":
		return m.styles.Warn.Render(plain)
	case ln.Level == "error" || ln.Level == "crit" || ln.Level == "alert" || ln.Level == "emerg":
		return m.styles.Fail.Render(plain)
	case ln.Level == "debug":
		return m.styles.Dim.Render(plain)
	}
	return plain
}
