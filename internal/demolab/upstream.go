package demolab

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mtls-doctor/mtls-doctor/internal/pki"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// The lab's second mTLS link: NGINX as a client of its upstream. In the upstream
// scenarios nginx.conf has, beside the manager's server, a front server whose location /
// passes to https://127.0.0.1:<upstream port> (grpcs:// for grpc_pass) with the
// proxy_ssl_* (grpc_ssl_*) directives, and the upstream itself: either a server block of
// the same nginx.conf with ssl_verify_client on, which finishes the handshake and answers
// NGINX's 400 pages for a missing or refused client certificate (src/http/
// ngx_http_request.c, ngx_http_process_request), or a Go gRPC service (NGINX Instance
// Manager 1.x's nginx-manager behind grpc_pass grpcs://) that requires and verifies the
// client certificate in the handshake, aborting it with an alert as crypto/tls does.
// Both read their files again on every reload. What the front sends is judged by the
// checks from the configuration and files; the lab plays the upstream's side.

// Names of the upstream link.
const (
	// FrontName is the front server's server_name.
	FrontName = "front.test.local"
	// UpstreamName is the DNS name in the upstream's certificate (and its server_name).
	UpstreamName = "backend.test.local"
	// ProxyClientName is the common name of the front's client certificate.
	ProxyClientName = "front-proxy.test.local"
	upstreamCAName  = "backend-ca"
)

// File names of the upstream link inside the manager directory: the front's client
// certificate, key and trusted CA, and the upstream's certificate, key and client CA.
const (
	proxyCertName     = "proxy-client.pem"
	proxyKeyName      = "proxy-client.key"
	proxyTrustedName  = "backend-ca.pem"
	backendCertName   = "backend.pem"
	backendKeyName    = "backend.key"
	backendClientName = "backend-client-ca.pem"
	backendCRLName    = "backend-client.crl"
	proxyCRLName      = "backend-server.crl"
	// grpcFrontPath is the gRPC front's location: an application's service.
	grpcFrontPath = "/orders.v1.Orders/"
	// upstreamBody is what the upstream answers a request that got through.
	upstreamBody = "upstream ok\n"
)

// upstreamKind is what serves the upstream port.
type upstreamKind int

const (
	upstreamNone  upstreamKind = iota // no upstream link: the agent → manager scenarios
	upstreamNginx                     // a server block of nginx.conf
	upstreamGo                        // a Go gRPC service verifying the client in the handshake
)

// front is the front server's location: what its proxy_ssl_* (grpc_ssl_*) say.
type front struct {
	grpc bool // grpc_pass grpcs:// instead of proxy_pass https://
	// sslPrefix is the prefix of the location's TLS directives: "proxy_ssl_" or
	// "grpc_ssl_"; proxy_ssl_* under grpc_pass do nothing (ngx_http_grpc_module reads its own).
	sslPrefix string
	// certPrefix, when set, is the prefix of the certificate and key directives alone:
	// "proxy_ssl_" under grpc_pass is the NIM 1.x re-encrypt mistake.
	certPrefix string
	cert       []*pki.Cert // the client certificate file; nil leaves the directives out
	key        *pki.Cert   // whose key the key file holds
	trusted    []*pki.Cert // *_ssl_trusted_certificate; nil leaves it out
	verify     bool
	name       string // *_ssl_name; "" leaves it out (NGINX then uses the pass host)
	sni        bool   // *_ssl_server_name on
	protocols  string // *_ssl_protocols; "" leaves it out
	crl        []byte // *_ssl_crl (DER of a CRL the upstream's CA signed); nil leaves it out
}

// upstreamSide is the upstream's configuration as the scenario writes it.
type upstreamSide struct {
	kind      upstreamKind
	ca        *pki.Cert   // issues the upstream's certificate and the front's client certificate
	chain     []*pki.Cert // ssl_certificate
	clientCAs []*pki.Cert // ssl_client_certificate
	protocols []uint16    // ssl_protocols
	// plainPort adds a plaintext listen to the NGINX upstream's server block, and the front
	// passes there: proxy_pass https:// to the port without ssl.
	plainPort bool
	// stopped is a Go service that is not running (its unit is stopped).
	stopped bool
	// crl, when set, is the upstream's ssl_crl (DER of a CRL its CA signed).
	crl []byte
	// clientInter is the intermediate that issued the front's client certificate, if any:
	// what the cert file should carry after the leaf.
	clientInter *pki.Cert
	// sniDefault adds a default server on the upstream port, first in the file, with a
	// certificate and client CA of another CA: without SNI NGINX picks it.
	sniDefault *pki.Cert
}

// upstreamRun is the upstream as loaded at the last reload: its ports, and the HTTP
// server behind them.
type upstreamRun struct {
	// ports are the upstream's: [0] its TLS port, [1] the plaintext one when the scenario
	// has one (upstreamSide.plainPort).
	ports []*upstreamPort
	// running is the Go service's state (systemctl start|stop backend); an NGINX upstream
	// runs with NGINX.
	running bool
	srv     *http.Server
	queue   *chanListener
}

// upstreamPort is one port of the upstream and what listens there.
type upstreamPort struct {
	addr  string
	port  int
	park  *parkedPort // the port while nothing listens
	ln    net.Listener
	conf  manager            // the default server's settings (or the Go service's files); conf.running: something listens
	named map[string]manager // server blocks on the port by server_name, for SNI
}

// upstreamUnit is the Go service's systemd unit in the lab's systemctl.
const upstreamUnit = "backend"

// setUpstream gives the lab a healthy upstream link of kind: the front sends a client
// certificate from the upstream's CA and verifies the upstream by name with SNI.
func (l *Lab) setUpstream(kind upstreamKind, grpc bool) error {
	ca, err := l.newCA(nil, upstreamCAName)
	if err != nil {
		return err
	}
	server, err := l.gen.Issue(ca, pki.Spec{CommonName: UpstreamName, DNSNames: []string{UpstreamName},
		EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	if err != nil {
		return err
	}
	client, err := l.newProxyCert(ca, pki.Spec{})
	if err != nil {
		return err
	}
	l.up = upstreamSide{kind: kind, ca: ca, chain: []*pki.Cert{server}, clientCAs: []*pki.Cert{ca},
		protocols: []uint16{tls.VersionTLS12, tls.VersionTLS13}}
	// The manager stays as healthy as in "healthy": only the link is at fault.
	l.mgr.grpcErrors = true
	l.front = front{grpc: grpc, sslPrefix: "proxy_ssl_", cert: []*pki.Cert{client}, key: client, trusted: []*pki.Cert{ca},
		verify: true, name: UpstreamName, sni: true, protocols: "TLSv1.2 TLSv1.3"}
	if grpc {
		l.front.sslPrefix = "grpc_ssl_"
	}
	return nil
}

// newProxyCert issues a client certificate for the front from issuer; spec's zero fields
// take the healthy defaults.
func (l *Lab) newProxyCert(issuer *pki.Cert, spec pki.Spec) (*pki.Cert, error) {
	if spec.CommonName == "" {
		spec.CommonName = ProxyClientName
	}
	if spec.EKU == nil {
		spec.EKU = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	return l.gen.Issue(issuer, spec)
}

// replaceProxyCert gives the front a new client certificate from the upstream's CA.
func (l *Lab) replaceProxyCert(spec pki.Spec) error {
	c, err := l.newProxyCert(l.up.ca, spec)
	if err != nil {
		return err
	}
	l.front.cert, l.front.key = []*pki.Cert{c}, c
	return nil
}

// HasUpstream reports whether the scenario has an NGINX → upstream link.
func (l *Lab) HasUpstream() bool { return l.up.kind != upstreamNone }

// UpstreamAddr is the upstream address the front's location passes to as the scenario
// writes it ("" without an upstream link): the plaintext port in upstream-not-tls.
func (l *Lab) UpstreamAddr() string {
	if len(l.upRun.ports) == 0 {
		return ""
	}
	return l.upRun.ports[len(l.upRun.ports)-1].addr
}

// upstreamTLSAddr is the upstream's TLS port.
func (l *Lab) upstreamTLSAddr() string {
	if len(l.upRun.ports) == 0 {
		return ""
	}
	return l.upRun.ports[0].addr
}

// parkUpstreamPorts reserves the upstream's ports: the TLS one and, for a plaintext
// listen, a second.
func (l *Lab) parkUpstreamPorts() error {
	n := 1
	if l.up.plainPort {
		n = 2
	}
	for range n {
		park, err := parkPort("127.0.0.1:0")
		if err != nil {
			return err
		}
		l.upRun.ports = append(l.upRun.ports, &upstreamPort{addr: park.addr, port: park.port, park: park})
	}
	l.upRun.running = !l.up.stopped
	return nil
}

// FrontAddr is the front server's listen address ("" without an upstream link).
func (l *Lab) FrontAddr() string {
	if l.frontPark == nil {
		return ""
	}
	return l.frontPark.addr
}

// upstreamFiles are the upstream link's files the lab writes at start.
func (l *Lab) upstreamFiles() map[string]func() ([]byte, error) {
	if !l.HasUpstream() {
		return nil
	}
	f, u := l.front, l.up
	files := map[string]func() ([]byte, error){
		backendCertName:   func() ([]byte, error) { return pki.CertsPEM(u.chain...), nil },
		backendKeyName:    func() ([]byte, error) { return u.chain[0].KeyPEM(pki.PKCS8) },
		backendClientName: func() ([]byte, error) { return pki.CertsPEM(u.clientCAs...), nil },
	}
	// The trusted CA file is written even when the location does not name it.
	trusted := f.trusted
	if trusted == nil {
		trusted = []*pki.Cert{u.ca}
	}
	files[proxyTrustedName] = func() ([]byte, error) { return pki.CertsPEM(trusted...), nil }
	// The client certificate's files exist even when the location does not name them: an
	// operator has them, and the fix names them.
	client := f.cert
	key := f.key
	if client == nil {
		c, err := l.newProxyCert(u.ca, pki.Spec{})
		if err != nil {
			return map[string]func() ([]byte, error){proxyCertName: func() ([]byte, error) { return nil, err }}
		}
		client, key = []*pki.Cert{c}, c
	}
	files[proxyCertName] = func() ([]byte, error) { return pki.CertsPEM(client...), nil }
	files[proxyKeyName] = func() ([]byte, error) { return key.KeyPEM(pki.PKCS8) }
	if f.crl != nil {
		files[proxyCRLName] = func() ([]byte, error) { return pki.CRLPEM(f.crl), nil }
	}
	if u.crl != nil {
		files[backendCRLName] = func() ([]byte, error) { return pki.CRLPEM(u.crl), nil }
	}
	if u.sniDefault != nil {
		files["default.pem"] = func() ([]byte, error) { return pki.CertsPEM(u.sniDefault), nil }
		files["default.key"] = func() ([]byte, error) { return u.sniDefault.KeyPEM(pki.PKCS8) }
	}
	return files
}

// upstreamConf is the upstream link's part of nginx.conf: the front server and, for an
// NGINX upstream, the upstream's server block (after the default server SNI picks
// against, if any).
func (l *Lab) upstreamConf() string {
	if !l.HasUpstream() {
		return ""
	}
	mgr := func(name string) string { return l.path(filepath.Join(managerDir, name)) }
	f, u := l.front, l.up
	var b strings.Builder
	b.WriteString("\n    # The front: NGINX as an mTLS client of its upstream.\n")
	b.WriteString("    server {\n")
	listen := "        listen " + l.FrontAddr()
	if f.grpc {
		listen += " http2"
	}
	b.WriteString(listen + ";\n")
	b.WriteString("        server_name " + FrontName + ";\n\n")
	// A gRPC front passes its application's service, not "/": a grpc_pass location that
	// matched the agents' paths would make it an agents' server to the manager checks.
	if f.grpc {
		b.WriteString("        location " + grpcFrontPath + " {\n")
	} else {
		b.WriteString("        location / {\n")
	}
	if f.grpc {
		b.WriteString("            grpc_pass grpcs://" + l.UpstreamAddr() + ";\n")
	} else {
		b.WriteString("            proxy_pass https://" + l.UpstreamAddr() + ";\n")
	}
	dir := func(name, value string) {
		fmt.Fprintf(&b, "            %-30s %s;\n", f.sslPrefix+name, value)
	}
	if f.cert != nil {
		prefix := f.sslPrefix
		if f.certPrefix != "" {
			prefix = f.certPrefix
		}
		fmt.Fprintf(&b, "            %-30s %s;\n", prefix+"certificate", mgr(proxyCertName))
		fmt.Fprintf(&b, "            %-30s %s;\n", prefix+"certificate_key", mgr(proxyKeyName))
	}
	if f.trusted != nil {
		dir("trusted_certificate", mgr(proxyTrustedName))
	}
	if f.verify {
		dir("verify", "on")
	}
	if f.name != "" {
		dir("name", f.name)
	}
	if f.sni {
		dir("server_name", "on")
	}
	if f.protocols != "" {
		dir("protocols", f.protocols)
	}
	if f.crl != nil {
		dir("crl", mgr(proxyCRLName))
	}
	b.WriteString("        }\n    }\n")
	if u.kind != upstreamNginx {
		b.WriteString("\n    # The upstream at " + l.UpstreamAddr() + " is a Go gRPC service (not NGINX), systemd unit\n" +
			"    # " + upstreamUnit + ", that requires a client certificate from " + mgr(backendClientName) + "\n" +
			"    # and serves " + mgr(backendCertName) + ".\n")
		if u.stopped {
			b.WriteString("    # It is not running.\n")
		}
		return b.String()
	}
	if u.sniDefault != nil {
		b.WriteString("\n    # The upstream port's default server: what a client without SNI reaches.\n")
		b.WriteString("    server {\n")
		b.WriteString("        listen " + l.upstreamTLSAddr() + " ssl default_server;\n")
		b.WriteString("        server_name _;\n")
		b.WriteString("        ssl_certificate        " + mgr("default.pem") + ";\n")
		b.WriteString("        ssl_certificate_key    " + mgr("default.key") + ";\n")
		b.WriteString("        return 421;\n    }\n")
	}
	b.WriteString("\n    # The upstream: requires a client certificate from its CA.\n")
	b.WriteString("    server {\n")
	listen = "        listen " + l.upstreamTLSAddr() + " ssl"
	if f.grpc {
		listen += " http2"
	}
	b.WriteString(listen + ";\n")
	if u.plainPort {
		b.WriteString("        listen " + l.UpstreamAddr() + ";\n")
	}
	b.WriteString("        server_name " + UpstreamName + ";\n\n")
	b.WriteString("        ssl_certificate        " + mgr(backendCertName) + ";\n")
	b.WriteString("        ssl_certificate_key    " + mgr(backendKeyName) + ";\n")
	var names []string
	for _, v := range u.protocols {
		names = append(names, protocolName[v])
	}
	b.WriteString("        ssl_protocols          " + strings.Join(names, " ") + ";\n")
	b.WriteString("        ssl_client_certificate " + mgr(backendClientName) + ";\n")
	b.WriteString("        ssl_verify_client      on;\n")
	if u.crl != nil {
		b.WriteString("        ssl_crl                " + mgr(backendCRLName) + ";\n")
	}
	b.WriteString("\n")
	b.WriteString("        location / {\n            return 200 \"" + strings.TrimSuffix(upstreamBody, "\n") + "\\n\";\n        }\n")
	b.WriteString("    }\n")
	return b.String()
}

// loadUpstream reads the upstream's configuration for each of its ports: the server
// blocks of c listening there (NGINX upstream) or the Go service's files. A port no
// server block listens on has nothing running.
func (l *Lab) loadUpstream(c *nginxconf.Config) ([]upstreamPort, error) {
	out := make([]upstreamPort, len(l.upRun.ports))
	for i, p := range l.upRun.ports {
		out[i] = upstreamPort{addr: p.addr, port: p.port}
	}
	switch l.up.kind {
	case upstreamGo:
		m := manager{running: true, ssl: true, verifyClient: "on", verifyDepth: 1,
			protocols: []uint16{tls.VersionTLS12, tls.VersionTLS13}}
		var err error
		if m.chain, err = loadKeyPair(l.path(filepath.Join(managerDir, backendCertName)), l.path(filepath.Join(managerDir, backendKeyName))); err != nil {
			return nil, err
		}
		if m.clientCAs, err = loadCerts(l.path(filepath.Join(managerDir, backendClientName))); err != nil {
			return nil, err
		}
		out[0].conf = m
		return out, nil
	case upstreamNginx:
	default:
		return out, nil
	}
	for i := range out {
		found := false
		out[i].named = map[string]manager{}
		for _, s := range c.HTTPServers() {
			for _, ls := range s.Listens {
				if ls.Port != out[i].port {
					continue
				}
				m, err := loadServerTLS(s, ls, manager{})
				if err != nil {
					return nil, err
				}
				m.running = true
				if !found || ls.DefaultServer {
					out[i].conf, found = m, true
				}
				for _, n := range s.ServerNames {
					out[i].named[n] = m
				}
				break
			}
		}
	}
	return out, nil
}

// syncUpstreamLocked makes each upstream port listen or refuse as the configuration says.
func (l *Lab) syncUpstreamLocked() error {
	if !l.HasUpstream() || l.closed {
		return nil
	}
	for i, p := range l.upRun.ports {
		// The NGINX upstream stops and starts with NGINX; the Go service with its unit.
		want := p.conf.running && l.mgr.running
		if l.up.kind == upstreamGo {
			want = p.conf.running && l.upRun.running
		}
		switch {
		case want && p.ln == nil:
			var ln net.Listener
			var err error
			if p.park != nil {
				ln, err = p.park.listen()
			} else {
				ln, err = net.Listen("tcp", p.addr)
			}
			if err != nil {
				return err
			}
			p.park, p.ln = nil, ln
			l.accepts.Add(1)
			go l.acceptLoop(ln, func(c net.Conn) { go l.serveUpstreamConn(c, i) })
		case !want && p.ln != nil:
			p.ln.Close()
			p.ln = nil
			if park, err := parkPort(p.addr); err == nil {
				p.park = park
			}
		}
	}
	return nil
}

// closeUpstreamLocked closes the upstream's listeners and frees its ports.
func (l *Lab) closeUpstreamLocked() {
	for _, p := range l.upRun.ports {
		if p.ln != nil {
			p.ln.Close()
			p.ln = nil
		}
		p.park.Close()
	}
}

// serveUpstreamConn is the upstream's side of a connection: plaintext HTTP on a listener
// without ssl; else NGINX's handshake (asks for a client certificate, judges it at the
// request) or the Go service's (requires and verifies it, aborting with an alert).
func (l *Lab) serveUpstreamConn(raw net.Conn, port int) {
	ci := l.conns.add(raw)
	ci.upstreamPort = port
	_ = raw.SetDeadline(time.Now().Add(handshakeTimeout))
	br := bufio.NewReader(raw)
	if _, err := br.Peek(1); err != nil {
		l.dropConn(raw)
		return
	}
	l.mu.Lock()
	p := l.upRun.ports[port]
	m, named, kind, addr := p.conf, p.named, l.up.kind, p.addr
	l.mu.Unlock()
	var conn net.Conn = &peekedConn{Conn: raw, r: br}
	if m.ssl {
		cfg := upstreamTLSConfig(m, named, kind)
		tc := tls.Server(conn, cfg)
		if err := tc.Handshake(); err != nil {
			if kind == upstreamNginx {
				l.logs.infoAt(ci, "SSL_do_handshake() failed ("+opensslReason(err)+") while SSL handshaking", addr)
			}
			tc.Close()
			l.conns.remove(raw)
			return
		}
		conn = tc
	}
	l.handOver(raw, conn, ci, l.upRun.queue)
}

// upstreamTLSConfig is the upstream's TLS configuration: NGINX's picks the server block
// by SNI (named) and asks for a certificate; the Go service requires and verifies one.
func upstreamTLSConfig(m manager, named map[string]manager, kind upstreamKind) *tls.Config {
	build := func(m manager) *tls.Config {
		cfg := m.nginxTLS()
		if len(m.clientCAs) == 0 {
			cfg.ClientAuth = tls.NoClientCert
		}
		if kind == upstreamGo {
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
		return cfg
	}
	cfg := build(m)
	if len(named) > 0 {
		cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			if n, ok := named[strings.ToLower(hello.ServerName)]; ok {
				return build(n), nil
			}
			return nil, nil
		}
	}
	return cfg
}

// serveUpstreamHTTP is the upstream's request processing: NGINX judges the client
// certificate first (as the manager's endpoint does, logging as the upstream's server),
// then answers; the Go service verified it in the handshake and answers the gRPC call.
func (l *Lab) serveUpstreamHTTP(w http.ResponseWriter, r *http.Request) {
	ci := connOf(r)
	l.mu.Lock()
	p := l.upRun.ports[ci.upstreamPort]
	m, named, kind := p.conf, p.named, l.up.kind
	l.mu.Unlock()
	if r.TLS != nil {
		if n, ok := named[strings.ToLower(r.TLS.ServerName)]; ok {
			m = n
		}
	}
	request := r.Method + " " + r.RequestURI + " " + r.Proto
	if kind == upstreamGo {
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			grpcHealthReply(w)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, upstreamBody)
		return
	}
	setNginxHeaders(w, l.Clock())
	if code := l.judgeClient(m, r, ci, request, UpstreamName); code != 0 {
		l.writePage(w, r, ci, request, code)
		return
	}
	if len(m.clientCAs) == 0 {
		// The default server SNI would have skipped: return 421.
		l.writePage(w, r, ci, request, http.StatusMisdirectedRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", strconv.Itoa(len(upstreamBody)))
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, upstreamBody)
	l.logs.access(ci.client, request, http.StatusOK, len(upstreamBody), r.UserAgent())
}

// grpcHealthReply answers grpc.health.v1.Health/Check with SERVING (message field 1 =
// 1), as a gRPC server with the standard health service does.
func grpcHealthReply(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "application/grpc")
	h.Set("Trailer", "Grpc-Status")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte{0, 0, 0, 0, 2, 0x08, 0x01})
	h.Set("Grpc-Status", "0")
}
