package demolab

import (
	"fmt"
	"net"
	"os"
	"syscall"
)

// parkedPort holds a 127.0.0.1 TCP port bound but not listening. A connection to it is
// refused as to any closed port (the kernel finds no listener and answers RST), yet no other
// socket can bind it: the socket has no SO_REUSEADDR, so Linux reports a bind conflict even
// to listeners that set it (as Go's do). A stopped lab keeps its address this way; a port
// merely closed could be handed to another lab running in parallel, which would then answer.
type parkedPort struct {
	fd   int
	addr string // 127.0.0.1:port
	port int
}

// parkPort binds addr ("127.0.0.1:0" for any free port) without listening.
func parkPort(addr string) (*parkedPort, error) {
	tcp, err := net.ResolveTCPAddr("tcp4", addr)
	if err != nil {
		return nil, fmt.Errorf("lab: park %s: %w", addr, err)
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("lab: park %s: %w", addr, err)
	}
	sa := &syscall.SockaddrInet4{Port: tcp.Port}
	copy(sa.Addr[:], tcp.IP.To4())
	if err := syscall.Bind(fd, sa); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("lab: park %s: %w", addr, err)
	}
	bound, err := syscall.Getsockname(fd)
	if err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("lab: park %s: %w", addr, err)
	}
	in4 := bound.(*syscall.SockaddrInet4)
	return &parkedPort{fd: fd, addr: (&net.TCPAddr{IP: net.IP(in4.Addr[:]), Port: in4.Port}).String(), port: in4.Port}, nil
}

// listen starts listening on the parked socket itself and hands it over as a net.Listener:
// closing the socket and binding the port anew would let another socket take it in between.
func (p *parkedPort) listen() (net.Listener, error) {
	if err := syscall.Listen(p.fd, syscall.SOMAXCONN); err != nil {
		return nil, fmt.Errorf("lab: listen on %s: %w", p.addr, err)
	}
	f := os.NewFile(uintptr(p.fd), p.addr)
	p.fd = -1
	defer f.Close() // FileListener holds its own duplicate
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("lab: listen on %s: %w", p.addr, err)
	}
	return ln, nil
}

// Close frees the port.
func (p *parkedPort) Close() error {
	if p == nil || p.fd < 0 {
		return nil
	}
	err := syscall.Close(p.fd)
	p.fd = -1
	return err
}
