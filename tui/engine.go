package tui

import (
	"context"
	"fmt"
	"slices"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
)

// This file runs the engine for the assistant: a run's lifecycle (start, events as checks
// finish, the report, cancellation with Esc) and the results the pages read.

// purpose says why a run was started, which decides what happens when it ends.
type purpose int

const (
	purposeAll     purpose = iota // the whole catalog (start-up, r on Overview)
	purposeFinding                // one finding's check (r on Finding)
	purposeVerify                 // a fix step's verifying checks (r on Fix)
)

// engineRun is the run in progress. Its goroutine writes to ch, which the model reads one
// message at a time with waitEngine, re-arming after each.
type engineRun struct {
	gen       int
	ch        chan tea.Msg
	cancel    context.CancelFunc
	purpose   purpose
	only      []string
	started   time.Time
	cancelled bool
	// finished are the checks whose results arrived before the run was cancelled; later
	// results were judged on probes cut short, so they are shown as skipped.
	finished map[string]bool
}

// Messages from a run; gen tells runs apart so a late message of an old run is dropped.
type (
	engineStartMsg struct {
		gen int
		at  time.Time
	}
	engineEventMsg struct {
		gen int
		ev  diagnostics.Event
	}
	engineDoneMsg struct {
		gen    int
		report *diagnostics.Report
		err    error
	}
)

// recoveringGatherer turns a panicking probe into its kind's error.
type recoveringGatherer struct{ inner diagnostics.Gatherer }

// Gather implements diagnostics.Gatherer. A panicking probe becomes the kind's error: the
// engine gathers on goroutines of its own, where a panic would end the process with the
// terminal still in raw mode.
func (g recoveringGatherer) Gather(ctx context.Context, kind diagnostics.FactKind, f *diagnostics.Facts) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error while gathering: %v (please report this)", p)
		}
	}()
	return g.inner.Gather(ctx, kind, f)
}

// runEngine starts e in a goroutine and returns the run's first message. appCtx is the
// program's lifetime: once it ends nobody reads ch, so sends give up; runCtx is the run's
// own context, cancelled by Esc, which the engine and its probes honour.
func runEngine(appCtx, runCtx context.Context, e diagnostics.Engine, only []string, prev *diagnostics.Facts,
	gen int, ch chan tea.Msg) tea.Cmd {
	return func() tea.Msg {
		send := func(msg tea.Msg) {
			select {
			case ch <- msg:
			case <-appCtx.Done():
			}
		}
		go func() {
			defer close(ch)
			defer func() {
				// A panicking gatherer must not take the terminal down with it.
				if p := recover(); p != nil {
					send(engineDoneMsg{gen: gen, err: fmt.Errorf("internal error while checking: %v (please report this)", p)})
				}
			}()
			send(engineStartMsg{gen: gen, at: time.Now()})
			e.Gatherer = recoveringGatherer{inner: e.Gatherer}
			r := e.Run(runCtx, only, prev, func(ev diagnostics.Event) { send(engineEventMsg{gen: gen, ev: ev}) })
			send(engineDoneMsg{gen: gen, report: r})
		}()
		return waitEngine(ch)()
	}
}

// waitEngine reads the next message of a run; nil once the run's channel is closed.
func waitEngine(ch chan tea.Msg) tea.Cmd {
	return func() tea.Msg {
		msg, ok := <-ch
		if !ok {
			return nil
		}
		return msg
	}
}

// checkState is where a check is in the current run.
type checkState int

const (
	stateIdle    checkState = iota // not part of a running run
	stateWaiting                   // in the run, its facts not yet being gathered
	stateRunning                   // its facts are being gathered
)

// recheckAllIf re-runs the whole catalog when msg is the re-check key.
func (m *Model) recheckAllIf(msg tea.KeyPressMsg) tea.Cmd {
	if !key.Matches(msg, m.keys.Recheck) {
		return nil
	}
	return m.startRun(purposeAll, nil)
}

// startRun starts the engine over only (nil: the whole catalog).
func (m *Model) startRun(p purpose, only []string) tea.Cmd {
	if m.run != nil {
		m.setMessage("Checks are still running; Esc cancels them.")
		return nil
	}
	if w := m.fix.walk; w != nil && w.applying {
		m.setMessage("A fix step is running; it re-checks everything when it is done.")
		return nil
	}
	if m.engine.Gatherer == nil {
		m.setError("No gatherer configured; nothing to check.")
		return nil
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
	return tea.Batch(runEngine(m.ctx, ctx, m.engine, only, prev, run.gen, run.ch), m.spin.Tick)
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
	case engineDoneMsg:
		return m.runDone(msg)
	}
	return m, waitEngine(run.ch)
}

// engineEvent marks checks running while their facts are gathered, shows the facts of a
// whole run as they arrive and records findings.
func (m *Model) engineEvent(ev diagnostics.Event) {
	switch ev.Type {
	case diagnostics.EventGathering:
		for _, ch := range m.engine.Catalog {
			if m.states[ch.ID] == stateWaiting && (slices.Contains(ch.Needs, ev.Fact) || slices.Contains(ch.Wants, ev.Fact)) {
				m.states[ch.ID] = stateRunning
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
	// A re-check of a few checks keeps showing the last run's facts until it is done;
	// a whole run shows what it has (kinds being gathered afresh are gone: stale values
	// would mislead).
	if ev.Facts != nil && m.run.only == nil {
		m.host = ev.Facts
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
		m.facts, m.host = r.Facts, r.Facts
	}
	switch {
	case run.cancelled:
		m.setMessage("Cancelled; checks that did not finish are marked skipped.")
	case run.purpose == purposeVerify:
		m.fix.verified(&m, r)
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

// escapeRun cancels a running run on Esc; false when none is running.
func (m *Model) escapeRun() bool {
	if m.run == nil || m.run.cancelled {
		return false
	}
	m.run.cancelled = true
	m.run.cancel()
	m.setMessage("Cancelling the running checks" + m.g.ellipsis)
	return true
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

// thresholds are the expiry thresholds of the last run.
func (m Model) thresholds() diagnostics.Thresholds {
	if m.facts != nil && m.facts.Thresholds != (diagnostics.Thresholds{}) {
		return m.facts.Thresholds
	}
	if m.engine.Thresholds != (diagnostics.Thresholds{}) {
		return m.engine.Thresholds
	}
	return diagnostics.DefaultThresholds()
}

// clock is the instant certificates are judged at: the last run's.
func (m Model) clock() time.Time {
	if m.facts != nil && !m.facts.Now.IsZero() {
		return m.facts.Now
	}
	if m.engine.Now != nil {
		return m.engine.Now()
	}
	return time.Time{}
}
