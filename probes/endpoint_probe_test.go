package probes

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/internal/grpcstub"
	"github.com/mtls-doctor/mtls-doctor/internal/nginxtest"
	"github.com/mtls-doctor/mtls-doctor/internal/pki"
)

const (
	labName      = "nim.test.local"
	commandPath  = PathV2CommandChannel
	probeTimeout = 3 * time.Second
)

// labPKI is a root, a server certificate for labName and 127.0.0.1, and agent certificates:
// good, expired and from another CA.
type labPKI struct {
	root, other               *pki.Cert
	server                    *pki.Cert
	agent, expired, foreigner *pki.Cert
}

func newLabPKI(t testing.TB) *labPKI {
	t.Helper()
	p := &labPKI{}
	p.root = tpIssue(t, nil, pki.Spec{CommonName: "probe test root", IsCA: true})
	p.other = tpIssue(t, nil, pki.Spec{CommonName: "some other root", IsCA: true})
	p.server = tpIssue(t, p.root, pki.Spec{CommonName: labName, DNSNames: []string{labName}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)},
		EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	clientAuth := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	p.agent = tpIssue(t, p.root, pki.Spec{CommonName: "agent-01", EKU: clientAuth})
	p.expired = tpIssue(t, p.root, pki.Spec{CommonName: "agent-old", EKU: clientAuth,
		From: -400 * 24 * time.Hour, Until: -24 * time.Hour})
	p.foreigner = tpIssue(t, p.other, pki.Spec{CommonName: "agent-foreign", EKU: clientAuth})
	return p
}

// tlsCert is c alone as a TLS certificate.
func tlsCert(c *pki.Cert) *tls.Certificate {
	return &tls.Certificate{Certificate: [][]byte{c.Cert.Raw}, PrivateKey: c.Key, Leaf: c.Cert}
}

func (p *labPKI) rootPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.root.Cert)
	return pool
}

// seen is what a Go test server saw of one request.
type seen struct {
	host, path, contentType, te, sni string
	proto                            int
	body                             []byte
	peerCerts                        int
}

type recorder struct {
	mu   sync.Mutex
	reqs []seen
}

func (r *recorder) add(s seen) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, s)
}

func (r *recorder) all() []seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reqs)
}

// grpcHandler records the request and answers like a gRPC server (grpcstub.Accept): 200,
// application/grpc, trailer grpc-status 0.
func grpcHandler(rec *recorder) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<10))
		s := seen{host: r.Host, path: r.URL.Path, contentType: r.Header.Get("Content-Type"), te: r.Header.Get("Te"),
			proto: r.ProtoMajor, body: body}
		if r.TLS != nil {
			s.sni, s.peerCerts = r.TLS.ServerName, len(r.TLS.PeerCertificates)
		}
		rec.add(s)
		grpcstub.Accept(w, r)
	}
}

// startGoServer serves h on 127.0.0.1 over TLS (cfg) with HTTP/2, or over h2c when cfg is
// nil, and returns the address.
func startGoServer(t *testing.T, cfg *tls.Config, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	if cfg != nil {
		protocols.SetHTTP2(true)
	} else {
		protocols.SetUnencryptedHTTP2(true)
	}
	srv := &http.Server{Handler: h, TLSConfig: cfg, Protocols: &protocols, ReadHeaderTimeout: 5 * time.Second,
		ErrorLog: log.New(io.Discard, "", 0)} // handshake failures are what the tests provoke
	go func() {
		if cfg != nil {
			_ = srv.ServeTLS(ln, "", "")
		} else {
			_ = srv.Serve(ln)
		}
	}()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func (p *labPKI) serverTLS(auth tls.ClientAuthType) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{*tlsCert(p.server)}, ClientAuth: auth, ClientCAs: p.rootPool()}
}

func TestProbeEndpointGoServer(t *testing.T) {
	p := newLabPKI(t)
	rec := &recorder{}
	addr := startGoServer(t, p.serverTLS(tls.VerifyClientCertIfGiven), grpcHandler(rec))

	r := ProbeEndpoint(context.Background(), EndpointOptions{
		Address: addr, ServerName: labName, Path: commandPath, ClientCert: tlsCert(p.agent), Timeout: probeTimeout,
	})
	if r.ServerName != labName || r.VerifyName != labName || r.Authority != labName {
		t.Errorf("names = %q %q %q, want the override for all three", r.ServerName, r.VerifyName, r.Authority)
	}
	if r.DNSError != nil || r.DNSAddrs != nil || r.TCPError != nil || r.TCPAddr != addr {
		t.Errorf("DNS %v %v, TCP %v %q", r.DNSAddrs, r.DNSError, r.TCPError, r.TCPAddr)
	}
	a := r.Agent
	if a == nil || !a.WithClientCert || a.TLS == nil || a.TLS.Error != nil {
		t.Fatalf("agent attempt = %+v", a)
	}
	tl := a.TLS
	if tl.Version != tls.VersionTLS13 || tl.ALPN != "h2" || tl.CipherSuite == 0 || tl.Duration <= 0 {
		t.Errorf("TLS = version %x ALPN %q suite %x in %v", tl.Version, tl.ALPN, tl.CipherSuite, tl.Duration)
	}
	if len(tl.PeerChain) != 1 || !tl.PeerChain[0].Equal(p.server.Cert) {
		t.Errorf("peer chain = %d certs", len(tl.PeerChain))
	}
	if !tl.CertRequested || len(tl.AcceptableCAs) != 1 || !bytes.Equal(tl.AcceptableCAs[0], p.root.Cert.RawSubject) {
		t.Errorf("cert request = %v, %d CA names", tl.CertRequested, len(tl.AcceptableCAs))
	}
	if !tl.ClientCertSent || tl.ClientChainLen != 1 {
		t.Errorf("client cert sent = %v (%d)", tl.ClientCertSent, tl.ClientChainLen)
	}
	h := a.HTTP
	if h == nil || h.Error != nil {
		t.Fatalf("HTTP = %+v", h)
	}
	if h.Status != 200 || h.Proto != "HTTP/2.0" || h.ContentType != "application/grpc" || h.BodyTitle != "" {
		t.Errorf("reply = %d %s %q title %q", h.Status, h.Proto, h.ContentType, h.BodyTitle)
	}
	if h.GRPCStatus == nil || *h.GRPCStatus != 0 || h.Date.IsZero() || time.Since(h.Date) > time.Minute {
		t.Errorf("grpc-status %v, date %v", h.GRPCStatus, h.Date)
	}
	if h.Header.Get("Grpc-Status") != "0" {
		t.Errorf("headers and trailers = %v", h.Header)
	}

	// The second attempt offers no certificate.
	n := r.NoCert
	if n == nil || n.WithClientCert || n.TLS == nil || n.TLS.Error != nil || !n.TLS.CertRequested || n.TLS.ClientCertSent {
		t.Fatalf("no-cert attempt = %+v", n)
	}
	if n.HTTP == nil || n.HTTP.Status != 200 {
		t.Errorf("no-cert reply = %+v", n.HTTP)
	}

	reqs := rec.all()
	if len(reqs) != 2 {
		t.Fatalf("server saw %d requests, want 2", len(reqs))
	}
	// The two attempts run at once: the agent's is the one that sent a certificate.
	if reqs[0].peerCerts == 0 {
		reqs[0], reqs[1] = reqs[1], reqs[0]
	}
	want := seen{host: labName, path: commandPath, contentType: "application/grpc", te: "trailers", sni: labName,
		proto: 2, body: make([]byte, 5), peerCerts: 1}
	if got := reqs[0]; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("server saw %+v\nwant %+v", got, want)
	}
	if reqs[1].peerCerts != 0 {
		t.Errorf("no-cert attempt sent %d certificates", reqs[1].peerCerts)
	}
	if r.Duration <= 0 || r.Duration > 2*probeTimeout {
		t.Errorf("Duration = %v", r.Duration)
	}
}

// TestProbeEndpointLoadClientCert checks the certificate loaded while the probe connects:
// one that loads is offered and sent as a ClientCert would be, and one that does not
// load leaves a single attempt without a certificate, as a nil ClientCert does.
func TestProbeEndpointLoadClientCert(t *testing.T) {
	p := newLabPKI(t)
	rec := &recorder{}
	addr := startGoServer(t, p.serverTLS(tls.VerifyClientCertIfGiven), grpcHandler(rec))

	loads := 0
	r := ProbeEndpoint(context.Background(), EndpointOptions{Address: addr, ServerName: labName, Path: commandPath,
		LoadClientCert: func() *tls.Certificate { loads++; return tlsCert(p.agent) }, Timeout: probeTimeout})
	a := r.Agent
	if a == nil || !a.WithClientCert || a.TLS == nil || !a.TLS.ClientCertSent || a.HTTP == nil || a.HTTP.Status != 200 {
		t.Fatalf("agent attempt with a loaded certificate = %+v", a)
	}
	if n := r.NoCert; n == nil || n.WithClientCert || n.TLS == nil || n.TLS.ClientCertSent {
		t.Errorf("no-cert attempt beside a loaded certificate = %+v", n)
	}
	if loads != 1 {
		t.Errorf("the certificate was loaded %d times, want once", loads)
	}
	if got := len(rec.all()); got != 2 {
		t.Errorf("server saw %d requests, want 2", got)
	}

	r = ProbeEndpoint(context.Background(), EndpointOptions{Address: addr, ServerName: labName, Path: commandPath,
		LoadClientCert: func() *tls.Certificate { return nil }, Timeout: probeTimeout})
	a = r.Agent
	if a == nil || a.WithClientCert || a.TLS == nil || a.TLS.ClientCertSent || a.HTTP == nil || a.HTTP.Status != 200 {
		t.Errorf("agent attempt with a certificate that did not load = %+v", a)
	}
	if r.NoCert != nil {
		t.Errorf("no-cert attempt kept although the agent's offered none: %+v", r.NoCert)
	}
}

// TestProbeEndpointNames checks the names grpc-go derives without an override: an IP host
// gets no SNI and the authority is host:port.
func TestProbeEndpointNames(t *testing.T) {
	p := newLabPKI(t)
	rec := &recorder{}
	addr := startGoServer(t, p.serverTLS(tls.NoClientCert), grpcHandler(rec))
	r := ProbeEndpoint(context.Background(), EndpointOptions{Address: addr, Path: commandPath, Timeout: probeTimeout})
	if r.ServerName != "" || r.VerifyName != "127.0.0.1" || r.Authority != addr {
		t.Errorf("names = %q %q %q", r.ServerName, r.VerifyName, r.Authority)
	}
	if r.Agent == nil || r.Agent.WithClientCert || r.Agent.TLS.CertRequested || r.NoCert != nil {
		t.Errorf("attempts = %+v / %+v", r.Agent, r.NoCert)
	}
	reqs := rec.all()
	if len(reqs) != 1 || reqs[0].sni != "" || reqs[0].host != addr {
		t.Errorf("server saw %+v", reqs)
	}
}

// TestProbeEndpointResolver resolves names through a DNS server on loopback: all addresses
// recorded, the first one that answers used, SNI from the name; NXDOMAIN and a resolver that
// never answers are classified.
func TestProbeEndpointResolver(t *testing.T) {
	p := newLabPKI(t)
	rec := &recorder{}
	addr := startGoServer(t, p.serverTLS(tls.NoClientCert), grpcHandler(rec))
	_, port, _ := net.SplitHostPort(addr)
	// 127.0.0.2 is loopback too, but nothing listens there on this port: refused, then the
	// next address answers.
	dns := startDNS(t, map[string][]net.IP{labName + ".": {net.IPv4(127, 0, 0, 2), net.IPv4(127, 0, 0, 1)}}, false)

	r := ProbeEndpoint(context.Background(), EndpointOptions{
		Address: net.JoinHostPort(labName, port), Path: commandPath, Timeout: probeTimeout, Resolver: dns.resolver(),
	})
	if r.DNSError != nil || !slices.Equal(r.DNSAddrs, []string{"127.0.0.2", "127.0.0.1"}) {
		t.Fatalf("DNS = %v %v", r.DNSAddrs, r.DNSError)
	}
	if r.TCPError != nil || r.TCPAddr != "127.0.0.1:"+port {
		t.Fatalf("TCP = %q %v", r.TCPAddr, r.TCPError)
	}
	if r.ServerName != labName || r.VerifyName != labName || r.Authority != labName+":"+port {
		t.Errorf("names = %q %q %q", r.ServerName, r.VerifyName, r.Authority)
	}
	if reqs := rec.all(); len(reqs) != 1 || reqs[0].sni != labName || reqs[0].host != labName+":"+port {
		t.Errorf("server saw %+v", reqs)
	}

	r = ProbeEndpoint(context.Background(), EndpointOptions{
		Address: "missing.test.local:443", Path: commandPath, Timeout: probeTimeout, Resolver: dns.resolver(),
	})
	if r.DNSError == nil || r.DNSError.Kind != ErrDNSNotFound || !strings.Contains(r.DNSError.Message, "no such host") {
		t.Errorf("NXDOMAIN: DNSError = %+v", r.DNSError)
	}
	if r.Agent != nil || r.TCPAddr != "" {
		t.Errorf("dialled after a failed lookup: %+v", r)
	}

	silent := startDNS(t, nil, true)
	start := time.Now()
	r = ProbeEndpoint(context.Background(), EndpointOptions{
		Address: labName + ":443", Path: commandPath, Timeout: 500 * time.Millisecond, Resolver: silent.resolver(),
	})
	if r.DNSError == nil || r.DNSError.Kind != ErrDNSFailure {
		t.Errorf("silent resolver: DNSError = %+v", r.DNSError)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("silent resolver took %v with a 500ms step timeout", d)
	}
}

func TestProbeEndpointClientCertChoice(t *testing.T) {
	p := newLabPKI(t)
	addr := startGoServer(t, p.serverTLS(tls.VerifyClientCertIfGiven), grpcHandler(&recorder{}))
	// Go withholds a certificate whose chain reaches none of the CA names the server sent.
	r := ProbeEndpoint(context.Background(), EndpointOptions{Address: addr, Path: commandPath,
		ClientCert: tlsCert(p.foreigner), Timeout: probeTimeout})
	tl := r.Agent.TLS
	if !r.Agent.WithClientCert || !tl.CertRequested || tl.ClientCertSent || tl.ClientChainLen != 0 {
		t.Errorf("foreign cert: %+v", tl)
	}
	// A leaf issued by an intermediate goes only when the file carries the intermediate,
	// whose issuer is the CA the server names: the classic trap
	// (Go crypto/tls CertificateRequestInfo.SupportsCertificate).
	inter := tpIssue(t, p.root, pki.Spec{CommonName: "probe test intermediate", IsCA: true})
	leaf := tpIssue(t, inter, pki.Spec{CommonName: "agent-02", EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	for _, c := range []struct {
		chain [][]byte
		sent  bool
	}{{[][]byte{leaf.Cert.Raw}, false}, {[][]byte{leaf.Cert.Raw, inter.Cert.Raw}, true}} {
		cert := &tls.Certificate{Certificate: c.chain, PrivateKey: leaf.Key, Leaf: leaf.Cert}
		r = ProbeEndpoint(context.Background(), EndpointOptions{Address: addr, Path: commandPath, ClientCert: cert, Timeout: probeTimeout})
		tl := r.Agent.TLS
		if tl.ClientCertSent != c.sent || (c.sent && tl.ClientChainLen != 2) {
			t.Errorf("leaf + %d intermediates: sent %v (%d), want %v", len(c.chain)-1, tl.ClientCertSent, tl.ClientChainLen, c.sent)
		}
	}
	// A server that names no CAs takes any certificate.
	open := p.serverTLS(tls.RequireAnyClientCert)
	open.ClientCAs = nil
	addr = startGoServer(t, open, grpcHandler(&recorder{}))
	r = ProbeEndpoint(context.Background(), EndpointOptions{Address: addr, Path: commandPath,
		ClientCert: tlsCert(p.foreigner), Timeout: probeTimeout})
	tl = r.Agent.TLS
	if !tl.CertRequested || len(tl.AcceptableCAs) != 0 || !tl.ClientCertSent || r.Agent.HTTP.Status != 200 {
		t.Errorf("no CA names: %+v, HTTP %+v", tl, r.Agent.HTTP)
	}
	// Under TLS 1.3, a Go server that requires a certificate rejects its absence after the
	// client's handshake is done, so the client hears it on its first read: the request.
	addr = startGoServer(t, p.serverTLS(tls.RequireAndVerifyClientCert), grpcHandler(&recorder{}))
	r = ProbeEndpoint(context.Background(), EndpointOptions{Address: addr, Path: commandPath,
		ClientCert: tlsCert(p.foreigner), Timeout: probeTimeout})
	if r.Agent.TLS.Error != nil || r.Agent.HTTP == nil || r.Agent.HTTP.Error == nil ||
		r.Agent.HTTP.Error.Kind != ErrTLSAlert || r.Agent.HTTP.Error.Alert != 116 {
		t.Errorf("TLS 1.3 required cert: TLS %+v, HTTP %+v", r.Agent.TLS.Error, r.Agent.HTTP)
	}
	// Under TLS 1.2 the same refusal fails the client's handshake.
	tls12 := p.serverTLS(tls.RequireAndVerifyClientCert)
	tls12.MaxVersion = tls.VersionTLS12
	addr = startGoServer(t, tls12, grpcHandler(&recorder{}))
	r = ProbeEndpoint(context.Background(), EndpointOptions{Address: addr, Path: commandPath,
		ClientCert: tlsCert(p.foreigner), Timeout: probeTimeout})
	if e := r.Agent.TLS.Error; e == nil || e.Kind != ErrTLSAlert || e.Alert != 40 || r.Agent.TLS.Version != tls.VersionTLS12 {
		t.Errorf("TLS 1.2 required cert: %+v", r.Agent.TLS)
	}
	if r.NoCert == nil || r.NoCert.TLS == nil || r.NoCert.TLS.Error == nil {
		t.Errorf("no-cert attempt after a TLS alert = %+v", r.NoCert)
	}
}

func TestProbeEndpointReplies(t *testing.T) {
	p := newLabPKI(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, "<html>\r\n<head><TITLE>400  The SSL certificate error</TITLE></head>\r\n<body>\r\n"+
			"<center><h1>400 Bad Request</h1></center>\r\n</body></html>\r\n")
	})
	mux.HandleFunc("/trailers-only", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Grpc-Status", "16")
		w.Header().Set("Grpc-Message", "401.%20Unauthorized.")
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("/open-stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/grpc")
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		select { // a stream that stays open, like CommandChannel
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		for range 200 {
			w.Write(bytes.Repeat([]byte("x"), 1<<10))
		}
	})
	addr := startGoServer(t, p.serverTLS(tls.NoClientCert), mux)
	probe := func(path string) *HTTPObservation {
		r := ProbeEndpoint(context.Background(), EndpointOptions{Address: addr, Path: path, Timeout: probeTimeout})
		if r.Agent == nil || r.Agent.HTTP == nil {
			t.Fatalf("%s: no HTTP observation: %+v", path, r)
		}
		return r.Agent.HTTP
	}
	if h := probe("/html"); h.Status != 400 || h.BodyTitle != "400 The SSL certificate error" || h.GRPCStatus != nil {
		t.Errorf("html: %+v", h)
	}
	if h := probe("/trailers-only"); h.GRPCStatus == nil || *h.GRPCStatus != 16 || h.GRPCMessage != "401. Unauthorized." {
		t.Errorf("trailers-only: %+v", h)
	}
	start := time.Now()
	if h := probe("/open-stream"); h.Error != nil || h.Status != 200 || h.GRPCStatus != nil {
		t.Errorf("open stream: %+v", h)
	}
	if d := time.Since(start); d > probeTimeout {
		t.Errorf("open stream held the probe for %v", d)
	}
	if h := probe("/huge"); h.Error != nil || h.Status != 200 {
		t.Errorf("huge body: %+v", h)
	}
}

func TestProbeEndpointFailures(t *testing.T) {
	p := newLabPKI(t)

	t.Run("refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		r := ProbeEndpoint(context.Background(), EndpointOptions{Address: addr, Path: commandPath, Timeout: probeTimeout})
		if r.TCPError == nil || r.TCPError.Kind != ErrRefused || !strings.Contains(r.TCPError.Message, "connection refused") {
			t.Errorf("TCPError = %+v", r.TCPError)
		}
		if r.Agent != nil || r.NoCert != nil {
			t.Errorf("attempts after a refused dial")
		}
	})

	t.Run("never answers", func(t *testing.T) {
		// The kernel completes the TCP handshake from the backlog; nobody ever reads.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		const step = 400 * time.Millisecond
		start := time.Now()
		r := ProbeEndpoint(context.Background(), EndpointOptions{Address: ln.Addr().String(), Path: commandPath,
			ClientCert: tlsCert(p.agent), Timeout: step})
		if d := time.Since(start); d > step+2*time.Second {
			t.Errorf("probe took %v with a %v step timeout", d, step)
		}
		if r.TCPError != nil || r.Agent == nil || r.Agent.TLS == nil || r.Agent.TLS.Error == nil || r.Agent.TLS.Error.Kind != ErrTimeout {
			t.Fatalf("report = %+v / %+v", r, r.Agent)
		}
		if !strings.Contains(r.Agent.TLS.Error.Message, "i/o timeout") {
			t.Errorf("message = %q", r.Agent.TLS.Error.Message)
		}
		if r.NoCert != nil {
			t.Errorf("a timed-out attempt was repeated without a certificate")
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		r := ProbeEndpoint(ctx, EndpointOptions{Address: ln.Addr().String(), Path: commandPath, Timeout: 10 * time.Second})
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("cancel took %v to stop the probe", d)
		}
		if r.Agent == nil || r.Agent.TLS.Error == nil {
			t.Errorf("report = %+v", r.Agent)
		}
	})

	t.Run("plain HTTP listener", func(t *testing.T) {
		srv := &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(ln)
		defer srv.Close()
		r := ProbeEndpoint(context.Background(), EndpointOptions{Address: ln.Addr().String(), Path: commandPath,
			ClientCert: tlsCert(p.agent), Timeout: probeTimeout})
		e := r.Agent.TLS.Error
		if e == nil || e.Kind != ErrNotTLS || e.Message != "tls: first record does not look like a TLS handshake" {
			t.Errorf("TLS error = %+v", e)
		}
		if r.Agent.HTTP != nil || r.NoCert != nil {
			t.Errorf("went on after a non-TLS answer: %+v %+v", r.Agent.HTTP, r.NoCert)
		}
	})

	t.Run("no ALPN", func(t *testing.T) {
		// A TLS server without NextProtos ignores the client's ALPN offer.
		addr := nginxtest.ServeTLS(t, p.serverTLS(tls.NoClientCert), func(c *tls.Conn) { _, _ = io.Copy(io.Discard, c) })
		r := ProbeEndpoint(context.Background(), EndpointOptions{Address: addr, Path: commandPath, Timeout: probeTimeout})
		tl := r.Agent.TLS
		if tl.Error != nil || tl.ALPN != "" || tl.Version == 0 || len(tl.PeerChain) != 1 {
			t.Errorf("TLS = %+v", tl)
		}
		h := r.Agent.HTTP
		if h == nil || h.Error == nil || h.Error.Kind != ErrProtocol || !strings.Contains(h.Error.Message, "missing selected ALPN property") {
			t.Errorf("HTTP = %+v", h)
		}
	})

	t.Run("bad address", func(t *testing.T) {
		for addr, why := range map[string]string{"nim.test.local": "missing port", "[[::1]]:443": "missing port",
			"exa]mple:443": "unexpected ']'", "nim example:443": `holds " "`, "127.0.0.1:0": "not a number from 1 to 65535",
			"127.0.0.1:https": "not a number"} {
			r := ProbeEndpoint(context.Background(), EndpointOptions{Address: addr, Timeout: probeTimeout})
			if r.DNSError == nil || r.DNSError.Kind != ErrBadAddress || !strings.Contains(r.DNSError.Message, why) || r.Agent != nil {
				t.Errorf("%s: DNSError = %+v, want %s naming %q and no attempt", addr, r.DNSError, ErrBadAddress, why)
			}
		}
	})
}

func TestProbeEndpointPlainText(t *testing.T) {
	rec := &recorder{}
	addr := startGoServer(t, nil, grpcHandler(rec))
	r := ProbeEndpoint(context.Background(), EndpointOptions{Address: addr, ServerName: labName, Path: commandPath,
		PlainText: true, Timeout: probeTimeout})
	if !r.PlainText || r.ServerName != "" || r.Authority != labName {
		t.Errorf("names = %q %q", r.ServerName, r.Authority)
	}
	a := r.Agent
	if a == nil || a.TLS != nil || a.HTTP == nil || a.HTTP.Error != nil || a.HTTP.Status != 200 || a.HTTP.Proto != "HTTP/2.0" ||
		a.HTTP.GRPCStatus == nil || *a.HTTP.GRPCStatus != 0 {
		t.Fatalf("attempt = %+v / %+v", a, a.HTTP)
	}
	if r.NoCert != nil {
		t.Error("no-cert attempt in plaintext")
	}
	if reqs := rec.all(); len(reqs) != 1 || reqs[0].host != labName || reqs[0].proto != 2 {
		t.Errorf("server saw %+v", reqs)
	}

	// h2c to a TLS port: the TLS server reads the HTTP/2 preface as a bad TLS record.
	p := newLabPKI(t)
	tlsAddr := startGoServer(t, p.serverTLS(tls.NoClientCert), grpcHandler(&recorder{}))
	r = ProbeEndpoint(context.Background(), EndpointOptions{Address: tlsAddr, Path: commandPath, PlainText: true, Timeout: probeTimeout})
	if h := r.Agent.HTTP; h == nil || h.Error == nil || (h.Error.Kind != ErrClosed && h.Error.Kind != ErrProtocol && h.Error.Kind != ErrNotTLS) {
		t.Errorf("h2c to a TLS port: %+v", h)
	} else {
		t.Logf("h2c to a TLS port: %s: %s", h.Error.Kind, h.Error.Message)
	}
}

// TestProbeEndpointNginx probes a real NGINX with mTLS enforced: what the agent sees with a
// good, a foreign and an expired certificate, without one, on a listener without http2 and
// on a plaintext one.
func TestProbeEndpointNginx(t *testing.T) {
	nginxtest.Require(t)
	p := newLabPKI(t)
	dir := t.TempDir()
	write := func(name string, data []byte) string { return tpWrite(t, filepath.Join(dir, name), data, 0o600) }
	srvCert := write("server.crt", pki.CertsPEM(p.server))
	srvKey := write("server.key", tpKeyPEM(t, p.server, pki.PKCS8))
	ca := write("ca.pem", pki.CertsPEM(p.root))

	backend := nginxtest.StartBackend(t)
	mtls := nginxtest.Server{Port: nginxtest.FreePort(t), SSL: true, HTTP2: true, ServerName: labName,
		Cert: srvCert, Key: srvKey, ClientCA: ca, VerifyClient: "on", Backend: backend.Addr()}
	noH2 := mtls
	noH2.Port, noH2.HTTP2 = nginxtest.FreePort(t), false
	plain := nginxtest.Server{Port: nginxtest.FreePort(t), HTTP2: true, ServerName: labName, Backend: backend.Addr()}
	inst := nginxtest.Start(t, dir, nginxtest.Config{Dir: dir, ServerBlock: mtls.Block() + noH2.Block() + plain.Block()}.String())
	addrs := inst.Addrs()

	probe := func(addr string, cert *pki.Cert) *EndpointReport {
		o := EndpointOptions{Address: addr, ServerName: labName, Path: commandPath, Timeout: probeTimeout}
		if cert != nil {
			o.ClientCert = tlsCert(cert)
		}
		return ProbeEndpoint(context.Background(), o)
	}
	const (
		titleNoCert    = "400 No required SSL certificate was sent"
		titleCertError = "400 The SSL certificate error"
	)

	t.Run("good certificate", func(t *testing.T) {
		r := probe(addrs[0], p.agent)
		tl, h := r.Agent.TLS, r.Agent.HTTP
		if tl.Error != nil || tl.ALPN != "h2" || !tl.CertRequested || !tl.ClientCertSent {
			t.Fatalf("TLS = %+v", tl)
		}
		if len(tl.AcceptableCAs) != 1 || !bytes.Equal(tl.AcceptableCAs[0], p.root.Cert.RawSubject) {
			t.Errorf("NGINX advertised %d CA names, want the root's subject", len(tl.AcceptableCAs))
		}
		if h.Error != nil || h.Status != 200 || h.ContentType != "application/grpc" || h.GRPCStatus == nil || *h.GRPCStatus != 0 {
			t.Fatalf("HTTP = %+v\n%s", h, inst.ErrorLog())
		}
		if h.Date.IsZero() || h.Header.Get("Server") == "" {
			t.Errorf("Date %v, Server %q", h.Date, h.Header.Get("Server"))
		}
		n := r.NoCert
		if n == nil || n.HTTP == nil || n.HTTP.Status != 400 || n.HTTP.BodyTitle != titleNoCert {
			t.Errorf("no-cert attempt = %+v", n)
		}
		// The probe's own rejection is marked, so that log scans can tell it from an agent's.
		line, ok := inst.WaitErrorLog("client sent no required SSL certificate", 5*time.Second)
		if !ok || !strings.Contains(line, commandPath+"?"+NoCertQuery+" HTTP/2.0") {
			t.Errorf("NGINX's line for the no-cert attempt %q does not carry %q", line, NoCertQuery)
		}
	})

	t.Run("certificate from another CA", func(t *testing.T) {
		r := probe(addrs[0], p.foreigner)
		tl, h := r.Agent.TLS, r.Agent.HTTP
		if tl.Error != nil || !tl.CertRequested || tl.ClientCertSent || len(tl.AcceptableCAs) != 1 {
			t.Fatalf("TLS = %+v", tl)
		}
		if h.Status != 400 || h.BodyTitle != titleNoCert || !strings.HasPrefix(h.ContentType, "text/html") {
			t.Errorf("HTTP = %+v", h)
		}
		if _, ok := inst.WaitErrorLog("client sent no required SSL certificate", 5*time.Second); !ok {
			t.Errorf("NGINX logged no 496:\n%s", inst.ErrorLog())
		}
	})

	t.Run("expired certificate", func(t *testing.T) {
		r := probe(addrs[0], p.expired)
		tl, h := r.Agent.TLS, r.Agent.HTTP
		if tl.Error != nil || !tl.ClientCertSent {
			t.Fatalf("TLS = %+v", tl)
		}
		if h.Status != 400 || h.BodyTitle != titleCertError {
			t.Errorf("HTTP = %+v", h)
		}
		if _, ok := inst.WaitErrorLog("(10:certificate has expired)", 5*time.Second); !ok {
			t.Errorf("NGINX logged no expiry:\n%s", inst.ErrorLog())
		}
	})

	t.Run("listener without http2", func(t *testing.T) {
		// NGINX (1.21.4+) refuses a client that offers only h2 with alert 120, as it
		// refuses the agent; no ALPN was negotiated.
		r := probe(addrs[1], p.agent)
		tl := r.Agent.TLS
		if tl.ALPN != "" || tl.Error == nil || tl.Error.Kind != ErrTLSAlert || tl.Error.Alert != 120 {
			t.Errorf("TLS = %+v (error %+v)", tl, tl.Error)
		}
		if r.Agent.HTTP != nil {
			t.Errorf("HTTP after a failed handshake: %+v", r.Agent.HTTP)
		}
	})

	t.Run("plaintext listener", func(t *testing.T) {
		r := probe(addrs[2], p.agent)
		if e := r.Agent.TLS.Error; e == nil || e.Kind != ErrNotTLS {
			t.Errorf("TLS error = %+v", e)
		}
	})

	t.Run("refused", func(t *testing.T) {
		r := probe(fmt.Sprintf("127.0.0.1:%d", nginxtest.FreePort(t)), p.agent)
		if r.TCPError == nil || r.TCPError.Kind != ErrRefused {
			t.Errorf("TCPError = %+v", r.TCPError)
		}
	})
}

// testDNS is a minimal DNS server on 127.0.0.1 (UDP): A records for its names, an empty
// answer for other types of a known name, NXDOMAIN for the rest; silent drops every query.
type testDNS struct {
	addr   string
	names  map[string][]net.IP
	silent bool
}

func startDNS(t *testing.T, names map[string][]net.IP, silent bool) *testDNS {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &testDNS{addr: pc.LocalAddr().String(), names: names, silent: silent}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if d.silent {
				continue
			}
			if resp := d.answer(buf[:n]); resp != nil {
				_, _ = pc.WriteTo(resp, from)
			}
		}
	}()
	return d
}

func (d *testDNS) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "udp", d.addr)
	}}
}

// answer builds the response to one query, or nil for a malformed one.
func (d *testDNS) answer(q []byte) []byte {
	if len(q) < 12 {
		return nil
	}
	// The question: labels up to the root, then type and class.
	i, name := 12, ""
	for {
		if i >= len(q) {
			return nil
		}
		l := int(q[i])
		i++
		if l == 0 {
			break
		}
		if l > 63 || i+l > len(q) {
			return nil
		}
		name += strings.ToLower(string(q[i:i+l])) + "."
		i += l
	}
	if i+4 > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[i:])
	question := q[12 : i+4]
	ips, known := d.names[name]
	var rcode uint16
	if !known {
		rcode = 3 // NXDOMAIN
	}
	var answers []net.IP
	if qtype == 1 { // A
		answers = ips
	}
	resp := binary.BigEndian.AppendUint16(nil, binary.BigEndian.Uint16(q))
	resp = binary.BigEndian.AppendUint16(resp, 0x8180|rcode) // response, RD, RA
	resp = binary.BigEndian.AppendUint16(resp, 1)
	resp = binary.BigEndian.AppendUint16(resp, uint16(len(answers)))
	resp = binary.BigEndian.AppendUint16(resp, 0)
	resp = binary.BigEndian.AppendUint16(resp, 0)
	resp = append(resp, question...)
	for _, ip := range answers {
		resp = append(resp, 0xc0, 12)                      // the name: a pointer to the question's
		resp = append(resp, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4) // A, IN, TTL 60, 4 bytes
		resp = append(resp, ip.To4()...)
	}
	return resp
}

// BenchmarkProbeEndpointNginx measures one whole probe (both attempts: DNS-free IP, TCP,
// TLS 1.3 with the agent's certificate, the gRPC POST through NGINX to the backend, then
// the attempt without a certificate) against a real NGINX on loopback.
func BenchmarkProbeEndpointNginx(b *testing.B) {
	nginxtest.Require(b)
	p := newLabPKI(b)
	dir := b.TempDir()
	write := func(name string, data []byte) string { return tpWrite(b, filepath.Join(dir, name), data, 0o600) }
	backend := nginxtest.StartBackend(b)
	srv := nginxtest.Server{Port: nginxtest.FreePort(b), SSL: true, HTTP2: true, ServerName: labName,
		Cert:     write("server.crt", pki.CertsPEM(p.server)),
		Key:      write("server.key", tpKeyPEM(b, p.server, pki.PKCS8)),
		ClientCA: write("ca.pem", pki.CertsPEM(p.root)), VerifyClient: "on", Backend: backend.Addr()}
	inst := nginxtest.Start(b, dir, nginxtest.Config{Dir: dir, ServerBlock: srv.Block(), ErrorLogLevel: "error"}.String())
	o := EndpointOptions{Address: inst.Addr(), ServerName: labName, Path: commandPath, ClientCert: tlsCert(p.agent), Timeout: probeTimeout}
	for b.Loop() {
		r := ProbeEndpoint(context.Background(), o)
		if h := r.Agent.HTTP; h == nil || h.Status != 200 || r.NoCert == nil {
			b.Fatalf("probe failed: %+v", r.Agent)
		}
	}
}
