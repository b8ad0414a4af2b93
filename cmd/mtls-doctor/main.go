// Command mtls-doctor finds out why an NGINX Agent cannot talk mutual TLS to its
// management plane, shows the evidence and walks through the fix.
//
// Usage:
//
//	mtls-doctor                 interactive assistant on a terminal, otherwise --check
//	mtls-doctor --check         one-shot check; exit 0 ok, 1 warnings, 2 failures, 3 could not run
//	mtls-doctor explain ID      the playbook for a finding
//	mtls-doctor demo [SCENARIO] a built-in lab with a chosen fault
//
// SIGINT, SIGTERM, SIGHUP and SIGQUIT end it with 128+N after it has restored the
// terminal and removed its temporary files.
package main

import (
	"context"
	"fmt"
	"os"

	// The code mapped up front and huge pages for the heap from its initialisation on:
	// a --check takes ~260 fewer page faults, ~4 ms of ~29 on a VM (bench/check.sh's lab).
	_ "github.com/mtls-doctor/mtls-doctor/cmd/mtls-doctor/internal/prefault"
	"github.com/mtls-doctor/mtls-doctor/cmd/mtls-doctor/internal/tmuxquiet"
	"github.com/mtls-doctor/mtls-doctor/internal/demolab"
)

func main() {
	// In the demo lab's shims (<lab>/bin/nginx …) this binary answers for the lab.
	if code, ok := demolab.RunShim(os.Args[1:], os.Stdout, os.Stderr); ok {
		os.Exit(code)
	}
	tmuxquiet.Restore()
	ctx, cancel := context.WithCancel(context.Background())
	restore := terminalRestorer(os.Stdin, os.Stdout)
	sigs := handleSignals(cancel, func(code int) {
		restore()
		fmt.Fprintf(os.Stderr, "\nmtls-doctor: still cleaning up after signal %d; exiting now\n", code-128)
		os.Exit(code)
	})
	code := run(ctx, os.Args[1:], environ{vars: os.Environ()}, os.Stdin, os.Stdout, os.Stderr)
	sigs.stop()
	cancel()
	os.Exit(sigs.exitCode(code))
}
