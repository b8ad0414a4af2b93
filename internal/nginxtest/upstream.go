package nginxtest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/internal/pki"
)

// UpstreamBody is what an upstream made by UpstreamServer answers on every path, so a
// test can tell a request that got through the link from an error page.
const UpstreamBody = "upstream ok"

// UpstreamPKI is the PKI of one NGINX → upstream mTLS link, written as PEM files: one CA
// issues the upstream's server certificate (DNS name UpstreamName and IP 127.0.0.1) and
// the front's client certificate (clientAuth).
type UpstreamPKI struct {
	Gen                            *pki.Generator
	CA, Server, Client             *pki.Cert
	CAFile, ServerCert, ServerKey  string
	ClientCert, ClientKey, AllFile string
}

// UpstreamName is the DNS name in the upstream's certificate.
const UpstreamName = "upstream.test.local"

// NewUpstreamPKI makes the link's PKI valid at now and writes it under dir: ca.pem,
// upstream.pem/upstream.key, proxy.pem/proxy.key.
func NewUpstreamPKI(t testing.TB, dir string, now time.Time) *UpstreamPKI {
	t.Helper()
	p := &UpstreamPKI{Gen: pki.New(now)}
	var err error
	must := func(e error) {
		t.Helper()
		if e != nil {
			t.Fatalf("nginxtest: upstream PKI: %v", e)
		}
	}
	p.CA, err = p.Gen.Root("upstream-ca")
	must(err)
	p.Server, err = p.Gen.Issue(p.CA, pki.Spec{CommonName: UpstreamName, DNSNames: []string{UpstreamName},
		IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	must(err)
	p.Client, err = p.Gen.Issue(p.CA, pki.Spec{CommonName: "front-proxy",
		EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	must(err)
	p.CAFile = filepath.Join(dir, "ca.pem")
	p.ServerCert, p.ServerKey = filepath.Join(dir, "upstream.pem"), filepath.Join(dir, "upstream.key")
	p.ClientCert, p.ClientKey = filepath.Join(dir, "proxy.pem"), filepath.Join(dir, "proxy.key")
	must(pki.WriteCerts(p.CAFile, p.CA))
	must(pki.WriteCerts(p.ServerCert, p.Server))
	must(pki.WriteKey(p.ServerKey, p.Server))
	must(pki.WriteCerts(p.ClientCert, p.Client))
	must(pki.WriteKey(p.ClientKey, p.Client))
	return p
}

// UpstreamServer is the server{} of an upstream NGINX that requires a client certificate
// issued by p's CA (ssl_verify_client on) and answers UpstreamBody with 200.
func (p *UpstreamPKI) UpstreamServer(port int) Server {
	return Server{Port: port, SSL: true, ServerName: UpstreamName, Cert: p.ServerCert, Key: p.ServerKey,
		ClientCA: p.CAFile, VerifyClient: "on",
		Extra: "location / {\n    return 200 \"" + UpstreamBody + "\\n\";\n}\n"}
}

// ProxySSL are the proxy_ssl_* (or grpc_ssl_*) directives of a front location; an empty
// field leaves its directive out, so NGINX's default applies.
type ProxySSL struct {
	Certificate, CertificateKey, PasswordFile string
	TrustedCertificate, Verify, VerifyDepth   string
	Name, ServerName, Protocols, Ciphers, CRL string
}

// Directives renders the directives with prefix "proxy" or "grpc", one per line.
func (s ProxySSL) Directives(prefix string) string {
	var b strings.Builder
	for _, d := range []struct{ name, value string }{
		{"certificate", s.Certificate}, {"certificate_key", s.CertificateKey}, {"password_file", s.PasswordFile},
		{"trusted_certificate", s.TrustedCertificate}, {"verify", s.Verify}, {"verify_depth", s.VerifyDepth},
		{"name", s.Name}, {"server_name", s.ServerName}, {"protocols", s.Protocols}, {"ciphers", s.Ciphers},
		{"crl", s.CRL},
	} {
		if d.value != "" {
			fmt.Fprintf(&b, "%s_ssl_%s %s;\n", prefix, d.name, d.value)
		}
	}
	return b.String()
}

// FrontServer is the server{} of a front NGINX listening in plaintext on port whose
// location / proxies to https://target with ssl's directives.
func FrontServer(port int, target string, ssl ProxySSL) Server {
	return Server{Port: port, ServerName: "front.test.local",
		Extra: "location / {\n" + indent("proxy_pass https://"+target+";\n"+ssl.Directives("proxy"), "    ") + "}\n"}
}

// AlertUpstream is a TLS upstream stand-in that answers every ClientHello with one fatal
// alert, the way Go, Java or Envoy upstreams abort a handshake (RFC 8446 section 6): a
// front NGINX then logs "SSL_do_handshake() failed (SSL: … alert …:SSL alert number N)".
type AlertUpstream struct {
	ln    net.Listener
	alert byte
	wg    sync.WaitGroup
	conns atomic.Int64
}

// Conns counts the connections accepted so far.
func (u *AlertUpstream) Conns() int { return int(u.conns.Load()) }

// StartAlertUpstream listens on a free 127.0.0.1 port and answers with alert; the test's
// cleanup closes it.
func StartAlertUpstream(t testing.TB, alert byte) *AlertUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("nginxtest: alert upstream: %v", err)
	}
	u := &AlertUpstream{ln: ln, alert: alert}
	u.wg.Add(1)
	go u.serve()
	t.Cleanup(func() { u.Close() })
	return u
}

func (u *AlertUpstream) serve() {
	defer u.wg.Done()
	for {
		c, err := u.ln.Accept()
		if err != nil {
			return
		}
		u.conns.Add(1)
		u.wg.Add(1)
		go func() {
			defer u.wg.Done()
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			// The record header of the ClientHello (type 22), then its body.
			var hdr [5]byte
			if _, err := io.ReadFull(c, hdr[:]); err != nil || hdr[0] != 22 {
				return
			}
			n := int(hdr[3])<<8 | int(hdr[4])
			if _, err := io.CopyN(io.Discard, c, int64(n)); err != nil {
				return
			}
			// An alert record (type 21), TLS 1.2 record version, level fatal (2).
			_, _ = c.Write([]byte{21, 3, 3, 0, 2, 2, u.alert})
		}()
	}
}

// Addr is the listen address, host:port.
func (u *AlertUpstream) Addr() string { return u.ln.Addr().String() }

// Close stops listening and waits for the open connections to end.
func (u *AlertUpstream) Close() error {
	err := u.ln.Close()
	u.wg.Wait()
	return err
}

// TLSUpstream is a Go crypto/tls HTTPS upstream: with ClientAuth
// RequireAndVerifyClientCert it rejects a client certificate in the handshake, with the
// alerts Go chooses (crypto/tls handshake_server.go: 116 certificate required under TLS
// 1.3, 40 under 1.2 when none is sent; 48 unknown CA, 45 expired, 42 otherwise).
type TLSUpstream struct {
	ln     net.Listener
	srv    *http.Server
	config *atomic.Pointer[tls.Config] // StartTLSUpstream's: what Restart replaces
}

// StartTLSUpstream serves UpstreamBody over TLS with cfg on a free 127.0.0.1 port; the
// test's cleanup closes it.
func StartTLSUpstream(t testing.TB, cfg *tls.Config) *TLSUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("nginxtest: TLS upstream: %v", err)
	}
	current := new(atomic.Pointer[tls.Config])
	current.Store(cfg)
	// Each handshake takes the configuration Restart stored last.
	u := serveTLSUpstream(t, tls.NewListener(ln, &tls.Config{
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return current.Load(), nil },
	}))
	u.config = current
	return u
}

// Restart is the service started again by systemd on the same socket, with cfg read
// anew: the listening socket is kept, so no other test can take its port in between
// (closing it and listening again on its port raced with the ephemeral ports of other
// tests' connections: "bind: address already in use").
func (u *TLSUpstream) Restart(cfg *tls.Config) {
	u.config.Store(cfg)
	u.srv.SetKeepAlivesEnabled(false) // connections served with the old cfg end after their request
	u.srv.SetKeepAlivesEnabled(true)
}

// StartSNIUpstream is StartTLSUpstream for an upstream that needs SNI, as virtual-hosted
// TLS servers (CDNs, ingresses) do: a ClientHello without a server name is answered with
// alert 40 handshake_failure. Go itself would answer 80 internal_error when
// GetConfigForClient fails (crypto/tls handshake_server.go), so the stand-in writes the
// alert itself and silences Go's.
func StartSNIUpstream(t testing.TB, cfg *tls.Config) *TLSUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("nginxtest: SNI upstream: %v", err)
	}
	cfg = cfg.Clone()
	cfg.GetConfigForClient = func(chi *tls.ClientHelloInfo) (*tls.Config, error) {
		if chi.ServerName != "" {
			return nil, nil
		}
		if c, ok := chi.Conn.(*refusingConn); ok {
			c.refuse(40)
		}
		return nil, errors.New("nginxtest: no server name (SNI) in the ClientHello")
	}
	return serveTLSUpstream(t, tls.NewListener(refusingListener{ln}, cfg))
}

// refusingListener hands out refusingConns.
type refusingListener struct{ net.Listener }

func (l refusingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &refusingConn{Conn: c}, nil
}

// refusingConn is a connection whose TLS server can answer with an alert of the test's
// choosing: refuse writes it, and crypto/tls's own records after it are dropped.
type refusingConn struct {
	net.Conn
	refused atomic.Bool
}

// refuse writes a fatal alert record (type 21, TLS 1.2 record version, level 2).
func (c *refusingConn) refuse(alert byte) {
	_, _ = c.Conn.Write([]byte{21, 3, 3, 0, 2, 2, alert})
	c.refused.Store(true)
}

func (c *refusingConn) Write(b []byte) (int, error) {
	if c.refused.Load() {
		return len(b), nil
	}
	return c.Conn.Write(b)
}

// serveTLSUpstream serves UpstreamBody on ln until the test ends.
func serveTLSUpstream(t testing.TB, ln net.Listener) *TLSUpstream {
	t.Helper()
	u := &TLSUpstream{ln: ln, srv: &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, UpstreamBody+"\n")
		}),
		ReadHeaderTimeout: 5 * time.Second,
		// net/http logs each refused handshake; the front NGINX's log is what tests read.
		ErrorLog: log.New(io.Discard, "", 0),
	}}
	go func() { _ = u.srv.Serve(ln) }()
	t.Cleanup(func() { u.Close() })
	return u
}

// GoTLSConfig is the tls.Config of a Go upstream that requires a client certificate
// issued by p's CA and serves p's server certificate.
func (p *UpstreamPKI) GoTLSConfig() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(p.CA.Cert)
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{p.Server.Cert.Raw}, PrivateKey: p.Server.Key}},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
	}
}

// Addr is the listen address, host:port.
func (u *TLSUpstream) Addr() string { return u.ln.Addr().String() }

// Close stops the server.
func (u *TLSUpstream) Close() error {
	err := u.srv.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
