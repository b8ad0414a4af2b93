package probes

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"syscall"
)

// ProbePorts are the local ports the probe's TCP connections are made from when one is
// free. A stream{} server logs no request, only the client's address and port, in the
// first line of each connection ("*2 client 127.0.0.1:42749 connected to 0.0.0.0:443",
// nginx src/stream/ngx_stream_handler.c), so the port is the only mark the probe can
// leave there: a later log scan (logparse.OwnProbePorts, which keeps the same list) then
// tells the probe's connection without a certificate from an agent's. The ports lie
// inside Linux's default ephemeral range, where the agents' own connections come from
// too; eight of about 28,000 keeps the chance of taking an agent's line for the probe's
// small.
var ProbePorts = [...]int{40000, 42749, 45498, 48247, 50996, 53745, 56494, 59243}

// dialMarked dials addr from one of ProbePorts, tried in random order so that runs side
// by side rarely meet; when none is free it dials from a port the kernel picks. Only a
// busy port is retried: any other failure is the dial's own.
func dialMarked(ctx context.Context, addr string) (net.Conn, error) {
	if markPorts {
		for _, i := range rand.Perm(len(ProbePorts)) {
			d := net.Dialer{LocalAddr: &net.TCPAddr{Port: ProbePorts[i]}, Control: reuseAddr}
			c, err := d.DialContext(ctx, "tcp", addr)
			if err == nil || !portBusy(err) || ctx.Err() != nil {
				return c, err
			}
		}
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

// portBusy reports whether a dial failed over its local port: bound by a listener
// (EADDRINUSE), or already connected to the same address, as a connection in TIME_WAIT
// is (EADDRNOTAVAIL).
func portBusy(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || errors.Is(err, syscall.EADDRNOTAVAIL)
}
