package diagnostics

import (
	"fmt"

	"github.com/mtls-doctor/mtls-doctor/logparse"
)

// Check is one entry of the catalog: a stable ID, the healthy condition it tests, the facts
// it needs, and two pure functions over those facts.
type Check struct {
	// ID is stable and kebab-case; scripts and docs depend on it.
	ID string
	// Category groups the check in output.
	Category Category
	// Title states the healthy condition in lower case ("agent certificate is not expired").
	Title string
	// Why explains in two or three plain sentences why this fails and what it breaks.
	Why string
	// Subject names what the check judges on this host, when its Result does not say
	// (nil: the category's default, defaultSubject).
	Subject func(f *Facts) Subject
	// Needs lists the fact kinds Evaluate reads. The check is skipped when one is missing.
	Needs []FactKind
	// Wants lists fact kinds Evaluate reads when they are there: the engine gathers them
	// before evaluating, but a failure to gather them does not skip the check.
	Wants []FactKind
	// Core marks the check that judges the agent's connection end to end. Skipped on a
	// host whose agent names a server, it means the connection was not judged: the engine
	// then makes it a warning unless another check failed (and so explains it), so that a
	// run which probed nothing never says OK.
	Core bool
	// Evaluate judges the facts. It must not do I/O or read the clock (use Facts.Now).
	Evaluate func(f *Facts) Result
	// Fix returns the playbook for this host from the facts and the Result that Evaluate
	// returned (switch on its Cause; never evaluate again). It is used when Evaluate warns
	// or fails and by `mtls-doctor explain`, which passes a zero Result. Nil means the
	// finding carries no steps.
	Fix func(f *Facts, r Result) []Step
	// Manager is the manager half of a check seen from both ends (nil: agent side only).
	// The engine runs it where NGINX serves the agents and reports the worse half.
	Manager *ManagerSide
	// LiveVerdict marks a check that NGINX's live verdict on the agent certificate can
	// name (verifyFinding): it fails when NGINX names it, and logged verify errors whose
	// OpenSSL code names it are its evidence.
	LiveVerdict bool
	// LogKinds are the log event kinds that back the check (each claimed by exactly one
	// check): their events become its evidence, or its verdict when it cannot judge.
	LogKinds []logparse.Kind

	isAssembled bool // set by assembled: the fields above are combined into Evaluate
}

// Catalog is an ordered list of checks.
type Catalog []Check

// Lookup returns the check with id.
func (c Catalog) Lookup(id string) (Check, bool) {
	for _, ch := range c {
		if ch.ID == id {
			return ch, true
		}
	}
	return Check{}, false
}

// Claiming returns the check whose LogKinds claim log event kind k: the finding an event
// of that kind is evidence for.
func (c Catalog) Claiming(k logparse.Kind) (Check, bool) {
	for _, ch := range c {
		if ch.claims(k) {
			return ch, true
		}
	}
	return Check{}, false
}

// Validate reports duplicate IDs, missing fields and Verify references to unknown checks.
func (c Catalog) Validate() error {
	seen := map[string]bool{}
	for _, ch := range c {
		switch {
		case ch.ID == "" || ch.Title == "" || ch.Category == "" || ch.Evaluate == nil:
			return fmt.Errorf("check %q: ID, Title, Category and Evaluate are required", ch.ID)
		case seen[ch.ID]:
			return fmt.Errorf("check %q: duplicate ID", ch.ID)
		}
		seen[ch.ID] = true
	}
	return nil
}

// run evaluates ch over f into a finding that is safe to show (Finding.cleaned).
func (ch Check) run(f *Facts) Finding { return ch.evaluate(f).cleaned() }

// Criterion is the sentence that says when the check passes, built from its title (a
// statement such as "agent certificate has not expired"): what explain and the
// assistant's finding screen print under the ID.
func (ch Check) Criterion() string {
	t := ch.Title
	if len(t) > 1 && 'A' <= t[0] && t[0] <= 'Z' && 'a' <= t[1] && t[1] <= 'z' {
		t = string(rune(t[0]-'A'+'a')) + t[1:] // "No workload …", not "TLS …" or "NGINX …"
	}
	return "Passes when " + t + "."
}

// evaluate turns a missing fact or a panic into a finding so that one bad check never
// takes the whole run down.
func (ch Check) evaluate(f *Facts) (fd Finding) {
	fd = Finding{ID: ch.ID, Category: ch.Category, Title: ch.Title}
	if r, missing := missingFacts(ch.Needs, f); missing {
		fd.Severity, fd.Summary = r.Severity, r.Summary
		return fd
	}
	defer func() {
		if p := recover(); p != nil {
			fd.Severity = SeverityFail
			fd.Summary = fmt.Sprintf("internal error in check %s: %v (please report this)", ch.ID, p)
			fd.Evidence, fd.Fix = nil, nil
		}
	}()
	r := ch.Evaluate(f)
	fd.Severity, fd.Summary, fd.Evidence = r.Severity, r.Summary, r.Evidence
	fd.Subject, fd.Cause = r.Subject, r.Cause
	switch {
	case !fd.Subject.IsZero():
	case ch.Subject != nil:
		fd.Subject = ch.Subject(f)
	default:
		fd.Subject = defaultSubject(ch.Category, f)
	}
	if fd.Problem() {
		fd.Fix = ch.playbook(f, r)
	}
	return fd
}

// missingFacts is the skip for a check whose needed facts were not gathered, with the
// gatherer's reason; missing is false when every needed kind is there.
func missingFacts(needs []FactKind, f *Facts) (r Result, missing bool) {
	for _, k := range needs {
		if !f.Has(k) {
			reason := "not gathered"
			if msg, ok := f.Errors[k]; ok {
				reason = msg
			}
			return Skip("skipped: no %s facts: %s", k, reason), true
		}
	}
	return Result{}, false
}
