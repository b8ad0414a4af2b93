package diagnostics

import (
	"slices"

	"github.com/mtls-doctor/mtls-doctor/logparse"
)

// A check is declared once, in its literal; the engine combines what the literal declares
// (the manager half, NGINX's live verdict, the log evidence) into the check that runs, by
// the literal's fields and never by ID.
//
// Several findings mean the same thing seen from either end: "client-auth-not-required" is
// what the agent's probe observes and what the manager's ssl_verify_client says. Such a check
// keeps one ID and declares a Manager half: on an agent host it runs as before, on the
// manager host it judges the NGINX configuration (and --cert), and with both it reports the
// worse of the two and shows the other as evidence — the cross-check.

// ManagerSide is the manager half of a check that also has an agent half.
type ManagerSide struct {
	// Evaluate judges the manager's side; it runs only where NGINX serves the agents.
	Evaluate func(f *Facts) Result
	// Fix is the manager side's playbook, used when its half warns or fails.
	Fix func(f *Facts, r Result) []Step
}

// assembled returns c with every check assembled (Check.assembled); the checks of c are
// not changed. A catalog already assembled (DefaultCatalog's) is returned as it is: the
// engine only reads it, and a copy of ~100 checks is ~60 KB of fresh heap per run.
func (c Catalog) assembled() Catalog {
	if !slices.ContainsFunc(c, func(ch Check) bool { return !ch.isAssembled }) {
		return c
	}
	out := make(Catalog, len(c))
	for i, ch := range c {
		out[i] = ch.assembled()
	}
	return out
}

// assembled is the check that runs for the literal ch: its agent half, then the manager
// half (bothSides), then NGINX's live verdict (liveVerdictCheck), then the events of its
// log kinds (withLogEvidence). Each layer turns the needs of the one inside into wants, so
// the check still runs where only the manager's side or only the logs are there. The
// declaring fields stay set; assembling twice is a no-op.
func (ch Check) assembled() Check {
	if ch.isAssembled {
		return ch
	}
	declared := ch
	if ch.Manager != nil {
		ch = bothSides(ch, *ch.Manager)
	}
	if ch.LiveVerdict {
		ch = liveVerdictCheck(ch)
	}
	if ch.LiveVerdict || len(ch.LogKinds) > 0 {
		ch = withLogEvidence(ch)
	}
	ch.Manager, ch.LiveVerdict, ch.LogKinds = declared.Manager, declared.LiveVerdict, declared.LogKinds
	ch.isAssembled = true
	return ch
}

// bothSides turns the agent-side check ch into one that also judges the manager side. Its
// agent needs become wants, so that a manager-only run still evaluates it.
func bothSides(ch Check, m ManagerSide) Check {
	agent := ch
	wants := append(append([]FactKind{}, agent.Needs...), agent.Wants...)
	if !slices.Contains(wants, FactNginx) {
		wants = append(wants, FactNginx)
	}
	ch.Needs, ch.Wants = nil, wants
	ch.Evaluate = func(f *Facts) Result {
		a, aok := agentHalf(agent, f)
		r, mok := managerHalf(m, f)
		var out Result
		switch {
		case aok && mok:
			out = mergeSides(a, r)
		case aok:
			out = a
		case mok:
			out = r
		case managerHost(f) && f.Agent == nil:
			out = r // a manager-only run: the manager's reason is the one that matters
		default:
			out = a
		}
		if aok && a.Severity >= SeverityWarn {
			out.sides |= agentSideProblem
			out.agentHalf = &a
		}
		if mok && r.Severity >= SeverityWarn {
			out.sides |= managerSideProblem
			out.managerHalf = &r
		}
		return out
	}
	if agent.Fix == nil && m.Fix == nil {
		return ch // no playbook on either side: the finding carries no steps
	}
	ch.Fix = func(f *Facts, r Result) []Step {
		var steps []Step
		if r.sides&managerSideProblem != 0 && m.Fix != nil {
			steps = append(steps, m.Fix(f, r.half(r.managerHalf))...)
		}
		if r.sides&agentSideProblem != 0 && agent.Fix != nil {
			steps = append(steps, agent.Fix(f, r.half(r.agentHalf))...)
		}
		if len(steps) == 0 && agent.Fix != nil {
			return agent.Fix(f, r) // no facts (mtls-doctor explain): the agent side's playbook
		}
		return steps
	}
	return ch
}

// half is the result a half's Fix receives: the half's own Cause and Subject when it
// recorded them, else r.
func (r Result) half(h *Result) Result {
	if h == nil {
		return r
	}
	return *h
}

// agentHalf evaluates the agent side when its facts are there; ok is false when it could not
// judge (missing facts or a skip), and the result then says why.
func agentHalf(agent Check, f *Facts) (Result, bool) {
	if f == nil {
		return Skip("skipped: no facts"), false
	}
	if r, missing := missingFacts(agent.Needs, f); missing {
		return r, false
	}
	r := agent.Evaluate(f)
	return r, r.Severity != SeveritySkip
}

// managerHalf evaluates the manager side on a manager host.
func managerHalf(m ManagerSide, f *Facts) (Result, bool) {
	if !managerHost(f) {
		return Skip("skipped: no NGINX here serves the agents"), false
	}
	r := m.Evaluate(f)
	return r, r.Severity != SeveritySkip
}

// mergeSides reports the worse of the two halves and keeps the other as evidence.
func mergeSides(agent, manager Result) Result {
	primary, other, label := agent, manager, "the NGINX configuration says"
	if manager.Severity > agent.Severity {
		primary, other, label = manager, agent, "the probe from the agent's side says"
	}
	out := primary
	if out.Cause.IsZero() && other.Severity == primary.Severity {
		out.Cause = other.Cause // the half that names its cause speaks for both
	}
	out.Evidence = append(append([]Evidence(nil), primary.Evidence...), Note("", "%s (%s): %s", label, other.Severity, other.Summary))
	out.Evidence = append(out.Evidence, other.Evidence...)
	return out
}

// claims reports whether ch declares log kind k.
func (ch Check) claims(k logparse.Kind) bool { return slices.Contains(ch.LogKinds, k) }
