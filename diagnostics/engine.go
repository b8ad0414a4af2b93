package diagnostics

import (
	"context"
	"slices"
	"strings"
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
	// Facts, with EventGathering and EventGathered, is a copy of the facts as they stand
	// (kinds being gathered are nil until gathered), for views that show facts as they
	// arrive. Its fields are never written again.
	Facts *Facts
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
	// Without an observer (--check) the events' copies of the facts are not made.
	watched := observe != nil
	if observe == nil {
		observe = func(Event) {}
	}
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	start := now()
	checks := Catalog(e.selected(only)).assembled() // a catalog built by hand runs as DefaultCatalog would
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

	// A kind is resolved once gathered or failed; kinds not being gathered (kept from prev)
	// count as resolved. Checks are judged as soon as what they read is resolved.
	resolved := map[FactKind]bool{}
	for _, k := range FactOrder {
		resolved[k] = !slices.Contains(needed, k) || facts.Has(k)
	}
	done := make([]bool, len(checks))
	findings := make([]Finding, len(checks))
	evaluateReady := func() {
		for i, ch := range checks {
			if done[i] || !ready(ch, resolved) {
				continue
			}
			findings[i] = ch.run(facts)
			done[i] = true
			observe(Event{Type: EventFinding, Finding: findings[i]})
		}
	}
	evaluateReady()
	e.gather(ctx, facts, resolved, watched, observe, evaluateReady)
	// Anything left needs a kind that was never gathered; run reports the skip.
	for i, ch := range checks {
		if !done[i] {
			findings[i] = ch.run(facts)
			observe(Event{Type: EventFinding, Finding: findings[i]})
		}
	}
	unjudged(checks, findings, facts)
	return &Report{Findings: findings, Facts: facts, Duration: now().Sub(start)}
}

// unjudged turns the skip of a Core check into a warning on a host whose agent names a
// server, unless a check failed: the connection the agent needs was then not judged (an
// address that does not parse, a server that closes the HTTP/2 connection), and the run
// must not say OK.
func unjudged(checks []Check, findings []Finding, f *Facts) {
	if f.Agent == nil || f.Agent.Address() == "" {
		return
	}
	for _, fd := range findings {
		if fd.Severity == SeverityFail {
			return
		}
	}
	for i, ch := range checks {
		if ch.Core && findings[i].Severity == SeveritySkip {
			findings[i].Severity = SeverityWarn
			findings[i].Summary = "not judged: " + strings.TrimPrefix(findings[i].Summary, "skipped: ")
		}
	}
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

// gather gathers every unresolved kind, each as soon as the kinds it reads are resolved, so
// that independent kinds (the endpoint probe and the NGINX configuration) overlap. Each
// gatherer fills its own snapshot of facts, adopted when it returns, so checks judged
// meanwhile never see a half-written kind; only this goroutine writes facts.
func (e *Engine) gather(ctx context.Context, facts *Facts, resolved map[FactKind]bool, watched bool, observe func(Event), after func()) {
	seen := func() *Facts { // Event.Facts: a copy for an observer, nil for none
		if !watched {
			return nil
		}
		return facts.snapshot()
	}
	type result struct {
		kind FactKind
		work *Facts
		err  error
	}
	results := make(chan result)
	running := map[FactKind]bool{}
	start := func() {
		for _, k := range FactOrder {
			if resolved[k] || running[k] || !depsResolved(k, resolved) {
				continue
			}
			if ctx.Err() != nil {
				facts.Errors[k] = "cancelled"
				resolved[k] = true
				continue
			}
			running[k] = true
			observe(Event{Type: EventGathering, Fact: k, Facts: seen()})
			work := facts.snapshot()
			go func() { results <- result{k, work, e.Gatherer.Gather(ctx, k, work)} }()
		}
	}
	start()
	for len(running) > 0 {
		r := <-results
		delete(running, r.kind)
		facts.adopt(r.work)
		resolved[r.kind] = true
		if r.err != nil {
			facts.Errors[r.kind] = r.err.Error()
		}
		observe(Event{Type: EventGathered, Fact: r.kind, Err: r.err, Facts: seen()})
		after()
		start()
		if len(running) == 0 {
			after() // kinds resolved by cancellation in start
		}
	}
}

func depsResolved(k FactKind, resolved map[FactKind]bool) bool {
	for _, d := range factDeps[k] {
		if !resolved[d] {
			return false
		}
	}
	return true
}

// ready reports whether every fact ch needs or wants is resolved (gathered, failed, or not
// being gathered in this run).
func ready(ch Check, resolved map[FactKind]bool) bool {
	// Asked of every waiting check each time a kind resolves: no concatenated copy.
	for _, kinds := range [2][]FactKind{ch.Needs, ch.Wants} {
		for _, k := range kinds {
			if !resolved[k] {
				return false
			}
		}
	}
	return true
}
