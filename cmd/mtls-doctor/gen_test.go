//go:build gen

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
