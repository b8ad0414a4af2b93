package main

import (
	"context"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/collect"
	"github.com/mtls-doctor/mtls-doctor/tui"
)

// tuiFlags are the root command's flags for the assistant.
type tuiFlags struct {
	redact    bool
	reportDir string
}

func (t *tuiFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.BoolVar(&t.redact, "redact", false, "mask host names and IP addresses in reports exported from the assistant (e)")
	fl.StringVar(&t.reportDir, "report-dir", "", "where the assistant's e key writes reports (default: the current directory)")
}

// wantTUI reports whether the root command opens the assistant: stdout is a terminal and
// neither --check nor a machine output format was asked for.
func wantTUI(flags checkFlags, stdout io.Writer) bool {
	return !flags.check && flags.output == "text" && isTerminal(stdout)
}

// runTUI opens the assistant over the live probes, following the NGINX and agent logs the
// configurations name (unless --no-logs).
func runTUI(ctx context.Context, flags checkFlags, tf tuiFlags, env environ, stdout io.Writer) error {
	text := textOptions(stdout, env, flags.verbose)
	var logs tui.LogSource
	if !flags.logs.noLogs {
		logs = liveLogs(flags, env)
	}
	title := "this host"
	if h, err := os.Hostname(); err == nil && h != "" {
		title = h
	}
	return tui.Run(ctx, tui.Options{
		Engine:    flags.engine(env),
		Logs:      logs,
		Title:     title,
		Output:    unwrapWriter(stdout),
		NoColor:   !text.Color,
		ASCII:     text.ASCII,
		Redact:    tf.redact,
		ReportDir: tf.reportDir,
	})
}

// liveLogs finds the logs when the Logs screen starts following them: finding them reads
// the agent and NGINX configurations, which must not hold up the first frame.
func liveLogs(flags checkFlags, env environ) tui.LogSource {
	return tui.LogSourceFunc(func(ctx context.Context, out chan<- tui.LogLine) error {
		c := collect.New(collect.Options{
			Agent: probes.AgentConfigOptions{Path: flags.agentConfig, Env: env.vars},
			Nginx: flags.nginx.options(),
		})
		f := &diagnostics.Facts{Errors: map[diagnostics.FactKind]string{}}
		_ = c.Gather(ctx, diagnostics.FactAgentConfig, f) // none found: the default agent log
		if f.Nginx == nil {
			_ = c.Gather(ctx, diagnostics.FactNginx, f)
		}
		files := collect.LogFiles(f.Agent, f.Nginx, flags.logs.paths, collect.DefaultLogFiles())
		if err := followable(files); err != nil { // --logs /dev/zero ran the TUI out of memory
			return err
		}
		return tui.FollowLogFiles(files, location(env)).Follow(ctx, out)
	})
}
