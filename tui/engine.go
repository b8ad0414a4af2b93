package tui

import (
	"context"
	"fmt"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/probes"
)

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
	// factMsg carries a fact kind as soon as it is gathered, so host facts show while the
	// slower probes still run. The pointers are never written again after gathering.
	factMsg struct {
		gen      int
		kind     diagnostics.FactKind
		agent    *probes.AgentConfig
		files    *probes.AgentFiles
		endpoint *probes.EndpointReport
		nginx    *probes.NginxFacts
	}
	engineDoneMsg struct {
		gen    int
		report *diagnostics.Report
		err    error
	}
)

// observingGatherer passes each gathered fact to send before the engine moves on.
type observingGatherer struct {
	inner diagnostics.Gatherer
	send  func(tea.Msg)
	gen   int
}

// Gather implements diagnostics.Gatherer. A panicking probe becomes the kind's error: the
// engine gathers on goroutines of its own, where a panic would end the process with the
// terminal still in raw mode.
func (g observingGatherer) Gather(ctx context.Context, kind diagnostics.FactKind, f *diagnostics.Facts) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error while gathering: %v (please report this)", p)
		}
	}()
	err = g.inner.Gather(ctx, kind, f)
	g.send(factMsg{gen: g.gen, kind: kind, agent: f.Agent, files: f.Files, endpoint: f.Endpoint, nginx: f.Nginx})
	return err
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
			e.Gatherer = observingGatherer{inner: e.Gatherer, send: send, gen: gen}
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

// applyDoneMsg reports an Applier result.
type applyDoneMsg struct {
	id   string
	text string
	err  error
}

func applyFix(ctx context.Context, a Applier, id string) tea.Cmd {
	return func() tea.Msg {
		text, err := a.Apply(ctx, id)
		return applyDoneMsg{id: id, text: text, err: err}
	}
}
