package probes

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/internal/pki"
)

func TestClassify(t *testing.T) {
	// A real refused dial: a loopback port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, refused := net.DialTimeout("tcp", addr, 2*time.Second)
	if refused == nil {
		t.Fatalf("dial %s succeeded after close", addr)
	}
	deadline := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}

	cases := []struct {
		name  string
		err   error
		kind  ErrorKind
		alert int
	}{
		{"DNS not found", &net.DNSError{Err: "no such host", Name: "nim.invalid", IsNotFound: true}, ErrDNSNotFound, 0},
		{"DNS timeout", &net.DNSError{Err: "i/o timeout", Name: "nim.test", IsTimeout: true}, ErrDNSFailure, 0},
		{"DNS server failure", &net.DNSError{Err: "server misbehaving", Name: "nim.test"}, ErrDNSFailure, 0},
		{"refused (real dial)", refused, ErrRefused, 0},
		{"host unreachable", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)}, ErrUnreachable, 0},
		{"network unreachable", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ENETUNREACH)}, ErrUnreachable, 0},
		{"read deadline", deadline, ErrTimeout, 0},
		{"context deadline", fmt.Errorf("handshake: %w", context.DeadlineExceeded), ErrTimeout, 0},
		{"cancelled", context.Canceled, ErrOther, 0},
		{"plaintext port", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, ErrNotTLS, 0},
		{"alert error", fmt.Errorf("x: %w", tls.AlertError(42)), ErrTLSAlert, 42},
		{"version refused by Go", errors.New("tls: server selected unsupported protocol version 302"), ErrTLSVersion, 0},
		{"EOF", io.EOF, ErrClosed, 0},
		{"unexpected EOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), ErrClosed, 0},
		{"reset", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, ErrClosed, 0},
		{"http2 framing", errors.New("http2: frame too large"), ErrProtocol, 0},
		{"anything else", errors.New("something odd"), ErrOther, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pe := Classify(c.err)
			if pe.Kind != c.kind || pe.Alert != c.alert {
				t.Errorf("Classify(%v) = %s alert %d, want %s alert %d", c.err, pe.Kind, pe.Alert, c.kind, c.alert)
			}
			if pe.Message != c.err.Error() {
				t.Errorf("Message = %q, want Go's text %q", pe.Message, c.err.Error())
			}
		})
	}
	if Classify(nil) != nil {
		t.Error("Classify(nil) is not nil")
	}
}

// TestClassifyOwnDeadline: only the probe's own deadline (a SetDeadline or context expiry,
// a lookup cut short) sets Deadline; the kernel giving up on a connection does not.
func TestClassifyOwnDeadline(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"read deadline", &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, true},
		{"context deadline", fmt.Errorf("dial: %w", context.DeadlineExceeded), true},
		{"lookup cut short", &net.DNSError{Err: "i/o timeout", Name: "nim.test", IsTimeout: true}, true},
		{"kernel ETIMEDOUT", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ETIMEDOUT)}, false},
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, false},
		{"DNS not found", &net.DNSError{Err: "no such host", Name: "nim.invalid", IsNotFound: true}, false},
	} {
		if got := Classify(c.err).Deadline; got != c.want {
			t.Errorf("%s: Deadline = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestClassifyReceivedAlert classifies an alert sent by a real peer: crypto/tls reports
// it as a net.OpError "remote error" around an unexported alert type.
func TestClassifyReceivedAlert(t *testing.T) {
	server := tpIssue(t, nil, pki.Spec{CommonName: "server", DNSNames: []string{"server"}})
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{server.Cert.Raw}, PrivateKey: server.Key}},
		MinVersion:   tls.VersionTLS13,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_ = c.(*tls.Conn).Handshake() // fails: the client offers TLS 1.2 at most
	}()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	err = tls.Client(c, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}).Handshake()
	pe := Classify(err)
	if pe == nil || pe.Kind != ErrTLSAlert || pe.Alert != 70 || pe.Message != "remote error: tls: protocol version not supported" {
		t.Fatalf("Classify(%v) = %+v, want tls-alert 70", err, pe)
	}
}
