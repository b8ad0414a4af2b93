package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/internal/demolab"
	"github.com/mtls-doctor/mtls-doctor/internal/playbook"
	"github.com/mtls-doctor/mtls-doctor/internal/stepshim"
)

// maxDemoSteps bounds one scenario's walk.
const maxDemoSteps = 16

// demoWalk is what walking one scenario's steps did.
type demoWalk struct {
	ran    []string // "finding#step: outcome"
	passed bool
	result string
	left   string // the problems left, with their summaries
}

// TestDemoStepsFix walks every demo scenario as a user pressing `a` would: run the checks,
// take the first failing finding (or the planted one while it is a problem) and apply its
// steps in order, exactly as shown, through internal/playbook in the lab's environment
// (shims on PATH, placeholders filled by the lab), re-check, and go on until nothing fails
// and the planted finding passes. It prints a table "scenario | steps | re-check".
func TestDemoStepsFix(t *testing.T) {
	stepSuite[demolab.Scenario]{
		title:     "demo",
		scenarios: demolab.Scenarios(),
		name:      func(sc demolab.Scenario) string { return sc.Name },
		walk: func(t *testing.T, sc demolab.Scenario) stepRow {
			w := walkDemoSteps(t, sc)
			if os.Getenv("MTLS_DOCTOR_STEPS_VERBOSE") != "" {
				t.Logf("%s:\n  %s\n%s", sc.Name, strings.Join(w.ran, "\n  "), w.left)
			}
			return stepRow{ran: fmt.Sprint(len(w.ran)), result: w.result, ok: w.passed,
				detail: "\nsteps: " + strings.Join(w.ran, "; ")}
		},
	}.run(t)
}

// walkDemoSteps starts sc's lab and applies the steps shown until the re-check passes or
// no step is left to try.
func walkDemoSteps(t *testing.T, sc demolab.Scenario) demoWalk {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*demoTimeout)
	defer cancel()
	l, err := demolab.Start(ctx, sc.Name, t.TempDir(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := l.InstallShims(exe); err != nil {
		t.Fatal(err)
	}
	th := diagnostics.DefaultThresholds()
	e := labEngine(l, checkFlags{output: "text", timeout: 2 * time.Second,
		warnDays: th.WarnDays, critDays: th.CritDays, warnPercent: th.WarnPercent, logs: logFlags{since: time.Hour}})
	a := labApplier(l)
	recheck := func(ctx context.Context) (playbook.Verdict, error) {
		return playbook.VerdictOf(e.Run(ctx, nil, nil, nil)), ctx.Err()
	}
	var w demoWalk
	tried := map[string]bool{}
	r := e.Run(ctx, nil, nil, nil)
	for range maxDemoSteps {
		if demoFixed(r, sc) {
			w.passed, w.result = true, "pass"
			if p := problems(r); p != "" {
				w.result = "pass (warnings: " + strings.Join(problemIDs(r, diagnostics.SeverityWarn), ", ") + ")"
			}
			return w
		}
		f, i, st, ok := nextDemoStep(r, sc, tried)
		if !ok {
			left := problemIDs(r, diagnostics.SeverityFail)
			if f, ok := finding(r, sc.ExpectFinding); ok && f.Problem() && !slices.Contains(left, f.ID) {
				left = append(left, f.ID+" ("+f.Severity.String()+")")
			}
			w.result = "still failing, no step left: " + strings.Join(left, ", ")
			w.left = problems(r)
			return w
		}
		key := fmt.Sprintf("%s#%d", f.ID, i+1)
		tried[f.ID+"\x00"+st.Title] = true
		if c, bad := stepshim.ReloadWithoutTest(st.Commands); bad {
			t.Errorf("%s step %q reloads or restarts NGINX without an nginx -t of that configuration before it: %q", f.ID, st.Title, c)
		}
		out, err := a.Apply(ctx, st, f.ID, playbook.VerdictOf(r), recheck)
		switch {
		case errors.Is(err, playbook.ErrManual), errors.Is(err, playbook.ErrUnfilled), errors.Is(err, playbook.ErrOutside):
			w.ran = append(w.ran, key+" not run: "+err.Error())
			continue
		case err != nil:
			w.ran = append(w.ran, key+" failed, rolled back: "+firstLine(err.Error())+lastOutput(out))
		case out.Verified:
			w.ran = append(w.ran, key+" verified")
		default:
			w.ran = append(w.ran, key+" ran, not verified")
		}
		r = e.Run(ctx, nil, nil, nil)
	}
	w.result = "gave up after " + fmt.Sprint(maxDemoSteps) + " steps: " + strings.Join(problemIDs(r, diagnostics.SeverityFail), ", ")
	return w
}

// demoFixed: nothing fails and the planted finding is not a problem.
func demoFixed(r *diagnostics.Report, sc demolab.Scenario) bool {
	if r.Status() == diagnostics.SeverityFail {
		return false
	}
	f, ok := finding(r, sc.ExpectFinding)
	return !ok || !f.Problem()
}

// nextDemoStep is the first step not yet tried of the first failing finding that has one
// (the planted finding counts while it is a problem, also as a warning).
func nextDemoStep(r *diagnostics.Report, sc demolab.Scenario, tried map[string]bool) (diagnostics.Finding, int, diagnostics.Step, bool) {
	for _, f := range r.Findings {
		if f.Severity != diagnostics.SeverityFail && (f.ID != sc.ExpectFinding || !f.Problem()) {
			continue
		}
		for i, st := range f.Fix {
			if !tried[f.ID+"\x00"+st.Title] {
				return f, i, st, true
			}
		}
	}
	return diagnostics.Finding{}, 0, diagnostics.Step{}, false
}

func problemIDs(r *diagnostics.Report, sev diagnostics.Severity) []string {
	var out []string
	for _, f := range r.Findings {
		if f.Severity == sev {
			out = append(out, f.ID)
		}
	}
	return out
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// lastOutput is the end of the last command's output, for the table's reason.
func lastOutput(out playbook.Outcome) string {
	for i := len(out.Results) - 1; i >= 0; i-- {
		if r := out.Results[i]; r.Err != nil && strings.TrimSpace(r.Output) != "" {
			lines := strings.Split(strings.TrimSpace(r.Output), "\n")
			return " [" + lines[len(lines)-1] + "]"
		}
	}
	return ""
}
