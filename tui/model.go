package tui

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/spinner"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/probes"
)

// screen is one of the assistant's screens.
type screen int

const (
	screenOverview screen = iota
	screenFinding
	screenFix
	screenCerts
	screenLogs
	screenHelp
	screenCount
)

// tabs are the screens reachable with Tab and 1-5, in that order.
var tabs = []screen{screenOverview, screenFinding, screenFix, screenCerts, screenLogs}

var (
	screenNames = [screenCount]string{"Overview", "Finding", "Fix", "Certificates", "Logs", "Help"}
	shortNames  = [screenCount]string{"Ovw", "Find", "Fix", "Cert", "Logs", "Help"}
)

// checkState is where a check is in the current run.
type checkState int

const (
	stateIdle    checkState = iota // not part of a running run
	stateWaiting                   // in the run, its facts not yet being gathered
	stateRunning                   // its facts are being gathered
)

// hostFacts are the latest gathered facts, for the Overview header and the Certificates
// screen. They update as each kind is gathered.
type hostFacts struct {
	agent    *probes.AgentConfig
	files    *probes.AgentFiles
	endpoint *probes.EndpointReport
	nginx    *probes.NginxFacts
}

// Model is the assistant's state. It is a value: Update returns a new one.
type Model struct {
	opts   Options
	ctx    context.Context
	stop   context.CancelFunc
	keys   KeyMap
	styles Styles
	g      glyphs
	help   help.Model
	spin   spinner.Model
	dark   bool

	width, height int
	screen        screen
	back          screen // where Help returns to
	scroll        [screenCount]int

	engine   diagnostics.Engine
	index    map[string]int // check ID → catalog position
	findings map[string]diagnostics.Finding
	states   map[string]checkState
	facts    *diagnostics.Facts // of the last finished run
	host     hostFacts
	run      *engineRun
	gen      int
	now      time.Time // latest spinner tick, for elapsed times
	runErr   string

	cursor   string // check selected on Overview; "" follows the top row until a key moves it
	filter   string // the Overview's `/` filter, lower case
	editing  bool   // the Overview's filter is being typed
	showHost bool   // the Overview lists every host fact, not the one- or two-line summary
	selected string // finding shown on Finding and Fix
	walk     *walkthrough
	logs     *logView

	message string
	msgErr  bool

	// verdict is every check's result as of the last run that finished, in catalog order
	// (nil before one has); interrupted says the user left with Ctrl+C. Run returns both.
	verdict     []diagnostics.Finding
	interrupted bool
}

// New returns the assistant's model; Run shows it. Tests drive it directly or through
// teatest.
func New(opts Options) Model {
	if opts.Engine == nil {
		opts.Engine = &diagnostics.Engine{}
	}
	ctx, stop := context.WithCancel(context.Background())
	m := Model{
		opts: opts, ctx: ctx, stop: stop, keys: DefaultKeyMap(), dark: true,
		width: 80, height: 24,
		engine:   *opts.Engine,
		index:    map[string]int{},
		findings: map[string]diagnostics.Finding{},
		states:   map[string]checkState{},
		logs:     newLogView(logCapacity),
	}
	m.g = unicodeGlyphs
	if opts.ASCII {
		m.g = asciiGlyphs
	}
	m.styles = newStyles(m.dark, opts.NoColor)
	m.help = help.New()
	m.help.Styles = m.styles.Help
	if opts.ASCII {
		m.help.ShortSeparator, m.help.Ellipsis = " | ", "~"
	}
	m.spin = spinner.New(spinner.WithSpinner(m.g.spinner), spinner.WithStyle(m.styles.Running))
	for i, ch := range m.engine.Catalog {
		m.index[ch.ID] = i
	}
	if opts.ASCII {
		m.asciiKeyHelp()
	}
	return m
}

// asciiKeyHelp replaces arrows in key help with words.
func (m *Model) asciiKeyHelp() {
	m.keys.Up.SetHelp("up/k", "up")
	m.keys.Down.SetHelp("down/j", "down")
	m.keys.NextScreen.SetHelp("right/l", "next screen")
	m.keys.PrevScreen.SetHelp("left/h", "previous screen")
}

// Init implements tea.Model: it starts the first run and the log follow, and asks the
// terminal for its background colour.
func (m Model) Init() tea.Cmd {
	cmds := []tea.Cmd{tea.RequestBackgroundColor, m.startCmd()}
	if m.opts.Logs != nil {
		cmds = append(cmds, followLogs(m.ctx, m.opts.Logs, m.logs.ch, m.logs.errc))
	}
	return tea.Batch(cmds...)
}

// startCmd is Init's first run. Init cannot return a model, so the run's state is set up
// when its start message arrives (see startFromInit).
func (m Model) startCmd() tea.Cmd {
	return func() tea.Msg { return initRunMsg{} }
}

type initRunMsg struct{}

// Update implements tea.Model.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	m2, cmd := m.update(msg)
	return m2, cmd
}

func (m Model) update(msg tea.Msg) (Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.help.SetWidth(msg.Width)
		m.keepVisible()
		return m, nil
	case tea.BackgroundColorMsg:
		m.dark = msg.IsDark()
		m.styles = newStyles(m.dark, m.opts.NoColor)
		m.help.Styles = m.styles.Help
		m.spin.Style = m.styles.Running
		return m, nil
	case initRunMsg:
		return m.startRun(purposeAll, nil)
	case spinner.TickMsg:
		if m.run == nil {
			return m, nil // let the spinner stop while idle
		}
		m.now = msg.Time
		var cmd tea.Cmd
		m.spin, cmd = m.spin.Update(msg)
		return m, cmd
	case engineStartMsg, engineEventMsg, factMsg, engineDoneMsg:
		return m.engineMsg(msg)
	case applyDoneMsg:
		if msg.err != nil {
			m.setError("Apply failed: " + msg.err.Error())
		} else {
			m.setMessage(msg.text + " " + m.g.dash + " press r to re-check")
			if m.walk != nil && m.walk.id == msg.id {
				m.walk.applied = msg.text
			}
		}
		return m, nil
	case reportDoneMsg:
		if msg.err != nil {
			m.setError("Report not written: " + msg.err.Error())
		} else {
			m.setMessage("Report written to " + msg.path)
		}
		return m, nil
	case logLinesMsg:
		m.logs.add(msg.lines)
		if m.screen == screenLogs {
			m.keepVisible()
		}
		return m, waitLogs(m.ctx, m.logs.ch, m.logs.errc)
	case logEndMsg:
		m.logs.ended = true
		if msg.err != nil {
			m.logs.err = msg.err.Error()
		}
		return m, nil
	case tea.KeyPressMsg:
		m2, cmd := m.key(msg)
		m2.keepVisible()
		return m2, cmd
	case tea.MouseWheelMsg:
		m2 := m.wheel(msg)
		m2.keepVisible()
		return m2, nil
	}
	return m, nil
}

// wheelLines is how far one notch of the mouse wheel moves.
const wheelLines = 3

// wheel scrolls the screens that take the mouse (see mouseScreen) as the arrow keys do.
func (m Model) wheel(msg tea.MouseWheelMsg) Model {
	k := keyPress(m.keys.Down)
	switch msg.Button {
	case tea.MouseWheelUp:
		k = keyPress(m.keys.Up)
	case tea.MouseWheelDown:
	default:
		return m
	}
	if !mouseScreen(m.screen) {
		return m
	}
	for range wheelLines {
		switch m.screen {
		case screenOverview:
			m, _ = m.overviewKey(k)
		case screenLogs:
			m, _ = m.logsKey(k)
		default:
			m = m.scrollKey(k, m.screen)
		}
	}
	return m
}

// keyPress is the key press of b's first key, for the mouse wheel.
func keyPress(b key.Binding) tea.KeyPressMsg {
	if b.Keys()[0] == "up" {
		return tea.KeyPressMsg{Code: tea.KeyUp}
	}
	return tea.KeyPressMsg{Code: tea.KeyDown}
}

// mouseScreen reports whether sc takes mouse events. Terminals stop selecting text with the
// mouse while a program takes them, so the Finding and Fix screens, whose commands and
// evidence are copied with the mouse, leave the mouse to the terminal.
func mouseScreen(sc screen) bool {
	return sc != screenFinding && sc != screenFix
}

// setMessage shows a one-line note above the footer until the next one.
func (m *Model) setMessage(s string) { m.message, m.msgErr = s, false }
func (m *Model) setError(s string)   { m.message, m.msgErr = s, true }

// quit stops the run and the log follow, then ends the program.
func (m Model) quit() (Model, tea.Cmd) {
	if m.run != nil {
		m.run.cancel()
	}
	if m.stop != nil {
		m.stop()
	}
	return m, tea.Quit
}

// key handles a key press.
func (m Model) key(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	if msg.String() == "ctrl+c" {
		m.interrupted = true
		return m.quit()
	}
	// A filter being typed takes every key, so typing "/expired" does not export a report.
	if m.screen == screenLogs && m.logs.editing {
		return m.logFilterKey(msg), nil
	}
	if m.screen == screenOverview && m.editing {
		m.filter, m.editing = editFilter(m.filter, msg)
		m.cursor = ""
		return m, nil
	}
	km := m.keys
	switch {
	case key.Matches(msg, km.Quit):
		return m.quit()
	case key.Matches(msg, km.Help):
		if m.screen == screenHelp {
			m.screen = m.back
		} else {
			m.back, m.screen = m.screen, screenHelp
			m.scroll[screenHelp] = 0
		}
		return m, nil
	case key.Matches(msg, km.Back):
		return m.escape()
	case key.Matches(msg, km.NextScreen), key.Matches(msg, km.PrevScreen):
		i := slices.Index(tabs, m.screen)
		if i < 0 {
			i = slices.Index(tabs, m.back)
		}
		step := 1
		if key.Matches(msg, km.PrevScreen) {
			step = len(tabs) - 1
		}
		return m.goTo(tabs[(i+step)%len(tabs)]), nil
	case key.Matches(msg, km.Screen):
		return m.goTo(tabs[int(msg.Code-'1')]), nil
	case key.Matches(msg, km.Export):
		return m, m.exportCmd()
	}
	switch m.screen {
	case screenOverview:
		return m.overviewKey(msg)
	case screenFinding:
		return m.findingKey(msg)
	case screenFix:
		return m.fixKey(msg)
	case screenCerts:
		return m.scrollKey(msg, screenCerts), m.recheckAllIf(msg)
	case screenLogs:
		return m.logsKey(msg)
	case screenHelp:
		return m.scrollKey(msg, screenHelp), nil
	}
	return m, nil
}

// escape cancels a running check first; otherwise it goes back one screen.
func (m Model) escape() (Model, tea.Cmd) {
	switch {
	case m.run != nil && !m.run.cancelled:
		m.run.cancelled = true
		m.run.cancel()
		m.setMessage("Cancelling the running checks" + m.g.ellipsis)
	case m.screen == screenHelp:
		m.screen = m.back
	case m.screen == screenLogs && m.logs.filter != "":
		m.logs.setFilter("")
	case m.screen == screenOverview && m.filter != "":
		m.filter, m.cursor = "", ""
	case m.screen == screenFix:
		m.screen = screenFinding
	case m.screen != screenOverview:
		m.screen = screenOverview
	}
	return m, nil
}

// goTo switches to sc, picking a finding for the Finding and Fix screens if none is chosen.
func (m Model) goTo(sc screen) Model {
	if (sc == screenFinding || sc == screenFix) && m.selected == "" {
		m.selected = m.firstProblem()
	}
	if sc == screenFix {
		m.ensureWalk()
	}
	m.screen = sc
	return m
}

// firstProblem is the first failing (else warning) check in display order, or "".
func (m Model) firstProblem() string {
	for _, id := range m.overviewOrder() {
		if f, ok := m.findings[id]; ok && f.Problem() && m.states[id] == stateIdle {
			return id
		}
	}
	return ""
}

// scrollKey moves a scroll-only screen.
func (m Model) scrollKey(msg tea.KeyPressMsg, sc screen) Model {
	page := max(m.bodyHeight()-2, 1)
	switch {
	case key.Matches(msg, m.keys.Up):
		m.scroll[sc]--
	case key.Matches(msg, m.keys.Down):
		m.scroll[sc]++
	case key.Matches(msg, m.keys.PageUp):
		m.scroll[sc] -= page
	case key.Matches(msg, m.keys.PageDown):
		m.scroll[sc] += page
	case key.Matches(msg, m.keys.Top):
		m.scroll[sc] = 0
	case key.Matches(msg, m.keys.Bottom):
		m.scroll[sc] = 1 << 30
	}
	return m
}

// recheckAllIf re-runs the whole catalog when msg is the re-check key.
func (m *Model) recheckAllIf(msg tea.KeyPressMsg) tea.Cmd {
	if !key.Matches(msg, m.keys.Recheck) {
		return nil
	}
	m2, cmd := m.startRun(purposeAll, nil)
	*m = m2
	return cmd
}

// startRun starts the engine over only (nil: the whole catalog).
func (m Model) startRun(p purpose, only []string) (Model, tea.Cmd) {
	if m.run != nil {
		m.setMessage("Checks are still running; Esc cancels them.")
		return m, nil
	}
	if m.engine.Gatherer == nil {
		m.setError("No gatherer configured; nothing to check.")
		return m, nil
	}
	m.gen++
	ctx, cancel := context.WithCancel(m.ctx)
	run := &engineRun{gen: m.gen, ch: make(chan tea.Msg, 16), cancel: cancel, purpose: p, only: only, finished: map[string]bool{}}
	m.run = run
	m.runErr = ""
	for _, ch := range m.engine.Catalog {
		if only == nil || slices.Contains(only, ch.ID) {
			m.states[ch.ID] = stateWaiting
		}
	}
	var prev *diagnostics.Facts
	if only != nil {
		prev = m.facts
	}
	if p == purposeAll {
		m.setMessage("")
	}
	return m, tea.Batch(runEngine(m.ctx, ctx, m.engine, only, prev, run.gen, run.ch), m.spin.Tick)
}

// engineMsg applies a message of the running engine.
func (m Model) engineMsg(msg tea.Msg) (Model, tea.Cmd) {
	run := m.run
	gen := -1
	switch msg := msg.(type) {
	case engineStartMsg:
		gen = msg.gen
	case engineEventMsg:
		gen = msg.gen
	case factMsg:
		gen = msg.gen
	case engineDoneMsg:
		gen = msg.gen
	}
	if run == nil || gen != run.gen {
		return m, nil
	}
	switch msg := msg.(type) {
	case engineStartMsg:
		run.started, m.now = msg.at, msg.at
	case engineEventMsg:
		m.engineEvent(msg.ev)
	case factMsg:
		switch msg.kind {
		case diagnostics.FactAgentConfig:
			m.host.agent = msg.agent
		case diagnostics.FactAgentFiles:
			m.host.files = msg.files
		case diagnostics.FactEndpoint:
			m.host.endpoint = msg.endpoint
		}
		if msg.nginx != nil { // the agent-config gatherer may read NGINX first (role detection)
			m.host.nginx = msg.nginx
		}
	case engineDoneMsg:
		return m.runDone(msg)
	}
	return m, waitEngine(run.ch)
}

// engineEvent marks checks running while their facts are gathered and records findings.
func (m *Model) engineEvent(ev diagnostics.Event) {
	switch ev.Type {
	case diagnostics.EventGathering:
		for _, ch := range m.engine.Catalog {
			if m.states[ch.ID] == stateWaiting && (slices.Contains(ch.Needs, ev.Fact) || slices.Contains(ch.Wants, ev.Fact)) {
				m.states[ch.ID] = stateRunning
			}
		}
		switch ev.Fact { // the fact is being gathered afresh; stale values would mislead
		case diagnostics.FactAgentConfig:
			if m.run.only == nil {
				m.host.agent = nil
			}
		case diagnostics.FactEndpoint:
			if m.run.only == nil {
				m.host.endpoint = nil
			}
		}
	case diagnostics.EventFinding:
		if m.run.cancelled {
			ev.Finding = cancelledFinding(ev.Finding)
		} else {
			m.run.finished[ev.Finding.ID] = true
		}
		m.findings[ev.Finding.ID] = ev.Finding
		m.states[ev.Finding.ID] = stateIdle
	}
}

// runDone takes in a finished run's report.
func (m Model) runDone(msg engineDoneMsg) (Model, tea.Cmd) {
	run := m.run
	m.run = nil
	for id, st := range m.states {
		if st != stateIdle {
			m.states[id] = stateIdle
		}
	}
	if msg.err != nil {
		m.runErr = msg.err.Error()
		m.setError(m.runErr)
		return m, nil
	}
	r := msg.report
	for _, f := range r.Findings {
		if run.cancelled && !run.finished[f.ID] {
			f = cancelledFinding(f)
		}
		m.findings[f.ID] = f
	}
	m.verdict = m.latestFindings()
	if r.Facts != nil {
		m.facts = r.Facts
		m.host = hostFacts{agent: r.Facts.Agent, files: r.Facts.Files, endpoint: r.Facts.Endpoint, nginx: r.Facts.Nginx}
	}
	switch {
	case run.cancelled:
		m.setMessage("Cancelled; checks that did not finish are marked skipped.")
	case run.purpose == purposeVerify:
		m.verified(r)
	case run.purpose == purposeFinding:
		if f, ok := m.findings[m.selected]; ok {
			m.setMessage(fmt.Sprintf("Re-checked %s: %s", f.ID, statusWord(f.Severity)))
		}
	default:
		n := m.counts()
		m.setMessage(fmt.Sprintf("Checked %s: %d failed, %s, %d passed, %d skipped.",
			diagnostics.Plural(len(r.Findings), "check"), n[diagnostics.SeverityFail], diagnostics.Plural(n[diagnostics.SeverityWarn], "warning"),
			n[diagnostics.SeverityOK]+n[diagnostics.SeverityInfo], n[diagnostics.SeveritySkip]))
	}
	return m, nil
}

// latestFindings is the latest result of every check, in catalog order.
func (m Model) latestFindings() []diagnostics.Finding {
	out := make([]diagnostics.Finding, 0, len(m.findings))
	for _, f := range m.findings {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b diagnostics.Finding) int { return m.index[a.ID] - m.index[b.ID] })
	return out
}

// result is how the assistant ended, for Run.
func (m Model) result() Result {
	r := Result{Interrupted: m.interrupted}
	if m.verdict != nil {
		r.Verdict = &diagnostics.Report{Findings: m.verdict}
	}
	return r
}

// cancelledFinding replaces the result of a check that finished after Esc: its facts were
// cut short, so its verdict would blame the cancellation on the host.
func cancelledFinding(f diagnostics.Finding) diagnostics.Finding {
	return diagnostics.Finding{ID: f.ID, Category: f.Category, Title: f.Title,
		Severity: diagnostics.SeveritySkip, Summary: "skipped: cancelled before it finished"}
}

// statusWord names a severity for messages.
func statusWord(s diagnostics.Severity) string {
	switch s {
	case diagnostics.SeverityFail:
		return "still failing"
	case diagnostics.SeverityWarn:
		return "warning"
	case diagnostics.SeveritySkip:
		return "skipped"
	}
	return "passes"
}

// counts tallies the latest findings by severity.
func (m Model) counts() map[diagnostics.Severity]int {
	n := map[diagnostics.Severity]int{}
	for _, f := range m.findings {
		n[f.Severity]++
	}
	return n
}

// running counts checks in the current run that have not finished.
func (m Model) running() int {
	n := 0
	for _, st := range m.states {
		if st != stateIdle {
			n++
		}
	}
	return n
}

// check returns the catalog entry for id.
func (m Model) check(id string) (diagnostics.Check, bool) {
	i, ok := m.index[id]
	if !ok {
		return diagnostics.Check{}, false
	}
	return m.engine.Catalog[i], true
}

// elapsed is how long the current run has taken, for "probing… 4s".
func (m Model) elapsed() time.Duration {
	if m.run == nil || m.run.started.IsZero() || m.now.Before(m.run.started) {
		return 0
	}
	return m.now.Sub(m.run.started).Truncate(time.Second)
}

// bodyHeight is the number of lines between the header and the footer.
func (m Model) bodyHeight() int { return max(m.height-4, 1) }

// keepVisible clamps the current screen's scroll so its cursor line is on screen.
func (m *Model) keepVisible() {
	if m.screen == screenLogs {
		m.logs.keepVisible(m.logsBodyHeight())
		return
	}
	lines, cursor := m.screenLines(m.width)
	m.scroll[m.screen], _, _ = window(len(lines), cursor, m.scroll[m.screen], m.bodyHeight())
}

// window picks the lines a body of h rows shows out of n, starting near off and keeping
// cursor (when >= 0) on screen. While lines remain below, the last row is the "more lines"
// marker, so the cursor is kept above it. It returns the first and end line and whether the
// marker is shown.
func window(n, cursor, off, h int) (start, end int, more bool) {
	if n <= h {
		return 0, n, false
	}
	if h <= 1 { // no room for the marker
		if cursor >= 0 {
			return cursor, cursor + 1, false
		}
		off = clamp(off, 0, n-1)
		return off, off + 1, false
	}
	off = clamp(off, 0, n-h)
	if cursor >= 0 {
		if cursor < off {
			off = cursor
		}
		if off+h < n && cursor >= off+h-1 {
			off = min(cursor-h+2, n-h)
		}
	}
	if off+h >= n {
		return off, n, false
	}
	return off, off + h - 1, true
}

// screenLines renders the current screen's body as whole lines of at most width cells,
// with the line index of its cursor (-1 when it has none).
func (m Model) screenLines(width int) ([]string, int) {
	switch m.screen {
	case screenOverview:
		return m.overviewLines(width)
	case screenFinding:
		return m.findingLines(width), -1
	case screenFix:
		return m.fixLines(width)
	case screenCerts:
		return m.certLines(width), -1
	case screenHelp:
		return m.helpLines(width), -1
	}
	return nil, -1
}

// minWidth and minHeight are the smallest terminal the screens are laid out for.
const minWidth, minHeight = 40, 10

// View implements tea.Model.
func (m Model) View() tea.View {
	v := tea.NewView(m.frame())
	v.AltScreen = true
	if mouseScreen(m.screen) {
		v.MouseMode = tea.MouseModeCellMotion // the wheel scrolls
	}
	v.WindowTitle = "mtls-doctor"
	return v
}

// frame renders the whole screen: header, tabs, body, message line and footer, each line
// cut to the width and the whole padded to the height, so nothing ever overflows.
func (m Model) frame() string {
	w, h := m.width, m.height
	if w < minWidth || h < minHeight {
		msg := fmt.Sprintf("Terminal too small: %dx%d (need %dx%d). q quits.", w, h, minWidth, minHeight)
		lines := wrap(msg, max(w, 1))
		return strings.Join(lines[:min(len(lines), max(h, 1))], "\n")
	}
	out := make([]string, 0, h)
	out = append(out, m.headerLine(w), m.tabsLine(w))
	bh := m.bodyHeight()
	var body []string
	if m.screen == screenLogs {
		body = m.logsLines(w, bh)
	} else {
		lines, cursor := m.screenLines(w)
		start, end, more := window(len(lines), cursor, m.scroll[m.screen], bh)
		body = lines[start:end]
		if more {
			body = append(slices.Clone(body), m.styles.Dim.Render(fmt.Sprintf(" %s %s", m.g.down, diagnostics.Plural(len(lines)-end, "more line"))))
		}
	}
	for _, l := range body {
		out = append(out, fit(l, w, m.g.ellipsis))
	}
	for len(out) < h-2 {
		out = append(out, "")
	}
	out = append(out, m.messageLine(w), m.footer(w))
	return strings.Join(out, "\n")
}

// footer is the screen's own keys, then the global ones (? help, q quit), which are never
// cut: the screen's keys give way first, from the right.
func (m Model) footer(w int) string {
	h := m.help
	h.SetWidth(0) // bubbles' own cut lets the last item overflow when no ellipsis fits
	global := h.ShortHelpView(m.keys.ShortHelp())
	sep := h.Styles.ShortSeparator.Render(h.ShortSeparator)
	room := w - ansi.StringWidth(global) - ansi.StringWidth(sep)
	var local []key.Binding
	for _, b := range m.keys.forScreen(m.screen, m.screenKeys()) {
		if b.Enabled() {
			local = append(local, b)
		}
	}
	for n := len(local); n > 0; n-- {
		left := h.ShortHelpView(local[:n])
		if n < len(local) {
			left += " " + h.Styles.Ellipsis.Render(h.Ellipsis)
		}
		if ansi.StringWidth(left) <= room {
			return left + sep + global
		}
	}
	return fit(global, w, "")
}

// screenKeys says which of the current screen's keys apply now.
func (m Model) screenKeys() screenKeys {
	k := screenKeys{canApply: m.opts.Applier != nil}
	switch m.screen {
	case screenOverview:
		k.canOpen = m.cursorID() != ""
		k.filtering = m.filter != ""
	case screenFinding:
		f, ok := m.findings[m.selected]
		k.canOpen = ok && len(f.Fix) > 0
	case screenFix:
		if w := m.walk; w != nil && len(w.steps) > 0 {
			st := w.steps[w.step]
			k.canCopy = len(st.Commands) > 0 || st.Diff != ""
		}
	case screenLogs:
		k.canOpen = m.logs.visible() > 0
		k.filtering = m.logs.filter != ""
	}
	return k
}

// headerLine is the title on the left and the overall status on the right.
func (m Model) headerLine(w int) string {
	title := "mtls-doctor"
	if m.opts.Title != "" {
		title += " " + m.g.dot + " " + m.opts.Title
	}
	var right string
	switch {
	case m.run != nil:
		done := len(m.findings)
		right = m.spin.View() + " " + m.styles.Running.Render(fmt.Sprintf("checking %ds", int(m.elapsed().Seconds())))
		if m.run.cancelled {
			right = m.styles.Running.Render("cancelling" + m.g.ellipsis)
		}
		_ = done
	case len(m.findings) > 0:
		n := m.counts()
		var parts []string
		for _, sev := range []diagnostics.Severity{diagnostics.SeverityFail, diagnostics.SeverityWarn} {
			if n[sev] > 0 {
				g, word := m.g.severity(sev)
				parts = append(parts, m.styles.severity(sev).Render(fmt.Sprintf("%s %d %s", g, n[sev], word)))
			}
		}
		if len(parts) == 0 {
			parts = append(parts, m.styles.OK.Render(m.g.ok+" all checks pass"))
		}
		right = strings.Join(parts, "  ")
	}
	return spread(" "+m.styles.Title.Render(title), right+" ", w, m.g.ellipsis)
}

// tabsLine lists the screens with the current one highlighted.
func (m Model) tabsLine(w int) string {
	var b strings.Builder
	b.WriteString(" ")
	for i, sc := range tabs {
		name := screenNames[sc]
		switch {
		case w < 56:
			name = shortNames[sc]
		case w < 72 && sc == screenCerts:
			name = "Certs"
		}
		label := fmt.Sprintf(" %d %s ", i+1, name)
		if sc == m.screen || (m.screen == screenHelp && sc == m.back) {
			b.WriteString(m.styles.TabActive.Render(label))
		} else {
			b.WriteString(m.styles.Tab.Render(label))
		}
	}
	if m.screen == screenHelp {
		b.WriteString(m.styles.TabActive.Render(" ? Help "))
	}
	return fit(b.String(), w, "")
}

// messageLine shows the last note, or what is running.
func (m Model) messageLine(w int) string {
	if m.message != "" {
		st := m.styles.Message
		if m.msgErr {
			st = m.styles.Error
		}
		return st.Render(fit(" "+m.message, w, m.g.ellipsis))
	}
	if m.run != nil {
		return m.styles.Running.Render(fit(fmt.Sprintf(" %d checks running", m.running()), w, m.g.ellipsis))
	}
	return ""
}
