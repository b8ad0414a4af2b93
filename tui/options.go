package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
)

// LogLine is one log line as the Logs screen shows it.
type LogLine struct {
	// Time is when the line was logged; zero when the line carries no time.
	Time time.Time
	// Source is the file the line came from.
	Source string
	// Level is the line's level as logged ("info", "error", ...), "" when unknown.
	Level string
	// Text is the whole line as logged.
	Text string
	// Message is the line's message without the header; "" shows Text.
	Message string
	// Event names the classified mTLS event ("client-cert-expired"); "" when unclassified.
	Event string
	// Finding is the ID of the finding the event points to; "" when none. The assistant
	// sets it from Event: the check of its catalog that claims that kind.
	Finding string
	// OwnProbe marks a line about mtls-doctor's own probe request (logparse.OwnProbe):
	// shown dimmed and labelled, never linked to a finding.
	OwnProbe bool
	// Noise says why an alarming-looking line is not evidence (logparse.Noise), e.g. a
	// [crit] "SSL_shutdown() failed ... application data after close notify" after a
	// rejection; shown dimmed, not as a failure. "" for other lines.
	Noise string
	// Notice is set on a line of mtls-doctor's own that says the followed file was
	// "rotated", "truncated" or "removed" (logparse.Notice).
	Notice string
}

// LogSource streams log lines to the Logs screen.
type LogSource interface {
	// Follow sends lines to out until ctx is done or the source ends, and returns why it
	// ended (nil for ctx being done). It must not close out.
	Follow(ctx context.Context, out chan<- LogLine) error
}

// LogSourceFunc adapts a function to LogSource.
type LogSourceFunc func(ctx context.Context, out chan<- LogLine) error

// Follow implements LogSource.
func (f LogSourceFunc) Follow(ctx context.Context, out chan<- LogLine) error { return f(ctx, out) }

// Options configure the assistant.
type Options struct {
	// Engine runs the checks; required.
	Engine *diagnostics.Engine
	// Apply lets the Fix screen's `a` run the step shown (with consent, backups and
	// rollback); nil turns `a` off.
	Apply *ApplyOptions
	// Logs is followed on the Logs screen; nil shows no logs.
	Logs LogSource
	// Title names what is being diagnosed, shown in the header ("demo: agent-cert-expired").
	Title string
	// Input and Output are the terminal; nil means stdin and stdout.
	Input  io.Reader
	Output io.Writer
	// NoColor drops all colour (NO_COLOR); status stays readable as glyph and word.
	NoColor bool
	// ASCII replaces Unicode glyphs and bars for terminals without UTF-8.
	ASCII bool
	// Redact masks host names and IP addresses in exported reports.
	Redact bool
	// Version, Args and Hostname say in an exported report which mtls-doctor ran, with
	// which command line (secrets masked) and on which machine; Hostname also names the file.
	Version  string
	Args     []string
	Hostname string
	// ReportDir is where `e` writes reports; "" means the current directory.
	ReportDir string
}

// programOptions are the tea.Program options Run uses.
func programOptions(ctx context.Context, opts Options) []tea.ProgramOption {
	// 120 fps halves the wait for the first frame (the renderer flushes on its ticker).
	// Signals are the caller's: it cancels ctx. Bubble Tea's own handler (v2.0.10,
	// tea.go handleSignals) can block for ever sending to an event loop that has already
	// ended on that cancellation, while shutdown waits for it: the terminal stayed in the
	// alternate screen with the cursor hidden.
	popts := []tea.ProgramOption{tea.WithContext(ctx), tea.WithFPS(120), tea.WithoutSignalHandler()}
	if opts.Input != nil {
		popts = append(popts, tea.WithInput(opts.Input))
	}
	out := opts.Output
	if out == nil {
		out = os.Stdout
	}
	popts = append(popts, tea.WithOutput(out))
	if opts.NoColor {
		popts = append(popts, tea.WithColorProfile(colorprofile.Ascii))
	}
	// Under tmux, colour detection runs `tmux info` (~50 ms) to learn whether tmux passes
	// 24-bit colour through. The styles use 256-colour palette entries only, so the answer
	// cannot change what is drawn; without TMUX, TERM decides.
	return append(popts, tea.WithEnvironment(slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "TMUX=")
	})))
}

// Result is how the assistant ended.
type Result struct {
	// Interrupted says the user left with Ctrl+C.
	Interrupted bool
	// Verdict holds every check's result as of the last run that finished (a re-check of
	// one finding updates that finding only); nil when the user left before the first
	// run finished.
	Verdict *diagnostics.Report
}

// Run shows the assistant until the user quits or ctx is done, which is how the caller
// ends it on a signal (Run installs no signal handler). The terminal is restored on
// return, also after a panic.
func Run(ctx context.Context, opts Options) (Result, error) {
	if opts.Engine == nil {
		return Result{}, errors.New("tui: no engine")
	}
	m := New(opts)
	m.stop() // New's own context is replaced by one under ctx
	m.ctx, m.stop = context.WithCancel(ctx)
	defer m.stop()
	final, err := tea.NewProgram(m, programOptions(ctx, opts)...).Run()
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, tea.ErrProgramKilled) && !errors.Is(err, tea.ErrProgramPanic) {
			return Result{}, ctx.Err()
		}
		return Result{}, fmt.Errorf("tui: %w", err)
	}
	fm, _ := final.(Model)
	return fm.result(), nil
}
