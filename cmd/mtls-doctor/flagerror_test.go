package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// A mistyped flag gets the nearest real one and where the flags are listed, on the root
// and on a subcommand; a flag nothing resembles gets only the pointer to --help.
func TestUnknownFlagSuggests(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
		not  string
	}{
		{[]string{"--agnet-config", "x"}, []string{"unknown flag: --agnet-config (did you mean --agent-config?)", "Run 'mtls-doctor --help' for its flags."}, ""},
		{[]string{"logs", "--sinse", "1h"}, []string{"unknown flag: --sinse (did you mean --since?)", "Run 'mtls-doctor logs --help' for its flags."}, ""},
		{[]string{"demo", "--lst"}, []string{"(did you mean --list?)", "Run 'mtls-doctor demo --help'"}, ""},
		{[]string{"--zzzzzzzz"}, []string{"unknown flag: --zzzzzzzz\n", "Run 'mtls-doctor --help' for its flags."}, "did you mean"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), c.args, environ{}, strings.NewReader(""), &stdout, &stderr)
		if code != exitCannot {
			t.Errorf("%q: exit %d, want %d", c.args, code, exitCannot)
		}
		for _, w := range c.want {
			if !strings.Contains(stderr.String(), w) {
				t.Errorf("%q: stderr lacks %q:\n%s", c.args, w, stderr.String())
			}
		}
		if c.not != "" && strings.Contains(stderr.String(), c.not) {
			t.Errorf("%q: stderr has %q:\n%s", c.args, c.not, stderr.String())
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"since", "sinse", 1}, {"agnet-config", "agent-config", 2}, {"list", "lst", 1}, {"abc", "", 3}, {"kitten", "sitting", 3}} {
		if got := editDistance(c.a, c.b); got != c.want || editDistance(c.b, c.a) != c.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
