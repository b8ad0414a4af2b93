package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/internal/gather"
	"github.com/mtls-doctor/mtls-doctor/internal/safetext"
	"github.com/mtls-doctor/mtls-doctor/logparse"
	"github.com/mtls-doctor/mtls-doctor/probes"
)

// logFlags are the root command's log flags: which logs --check reads, over which window.
type logFlags struct {
	paths  []string
	since  time.Duration
	noLogs bool
	// offReason, when set, says why the logs are off instead of naming --no-logs.
	offReason string
}

func (l *logFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringSliceVar(&l.paths, "logs", nil, "also read these log files (NGINX error/access or agent; comma-separated or repeated)")
	fl.DurationVar(&l.since, "since", gather.DefaultSince, "how far back the NGINX and agent logs are read")
	fl.BoolVar(&l.noLogs, "no-logs", false, "read no logs")
}

func (l *logFlags) validate() error {
	if l.since <= 0 {
		return errors.New("--since must be positive")
	}
	return nil
}

// options are the collector's log options.
func (l *logFlags) options(env environ) gather.LogOptions {
	return gather.LogOptions{Paths: l.paths, Since: l.since, Disabled: l.noLogs, DisabledReason: l.offReason, Location: location(env)}
}

// location is the zone NGINX wrote its error-log times in: the host's (TZ when set).
func location(env environ) *time.Location {
	if tz := env.get("TZ"); tz != "" {
		if loc, err := time.LoadLocation(strings.TrimPrefix(tz, ":")); err == nil {
			return loc
		}
	}
	return time.Local
}

// logsCmd holds the flags of `mtls-doctor logs`.
type logsCmd struct {
	since       time.Duration
	output      string
	follow      bool
	agentConfig string
	nginx       nginxFlags
}

func newLogsCommand(ctx context.Context, env environ, stdout, stderr io.Writer) *cobra.Command {
	var lc logsCmd
	cmd := &cobra.Command{
		Use:   "logs [FILE...]",
		Short: "Summarise what NGINX and the agent logged about the agent's mTLS connection",
		Long: `logs reads the NGINX error and access logs and the agent's log — the files the NGINX and
agent configurations name, else the default paths, or the FILEs given — over the last
--since, classifies every line about the agent's mutual TLS connection by the finding it
backs (mtls-doctor explain KIND), and prints a summary per kind and the clients that
failed most. Rotated files (.1, .2.gz, …) are read too. With --follow it streams the
classified events as they are written, until interrupted.

NGINX logs client-certificate rejections at [info]: raise error_log to info to see them.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch lc.output {
			case "text", "json":
			default:
				return fmt.Errorf("unknown output format %q (want text or json)", lc.output)
			}
			if lc.since < 0 {
				return errors.New("--since must not be negative")
			}
			files := lc.files(ctx, env, args)
			if lc.follow {
				return followLogs(ctx, files, lc.output, location(env), stdout, stderr)
			}
			now := time.Now()
			rep := logparse.Scan(ctx, files, logparse.Options{Now: now, Since: lc.since, Location: location(env)})
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var err error
			if lc.output == "json" {
				err = writeLogsJSON(stdout, rep)
			} else {
				var older *olderEvents
				if len(rep.Summaries) == 0 && lc.since > 0 && anyRead(rep) {
					// Nothing in the window: read the whole files once to say whether the
					// events are just older, and how far back --since has to reach.
					older = countOlder(logparse.Scan(ctx, files, logparse.Options{Now: now, Location: location(env)}), now)
				}
				width := 0 // piped: whole lines, for grep and tickets
				if isTerminal(stdout) {
					width = textWidth
				}
				err = writeLogsText(stdout, rep, lc.since, width, older)
			}
			if err != nil {
				return fmt.Errorf("write summary: %w", err)
			}
			if !anyRead(rep) {
				for _, f := range rep.Files {
					fmt.Fprintf(stderr, "mtls-doctor: %s\n", safetext.Clean(f.Skipped))
				}
				return exitError(exitCannot)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.DurationVar(&lc.since, "since", gather.DefaultSince, "how far back to read (0 reads the whole files)")
	fl.StringVarP(&lc.output, "output", "o", "text", "output format: text or json")
	fl.BoolVarP(&lc.follow, "follow", "f", false, "stream classified events as they are written, until Ctrl+C")
	fl.StringVar(&lc.agentConfig, "agent-config", "", "agent configuration file whose log.path names the agent's log")
	lc.nginx.register(cmd)
	return cmd
}

// files are the FILE arguments, or the logs the configurations name.
func (lc *logsCmd) files(ctx context.Context, env environ, args []string) []logparse.File {
	nginx := lc.nginx.options()
	if len(args) > 0 {
		// The files are named: only the configuration's log_format definitions matter,
		// and neither `nginx -V` (compiled-in paths) nor `nginx -t` changes one.
		nginx.NoBinary = true
	}
	c := gather.New(gather.Options{
		Agent: probes.AgentConfigOptions{Path: lc.agentConfig, Env: env.vars},
		Nginx: nginx,
	})
	f := &diagnostics.Facts{Errors: map[diagnostics.FactKind]string{}}
	if len(args) > 0 {
		// Only the NGINX configuration matters: its log formats.
		if lc.nginx.config != "" {
			_ = c.Gather(ctx, diagnostics.FactNginx, f) // no configuration: the predefined formats
		}
		return gather.ExtraLogFiles(f.Nginx, args, "argument")
	}
	_ = c.Gather(ctx, diagnostics.FactAgentConfig, f) // none found: the default agent log
	if f.Nginx == nil {
		_ = c.Gather(ctx, diagnostics.FactNginx, f)
	}
	return gather.LogFiles(f.Agent, f.Nginx, nil, gather.DefaultLogFiles())
}

func anyRead(rep *logparse.Report) bool {
	for _, f := range rep.Files {
		if f.Skipped == "" {
			return true
		}
	}
	return false
}

// logsJSON is the documented JSON of `mtls-doctor logs -o json`.
type logsJSON struct {
	Version int             `json:"version"`
	Events  []logsJSONEvent `json:"events"`
}

type logsJSONEvent struct {
	Kind      string    `json:"kind"`
	Source    string    `json:"source"`
	Count     int       `json:"count"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Clients   []string  `json:"clients"`
	X509Code  int       `json:"x509_code"`
	Example   string    `json:"example"`
	// Upstream is the upstream server of an upstream-* group: each link is summed apart.
	Upstream string `json:"upstream,omitempty"`
}

func writeLogsJSON(w io.Writer, rep *logparse.Report) error {
	out := logsJSON{Version: 1, Events: []logsJSONEvent{}}
	for _, s := range rep.Summaries {
		e := logsJSONEvent{
			Kind: string(s.Kind), Source: string(s.Source), Count: s.Count,
			FirstSeen: s.FirstSeen, LastSeen: s.LastSeen, Clients: []string{}, X509Code: s.X509Code,
			Upstream: s.Upstream,
		}
		for _, c := range s.Clients {
			e.Clients = append(e.Clients, c.Client)
		}
		if len(s.Examples) > 0 {
			e.Example = safetext.Scrub(s.Examples[0]) // JSON escapes control characters itself
		}
		out.Events = append(out.Events, e)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// textWidth is what the text summary fits in on a terminal: an 80-column SSH session.
const textWidth = 80

// olderEvents are the classified events before the --since window.
type olderEvents struct {
	count  int
	newest time.Time
	age    time.Duration // of the newest, at the scan's end
}

// countOlder totals the events of a whole-file scan (made when the window had none).
func countOlder(whole *logparse.Report, now time.Time) *olderEvents {
	o := &olderEvents{}
	for _, s := range whole.Summaries {
		o.count += s.Count
		if s.LastSeen.After(o.newest) {
			o.newest = s.LastSeen
		}
	}
	if o.count == 0 {
		return nil
	}
	o.age = now.Sub(o.newest)
	return o
}

// sinceToReach is a --since that reaches back past age: whole hours under a day, else
// whole days (as hours, which --since parses), rounded up with a little to spare.
func sinceToReach(age time.Duration) string {
	if age < 24*time.Hour {
		return fmt.Sprintf("%dh", int(age/time.Hour)+2)
	}
	return fmt.Sprintf("%dh", (int(age/(24*time.Hour))+1)*24)
}

// writeLogsText writes the summary; width > 0 clips long lines to it (a terminal), 0
// keeps them whole.
func writeLogsText(w io.Writer, rep *logparse.Report, since time.Duration, width int, older *olderEvents) error {
	clipTo := func(s string, indent int) string {
		if width == 0 {
			return s
		}
		return clip(s, width-indent)
	}
	var b strings.Builder
	if rep.From.IsZero() {
		b.WriteString("Logs read (whole files):\n")
	} else {
		fmt.Fprintf(&b, "Logs read (last %s, %s to %s):\n", shortDuration(since), rep.From.Format("2006-01-02 15:04"), rep.To.Format("15:04"))
	}
	for _, f := range rep.Files {
		if f.Skipped != "" {
			if f.Origin == gather.OriginDefault && strings.HasSuffix(f.Skipped, "does not exist") {
				continue // a default path for software this host does not run
			}
			fmt.Fprintf(&b, "  - %s\n", f.Skipped)
			continue
		}
		what := f.Origin
		if f.Level != "" {
			what += ", level " + f.Level
		}
		fmt.Fprintf(&b, "  %s (%s)\n      %s, %s", f.Path, what, diagnostics.Plural(f.Lines, "line"), diagnostics.Plural(f.Classified, "event"))
		if n := len(f.Read) - 1; n > 0 {
			fmt.Fprintf(&b, ", %s", diagnostics.Plural(n, "rotated file"))
		}
		if f.Err != "" {
			fmt.Fprintf(&b, ", stopped: %s", f.Err)
		}
		b.WriteString("\n")
		if f.Type == logparse.TypeNginxError && f.Level != "" && logparse.LevelRank(f.Level) < logparse.LevelRank("info") {
			fmt.Fprintf(&b, "      level %s hides NGINX's client-certificate errors (logged at info)\n", f.Level)
		}
	}
	b.WriteString("\n")
	if len(rep.Summaries) == 0 {
		if older != nil {
			fmt.Fprintf(&b, "No mTLS events in the last %s: %s before the window; newest %s ago (%s) %s use --since %s.\n",
				shortDuration(since), diagnostics.Plural(older.count, "event"), diagnostics.HumanDuration(older.age),
				older.newest.Format("2006-01-02 15:04"), "—", sinceToReach(older.age))
		} else {
			b.WriteString("No mTLS events.\n")
		}
		_, err := io.WriteString(w, safetext.Clean(b.String()))
		return err
	}
	b.WriteString("Events:\n")
	for _, s := range rep.Summaries {
		fmt.Fprintf(&b, "  %-30s %-12s %5d  last %s\n", s.Kind, s.Source, s.Count, s.LastSeen.Format("2006-01-02 15:04:05"))
		if s.X509Text != "" {
			fmt.Fprintf(&b, "      X509 %d: %s\n", s.X509Code, s.X509Text)
		} else if s.Detail != "" {
			fmt.Fprintf(&b, "      %s\n", clipTo(s.Detail, 6))
		}
		if s.Upstream != "" { // each upstream's events are a group of their own: say whose
			fmt.Fprintf(&b, "      upstream: %s\n", clipTo(s.Upstream, 16))
		}
		if len(s.Clients) > 0 {
			fmt.Fprintf(&b, "      clients: %s\n", clipTo(clientList(s.Clients, 4), 15))
		}
		if len(s.Examples) > 0 {
			fmt.Fprintf(&b, "      %s\n", clipTo(s.Examples[0], 6))
		}
	}
	if top := logparse.TopClients(rep.Summaries, 5); len(top) > 0 {
		b.WriteString("\nTop failing clients:\n")
		for _, c := range top {
			fmt.Fprintf(&b, "  %-40s %6d\n", c.Client, c.Count)
		}
	}
	fmt.Fprintf(&b, "\nmtls-doctor explain %s  shows the fix.\n", rep.Summaries[0].Kind)
	// Paths, clients and examples come from the logs: no escape sequences, no secrets.
	_, err := io.WriteString(w, safetext.Clean(b.String()))
	return err
}

// shortDuration prints 1h rather than 1h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func clientList(cs []logparse.ClientCount, max int) string {
	var parts []string
	for i, c := range cs {
		if i == max {
			parts = append(parts, fmt.Sprintf("and %d more", len(cs)-max))
			break
		}
		parts = append(parts, fmt.Sprintf("%s (%d)", c.Client, c.Count))
	}
	return strings.Join(parts, ", ")
}

// clip cuts s to n runes with an ellipsis.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// followJSON is one line of `logs --follow -o json` (JSON Lines).
type followJSON struct {
	Kind     string    `json:"kind"`
	Source   string    `json:"source"`
	Time     time.Time `json:"time"`
	File     string    `json:"file"`
	Client   string    `json:"client,omitempty"`
	X509Code int       `json:"x509_code,omitempty"`
	Detail   string    `json:"detail,omitempty"`
	Line     string    `json:"line"`
}

// followNoticeJSON is a line of `logs --follow -o json` that says what happened to a
// followed file; it has "notice" where events have "kind".
type followNoticeJSON struct {
	Notice string    `json:"notice"` // rotated, truncated or removed
	Time   time.Time `json:"time"`   // when mtls-doctor noticed it
	File   string    `json:"file"`
	Detail string    `json:"detail"`
}

// writeFollowNotice says, in the event stream, that a followed file was rotated, truncated
// or removed, and what the follower does about it.
func writeFollowNotice(w io.Writer, enc *json.Encoder, output string, l logparse.Line, now time.Time) error {
	if output == "json" {
		return enc.Encode(followNoticeJSON{Notice: string(l.Notice), Time: now, File: l.Path, Detail: l.Notice.Describe()})
	}
	_, err := fmt.Fprintf(w, "%s %-28s %s %s: %s\n", now.Format("15:04:05"), "notice", safetext.EscapeLine(l.Path), l.Notice, l.Notice.Describe())
	return err
}

// followable refuses files that exist but are not regular files, as the one-shot read
// does, before the follow starts: a device such as /dev/zero never ends a line, and the
// follower, which refuses it too, would only say so once the screen is up. A missing
// file may still appear.
func followable(files []logparse.File) error {
	for _, f := range files {
		if fi, err := os.Stat(f.Path); err == nil && !fi.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file", f.Path)
		}
	}
	return nil
}

// followLogs streams the classified events of every file until ctx is done.
func followLogs(ctx context.Context, files []logparse.File, output string, loc *time.Location, stdout, stderr io.Writer) error {
	if len(files) == 0 {
		return errors.New("no log files to follow")
	}
	if err := followable(files); err != nil {
		return err
	}
	if output == "text" {
		fmt.Fprintf(stderr, "Following %s; Ctrl+C stops.\n", diagnostics.Plural(len(files), "log file"))
	}
	// A missing file is waited for: say so, or the command looks hung.
	for _, f := range files {
		if _, err := os.Stat(f.Path); errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(stderr, "mtls-doctor: %s does not exist yet; waiting for it, and it is read from its start when it appears.\n",
				safetext.Clean(f.Path))
		}
	}
	enc := json.NewEncoder(stdout)
	clipped := isTerminal(stdout) // piped lines stay whole
	for fl := range logparse.FollowFiles(ctx, files, loc) {
		if fl.Err != nil {
			fmt.Fprintf(stderr, "mtls-doctor: follow %s\n", safetext.Clean(fl.Path+": "+fl.Err.Error()))
			continue
		}
		var err error
		if fl.Notice != "" {
			if err := writeFollowNotice(stdout, enc, output, fl.Line, time.Now()); err != nil {
				return fmt.Errorf("write notice: %w", err)
			}
			continue
		}
		ev, _, st := fl.Parser.Parse(fl.Text)
		if st != logparse.LineClassified {
			continue
		}
		if output == "json" {
			err = enc.Encode(followJSON{Kind: string(ev.Kind), Source: string(ev.Source), Time: ev.Time, File: fl.Path,
				Client: ev.Client, X509Code: ev.X509Code, Detail: safetext.Scrub(ev.Detail), Line: safetext.Scrub(ev.Line)})
		} else {
			who := ev.Client
			if who == "" {
				who = "-"
			}
			detail := safetext.Scrub(ev.Detail)
			if clipped {
				detail = clip(detail, textWidth-55)
			}
			_, err = fmt.Fprintf(stdout, "%s %-28s %-15s %s\n", ev.Time.Format("15:04:05"), ev.Kind,
				safetext.EscapeLine(who), safetext.EscapeLine(detail))
		}
		if err != nil {
			return fmt.Errorf("write event: %w", err)
		}
	}
	return nil // the channels close when ctx is done: Ctrl+C is how --follow ends
}
