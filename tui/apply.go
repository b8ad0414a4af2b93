package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/internal/playbook"
)

// This file is the Fix screen's `a`: it runs exactly the step on screen, after showing
// what will run and which files are backed up and asking (y/n), through internal/playbook
// (backups, nginx -t before any reload, rollback when a command, nginx -t or the re-check
// goes wrong), then re-checks everything and moves on to the next failing finding.

// ApplyOptions let `a` run the step shown. Without them `a` is off: steps are copied (c).
type ApplyOptions struct {
	// Env is where the commands run: working directory, PATH prefix, filled placeholders.
	Env playbook.Env
	// JournalRoot is where the backups go; `mtls-doctor undo` restores from it.
	JournalRoot string
	// NginxTest tests the judged NGINX configuration before a reload ("" is `nginx -t`).
	NginxTest string
	// Host is the machine the assistant runs on; a step for the other host is only copied.
	// "" runs steps for either (the demo lab is both).
	Host diagnostics.Host
	// Confine, when set, refuses a step that changes files outside this directory (the
	// demo lab's).
	Confine string
	// Where names the place the steps change, for the consent screen ("this host", "the
	// demo lab").
	Where string
}

// applyPlan is a step waiting for the user's consent: what will run and what is backed up.
type applyPlan struct {
	step     diagnostics.Step
	finding  string
	commands []string
	files    []string
}

// applyDoneMsg is what applying a step did; report is the re-check's (nil when the step
// did not get that far or was rolled back).
type applyDoneMsg struct {
	finding string
	step    int
	out     playbook.Outcome
	err     error
	report  *diagnostics.Report
}

// blockedReason says why the step shown cannot be applied here, "" when it can.
func blockedReason(opts *ApplyOptions, st diagnostics.Step) string {
	switch {
	case opts == nil:
		return "Apply is off here; copy the command (c) and run it yourself."
	case st.Manual != "":
		return "Not applied: " + st.Manual + " Copy it (c)."
	case len(st.Commands) == 0:
		return "This step has no command to run."
	case st.Host != "" && opts.Host != "" && st.Host != opts.Host:
		return fmt.Sprintf("Not applied: this step runs %s, not here. Copy it (c) and run it there.", st.Host.Place())
	}
	if miss := playbook.Unfilled(st, opts.Env); len(miss) > 0 {
		return "Not applied: it needs " + strings.Join(miss, ", ") + ", which only you know. Copy it (c) and fill it in."
	}
	cmds, err := playbook.Commands(st, opts.Env)
	if err != nil {
		return "Not applied: " + err.Error() + ". Copy it (c) and fill it in."
	}
	for _, c := range cmds {
		if p := playbook.Interactive(c); p != "" {
			return "Not applied: " + p + " waits for a person at a terminal. Copy it (c) and run it yourself."
		}
	}
	a := playbook.Applier{Env: opts.Env, Confine: opts.Confine}
	if _, err := a.Check(st); err != nil {
		return "Not applied: " + err.Error() + "."
	}
	return ""
}

// apply asks for consent to run the step on screen (from the Finding screen: its first
// step, on the Fix screen).
func (m *Model) apply() tea.Cmd {
	if m.selected == "" {
		return nil
	}
	if m.screen != screenFix {
		m.goTo(screenFix)
	}
	w := m.fix.walk
	if w == nil || len(w.steps) == 0 {
		m.setMessage("This finding has no fix steps.")
		return nil
	}
	if m.run != nil || w.applying {
		m.setMessage("Checks are still running; wait for them or press Esc.")
		return nil
	}
	st := w.steps[w.step]
	if why := blockedReason(m.opts.Apply, st); why != "" {
		m.setMessage(why)
		return nil
	}
	cmds, _ := playbook.Commands(st, m.opts.Apply.Env)
	a := m.applier()
	w.plan = &applyPlan{step: st, finding: w.id, commands: cmds, files: a.Files(st, cmds)}
	m.fix.offset = 0
	m.setMessage("y runs the commands shown, n or esc cancels.")
	return nil
}

func (m *Model) applier() *playbook.Applier {
	o := m.opts.Apply
	return &playbook.Applier{Env: o.Env, JournalRoot: o.JournalRoot, NginxTest: o.NginxTest, Confine: o.Confine}
}

// confirmKey answers the consent screen: y runs, anything else cancels.
func (m *Model) confirmKey(msg tea.KeyPressMsg) tea.Cmd {
	w := m.fix.walk
	plan := w.plan
	w.plan = nil
	if msg.String() != "y" && msg.String() != "Y" {
		m.setMessage("Cancelled; nothing ran.")
		return nil
	}
	w.applying, w.verdict = true, nil
	m.setMessage("Applying step " + fmt.Sprint(w.step+1) + m.g.ellipsis)
	a := m.applier()
	e := m.engine
	e.Gatherer = recoveringGatherer{inner: e.Gatherer}
	before := playbook.VerdictOf(&diagnostics.Report{Findings: m.latestFindings()})
	ctx, step := m.ctx, w.step
	return tea.Batch(func() tea.Msg {
		var report *diagnostics.Report
		recheck := func(ctx context.Context) (playbook.Verdict, error) {
			report = e.Run(ctx, nil, nil, nil)
			return playbook.VerdictOf(report), ctx.Err()
		}
		out, err := a.Apply(ctx, plan.step, plan.finding, before, recheck)
		if err != nil {
			report = nil
		}
		return applyDoneMsg{finding: plan.finding, step: step, out: out, err: err, report: report}
	}, m.spin.Tick)
}

// applyDone takes in what applying a step did: the re-check's findings, and the verdict
// under the step. When the finding passes the walkthrough moves on to the next failing one.
func (m *Model) applyDone(msg applyDoneMsg) {
	p := m.fix
	w := p.walk
	if w != nil && w.id == msg.finding {
		w.applying = false
	}
	if msg.report != nil {
		for _, f := range msg.report.Findings {
			m.findings[f.ID] = f
		}
		m.verdict = m.latestFindings()
		if msg.report.Facts != nil {
			m.facts, m.host = msg.report.Facts, msg.report.Facts
		}
	}
	if w == nil || w.id != msg.finding {
		return
	}
	journal := ""
	if msg.out.Journal != nil {
		journal = msg.out.Journal.Dir
	}
	switch {
	case msg.err != nil && msg.out.RolledBack:
		w.verdictSev = diagnostics.SeverityFail
		w.verdict = []string{"Rolled back: " + msg.err.Error(), "Every file the step changed is as it was (backups in " + journal + ")."}
		w.verdict = append(w.verdict, failedOutput(msg.out)...)
		m.setMessage(fmt.Sprintf("Step %d did not work and was rolled back.", msg.step+1))
		return
	case msg.err != nil && errors.Is(msg.err, playbook.ErrUnfilled), msg.err != nil && errors.Is(msg.err, playbook.ErrManual):
		w.verdictSev = diagnostics.SeverityFail
		w.verdict = []string{"Not applied: " + msg.err.Error()}
		m.setMessage("Not applied; copy the step (c).")
		return
	case msg.err != nil:
		w.verdictSev = diagnostics.SeverityFail
		w.verdict = []string{"Not applied: " + msg.err.Error()}
		if msg.out.Journal != nil {
			w.verdict = append(w.verdict, "Some files may have changed; `mtls-doctor undo` restores the backups in "+journal+".")
		}
		m.setError("Apply failed: " + msg.err.Error())
		return
	}
	w.applied = fmt.Sprintf("step %d ran (%d commands); backups in %s, `mtls-doctor undo` restores them", msg.step+1, len(msg.out.Results), journal)
	main, ok := m.findings[w.id]
	switch {
	case ok && passed(main) && (msg.out.Verified || len(msg.out.New) > 0):
		next := m.nextFailing(w.id)
		word := "verified"
		if !msg.out.Verified {
			// The finding passes, but the re-check found failures that were not there
			// before (checks the fault kept from running): not "verified".
			word = "passes, but " + strings.Join(msg.out.New, ", ") + " now failing"
		}
		if next == "" && !msg.out.Verified {
			w.done, w.verdictSev = true, diagnostics.SeverityWarn
			w.verdict = []string{fmt.Sprintf("Step %d ran: %s passes, but %s now failing; see the Overview (1).", msg.step+1, w.id, strings.Join(msg.out.New, ", "))}
			m.setMessage(w.id + " passes; new failures: " + strings.Join(msg.out.New, ", ") + ".")
			return
		}
		if next == "" {
			w.done, w.verdictSev = true, diagnostics.SeverityOK
			w.verdict = []string{fmt.Sprintf("%s Step %d verified: %s passes and no failure is left.", m.g.ok, msg.step+1, w.id)}
			m.setMessage("Verified: no failure left.")
			return
		}
		m.setMessage(fmt.Sprintf("%s: %s. Next failing: %s.", w.id, word, next))
		m.selected = next
		p.walk = nil
		p.ensureWalk(m)
		p.walk.verdictSev = diagnostics.SeverityOK
		p.walk.verdict = []string{fmt.Sprintf("%s %s passes now; this is the next failing finding.", m.g.ok, msg.finding)}
		if !msg.out.Verified {
			p.walk.verdictSev = diagnostics.SeverityWarn
			p.walk.verdict = []string{fmt.Sprintf("%s passes now, but this check fails and did not before (the fault kept it from running).", msg.finding)}
		}
	case msg.out.Verified && w.step < len(w.steps)-1:
		w.verdictSev = diagnostics.SeverityOK
		w.verdict = []string{fmt.Sprintf("%s Step %d verified. Now step %d.", m.g.ok, w.step+1, w.step+2)}
		w.step, w.cmd = w.step+1, 0
		p.offset = 0
		m.setMessage(fmt.Sprintf("Step %d verified.", w.step))
	default:
		w.verdictSev = diagnostics.SeverityFail
		w.verdict = []string{fmt.Sprintf("Step %d ran; still wrong:", msg.step+1)}
		for _, id := range append(append([]string{}, w.steps[msg.step].Verify...), w.id) {
			if f, ok := m.findings[id]; ok && !passed(f) && !containsPrefix(w.verdict, id) {
				g, word := m.g.severity(f.Severity)
				w.verdict = append(w.verdict, fmt.Sprintf("%s %s %s: %s", g, word, id, f.Summary))
			}
		}
		m.setMessage(fmt.Sprintf("Step %d ran but %s still fails.", msg.step+1, w.id))
	}
}

// nextFailing is the first failing finding (in the Overview's order) other than id.
func (m *Model) nextFailing(id string) string {
	for _, o := range m.overview.order(m) {
		if f, ok := m.findings[o]; ok && o != id && f.Severity == diagnostics.SeverityFail && len(f.Fix) > 0 {
			return o
		}
	}
	return ""
}

func containsPrefix(lines []string, id string) bool {
	for _, l := range lines {
		if strings.Contains(l, " "+id+": ") {
			return true
		}
	}
	return false
}

// failedOutput is the last lines of the output of the command that failed.
func failedOutput(out playbook.Outcome) []string {
	for i := len(out.Results) - 1; i >= 0; i-- {
		r := out.Results[i]
		if r.Err == nil {
			continue
		}
		res := []string{"$ " + r.Command}
		lines := strings.Split(strings.TrimSpace(r.Output), "\n")
		for _, l := range lines[max(0, len(lines)-3):] {
			if l != "" {
				res = append(res, "  "+l)
			}
		}
		return res
	}
	return nil
}

// consentLines is the consent screen: the commands that will run, the files backed up, the
// diff, and what happens when something goes wrong.
func (p *fixPage) consentLines(m *Model, w int) []string {
	plan := p.walk.plan
	s := m.styles
	where := "this host"
	if o := m.opts.Apply; o != nil && o.Where != "" {
		where = o.Where
	}
	out := []string{" " + s.Bold.Render(fmt.Sprintf("Apply step %d of %d on %s?", p.walk.step+1, len(p.walk.steps), where)), ""}
	out = append(out, styleLines(wrapIndent(plan.step.Title, w, " "+m.g.arrow+" ", "   "), s.Bold.Render)...)
	out = append(out, "", m.section("These commands run now, in order"))
	for _, c := range plan.commands {
		for j, l := range shellLines(c, w-5) {
			mark := "   $ "
			if j > 0 {
				mark = "     "
			}
			out = append(out, s.Command.Render(mark+l))
		}
	}
	if plan.step.Diff != "" {
		out = append(out, "", m.section("Edit "+plan.step.File))
		for _, l := range strings.Split(strings.TrimRight(plan.step.Diff, "\n"), "\n") {
			out = append(out, wrapIndent(l, w, "   ", "    ")...)
		}
	}
	out = append(out, "", m.section("Backed up first"))
	if len(plan.files) == 0 {
		out = append(out, "   (no file the step names)")
	}
	for _, f := range plan.files {
		out = append(out, wrapIndent(f, w, "   ", "     ")...)
	}
	out = append(out, "")
	out = append(out, styleLines(wrapIndent("nginx -t runs before any reload. A failing command, a failing nginx -t or a re-check worse than now restores every file; `mtls-doctor undo` restores them later.", w, " ", " "), s.Dim.Render)...)
	out = append(out, "", " "+s.Bold.Render("y")+" run   "+s.Bold.Render("n")+"/"+s.Bold.Render("esc")+" cancel")
	return out
}
