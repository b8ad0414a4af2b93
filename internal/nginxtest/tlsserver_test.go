package nginxtest

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/internal/pki"
)

// TestServeTLS: a client completes the handshake with the served certificate and reads
// what serve writes; a second connection is served too.
func TestServeTLS(t *testing.T) {
	g := pki.New(time.Now())
	ca, err := g.SelfSigned(pki.Spec{CommonName: "test-ca", IsCA: true})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := g.Issue(ca, pki.Spec{CommonName: "server", DNSNames: []string{"server.test"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Cert.Raw}, PrivateKey: leaf.Key}}}
	addr := ServeTLS(t, cfg, func(c *tls.Conn) {
		if c.Handshake() == nil {
			_, _ = io.WriteString(c, "hello")
		}
	})
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	for range 2 {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "server.test"})
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		got, err := io.ReadAll(c)
		c.Close()
		if err != nil || string(got) != "hello" {
			t.Fatalf("read %q, %v", got, err)
		}
	}
}

// TestTLSUpstreamRestartsOnItsAddress: a Go upstream restarted serves at the same
// address, with the new configuration (here a client certificate it refused before is
// accepted).
func TestTLSUpstreamRestartsOnItsAddress(t *testing.T) {
	p := NewUpstreamPKI(t, t.TempDir(), time.Now())
	refuse := p.GoTLSConfig()
	refuse.VerifyPeerCertificate = func([][]byte, [][]*x509.Certificate) error { return io.ErrUnexpectedEOF }
	u := StartTLSUpstream(t, refuse)
	addr := u.Addr()
	get := func() (string, error) {
		pool := x509.NewCertPool()
		pool.AddCert(p.CA.Cert)
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: UpstreamName,
			Certificates: []tls.Certificate{{Certificate: [][]byte{p.Client.Cert.Raw}, PrivateKey: p.Client.Key}}})
		if err != nil {
			return "", err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, "GET / HTTP/1.0\r\nHost: x\r\n\r\n"); err != nil {
			return "", err
		}
		b, err := io.ReadAll(c)
		return string(b), err
	}
	if body, err := get(); err == nil {
		t.Fatalf("the refusing upstream answered: %q", body)
	}
	u.Restart(p.GoTLSConfig())
	if u.Addr() != addr {
		t.Fatalf("restarted at %s, want %s", u.Addr(), addr)
	}
	body, err := get()
	if err != nil || !strings.Contains(body, UpstreamBody) {
		t.Fatalf("after the restart: %q, %v", body, err)
	}
}
