package diagnostics

import (
	"context"
	"slices"
	"time"
)

// Gatherer fills one kind of fact into f. It may read earlier kinds from f (they are
// gathered first) and must honour ctx's deadline. An error leaves the kind unset; the
// checks that need it are skipped with the error as the reason.
type Gatherer interface {
	Gather(ctx context.Context, kind FactKind, f *Facts) error
}

// GathererFunc adapts a function to Gatherer.
type GathererFunc func(ctx context.Context, kind FactKind, f *Facts) error

// Gather implements Gatherer.
func (g GathererFunc) Gather(ctx context.Context, kind FactKind, f *Facts) error {
	return g(ctx, kind, f)
}

// EventType tells what an Event reports.
type EventType int

const (
	// EventGathering: the engine started gathering Event.Fact.
	EventGathering EventType = iota
	// EventGathered: Event.Fact is done (Event.Err is set if it failed).
	EventGathered
	// EventFinding: a check finished; Event.Finding holds the result.
	EventFinding
)

// Event is what the engine reports to an observer while it runs.
type Event struct {
	Type    EventType
	Fact    FactKind
	Err     error
	Finding Finding
}

// Engine runs a catalog over gathered facts.
type Engine struct {
	Catalog    Catalog
	Gatherer   Gatherer
	Thresholds Thresholds
	// Now is the clock; nil means time.Now. Tests pin it.
	Now func() time.Time
}

// Report is the outcome of a run.
type Report struct {
	// Findings are in catalog order.
	Findings []Finding
	// Facts are what the findings were judged on.
	Facts *Facts
	// Duration is the run's wall time.
	Duration time.Duration
}

// Status is the worst severity of the report.
func (r *Report) Status() Severity {
	worst := SeverityOK
	for _, f := range r.Findings {
		if f.Severity > worst {
			worst = f.Severity
		}
	}
	if worst == SeverityInfo {
		return SeverityOK
	}
	return worst
}

// Run gathers the facts the selected checks need and evaluates them, calling observe (if
// non-nil) as it goes. only selects checks by ID; nil means the whole catalog. Facts in
// prev that no selected check reads are kept, so a re-run of a few checks re-probes only
// what those checks read.
func (e *Engine) Run(ctx context.Context, only []string, prev *Facts, observe func(Event)) *Report {
	if observe == nil {
		observe = func(Event) {}
	}
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	start := now()
	checks := e.selected(only)
	facts := &Facts{Thresholds: e.Thresholds, Errors: map[FactKind]string{}}
	if prev != nil {
		*facts = *prev
		facts.Errors = map[FactKind]string{}
		for k, v := range prev.Errors {
			facts.Errors[k] = v
		}
	}
	facts.Now = start
	if facts.Thresholds == (Thresholds{}) {
		facts.Thresholds = DefaultThresholds()
	}

	// Every kind the selected checks read, directly or through another kind, is gathered
	// afresh: a fix to the agent config must reach the files and the probe built from it.
	needed := neededKinds(checks)
	for _, k := range needed {
		facts.clear(k)
	}

	done := make([]bool, len(checks))
	findings := make([]Finding, len(checks))
	evaluateReady := func() {
		for i, ch := range checks {
			if done[i] || !ready(ch, facts) {
				continue
			}
			findings[i] = ch.run(facts)
			done[i] = true
			observe(Event{Type: EventFinding, Finding: findings[i]})
		}
	}
	evaluateReady()
	for _, k := range FactOrder {
		if !slices.Contains(needed, k) || facts.Has(k) {
			continue
		}
		if ctx.Err() != nil {
			facts.Errors[k] = "cancelled"
		} else {
			observe(Event{Type: EventGathering, Fact: k})
			err := e.Gatherer.Gather(ctx, k, facts)
			if err != nil {
				facts.Errors[k] = err.Error()
			}
			observe(Event{Type: EventGathered, Fact: k, Err: err})
		}
		evaluateReady()
	}
	// Anything left needs a kind that was never gathered; run reports the skip.
	for i, ch := range checks {
		if !done[i] {
			findings[i] = ch.run(facts)
			observe(Event{Type: EventFinding, Finding: findings[i]})
		}
	}
	return &Report{Findings: findings, Facts: facts, Duration: now().Sub(start)}
}

// selected returns the checks named in only, in catalog order (all when only is nil).
func (e *Engine) selected(only []string) []Check {
	if only == nil {
		return e.Catalog
	}
	var out []Check
	for _, ch := range e.Catalog {
		if slices.Contains(only, ch.ID) {
			out = append(out, ch)
		}
	}
	return out
}

// neededKinds is the closure of the checks' needs over factDeps, in FactOrder.
func neededKinds(checks []Check) []FactKind {
	want := map[FactKind]bool{}
	var add func(k FactKind)
	add = func(k FactKind) {
		if want[k] {
			return
		}
		want[k] = true
		for _, d := range factDeps[k] {
			add(d)
		}
	}
	for _, ch := range checks {
		for _, k := range ch.Needs {
			add(k)
		}
		for _, k := range ch.Wants {
			add(k)
		}
	}
	var out []FactKind
	for _, k := range FactOrder {
		if want[k] {
			out = append(out, k)
		}
	}
	return out
}

// ready reports whether every fact ch needs or wants has been gathered or has failed to
// gather.
func ready(ch Check, f *Facts) bool {
	for _, k := range slices.Concat(ch.Needs, ch.Wants) {
		if !f.Has(k) {
			if _, failed := f.Errors[k]; !failed {
				return false
			}
		}
	}
	return true
}
