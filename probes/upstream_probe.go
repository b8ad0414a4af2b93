package probes

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mtls-doctor/mtls-doctor/internal/opensslverdict"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// DefaultUpstreamConcurrency is how many upstream servers ProbeUpstreams probes at once.
const DefaultUpstreamConcurrency = 8

// DefaultMaxUpstreamProbes bounds the probes of one run: a front with hundreds of
// distinct upstream servers, some black-holed, would otherwise keep a check busy for
// minutes (each probe step may take the whole --timeout).
const DefaultMaxUpstreamProbes = 64

// UpstreamGRPCPath is the request path of the probe's gRPC call to a grpc_pass upstream:
// the standard health service (grpc/grpc doc/health-checking.md), which any gRPC server
// either implements or answers with a gRPC status.
const UpstreamGRPCPath = "/grpc.health.v1.Health/Check"

// UpstreamProbeOptions bound ProbeUpstreams.
type UpstreamProbeOptions struct {
	// Timeout bounds each network step (DNS, TCP, TLS, request); zero means
	// DefaultStepTimeout.
	Timeout time.Duration
	// Concurrency is how many servers are probed at once; zero means
	// DefaultUpstreamConcurrency.
	Concurrency int
	// MaxProbes bounds how many distinct probes one run makes; zero means
	// DefaultMaxUpstreamProbes. Servers beyond it are counted as not probed.
	MaxProbes int
	// Resolver looks hosts up; nil means net.DefaultResolver.
	Resolver *net.Resolver
}

// probeKey identifies what a probe does, so that links sharing a server and the same
// client settings are probed once.
type probeKey struct {
	module            nginxconf.PassModule
	address, sni      string
	minV, maxV        uint16
	cert, key, passwd string
	trusted, crl      string
	verify, depth     string
	name, host        string
	ciphers           string
}

// ProbeUpstreams probes every server of every judgeable TLS link of uf as NGINX would
// connect to it (ProbeUpstream), at most o.Concurrency at once, and fills each link's
// Probes. Servers marked down are not probed: NGINX sends them nothing. Links that
// share a server and the same settings share one probe. Past o.MaxProbes distinct
// probes, servers are counted in NotProbed instead.
func ProbeUpstreams(ctx context.Context, uf *UpstreamFacts, o UpstreamProbeOptions) {
	start := time.Now()
	if o.Timeout <= 0 {
		o.Timeout = DefaultStepTimeout
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultUpstreamConcurrency
	}
	if o.MaxProbes <= 0 {
		o.MaxProbes = DefaultMaxUpstreamProbes
	}
	uf.Offline, uf.Concurrency, uf.StepTimeout, uf.NotProbed = false, o.Concurrency, o.Timeout, 0

	type job struct {
		lf *UpstreamLinkFacts
		s  nginxconf.UpstreamServer
		p  *UpstreamProbe
	}
	shared := map[probeKey]*UpstreamProbe{}
	var jobs []job
	for _, lf := range uf.Links {
		lf.Probes, lf.NotProbed = nil, 0
		if !lf.TLS || !lf.Judgeable() {
			continue
		}
		minV, maxV := upstreamVersions(lf.SSL.Protocols.Value)
		for _, s := range lf.Servers {
			if s.Down {
				continue
			}
			k := probeKey{lf.Module, s.Address, lf.SNI, minV, maxV,
				lf.SSL.Certificate.Path, lf.SSL.CertificateKey.Path, lf.SSL.PasswordFile.Path,
				lf.SSL.TrustedCertificate.Path, lf.SSL.CRL.Path, lf.SSL.Verify.Value, lf.SSL.VerifyDepth.Value,
				lf.SSLName, lf.Target(), lf.SSL.Ciphers.Value}
			p, ok := shared[k]
			if !ok {
				if len(jobs) == o.MaxProbes {
					lf.NotProbed++
					uf.NotProbed++
					continue
				}
				p = &UpstreamProbe{}
				shared[k] = p
				jobs = append(jobs, job{lf, s, p})
			}
			lf.Probes = append(lf.Probes, p)
		}
	}
	sem := make(chan struct{}, o.Concurrency)
	var wg sync.WaitGroup
	for _, j := range jobs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			*j.p = *ProbeUpstream(ctx, j.lf, j.s, o)
		}()
	}
	wg.Wait()
	uf.Duration += time.Since(start)
}

// upstreamVersions maps *_ssl_protocols to the range Go offers; zeros when the list is
// empty (unknown nginx version) or names nothing Go speaks. OpenSSL, like Go, offers the
// range from the lowest to the highest protocol enabled.
func upstreamVersions(protocols string) (minV, maxV uint16) {
	for _, p := range strings.Fields(protocols) {
		var v uint16
		switch p {
		case "TLSv1":
			v = tls.VersionTLS10
		case "TLSv1.1":
			v = tls.VersionTLS11
		case "TLSv1.2":
			v = tls.VersionTLS12
		case "TLSv1.3":
			v = tls.VersionTLS13
		default:
			continue // SSLv2, SSLv3: nothing Go can offer
		}
		if minV == 0 || v < minV {
			minV = v
		}
		maxV = max(maxV, v)
	}
	return minV, maxV
}

// ProbeUpstream connects to one upstream server of a link as NGINX does: the link's
// client certificate sent whenever the server asks (OpenSSL, unlike Go, does not filter
// it by the server's acceptable CA names), SNI only as *_ssl_server_name says, the
// *_ssl_protocols range, ALPN h2 for grpc_pass only; then one request, HTTP/1.1 GET /
// for proxy_pass, an HTTP/2 gRPC call for grpc_pass (uwsgi_pass: the handshake only).
// The upstream's chain is judged afterwards by NGINX's rules (UpstreamVerify). Every
// step has o.Timeout; the probe never returns an error, it records one.
func ProbeUpstream(ctx context.Context, lf *UpstreamLinkFacts, s nginxconf.UpstreamServer, o UpstreamProbeOptions) *UpstreamProbe {
	start := time.Now()
	if o.Timeout <= 0 {
		o.Timeout = DefaultStepTimeout
	}
	p := &UpstreamProbe{Server: s, SNI: lf.SNI}
	defer func() { p.Duration = time.Since(start) }()
	p.MinVersion, p.MaxVersion = upstreamVersions(lf.SSL.Protocols.Value)
	suites, unknown := OfferedCiphers(lf.SSL.Ciphers.Value)
	for _, id := range suites {
		p.Ciphers = append(p.Ciphers, OpenSSLCipherName(id))
	}
	p.CiphersUnknown = unknown
	cert := lf.clientCert
	p.ClientCertOffered, p.ClientCertError = cert != nil, lf.clientCertErr

	conn, err := dialUpstream(ctx, s, o)
	if err != nil {
		p.TCPError = Classify(err)
		return p
	}
	defer conn.Close()
	p.TCPAddr = conn.RemoteAddr().String()

	hc := &heldConn{Conn: conn}
	tc, obs := upstreamHandshake(ctx, hc, lf, p, cert, o.Timeout, nil)
	p.TLS = obs
	if obs.Error == nil {
		hc.held.Store(true) // tlsCause may read an alert after a failed request
		switch lf.Module {
		case nginxconf.PassProxy:
			p.HTTP = http1Request(ctx, tc, upstreamHostHeader(lf), o.Timeout)
		case nginxconf.PassGRPC:
			addr := s.Address
			if s.Unix != "" {
				addr = "localhost"
			}
			eo := EndpointOptions{Address: addr, Path: UpstreamGRPCPath, Timeout: o.Timeout}
			p.HTTP = grpcRequest(ctx, tc, eo, lf.Target(), true)
		}
		// Under TLS 1.3 the client finishes its handshake before the server has judged
		// its certificate: a Go, Java or Envoy upstream's refusal (alert 42, 45, 48,
		// 116, …) arrives with the first read. It belongs to the handshake.
		if p.HTTP != nil && p.HTTP.Error != nil && p.HTTP.Error.Kind == ErrTLSAlert {
			obs.Error = p.HTTP.Error
		}
	}
	if len(obs.PeerChain) > 0 {
		p.Verify = verifyUpstream(lf, obs.PeerChain, time.Now())
	}
	if refusedClientHello(obs) {
		p.Variations = askUpstream(ctx, lf, s, p, cert, o)
	}
	return p
}

// refusedClientHello reports whether the upstream refused what NGINX offers with alert 40
// (handshake_failure): an OpenSSL server sends it for "no shared cipher", Go's crypto/tls
// when no suite is mutual (handshake_server.go), and many servers when the ClientHello
// lacks what they need (SNI). A Go upstream that asked for a certificate and got none
// sends alert 40 too: that is not about the ClientHello.
func refusedClientHello(obs *TLSObservation) bool {
	e := obs.Error
	return e != nil && e.Kind == ErrTLSAlert && e.Alert == 40 && !(obs.CertRequested && !obs.ClientCertSent)
}

// askUpstream asks an upstream that refused NGINX's ClientHello what it would accept,
// changing one thing at a time, in this order: SNI sent (the name NGINX verifies, when
// *_ssl_server_name is off); TLS 1.3 only (when *_ssl_protocols leaves it out); then
// under TLS 1.2, each suite *_ssl_ciphers leaves out, one at a time (as sslscan does).
// It stops at the first change the upstream accepts, except that every left-out suite is
// tried; and when a connection cannot be made or times out. At most 2+len(openSSLSuites)
// handshakes, each with the link's timeout.
func askUpstream(ctx context.Context, lf *UpstreamLinkFacts, s nginxconf.UpstreamServer, p *UpstreamProbe, cert *tls.Certificate, o UpstreamProbeOptions) []HandshakeVariation {
	var out []HandshakeVariation
	// try makes one handshake with tweak applied; stop is true when the upstream no
	// longer answers (no connection, a timeout) or the run is cancelled.
	try := func(v HandshakeVariation, tweak func(*tls.Config)) (accepted, stop bool) {
		if ctx.Err() != nil {
			return false, true
		}
		conn, err := dialUpstream(ctx, s, o)
		if err != nil {
			v.Error = Classify(err)
			out = append(out, v)
			return false, true
		}
		defer conn.Close()
		_, obs := upstreamHandshake(ctx, conn, lf, p, cert, o.Timeout, tweak)
		v.Accepted, v.Error = obs.Error == nil, obs.Error
		out = append(out, v)
		return v.Accepted, obs.Error != nil && obs.Error.Kind == ErrTimeout
	}
	if p.SNI == "" && lf.SSLName != "" && net.ParseIP(lf.SSLName) == nil {
		name := lf.SSLName
		ok, stop := try(HandshakeVariation{Change: VariationSNI, SNI: name}, func(c *tls.Config) { c.ServerName = name })
		if ok || stop {
			return out
		}
	}
	if p.MaxVersion != 0 && p.MaxVersion < tls.VersionTLS13 {
		ok, stop := try(HandshakeVariation{Change: VariationTLS13}, func(c *tls.Config) {
			c.MinVersion, c.MaxVersion = tls.VersionTLS13, tls.VersionTLS13
		})
		if ok || stop {
			return out
		}
	}
	if p.MinVersion > tls.VersionTLS12 || p.MaxVersion != 0 && p.MaxVersion < tls.VersionTLS12 {
		return out // TLS 1.2 is not offered: *_ssl_ciphers does not apply
	}
	for _, su := range openSSLSuites {
		if slices.Contains(p.Ciphers, su.name) {
			continue
		}
		id := su.id
		if _, stop := try(HandshakeVariation{Change: VariationCipher, Cipher: su.name}, func(c *tls.Config) {
			c.MinVersion, c.MaxVersion, c.CipherSuites = tls.VersionTLS12, tls.VersionTLS12, []uint16{id}
		}); stop {
			break
		}
	}
	return out
}

func dialUpstream(ctx context.Context, s nginxconf.UpstreamServer, o UpstreamProbeOptions) (net.Conn, error) {
	if s.Unix != "" {
		var d net.Dialer
		dctx, cancel := context.WithTimeout(ctx, o.Timeout)
		defer cancel()
		return d.DialContext(dctx, "unix", s.Unix)
	}
	port := strconv.Itoa(s.Port)
	if err := checkDialAddress(s.Host, port); err != nil {
		return nil, &ProbeError{Kind: ErrBadAddress, Message: err.Error()}
	}
	addrs := []string{s.Host}
	if _, err := netip.ParseAddr(s.Host); err != nil {
		res := o.Resolver
		if res == nil {
			res = net.DefaultResolver
		}
		dctx, cancel := context.WithTimeout(ctx, o.Timeout)
		ips, err := res.LookupIPAddr(dctx, s.Host)
		cancel()
		if err == nil && len(ips) == 0 {
			err = &net.DNSError{Err: "no addresses", Name: s.Host}
		}
		if err != nil {
			return nil, err
		}
		addrs = addrs[:0]
		for _, ip := range ips {
			addrs = append(addrs, ip.String())
		}
	}
	return dialFirst(ctx, addrs, port, o.Timeout)
}

// upstreamHandshake runs NGINX's side of the handshake: verification is left to
// verifyUpstream, as NGINX's verify callback accepts everything and the result is read
// after the handshake (ngx_http_upstream_ssl_handshake).
// tweak, when set, changes the configuration before the handshake (askUpstream).
func upstreamHandshake(ctx context.Context, conn net.Conn, lf *UpstreamLinkFacts, p *UpstreamProbe, cert *tls.Certificate, timeout time.Duration, tweak func(*tls.Config)) (*tls.Conn, *TLSObservation) {
	obs := &TLSObservation{}
	cfg := &tls.Config{
		ServerName:         p.SNI, // "" sends no SNI, as proxy_ssl_server_name off
		MinVersion:         p.MinVersion,
		MaxVersion:         p.MaxVersion,
		InsecureSkipVerify: true, // judged by verifyUpstream with NGINX's rules
		GetClientCertificate: func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			obs.CertRequested = true
			obs.AcceptableCAs = make([][]byte, 0, len(cri.AcceptableCAs))
			for _, dn := range cri.AcceptableCAs {
				obs.AcceptableCAs = append(obs.AcceptableCAs, bytes.Clone(dn))
			}
			if cert == nil {
				return new(tls.Certificate), nil
			}
			obs.ClientCertSent, obs.ClientChainLen = true, len(cert.Certificate)
			return cert, nil
		},
	}
	if lf.Module == nginxconf.PassGRPC {
		cfg.NextProtos = []string{"h2"} // ngx_http_grpc_set_ssl sets ALPN h2
	}
	// *_ssl_ciphers, as far as Go implements its suites (OfferedCiphers); none known:
	// Go's defaults rather than a ClientHello without TLS 1.2 suites.
	if suites, _ := OfferedCiphers(lf.SSL.Ciphers.Value); len(suites) > 0 {
		cfg.CipherSuites = suites
	}
	if tweak != nil {
		tweak(cfg)
	}
	tc := tls.Client(conn, cfg)
	start := time.Now()
	_ = conn.SetDeadline(start.Add(timeout))
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

// upstreamHostHeader is the Host NGINX sends by default: $proxy_host, the proxy_pass
// host with its port unless it is the scheme's default.
func upstreamHostHeader(lf *UpstreamLinkFacts) string {
	if lf.Upstream != nil || lf.Port == 0 || lf.Port == 443 {
		if strings.Contains(lf.Host, ":") {
			return "[" + lf.Host + "]"
		}
		return lf.Host
	}
	return lf.Target()
}

// http1Request sends one HTTP/1.1 GET / over conn and records the reply: status and
// the page's title ("400 No required SSL certificate was sent" from an NGINX upstream).
// UpstreamProbeQuery marks the probe's HTTP/1.1 request to an upstream, so that the line
// an upstream NGINX logs about it (`request: "GET /?mtls-doctor-probe=upstream HTTP/1.1"`)
// is recognised as mtls-doctor's own (logparse.OwnProbe), not as the front's traffic.
const UpstreamProbeQuery = "mtls-doctor-probe=upstream"

func http1Request(ctx context.Context, conn *tls.Conn, host string, timeout time.Duration) *HTTPObservation {
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetDeadline(deadline)
	defer conn.SetDeadline(time.Time{})
	req := "GET /?" + UpstreamProbeQuery + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: " + UserAgent + "\r\nConnection: close\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		return &HTTPObservation{Error: Classify(tlsCause(conn, err))}
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: http.MethodGet})
	if err != nil {
		return &HTTPObservation{Error: Classify(tlsCause(conn, err))}
	}
	defer resp.Body.Close()
	h := &HTTPObservation{Status: resp.StatusCode, Proto: resp.Proto, ContentType: resp.Header.Get("Content-Type"), Header: resp.Header.Clone()}
	if d := resp.Header.Get("Date"); d != "" {
		if t, err := http.ParseTime(d); err == nil {
			h.Date = t
		}
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxBodyRead))
	h.BodyTitle = htmlTitle(body)
	return h
}

// verifyUpstream judges the upstream's chain as NGINX with *_ssl_verify on:
// X509_verify_cert against the trusted CA file at the configured depth (with the CRL
// when one is set), then ngx_ssl_check_host's X509_check_host on the SSL name.
func verifyUpstream(lf *UpstreamLinkFacts, chain []*x509.Certificate, now time.Time) *UpstreamVerify {
	v := &UpstreamVerify{Enabled: lf.SSL.Verify.Value == "on", Name: lf.SSLName}
	var trusted []*x509.Certificate
	if lf.TrustedCA != nil && len(lf.TrustedCA.Certs) > 0 {
		v.Trusted, trusted = true, lf.TrustedCA.Certs
	}
	depth, err := strconv.Atoi(lf.SSL.VerifyDepth.Value)
	if err != nil || depth < 0 {
		depth = 1
	}
	ov := opensslverdict.Verify{Sent: chain, Trusted: trusted, Depth: depth, Now: now, ServerChain: true}
	if lf.CRL != nil {
		ov.CRLCheck, ov.CRLs = true, lf.CRL.CRLs
	}
	r := ov.Run()
	v.Chain = r.Chain
	if e, failed := r.Last(); failed {
		v.Code, v.Text, v.Depth = e.Code, e.Text(), e.Depth
	}
	v.NameMatched = CheckHost(chain[0], lf.SSLName)
	return v
}

var oidCommonName = asn1.ObjectIdentifier{2, 5, 4, 3}

// CheckHost is OpenSSL's X509_check_host(cert, name, 0), which NGINX's
// ngx_ssl_check_host calls (src/event/ngx_event_openssl.c) to match an upstream's
// certificate against proxy_ssl_name: the DNS subjectAltNames only (an IP address is
// compared as a DNS name, never with IP SANs); the subject's common names only when the
// certificate has no DNS SAN (do_x509_check in crypto/x509/v3_utl.c). Wildcards: one
// "*" in the leftmost label, partial ("f*.example.com") allowed, never across a dot,
// and not in a pattern with fewer than two labels after it.
func CheckHost(c *x509.Certificate, name string) bool {
	if c == nil || name == "" {
		return false
	}
	if len(c.DNSNames) > 0 {
		for _, p := range c.DNSNames {
			if hostPatternMatch(p, name) {
				return true
			}
		}
		return false
	}
	for _, atv := range c.Subject.Names {
		if cn, ok := atv.Value.(string); ok && atv.Type.Equal(oidCommonName) && hostPatternMatch(cn, name) {
			return true
		}
	}
	return false
}

// hostPatternMatch is equal_wildcard of OpenSSL's v3_utl.c for the default flags.
func hostPatternMatch(pattern, name string) bool {
	if strings.EqualFold(pattern, name) {
		return true
	}
	star := strings.IndexByte(pattern, '*')
	if star < 0 || strings.Count(pattern, "*") > 1 {
		return false
	}
	dot := strings.IndexByte(pattern, '.')
	if dot < 0 || star > dot {
		return false // the wildcard must sit in the leftmost label
	}
	suffix := pattern[dot:]
	if strings.Count(suffix, ".") < 2 || strings.HasPrefix(strings.ToLower(pattern), "xn--") && dot != 1 {
		return false // "*.com" is literal; IDNA A-labels take no partial wildcard
	}
	nameDot := strings.IndexByte(name, '.')
	if nameDot < 0 || !strings.EqualFold(name[nameDot:], suffix) {
		return false
	}
	label, pre, post := name[:nameDot], pattern[:star], pattern[star+1:dot]
	if len(label) < len(pre)+len(post) || !strings.EqualFold(label[:len(pre)], pre) || !strings.EqualFold(label[len(label)-len(post):], post) {
		return false
	}
	// A bare "*" must match at least one character.
	return !(pre == "" && post == "" && label == "")
}

// AlertName is the TLS alert's name as OpenSSL logs it after "alert " (ssl/ssl_stat.c
// SSL_alert_desc_string_long), e.g. 42 "bad certificate", 116 "certificate required".
func AlertName(n int) string {
	if s, ok := alertNames[n]; ok {
		return s
	}
	return fmt.Sprintf("alert %d", n)
}

var alertNames = map[int]string{
	0: "close notify", 10: "unexpected message", 20: "bad record mac", 21: "decryption failed",
	22: "record overflow", 30: "decompression failure", 40: "handshake failure",
	41: "no certificate", 42: "bad certificate", 43: "unsupported certificate",
	44: "certificate revoked", 45: "certificate expired", 46: "certificate unknown",
	47: "illegal parameter", 48: "unknown CA", 49: "access denied", 50: "decode error",
	51: "decrypt error", 60: "export restriction", 70: "protocol version",
	71: "insufficient security", 80: "internal error", 86: "inappropriate fallback",
	90: "user canceled", 100: "no renegotiation", 109: "missing extension",
	110: "unsupported extension", 111: "certificate unobtainable", 112: "unrecognized name",
	113: "bad certificate status response", 114: "bad certificate hash value",
	115: "unknown PSK identity", 116: "certificate required", 120: "no application protocol",
}
