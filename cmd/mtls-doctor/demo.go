package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	demolab "github.com/mtls-doctor/mtls-doctor/probes/lab"
)

// defaultScenario is what `mtls-doctor demo` shows without an argument: the failure every
// handshake-only tool calls healthy (the handshake succeeds, NGINX answers 400 afterwards).
const defaultScenario = "agent-cert-expired"

func newDemoCommand(ctx context.Context, env environ, stdout, stderr io.Writer) *cobra.Command {
	var flags checkFlags
	var list bool
	cmd := &cobra.Command{
		Use:   "demo [SCENARIO]",
		Short: "Run the checks against a built-in lab with a chosen fault (--list shows them)",
		Long: `demo starts, in this process and on 127.0.0.1 only, a manager endpoint that behaves
like NGINX with ssl_verify_client on, a PKI generated for it in a temporary directory, and
an agent configuration pointing at it, with one fault planted; then runs the checks.
It exits 0 when the diagnosis names the planted fault (or finds nothing wrong in
"healthy"), 1 when it does not, 3 when the lab could not start.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if list {
				for _, s := range demolab.Scenarios() {
					fmt.Fprintf(stdout, "%-28s %s\n", s.Name, s.Title)
				}
				return nil
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

			fmt.Fprintf(stdout, "Demo lab %q: %s\n", scenario.Name, scenario.Title)
			fmt.Fprintf(stdout, "  manager endpoint %s (in-process, behaves like NGINX with ssl_verify_client on)\n", l.Addr)
			fmt.Fprintf(stdout, "  agent config     %s\n\n", l.AgentConfigPath)

			flags.agentConfig = l.AgentConfigPath
			// The host's own NGINX_AGENT_* variables must not leak into the lab's agent.
			report := flags.engine(environ{}).Run(ctx, nil, nil, nil)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err := writeReport(stdout, report, flags, env); err != nil {
				return fmt.Errorf("write report: %w", err)
			}
			if flags.output != "text" {
				return exitCodeError(demoVerdict(io.Discard, report, scenario))
			}
			fmt.Fprintln(stdout)
			return exitCodeError(demoVerdict(stdout, report, scenario))
		},
	}
	flags.register(cmd)
	cmd.Flags().BoolVar(&list, "list", false, "list the scenarios")
	return cmd
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
		if r.Status() == diagnostics.SeverityFail {
			fmt.Fprintln(w, "Demo: the healthy lab was reported as failing; please report this.")
			return 1
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
