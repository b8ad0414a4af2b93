package demolab

import (
	"bufio"
	"context"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mtls-doctor/mtls-doctor/internal/opensslverdict"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// The front server of the upstream scenarios: a plaintext HTTP/1.1 and h2c listener
// whose location passes to the upstream as NGINX's proxy (ngx_http_proxy_module) or gRPC
// (ngx_http_grpc_module) module would, with the TLS settings its nginx.conf gives the
// link, and NGINX's own error.log lines when the link fails (src/http/ngx_http_upstream.c,
// src/event/ngx_event_openssl.c). The lab sends one request through it at start and
// after every reload, as traffic would, so the error.log shows what NGINX logs about the
// link: the upstream's [info] line about the front's certificate, or the front's [error]
// line about the upstream.

// frontConf is the front's link as loaded from nginx.conf and its files.
type frontConf struct {
	link    *nginxconf.UpstreamLink // nil: no location passes to the upstream
	cert    *tls.Certificate        // *_ssl_certificate and _key; nil sends none
	trusted []*x509.Certificate     // *_ssl_trusted_certificate
	crls    []*x509.RevocationList  // *_ssl_crl
}

// frontVersion is the nginx version whose defaults the front applies (the lab's shim's).
var frontVersion = strings.TrimPrefix(nginxVersion, "nginx/")

// loadFront reads the front's link from c: the location of the server listening on the
// front's port, and the files its upstream TLS directives name, refused as `nginx -t`
// refuses them.
func (l *Lab) loadFront(c *nginxconf.Config) (frontConf, error) {
	if !l.HasUpstream() {
		return frontConf{}, nil
	}
	port := l.frontPark.port
	var fc frontConf
	for _, link := range c.UpstreamLinks(frontVersion) {
		if link.Server.ListensOn(port) && link.TLS && link.Judgeable() && len(link.Servers) > 0 && link.Servers[0].Unix == "" {
			fc.link = link
			break
		}
	}
	if fc.link == nil {
		return fc, nil
	}
	s := fc.link.SSL
	if cp, kp := s.Certificate.Path, s.CertificateKey.Path; cp != "" {
		if kp == "" {
			return fc, fmt.Errorf("no \"%s\" is defined for certificate \"%s\"", s.CertificateKey.Name, cp)
		}
		pair, err := tls.LoadX509KeyPair(cp, kp)
		if err != nil {
			if strings.Contains(err.Error(), "does not match") {
				return fc, fmt.Errorf("SSL_CTX_use_PrivateKey(\"%s\") failed (SSL: error:05800074:x509 certificate routines::key values mismatch)", kp)
			}
			return fc, fmt.Errorf("cannot load certificate \"%s\": %w", cp, err)
		}
		// OpenSSL's security level 2 (Debian's default) refuses an RSA key under 2048 bits
		// (ssl/t1_lib.c ssl_security_cert).
		if k, ok := pair.Leaf.PublicKey.(*rsa.PublicKey); ok && k.N.BitLen() < 2048 {
			return fc, fmt.Errorf("SSL_CTX_use_certificate(\"%s\") failed (SSL: error:0A00018F:SSL routines::ee key too small)", cp)
		}
		fc.cert = &pair
	}
	if p := s.TrustedCertificate.Path; p != "" {
		cas, err := loadCerts(p)
		if err != nil {
			return fc, fmt.Errorf("cannot load certificate \"%s\": %w", p, err)
		}
		for _, ca := range cas {
			fc.trusted = append(fc.trusted, ca.Cert)
		}
	}
	if p := s.CRL.Path; p != "" {
		crls, err := loadCRLs(p)
		if err != nil {
			return fc, fmt.Errorf("X509_load_crl_file(\"%s\") failed: %w", p, err)
		}
		fc.crls = crls
	}
	if s.Verify.Value == "on" && len(fc.trusted) == 0 {
		return fc, fmt.Errorf("no %s for %s", s.TrustedCertificate.Name, s.Verify.Name)
	}
	return fc, nil
}

// syncFrontLocked makes the front listen while NGINX runs.
func (l *Lab) syncFrontLocked() error {
	if !l.HasUpstream() || l.closed {
		return nil
	}
	switch {
	case l.mgr.running && l.frontLn == nil:
		var ln net.Listener
		var err error
		if l.frontPark.fd >= 0 {
			ln, err = l.frontPark.listen()
		} else {
			ln, err = net.Listen("tcp", l.frontPark.addr)
		}
		if err != nil {
			return err
		}
		l.frontLn = ln
		l.accepts.Add(1)
		go l.acceptLoop(ln, l.queueFrontConn)
	case !l.mgr.running && l.frontLn != nil:
		l.frontLn.Close()
		l.frontLn = nil
		if park, err := parkPort(l.frontPark.addr); err == nil {
			l.frontPark = park
		}
	}
	return nil
}

// queueFrontConn hands a connection the front accepted to its workers, or drops it when
// the front is shutting down.
func (l *Lab) queueFrontConn(c net.Conn) {
	l.conns.add(c)
	select {
	case l.frontQueue.ch <- c:
	case <-l.frontQueue.done:
		l.dropConn(c)
	}
}

// serveFront passes a request to the upstream as NGINX would: connect, handshake with the
// link's settings, verify the upstream when *_ssl_verify is on, send the request and
// relay the answer (a 400 from the upstream goes to the client as it is); a failure is
// logged as NGINX logs it and answered 502.
func (l *Lab) serveFront(w http.ResponseWriter, r *http.Request) {
	ci := connOf(r)
	l.mu.Lock()
	fc := l.frontRun
	l.mu.Unlock()
	request := r.Method + " " + r.RequestURI + " " + r.Proto
	setNginxHeaders(w, l.Clock())
	link := fc.link
	if link == nil || !strings.HasPrefix(r.URL.Path, link.Location.Path) {
		l.logs.errorReqAt(FrontName, ci, fmt.Sprintf("open() \"%s%s\" failed (2: No such file or directory)", docRoot, r.URL.Path), request, r.Host)
		l.writePage(w, r, ci, request, http.StatusNotFound)
		return
	}
	// The first server of the link, as the configuration names it (the lab's links have one).
	addr := link.Servers[0].Address
	upstream := link.Scheme + "://" + addr
	if link.Module == nginxconf.PassModule("proxy") {
		upstream += r.URL.RequestURI()
	}
	fail := func(level, msg string) {
		l.logs.upstreamLine(level, FrontName, ci, msg, request, upstream, r.Host)
		l.writePage(w, r, ci, request, http.StatusBadGateway)
	}
	raw, err := net.DialTimeout("tcp", addr, handshakeTimeout)
	if err != nil {
		fail("error", "connect() failed ("+errnoText(err)+") while connecting to upstream")
		return
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(handshakeTimeout))
	tc := tls.Client(raw, frontTLSConfig(fc))
	if err := tc.Handshake(); err != nil {
		fail("error", "SSL_do_handshake() failed ("+upstreamSSLReason(err)+") while SSL handshaking to upstream")
		return
	}
	if link.SSL.Verify.Value == "on" {
		chain := tc.ConnectionState().PeerCertificates
		depth, err := strconv.Atoi(link.SSL.VerifyDepth.Value)
		if err != nil {
			depth = 1
		}
		res := opensslverdict.Verify{Sent: chain, Trusted: fc.trusted, Depth: depth, Now: l.Clock(), ServerChain: true,
			CRLCheck: len(fc.crls) > 0, CRLs: fc.crls}.Run()
		if e, failed := res.Last(); failed {
			fail("error", fmt.Sprintf("upstream SSL certificate verify error: (%d:%s) while SSL handshaking to upstream", e.Code, e.Text()))
			return
		}
		if !checkHost(chain[0], link.SSLName) {
			fail("error", fmt.Sprintf("upstream SSL certificate does not match \"%s\" while SSL handshaking to upstream", link.SSLName))
			return
		}
	}
	resp, err := frontRoundTrip(tc, r, link, addr)
	if err != nil {
		fail("crit", "SSL_read() failed ("+upstreamSSLReason(err)+") while reading response header from upstream")
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		if k != "Server" && k != "Date" {
			w.Header()[k] = vs
		}
	}
	w.WriteHeader(resp.StatusCode)
	n, _ := io.Copy(w, io.LimitReader(resp.Body, 1<<20))
	for k, vs := range resp.Trailer {
		w.Header()[http.TrailerPrefix+k] = vs
	}
	l.logs.access(ci.client, request, resp.StatusCode, int(n), r.UserAgent())
}

// frontTLSConfig is the front's side of the handshake: the client certificate sent
// whatever CA names the upstream asks for (OpenSSL does), SNI only with
// *_ssl_server_name on, the *_ssl_protocols range, ALPN h2 for grpc_pass only
// (ngx_http_grpc_set_ssl). Verification is NGINX's, after the handshake.
func frontTLSConfig(fc frontConf) *tls.Config {
	link := fc.link
	cfg := &tls.Config{
		InsecureSkipVerify: true, // NGINX verifies after the handshake (serveFront)
		ServerName:         link.SNI,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if fc.cert == nil {
				return &tls.Certificate{}, nil
			}
			return fc.cert, nil
		},
	}
	var versions []uint16
	for _, name := range strings.Fields(link.SSL.Protocols.Value) {
		if v, ok := protocolVersion(name); ok && v != 0 {
			versions = append(versions, v)
		}
	}
	if len(versions) > 0 {
		cfg.MinVersion, cfg.MaxVersion = versions[0], versions[0]
		for _, v := range versions {
			cfg.MinVersion, cfg.MaxVersion = min(cfg.MinVersion, v), max(cfg.MaxVersion, v)
		}
	}
	if link.Module == nginxconf.PassModule("grpc") {
		cfg.NextProtos = []string{"h2"}
	}
	return cfg
}

// frontRoundTrip sends r on tc as the pass module does: HTTP/1.0 with Host set to the
// proxy_pass host (proxy_set_header Host $proxy_host), or an HTTP/2 stream for grpc_pass.
func frontRoundTrip(tc *tls.Conn, r *http.Request, link *nginxconf.UpstreamLink, addr string) (*http.Response, error) {
	if link.Module == nginxconf.PassModule("grpc") {
		// A TLS 1.3 server that refuses the client certificate sends its alert after the
		// handshake; an HTTP/2 server sends SETTINGS at once. Reading first tells them
		// apart, as OpenSSL's first SSL_read does, and keeps what was read for HTTP/2.
		br := bufio.NewReader(tc)
		_ = tc.SetReadDeadline(time.Now().Add(handshakeTimeout))
		if _, err := br.Peek(1); err != nil {
			return nil, err
		}
		_ = tc.SetDeadline(time.Time{})
		conn := &peekedConn{Conn: tc, r: br}
		var protocols http.Protocols
		protocols.SetHTTP2(true)
		used := false
		tr := &http.Transport{Protocols: &protocols, DialTLSContext: func(context.Context, string, string) (net.Conn, error) {
			if used {
				return nil, errors.New("one stream per request")
			}
			used = true
			return conn, nil
		}}
		defer tr.CloseIdleConnections()
		out, err := http.NewRequestWithContext(r.Context(), r.Method, "https://"+addr+r.URL.RequestURI(), r.Body)
		if err != nil {
			return nil, err
		}
		out.Header = r.Header.Clone()
		resp, err := tr.RoundTrip(out)
		if err != nil {
			return nil, err
		}
		// Read the whole answer so its trailers are there once the body is relayed.
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		return resp, nil
	}
	req := r.Method + " " + r.URL.RequestURI() + " HTTP/1.0\r\nHost: " + addr + "\r\nConnection: close\r\n"
	if ua := r.UserAgent(); ua != "" {
		req += "User-Agent: " + ua + "\r\n"
	}
	if _, err := io.WriteString(tc, req+"\r\n"); err != nil {
		return nil, err
	}
	return http.ReadResponse(bufio.NewReader(tc), nil)
}

// upstreamSSLReason words a failed handshake or read with the upstream as NGINX 1.22 with
// OpenSSL 3.0 logs it.
func upstreamSSLReason(err error) string {
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) {
		return "SSL: error:0A00010B:SSL routines::wrong version number"
	}
	// An alert the upstream sent, worded as OpenSSL words a received alert (before
	// opensslReason's wording of the server's own version check).
	msg := err.Error()
	if i := strings.Index(msg, "remote error: tls: "); i >= 0 {
		if a, ok := alertByName[msg[i+len("remote error: tls: "):]]; ok {
			return fmt.Sprintf("SSL: error:0A%06X:SSL routines::%s:SSL alert number %d", 1000+a.num, a.reason, a.num)
		}
	}
	return opensslReason(err)
}

// errnoText is "111: Connection refused" for a refused connect, as ngx_connection_error
// writes errno and strerror.
func errnoText(err error) string {
	switch {
	case strings.Contains(err.Error(), "connection refused"):
		return "111: Connection refused"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "110: Connection timed out"
	}
	return err.Error()
}

// checkHost is OpenSSL's X509_check_host as NGINX calls it for the upstream
// (ngx_ssl_check_host): DNS subjectAltNames only, an IP address compared as a DNS name;
// the common name only when there is no DNS SAN.
func checkHost(c *x509.Certificate, name string) bool {
	if name == "" {
		return false
	}
	if _, err := netip.ParseAddr(name); err == nil {
		for _, n := range c.DNSNames {
			if strings.EqualFold(n, name) {
				return true
			}
		}
		return len(c.DNSNames) == 0 && strings.EqualFold(c.Subject.CommonName, name)
	}
	if len(c.DNSNames) == 0 {
		return strings.EqualFold(c.Subject.CommonName, name)
	}
	probe := *c
	probe.IPAddresses = nil
	return probe.VerifyHostname(name) == nil
}

// trafficTimeout bounds the lab's own request through the front.
const trafficTimeout = 5 * time.Second

// sendTraffic sends one request through the front, as a user of the site would: a GET
// of / through proxy_pass, a gRPC call through grpc_pass (h2c). Its outcome is in the
// logs; the answer is discarded.
func (l *Lab) sendTraffic() {
	if !l.HasUpstream() {
		return
	}
	l.mu.Lock()
	fc, running, addr := l.frontRun, l.mgr.running && l.frontLn != nil, l.frontPark.addr
	l.mu.Unlock()
	if fc.link == nil || !running {
		return
	}
	c := &http.Client{Timeout: trafficTimeout}
	url := "http://" + addr + "/"
	method, body := http.MethodGet, io.Reader(nil)
	if fc.link.Module == nginxconf.PassModule("grpc") {
		var protocols http.Protocols
		protocols.SetUnencryptedHTTP2(true)
		c.Transport = &http.Transport{Protocols: &protocols}
		url = "http://" + addr + grpcFrontPath + "List"
		method, body = http.MethodPost, strings.NewReader("\x00\x00\x00\x00\x00")
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return
	}
	req.Header.Set("User-Agent", trafficAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/grpc")
		req.Header.Set("TE", "trailers")
	}
	resp, err := c.Do(req)
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
}

// trafficAgent is the User-Agent of the lab's own request through the front.
const trafficAgent = "demo-client/1.0"
