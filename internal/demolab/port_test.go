package demolab

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// TestParkedPortRefusesAndKeepsItsPort: a parked port refuses connections like a closed
// one, a Go listener (SO_REUSEADDR) cannot take it, and listening on it accepts.
func TestParkedPortRefusesAndKeepsItsPort(t *testing.T) {
	p, err := parkPort("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.DialTimeout("tcp", p.addr, 2*time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("dial %s succeeded, want connection refused", p.addr)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial %s: %v, want connection refused", p.addr, err)
	}
	if ln, err := net.Listen("tcp", p.addr); err == nil {
		ln.Close()
		t.Fatalf("listen on parked %s succeeded", p.addr)
	}
	ln, err := p.listen()
	if err != nil {
		t.Fatalf("listen on the parked socket: %v", err)
	}
	defer ln.Close()
	c, err = net.DialTimeout("tcp", p.addr, 2*time.Second)
	if err != nil {
		t.Fatalf("dial %s once listening: %v", p.addr, err)
	}
	c.Close()
}
