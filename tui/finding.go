package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/internal/safetext"
)

// findingPage is the Finding screen: the selected finding's summary, why, evidence and
// fix steps.
type findingPage struct{ scrolled }

func newFindingPage() *findingPage {
	p := &findingPage{}
	p.render = p.lines
	return p
}

func (p *findingPage) title(width int) string {
	if width < 56 {
		return "Find"
	}
	return "Finding"
}

// mouse is off: the evidence and commands are selected with the mouse to be copied.
func (p *findingPage) mouse() bool { return false }

// shortHelp implements page.
func (p *findingPage) shortHelp(m *Model) []key.Binding {
	f, ok := m.findings[m.selected]
	return []key.Binding{m.keys.open("walk the fix", ok && len(f.Fix) > 0), m.keys.Recheck, m.keys.back("back"), m.keys.next()}
}

// update scrolls, opens the walkthrough or re-checks this finding.
func (p *findingPage) update(m *Model, msg tea.KeyPressMsg) tea.Cmd {
	switch {
	case key.Matches(msg, m.keys.Open):
		if f, ok := m.findings[m.selected]; ok && len(f.Fix) > 0 {
			m.goTo(screenFix)
			return nil
		}
		m.setMessage("This finding has no fix steps.")
		return nil
	case key.Matches(msg, m.keys.Recheck):
		if m.selected == "" {
			return m.startRun(purposeAll, nil)
		}
		return m.startRun(purposeFinding, []string{m.selected})
	case key.Matches(msg, m.keys.Apply):
		return m.apply()
	}
	p.scrollKey(m.keys, msg)
	return nil
}

// section starts a titled block.
func (m Model) section(title string) string { return " " + m.styles.Section.Render(title) }

// lines renders the selected finding: status and summary, why, evidence, fix steps.
func (p *findingPage) lines(m *Model, w int) ([]string, int) {
	id := m.selected
	if id == "" {
		if len(m.findings) == 0 {
			return []string{"", " Checks are running; findings appear here as they finish."}, -1
		}
		return append([]string{""}, styleLines(wrapIndent("No problems found. Select any check on the Overview (1) and press Enter to see its details.", w, " ", " "), m.styles.OK.Render)...), -1
	}
	ch, _ := m.check(id)
	f, ok := m.findings[id]
	var out []string
	head := m.status(id) + "  " + m.styles.Bold.Render(id)
	if ch.Category != "" {
		head += m.styles.Dim.Render("  " + m.g.dot + " " + string(ch.Category))
	}
	out = append(out, " "+head)
	if f, ok := m.findings[id]; ok && f.Subject.Kind != diagnostics.SubjectAgentLink && f.Subject.Name != "" {
		out = append(out, m.styles.Dim.Render(fit(" on "+safetext.CleanLine(f.Subject.String()), w, m.g.ellipsis)))
	}
	if ch.Title != "" {
		out = append(out, styleLines(wrapIndent(ch.Criterion(), w, " ", " "), m.styles.Dim.Render)...)
	}
	out = append(out, "")
	switch {
	case m.states[id] != stateIdle:
		out = append(out, " "+m.spin.View()+" checking"+m.g.ellipsis)
	case !ok:
		out = append(out, " Not checked yet.")
	default:
		out = append(out, styleLines(wrapIndent(f.Summary, w, " ", " "), m.styles.severity(f.Severity).Render)...)
	}
	if ch.Why != "" {
		out = append(out, "", m.section("Why"))
		out = append(out, wrapIndent(ch.Why, w, "   ", "   ")...)
	}
	if ok && len(f.Evidence) > 0 {
		out = append(out, "", m.section("Evidence"))
		out = append(out, m.evidenceLines(f.Evidence, w)...)
	}
	if ok && len(f.Fix) > 0 {
		title, hint := fmt.Sprintf("Fix (%d steps)", len(f.Fix)), "  Enter walks through them"
		if len(f.Fix) == 1 {
			title, hint = "Fix (1 step)", "  Enter walks through it"
		}
		out = append(out, "", m.section(title)+m.styles.Dim.Render(hint))
		for i, st := range f.Fix {
			num := fmt.Sprintf("   %d. ", i+1)
			out = append(out, wrapIndent(st.Title, w, num, strings.Repeat(" ", len(num)))...)
		}
	}
	return out, -1
}

// evidenceLines lists observations with their location and quoted lines.
func (m Model) evidenceLines(evs []diagnostics.Evidence, w int) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, wrapIndent(ev.Text, w, "   "+m.g.bullet+" ", "     ")...)
		if ev.Location != "" {
			out = append(out, styleLines(wrapIndent(ev.Location, w, "     at ", "        "), m.styles.Dim.Render)...)
		}
		for _, q := range ev.Quote {
			out = append(out, styleLines(wrapIndent(q, w, "     > ", "       "), m.styles.Dim.Render)...)
		}
	}
	return out
}
