package tui

import (
	"strings"

	"github.com/charmbracelet/x/ansi"

	"github.com/mtls-doctor/mtls-doctor/internal/safetext"
)

// wrap breaks plain text into lines of at most width cells. It breaks at spaces only, so
// commands and paths stay copyable, and cuts a word only when it is wider than a line.
// Existing newlines are kept. s is shown as text: control sequences and secrets in it are
// made harmless (safetext.Clean), whoever wrote it.
func wrap(s string, width int) []string {
	s = safetext.Clean(s)
	if width < 2 {
		width = 2 // the widest character fits
	}
	var out []string
	for _, para := range strings.Split(s, "\n") {
		var line strings.Builder
		lw := 0
		flush := func() {
			out = append(out, line.String())
			line.Reset()
			lw = 0
		}
		for _, word := range strings.Fields(para) {
			ww := ansi.StringWidth(word)
			if lw > 0 && lw+1+ww > width {
				flush()
			}
			if lw > 0 {
				line.WriteByte(' ')
				lw++
			}
			for ww > width-lw { // a word too long for any line: cut it
				head := ansi.Cut(word, 0, width-lw)
				line.WriteString(head)
				flush()
				word = ansi.Cut(word, width, ww)
				ww = ansi.StringWidth(word)
				if ww <= width {
					break
				}
			}
			line.WriteString(word)
			lw += ww
		}
		flush()
	}
	return out
}

// wrapIndent wraps s to width with first in front of the first line and rest in front of
// the others; first and rest should be the same width.
func wrapIndent(s string, width int, first, rest string) []string {
	lines := wrap(s, width-ansi.StringWidth(first))
	for i := range lines {
		if i == 0 {
			lines[i] = first + lines[i]
		} else {
			lines[i] = rest + lines[i]
		}
	}
	return lines
}

// styleLines applies render to each line (styles must not span line breaks, or the
// terminal carries the colour into the next line's margin).
func styleLines(lines []string, render func(...string) string) []string {
	for i, l := range lines {
		lines[i] = render(l)
	}
	return lines
}

// fit cuts s (which may hold ANSI sequences) to width cells, marking the cut with tail.
func fit(s string, width int, tail string) string {
	if ansi.StringWidth(s) <= width {
		return s
	}
	return ansi.Truncate(s, width, tail)
}

// pad fills s with spaces to width cells.
func pad(s string, width int) string {
	if w := ansi.StringWidth(s); w < width {
		return s + strings.Repeat(" ", width-w)
	}
	return s
}

// spread puts left and right on one line of width cells, cutting left when both do not fit.
func spread(left, right string, width int, tail string) string {
	rw := ansi.StringWidth(right)
	if rw >= width {
		return fit(right, width, tail)
	}
	left = fit(left, width-rw-1, tail)
	gap := width - ansi.StringWidth(left) - rw
	if gap < 1 {
		gap = 1
	}
	return left + strings.Repeat(" ", gap) + right
}

// clamp limits v to [lo, hi] (lo wins when hi < lo).
func clamp(v, lo, hi int) int {
	if v > hi {
		v = hi
	}
	if v < lo {
		v = lo
	}
	return v
}

// shellLines lays out a shell command in lines of at most width cells, breaking only
// between words outside quotes and ending every line but the last with " \", so that the
// lines pasted together are still the one command (POSIX sh joins a backslash-newline).
// A word wider than a line keeps its own line whole. Lines of a multi-line command (a
// here-document) are laid out one by one and keep their newlines.
func shellLines(cmd string, width int) []string {
	cmd = safetext.Clean(cmd) // built from paths and names read on the host
	var out []string
	for _, physical := range strings.Split(cmd, "\n") {
		words := shellWords(physical)
		if len(words) == 0 {
			out = append(out, physical)
			continue
		}
		line := words[0]
		for _, w := range words[1:] {
			if ansi.StringWidth(line)+1+ansi.StringWidth(w)+2 > width {
				out = append(out, line+" \\")
				line = w
				continue
			}
			line += " " + w
		}
		out = append(out, line)
	}
	return out
}

// shellWords splits one line of sh at blanks outside quotes, keeping quotes and escapes in
// the words, so joining the words with single spaces gives an equivalent command.
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	var quote rune
	escaped := false
	for _, r := range s {
		switch {
		case escaped:
			escaped = false
		case r == '\\' && quote != '\'':
			escaped = true
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == ' ' || r == '\t':
			if cur.Len() > 0 {
				words = append(words, cur.String())
				cur.Reset()
			}
			continue
		}
		cur.WriteRune(r)
	}
	if cur.Len() > 0 {
		words = append(words, cur.String())
	}
	return words
}
