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

// tuiFlags are the flags of the assistant (root and demo); --redact is a checkFlag, as it
// also applies to -o markdown.
type tuiFlags struct {
	reportDir string
}

func (t *tuiFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&t.reportDir, "report-dir", "", "where the assistant's e key writes reports (default: the current directory)")
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
	md := markdownOptions(flags, env, "")
	return assistantExit(tui.Run(ctx, tui.Options{
		Engine:    flags.engine(env),
		Logs:      logs,
		Title:     title,
		Output:    unwrapWriter(stdout),
		NoColor:   !text.Color,
		ASCII:     text.ASCII,
		Redact:    flags.redact,
		ReportDir: tf.reportDir,
		Version:   md.Version,
		Args:      md.Args,
		Hostname:  md.Hostname,
	}))
}

// assistantExit turns how the assistant ended into the command's result: after q the
// last run's verdict (0, 1 or 2, as --check), 130 after Ctrl+C, 3 when the user left
// before the first run finished. On a signal, main exits with 128+N whatever this says.
func assistantExit(r tui.Result, err error) error {
	switch {
	case err != nil:
		return err
	case r.Interrupted:
		return exitError(exitInterrup)
	case r.Verdict == nil:
		return exitError(exitCannot)
	}
	return exitCodeError(diagnostics.ExitCode(r.Verdict))
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
