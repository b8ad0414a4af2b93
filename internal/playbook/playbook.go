// Package playbook executes a finding's fix steps: the commands shown on the Fix screen,
// verbatim, under POSIX sh, with the placeholders the user filled in. Apply backs up every
// file a step changes into a journal first, runs `nginx -t` before any reload, and puts
// every file back when a command or `nginx -t` fails or the re-check afterwards is worse
// than before; Undo restores the last applied step from its journal — the way
// `certbot --nginx` keeps backups and `certbot rollback` restores them
// (https://eff-certbot.readthedocs.io/en/stable/using.html#rollback).
package playbook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/internal/safetext"
)

// Env is where a step's commands run.
type Env struct {
	// Dir is the working directory of the commands (where relative paths they write land).
	Dir string
	// Path are directories put first on PATH (the demo lab's shims).
	Path []string
	// Vars are extra environment variables, KEY=VALUE.
	Vars []string
	// Inputs fill the steps' placeholders: "<ca-key-path>" → "/etc/pki/ca.key".
	Inputs map[string]string
}

// ErrUnfilled is returned for a step whose commands hold a placeholder with no value.
var ErrUnfilled = errors.New("placeholder not filled")

// ErrManual is returned for a step that says it cannot be run as shown, or that runs an
// editor or a pager, which wait for a person.
var ErrManual = errors.New("step cannot be run as shown")

// interactive refuses commands that wait for a person at a terminal.
func interactive(cmds []string) error {
	for _, c := range cmds {
		if p := Interactive(c); p != "" {
			return fmt.Errorf("%w: %s waits for a person at a terminal; copy the step and run it yourself", ErrManual, p)
		}
	}
	return nil
}

// Commands returns st's commands with every placeholder of st.Inputs (and any other
// "<name>" env.Inputs knows) replaced by its value, quoted for where it stands: a value in
// single or double quotes is escaped for them, a bare one is shell-quoted. It refuses a
// step whose commands hold a declared placeholder that env.Inputs does not fill.
func Commands(st diagnostics.Step, env Env) ([]string, error) {
	names := map[string]bool{}
	for _, in := range st.Inputs {
		names[in.Name] = true
	}
	for name := range env.Inputs {
		names[name] = true
	}
	// Longest first, so "<ca-key-path>" is not taken for a shorter name it starts with.
	order := slices.Collect(func(yield func(string) bool) {
		for n := range names {
			if strings.HasPrefix(n, "<") && strings.HasSuffix(n, ">") && !yield(n) {
				return
			}
		}
	})
	sort.Slice(order, func(i, j int) bool {
		if len(order[i]) != len(order[j]) {
			return len(order[i]) > len(order[j])
		}
		return order[i] < order[j]
	})
	var missing []string
	out := make([]string, len(st.Commands))
	for i, c := range st.Commands {
		s, miss := substitute(c, order, env.Inputs)
		out[i] = s
		// A placeholder the step forgot to declare is unfilled all the same: run as is,
		// sh would take "<ca-key-path>" for a file name (or a redirection).
		for _, m := range undeclared().FindAllStringSubmatch(s, -1) {
			miss = append(miss, m[1])
		}
		for _, m := range miss {
			if !slices.Contains(missing, m) {
				missing = append(missing, m)
			}
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrUnfilled, strings.Join(missing, ", "))
	}
	return out, nil
}

// undeclared matches what reads as a placeholder: a lower-case name in angle brackets
// inside a quoted word, as diagnostics writes them ('<ca-key-path>').
var undeclared = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`['"](<[a-z][a-z0-9-]*>)['"]`) })

// Unfilled lists st's declared placeholders that env does not fill.
func Unfilled(st diagnostics.Step, env Env) []string {
	var out []string
	for _, in := range st.Inputs {
		if v, ok := env.Inputs[in.Name]; !ok || v == "" {
			out = append(out, in.Name)
		}
	}
	return out
}

// substitute replaces the placeholders in cmd, tracking POSIX sh quoting (2.2 Quoting) so
// each value is quoted for its place. It returns the names found without a value.
func substitute(cmd string, names []string, values map[string]string) (string, []string) {
	var b strings.Builder
	var missing []string
	const (
		bare = iota
		single
		double
	)
	state := bare
	for i := 0; i < len(cmd); {
		c := cmd[i]
		if c == '<' {
			if name := matchName(cmd[i:], names); name != "" {
				v, ok := values[name]
				if !ok || v == "" {
					missing = append(missing, name)
					b.WriteString(name)
				} else {
					switch state {
					case single:
						b.WriteString(strings.ReplaceAll(v, "'", `'\''`))
					case double:
						b.WriteString(escapeDouble(v))
					default:
						b.WriteString(diagnostics.ShellQuote(v))
					}
				}
				i += len(name)
				continue
			}
		}
		switch {
		case state == single && c == '\'':
			state = bare
		case state == bare && c == '\'':
			state = single
		case state == bare && c == '"':
			state = double
		case state == double && c == '"':
			state = bare
		case state != single && c == '\\' && i+1 < len(cmd):
			b.WriteByte(c)
			b.WriteByte(cmd[i+1])
			i += 2
			continue
		}
		b.WriteByte(c)
		i++
	}
	return b.String(), missing
}

func matchName(s string, names []string) string {
	for _, n := range names {
		if strings.HasPrefix(s, n) {
			return n
		}
	}
	return ""
}

// escapeDouble escapes the characters that stay special inside double quotes (POSIX
// 2.2.3): $, `, " and \.
func escapeDouble(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune("$`\"\\", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Result is what one command did.
type Result struct {
	// Command is the command as run (placeholders filled).
	Command string
	// Output is its stdout and stderr, interleaved, made safe to show (private keys
	// removed, control characters escaped, secret inputs masked) and bounded.
	Output string
	// Err is nil when the command exited 0.
	Err error
}

// maxOutput bounds what is kept of one command's output.
const maxOutput = 64 << 10

// commandTimeout bounds one command when ctx has no earlier deadline: a step is a few
// file edits, a certificate and a reload, never a long job.
const commandTimeout = 2 * time.Minute

// Run executes st's commands one after the other with /bin/sh -c in env, stopping at the
// first that fails, and returns what each did. Commands read no terminal: stdin is
// empty and editors are set to fail, so a step that needs a person fails instead of
// hanging.
func Run(ctx context.Context, st diagnostics.Step, env Env) ([]Result, error) {
	if st.Manual != "" {
		return nil, fmt.Errorf("%w: %s", ErrManual, st.Manual)
	}
	cmds, err := Commands(st, env)
	if err != nil {
		return nil, err
	}
	if err := interactive(cmds); err != nil {
		return nil, err
	}
	var results []Result
	for _, c := range cmds {
		r := runOne(ctx, c, env)
		results = append(results, r)
		if r.Err != nil {
			return results, fmt.Errorf("%s: %w", safetext.CleanLine(c), r.Err)
		}
	}
	return results, nil
}

// runOne runs one command under /bin/sh -c, bounded by ctx and commandTimeout; the
// whole process group is killed when the time is up.
func runOne(ctx context.Context, command string, env Env) Result {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", command)
	cmd.Dir = env.Dir
	cmd.Env = environ(env)
	var out limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	setProcessGroup(cmd)
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return Result{Command: command, Output: cleanOutput(out.String(), env), Err: err}
}

// environ is the process environment with env's PATH prefix and variables, and editors
// and pagers that never wait for a person.
func environ(env Env) []string {
	vars := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "PATH=")
	})
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	if len(env.Path) > 0 {
		path = strings.Join(env.Path, string(filepath.ListSeparator)) + string(filepath.ListSeparator) + path
	}
	vars = append(vars, "PATH="+path, "EDITOR=false", "VISUAL=false", "SUDO_EDITOR=false",
		"PAGER=cat", "SYSTEMD_PAGER=cat")
	return append(vars, env.Vars...)
}

// secretInput reports whether a placeholder names a secret whose value must not be shown.
func secretInput(name string) bool {
	n := strings.ToLower(name)
	return strings.Contains(n, "pass") || strings.Contains(n, "token") || strings.Contains(n, "secret")
}

// cleanOutput makes a command's output safe to show: secret inputs masked, then private
// keys removed line by line (a PEM block spans lines) and control characters escaped.
func cleanOutput(s string, env Env) string {
	for name, v := range env.Inputs {
		if secretInput(name) && v != "" {
			s = strings.ReplaceAll(s, v, "<redacted>")
		}
	}
	var scrub safetext.LineScrubber
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = safetext.Escape(scrub.Scrub(l))
	}
	return strings.Join(lines, "\n")
}

// limitedBuffer keeps the first maxOutput bytes written to it and drops the rest.
type limitedBuffer struct {
	buf       bytes.Buffer
	truncated bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := maxOutput - b.buf.Len(); room < len(p) {
		b.truncated = true
		if room > 0 {
			b.buf.Write(p[:room])
		}
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *limitedBuffer) String() string {
	if b.truncated {
		return b.buf.String() + "\n[output truncated]"
	}
	return b.buf.String()
}
