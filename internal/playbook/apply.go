package playbook

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
)

// ErrNginxTest is returned when `nginx -t` rejects the configuration before a reload.
var ErrNginxTest = errors.New("nginx -t failed")

// ErrWorse is returned when the re-check after a step is worse than the one before it.
var ErrWorse = errors.New("the re-check is worse than before")

// Verdict is a run of the checks: each finding's severity by ID.
type Verdict map[string]diagnostics.Severity

// VerdictOf is the verdict of a report.
func VerdictOf(r *diagnostics.Report) Verdict {
	v := Verdict{}
	if r == nil {
		return v
	}
	for _, f := range r.Findings {
		if old, ok := v[f.ID]; !ok || f.Severity > old {
			v[f.ID] = f.Severity
		}
	}
	return v
}

// Recheck runs the checks again after a step and returns their verdict.
type Recheck func(ctx context.Context) (Verdict, error)

// Applier applies steps with backups, `nginx -t` before any reload and a rollback.
type Applier struct {
	// Env is where the commands run.
	Env Env
	// JournalRoot is where the backups go (DefaultJournalRoot outside tests).
	JournalRoot string
	// NginxTest is the command that tests the judged configuration, e.g.
	// "nginx -t -p '/etc/nginx/' -c '/etc/nginx/nginx.conf'"; "" means "nginx -t".
	NginxTest string
	// Now stamps the journal; nil means time.Now.
	Now func() time.Time
	// Confine, when set, refuses a step that can be seen to change anything outside this
	// directory (the demo lab's): its Changes, File, and what its commands write, create
	// or remove.
	Confine string
}

// ErrOutside is returned for a step that would change files outside Applier.Confine.
var ErrOutside = errors.New("the step changes files outside")

// Outcome is what Apply did.
type Outcome struct {
	// Journal is the step's journal; nil when nothing was backed up (the step was refused).
	Journal *Journal
	// Results are what the commands did, nginx -t's runs included.
	Results []Result
	// After is the re-check's verdict; nil when the step did not get that far.
	After Verdict
	// Worse are the checks that judged before and judge worse now (the step was rolled back).
	Worse []string
	// New are the checks failing now that did not fail before, Worse or not: a check the
	// fixed fault kept from running may fail now.
	New []string
	// Verified says the step's Verify checks and its finding pass now, and nothing fails
	// that did not fail before.
	Verified bool
	// RolledBack says every file was put back.
	RolledBack bool
}

// Apply runs st: it refuses a manual step or one with an unfilled placeholder, backs up
// st.Changes, st.File and every file the commands can be seen to write, runs `nginx -t`
// before each command that reloads NGINX, runs the commands, and re-checks with recheck.
// When a command or `nginx -t` fails, or the verdict is worse than before (a check that
// passed now warns or fails, one that warned now fails), it restores every file, runs the step's reload and restart commands
// that ran again so the services read the restored files, and returns the error (ErrNginxTest,
// ErrWorse or the command's). before is the verdict the step was chosen from.
func (a *Applier) Apply(ctx context.Context, st diagnostics.Step, finding string, before Verdict, recheck Recheck) (Outcome, error) {
	var out Outcome
	cmds, err := a.Check(st)
	if err != nil {
		return out, err
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	j, err := newJournal(a.JournalRoot, now(), st.Title, finding, cmds, a.Files(st, cmds))
	if err != nil {
		return out, err
	}
	out.Journal = j
	var ran []string // the commands that ran: the restarts among them are run again after a restore
	rollback := func(cause error) (Outcome, error) {
		if err := j.Restore(); err != nil {
			return out, fmt.Errorf("%w; restoring the files: %w", cause, err)
		}
		out.RolledBack = true
		for _, c := range ran {
			if Restarts(c) {
				out.Results = append(out.Results, runOne(ctx, c, a.Env))
			}
		}
		if err := j.setState(StateRolledBack); err != nil {
			return out, fmt.Errorf("%w; %w", cause, err)
		}
		return out, cause
	}
	for _, c := range cmds {
		if ReloadsNginx(c) {
			r := runOne(ctx, a.nginxTest(), a.Env)
			out.Results = append(out.Results, r)
			if r.Err != nil {
				return rollback(fmt.Errorf("%w: %s", ErrNginxTest, firstLines(r.Output, 3)))
			}
		}
		r := runOne(ctx, c, a.Env)
		out.Results = append(out.Results, r)
		ran = append(ran, c)
		if r.Err != nil {
			return rollback(fmt.Errorf("%s: %w", c, r.Err))
		}
	}
	if recheck != nil {
		after, err := recheck(ctx)
		if err != nil {
			return rollback(fmt.Errorf("re-check: %w", err))
		}
		out.After = after
		out.Worse = worse(before, after)
		if len(out.Worse) > 0 {
			return rollback(fmt.Errorf("%w: %s", ErrWorse, strings.Join(out.Worse, ", ")))
		}
		for id, sev := range after {
			if sev == diagnostics.SeverityFail && before[id] != diagnostics.SeverityFail {
				out.New = append(out.New, id)
			}
		}
		slices.Sort(out.New)
		out.Verified = len(out.New) == 0
		for _, id := range append(slices.Clone(st.Verify), finding) {
			if sev, ok := after[id]; id != "" && ok && sev >= diagnostics.SeverityWarn {
				out.Verified = false
			}
		}
	}
	return out, j.setState(StateApplied)
}

// Files are the files Apply backs up for st: st.Changes, st.File and those the commands
// can be seen to write, relative ones resolved against the commands' directory.
func (a *Applier) Files(st diagnostics.Step, cmds []string) []string {
	var out []string
	add := func(p string) {
		if p == "" {
			return
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(a.Env.Dir, p)
		}
		if p = filepath.Clean(p); !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	for _, p := range st.Changes {
		add(p)
	}
	add(st.File)
	for _, p := range WrittenFiles(cmds, a.Env.Dir) {
		add(p)
	}
	return out
}

// Check returns st's commands as Apply would run them, or why Apply refuses st: it is
// manual (ErrManual), holds an unfilled placeholder (ErrUnfilled), has no command, opens
// an editor or a pager (ErrManual), or changes files outside Confine (ErrOutside).
func (a *Applier) Check(st diagnostics.Step) ([]string, error) {
	if st.Manual != "" {
		return nil, fmt.Errorf("%w: %s", ErrManual, st.Manual)
	}
	cmds, err := Commands(st, a.Env)
	if err != nil {
		return nil, err
	}
	if len(cmds) == 0 {
		return nil, errors.New("the step has no command to run")
	}
	if err := interactive(cmds); err != nil {
		return nil, err
	}
	if err := a.confined(st, cmds); err != nil {
		return nil, err
	}
	return cmds, nil
}

// confined checks that st stays inside a.Confine.
func (a *Applier) confined(st diagnostics.Step, cmds []string) error {
	if a.Confine == "" {
		return nil
	}
	root := filepath.Clean(a.Confine) + string(filepath.Separator)
	for _, p := range append(a.Files(st, cmds), TouchedPaths(cmds, a.Env.Dir)...) {
		if !strings.HasPrefix(filepath.Clean(p)+string(filepath.Separator), root) {
			return fmt.Errorf("%w %s: %s", ErrOutside, a.Confine, p)
		}
	}
	return nil
}

func (a *Applier) nginxTest() string {
	if a.NginxTest != "" {
		return a.NginxTest
	}
	return "nginx -t"
}

// worse lists the checks that judged before and judge worse after: one that passed now
// warns or fails, one that warned now fails. A check that could not run before (skipped,
// or absent) and fails now is not made worse by the step: fixing the first fault often
// lets the checks behind it run, and reveals the next one.
func worse(before, after Verdict) []string {
	var out []string
	for id, sev := range after {
		old, ok := before[id]
		if ok && old != diagnostics.SeveritySkip && sev >= diagnostics.SeverityWarn && sev > old {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[:min(n, len(lines))], " / ")
}
