package tui

import (
	"fmt"
	"slices"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
)

// walkthrough is the state of the Fix screen for one finding. The steps are kept from
// when it started: once the finding passes, its Fix is empty, but the user should still
// see what they did.
type walkthrough struct {
	id    string
	steps []diagnostics.Step
	step  int
	cmd   int // the selected command of the step, for `c`
	// verdict is the outcome of the last re-check, shown under the step.
	verdict    []string
	verdictSev diagnostics.Severity
	done       bool
	applied    string
	// plan is the step waiting for consent (the consent screen is up); applying is set
	// while it runs.
	plan     *applyPlan
	applying bool
}

// fixPage is the Fix screen: the selected finding's steps, one at a time.
type fixPage struct {
	scrolled
	walk *walkthrough
}

func newFixPage() *fixPage {
	p := &fixPage{}
	p.render = p.lines
	return p
}

func (p *fixPage) title(int) string { return "Fix" }

// mouse is off: the commands are selected with the mouse to be copied.
func (p *fixPage) mouse() bool { return false }

// typing holds every key while the consent screen is up (y or anything else answers it)
// and while a step runs.
func (p *fixPage) typing() bool { return p.walk != nil && (p.walk.plan != nil || p.walk.applying) }

// escape goes back to the finding.
func (p *fixPage) escape(m *Model) { m.screen = screenFinding }

// shortHelp implements page. On the consent screen only y and cancel work, so the
// footer names nothing else (its n/p would read as "next step", where n cancels).
func (p *fixPage) shortHelp(m *Model) []key.Binding {
	km := m.keys
	if p.walk != nil && p.walk.plan != nil {
		return []key.Binding{
			key.NewBinding(key.WithKeys("y"), key.WithHelp("y", "run")),
			key.NewBinding(key.WithKeys("n", "esc"), key.WithHelp("n/esc", "cancel")),
		}
	}
	step := km.NextStep
	step.SetHelp("n/p", "step")
	cp := km.Copy
	cp.SetHelp("c", "copy")
	cp.SetEnabled(false)
	if w := p.walk; w != nil && len(w.steps) > 0 {
		st := w.steps[w.step]
		cp.SetEnabled(len(st.Commands) > 0 || st.Diff != "")
	}
	apply := km.Apply
	apply.SetHelp("a", "apply")
	apply.SetEnabled(false)
	if w := p.walk; w != nil && len(w.steps) > 0 && m.opts.Apply != nil {
		// A step that cannot be run keeps the key, which then says why.
		apply.SetEnabled(true)
		if blockedReason(m.opts.Apply, w.steps[w.step]) != "" {
			apply.SetHelp("a", "why not run")
		}
	}
	return []key.Binding{step, cp, apply, km.Recheck, km.next()}
}

// osc52Sent says what a copy sent and what to do when nothing arrives: the terminal (or
// tmux without set-clipboard) may drop OSC 52 silently, and nothing tells us. A command's
// message fits the 80-column message line.
const osc52Sent = "Sent %d bytes by OSC 52. Empty paste? Allow OSC 52 (tmux: set-clipboard on)."

// ensureWalk starts a walkthrough of the selected finding unless one is under way.
func (p *fixPage) ensureWalk(m *Model) {
	if p.walk != nil && p.walk.id == m.selected {
		return
	}
	f, ok := m.findings[m.selected]
	if !ok {
		p.walk = nil
		return
	}
	p.walk = &walkthrough{id: f.ID, steps: f.Fix}
	p.offset = 0
}

// update moves between steps and commands, copies, applies and re-checks.
func (p *fixPage) update(m *Model, msg tea.KeyPressMsg) tea.Cmd {
	w := p.walk
	if w == nil || len(w.steps) == 0 {
		p.scrollKey(m.keys, msg)
		return m.recheckAllIf(msg)
	}
	if w.plan != nil {
		return m.confirmKey(msg)
	}
	if w.applying {
		m.setMessage("The step is running" + m.g.ellipsis)
		return nil
	}
	step := w.steps[w.step]
	switch {
	case key.Matches(msg, m.keys.NextStep), key.Matches(msg, m.keys.Open):
		if w.step < len(w.steps)-1 {
			w.step, w.cmd, w.verdict = w.step+1, 0, nil
			p.offset = 0
		}
	case key.Matches(msg, m.keys.PrevStep):
		if w.step > 0 {
			w.step, w.cmd, w.verdict = w.step-1, 0, nil
			p.offset = 0
		}
	case key.Matches(msg, m.keys.Up) && len(step.Commands) > 1:
		w.cmd = max(w.cmd-1, 0)
	case key.Matches(msg, m.keys.Down) && len(step.Commands) > 1:
		w.cmd = min(w.cmd+1, len(step.Commands)-1)
	case key.Matches(msg, m.keys.Copy):
		if len(step.Commands) == 0 {
			if step.Diff != "" {
				m.setMessage(fmt.Sprintf("Config edit: the diff. "+osc52Sent, len(step.Diff)))
				return tea.SetClipboard(step.Diff)
			}
			m.setMessage("This step has no command to copy.")
			return nil
		}
		c := step.Commands[w.cmd]
		m.setMessage(fmt.Sprintf(osc52Sent, len(c)))
		return tea.SetClipboard(c)
	case key.Matches(msg, m.keys.Apply):
		return m.apply()
	case key.Matches(msg, m.keys.Recheck):
		return m.startRun(purposeVerify, p.verifyIDs())
	default:
		p.scrollKey(m.keys, msg)
	}
	return nil
}

// verifyIDs are the checks a re-check of the current step runs: the step's own and the
// finding's, since the walkthrough ends when the finding passes.
func (p *fixPage) verifyIDs() []string {
	w := p.walk
	ids := slices.Clone(w.steps[w.step].Verify)
	if !slices.Contains(ids, w.id) {
		ids = append(ids, w.id)
	}
	return ids
}

// passed reports whether a finding counts as fixed.
func passed(f diagnostics.Finding) bool {
	return f.Severity == diagnostics.SeverityOK || f.Severity == diagnostics.SeverityInfo
}

// verified judges a step's re-check: the finding passing ends the walkthrough; the step's
// checks passing advances it; otherwise it says what is still wrong.
func (p *fixPage) verified(m *Model, r *diagnostics.Report) {
	w := p.walk
	if w == nil {
		return
	}
	byID := map[string]diagnostics.Finding{}
	for _, f := range r.Findings {
		byID[f.ID] = f
	}
	var wrong []string
	for _, id := range p.verifyIDs() {
		if f, ok := byID[id]; ok && !passed(f) && id != w.id {
			g, word := m.g.severity(f.Severity)
			wrong = append(wrong, fmt.Sprintf("%s %s %s: %s", g, word, id, f.Summary))
		}
	}
	main, ok := byID[w.id]
	switch {
	case ok && passed(main):
		w.done = true
		w.verdictSev = diagnostics.SeverityOK
		w.verdict = []string{fmt.Sprintf("%s %s passes now: %s", m.g.ok, w.id, main.Summary)}
		if len(wrong) > 0 {
			w.verdict = append(w.verdict, "Related checks still report:")
			w.verdict = append(w.verdict, wrong...)
		}
		m.setMessage("Fixed: " + w.id + " passes. Press 1 for the Overview or r there to re-check everything.")
	case len(wrong) == 0 && w.step < len(w.steps)-1:
		w.verdictSev = diagnostics.SeverityOK
		w.verdict = []string{fmt.Sprintf("%s Step %d verified. %s", m.g.ok, w.step+1, "Now step "+fmt.Sprint(w.step+2)+".")}
		w.step, w.cmd = w.step+1, 0
		p.offset = 0
		m.setMessage(fmt.Sprintf("Step %d verified.", w.step))
	default:
		w.verdictSev = diagnostics.SeverityFail
		w.verdict = []string{"Still wrong:"}
		if ok {
			g, word := m.g.severity(main.Severity)
			w.verdict = append(w.verdict, fmt.Sprintf("%s %s %s: %s", g, word, w.id, main.Summary))
		}
		w.verdict = append(w.verdict, wrong...)
		m.setMessage(fmt.Sprintf("Step %d is not done yet: %s still fails.", w.step+1, w.id))
	}
}

// lines renders the current step, with the selected command's first line as cursor.
func (p *fixPage) lines(m *Model, w int) ([]string, int) {
	wk := p.walk
	if m.selected == "" || wk == nil {
		return []string{"", " No finding selected. Pick a problem on the Overview (1) and press Enter twice."}, -1
	}
	s := m.styles
	if wk.plan != nil {
		return p.consentLines(m, w), -1
	}
	var out []string
	head := " " + s.Bold.Render("Fix "+wk.id)
	if len(wk.steps) == 0 {
		out = append(out, head, "")
		if f, ok := m.findings[wk.id]; ok && passed(f) {
			out = append(out, styleLines(wrapIndent(m.g.ok+" "+f.Summary, w, " ", "   "), s.OK.Render)...)
		} else {
			out = append(out, " This finding has no fix steps.")
		}
		return out, -1
	}
	counter := fmt.Sprintf("Step %d of %d ", wk.step+1, len(wk.steps))
	if wk.done {
		counter = m.g.ok + " fixed  " + counter
	}
	out = append(out, spread(head, s.Bold.Render(counter), w, m.g.ellipsis))
	st := wk.steps[wk.step]
	out = append(out, "")
	out = append(out, styleLines(wrapIndent(st.Title, w, " "+m.g.arrow+" ", strings.Repeat(" ", 2+len([]rune(m.g.arrow)))), s.Bold.Render)...)
	if st.Why != "" {
		out = append(out, wrapIndent(st.Why, w, "   ", "   ")...)
	}
	cursor := -1
	if len(st.Commands) > 0 {
		out = append(out, "", m.section("Run"))
		for i, c := range st.Commands {
			if i == wk.cmd && len(st.Commands) > 1 {
				cursor = len(out)
			}
			mark := "   $ "
			if i == wk.cmd && len(st.Commands) > 1 {
				mark = " " + m.g.arrow + " $ "
				if m.opts.ASCII {
					mark = "->$ "
				}
			}
			mark = pad(mark, 5)
			for j, l := range shellLines(c, w-5) {
				if j > 0 {
					mark = "     "
				}
				out = append(out, s.Command.Render(mark+l))
			}
		}
	}
	if st.Diff != "" {
		out = append(out, "", m.section("Edit "+st.File))
		for _, l := range strings.Split(strings.TrimRight(st.Diff, "\n"), "\n") {
			style := s.Dim.Render
			switch {
			case strings.HasPrefix(l, "+"):
				style = s.DiffAdd.Render
			case strings.HasPrefix(l, "-"):
				style = s.DiffDel.Render
			case strings.HasPrefix(l, "@@"):
				style = s.DiffHunk.Render
			}
			out = append(out, styleLines(wrapIndent(l, w, "   ", "    "), style)...)
		}
	}
	if len(st.Verify) > 0 {
		out = append(out, "")
		out = append(out, styleLines(wrapIndent("r re-checks: "+strings.Join(st.Verify, ", "), w, " ", "   "), s.Dim.Render)...)
	}
	if why := blockedReason(m.opts.Apply, st); why != "" && m.opts.Apply != nil {
		out = append(out, styleLines(wrapIndent("a is off for this step. "+why, w, " ", "   "), s.Dim.Render)...)
	}
	if wk.applied != "" {
		out = append(out, styleLines(wrapIndent("Applied: "+wk.applied, w, " ", "   "), s.Message.Render)...)
	}
	if wk.applying {
		out = append(out, "", " "+m.spin.View()+" applying the step and re-checking"+m.g.ellipsis)
	} else if m.run != nil && m.run.purpose == purposeVerify {
		out = append(out, "", " "+m.spin.View()+" re-checking "+strings.Join(m.run.only, ", ")+m.g.ellipsis)
	} else if len(wk.verdict) > 0 {
		out = append(out, "")
		for i, v := range wk.verdict {
			style := s.severity(wk.verdictSev).Render
			if i > 0 && wk.verdictSev == diagnostics.SeverityOK {
				style = s.Dim.Render
			}
			out = append(out, styleLines(wrapIndent(v, w, " ", "   "), style)...)
		}
	}
	if wk.step < len(wk.steps)-1 && !wk.done {
		out = append(out, "", s.Dim.Render(fmt.Sprintf(" Next: %s", wk.steps[wk.step+1].Title)))
	}
	return out, cursor
}
