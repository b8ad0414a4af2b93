package tui

import (
	"fmt"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
)

// screen names one of the assistant's screens: an index into Model.pages.
type screen int

// The screens, in the order of the tabs (Tab and 1-5); Help is not a tab.
const (
	screenOverview screen = iota
	screenFinding
	screenFix
	screenCerts
	screenLogs
	screenHelp
	screenCount
)

// page is one screen of the assistant, after soft-serve's common.Component: it owns its
// state (cursor, filter, scroll position), its size, how it answers keys, how it draws its
// body and which keys its footer offers. The Model owns what pages share (the findings,
// the facts, the run, the selected finding) and hands itself to them.
//
// Adding a screen is its own file with a type implementing page, a screen constant and a
// line in newPages.
type page interface {
	// title is the page's name in the tabs line at a terminal width cells wide.
	title(width int) string
	// tab reports whether Tab and the digits reach the page.
	tab() bool
	// setSize gives the page the size of its body.
	setSize(width, height int)
	// update answers a key press the Model's global keys left to the page.
	update(m *Model, msg tea.KeyPressMsg) tea.Cmd
	// typing reports whether the page takes every key (a filter being typed).
	typing() bool
	// escape answers Esc: it clears what the page has open (a filter) or goes back.
	escape(m *Model)
	// view draws the body: at most its height of lines, each at most its width.
	view(m *Model) []string
	// keepVisible scrolls so the page's cursor is on screen.
	keepVisible(m *Model)
	// shortHelp is the page's keys for the footer, the ones that do not apply now disabled.
	shortHelp(m *Model) []key.Binding
	// mouse reports whether the page takes the mouse wheel.
	mouse() bool
	// scrollTop scrolls back to the top.
	scrollTop()
}

// newPages registers the screens. The Model keeps typed handles to the pages other pages
// act on (the Overview's order, the Fix walkthrough, the Logs buffer).
func (m *Model) newPages() {
	m.overview = newOverviewPage()
	m.fix = newFixPage()
	m.logs = newLogsPage(logCapacity)
	m.pages = [screenCount]page{
		screenOverview: m.overview,
		screenFinding:  newFindingPage(),
		screenFix:      m.fix,
		screenCerts:    newCertsPage(),
		screenLogs:     m.logs,
		screenHelp:     newHelpPage(),
	}
}

// tabs are the screens reachable with Tab and the digits, in order.
func (m Model) tabs() []screen {
	var out []screen
	for sc, p := range m.pages {
		if p.tab() {
			out = append(out, screen(sc))
		}
	}
	return out
}

// sized is the body size every page keeps, and what most pages answer alike: they are
// tabs, take the mouse, do not capture keys, and go back to the Overview on Esc.
type sized struct{ width, height int }

func (s *sized) setSize(width, height int) { s.width, s.height = width, height }
func (s *sized) tab() bool                 { return true }
func (s *sized) mouse() bool               { return true }
func (s *sized) typing() bool              { return false }
func (s *sized) escape(m *Model)           { m.screen = screenOverview }

// page is how far a page key moves: a body less two lines of context.
func (s *sized) page() int { return max(s.height-2, 1) }

// scrolled is a page drawn as whole lines that the frame windows: render gives the lines
// at a width and the line of the cursor (-1: none), offset is the first line shown.
type scrolled struct {
	sized
	offset int
	render func(m *Model, width int) ([]string, int)
}

// view windows the rendered lines, with a "more lines" marker while lines remain below.
func (s *scrolled) view(m *Model) []string {
	lines, cursor := s.render(m, s.width)
	start, end, more := window(len(lines), cursor, s.offset, s.height)
	body := lines[start:end]
	if more {
		body = append(body[:len(body):len(body)], m.styles.Dim.Render(fmt.Sprintf(" %s %s", m.g.down, diagnostics.Plural(len(lines)-end, "more line"))))
	}
	return body
}

// keepVisible clamps the offset so the cursor line is on screen.
func (s *scrolled) keepVisible(m *Model) {
	lines, cursor := s.render(m, s.width)
	s.offset, _, _ = window(len(lines), cursor, s.offset, s.height)
}

func (s *scrolled) scrollTop() { s.offset = 0 }

// scrollKey moves a page without a cursor; it reports whether msg was a moving key.
func (s *scrolled) scrollKey(km *KeyMap, msg tea.KeyPressMsg) bool {
	switch {
	case key.Matches(msg, km.Up):
		s.offset--
	case key.Matches(msg, km.Down):
		s.offset++
	case key.Matches(msg, km.PageUp):
		s.offset -= s.page()
	case key.Matches(msg, km.PageDown):
		s.offset += s.page()
	case key.Matches(msg, km.Top):
		s.offset = 0
	case key.Matches(msg, km.Bottom):
		s.offset = 1 << 30
	default:
		return false
	}
	return true
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
