//go:build unix

package probes

import "syscall"

// markPorts: on Unix the probe dials from ProbePorts.
const markPorts = true

// reuseAddr sets SO_REUSEADDR on a dialling socket before it is bound, so that several
// connections can share one of ProbePorts as long as they go to different addresses
// (Linux refuses the bind only when a listener holds the port, and the connect only
// when the same address pair is in use).
func reuseAddr(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
