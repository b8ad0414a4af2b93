package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
)

// This file draws the frame around the current page: the header (title and verdict), the
// tabs, the message line and the footer of keys.

// minWidth and minHeight are the smallest terminal the screens are laid out for.
const minWidth, minHeight = 40, 10

// bodyHeight is the number of lines between the header and the footer.
func bodyHeight(height int) int { return max(height-4, 1) }

// View implements tea.Model.
func (m Model) View() tea.View {
	v := tea.NewView(m.frame())
	v.AltScreen = true
	if m.pages[m.screen].mouse() {
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
	for _, l := range m.pages[m.screen].view(&m) {
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
	h := *m.help
	h.SetWidth(0) // bubbles' own cut lets the last item overflow when no ellipsis fits
	global := h.ShortHelpView(m.keys.ShortHelp())
	sep := h.Styles.ShortSeparator.Render(h.ShortSeparator)
	room := w - ansi.StringWidth(global) - ansi.StringWidth(sep)
	var local []key.Binding
	for _, b := range m.pages[m.screen].shortHelp(&m) {
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

// headerLine is the title on the left and the overall status on the right.
func (m Model) headerLine(w int) string {
	title := "mtls-doctor"
	if m.opts.Title != "" {
		title += " " + m.g.dot + " " + m.opts.Title
	}
	var right string
	switch {
	case m.run != nil && m.run.cancelled:
		right = m.styles.Running.Render("cancelling" + m.g.ellipsis)
	case m.run != nil:
		right = m.spin.View() + " " + m.styles.Running.Render(fmt.Sprintf("checking %ds", int(m.elapsed().Seconds())))
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
	for i, sc := range m.tabs() {
		label := fmt.Sprintf(" %d %s ", i+1, m.pages[sc].title(w))
		if sc == m.screen || (m.screen == screenHelp && sc == m.back) {
			b.WriteString(m.styles.TabActive.Render(label))
		} else {
			b.WriteString(m.styles.Tab.Render(label))
		}
	}
	if !m.pages[m.screen].tab() {
		b.WriteString(m.styles.TabActive.Render(" ? " + m.pages[m.screen].title(w) + " "))
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
