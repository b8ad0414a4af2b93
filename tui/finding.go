package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
)

// findingKey scrolls, opens the walkthrough or re-checks this finding.
func (m Model) findingKey(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	switch {
	case key.Matches(msg, m.keys.Open):
		if f, ok := m.findings[m.selected]; ok && len(f.Fix) > 0 {
			return m.goTo(screenFix), nil
		}
		m.setMessage("This finding has no fix steps.")
		return m, nil
	case key.Matches(msg, m.keys.Recheck):
		if m.selected == "" {
			return m.startRun(purposeAll, nil)
		}
		return m.startRun(purposeFinding, []string{m.selected})
	case key.Matches(msg, m.keys.Apply):
		return m.apply()
	}
	return m.scrollKey(msg, screenFinding), nil
}

// apply asks the Applier to fix the selected finding.
func (m Model) apply() (Model, tea.Cmd) {
	if m.opts.Applier == nil {
		m.setMessage("Apply is only available in the demo lab; run the commands shown instead.")
		return m, nil
	}
	if m.selected == "" {
		return m, nil
	}
	m.setMessage("Applying the fix for " + m.selected + " in the lab" + m.g.ellipsis)
	return m, applyFix(m.ctx, m.opts.Applier, m.selected)
}

// section starts a titled block.
func (m Model) section(title string) string { return " " + m.styles.Section.Render(title) }

// findingLines renders the selected finding: status and summary, why, evidence, fix steps.
func (m Model) findingLines(w int) []string {
	id := m.selected
	if id == "" {
		if len(m.findings) == 0 {
			return []string{"", " Checks are running; findings appear here as they finish."}
		}
		return append([]string{""}, styleLines(wrapIndent("No problems found. Select any check on the Overview (1) and press Enter to see its details.", w, " ", " "), m.styles.OK.Render)...)
	}
	ch, _ := m.check(id)
	f, ok := m.findings[id]
	var out []string
	head := m.status(id) + "  " + m.styles.Bold.Render(id)
	if ch.Category != "" {
		head += m.styles.Dim.Render("  " + m.g.dot + " " + string(ch.Category))
	}
	out = append(out, " "+head)
	if ch.Title != "" {
		out = append(out, styleLines(wrapIndent("Checks that the "+ch.Title+".", w, " ", " "), m.styles.Dim.Render)...)
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
	return out
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
