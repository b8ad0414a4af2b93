package tui

import (
	"context"
	"slices"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/spinner"
	tea "charm.land/bubbletea/v2"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
)

// Model is the assistant's state. It is a value: Update returns a new one. Its pages are
// pointers shared by the copies, changed only by Update (as the Logs buffer always was).
type Model struct {
	opts Options
	ctx  context.Context
	stop context.CancelFunc
	// keys, styles and help are pointers so that the Model, copied for every View and
	// handed to its pages, stays small; each is replaced whole, never changed in place,
	// except help's width and styles, which only Update sets.
	keys   *KeyMap
	styles *Styles
	g      glyphs
	help   *help.Model
	spin   spinner.Model
	dark   bool

	width, height int
	screen        screen
	back          screen // where Help returns to
	pages         [screenCount]page
	overview      *overviewPage
	fix           *fixPage
	logs          *logsPage

	engine   diagnostics.Engine
	index    map[string]int // check ID → catalog position
	findings map[string]diagnostics.Finding
	states   map[string]checkState
	facts    *diagnostics.Facts // of the last finished run
	host     *diagnostics.Facts // the latest facts, shown as they are gathered; never nil
	run      *engineRun
	gen      int
	now      time.Time // latest spinner tick, for elapsed times
	runErr   string

	selected string // finding shown on Finding and Fix

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
		opts: opts, ctx: ctx, stop: stop, dark: true,
		engine:   *opts.Engine,
		index:    map[string]int{},
		findings: map[string]diagnostics.Finding{},
		states:   map[string]checkState{},
		host:     &diagnostics.Facts{},
	}
	m.g = unicodeGlyphs
	if opts.ASCII {
		m.g = asciiGlyphs
	}
	keys := DefaultKeyMap()
	m.keys = &keys
	m.setStyles()
	h := help.New()
	m.help = &h
	m.help.Styles = m.styles.Help
	if opts.ASCII {
		m.help.ShortSeparator, m.help.Ellipsis = " | ", "~"
	}
	m.spin = spinner.New(spinner.WithSpinner(m.g.spinner), spinner.WithStyle(m.styles.Running))
	for i, ch := range m.engine.Catalog {
		m.index[ch.ID] = i
	}
	m.newPages()
	m.keys.Screen = screenKeys(len(m.tabs()))
	m.resize(80, 24)
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
		m.resize(msg.Width, msg.Height)
		m.keepVisible()
		return m, nil
	case tea.BackgroundColorMsg:
		m.dark = msg.IsDark()
		m.setStyles()
		m.help.Styles = m.styles.Help
		m.spin.Style = m.styles.Running
		return m, nil
	case initRunMsg:
		return m, m.startRun(purposeAll, nil)
	case spinner.TickMsg:
		if m.run == nil && (m.fix.walk == nil || !m.fix.walk.applying) {
			return m, nil // let the spinner stop while idle
		}
		m.now = msg.Time
		var cmd tea.Cmd
		m.spin, cmd = m.spin.Update(msg)
		return m, cmd
	case engineStartMsg, engineEventMsg, engineDoneMsg:
		return m.engineMsg(msg)
	case applyDoneMsg:
		m.applyDone(msg)
		return m, nil
	case reportDoneMsg:
		if msg.err != nil {
			m.setError("Report not written: " + msg.err.Error())
		} else {
			m.setMessage("Report written to " + msg.path)
		}
		return m, nil
	case logLinesMsg:
		m.linkFindings(msg.lines)
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
		cmd := m.key(msg)
		m.keepVisible()
		return m, cmd
	case tea.MouseWheelMsg:
		m.wheel(msg)
		m.keepVisible()
		return m, nil
	}
	return m, nil
}

// setStyles builds the styles for the terminal's background.
func (m *Model) setStyles() {
	s := newStyles(m.dark, m.opts.NoColor)
	m.styles = &s
}

// resize gives every page the body between the frame's header and footer.
func (m *Model) resize(width, height int) {
	m.width, m.height = width, height
	m.help.SetWidth(width)
	for _, p := range m.pages {
		p.setSize(width, bodyHeight(height))
	}
}

// keepVisible scrolls the current page so its cursor is on screen.
func (m *Model) keepVisible() { m.pages[m.screen].keepVisible(m) }

// wheelLines is how far one notch of the mouse wheel moves.
const wheelLines = 3

// wheel scrolls the pages that take the mouse as the arrow keys do. Terminals stop
// selecting text with the mouse while a program takes it, so the pages whose commands and
// evidence are copied with the mouse (Finding, Fix) leave it to the terminal.
func (m *Model) wheel(msg tea.MouseWheelMsg) {
	var k tea.KeyPressMsg
	switch msg.Button {
	case tea.MouseWheelUp:
		k = tea.KeyPressMsg{Code: tea.KeyUp}
	case tea.MouseWheelDown:
		k = tea.KeyPressMsg{Code: tea.KeyDown}
	default:
		return
	}
	p := m.pages[m.screen]
	if !p.mouse() {
		return
	}
	for range wheelLines {
		p.update(m, k)
	}
}

// setMessage shows a one-line note above the footer until the next one.
func (m *Model) setMessage(s string) { m.message, m.msgErr = s, false }
func (m *Model) setError(s string)   { m.message, m.msgErr = s, true }

// quit stops the run and the log follow, then ends the program.
func (m *Model) quit() tea.Cmd {
	if m.run != nil {
		m.run.cancel()
	}
	if m.stop != nil {
		m.stop()
	}
	return tea.Quit
}

// key answers a key press: the global keys first, then the current page's.
func (m *Model) key(msg tea.KeyPressMsg) tea.Cmd {
	if msg.String() == "ctrl+c" {
		m.interrupted = true
		return m.quit()
	}
	p := m.pages[m.screen]
	// A filter being typed takes every key, so typing "/expired" does not export a report.
	if p.typing() {
		return p.update(m, msg)
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
			m.pages[screenHelp].scrollTop()
		}
		return nil
	case key.Matches(msg, km.Back):
		if !m.escapeRun() {
			p.escape(m)
		}
		return nil
	case key.Matches(msg, km.NextScreen), key.Matches(msg, km.PrevScreen):
		tabs := m.tabs()
		i := slices.Index(tabs, m.screen)
		if i < 0 {
			i = slices.Index(tabs, m.back)
		}
		step := 1
		if key.Matches(msg, km.PrevScreen) {
			step = len(tabs) - 1
		}
		m.goTo(tabs[(i+step)%len(tabs)])
		return nil
	case key.Matches(msg, km.Screen):
		if tabs := m.tabs(); int(msg.Code-'1') < len(tabs) {
			m.goTo(tabs[int(msg.Code-'1')])
		}
		return nil
	case key.Matches(msg, km.Export):
		return m.exportCmd()
	}
	return p.update(m, msg)
}

// goTo switches to sc, picking a finding for the Finding and Fix screens if none is chosen.
func (m *Model) goTo(sc screen) {
	if (sc == screenFinding || sc == screenFix) && m.selected == "" {
		m.selected = m.firstProblem()
	}
	if sc == screenFix {
		m.fix.ensureWalk(m)
	}
	m.screen = sc
}

// openFinding shows finding id on the Finding screen, from its top.
func (m *Model) openFinding(id string) {
	m.selected = id
	m.pages[screenFinding].scrollTop()
	m.screen = screenFinding
}

// firstProblem is the first failing (else warning) check in display order, or "".
func (m Model) firstProblem() string {
	for _, id := range m.overview.order(&m) {
		if f, ok := m.findings[id]; ok && f.Problem() && m.states[id] == stateIdle {
			return id
		}
	}
	return ""
}
