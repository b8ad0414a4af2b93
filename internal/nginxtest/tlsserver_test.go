package nginxtest

import (
	"crypto/tls"
	"crypto/x509"
	"io"
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
