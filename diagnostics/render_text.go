package diagnostics

import (
	"fmt"
	"io"
	"strings"

	"github.com/mtls-doctor/mtls-doctor/internal/safetext"
)

// TextOptions control the human-readable --check output.
type TextOptions struct {
	// Color adds ANSI colour; set it only when writing to a terminal and NO_COLOR is unset.
	Color bool
	// ASCII replaces the ✔ ‼ ✖ glyphs with bracketed words, for non-UTF-8 terminals.
	ASCII bool
	// Verbose also lists skipped checks and prints fix steps for warnings in full.
	Verbose bool
}

type glyphSet struct{ ok, info, warn, fail, skip string }

var (
	unicodeGlyphs = glyphSet{ok: "✔", info: "ℹ", warn: "‼", fail: "✖", skip: "–"}
	asciiGlyphs   = glyphSet{ok: "[ok]", info: "[info]", warn: "[WARN]", fail: "[FAIL]", skip: "[skip]"}
)

const (
	sgrReset  = "\x1b[0m"
	sgrBold   = "\x1b[1m"
	sgrDim    = "\x1b[2m"
	sgrRed    = "\x1b[31m"
	sgrGreen  = "\x1b[32m"
	sgrYellow = "\x1b[33m"
	sgrCyan   = "\x1b[36m"
)

type textWriter struct {
	w   io.Writer
	opt TextOptions
	g   glyphSet
	err error
}

func (t *textWriter) printf(format string, a ...any) {
	if t.err == nil {
		_, t.err = fmt.Fprintf(t.w, format, a...)
	}
}

// paint wraps s in an SGR sequence when colour is on.
func (t *textWriter) paint(sgr, s string) string {
	if !t.opt.Color || s == "" {
		return s
	}
	return sgr + s + sgrReset
}

func (t *textWriter) glyph(s Severity) string {
	switch s {
	case SeverityOK:
		return t.paint(sgrGreen, t.g.ok)
	case SeverityInfo:
		return t.paint(sgrCyan, t.g.info)
	case SeverityWarn:
		return t.paint(sgrYellow, t.g.warn)
	case SeverityFail:
		return t.paint(sgrRed, t.g.fail)
	}
	return t.paint(sgrDim, t.g.skip)
}

// WriteText renders a report for people: the target, then each category with its checks
// (problems with evidence and fix steps), then a summary that repeats the problems so they
// are on screen last.
func WriteText(w io.Writer, r *Report, opt TextOptions) error {
	t := &textWriter{w: w, opt: opt, g: unicodeGlyphs}
	if opt.ASCII {
		t.g = asciiGlyphs
	}
	if head := Headline(r.Facts); head != "" {
		t.printf("%s\n", t.paint(sgrBold, head))
	}
	for _, cat := range Categories {
		var shown []Finding
		for _, f := range r.Findings {
			if f.Category == cat && (f.Severity != SeveritySkip || opt.Verbose) {
				shown = append(shown, f)
			}
		}
		if len(shown) == 0 {
			continue
		}
		t.printf("\n%s\n", t.paint(sgrBold, string(cat)))
		for i, f := range shown {
			if f.Severity == SeveritySkip {
				t.skipped(shown, i)
				continue
			}
			t.finding(f)
		}
	}
	t.summary(r)
	return t.err
}

// skipped prints shown[i], a skipped check, once for every check of the category skipped
// for the same reason: several rows of one reason read as a repeated line.
func (t *textWriter) skipped(shown []Finding, i int) {
	f := shown[i]
	var ids []string
	for j, o := range shown {
		if o.Severity == SeveritySkip && o.Summary == f.Summary {
			if j < i {
				return // printed with the first of them
			}
			ids = append(ids, o.ID)
		}
	}
	text := f.Summary
	if len(ids) > 1 {
		text += " " + t.paint(sgrDim, "("+strings.Join(ids, ", ")+")")
	}
	t.printf("  %s %s\n", t.glyph(f.Severity), text)
}

func (t *textWriter) finding(f Finding) {
	if !f.Problem() {
		text := f.Title
		if f.Severity == SeveritySkip || f.Severity == SeverityInfo {
			text = f.Summary
		}
		t.printf("  %s %s\n", t.glyph(f.Severity), text)
		return
	}
	t.printf("  %s %s %s\n", t.glyph(f.Severity), t.paint(sgrBold, f.Summary), t.paint(sgrDim, "["+f.ID+"]"))
	if f.Subject.Kind != SubjectAgentLink && f.Subject.Name != "" {
		// The headline names the agent link; any other subject is said per finding.
		t.printf("      %s\n", t.paint(sgrDim, "on "+f.Subject.String()))
	}
	for _, ev := range f.Evidence {
		line := ev.Text
		if ev.Location != "" {
			line += " (" + ev.Location + ")"
		}
		t.printf("      %s\n", line)
		for _, q := range ev.Quote {
			t.printf("        %s\n", t.paint(sgrDim, "> "+q))
		}
	}
	if len(f.Fix) == 0 {
		return
	}
	if f.Severity == SeverityWarn && !t.opt.Verbose {
		t.printf("      Fix: %s\n", f.Fix[0].Title)
		return
	}
	t.printf("      Fix:\n")
	for i, s := range f.Fix {
		t.printf("      %d. %s\n", i+1, s.Title)
		for _, c := range s.Commands {
			t.printf("           %s\n", t.paint(sgrCyan, "$ "+c))
		}
		if s.Diff != "" {
			t.printf("           %s\n", t.paint(sgrDim, "in "+s.File+":"))
			for _, l := range strings.Split(strings.TrimRight(s.Diff, "\n"), "\n") {
				t.printf("           %s\n", l)
			}
		}
	}
}

// counts tallies findings by severity.
func counts(r *Report) map[Severity]int {
	n := map[Severity]int{}
	for _, f := range r.Findings {
		n[f.Severity]++
	}
	return n
}

func (t *textWriter) summary(r *Report) {
	n := counts(r)
	status := r.Status()
	word := map[Severity]string{SeverityOK: "OK", SeverityWarn: "WARNING", SeverityFail: "FAIL"}[status]
	sgr := map[Severity]string{SeverityOK: sgrGreen, SeverityWarn: sgrYellow, SeverityFail: sgrRed}[status]
	t.printf("\n%s %d failed, %s, %d passed, %d skipped\n", t.paint(sgrBold+sgr, word+":"),
		n[SeverityFail], Plural(n[SeverityWarn], "warning"), n[SeverityOK]+n[SeverityInfo], n[SeveritySkip])
	var problems []Finding
	for _, sev := range []Severity{SeverityFail, SeverityWarn} {
		for _, f := range r.Findings {
			if f.Severity == sev {
				problems = append(problems, f)
			}
		}
	}
	for _, f := range problems {
		t.printf("  %s %-28s %s\n", t.glyph(f.Severity), f.ID, f.Summary)
	}
	if len(problems) > 0 {
		t.printf("Run 'mtls-doctor explain %s' for the full playbook.\n", problems[0].ID)
	}
}

// Headline is the one-line description of what was checked, e.g.
// "agent v2 /etc/nginx-agent/nginx-agent.conf → nim.example.com:443 (SNI nim.example.com)".
func Headline(f *Facts) string {
	if f == nil || f.Agent == nil {
		return ""
	}
	a := f.Agent
	var parts []string
	if a.Format != "" {
		parts = append(parts, "agent "+string(a.Format))
	}
	switch {
	case a.Error != nil && a.Error.NotRegular:
		parts = append(parts, "agent configuration "+a.Path+" (not a file)")
	case a.Path != "":
		parts = append(parts, a.Path)
	case a.PathGiven && len(a.Searched) > 0:
		parts = append(parts, "agent configuration "+a.Searched[0]+" (not found)")
	}
	if addr := a.Address(); addr != "" {
		target := "→ " + addr
		if a.ServerName.Value != "" {
			target += " (SNI " + a.ServerName.Value + ")"
		}
		parts = append(parts, target)
	}
	// The path, host and name come from the user's files, environment and flags.
	return safetext.CleanLine(strings.Join(parts, " "))
}
