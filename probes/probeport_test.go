package probes

import (
	"context"
	"crypto/tls"
	"net"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"
)

// portOf is the port of a host:port.
func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestProbeEndpointFromProbePorts: both of the probe's connections come from ProbePorts
// (where NGINX's stream module logs them, logparse.OwnProbePorts), and the report lists
// both.
func TestProbeEndpointFromProbePorts(t *testing.T) {
	if !markPorts {
		t.Skipf("no marked ports on %s", runtime.GOOS)
	}
	p := newLabPKI(t)
	addr := startGoServer(t, p.serverTLS(tls.VerifyClientCertIfGiven), grpcHandler(&recorder{}))
	for range 3 { // runs in a row reuse the ports
		r := ProbeEndpoint(context.Background(), EndpointOptions{
			Address: addr, ServerName: labName, Path: commandPath, ClientCert: tlsCert(p.agent), Timeout: probeTimeout,
		})
		if r.NoCert == nil || len(r.LocalAddrs) != 2 || r.LocalAddrs[0] != r.LocalAddr || r.LocalAddrs[0] == r.LocalAddrs[1] {
			t.Fatalf("local addresses %q (report's %q), no-cert attempt %+v", r.LocalAddrs, r.LocalAddr, r.NoCert)
		}
		for _, a := range r.LocalAddrs {
			if !slices.Contains(ProbePorts[:], portOf(t, a)) {
				t.Errorf("the probe connected from %s, not one of %v", a, ProbePorts)
			}
		}
	}
}

// TestDialMarkedAllBusy: with a listener on every one of ProbePorts, the dial still
// connects, from a port the kernel picks.
func TestDialMarkedAllBusy(t *testing.T) {
	srv, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go func() {
		for {
			c, err := srv.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	for _, port := range ProbePorts {
		// A port another program holds is busy too.
		if l, err := net.Listen("tcp", net.JoinHostPort("0.0.0.0", strconv.Itoa(port))); err == nil {
			defer l.Close()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := dialMarked(ctx, srv.Addr().String())
	if err != nil {
		t.Fatalf("dial with every probe port busy: %v", err)
	}
	defer c.Close()
	if port := portOf(t, c.LocalAddr().String()); slices.Contains(ProbePorts[:], port) {
		t.Errorf("connected from busy port %d", port)
	}
}
