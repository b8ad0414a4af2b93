package diagnostics

import (
	"fmt"
	"io"
	"strings"

	"github.com/mtls-doctor/mtls-doctor/internal/safetext"
)

// WriteExplain prints a check's playbook: what it tests, why it fails, and the fix steps.
// f supplies the host's paths and names; with an empty Facts the steps use the agent's
// default paths.
func WriteExplain(w io.Writer, ch Check, f *Facts) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  (%s)\n", ch.ID, ch.Category)
	fmt.Fprintf(&b, "%s\n\n", ch.Criterion())
	if ch.Why != "" {
		b.WriteString(wrap(ch.Why, 78, ""))
		b.WriteString("\n")
	}
	steps := ch.playbook(f, Result{})
	if len(steps) == 0 {
		b.WriteString("\nNo fix steps: this check only reports.\n")
	}
	for i, s := range steps {
		fmt.Fprintf(&b, "\nStep %d of %d: %s\n", i+1, len(steps), s.Title)
		if s.Why != "" {
			b.WriteString(wrap(s.Why, 78, "  "))
		}
		for _, c := range s.Commands {
			fmt.Fprintf(&b, "  $ %s\n", c)
		}
		if s.Diff != "" {
			fmt.Fprintf(&b, "  in %s:\n", s.File)
			for _, l := range strings.Split(strings.TrimRight(s.Diff, "\n"), "\n") {
				fmt.Fprintf(&b, "    %s\n", l)
			}
		}
		if s.Host != "" {
			fmt.Fprintf(&b, "  Runs %s\n", s.Host.Place())
		}
		for _, in := range s.Inputs {
			fmt.Fprintf(&b, "  Fill in %s: %s\n", in.Name, in.Prompt)
		}
		if s.Manual != "" {
			b.WriteString(wrap("Not run as shown: "+s.Manual+".", 78, "  "))
		}
		if len(s.Verify) > 0 {
			fmt.Fprintf(&b, "  Verified by: %s\n", strings.Join(s.Verify, ", "))
		}
	}
	// The steps name this host's paths and values, which may hold anything.
	_, err := io.WriteString(w, safetext.Clean(b.String()))
	return err
}

// wrap folds text at width, prefixing each line with indent.
func wrap(text string, width int, indent string) string {
	var b strings.Builder
	line := indent
	for _, word := range strings.Fields(text) {
		if len(line) > len(indent) && len(line)+1+len(word) > width {
			b.WriteString(line + "\n")
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += word
	}
	if len(line) > len(indent) {
		b.WriteString(line + "\n")
	}
	return b.String()
}
