package nginxtest

import (
	"crypto/tls"
	"net"
	"testing"
	"time"
)

// connDeadline bounds each connection ServeTLS serves, so a stuck client cannot hang a test.
const connDeadline = 10 * time.Second

// ServeTLS is a Go TLS server on a free 127.0.0.1 port with cfg, for tests that need a
// peer which is not NGINX (a server without ALPN, one that aborts the handshake, one that
// misbehaves after it). Each connection is served by serve on its own goroutine, under a
// deadline, and closed after; serve runs the handshake itself when it needs it. The server
// stops when the test ends. It returns the server's HOST:PORT.
func ServeTLS(t testing.TB, cfg *tls.Config, serve func(c *tls.Conn)) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatalf("nginxtest: TLS server: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed at cleanup
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(connDeadline))
				serve(c.(*tls.Conn))
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).String()
}
