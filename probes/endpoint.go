package probes

import (
	"crypto/x509"
	"net/http"
	"time"
)

// ErrorKind is the closed set of ways a probe step can fail, classified once from the
// raw error with errors.As so that findings never match error strings.
type ErrorKind string

const (
	ErrNone        ErrorKind = ""
	ErrDNSNotFound ErrorKind = "dns-not-found" // the name does not resolve
	ErrDNSFailure  ErrorKind = "dns-failure"   // resolver error or timeout
	ErrRefused     ErrorKind = "refused"       // TCP RST: nothing listens on the port
	ErrTimeout     ErrorKind = "timeout"       // the deadline passed (black-holed host)
	ErrUnreachable ErrorKind = "unreachable"   // no route / network unreachable
	ErrNotTLS      ErrorKind = "not-tls"       // the server answered with something other than TLS
	ErrTLSAlert    ErrorKind = "tls-alert"     // the server sent a TLS alert (see Alert)
	ErrTLSVersion  ErrorKind = "tls-version"   // no TLS version in common
	ErrClosed      ErrorKind = "closed"        // EOF or reset during the handshake or request
	ErrProtocol    ErrorKind = "protocol"      // HTTP/2 framing or other protocol error
	ErrBadAddress  ErrorKind = "bad-address"   // the host or port cannot be dialled at all ("exa]mple")
	ErrOther       ErrorKind = "other"
)

// ProbeError is a classified failure of one probe step.
type ProbeError struct {
	Kind ErrorKind `json:"kind"`
	// Alert is the TLS alert number for ErrTLSAlert (42 bad certificate, 70 protocol version ...).
	Alert int `json:"alert,omitempty"`
	// Message is the underlying Go error text, verbatim.
	Message string `json:"message"`
	// Deadline is true when the step ended because the probe's own deadline passed, not
	// because the network answered (an ETIMEDOUT from the kernel leaves it false).
	Deadline bool `json:"deadline,omitempty"`
}

func (e *ProbeError) Error() string { return string(e.Kind) + ": " + e.Message }

// TLSObservation is what one TLS handshake with the endpoint showed.
// Verification is not done during the handshake, so a bad chain still yields facts.
type TLSObservation struct {
	// Error is set when the handshake failed; the other fields are then partial.
	Error *ProbeError `json:"error,omitempty"`
	// Version and CipherSuite as negotiated (tls.VersionTLS13, ...).
	Version     uint16 `json:"version"`
	CipherSuite uint16 `json:"cipher_suite"`
	// ALPN is the negotiated application protocol ("h2" when HTTP/2 is on).
	ALPN string `json:"alpn"`
	// PeerChain is the chain the server sent, leaf first.
	PeerChain []*x509.Certificate `json:"-"`
	// CertRequested is true when the server sent a CertificateRequest.
	CertRequested bool `json:"cert_requested"`
	// AcceptableCAs are the DER-encoded distinguished names the server advertised
	// (NGINX sends the subjects of ssl_client_certificate); empty means "any".
	AcceptableCAs [][]byte `json:"-"`
	// ClientCertSent reports whether a client certificate was sent. Go, like the agent,
	// sends nothing when the chain reaches none of AcceptableCAs.
	ClientCertSent bool `json:"client_cert_sent"`
	// ClientChainLen is the number of certificates sent (leaf plus intermediates).
	ClientChainLen int `json:"client_chain_len,omitempty"`
	// Duration is how long the handshake took.
	Duration time.Duration `json:"duration"`
}

// HTTPObservation is the reply to one HTTP/2 gRPC request on the agent's path.
type HTTPObservation struct {
	// Error is set when no response was read.
	Error *ProbeError `json:"error,omitempty"`
	// Status is the HTTP status (NGINX sends 495/496 as 400).
	Status int `json:"status"`
	// Proto is e.g. "HTTP/2.0".
	Proto string `json:"proto"`
	// ContentType is the response Content-Type ("application/grpc" or "text/html").
	ContentType string `json:"content_type"`
	// BodyTitle is the HTML <title> of a non-gRPC body, e.g. "400 The SSL certificate error".
	BodyTitle string `json:"body_title,omitempty"`
	// GRPCStatus is the grpc-status header or trailer; nil when absent.
	GRPCStatus *int `json:"grpc_status,omitempty"`
	// GRPCMessage is the grpc-message header or trailer.
	GRPCMessage string `json:"grpc_message,omitempty"`
	// Date is the server's Date header; zero when absent (for clock-skew checks).
	Date time.Time `json:"date,omitempty"`
	// Header holds the response headers and trailers (for evidence).
	Header http.Header `json:"-"`
}

// Attempt is one connection to the endpoint: handshake plus request.
type Attempt struct {
	// WithClientCert is true when the agent's certificate was offered.
	WithClientCert bool             `json:"with_client_cert"`
	TLS            *TLSObservation  `json:"tls,omitempty"`
	HTTP           *HTTPObservation `json:"http,omitempty"`
}

// EndpointReport is the result of probing the management-plane endpoint as the agent would.
type EndpointReport struct {
	// Address is the host:port dialled.
	Address string `json:"address"`
	// ServerName is the SNI sent ("" when the host is an IP and no override is set:
	// Go then sends no SNI) and the name the server certificate must match.
	ServerName string `json:"server_name"`
	// VerifyName is the name (or IP) the agent verifies the server certificate against.
	VerifyName string `json:"verify_name"`
	// Authority is the HTTP/2 :authority sent.
	Authority string `json:"authority"`
	// Path is the gRPC request path.
	Path string `json:"path"`
	// StepTimeout is the deadline each step had (--timeout).
	StepTimeout time.Duration `json:"step_timeout"`
	// PlainText is true when the agent would not use TLS (tls.enable false): the probe
	// then speaks h2c, as the agent does.
	PlainText bool `json:"plain_text,omitempty"`

	// DNSAddrs are the addresses the host resolved to; DNSError is set when it did not.
	DNSAddrs []string    `json:"dns_addrs,omitempty"`
	DNSError *ProbeError `json:"dns_error,omitempty"`
	// TCPAddr is the address connected to; TCPError is set when no connection was made.
	TCPAddr  string      `json:"tcp_addr,omitempty"`
	TCPError *ProbeError `json:"tcp_error,omitempty"`
	// LocalAddr is the probe's own end of that connection: the client address NGINX logs
	// for the probe's requests.
	LocalAddr string `json:"local_addr,omitempty"`
	// LocalAddrs are the probe's ends of every connection it made: LocalAddr and the
	// attempt's without a certificate, kept in NoCert or not (NGINX logged it either way).
	LocalAddrs []string `json:"local_addrs,omitempty"`

	// Agent is the attempt with the agent's certificate (or without one, if the agent has none).
	Agent *Attempt `json:"agent,omitempty"`
	// NoCert is a second attempt without a client certificate, to tell "mTLS enforced"
	// from "optional/off". Nil when not run (the first attempt failed before TLS).
	NoCert *Attempt `json:"no_cert,omitempty"`
	// Duration is the whole probe's wall time.
	Duration time.Duration `json:"duration"`
}
