package probes

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"reflect"
	"strings"
	"syscall"
)

// Classify turns a raw error from a probe step into a ProbeError: its Kind is decided here,
// once, from the error's type (errors.As / errors.Is), and its Message is the Go error text
// verbatim. It returns nil for a nil error.
func Classify(err error) *ProbeError {
	if err == nil {
		return nil
	}
	pe := &ProbeError{Kind: ErrOther, Message: err.Error()}
	pe.Kind, pe.Alert = kindOf(err)
	pe.Deadline = ownDeadline(err)
	return pe
}

func kindOf(err error) (ErrorKind, int) {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		if dnsErr.IsNotFound {
			return ErrDNSNotFound, 0
		}
		return ErrDNSFailure, 0
	}
	// A TLS record header that is not one (e.g. "HTTP/1.1 400" back from a plaintext port).
	var rhe tls.RecordHeaderError
	if errors.As(err, &rhe) {
		return ErrNotTLS, 0
	}
	if a, ok := receivedAlert(err); ok {
		return ErrTLSAlert, a
	}
	if versionError(err) {
		return ErrTLSVersion, 0
	}
	if errors.Is(err, context.Canceled) {
		return ErrOther, 0
	}
	var netErr net.Error
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &netErr) && netErr.Timeout()) {
		return ErrTimeout, 0
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return ErrRefused, 0
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.EADDRNOTAVAIL):
		return ErrUnreachable, 0
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		return ErrClosed, 0
	case isHTTP2Error(err):
		return ErrProtocol, 0
	}
	return ErrOther, 0
}

// ownDeadline reports whether err is the probe's own deadline passing (a context or
// SetDeadline expiry, or a lookup cut short by one) rather than something the network did.
func ownDeadline(err error) bool {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr.IsTimeout
	}
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded)
}

// receivedAlert returns the number of a TLS alert the peer sent. crypto/tls reports one as
// *net.OpError{Op: "remote error", Err: alert(n)} with an unexported uint8 type, so the
// number is read by kind; tls.AlertError is what newer paths (and QUIC) wrap.
func receivedAlert(err error) (int, bool) {
	var ae tls.AlertError
	if errors.As(err, &ae) {
		return int(ae), true
	}
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "remote error" || op.Err == nil {
		return 0, false
	}
	if v := reflect.ValueOf(op.Err); v.Kind() == reflect.Uint8 {
		return int(v.Uint()), true
	}
	return 0, false
}

// versionError reports crypto/tls's own refusals of the server's protocol version. They are
// plain fmt errors (after Go has sent alert 70 itself), so the text is all there is.
func versionError(err error) bool {
	msg := err.Error()
	for _, s := range []string{
		"tls: server selected unsupported protocol version",
		"tls: no supported versions satisfy MinVersion and MaxVersion",
		"tls: downgrade attempt detected",
	} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// isHTTP2Error reports an HTTP/2 framing or stream error from net/http's bundled HTTP/2
// client, whose error types are unexported; they all say "http2: " (e.g. "http2: frame too
// large" when an HTTP/1 reply arrives on an h2c connection) or name a stream error.
func isHTTP2Error(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "http2: ") || strings.Contains(msg, ": http2: ") ||
		strings.Contains(msg, "stream error: stream ID") || strings.Contains(msg, "connection error: PROTOCOL_ERROR")
}
