package main

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/internal/stepshim"
)

// The playbook execution tests (issue #9: every step shown is proven by running it) share
// this file: stepSuite runs one walk a scenario and prints "scenario | steps | re-check",
// and stepWalk is the walk of the real-NGINX suites — run mtls-doctor, execute the next
// failing finding's step verbatim on the host it names, re-check, until nothing is left.

// stepRow is one scenario's line of an execution table.
type stepRow struct {
	ran    string // the steps run, "3+1m": three executed, one manual not run
	result string // "pass", or what is left
	ok     bool
	detail string // more for a failure's message (the steps and their outcomes)
}

// stepSuite is one execution test over a suite's scenarios.
type stepSuite[S any] struct {
	title     string // the table's caption, "upstream" → "upstream: 31/31 scenarios pass"
	scenarios []S
	name      func(S) string
	// unfixable are the scenarios whose steps do not fix them yet, with why, named
	// unfixableName in messages; nil when every scenario must pass. The list only
	// shrinks: a listed scenario that passes fails the test until it is removed, and one
	// not listed must pass.
	unfixable     map[string]string
	unfixableName string
	walk          func(*testing.T, S) stepRow
}

// run walks every scenario in parallel subtests and logs the table in the suite's order.
func (s stepSuite[S]) run(t *testing.T) {
	t.Helper()
	var mu sync.Mutex
	rows := map[string]stepRow{}
	t.Run("scenarios", func(t *testing.T) {
		for _, sc := range s.scenarios {
			name := s.name(sc)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				r := s.walk(t, sc)
				mu.Lock()
				rows[name] = r
				mu.Unlock()
				why, unfixable := s.unfixable[name]
				switch {
				case r.ok && unfixable:
					t.Errorf("%s passes now (%s): remove it from %s (%s)", name, r.result, s.unfixableName, why)
				case !r.ok && !unfixable:
					t.Errorf("%s: the steps shown do not fix it: %s%s", name, r.result, r.detail)
				}
			})
		}
	})
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 1, ' ', 0)
	fmt.Fprintln(tw, "scenario\t| steps\t| re-check")
	passed := 0
	for _, sc := range s.scenarios {
		r, ok := rows[s.name(sc)]
		if !ok {
			continue
		}
		if r.ok {
			passed++
		}
		fmt.Fprintf(tw, "%s\t| %s\t| %s\n", s.name(sc), r.ran, r.result)
	}
	tw.Flush()
	t.Logf("%s: %d/%d scenarios pass after their steps\n%s", s.title, passed, len(rows), b.String())
}

// stepHost is where the steps for one host run in a test: a sandbox, and what the test
// then does as that host's NGINX or systemd would with what the step asked (after: a
// reload was requested, these units were started or restarted).
type stepHost struct {
	sandbox *stepshim.Sandbox
	after   func(t *testing.T, reloaded bool, units []string)
}

// maxStepRounds bounds one walk.
const maxStepRounds = 16

// stepWalk walks one real-NGINX scenario's steps.
type stepWalk struct {
	check  func() checkResult
	inputs map[string]string // placeholder → the value a user would type
	// hosts are the sandboxes by a step's Host; "" (the host judged) serves a host not
	// listed, as in a lab where every host is this machine.
	hosts map[string]stepHost
	// left are findings that must still fail after the steps (and nothing else may).
	left []string
	// stuck, when set, logs more when no step is left to run.
	stuck func(res checkResult)
	// skip are the titles (prefixes) of steps passed over, as a user who takes a step's
	// alternative ("Or …") does: they are neither run nor counted.
	skip []string
}

// run takes one step at a time, then a re-check, as the walkthrough goes: a later step is
// built from facts that include what the earlier ones changed. Manual steps are counted,
// not run.
func (w stepWalk) run(t *testing.T) stepRow {
	t.Helper()
	steps, manual := 0, 0
	ran := func() string { return fmt.Sprintf("%d+%dm", steps, manual) }
	done := map[string]bool{}
	var log []string
	for range maxStepRounds {
		res := w.check()
		other := w.unexpected(res)
		if len(other) == 0 {
			return stepRow{ran: ran(), result: "pass", ok: true}
		}
		progressed := false
		for _, fd := range res.report.Findings {
			if fd.Severity != "fail" && fd.Severity != "warn" {
				continue
			}
			for _, st := range fd.Fix {
				key := fd.ID + "|" + st.Title
				if done[key] {
					continue
				}
				done[key] = true
				if c, bad := stepshim.ReloadWithoutTest(st.Commands); bad {
					t.Errorf("%s step %q reloads or restarts NGINX without an nginx -t of that configuration before it: %q", fd.ID, st.Title, c)
				}
				if slices.ContainsFunc(w.skip, func(p string) bool { return strings.HasPrefix(st.Title, p) }) {
					continue
				}
				if st.Manual != "" {
					t.Logf("%s: manual step %q: %s; commands %q", fd.ID, st.Title, st.Manual, st.Commands)
					log = append(log, fd.ID+": manual "+st.Title)
					manual++
					continue
				}
				h, ok := w.hosts[st.Host]
				if !ok {
					h = w.hosts[""]
				}
				err := w.unfilled(st.Inputs)
				if err == nil {
					err = h.sandbox.Run(st.Commands, w.inputs)
					if h.after != nil {
						h.after(t, h.sandbox.Reloaded(), h.sandbox.Units())
					}
				}
				if err != nil {
					t.Logf("%s: step %q: %v", fd.ID, st.Title, err)
					log = append(log, fd.ID+": failed "+st.Title)
					continue
				}
				t.Logf("ran %s (host %q): %q", fd.ID, st.Host, st.Title)
				log = append(log, fd.ID+": ran "+st.Title)
				steps++
				progressed = true
				break
			}
			if progressed {
				break
			}
		}
		if !progressed {
			t.Logf("no step left to run:\n%s", res.excerpt())
			if w.stuck != nil {
				w.stuck(res)
			}
			return stepRow{ran: ran(), result: "left: " + strings.Join(other, ", "), detail: "\nsteps: " + strings.Join(log, "; ")}
		}
	}
	other := w.unexpected(w.check())
	if len(other) == 0 {
		return stepRow{ran: ran(), result: "pass", ok: true}
	}
	return stepRow{ran: ran(), result: "left after " + fmt.Sprint(maxStepRounds) + " steps: " + strings.Join(other, ", "),
		detail: "\nsteps: " + strings.Join(log, "; ")}
}

// unexpected are the problems left but the findings that must stay failing, and those of
// them that do not fail.
func (w stepWalk) unexpected(res checkResult) []string {
	var other []string
	for _, id := range append(res.bySeverity("fail"), res.bySeverity("warn")...) {
		if !slices.Contains(w.left, id) {
			other = append(other, id)
		}
	}
	for _, id := range w.left {
		if f, _ := res.find(id); f.Severity != "fail" {
			other = append(other, id+" (not failing)")
		}
	}
	return other
}

// unfilled says which of a step's placeholders the test has no value for: a step must not
// run with a placeholder left in it.
func (w stepWalk) unfilled(inputs []diagnostics.Input) error {
	var missing []string
	for _, in := range inputs {
		if _, ok := w.inputs[in.Name]; !ok {
			missing = append(missing, in.Name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the test has no value for %s", strings.Join(missing, ", "))
	}
	return nil
}
