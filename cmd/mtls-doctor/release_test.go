package main

import (
	"bytes"
	"context"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestDemoMarkdown runs `demo -o markdown` with and without --redact: the report names the
// planted failure, the version and the command line, and --redact leaves no lab address.
func TestDemoMarkdown(t *testing.T) {
	for _, redact := range []bool{false, true} {
		args := []string{"agent-cert-expired", "--timeout", "2s", "-o", "markdown"}
		if redact {
			args = append(args, "--redact")
		}
		code, stdout, stderr := runDemo(t, args...)
		if code != exitOK {
			t.Fatalf("demo %v: exit %d\n%s\n%s", args, code, stdout, stderr)
		}
		for _, want := range []string{"# mtls-doctor report: FAIL", "demo: agent-cert-expired", "### FAIL `agent-cert-expired`",
			"| mtls-doctor | dev (commit none, built unknown) |", "| Command | `mtls-doctor demo agent-cert-expired --timeout 2s -o markdown"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("redact=%v: report lacks %q", redact, want)
			}
		}
		// Nobody passed --no-logs: the report says why the demo's logs are not judged.
		if strings.Contains(stdout, "--no-logs") || !strings.Contains(stdout, "## Logs\n\nnot judged in the demo") {
			t.Errorf("redact=%v: the Logs section does not give the demo's reason", redact)
		}
		if strings.Contains(stdout, "PRIVATE KEY") || strings.Contains(stdout, "Demo lab") {
			t.Errorf("redact=%v: the report holds a key marker or the text-only lab banner", redact)
		}
		if got := strings.Contains(stdout, "127.0.0.1"); got == redact {
			t.Errorf("redact=%v: report names 127.0.0.1: %v", redact, got)
		}
	}
}

func TestCheckRejectsUnknownOutput(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--check", "-o", "yaml"}, environ{}, strings.NewReader(""), &stdout, &stderr)
	if code != exitCannot || !strings.Contains(stderr.String(), "want text, json, markdown, nagios or prometheus") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}

// TestCompletionCandidates asks the binary what the shells ask it: check IDs for explain,
// the formats for -o.
func TestCompletionCandidates(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		want, not string
	}{
		{[]string{"__complete", "explain", "agent-cert-ex"}, "agent-cert-expired\t", "agent-config-missing"},
		{[]string{"__complete", "--check", "-o", ""}, "markdown\n", "agent-cert-expired"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), tc.args, environ{}, strings.NewReader(""), &stdout, &stderr); code != exitOK {
			t.Fatalf("%q: exit %d: %s", tc.args, code, stderr.String())
		}
		if out := stdout.String(); !strings.Contains(out, tc.want) || strings.Contains(out, tc.not) {
			t.Errorf("%q offered:\n%s", tc.args, out)
		}
	}
}

// TestReleaseBinaryLeavesGenOut builds as the release does (no -tags gen): no `gen`
// command, and none of the man-page generator's packages linked, whose initialisation
// every start would pay. The release hook's -tags gen build is tested by gen_test.go.
func TestReleaseBinaryLeavesGenOut(t *testing.T) {
	if newGenCommand(io.Discard) == nil { // this test binary was built without -tags gen
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"gen", "man", t.TempDir()}, environ{}, strings.NewReader(""), &stdout, &stderr)
		if code != exitCannot || !strings.Contains(stderr.String(), `unknown command "gen"`) {
			t.Errorf("gen without -tags gen: exit %d, stderr %q", code, stderr.String())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tags := range []string{"", "gen"} {
		out, err := exec.CommandContext(ctx, "go", "list", "-tags", tags, "-deps", ".").Output()
		if err != nil {
			t.Fatalf("go list -tags %q -deps: %v", tags, err)
		}
		deps := strings.Fields(string(out))
		for _, pkg := range []string{"github.com/spf13/cobra/doc", "github.com/russross/blackfriday/v2"} {
			if got := slices.Contains(deps, pkg); got != (tags == "gen") {
				t.Errorf("-tags %q: links %s: %v", tags, pkg, got)
			}
		}
	}
}
