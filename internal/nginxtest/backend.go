package nginxtest

import (
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/internal/grpcstub"
)

// Backend is a loopback stand-in for the management plane's gRPC services, the target of
// `grpc_pass grpc://ADDR`: a plaintext HTTP/2 (h2c, prior knowledge) server that answers
// every POST as a gRPC method that succeeds (grpcstub.Accept, as the demo lab does).
// It keeps nothing open. Other methods get 405.
type Backend struct {
	ln       net.Listener
	srv      *http.Server
	requests atomic.Int64
	served   chan struct{}
}

// StartBackend starts a Backend on a free 127.0.0.1 port and closes it when the test ends.
func StartBackend(t testing.TB) *Backend {
	t.Helper()
	b, err := ListenBackend()
	if err != nil {
		t.Fatalf("nginxtest: backend: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// StartBackendOn is StartBackend on addr (a loopback host:port), for a service that comes
// up where NGINX's grpc_pass already points.
func StartBackendOn(t testing.TB, addr string) *Backend {
	t.Helper()
	b, err := listenBackend(addr)
	if err != nil {
		t.Fatalf("nginxtest: backend on %s: %v", addr, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// ListenBackend is StartBackend without testing.TB; the caller closes the Backend.
func ListenBackend() (*Backend, error) { return listenBackend("127.0.0.1:0") }

func listenBackend(addr string) (*Backend, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	b := &Backend{ln: ln, served: make(chan struct{})}
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	b.srv = &http.Server{
		Handler:           http.HandlerFunc(b.serveHTTP),
		Protocols:         &protocols,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       5 * time.Second,
	}
	go func() {
		defer close(b.served)
		_ = b.srv.Serve(ln) // http.ErrServerClosed after Close
	}()
	return b, nil
}

func (b *Backend) serveHTTP(w http.ResponseWriter, r *http.Request) {
	b.requests.Add(1)
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "gRPC backend: POST only", http.StatusMethodNotAllowed)
		return
	}
	grpcstub.Accept(w, r)
}

// Addr is the backend's HOST:PORT on 127.0.0.1.
func (b *Backend) Addr() string { return b.ln.Addr().String() }

// Requests is how many requests the backend has answered: a request that reached it got
// through NGINX's client-certificate checks.
func (b *Backend) Requests() int64 { return b.requests.Load() }

// Close stops the backend and closes its connections.
func (b *Backend) Close() error {
	err := b.srv.Close()
	<-b.served
	return err
}
