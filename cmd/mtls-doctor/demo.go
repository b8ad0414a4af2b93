package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/internal/demolab"
	"github.com/mtls-doctor/mtls-doctor/internal/playbook"
	"github.com/mtls-doctor/mtls-doctor/logparse"
	"github.com/mtls-doctor/mtls-doctor/tui"
)

// defaultScenario is what `mtls-doctor demo` shows without an argument: the failure every
// handshake-only tool calls healthy (the handshake succeeds, NGINX answers 400 afterwards).
const defaultScenario = "agent-cert-expired"

func newDemoCommand(ctx context.Context, env environ, stdout, stderr io.Writer) *cobra.Command {
	var flags checkFlags
	var tf tuiFlags
	var list bool
	cmd := &cobra.Command{
		Use:   "demo [SCENARIO]",
		Short: "Run the checks against a built-in lab with a chosen fault (--list shows them)",
		Long: `demo starts, in this process and on 127.0.0.1 only, a manager endpoint that behaves
like NGINX with ssl_verify_client on, a PKI generated for it in a temporary directory, and
an agent configuration pointing at it, with one fault planted; then runs the checks.
The scenarios labelled "NGINX → upstream" add a front server whose location passes to
an upstream requiring a client certificate (proxy_pass https://, grpc_pass grpcs://) and
plant the fault in that link.
On a terminal it opens the assistant, where the fix walkthrough's "a" key runs the
step shown, its own commands, against the lab's files (nginx, systemctl and sudo are the
lab's stand-ins there). With --check, or when stdout is not a terminal, it prints the report and
exits 0 when the diagnosis names the planted fault (or finds nothing failing in
"healthy"), 1 when it does not, 3 when the lab could not start.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if list {
				// Each line names the mTLS link its fault is on: the agent's to the
				// manager, or NGINX's to an upstream (proxy_pass https://, grpc_pass grpcs://).
				var entries []listEntry
				for _, s := range demolab.Scenarios() {
					link := "agent → manager"
					if s.Upstream {
						link = "NGINX → upstream"
					}
					entries = append(entries, listEntry{s.Name, link, s.Title})
				}
				return writeList(stdout, terminalWidth(stdout), entries)
			}
			if err := flags.validate(); err != nil {
				return err
			}
			name := defaultScenario
			if len(args) == 1 {
				name = args[0]
			}
			scenario, ok := findScenario(name)
			if !ok {
				return fmt.Errorf("no demo scenario %q; 'mtls-doctor demo --list' shows them", name)
			}
			dir, err := os.MkdirTemp("", "mtls-doctor-demo-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			l, err := demolab.Start(ctx, scenario.Name, dir, time.Now())
			if err != nil {
				return fmt.Errorf("start demo lab: %w", err)
			}
			defer l.Close()

			if wantTUI(flags, env, stdout, stderr) {
				return runDemoTUI(ctx, l, flags, tf, env, stdout)
			}

			// Machine formats keep stdout to the report alone; the lab's description goes
			// with the text report only.
			if flags.output == "text" {
				fmt.Fprintf(stdout, "Demo lab %q: %s\n", scenario.Name, scenario.Title)
				fmt.Fprintf(stdout, "  manager endpoint %s (in-process, behaves like NGINX with ssl_verify_client on)\n", l.Addr)
				if l.HasUpstream() {
					fmt.Fprintf(stdout, "  upstream link    %s → %s (the front's location in %s)\n", demolab.FrontName, l.UpstreamAddr(), l.NginxConfPath())
				}
				fmt.Fprintf(stdout, "  agent config     %s\n\n", l.AgentConfigPath)
			}

			report := labEngine(l, flags).Run(ctx, nil, nil, nil)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err := writeReport(stdout, report, flags, env, "demo: "+scenario.Name); err != nil {
				return fmt.Errorf("write report: %w", err)
			}
			if flags.output != "text" {
				return exitCodeError(demoVerdict(io.Discard, report, scenario))
			}
			fmt.Fprintln(stdout)
			showLabLog(stdout, l.ErrorLogPath())
			return exitCodeError(demoVerdict(stdout, report, scenario))
		},
	}
	flags.register(cmd)
	tf.register(cmd)
	cmd.Flags().BoolVar(&list, "list", false, "list the scenarios")
	return cmd
}

// labEngine is the engine over the lab: its agent configuration and the NGINX
// configuration its endpoint behaves like. Nothing of the host's own agent, NGINX or logs
// may leak in, nor its NGINX_AGENT_* variables. The lab's error.log is shown beside the
// checks rather than read by them: on one host the probe's own requests (the one without
// a certificate among them) would count as the agent's, and lines from before a fix would
// keep the re-check failing.
func labEngine(l *demolab.Lab, flags checkFlags) *diagnostics.Engine {
	// The lab's nginx-agent.conf is where its agent reads it, not a path the user typed: a
	// missing one is the agent's to create, not a --agent-config to correct.
	flags.agentConfig, flags.agentConfigIsAgents = l.AgentConfigPath, true
	flags.nginx.config = l.NginxConfPath()
	flags.logs.noLogs = true
	flags.logs.offReason = "not judged in the demo: the lab's error.log records mtls-doctor's own probes (the text report shows its last lines)"
	return flags.engine(environ{}, false)
}

// runDemoTUI opens the assistant on the lab, where the fix walkthrough's `a` runs the
// step shown against the lab's files (labApplyOptions), and its error.log on the Logs screen. It exits as the assistant
// does everywhere (assistantExit): with the last run's verdict on the lab.
func runDemoTUI(ctx context.Context, l *demolab.Lab, flags checkFlags, tf tuiFlags, env environ, stdout io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("demo lab shims: %w", err)
	}
	if err := l.InstallShims(exe); err != nil {
		return err
	}
	return runAssistant(ctx, tui.Options{
		Engine: labEngine(l, flags),
		Apply:  labApplyOptions(l),
		Logs:   tui.RawLogSource(l.ErrorLogPath(), time.Local, followFromStart(l.ErrorLogPath())),
		Title:  "demo: " + l.Scenario.Name,
	}, flags, tf, env, stdout)
}

// labLogLines is how many of the lab's last error.log lines the demo shows.
const labLogLines = 6

// showLabLog prints the end of the lab's error.log: NGINX's own words for what it did,
// which a real NGINX writes only at error_log level info.
func showLabLog(w io.Writer, path string) {
	data, err := os.ReadFile(path)
	if err != nil || len(data) == 0 {
		return
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	lines = lines[max(0, len(lines)-labLogLines):]
	fmt.Fprintln(w, "What the lab's NGINX logged (error_log info; mtls-doctor's second request carries no certificate):")
	for _, line := range lines {
		fmt.Fprintln(w, "  "+line)
	}
	fmt.Fprintln(w)
}

func findScenario(name string) (demolab.Scenario, bool) {
	for _, s := range demolab.Scenarios() {
		if s.Name == name {
			return s, true
		}
	}
	return demolab.Scenario{}, false
}

// demoVerdict says whether the diagnosis found the planted fault and returns the exit code:
// 0 when it did (or when a healthy lab is reported healthy), 1 otherwise.
func demoVerdict(w io.Writer, r *diagnostics.Report, s demolab.Scenario) int {
	if s.ExpectFinding == "" {
		switch r.Status() {
		case diagnostics.SeverityFail:
			fmt.Fprintln(w, "Demo: the healthy lab was reported as failing; please report this.")
			return 1
		case diagnostics.SeverityWarn:
			fmt.Fprintln(w, "Demo: the healthy lab has no failures; the warnings above are advice for its NGINX configuration.")
			return 0
		}
		fmt.Fprintln(w, "Demo: the healthy lab passed every check.")
		return 0
	}
	for _, f := range r.Findings {
		if f.ID == s.ExpectFinding && f.Problem() {
			fmt.Fprintf(w, "Demo: mtls-doctor found the planted fault (%s). Try 'mtls-doctor explain %s'.\n", f.ID, f.ID)
			return 0
		}
	}
	fmt.Fprintf(w, "Demo: the planted fault %s was not reported; please report this.\n", s.ExpectFinding)
	return 1
}

// followFromStart sends the lab's log lines, those already there and those appended later,
// until ctx is done: the lab's whole log is of interest, and it is small.
func followFromStart(path string) func(ctx context.Context, out chan<- string) error {
	return func(ctx context.Context, out chan<- string) error {
		for l := range (logparse.PollFollower{FromStart: true}).Follow(ctx, path) {
			if l.Err != nil {
				return l.Err
			}
			if l.Notice != "" {
				continue // the lab's log is not rotated; nobody else writes it
			}
			select {
			case out <- l.Text:
			case <-ctx.Done():
				return nil
			}
		}
		return nil
	}
}

// labEnv is where a step's commands run in the demo: in the lab's directory, with its shims
// first on PATH (nginx, systemctl, sudo … act on the lab) and its placeholders filled.
func labEnv(l *demolab.Lab) playbook.Env {
	return playbook.Env{Dir: l.Dir, Path: []string{l.BinDir()}, Inputs: l.Inputs(),
		Vars: []string{"TMPDIR=" + l.Dir}}
}

// labApplyOptions are the assistant's apply options in the lab: its environment, its
// journal, its nginx -t; the lab is both hosts.
func labApplyOptions(l *demolab.Lab) *tui.ApplyOptions {
	a := labApplier(l)
	return &tui.ApplyOptions{Env: a.Env, JournalRoot: a.JournalRoot, NginxTest: a.NginxTest, Confine: a.Confine, Where: "the demo lab"}
}

// labApplier applies steps in the lab as on a real host: backups into a journal under the
// lab's directory, `nginx -t` of the lab's nginx.conf before any reload, and a rollback.
// A step that would change anything outside the lab's directory is refused: the demo
// runs as the user (often root) on a real machine.
func labApplier(l *demolab.Lab) *playbook.Applier {
	return &playbook.Applier{Env: labEnv(l), JournalRoot: filepath.Join(l.Dir, "journal"),
		NginxTest: "nginx -t -c " + diagnostics.ShellQuote(l.NginxConfPath()), Confine: l.Dir}
}
