package tui

import (
	"strings"
)

// helpLines lists every key, grouped, from the same KeyMap the footer and Update use.
func (m Model) helpLines(w int) []string {
	out := []string{" " + m.styles.Section.Render("Keys"), ""}
	for _, g := range m.keys.groups() {
		out = append(out, " "+m.styles.Section.Render(g.title))
		for _, b := range g.bindings {
			if !b.Enabled() {
				continue
			}
			h := b.Help()
			desc := h.Desc
			if b.Keys()[0] == m.keys.Apply.Keys()[0] && m.opts.Applier == nil {
				desc += " (not available: no demo lab)"
			}
			out = append(out, wrapIndent(desc, w, "   "+m.styles.Bold.Render(pad(h.Key, 12))+" ", strings.Repeat(" ", 16))...)
		}
		out = append(out, "")
	}
	out = append(out, wrapIndent("Status is shown as a glyph and a word, so it reads without colour: "+
		m.g.fail+" FAIL, "+m.g.warn+" WARN, "+m.g.ok+" ok, "+m.g.info+" info, "+m.g.skip+" skip.", w, " ", " ")...)
	return out
}
