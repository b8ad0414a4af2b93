package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/internal/demolab"
)

// demoTimeout bounds one demo run: the lab is on loopback, so every step answers at once
// unless something is broken in the tool itself.
const demoTimeout = 60 * time.Second

// runDemo runs `mtls-doctor demo ARGS...` in-process.
func runDemo(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), demoTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, append([]string{"demo"}, args...), environ{}, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// TestDemoScenarios runs the real CLI on every lab scenario: the diagnosis must name the
// planted fault (exit 0), or find nothing wrong with the healthy lab.
func TestDemoScenarios(t *testing.T) {
	for _, sc := range demolab.Scenarios() {
		t.Run(sc.Name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runDemo(t, sc.Name, "--timeout", "2s")
			want := "Demo: mtls-doctor found the planted fault (" + sc.ExpectFinding + ")"
			if sc.ExpectFinding == "" {
				want = "Demo: the healthy lab "
			}
			if code != exitOK || !strings.Contains(stdout, want) {
				t.Errorf("demo %s: exit %d, want 0 and %q\nstdout:\n%s\nstderr:\n%s", sc.Name, code, want, stdout, stderr)
			}
			if !strings.Contains(stdout, `Demo lab "`+sc.Name+`": `+sc.Title) {
				t.Errorf("demo %s does not announce the scenario:\n%s", sc.Name, stdout)
			}
			if link := "  upstream link    " + demolab.FrontName + " → 127.0.0.1:"; strings.Contains(stdout, link) != sc.Upstream {
				t.Errorf("demo %s: the banner's upstream link line is there: %v, want %v:\n%s", sc.Name, !sc.Upstream, sc.Upstream, stdout)
			}
		})
	}
}

func TestDemoDefaultAndList(t *testing.T) {
	code, stdout, stderr := runDemo(t, "--timeout", "2s")
	if code != exitOK || !strings.Contains(stdout, "found the planted fault ("+defaultScenario+")") {
		t.Errorf("demo without a scenario: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	// The lab's own NGINX line for the default fault follows the report.
	if !strings.Contains(stdout, "What the lab's NGINX logged") ||
		!strings.Contains(stdout, "[info] ") || !strings.Contains(stdout, "client SSL certificate verify error: (10:certificate has expired) while reading client request headers") {
		t.Errorf("demo does not show NGINX's log line for the expired certificate:\n%s", stdout)
	}

	code, stdout, _ = runDemo(t, "--list")
	if code != exitOK {
		t.Fatalf("demo --list: exit %d", code)
	}
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	if len(lines) != len(demolab.Scenarios()) {
		t.Errorf("demo --list printed %d lines for %d scenarios", len(lines), len(demolab.Scenarios()))
	}
	for i, sc := range demolab.Scenarios() {
		if i < len(lines) && !strings.HasPrefix(lines[i], sc.Name+" ") {
			t.Errorf("line %d is %q, want scenario %s", i+1, lines[i], sc.Name)
		}
		if link := "NGINX → upstream"; i < len(lines) && strings.Contains(lines[i], link) != sc.Upstream {
			t.Errorf("line %d is %q: labelled %q is %v, want %v", i+1, lines[i], link, !sc.Upstream, sc.Upstream)
		}
	}

	code, _, stderr = runDemo(t, "no-such-scenario")
	if code != exitCannot || !strings.Contains(stderr, `no demo scenario "no-such-scenario"`) {
		t.Errorf("unknown scenario: exit %d, stderr %q", code, stderr)
	}
}

// TestDemoJSON checks that -o json gives the report alone after the lab's banner and
// still exits with the demo's verdict.
func TestDemoJSON(t *testing.T) {
	code, stdout, stderr := runDemo(t, "agent-cert-expired", "-o", "json", "--timeout", "2s")
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, `"id": "agent-cert-expired"`) || strings.Contains(stdout, "Demo: ") {
		t.Errorf("stdout is not the banner and JSON report:\n%s", stdout)
	}
}

func finding(r *diagnostics.Report, id string) (diagnostics.Finding, bool) {
	for _, f := range r.Findings {
		if f.ID == id {
			return f, true
		}
	}
	return diagnostics.Finding{}, false
}

// failures lists the findings of severity fail (or worse).
func failures(r *diagnostics.Report) string {
	var b strings.Builder
	for _, f := range r.Findings {
		if f.Severity >= diagnostics.SeverityFail {
			fmt.Fprintf(&b, "  %s %s: %s\n", f.Severity, f.ID, f.Summary)
		}
	}
	return b.String()
}

func problems(r *diagnostics.Report) string {
	var b strings.Builder
	for _, f := range r.Findings {
		if f.Problem() {
			fmt.Fprintf(&b, "  %s %s: %s\n", f.Severity, f.ID, f.Summary)
		}
	}
	return b.String()
}

// TestDemoNumbers runs the demo as a user would (the wall clock, a certificate that expired
// a day and some milliseconds ago) and checks that every output counts that as one day:
// the text says "1 day ago", JSON and Nagios say -1, and Nagios has one label per role.
func TestDemoNumbers(t *testing.T) {
	code, text, stderr := runDemo(t, "agent-cert-expired", "--check", "--timeout", "2s")
	if code != exitOK || !strings.Contains(text, "(1 day ago)") || strings.Contains(text, "h0m0s") {
		t.Errorf("text: exit %d, want \"(1 day ago)\" and no Go duration:\n%s\n%s", code, text, stderr)
	}
	_, nagios, _ := runDemo(t, "agent-cert-expired", "--check", "-o", "nagios", "--timeout", "2s")
	_, perf, _ := strings.Cut(strings.SplitN(nagios, "\n", 2)[0], " | ")
	labels := map[string]bool{}
	for _, p := range strings.Fields(perf) {
		name, _, _ := strings.Cut(p, "=")
		if labels[name] {
			t.Errorf("perfdata label %s repeated: %s", name, perf)
		}
		labels[name] = true
	}
	if !strings.Contains(perf, "agent_cert_days=-1;") || labels["served_cert_days"] || labels["ca2_cert_days"] {
		t.Errorf("perfdata %q: want agent_cert_days=-1 and one label per role", perf)
	}
	_, js, _ := runDemo(t, "agent-cert-expired", "--check", "-o", "json", "--timeout", "2s")
	if !strings.Contains(js, `"days_left": -1`) || strings.Contains(js, `"days_left": -2`) {
		t.Errorf("JSON days_left is not -1 for a certificate that expired a day ago:\n%s", js)
	}
}

// TestDemoHealthyClean: the healthy lab passes with no warning, and skipped checks that
// share a reason are one row.
func TestDemoHealthyClean(t *testing.T) {
	code, stdout, stderr := runDemo(t, "healthy", "--check", "-v", "--timeout", "2s")
	if code != exitOK || !strings.Contains(stdout, "Demo: the healthy lab passed every check.") ||
		!strings.Contains(stdout, "0 warnings") {
		t.Errorf("demo healthy: exit %d, want a clean pass:\n%s\n%s", code, stdout, stderr)
	}
	seen := map[string]bool{}
	for _, l := range strings.Split(stdout, "\n") {
		if strings.Contains(l, "skipped:") && seen[l] {
			t.Errorf("repeated row %q:\n%s", l, stdout)
		}
		seen[l] = true
	}
}

// TestDemoCleansUpOnSignalAndBrokenPipe runs the built binary the ways a demo gets cut
// short outside the assistant (the assistant's signals are TestTUISignals): a signal
// while the checks run, and a reader that leaves (`mtls-doctor demo | head -1`). Each
// must exit with 128+N, quietly, and leave no temporary PKI (private keys) behind.
func TestDemoCleansUpOnSignalAndBrokenPipe(t *testing.T) {
	bin := buildBinary(t)
	for _, sig := range []syscall.Signal{syscall.SIGPIPE, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT} {
		t.Run(sig.String(), func(t *testing.T) {
			tmp := t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), demoTimeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "demo", "agent-cert-expired")
			cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// The first line comes once the lab is up, before the checks run.
			first, err := bufio.NewReader(out).ReadString('\n')
			if !strings.HasPrefix(first, "Demo lab ") {
				t.Fatalf("first line %q (%v)", first, err)
			}
			if left, _ := filepath.Glob(filepath.Join(tmp, "mtls-doctor-demo-*")); len(left) != 1 {
				t.Fatalf("lab directories while it runs: %v", left)
			}
			if sig == syscall.SIGPIPE {
				out.Close() // what head does after its line: the report's write fails
			} else if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			err = cmd.Wait()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 128+int(sig) {
				t.Errorf("ended with %v, want exit code %d; stderr:\n%s", err, 128+int(sig), stderr.String())
			}
			if stderr.Len() > 0 {
				t.Errorf("stderr: %s", stderr.String())
			}
			if left, _ := filepath.Glob(filepath.Join(tmp, "mtls-doctor-demo-*")); len(left) > 0 {
				t.Errorf("demo directories left behind: %v", left)
			}
		})
	}
}

// TestClosedPipeExits141: output cut short by a reader that left ends any command with
// 141, quietly, also where the write error itself is not checked (a list).
func TestClosedPipeExits141(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	defer w.Close()
	var stderr bytes.Buffer
	// In-process the runtime's SIGPIPE would end the test binary on fd 1 or 2 only; w is
	// neither, so the write just fails with EPIPE, as it does for main once it took SIGPIPE.
	if code := run(context.Background(), []string{"demo", "--list"}, environ{}, strings.NewReader(""), w, &stderr); code != exitBrokenPipe || stderr.Len() > 0 {
		t.Errorf("exit %d, stderr %q; want %d and nothing", code, stderr.String(), exitBrokenPipe)
	}
}
