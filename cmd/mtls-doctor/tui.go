package main

import (
	"context"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/internal/gather"
	"github.com/mtls-doctor/mtls-doctor/internal/playbook"
	"github.com/mtls-doctor/mtls-doctor/probes"
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
	var logs tui.LogSource
	if !flags.logs.noLogs {
		logs = liveLogs(flags, env)
	}
	title := "this host"
	if h, err := os.Hostname(); err == nil && h != "" {
		title = h
	}
	return runAssistant(ctx, tui.Options{
		Engine: flags.engine(env, false),
		Apply:  hostApplyOptions(flags),
		Logs:   logs,
		Title:  title,
	}, flags, tf, env, stdout)
}

// runAssistant shows the assistant for o (what it judges: engine, apply, logs, title) on
// stdout, with the terminal, report and redaction settings of the flags, and turns how it
// ended into the command's result (assistantExit). The root command and demo share it.
func runAssistant(ctx context.Context, o tui.Options, flags checkFlags, tf tuiFlags, env environ, stdout io.Writer) error {
	text := textOptions(stdout, env, flags.verbose)
	md := reportIdentity(flags, env, "")
	o.Output, o.NoColor, o.ASCII = unwrapWriter(stdout), !text.Color, text.ASCII
	o.Redact, o.ReportDir = flags.redact, tf.reportDir
	o.Version, o.Args, o.Hostname = md.Version, md.Args, md.Hostname
	return assistantExit(tui.Run(ctx, o))
}

// assistantExit turns how the assistant ended into the command's result: after q the
// last run's verdict (0, 1 or 2, as --check), 130 after Ctrl+C, 3 when the user left
// before the first run finished. On a signal, main exits with 128+N whatever this says.
func assistantExit(r tui.Result, err error) error {
	switch {
	case err != nil:
		return err
	case r.Interrupted:
		return exitError(exitInterrupted)
	case r.Verdict == nil:
		return exitError(exitCannot)
	}
	return exitCodeError(diagnostics.ExitCode(r.Verdict))
}

// liveLogs finds the logs when the Logs screen starts following them: finding them reads
// the agent and NGINX configurations, which must not hold up the first frame.
func liveLogs(flags checkFlags, env environ) tui.LogSource {
	return tui.LogSourceFunc(func(ctx context.Context, out chan<- tui.LogLine) error {
		c := gather.New(gather.Options{
			Agent: probes.AgentConfigOptions{Path: flags.agentConfig, Env: env.vars},
			Nginx: flags.nginx.options(),
		})
		f := &diagnostics.Facts{Errors: map[diagnostics.FactKind]string{}}
		_ = c.Gather(ctx, diagnostics.FactAgentConfig, f) // none found: the default agent log
		if f.Nginx == nil {
			_ = c.Gather(ctx, diagnostics.FactNginx, f)
		}
		files := gather.LogFiles(f.Agent, f.Nginx, flags.logs.paths, gather.DefaultLogFiles())
		if err := followable(files); err != nil { // --logs /dev/zero ran the TUI out of memory
			return err
		}
		return tui.FollowLogFiles(files, location(env)).Follow(ctx, out)
	})
}

// hostApplyOptions are the assistant's apply options on this host: commands run in the
// current directory, backups go to the XDG state directory (`mtls-doctor undo` restores
// them), nginx -t tests the configuration judged. The host is the manager when only an
// NGINX configuration is given, the agent when only an agent configuration is; otherwise
// a step for either host may run here (one for a host this is not fails and is rolled
// back). Nil, and `a` off, when there is no journal directory.
func hostApplyOptions(flags checkFlags) *tui.ApplyOptions {
	root, err := playbook.DefaultJournalRoot()
	if err != nil {
		return nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return nil
	}
	o := &tui.ApplyOptions{Env: playbook.Env{Dir: dir}, JournalRoot: root, Where: "this host"}
	switch {
	case flags.nginx.config != "" && flags.agentConfig == "":
		o.Host = diagnostics.HostManager
	case flags.agentConfig != "" && flags.nginx.config == "":
		o.Host = diagnostics.HostAgent
	}
	if c := flags.nginx.config; c != "" && c != probes.StdinName {
		o.NginxTest = "nginx -t -c " + diagnostics.ShellQuote(c)
		if flags.nginx.prefix != "" {
			o.NginxTest += " -p " + diagnostics.ShellQuote(flags.nginx.prefix)
		}
	}
	return o
}
