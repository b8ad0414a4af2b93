// Command mtls-doctor finds out why an NGINX Agent cannot talk mutual TLS to its
// management plane, shows the evidence and walks through the fix.
//
// Usage:
//
//	mtls-doctor                 interactive assistant on a terminal, otherwise --check
//	mtls-doctor --check         one-shot check; exit 0 ok, 1 warnings, 2 failures, 3 could not run
//	mtls-doctor explain ID      the playbook for a finding
//	mtls-doctor demo [SCENARIO] a built-in lab with a chosen fault
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/mtls-doctor/mtls-doctor/cmd/mtls-doctor/internal/tmuxquiet"
)

func main() {
	tmuxquiet.Restore()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], environ{vars: os.Environ()}, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
