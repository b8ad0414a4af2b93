package main

import (
	"io"
	"os"
	"strings"

	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/term"
)

// listEntry is one entry of a --list: an ID, a short label (a category, a link) and a
// description.
type listEntry struct{ id, label, text string }

const (
	// listMinText is the narrowest description column worth wrapping beside the ID and
	// label; narrower, the description goes on the lines below.
	listMinText = 30
	// listIndent leads the description lines below an entry's ID.
	listIndent = "    "
)

// writeList writes entries as columns sized to the longest ID and label. Each entry
// starts at column 0 with its ID, and continuation lines with spaces, so grep finds an
// entry by its ID. width 0 (not a terminal) keeps one line per entry for scripts; on a
// terminal the description wraps to width: beside the columns when they leave it
// listMinText columns, else on the lines below the ID, indented.
func writeList(w io.Writer, width int, entries []listEntry) error {
	idW, labelW := 0, 0
	for _, e := range entries {
		idW, labelW = max(idW, ansi.StringWidth(e.id)), max(labelW, ansi.StringWidth(e.label))
	}
	col := idW + 2 + labelW + 2
	var b strings.Builder
	for _, e := range entries {
		head := padRight(e.id, idW) + "  " + padRight(e.label, labelW) + "  "
		switch {
		case width == 0:
			b.WriteString(head + e.text + "\n")
		case width-col >= listMinText:
			b.WriteString(head + wrapHanging(e.text, width-col, strings.Repeat(" ", col)))
		default:
			b.WriteString(strings.TrimRight(head, " ") + "\n" + listIndent)
			b.WriteString(wrapHanging(e.text, max(width-len(listIndent), listMinText), listIndent))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// wrapHanging wraps text to width cells, each line after the first led by indent, and
// ends it with a newline.
func wrapHanging(text string, width int, indent string) string {
	lines := strings.Split(ansi.Wrap(text, width, ""), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n"+indent) + "\n"
}

// padRight pads s with spaces to n cells.
func padRight(s string, n int) string {
	return s + strings.Repeat(" ", max(n-ansi.StringWidth(s), 0))
}

// terminalWidth is the width in cells of the terminal w writes to, 0 when w is not a
// terminal (isTerminal). A terminal whose size cannot be read counts as textWidth wide.
func terminalWidth(w io.Writer) int {
	if !isTerminal(w) {
		return 0
	}
	if cols, _, err := term.GetSize(unwrapWriter(w).(*os.File).Fd()); err == nil && cols > 0 {
		return cols
	}
	return textWidth
}
