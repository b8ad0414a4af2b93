package demolab

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mtls-doctor/mtls-doctor/internal/grpcstub"
	"github.com/mtls-doctor/mtls-doctor/internal/opensslverdict"
)

// Bounds of the endpoint: how long a client may take to finish the handshake or send a
// plain-HTTP request line (the gRPC backend's bound is grpcstub.DrainTimeout), the buffer
// a connection's first bytes are read through, and the longest plain-HTTP request line
// taken, as NGINX's large_client_header_buffers 4 8k
// (https://nginx.org/en/docs/http/ngx_http_core_module.html#large_client_header_buffers).
const (
	handshakeTimeout = 10 * time.Second
	readBuffer       = 4 << 10
	maxRequestLine   = 8 << 10
)

// connInfo is one client connection, numbered as NGINX numbers them (*N in error.log).
type connInfo struct {
	id     int64
	client string // the client's IP
	// upstreamPort is the index of the upstream port a connection came in on.
	upstreamPort int
}

type connKey struct{}

// connTable tracks open connections so the endpoint can "restart" (drop them all) and so
// the HTTP handler knows a connection's number.
type connTable struct {
	mu    sync.Mutex
	next  atomic.Int64
	conns map[net.Conn]*connInfo
}

func newConnTable() *connTable { return &connTable{conns: map[net.Conn]*connInfo{}} }

func (t *connTable) add(c net.Conn) *connInfo {
	host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
	ci := &connInfo{id: t.next.Add(1), client: host}
	t.mu.Lock()
	t.conns[c] = ci
	t.mu.Unlock()
	return ci
}

func (t *connTable) get(c net.Conn) *connInfo {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ci, ok := t.conns[c]; ok {
		return ci
	}
	return &connInfo{client: "127.0.0.1"}
}

func (t *connTable) remove(c net.Conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
}

func (t *connTable) closeAll() {
	t.mu.Lock()
	conns := make([]net.Conn, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// chanListener hands connections whose TLS handshake the lab already did to http.Server.
type chanListener struct {
	addr   net.Addr
	ch     chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func (c *chanListener) Accept() (net.Conn, error) {
	select {
	case conn := <-c.ch:
		return conn, nil
	case <-c.done:
		return nil, net.ErrClosed
	}
}

func (c *chanListener) Close() error {
	c.closed.Do(func() { close(c.done) })
	return nil
}

func (c *chanListener) Addr() net.Addr { return c.addr }

// startHTTP starts the HTTP/1.1 and HTTP/2 server that takes over connections after the
// handshake.
func (l *Lab) startHTTP() {
	l.conns = newConnTable()
	l.srv, l.queue = l.newHTTPServer(l.serveHTTP)
	if l.HasUpstream() {
		l.upRun.srv, l.upRun.queue = l.newHTTPServer(l.serveUpstreamHTTP)
		l.frontSrv, l.frontQueue = l.newHTTPServer(l.serveFront)
	}
}

// newHTTPServer starts an HTTP/1.1 and HTTP/2 server for handler, fed with connections
// whose handshake the lab did, through the returned listener.
func (l *Lab) newHTTPServer(handler http.HandlerFunc) (*http.Server, *chanListener) {
	queue := &chanListener{addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, ch: make(chan net.Conn), done: make(chan struct{})}
	// HTTP/1.1 and HTTP/2 over TLS as ALPN picks, and prior-knowledge HTTP/2 on a
	// listener without ssl (serveH2C hands over only connections that sent the preface).
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{
		Handler:           handler,
		Protocols:         &protocols,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       30 * time.Second,
		ErrorLog:          nullLogger(),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, l.conns.get(c))
		},
		ConnState: func(c net.Conn, s http.ConnState) {
			if s == http.StateClosed || s == http.StateHijacked {
				l.conns.remove(c)
			}
		},
	}
	go func() { _ = srv.Serve(queue) }() // returns http.ErrServerClosed on Close
	return srv, queue
}

// listenLocked unparks Addr and listens there (NGINX started).
func (l *Lab) listenLocked() error {
	if l.ln != nil {
		return nil
	}
	var ln net.Listener
	var err error
	if l.parked != nil {
		ln, err = l.parked.listen()
		l.parked = nil
	} else {
		ln, err = net.Listen("tcp", l.Addr)
	}
	if err != nil {
		return fmt.Errorf("lab: listen on %s: %w", l.Addr, err)
	}
	l.ln = ln
	l.accepts.Add(1)
	go l.acceptLoop(ln, func(c net.Conn) { go l.serveConn(c) })
	return nil
}

// acceptLoop hands every connection ln accepts to handle until ln is closed; every
// listener of the lab (manager, front, upstreams, the shims' control socket) runs one,
// counted in l.accepts. handle runs on the loop, so it must not block.
func (l *Lab) acceptLoop(ln net.Listener, handle func(net.Conn)) {
	defer l.accepts.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // e.g. EMFILE: do not spin
			continue
		}
		handle(c)
	}
}

// serveConn does what NGINX does with a new connection on an ssl listener: a first byte
// other than a TLS handshake record means plain HTTP; otherwise the TLS handshake, then
// HTTP/2 or HTTP/1.1 as ALPN chose.
func (l *Lab) serveConn(raw net.Conn) {
	ci := l.conns.add(raw)
	_ = raw.SetDeadline(time.Now().Add(handshakeTimeout))
	br := bufio.NewReaderSize(raw, l.readBuffer)
	first, err := br.Peek(1)
	l.mu.Lock()
	ssl := l.mgr.ssl
	l.mu.Unlock()
	if err != nil {
		if ssl {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				l.logs.info(ci, "client timed out (110: Connection timed out) while SSL handshaking", l.listenAddr())
			} else {
				l.logs.info(ci, "client closed connection while SSL handshaking", l.listenAddr())
			}
		}
		l.dropConn(raw)
		return
	}
	if !ssl {
		l.serveH2C(raw, br, ci)
		return
	}
	if first[0] != 0x16 {
		l.servePlain(raw, br, ci)
		l.dropConn(raw)
		return
	}
	cfg := l.tlsConfig()
	conn := tls.Server(&peekedConn{Conn: raw, r: br}, cfg)
	if err := conn.Handshake(); err != nil {
		l.logs.info(ci, "SSL_do_handshake() failed ("+opensslReason(err)+") while SSL handshaking", l.listenAddr())
		conn.Close()
		l.conns.remove(raw)
		return
	}
	l.handOver(raw, conn, ci, l.queue)
}

// handOver passes conn, the connection raw became after its handshake (or raw itself),
// with what the lab knows of its client, to the HTTP server behind q; it is dropped when
// that server is shutting down.
func (l *Lab) handOver(raw, conn net.Conn, ci *connInfo, q *chanListener) {
	_ = raw.SetDeadline(time.Time{})
	l.conns.remove(raw)
	l.conns.mu.Lock()
	l.conns.conns[conn] = ci
	l.conns.mu.Unlock()
	select {
	case q.ch <- conn:
	case <-q.done:
		l.dropConn(conn)
	}
}

func (l *Lab) dropConn(c net.Conn) {
	c.Close()
	l.conns.remove(c)
}

// listenAddr is what NGINX logs as "server:" before a request exists.
func (l *Lab) listenAddr() string { return l.Addr }

// h2Preface is the HTTP/2 client connection preface (RFC 9113 §3.4).
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// serveH2C is NGINX's `listen ... http2` without ssl: a client that opens with the HTTP/2
// preface is served in plaintext; anything else (an agent's TLS ClientHello) is logged as
// "invalid connection preface" and answered with SETTINGS and GOAWAY(PROTOCOL_ERROR).
func (l *Lab) serveH2C(raw net.Conn, br *bufio.Reader, ci *connInfo) {
	got, err := br.Peek(len(h2Preface))
	if !strings.HasPrefix(h2Preface, string(got)) {
		l.logs.info(ci, "invalid connection preface while processing HTTP/2 connection", l.listenAddr())
		_, _ = raw.Write(h2Refusal)
		l.dropConn(raw)
		return
	}
	if err != nil {
		l.dropConn(raw)
		return
	}
	_ = raw.SetDeadline(time.Time{})
	pc := &h2cConn{peekedConn: peekedConn{Conn: raw, r: br}}
	pc.closed = func() { l.conns.remove(pc) }
	l.conns.remove(raw)
	l.conns.mu.Lock()
	l.conns.conns[pc] = ci
	l.conns.mu.Unlock()
	select {
	case l.queue.ch <- pc:
	case <-l.queue.done:
		l.dropConn(pc)
	}
}

// h2Refusal is what NGINX 1.22 writes before closing an HTTP/2 connection with a bad
// preface: its SETTINGS (128 streams, 64 KiB window, 16 KiB frames), a connection
// WINDOW_UPDATE, then GOAWAY with PROTOCOL_ERROR.
var h2Refusal = []byte{
	0, 0, 18, 4, 0, 0, 0, 0, 0, // SETTINGS, 3 parameters
	0, 3, 0, 0, 0, 128, // MAX_CONCURRENT_STREAMS 128
	0, 4, 0, 1, 0, 0, // INITIAL_WINDOW_SIZE 65536
	0, 5, 0, 0, 64, 0, // MAX_FRAME_SIZE 16384
	0, 0, 4, 8, 0, 0, 0, 0, 0, 0x7f, 0xff, 0, 0, // WINDOW_UPDATE +2147418112
	0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, // GOAWAY last 0, PROTOCOL_ERROR
}

// peekedConn reads through the bufio.Reader that peeked the first byte.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (p *peekedConn) Read(b []byte) (int, error) { return p.r.Read(b) }

// h2cConn is a prior-knowledge HTTP/2 connection as the HTTP server writes to it. Once
// the server has written a GOAWAY with an error code, the connection is closed as NGINX's
// lingering close after GOAWAY does it (src/http/v2/ngx_http_v2.c,
// ngx_http_v2_lingering_close, since 1.19.1): the writing side is shut down, what the
// client still sends is read and dropped until it closes its side or lingeringTimeout
// passes, then the connection is closed. Go's server would instead keep the connection
// open for a second (goAwayTimeout) and, after a frame too large, stop reading it.
type h2cConn struct {
	peekedConn
	mu        sync.Mutex
	header    []byte // the frame header being written (RFC 9113 §4.1: 9 bytes)
	payload   int    // bytes of the current frame's payload still to be written
	inGoAway  bool   // the current frame is a GOAWAY (§6.8)
	goAway    []byte // its first 8 payload bytes: last stream ID, error code
	shutWrite bool   // a GOAWAY with an error code is written: shut down after it
	// closed tells the lab the connection is closed (the HTTP server may learn it later).
	closed func()
}

func (c *h2cConn) Write(b []byte) (int, error) {
	n, err := c.peekedConn.Write(b)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.scan(b[:n])
	if c.shutWrite && c.payload == 0 {
		c.shutWrite = false
		go c.linger()
	}
	return n, err
}

// lingeringTimeout is NGINX's lingering_timeout default
// (https://nginx.org/en/docs/http/ngx_http_core_module.html#lingering_timeout).
const lingeringTimeout = 5 * time.Second

// linger shuts down the writing side, drops what the client still sends until it closes
// its side (or lingeringTimeout passes), then closes the connection. It reads the
// connection itself, not through the HTTP server's buffered reader.
func (c *h2cConn) linger() {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.Conn.SetReadDeadline(time.Now().Add(lingeringTimeout))
	_, _ = io.Copy(io.Discard, c.Conn)
	c.Conn.Close()
	c.closed()
}

// scan follows the frames in b, the next bytes written.
func (c *h2cConn) scan(b []byte) {
	for len(b) > 0 {
		if c.payload == 0 {
			k := min(9-len(c.header), len(b))
			c.header, b = append(c.header, b[:k]...), b[k:]
			if len(c.header) < 9 {
				return
			}
			c.payload = int(c.header[0])<<16 | int(c.header[1])<<8 | int(c.header[2])
			c.inGoAway, c.goAway, c.header = c.header[3] == 0x7, c.goAway[:0], c.header[:0]
			continue
		}
		k := min(c.payload, len(b))
		if c.inGoAway && len(c.goAway) < 8 {
			c.goAway = append(c.goAway, b[:min(k, 8-len(c.goAway))]...)
			if len(c.goAway) == 8 && (c.goAway[4]|c.goAway[5]|c.goAway[6]|c.goAway[7]) != 0 {
				c.shutWrite = true
			}
		}
		c.payload, b = c.payload-k, b[k:]
	}
}

// tlsConfig is the server's TLS configuration as of now: NGINX's ssl_certificate,
// ssl_client_certificate (whose subjects go out as the acceptable CA names),
// ssl_verify_client and ALPN.
func (l *Lab) tlsConfig() *tls.Config {
	l.mu.Lock()
	m := l.mgr
	l.mu.Unlock()
	cfg := m.nginxTLS()
	if m.verifyClient == "off" {
		cfg.ClientAuth = tls.NoClientCert
	}
	if !m.http2 {
		// NGINX without http2 selects http/1.1 or, for a client offering h2 only (grpc-go),
		// aborts the handshake with "no application protocol".
		cfg.NextProtos = []string{"http/1.1"}
	}
	return cfg
}

// nginxTLS is the TLS configuration of an NGINX server block with m's settings:
// ssl_certificate (the chain), ssl_client_certificate, ssl_protocols and ALPN h2 and
// http/1.1. NGINX asks for a client certificate but judges it only when a request
// arrives, so the handshake requests one and verifies nothing.
func (m manager) nginxTLS() *tls.Config {
	chain := make([][]byte, len(m.chain))
	for i, c := range m.chain {
		chain[i] = c.Cert.Raw
	}
	pool := x509.NewCertPool()
	for _, c := range m.clientCAs {
		pool.AddCert(c.Cert)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: chain, PrivateKey: m.chain[0].Key, Leaf: m.chain[0].Cert}},
		ClientAuth:   tls.RequestClientCert,
		ClientCAs:    pool,
		NextProtos:   []string{"h2", "http/1.1"},
		MinVersion:   m.protocols[0],
		MaxVersion:   m.protocols[len(m.protocols)-1],
	}
}

// opensslReason words a failed handshake as NGINX 1.22 with OpenSSL 3.0 logs it.
func opensslReason(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "unsupported application protocols"):
		return "SSL: error:0A0000EB:SSL routines::no application protocol"
	case strings.Contains(msg, "unsupported versions"), strings.Contains(msg, "protocol version"):
		return "SSL: error:0A000102:SSL routines::unsupported protocol"
	case strings.Contains(msg, "no cipher suite"):
		return "SSL: error:0A0000C1:SSL routines::no shared cipher"
	}
	if i := strings.Index(msg, "remote error: tls: "); i >= 0 {
		name := msg[i+len("remote error: tls: "):]
		if a, ok := alertByName[name]; ok {
			return fmt.Sprintf("SSL: error:0A%06X:SSL routines::%s:SSL alert number %d", 1000+a.num, a.reason, a.num)
		}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "SSL: peer closed connection in SSL handshake"
	}
	return "SSL: " + msg
}

// alertByName maps Go's names of TLS alerts a client sends to OpenSSL's reason texts.
var alertByName = map[string]struct {
	num    int
	reason string
}{
	"bad certificate":                 {42, "sslv3 alert bad certificate"},
	"unsupported certificate":         {43, "sslv3 alert unsupported certificate"},
	"revoked certificate":             {44, "sslv3 alert certificate revoked"},
	"expired certificate":             {45, "sslv3 alert certificate expired"},
	"unknown certificate":             {46, "sslv3 alert certificate unknown"},
	"unknown certificate authority":   {48, "tlsv1 alert unknown ca"},
	"handshake failure":               {40, "sslv3 alert handshake failure"},
	"protocol version not supported":  {70, "tlsv1 alert protocol version"},
	"internal error":                  {80, "tlsv1 alert internal error"},
	"unrecognized name":               {112, "tlsv1 unrecognized name"},
	"no application protocol":         {120, "tlsv1 alert no application protocol"},
	"certificate required":            {116, "tlsv13 alert certificate required"},
	"illegal parameter":               {47, "sslv3 alert illegal parameter"},
	"decrypt error":                   {51, "tlsv1 alert decrypt error"},
	"user canceled":                   {90, "tlsv1 alert user cancelled"},
	"inappropriate fallback":          {86, "tlsv1 alert inappropriate fallback"},
	"unsupported extension":           {110, "tlsv1 alert unsupported extension"},
	"access denied":                   {49, "tlsv1 alert access denied"},
	"decode error":                    {50, "tlsv1 alert decode error"},
	"insufficient security level":     {71, "tlsv1 alert insufficient security"},
	"error decoding message":          {50, "tlsv1 alert decode error"},
	"missing extension":               {109, "tlsv13 alert missing extension"},
	"bad certificate status response": {113, "tlsv1 bad certificate status response"},
}

// servePlain answers a plaintext client on the TLS port as NGINX does: the h2c preface an
// agent with tls.enable false sends is an invalid HTTP/1 request (400); any other HTTP/1
// request gets 497, sent as 400 "The plain HTTP request was sent to HTTPS port".
func (l *Lab) servePlain(c net.Conn, br *bufio.Reader, ci *connInfo) {
	line, err := readLine(br, l.maxRequestLine)
	if err != nil {
		return
	}
	// "METHOD URI HTTP/1.x"; anything else (the h2c preface "PRI * HTTP/2.0" among them)
	// is an invalid request line to NGINX's HTTP/1 parser.
	_, rest, _ := strings.Cut(line, " ")
	_, proto, _ := strings.Cut(rest, " ")
	if !strings.HasPrefix(proto, "HTTP/1.") {
		l.logs.infoReq(ci, "client sent invalid request while reading client request line", line, "")
		l.writePlain(c, ci, line, 400)
		return
	}
	host := ""
	for {
		h, err := readLine(br, l.maxRequestLine)
		if err != nil {
			return
		}
		if h == "" {
			break
		}
		if k, v, ok := strings.Cut(h, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "host") {
			host = strings.TrimSpace(v)
		}
	}
	l.logs.infoReq(ci, "client sent plain HTTP request to HTTPS port while reading client request headers", line, host)
	l.writePlain(c, ci, line, 497)
}

// readLine reads a line of at most limit bytes (more when br's buffer holds it whole).
func readLine(br *bufio.Reader, limit int) (string, error) {
	var b []byte
	for len(b) <= limit {
		chunk, isPrefix, err := br.ReadLine()
		if err != nil {
			return "", err
		}
		b = append(b, chunk...)
		if !isPrefix {
			return string(b), nil
		}
	}
	return "", errors.New("request line too long")
}

func (l *Lab) writePlain(c net.Conn, ci *connInfo, request string, code int) {
	body := errorPage(code)
	status := wireStatus(code)
	fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nServer: %s\r\nDate: %s\r\nContent-Type: text/html\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		status, http.StatusText(status), serverHeader, l.Clock().UTC().Format(http.TimeFormat), len(body), body)
	l.logs.access(ci.client, request, status, len(body), "")
}

// connOf is what the lab knows of the client of r's connection (from its accept and
// handshake); a request that did not come through them is from 127.0.0.1.
func connOf(r *http.Request) *connInfo {
	if ci, _ := r.Context().Value(connKey{}).(*connInfo); ci != nil {
		return ci
	}
	return &connInfo{client: "127.0.0.1"}
}

// setNginxHeaders sets the headers NGINX puts on every answer: Server and Date.
func setNginxHeaders(w http.ResponseWriter, now time.Time) {
	w.Header().Set("Server", serverHeader)
	w.Header().Set("Date", now.UTC().Format(http.TimeFormat))
}

// serveHTTP is NGINX's request processing: the client-certificate check first (before any
// location is matched), then the location, then the gRPC backend.
func (l *Lab) serveHTTP(w http.ResponseWriter, r *http.Request) {
	ci := connOf(r)
	l.mu.Lock()
	m := l.mgr
	l.mu.Unlock()
	now := l.Clock()
	request := r.Method + " " + r.RequestURI + " " + r.Proto
	setNginxHeaders(w, now)

	if code := l.judgeClient(m, r, ci, request, ServerName); code != 0 {
		l.reject(w, r, ci, request, code, m.grpcErrors)
		return
	}

	service, method := splitGRPCPath(r.URL.Path)
	loc := matchLocation(m.locations, r.URL.Path)
	if loc == "" {
		l.logs.errorReq(ci, fmt.Sprintf("open() \"%s%s\" failed (2: No such file or directory)", docRoot, r.URL.Path), request, r.Host)
		l.writePage(w, r, ci, request, 404)
		return
	}
	if upstream, ok := m.upstreams[loc]; m.backendDown || ok && upstream != m.backendAddr {
		if !ok {
			upstream = m.backendAddr
		}
		l.logs.errorUpstream(ci, "connect() failed (111: Connection refused) while connecting to upstream", request,
			"grpc://"+upstream, r.Host)
		l.writePage(w, r, ci, request, http.StatusBadGateway)
		return
	}
	l.grpcReply(w, r, service, method)
	l.logs.access(ci.client, request, http.StatusOK, 0, r.UserAgent())
}

// judgeClient is NGINX's check of the client certificate when a request arrives
// (ngx_http_process_request): 496 when ssl_verify_client on and none was sent, 495 when
// OpenSSL's verification failed, each logged at [info] as the server block named server
// logs it; 0 when the request goes on.
func (l *Lab) judgeClient(m manager, r *http.Request, ci *connInfo, request, server string) int {
	if r.TLS == nil || m.verifyClient == "off" {
		return 0
	}
	sent := r.TLS.PeerCertificates
	switch {
	case len(sent) == 0 && m.verifyClient == "on":
		l.logs.infoReqAt(server, ci, "client sent no required SSL certificate while reading client request headers", request, r.Host)
		return 496
	case len(sent) > 0:
		cas := make([]*x509.Certificate, len(m.clientCAs))
		for i, c := range m.clientCAs {
			cas[i] = c.Cert
		}
		res := opensslverdict.Verify{Sent: sent, Trusted: cas, CRLCheck: len(m.crls) > 0, CRLs: m.crls,
			Depth: m.verifyDepth, Now: l.Clock()}.Run()
		if e, failed := res.Last(); failed {
			l.logs.infoReqAt(server, ci, fmt.Sprintf("client SSL certificate verify error: (%d:%s) while reading client request headers",
				e.Code, e.Text()), request, r.Host)
			return 495
		}
	}
	return 0
}

// The answer of the error_page mapping the lab applies for nginx-grpc-errors-unmapped
// (the diagnostics' playbook's snippet).
const (
	grpcUnauthenticated = "16"
	grpcRejectedMessage = "client certificate rejected"
)

// reject answers a request NGINX refused over the client certificate (495 or 496): its
// HTML 400 page, or with the gRPC mapping `return 200` from the named location, whose
// add_header lines and default_type make it a trailers-only gRPC error.
func (l *Lab) reject(w http.ResponseWriter, r *http.Request, ci *connInfo, request string, code int, grpcErrors bool) {
	if !grpcErrors {
		l.writePage(w, r, ci, request, code)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/grpc")
	h.Set("Content-Length", "0")
	h.Set("Grpc-Status", grpcUnauthenticated)
	h.Set("Grpc-Message", grpcRejectedMessage)
	w.WriteHeader(http.StatusOK)
	l.logs.access(ci.client, request, http.StatusOK, 0, r.UserAgent())
}

// writePage sends NGINX's HTML page for code and logs the request in access.log.
func (l *Lab) writePage(w http.ResponseWriter, r *http.Request, ci *connInfo, request string, code int) {
	body := errorPage(code)
	status := wireStatus(code)
	h := w.Header()
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
	l.logs.access(ci.client, request, status, len(body), r.UserAgent())
}

func splitGRPCPath(p string) (service, method string) {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return p, ""
	}
	return p[:i], p[i+1:]
}

// matchLocation is the longest prefix location matching path (NGINX's choice among
// prefix locations), "" when none does.
func matchLocation(locations []string, path string) string {
	best := ""
	for _, loc := range locations {
		if strings.HasPrefix(path, loc) && len(loc) > len(best) {
			best = loc
		}
	}
	return best
}

// grpcReply answers as the management plane's gRPC server: the agent's methods succeed
// (grpcstub.Accept); anything else gets a trailers-only grpc-status 12.
func (l *Lab) grpcReply(w http.ResponseWriter, r *http.Request, service, method string) {
	if !knownMethod(service, method) {
		grpcstub.Unimplemented(w, unimplementedMessage(service, method))
		return
	}
	grpcstub.Accept(w, r)
}

func knownMethod(service, method string) bool {
	for _, m := range agentServices[service] {
		if m == method {
			return true
		}
	}
	return false
}

// unimplementedMessage is grpc-go's wording for an unknown service or method.
func unimplementedMessage(service, method string) string {
	svc := strings.TrimPrefix(service, "/")
	if _, ok := agentServices[service]; ok {
		return fmt.Sprintf("unknown method %s for service %s", method, svc)
	}
	return fmt.Sprintf("unknown service %s", svc)
}
