package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/charmbracelet/x/term"
	"github.com/spf13/cobra"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/internal/gather"
	"github.com/mtls-doctor/mtls-doctor/internal/safetext"
	"github.com/mtls-doctor/mtls-doctor/probes"
)

// Exit codes follow the Nagios plugin convention so monitoring can use them directly.
const (
	exitOK          = 0
	exitWarning     = 1
	exitFailure     = 2
	exitCannot      = 3 // could not run: bad flags, unwritable output, internal error
	exitInterrupted = 130
	// exitBrokenPipe is 128+SIGPIPE, what a shell reports for a writer whose reader left.
	exitBrokenPipe = 128 + int(syscall.SIGPIPE)
)

// version, commit and date are set by the release build (-ldflags -X).
var (
	version = "dev"
	commit  = "none"
	date    = "unknown"
)

// exitError carries an exit code out of a cobra command.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit %d", int(e)) }

// environ is the process environment and command line, injected so tests control them.
type environ struct {
	vars []string
	// args is the command line without the program name, recorded in Markdown reports.
	args []string
}

func (e environ) get(key string) string {
	for _, kv := range e.vars {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// checkFlags are the flags of the root command (and of demo, which runs the same check).
type checkFlags struct {
	check       bool
	output      string
	agentConfig string
	// agentConfigIsAgents: agentConfig is where the agent itself looks (the demo lab's).
	agentConfigIsAgents bool
	server              string
	serverName          string
	cert, key           string
	ca                  string
	timeout             time.Duration
	warnDays            int
	critDays            int
	warnPercent         int
	verbose             bool
	redact              bool
	nginx               nginxFlags // --nginx-config, --nginx-prefix (nginx_flags.go)
	logs                logFlags   // --logs, --since, --no-logs (logs.go)
}

func (c *checkFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.BoolVar(&c.check, "check", false, "run the checks once and print the result (no TUI)")
	fl.StringVarP(&c.output, "output", "o", "text", "output format of --check: text, json, markdown, nagios or prometheus")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(
		[]cobra.Completion{"text", "json", "markdown", "nagios", "prometheus"}, cobra.ShellCompDirectiveNoFileComp))
	fl.StringVar(&c.agentConfig, "agent-config", "", "agent configuration file (default: the agent's own search order)")
	fl.StringVar(&c.server, "server", "", "management plane endpoint HOST:PORT (overrides the agent config)")
	fl.StringVar(&c.serverName, "server-name", "", "TLS server name: SNI and the name verified (overrides server.command / command.tls.server_name)")
	fl.StringVar(&c.cert, "cert", "", "agent client certificate file (overrides tls.cert)")
	fl.StringVar(&c.key, "key", "", "agent private key file (overrides tls.key)")
	fl.StringVar(&c.ca, "ca", "", "CA file the agent verifies the server with (overrides tls.ca)")
	fl.DurationVar(&c.timeout, "timeout", 5*time.Second, "deadline for each network step (DNS, TCP, TLS, request)")
	th := diagnostics.DefaultThresholds()
	fl.IntVar(&c.warnDays, "warn-days", th.WarnDays, "warn when a certificate has fewer days left")
	fl.IntVar(&c.critDays, "crit-days", th.CritDays, "fail when a certificate has fewer days left")
	fl.IntVar(&c.warnPercent, "warn-percent", th.WarnPercent, "warn when less than this percentage of a certificate's lifetime is left")
	fl.BoolVarP(&c.verbose, "verbose", "v", false, "also list skipped checks and full fix steps for warnings")
	fl.BoolVar(&c.redact, "redact", false, "mask host names and IP addresses in Markdown reports (-o markdown and the assistant's e key)")
	c.nginx.register(cmd)
	c.logs.register(cmd)
}

func (c *checkFlags) validate() error {
	switch c.output {
	case "text", "json", "markdown", "nagios", "prometheus":
	default:
		return fmt.Errorf("unknown output format %q (want text, json, markdown, nagios or prometheus)", c.output)
	}
	if c.timeout <= 0 {
		return errors.New("--timeout must be positive")
	}
	if c.critDays < 0 || c.warnDays < c.critDays {
		return fmt.Errorf("--warn-days (%d) must be at least --crit-days (%d), both non-negative", c.warnDays, c.critDays)
	}
	if c.warnPercent < 0 || c.warnPercent > 100 {
		return errors.New("--warn-percent must be between 0 and 100")
	}
	return c.logs.validate()
}

func (c *checkFlags) thresholds() diagnostics.Thresholds {
	th := diagnostics.DefaultThresholds()
	th.WarnDays, th.CritDays, th.WarnPercent = c.warnDays, c.critDays, c.warnPercent
	return th
}

// engine builds the diagnostics engine over the live probes; singleRun is true for
// --check, whose one run keeps nothing for another (gather.Options.SingleRun).
func (c *checkFlags) engine(env environ, singleRun bool) *diagnostics.Engine {
	agent := probes.AgentConfigOptions{
		Path:         c.agentConfig,
		PathIsAgents: c.agentConfigIsAgents,
		Env:          env.vars,
		Overrides: probes.AgentOverrides{
			Server: c.server, ServerName: c.serverName, Cert: c.cert, Key: c.key, CA: c.ca,
		},
	}
	return &diagnostics.Engine{
		Catalog: diagnostics.DefaultCatalog(),
		Gatherer: gather.New(gather.Options{Agent: agent, Timeout: c.timeout, Nginx: c.nginx.options(), Logs: c.logs.options(env),
			SingleRun: singleRun}),
		Thresholds: c.thresholds(),
	}
}

// run is the whole program with its I/O injected; it returns the exit code.
func run(ctx context.Context, args []string, env environ, stdin io.Reader, stdout, stderr io.Writer) int {
	env.args = args
	out := &writeTracker{w: stdout}
	root := newRootCommand(ctx, env, out, stderr)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(out)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	var code exitError
	switch {
	case errors.Is(out.err, syscall.EPIPE) || errors.Is(err, syscall.EPIPE):
		return exitBrokenPipe // the reader left (`| head`): nobody to tell
	case out.err != nil && (err == nil || errors.As(err, &code) && int(code) < exitCannot):
		// Output that did not arrive (a full disk, a closed pipe) is a run that failed,
		// whatever printed it: version, --help, explain --list, demo --list, a report.
		fmt.Fprintf(stderr, "mtls-doctor: write: %v\n", out.err)
		return exitCannot
	case err == nil:
		return exitOK
	case errors.As(err, &code):
		return int(code)
	case ctx.Err() != nil:
		return exitInterrupted
	default:
		// An error may quote a flag's value or a file: show it as text, without secrets.
		fmt.Fprintf(stderr, "mtls-doctor: %s\n", safetext.Clean(err.Error()))
		return exitCannot
	}
}

// writeTracker remembers the first error writing to w, so that no command's failed write
// goes unnoticed.
type writeTracker struct {
	w   io.Writer
	err error
}

func (t *writeTracker) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	if err != nil && t.err == nil {
		t.err = err
	}
	return n, err
}

// unwrapWriter is the writer under a writeTracker: the terminal the assistant drives.
func unwrapWriter(w io.Writer) io.Writer {
	if t, ok := w.(*writeTracker); ok {
		return t.w
	}
	return w
}

func newRootCommand(ctx context.Context, env environ, stdout, stderr io.Writer) *cobra.Command {
	var flags checkFlags
	var tf tuiFlags
	root := &cobra.Command{
		Use:   "mtls-doctor",
		Short: "Find out why an NGINX Agent cannot reach its management plane over mutual TLS",
		Long: `mtls-doctor reads the NGINX Agent's configuration, probes the management plane
the way the agent does (with the agent's own certificate, then one real gRPC request),
judges the certificates, chain, names and NGINX's answer, and shows the fix for this host.

On a terminal it opens the interactive assistant; otherwise, or with --check, it prints
the result once. Exit codes: 0 ok, 1 warnings, 2 failures, 3 could not run.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := flags.validate(); err != nil {
				return err
			}
			if wantTUI(flags, env, stdout, stderr) {
				return runTUI(ctx, flags, tf, env, stdout)
			}
			return runCheck(ctx, flags.engine(env, true), flags, env, stdout)
		},
	}
	root.SetVersionTemplate("mtls-doctor {{.Version}}\n")
	root.SetFlagErrorFunc(flagError) // inherited by every subcommand
	flags.register(root)
	tf.register(root)
	root.AddCommand(newExplainCommand(stdout), newDemoCommand(ctx, env, stdout, stderr), newVersionCommand(stdout),
		newLogsCommand(ctx, env, stdout, stderr), newMeshCommand(ctx, env, stdout, stderr), newUndoCommand(stdout, stderr))
	if gen := newGenCommand(stdout); gen != nil { // only with -tags gen (the release build's hook)
		root.AddCommand(gen)
	}
	root.CompletionOptions.DisableDefaultCmd = true
	return root
}

// runCheck runs every check once and prints the report in the chosen format.
func runCheck(ctx context.Context, e *diagnostics.Engine, flags checkFlags, env environ, stdout io.Writer) error {
	report := e.Run(ctx, nil, nil, nil)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := writeReport(stdout, report, flags, env, ""); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return exitCodeError(diagnostics.ExitCode(report))
}

func exitCodeError(code int) error {
	if code == exitOK {
		return nil
	}
	return exitError(code)
}

// writeReport prints r in the format of -o; title heads a Markdown report ("" names the host).
func writeReport(w io.Writer, r *diagnostics.Report, flags checkFlags, env environ, title string) error {
	switch flags.output {
	case "markdown":
		return diagnostics.WriteMarkdown(w, r, markdownOptions(flags, env, title))
	case "json":
		return diagnostics.WriteJSON(w, r)
	case "nagios":
		return diagnostics.WriteNagios(w, r)
	case "prometheus":
		return diagnostics.WritePrometheus(w, r)
	}
	return diagnostics.WriteText(w, r, textOptions(w, env, flags.verbose))
}

// markdownOptions describe a Markdown report made by this process: its version, command
// line and host. title, when set, replaces the host name as the line under the heading.
func markdownOptions(flags checkFlags, env environ, title string) diagnostics.MarkdownOptions {
	md := reportIdentity(flags, env, title)
	md.Catalog = append(diagnostics.DefaultCatalog(), diagnostics.MeshCatalog()...)
	return md
}

// reportIdentity is markdownOptions without the catalog: what the assistant stamps on
// the reports it saves. Assembling a catalog costs ~1 ms before the first frame.
func reportIdentity(flags checkFlags, env environ, title string) diagnostics.MarkdownOptions {
	host, _ := os.Hostname()
	return diagnostics.MarkdownOptions{Title: title, Version: versionString(), Args: env.args, Hostname: host, Redact: flags.redact}
}

// textOptions decides colour and glyphs: colour only on a terminal without NO_COLOR,
// Unicode glyphs only when the locale says UTF-8 (a bare SSH session often has none).
func textOptions(w io.Writer, env environ, verbose bool) diagnostics.TextOptions {
	return diagnostics.TextOptions{
		Color:   isTerminal(w) && env.get("NO_COLOR") == "" && env.get("TERM") != "dumb",
		ASCII:   !utf8Locale(env),
		Verbose: verbose,
	}
}

func utf8Locale(env environ) bool {
	for _, k := range []string{"LC_ALL", "LC_CTYPE", "LANG"} {
		if v := env.get(k); v != "" {
			v = strings.ToLower(v)
			return strings.Contains(v, "utf-8") || strings.Contains(v, "utf8")
		}
	}
	return false
}

// isTerminal reports whether w is a terminal. A character device is not enough:
// /dev/null is one too, and `mtls-doctor demo >/dev/null` must not open the TUI.
func isTerminal(w io.Writer) bool {
	f, ok := unwrapWriter(w).(*os.File)
	return ok && term.IsTerminal(f.Fd())
}
