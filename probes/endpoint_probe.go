package probes

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultStepTimeout bounds each network step of the endpoint probe (DNS, TCP, TLS, HTTP)
// when EndpointOptions.Timeout is zero; it is also --timeout's default.
const DefaultStepTimeout = 5 * time.Second

const (
	// maxBodyRead caps how much of a reply body is read: NGINX's error pages are well under
	// 1 KiB, and the body is read only for its <title>.
	maxBodyRead = 64 << 10
	// trailerWait is how long a gRPC reply's stream may stay open after its headers before
	// the probe stops waiting for the trailers (grpc-status): an agent stream such as
	// CommandChannel can legitimately stay open, and the headers already show that the
	// request reached a gRPC service.
	trailerWait = 500 * time.Millisecond
	// alertWait bounds the extra read that looks for a TLS alert behind a failed request.
	alertWait = 200 * time.Millisecond
	// minAddrTimeout is the least time one address gets when several share the TCP step,
	// as in net.Dialer, so a first black-holed address does not starve the others.
	minAddrTimeout = 2 * time.Second
)

// errNoALPN is grpc-go's error (credentials/alts and credentials/tls, since 1.67) when the
// server negotiated no "h2": the agent fails with it before sending any request.
var errNoALPN = errors.New("credentials: cannot check peer: missing selected ALPN property")

// EndpointOptions say how to reach the management plane, as the agent would.
type EndpointOptions struct {
	// Address is host:port as the agent dials it.
	Address string
	// ServerName is the agent's server-name override (v2 server.command, v3
	// command.tls.server_name): SNI, verified name and :authority at once. "" means none.
	ServerName string
	// Path is the gRPC request path (AgentConfig.GRPCPath).
	Path string
	// PlainText makes the probe speak h2c without TLS, as an agent with TLS off does.
	PlainText bool
	// ClientCert is the agent's certificate as tls.LoadX509KeyPair loaded it; nil when the
	// agent has none (or it does not load).
	ClientCert *tls.Certificate
	// LoadClientCert, used when ClientCert is nil, loads the agent's certificate while the
	// probe connects: the key is first needed when the server asks for a certificate, a
	// round trip into the handshake, and parsing it costs about a millisecond on a cold
	// start. It returns nil when the certificate does not load; the probe then offers
	// none, as with a nil ClientCert.
	LoadClientCert func() *tls.Certificate
	// Timeout bounds each step; zero means DefaultStepTimeout.
	Timeout time.Duration
	// Resolver looks the host up; nil means net.DefaultResolver.
	Resolver *net.Resolver
}

// NoCertQuery marks the request of the attempt without a certificate, so that the line
// NGINX logs for it ("client sent no required SSL certificate ... request: "POST
// /f5...?mtls-doctor-probe=no-cert ...") is not taken for an agent's by a later log scan.
// NGINX rejects the missing certificate before it looks at the URI, and an optional
// ssl_verify_client still routes the request by its path. logparse keeps the same string.
const NoCertQuery = "mtls-doctor-probe=no-cert"

// UserAgent is the User-Agent of both of the probe's requests. It starts with the same
// token as NoCertQuery, so that an access log whose format writes $http_user_agent but no
// query string still shows the lines as the probe's.
const UserAgent = "mtls-doctor-probe"

// ProbeEndpoint dials the endpoint the way the agent does and records what happened at each
// step: DNS, TCP, the TLS handshake with the agent's certificate, then one HTTP/2 gRPC POST
// on o.Path over that connection. When the first attempt got as far as TLS, a second one
// without a client certificate shows whether the server enforces mTLS. The server
// certificate is not verified here (the diagnostics verify it as the agent would), so a bad
// chain still yields facts. Every step has a deadline; the probe never returns an error, it
// records one.
func ProbeEndpoint(ctx context.Context, o EndpointOptions) *EndpointReport {
	start := time.Now()
	if o.Timeout <= 0 {
		o.Timeout = DefaultStepTimeout
	}
	if o.Path == "" {
		o.Path = "/"
	}
	r := &EndpointReport{Address: o.Address, Path: o.Path, PlainText: o.PlainText, StepTimeout: o.Timeout}
	defer func() { r.Duration = time.Since(start) }()

	host, port, err := net.SplitHostPort(o.Address)
	if err == nil {
		err = checkDialAddress(host, port)
	}
	if err != nil {
		// Nothing can be dialled: said as the lookup's failure, the first step of all.
		r.DNSError = &ProbeError{Kind: ErrBadAddress, Message: fmt.Sprintf("%s is not an address to connect to: %v", o.Address, err)}
		return r
	}
	setEndpointNames(r, o, host)
	cert := clientCertOf(o)

	addrs, ok := resolveEndpoint(ctx, r, o, host)
	if !ok {
		return r
	}
	conn, err := dialFirst(ctx, addrs, port, o.Timeout)
	if err != nil {
		r.TCPError = Classify(err)
		return r
	}
	r.TCPAddr, r.LocalAddr = conn.RemoteAddr().String(), conn.LocalAddr().String()

	if o.PlainText || cert == nil {
		r.LocalAddrs = []string{r.LocalAddr}
		r.Agent = probeAttempt(ctx, conn, o, r, noClientCert)
		return r
	}
	// The attempt without a certificate runs beside the agent's, so the probe costs one
	// round of handshakes, not two; it is kept only when the agent's reached TLS.
	r.LocalAddrs = []string{r.LocalAddr}
	noCert := make(chan *Attempt, 1)
	noCertAddr := make(chan string, 1)
	go func() {
		c, err := dialFirst(ctx, []string{hostOfAddr(r.TCPAddr)}, port, o.Timeout)
		if err != nil {
			noCertAddr <- ""
			noCert <- &Attempt{TLS: &TLSObservation{Error: Classify(err)}}
			return
		}
		noCertAddr <- c.LocalAddr().String()
		marked := o
		marked.Path += "?" + NoCertQuery
		noCert <- probeAttempt(ctx, c, marked, r, noClientCert)
	}()
	r.Agent = probeAttempt(ctx, conn, o, r, cert)
	if a := <-noCertAddr; a != "" {
		r.LocalAddrs = append(r.LocalAddrs, a)
	}
	second := <-noCert
	// A certificate that did not load made the agent's attempt one without a certificate
	// already: the second would only repeat it.
	if reachedTLS(r.Agent) && r.Agent.WithClientCert {
		r.NoCert = second
	}
	return r
}

// noClientCert is the certificate source of an attempt that offers none.
func noClientCert() *tls.Certificate { return nil }

// clientCertOf returns where the agent's attempt takes its certificate from: o.ClientCert,
// or o.LoadClientCert started now in the background and waited for when first asked; nil
// when the agent has no certificate.
func clientCertOf(o EndpointOptions) func() *tls.Certificate {
	switch {
	case o.PlainText:
		return nil
	case o.ClientCert != nil:
		return func() *tls.Certificate { return o.ClientCert }
	case o.LoadClientCert != nil:
		loaded := make(chan *tls.Certificate, 1)
		go func() { loaded <- o.LoadClientCert() }()
		return sync.OnceValue(func() *tls.Certificate { return <-loaded })
	}
	return nil
}

// setEndpointNames fills in the names the agent (grpc-go) derives from its configuration: SNI and
// the verified name come from the override or else the host (Go sends no SNI for an IP),
// and :authority is the override or else host:port.
func setEndpointNames(r *EndpointReport, o EndpointOptions, host string) {
	r.VerifyName, r.Authority = host, o.Address
	if o.ServerName != "" {
		r.VerifyName, r.Authority = o.ServerName, o.ServerName
	}
	if o.PlainText {
		return
	}
	if _, err := netip.ParseAddr(r.VerifyName); err != nil {
		r.ServerName = r.VerifyName
	}
}

// resolveEndpoint looks host up (an IP literal needs no lookup) and records the answer.
func resolveEndpoint(ctx context.Context, r *EndpointReport, o EndpointOptions, host string) ([]string, bool) {
	if _, err := netip.ParseAddr(host); err == nil {
		return []string{host}, true
	}
	res := o.Resolver
	if res == nil {
		res = net.DefaultResolver
	}
	dctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	ips, err := res.LookupIPAddr(dctx, host)
	if err == nil && len(ips) == 0 {
		err = &net.DNSError{Err: "no addresses", Name: host}
	}
	if err != nil {
		r.DNSError = Classify(err)
		return nil, false
	}
	for _, ip := range ips {
		r.DNSAddrs = append(r.DNSAddrs, ip.String())
	}
	return r.DNSAddrs, true
}

// hostOfAddr strips the port from a host:port address.
func hostOfAddr(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// dialFirst connects to the first address that answers, in order, within timeout overall.
// Like net.Dialer, each address gets an equal share of what is left (but at least
// minAddrTimeout), so one black-holed address does not use up the whole step. The error
// is the first address's, as net.Dialer reports it. Connections come from ProbePorts
// where one is free (dialMarked).
func dialFirst(ctx context.Context, addrs []string, port string, timeout time.Duration) (net.Conn, error) {
	deadline := time.Now().Add(timeout)
	var first error
	for i, a := range addrs {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		share := left / time.Duration(len(addrs)-i)
		share = min(max(share, minAddrTimeout), left)
		actx, cancel := context.WithTimeout(ctx, share)
		c, err := dialMarked(actx, net.JoinHostPort(a, port))
		cancel()
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	if first == nil {
		first = &net.OpError{Op: "dial", Net: "tcp", Err: context.DeadlineExceeded}
	}
	return nil, first
}

// reachedTLS reports whether an attempt got far enough for a second handshake without a
// certificate to tell something: it completed, or the server ended it (perhaps over the
// certificate). Timeouts and non-TLS ports would only repeat themselves.
func reachedTLS(a *Attempt) bool {
	if a == nil || a.TLS == nil {
		return false
	}
	if a.TLS.Error == nil {
		return true
	}
	k := a.TLS.Error.Kind
	return k == ErrTLSAlert || k == ErrClosed
}

// probeAttempt runs the TLS handshake (unless plaintext) and the gRPC request on conn, and
// closes conn. cert gives the client certificate to offer, nil for none.
func probeAttempt(ctx context.Context, conn net.Conn, o EndpointOptions, r *EndpointReport, cert func() *tls.Certificate) *Attempt {
	defer conn.Close()
	a := &Attempt{}
	// Asked here at the latest, so that a handshake that ends before the server asks for
	// a certificate still records whether one was on offer.
	defer func() { a.WithClientCert = cert() != nil }()
	if o.PlainText {
		a.HTTP = grpcRequest(ctx, conn, o, r.Authority, false)
		return a
	}
	hc := &heldConn{Conn: conn}
	tc, obs := tlsHandshake(ctx, hc, o, r.ServerName, cert)
	a.TLS = obs
	if obs.Error != nil {
		return a
	}
	// net/http closes the connection it is given when a request fails; the socket stays
	// open until this attempt is done, so tlsCause can still read an alert that came with
	// the failure (the deferred conn.Close above ends it).
	hc.held.Store(true)
	if obs.ALPN != "h2" {
		// grpc-go refuses the connection here; so does the probe, with its words.
		a.HTTP = &HTTPObservation{Error: &ProbeError{Kind: ErrProtocol, Message: errNoALPN.Error()}}
		return a
	}
	a.HTTP = grpcRequest(ctx, tc, o, r.Authority, true)
	return a
}

// heldConn is a connection whose Close, once held is set, is left to its owner. Before
// that Close works, which is how crypto/tls interrupts a handshake whose context ends.
type heldConn struct {
	net.Conn
	held atomic.Bool
}

func (c *heldConn) Close() error {
	if c.held.Load() {
		return nil
	}
	return c.Conn.Close()
}

// tlsHandshake runs a TLS handshake on conn as the agent's crypto/tls would: ALPN h2, the
// client certificate sent only if Go's own selection (SupportsCertificate against the
// server's acceptable CAs) allows it. Verification is skipped and left to the diagnostics.
func tlsHandshake(ctx context.Context, conn net.Conn, o EndpointOptions, serverName string, clientCert func() *tls.Certificate) (*tls.Conn, *TLSObservation) {
	obs := &TLSObservation{}
	cfg := &tls.Config{
		ServerName:         serverName,
		NextProtos:         []string{"h2"},
		InsecureSkipVerify: true, // verified afterwards, as the agent would, by diagnostics
		GetClientCertificate: func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			obs.CertRequested = true
			obs.AcceptableCAs = make([][]byte, 0, len(cri.AcceptableCAs))
			for _, dn := range cri.AcceptableCAs {
				obs.AcceptableCAs = append(obs.AcceptableCAs, bytes.Clone(dn))
			}
			// Exactly crypto/tls's choice for Config.Certificates: the chain goes only if
			// the server can take it; otherwise an empty Certificate message.
			if cert := clientCert(); cert != nil && cri.SupportsCertificate(cert) == nil {
				obs.ClientCertSent, obs.ClientChainLen = true, len(cert.Certificate)
				return cert, nil
			}
			return new(tls.Certificate), nil
		},
	}
	tc := tls.Client(conn, cfg)
	start := time.Now()
	_ = conn.SetDeadline(start.Add(o.Timeout))
	err := tc.HandshakeContext(ctx)
	obs.Duration = time.Since(start)
	_ = conn.SetDeadline(time.Time{})
	st := tc.ConnectionState()
	obs.Version, obs.CipherSuite, obs.ALPN = st.Version, st.CipherSuite, st.NegotiatedProtocol
	obs.PeerChain = st.PeerCertificates
	if err != nil {
		obs.Error = Classify(err)
	}
	return tc, obs
}

// grpcRequest sends one gRPC POST with an empty message over conn (h2 over TLS, or h2c
// with prior knowledge) and records the reply.
func grpcRequest(ctx context.Context, conn net.Conn, o EndpointOptions, authority string, overTLS bool) *HTTPObservation {
	var protocols http.Protocols
	scheme := "http"
	if overTLS {
		protocols.SetHTTP2(true)
		scheme = "https"
	} else {
		protocols.SetUnencryptedHTTP2(true)
	}
	used := false
	once := func(context.Context, string, string) (net.Conn, error) {
		if used {
			return nil, errors.New("probe: the connection was already used")
		}
		used = true
		return conn, nil
	}
	tr := &http.Transport{
		Protocols:              &protocols,
		ForceAttemptHTTP2:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: maxBodyRead,
	}
	if overTLS {
		tr.DialTLSContext = once
	} else {
		tr.DialContext = once
	}
	defer tr.CloseIdleConnections()

	rctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	// An empty gRPC message: not compressed, length 0.
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, scheme+"://"+o.Address+o.Path, bytes.NewReader(make([]byte, 5)))
	if err != nil {
		return &HTTPObservation{Error: Classify(err)}
	}
	req.Host = authority
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	req.Header.Set("User-Agent", UserAgent)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		if tc, ok := conn.(*tls.Conn); ok {
			err = tlsCause(tc, err)
		}
		return &HTTPObservation{Error: Classify(err)}
	}
	defer resp.Body.Close()
	return readGRPCReply(resp, cancel)
}

// tlsCause returns the TLS alert behind a failed request, or err. Under TLS 1.3 a server
// that refuses the client certificate says so after the client's handshake, and net/http
// may report only a generic failure ("http2: client conn could not be established") for
// it. crypto/tls keeps a received alert as the connection's sticky read error, so one more
// read, bounded, brings it back even after the transport closed the connection.
func tlsCause(tc *tls.Conn, err error) error {
	if _, ok := receivedAlert(err); ok {
		return err
	}
	_ = tc.SetReadDeadline(time.Now().Add(alertWait))
	if _, rerr := tc.Read(make([]byte, 1)); rerr != nil {
		if _, ok := receivedAlert(rerr); ok {
			return rerr
		}
	}
	return err
}

// readGRPCReply records status, headers, the body's title and the gRPC status. A body or
// trailer that cannot be read in time leaves those fields empty, not an error: the headers
// are the answer. stop ends the request (used to bound the wait for trailers).
func readGRPCReply(resp *http.Response, stop context.CancelFunc) *HTTPObservation {
	h := &HTTPObservation{
		Status:      resp.StatusCode,
		Proto:       resp.Proto,
		ContentType: resp.Header.Get("Content-Type"),
	}
	if d := resp.Header.Get("Date"); d != "" {
		if t, err := http.ParseTime(d); err == nil {
			h.Date = t
		}
	}
	grpcReply := strings.HasPrefix(h.ContentType, "application/grpc")
	if grpcReply {
		t := time.AfterFunc(trailerWait, stop)
		defer t.Stop()
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxBodyRead))
	if !grpcReply {
		h.BodyTitle = htmlTitle(body)
	}
	h.Header = resp.Header.Clone()
	for k, vs := range resp.Trailer {
		h.Header[k] = append(h.Header[k], vs...)
	}
	// A trailers-only reply (NGINX's error_page to grpc-status) carries it in the headers.
	status, msg := resp.Header.Get("Grpc-Status"), resp.Header.Get("Grpc-Message")
	if status == "" {
		status, msg = resp.Trailer.Get("Grpc-Status"), resp.Trailer.Get("Grpc-Message")
	}
	if n, err := strconv.Atoi(strings.TrimSpace(status)); err == nil {
		h.GRPCStatus = &n
	}
	h.GRPCMessage = decodeGRPCMessage(msg)
	return h
}

var titleRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?is)<title[^>]*>(.*?)</title\s*>`) })

// htmlTitle returns the text of an HTML body's <title>, whitespace collapsed.
func htmlTitle(body []byte) string {
	m := titleRE().FindSubmatch(body)
	if m == nil {
		return ""
	}
	t := strings.Join(strings.Fields(html.UnescapeString(string(m[1]))), " ")
	return strings.ToValidUTF8(t, "?")
}

// decodeGRPCMessage undoes gRPC's percent-encoding of grpc-message, as grpc-go does; text that
// is not validly encoded is kept as sent.
func decodeGRPCMessage(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	if d, err := url.PathUnescape(s); err == nil {
		return d
	}
	return s
}
