package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
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

// TestGenMan writes the man pages as the release build does: one per visible command, each
// a roff page man(1) can format, naming its flags.
func TestGenMan(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"gen", "man", dir}, environ{}, strings.NewReader(""), &stdout, &stderr); code != exitOK {
		t.Fatalf("gen man: exit %d: %s", code, stderr.String())
	}
	root := newRootCommand(context.Background(), environ{}, &stdout, &stderr)
	want := []string{"mtls-doctor.1"}
	for _, c := range root.Commands() {
		if c.IsAvailableCommand() {
			want = append(want, "mtls-doctor-"+c.Name()+".1")
		}
	}
	for _, name := range want {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("no man page %s: %v", name, err)
			continue
		}
		if !bytes.Contains(data, []byte(".TH ")) || !bytes.Contains(data, []byte(".SH SYNOPSIS")) {
			t.Errorf("%s is not a man page:\n%.300s", name, data)
		}
	}
	if pages, _ := filepath.Glob(filepath.Join(dir, "*.1")); len(pages) != len(want) {
		t.Errorf("%d pages, want %d (%v): the hidden gen command must have none", len(pages), len(want), want)
	}
	main, _ := os.ReadFile(filepath.Join(dir, "mtls-doctor.1"))
	for _, flag := range []string{`\fB--check\fP`, `\fB--output\fP`, `\fB--redact\fP`, "markdown"} {
		if !bytes.Contains(main, []byte(flag)) {
			t.Errorf("mtls-doctor.1 does not mention %s", flag)
		}
	}
	if _, err := exec.LookPath("man"); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "man", "-l", filepath.Join(dir, "mtls-doctor.1"))
		cmd.Env = append(os.Environ(), "MANPAGER=cat", "MANWIDTH=80")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "SYNOPSIS") {
			t.Errorf("man -l mtls-doctor.1: %v\n%s", err, out)
		}
	}
}

// TestGenCompletion writes the completion scripts and loads the bash one into a real bash,
// which must register a completion function for mtls-doctor.
func TestGenCompletion(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"gen", "completion", dir}, environ{}, strings.NewReader(""), &stdout, &stderr); code != exitOK {
		t.Fatalf("gen completion: exit %d: %s", code, stderr.String())
	}
	for name, marker := range map[string]string{
		"mtls-doctor.bash": "__start_mtls-doctor", "_mtls-doctor": "#compdef mtls-doctor", "mtls-doctor.fish": "complete -c mtls-doctor",
	} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Contains(data, []byte(marker)) {
			t.Errorf("%s: %v, or no %q", name, err, marker)
		}
	}
	// Load the script into a real bash as a login shell would (with bash-completion, which
	// cobra's script uses when it is installed) and complete "mtls-doctor de": the script
	// asks the binary (this test binary standing in, see TestMain) and must offer demo.
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash to load the completion into")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.Symlink(self, filepath.Join(bin, "mtls-doctor")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const complete = `f=/usr/share/bash-completion/bash_completion; if [ -r "$f" ]; then . "$f"; fi
source "$1" && complete -p mtls-doctor || exit 1
type _get_comp_words_by_ref >/dev/null 2>&1 || { echo "no bash-completion: cannot complete"; exit 0; }
COMP_WORDS=(mtls-doctor de); COMP_CWORD=1; COMP_LINE="mtls-doctor de"; COMP_POINT=${#COMP_LINE}
__start_mtls-doctor mtls-doctor de mtls-doctor 2>/dev/null
printf 'reply:%s\n' "${COMPREPLY[@]}"`
	cmd := exec.CommandContext(ctx, bash, "--norc", "-c", complete, "bash", filepath.Join(dir, "mtls-doctor.bash"))
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "MTLS_DOCTOR_TEST_AS_MAIN=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "__start_mtls-doctor") {
		t.Fatalf("bash did not load the completion: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "no bash-completion") && !strings.Contains(string(out), "reply:demo\n") {
		t.Errorf("bash completed \"mtls-doctor de\" without offering demo:\n%s", out)
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
