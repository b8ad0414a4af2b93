package lab

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/probes/pki"
)

// TestVerifyClientChain pins the X509_V_ERR code NGINX logs for each kind of client
// chain; the codes are the ones TestMatchesRealNginx measured with NGINX 1.22.1 and
// OpenSSL 3.0, so this runs the same judgement where no nginx is installed.
func TestVerifyClientChain(t *testing.T) {
	g := pki.New(testNow)
	must := func(c *pki.Cert, err error) *x509.Certificate {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return c.Cert
	}
	mk := func(parent *pki.Cert, spec pki.Spec) *pki.Cert {
		t.Helper()
		c, err := g.Issue(parent, spec)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
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

	tests := []struct {
		name    string
		sent    []*x509.Certificate
		cas     []*x509.Certificate
		depth   int
		revoked bool
		want    int
	}{
		{"good", []*x509.Certificate{must(g.Issue(root, pki.Spec{EKU: client}))}, cas, 1, false, 0},
		{"nothing sent", nil, cas, 1, false, 0},
		{"expired", []*x509.Certificate{must(g.Issue(root, pki.Spec{EKU: client, From: -400 * day, Until: -day}))}, cas, 1, false, errExpired},
		{"not yet valid", []*x509.Certificate{must(g.Issue(root, pki.Spec{EKU: client, From: day, Until: 400 * day}))}, cas, 1, false, errNotYetValid},
		{"serverAuth only", []*x509.Certificate{must(g.Issue(root, pki.Spec{EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}))}, cas, 1, false, errPurpose},
		{"any EKU", []*x509.Certificate{must(g.Issue(root, pki.Spec{EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}))}, cas, 1, false, 0},
		{"keyEncipherment only", []*x509.Certificate{must(g.Issue(root, pki.Spec{EKU: client, KeyUsage: x509.KeyUsageKeyEncipherment}))}, cas, 1, false, errPurpose},
		{"other CA", []*x509.Certificate{must(g.Issue(other, pki.Spec{EKU: client}))}, cas, 1, false, errUnableToVerifyLeaf},
		{"recreated CA", []*x509.Certificate{must(g.Issue(twin, pki.Spec{EKU: client}))}, cas, 1, false, errUnableToVerifyLeaf},
		{"self-signed", []*x509.Certificate{must(g.SelfSigned(pki.Spec{EKU: client}))}, cas, 1, false, errSelfSigned},
		{"self-signed in chain", []*x509.Certificate{must(g.Issue(other, pki.Spec{EKU: client})), other.Cert}, cas, 1, false, errSelfSignedInChain},
		{"listed intermediate", []*x509.Certificate{must(g.Issue(inter, pki.Spec{EKU: client}))}, cas, 1, false, 0},
		{"sent intermediate", []*x509.Certificate{must(g.Issue(intA, pki.Spec{EKU: client})), intA.Cert}, cas, 1, false, 0},
		{"missing intermediate", []*x509.Certificate{must(g.Issue(intA, pki.Spec{EKU: client}))}, cas, 1, false, errUnableToVerifyLeaf},
		{"two intermediates, depth 1", []*x509.Certificate{must(g.Issue(intB, pki.Spec{EKU: client})), intB.Cert, intA.Cert}, cas, 1, false, errUnableToGetIssuerLocally},
		{"two intermediates, depth 2", []*x509.Certificate{must(g.Issue(intB, pki.Spec{EKU: client})), intB.Cert, intA.Cert}, cas, 2, false, 0},
		{"expired intermediate", []*x509.Certificate{must(g.Issue(oldInt, pki.Spec{EKU: client})), oldInt.Cert}, cas, 1, false, errExpired},
		{"revoked", []*x509.Certificate{revoked.Cert}, cas, 1, true, errRevoked},
		{"no CAs at all", []*x509.Certificate{revoked.Cert}, nil, 1, false, errUnableToVerifyLeaf},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rev map[string]bool
			if tt.revoked {
				rev = map[string]bool{revoked.Cert.SerialNumber.String(): true}
			}
			got := verifyClientChain(tt.sent, tt.cas, tt.depth, rev, testNow)
			if got != tt.want {
				t.Errorf("code %d (%s), want %d (%s)", got, x509ErrText[got], tt.want, x509ErrText[tt.want])
			}
			if got != 0 && x509ErrText[got] == "" {
				t.Errorf("code %d has no text", got)
			}
		})
	}
	// The clock matters: the good chain expires with time.
	leaf := must(g.Issue(root, pki.Spec{EKU: client}))
	if got := verifyClientChain([]*x509.Certificate{leaf}, cas, 1, nil, testNow.Add(400*24*time.Hour)); got != errExpired {
		t.Errorf("a year and more later: code %d, want %d", got, errExpired)
	}
}
