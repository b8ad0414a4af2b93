//go:build !unix

package probes

import "syscall"

// markPorts: elsewhere SO_REUSEADDR means something else (Windows lets it take a port
// another socket listens on), so the probe dials from a port the system picks.
const markPorts = false

func reuseAddr(_, _ string, _ syscall.RawConn) error { return nil }
