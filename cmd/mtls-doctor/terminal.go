package main

import (
	"fmt"
	"io"

	"github.com/xo/terminfo"
)

// cursorAddressable reports whether the terminal TERM names can move the cursor, which the
// full-screen assistant needs. TERM unset or "dumb" cannot, nor can a terminfo entry
// without cup (cursor_address, terminfo(5)). A TERM with no entry on this host gets the
// benefit of the doubt: a missing terminfo database is common in containers, and nearly
// every terminal emulator speaks xterm's sequences.
func cursorAddressable(term string) bool {
	if term == "" || term == "dumb" {
		return false
	}
	ti, err := terminfo.Load(term)
	if err != nil {
		return true
	}
	return len(ti.Strings[terminfo.CursorAddress]) > 0
}

// wantTUI reports whether a command opens the assistant: stdout is a terminal that can
// address the cursor, and neither --check nor a machine output format was asked for. On a
// terminal that cannot, it says in one line on stderr that the --check output follows.
func wantTUI(flags checkFlags, env environ, stdout, stderr io.Writer) bool {
	if flags.check || flags.output != "text" || !isTerminal(stdout) {
		return false
	}
	if term := env.get("TERM"); !cursorAddressable(term) {
		fmt.Fprintf(stderr, "mtls-doctor: TERM=%q cannot move the cursor, so the --check output follows (for the assistant, run it in a terminal such as TERM=xterm-256color).\n", term)
		return false
	}
	return true
}
