package opensslverdict

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/internal/pki"
)

var testNow = time.Date(2026, 11, 30, 20, 55, 1, 0, time.UTC)

const day = 24 * time.Hour

// TestVerifyLastError pins the X509_V_ERR code NGINX logs for each kind of client chain;
// the codes are the ones the lab's TestMatchesRealNginx and the diagnostics'
// TestPredictionMatchesNginx measured with NGINX 1.22.1 and OpenSSL 3.0, so this runs the
// same judgement where no nginx is installed.
func TestVerifyLastError(t *testing.T) {
	g := pki.New(testNow)
	mk := func(parent *pki.Cert, spec pki.Spec) *pki.Cert {
		t.Helper()
		c, err := g.Issue(parent, spec)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	leaf := func(parent *pki.Cert, spec pki.Spec) *x509.Certificate { return mk(parent, spec).Cert }
	client := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	root := mk(nil, pki.Spec{CommonName: "nms-ca", IsCA: true})
	inter := mk(root, pki.Spec{CommonName: "nms-int-ca", IsCA: true})
	twin := mk(nil, pki.Spec{CommonName: "nms-ca", IsCA: true})
	other := mk(nil, pki.Spec{CommonName: "other-ca", IsCA: true})
	intA := mk(root, pki.Spec{CommonName: "int-a", IsCA: true})
	intB := mk(intA, pki.Spec{CommonName: "int-b", IsCA: true})
	oldInt := mk(root, pki.Spec{CommonName: "old-int", IsCA: true, From: -400 * day, Until: -day})
	revoked := mk(root, pki.Spec{CommonName: "agent", EKU: client})
	cas := []*x509.Certificate{inter.Cert, root.Cert}
	crlDER, err := g.CRL(root, revoked)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(crlDER)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		sent    []*x509.Certificate
		cas     []*x509.Certificate
		depth   int
		revoked bool // ssl_crl with the root's CRL, which revokes revoked
		want    int
	}{
		{"good", []*x509.Certificate{leaf(root, pki.Spec{EKU: client})}, cas, 1, false, 0},
		{"nothing sent", nil, cas, 1, false, 0},
		{"expired", []*x509.Certificate{leaf(root, pki.Spec{EKU: client, From: -400 * day, Until: -day})}, cas, 1, false, CertHasExpired},
		{"not yet valid", []*x509.Certificate{leaf(root, pki.Spec{EKU: client, From: day, Until: 400 * day})}, cas, 1, false, CertNotYetValid},
		{"serverAuth only", []*x509.Certificate{leaf(root, pki.Spec{EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})}, cas, 1, false, InvalidPurpose},
		// OpenSSL 3.0's sslclient purpose does not take anyExtendedKeyUsage for clientAuth.
		{"any EKU", []*x509.Certificate{leaf(root, pki.Spec{EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})}, cas, 1, false, InvalidPurpose},
		{"keyEncipherment only", []*x509.Certificate{leaf(root, pki.Spec{EKU: client, KeyUsage: x509.KeyUsageKeyEncipherment})}, cas, 1, false, InvalidPurpose},
		{"keyAgreement only", []*x509.Certificate{leaf(root, pki.Spec{EKU: client, KeyUsage: x509.KeyUsageKeyAgreement})}, cas, 1, false, 0},
		{"other CA", []*x509.Certificate{leaf(other, pki.Spec{EKU: client})}, cas, 1, false, UnableToVerifyLeafSig},
		{"recreated CA", []*x509.Certificate{leaf(twin, pki.Spec{EKU: client})}, cas, 1, false, UnableToVerifyLeafSig},
		{"self-signed", []*x509.Certificate{leaf(nil, pki.Spec{EKU: client})}, cas, 1, false, DepthZeroSelfSigned},
		{"self-signed in chain", []*x509.Certificate{leaf(other, pki.Spec{EKU: client}), other.Cert}, cas, 1, false, SelfSignedInChain},
		{"listed intermediate", []*x509.Certificate{leaf(inter, pki.Spec{EKU: client})}, cas, 1, false, 0},
		{"sent intermediate", []*x509.Certificate{leaf(intA, pki.Spec{EKU: client}), intA.Cert}, cas, 1, false, 0},
		{"missing intermediate", []*x509.Certificate{leaf(intA, pki.Spec{EKU: client})}, cas, 1, false, UnableToVerifyLeafSig},
		{"two intermediates, depth 1", []*x509.Certificate{leaf(intB, pki.Spec{EKU: client}), intB.Cert, intA.Cert}, cas, 1, false, UnableToGetIssuerLocally},
		{"two intermediates, depth 2", []*x509.Certificate{leaf(intB, pki.Spec{EKU: client}), intB.Cert, intA.Cert}, cas, 2, false, 0},
		{"expired intermediate", []*x509.Certificate{leaf(oldInt, pki.Spec{EKU: client}), oldInt.Cert}, cas, 1, false, CertHasExpired},
		{"revoked", []*x509.Certificate{revoked.Cert}, cas, 1, true, CertRevoked},
		{"no CAs at all", []*x509.Certificate{revoked.Cert}, nil, 1, false, UnableToVerifyLeafSig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := Verify{Sent: tt.sent, Trusted: tt.cas, Depth: tt.depth, Now: testNow}
			if tt.revoked {
				v.CRLCheck, v.CRLs = true, []*x509.RevocationList{crl}
			}
			got := 0
			e, failed := v.Run().Last()
			if failed {
				got = e.Code
				if e.Text() == "unknown certificate verification error" {
					t.Errorf("code %d has no text", got)
				}
			}
			if got != tt.want {
				t.Errorf("code %d (%s), want %d (%s)", got, e.Text(), tt.want, Error{Code: tt.want}.Text())
			}
		})
	}
	// The clock matters: the good chain expires with time.
	good := leaf(root, pki.Spec{EKU: client})
	v := Verify{Sent: []*x509.Certificate{good}, Trusted: cas, Depth: 1, Now: testNow.Add(400 * day)}
	if e, _ := v.Run().Last(); e.Code != CertHasExpired {
		t.Errorf("a year and more later: code %d, want %d", e.Code, CertHasExpired)
	}
}

// TestServerChainPurpose: a server's chain, as NGINX verifies its upstream, needs the
// sslserver purpose (serverAuth), where a client's needs clientAuth.
func TestServerChainPurpose(t *testing.T) {
	g := pki.New(testNow)
	root, err := g.Issue(nil, pki.Spec{CommonName: "upstream-ca", IsCA: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		spec pki.Spec
		want int
	}{
		{"serverAuth", pki.Spec{EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, 0},
		{"no EKU", pki.Spec{}, 0},
		{"clientAuth only", pki.Spec{EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, InvalidPurpose},
		{"keyEncipherment only", pki.Spec{EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageKeyEncipherment}, 0},
		{"certSign only", pki.Spec{EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageCertSign}, InvalidPurpose},
	} {
		t.Run(tt.name, func(t *testing.T) {
			leaf, err := g.Issue(root, tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			v := Verify{Sent: []*x509.Certificate{leaf.Cert}, Trusted: []*x509.Certificate{root.Cert}, Depth: 1, Now: testNow, ServerChain: true}
			got := 0
			if e, failed := v.Run().Last(); failed {
				got = e.Code
			}
			if got != tt.want {
				t.Errorf("code %d, want %d", got, tt.want)
			}
		})
	}
}
