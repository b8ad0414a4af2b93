package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/internal/demolab"
)

// listIDs are the IDs `demo --list` and `explain --list` print, in order.
func listIDs() map[string][]string {
	var scenarios, checks []string
	for _, s := range demolab.Scenarios() {
		scenarios = append(scenarios, s.Name)
	}
	for _, ch := range append(diagnostics.DefaultCatalog(), diagnostics.MeshCatalog()...) {
		checks = append(checks, ch.ID)
	}
	return map[string][]string{"demo": scenarios, "explain": checks}
}

// TestListPiped: piped, each list is one line per entry, its ID at column 0 and the
// label column after the longest ID, whatever an ID's length (explain --list used to push
// the category of an ID of 33 characters or more out of its column).
func TestListPiped(t *testing.T) {
	for cmd, ids := range listIDs() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		var stdout, stderr bytes.Buffer
		code := run(ctx, []string{cmd, "--list"}, environ{}, strings.NewReader(""), &stdout, &stderr)
		cancel()
		if code != exitOK {
			t.Fatalf("%s --list: exit %d: %s", cmd, code, stderr.String())
		}
		lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
		if len(lines) != len(ids) {
			t.Fatalf("%s --list: %d lines for %d entries", cmd, len(lines), len(ids))
		}
		longest := 0
		for _, id := range ids {
			longest = max(longest, len(id))
		}
		for i, id := range ids {
			rest, ok := strings.CutPrefix(lines[i], id)
			if !ok || strings.Repeat(" ", longest-len(id)+2) != rest[:longest-len(id)+2] || rest[longest-len(id)+2] == ' ' {
				t.Errorf("%s --list line %d is %q: want %s, then its label at column %d", cmd, i+1, lines[i], id, longest+2)
			}
		}
	}
}

// TestListFitsTerminal runs both lists in an 80-column terminal (tmux): no line is wider
// than the terminal, and each entry starts at column 0 with its ID while the lines that
// continue it start with spaces, so that grep still finds an entry by its ID.
func TestListFitsTerminal(t *testing.T) {
	bin, dir := buildForTmux(t)
	script := fmt.Sprintf("cd %s && TERM=xterm NO_COLOR=1 %s demo --list && echo END && TERM=xterm %s explain --list && echo END; sleep 60", dir, bin, bin)
	s := startTmux(t, "list", 80, 24, script)
	s.target = "e2e"
	deadline := time.Now().Add(30 * time.Second)
	var screen string
	for strings.Count(screen, "\nEND\n") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the lists did not end:\n%s", screen)
		}
		time.Sleep(100 * time.Millisecond)
		out, err := s.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", "e2e") // with the scrollback, wrapped lines joined
		if err != nil {
			t.Fatal(err)
		}
		screen = out
	}
	lists := strings.SplitN(screen, "\nEND\n", 3)
	for i, cmd := range []string{"demo", "explain"} {
		ids := listIDs()[cmd]
		var starts []string
		for _, line := range strings.Split(strings.Trim(lists[i], "\n"), "\n") {
			if w := ansi.StringWidth(strings.TrimRight(line, " ")); w > 80 {
				t.Errorf("%s --list: a line of %d cells: %q", cmd, w, line)
			}
			if line != "" && line[0] != ' ' {
				starts = append(starts, strings.Fields(line)[0])
			}
		}
		if strings.Join(starts, " ") != strings.Join(ids, " ") {
			t.Errorf("%s --list: the lines starting at column 0 begin with\n%q\nwant the IDs\n%q", cmd, starts, ids)
		}
	}
}
