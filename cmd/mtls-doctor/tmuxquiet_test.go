package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// tmuxquiet must be initialised before Lip Gloss, or Lip Gloss's package variable runs
// `tmux info` inside tmux before main. Go's initialisation order is deterministic; this
// reads it from the runtime's own trace of this test binary, which links the same
// packages as the command.
func TestTMUXHiddenBeforeLipGloss(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	order := map[string]int{}
	for i, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "init" {
			order[f[1]] = i + 1
		}
	}
	quiet, lipgloss := order["github.com/mtls-doctor/mtls-doctor/cmd/mtls-doctor/internal/tmuxquiet"], order["charm.land/lipgloss/v2"]
	if quiet == 0 || lipgloss == 0 || quiet > lipgloss {
		t.Errorf("init order: tmuxquiet at %d, lipgloss at %d (0: not traced); want tmuxquiet first", quiet, lipgloss)
	}
}
