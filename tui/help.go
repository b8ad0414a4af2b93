package tui

import (
	"slices"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// helpColumn is the width of one column of the Help screen: two fit in 80 columns.
const helpColumn = 39

// helpPage is the Help screen, opened with ? over any page: every key, by topic.
type helpPage struct{ scrolled }

func newHelpPage() *helpPage {
	p := &helpPage{}
	p.render = p.lines
	return p
}

func (p *helpPage) title(int) string { return "Help" }

// tab is false: ? opens Help over the page it returns to.
func (p *helpPage) tab() bool { return false }

// escape returns to the page Help was opened over.
func (p *helpPage) escape(m *Model) { m.screen = m.back }

// shortHelp implements page.
func (p *helpPage) shortHelp(m *Model) []key.Binding {
	return []key.Binding{m.keys.move("scroll"), m.keys.back("close")}
}

// update scrolls.
func (p *helpPage) update(m *Model, msg tea.KeyPressMsg) tea.Cmd {
	p.scrollKey(m.keys, msg)
	return nil
}

// lines lists every key, grouped in columns, from the same KeyMap the footer and Update
// use, then the legend of the status glyphs.
func (p *helpPage) lines(m *Model, w int) ([]string, int) {
	colW := min(helpColumn, max(w-1, 20))
	if w < 2*helpColumn+1 && w >= 2*28+1 {
		colW = (w - 1) / 2 // two narrower columns at 60 wide
	}
	cols := max((w-1)/colW, 1)
	var blocks [][]string
	for _, g := range m.keys.groups() {
		b := []string{m.styles.Section.Render(g.title)}
		for _, kb := range g.bindings {
			if line, ok := m.helpEntry(kb, colW); ok {
				b = append(b, line)
			}
		}
		if len(blocks) < len(m.keys.groups())-1 {
			b = append(b, "")
		}
		blocks = append(blocks, b)
	}
	columns := balance(blocks, cols)
	var out []string
	for row := 0; ; row++ {
		var line strings.Builder
		any := false
		for _, c := range columns {
			cell := ""
			if row < len(c) {
				cell, any = c[row], true
			}
			line.WriteString(pad(fit(cell, colW-1, m.g.ellipsis), colW))
		}
		if !any {
			break
		}
		out = append(out, " "+strings.TrimRight(line.String(), " "))
	}
	return append(out, wrapIndent("Status reads without colour: "+
		m.g.fail+" FAIL, "+m.g.warn+" WARN, "+m.g.ok+" ok, "+m.g.info+" info, "+m.g.skip+" skip.", w, " ", " ")...), -1
}

// helpEntry is one key and what it does, in a column of width w; false for keys that are
// switched off.
func (m *Model) helpEntry(kb key.Binding, w int) (string, bool) {
	if !kb.Enabled() {
		return "", false
	}
	h := kb.Help()
	desc := h.Desc
	if kb.Keys()[0] == m.keys.Apply.Keys()[0] && m.opts.Apply == nil {
		desc = "apply (off here)"
	}
	keyW := min(10, w/3)
	return " " + m.styles.Bold.Render(pad(h.Key, keyW)) + " " + fit(desc, max(w-keyW-3, 1), m.g.ellipsis), true
}

// balance splits blocks, in order, into at most cols columns so that the tallest column is
// as short as it can be: the Help screen then fits 80x24 without scrolling.
func balance(blocks [][]string, cols int) [][]string {
	if cols <= 1 || len(blocks) <= 1 {
		return [][]string{slices.Concat(blocks...)}
	}
	var best [][]string
	bestH := -1
	for k := 1; k < len(blocks); k++ {
		first := slices.Concat(blocks[:k]...)
		rest := balance(blocks[k:], cols-1)
		h := len(first)
		for _, c := range rest {
			h = max(h, len(c))
		}
		if bestH < 0 || h < bestH {
			best, bestH = append([][]string{first}, rest...), h
		}
	}
	return best
}
