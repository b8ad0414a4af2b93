package diagnostics

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"net/url"
	"slices"
	"testing"
)

// TestWalkChain follows issuers through pools in order: the pool each link came from, a
// root reached, an issuer missing, a same-name CA that did not sign (a re-created CA),
// and a loop of cross-signed CAs that ends.
func TestWalkChain(t *testing.T) {
	p := newPKI(t)
	recreated := mkCert(t, certSpec{cn: "nms-int-ca", ca: true}, p.root) // same name, other key
	// cross-a and cross-b sign each other with the same two keys: the walk would loop.
	crossA := mkCert(t, certSpec{cn: "cross-a", ca: true}, nil)
	crossB := mkCert(t, certSpec{cn: "cross-b", ca: true}, crossA)
	crossA2 := reissue(t, crossA, crossB)
	cases := []struct {
		name     string
		leaf     *x509.Certificate
		pools    [][]*x509.Certificate
		want     []*x509.Certificate
		wantPool []int
		rooted   bool
		nameOnly *x509.Certificate
	}{
		{"whole chain across pools", p.server.cert, [][]*x509.Certificate{{p.inter.cert}, {p.root.cert}},
			[]*x509.Certificate{p.server.cert, p.inter.cert, p.root.cert}, []int{-1, 0, 1}, true, nil},
		{"first pool wins", p.server.cert, [][]*x509.Certificate{{p.inter.cert, p.root.cert}, {p.inter.cert}},
			[]*x509.Certificate{p.server.cert, p.inter.cert, p.root.cert}, []int{-1, 0, 0}, true, nil},
		{"self-signed leaf", p.root.cert, nil, []*x509.Certificate{p.root.cert}, []int{-1}, true, nil},
		{"issuer missing", p.server.cert, [][]*x509.Certificate{{p.root.cert}},
			[]*x509.Certificate{p.server.cert}, []int{-1}, false, nil},
		{"re-created CA", p.server.cert, [][]*x509.Certificate{{recreated.cert, p.root.cert}},
			[]*x509.Certificate{p.server.cert}, []int{-1}, false, recreated.cert},
		{"cross-signed loop", crossB.cert, [][]*x509.Certificate{{crossA2.cert, crossB.cert}},
			[]*x509.Certificate{crossB.cert, crossA2.cert}, []int{-1, 0}, false, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ch := WalkChain(c.leaf, c.pools...)
			var got []*x509.Certificate
			var pools []int
			for _, l := range ch.Links {
				got, pools = append(got, l.Cert), append(pools, l.Pool)
			}
			if !slices.Equal(got, c.want) || !slices.Equal(pools, c.wantPool) {
				t.Errorf("links %v from pools %v, want %v from %v", names(got), pools, names(c.want), c.wantPool)
			}
			if ch.Rooted != c.rooted || ch.NameOnly != c.nameOnly {
				t.Errorf("rooted %v name-only %v, want %v %v", ch.Rooted, ch.NameOnly != nil, c.rooted, c.nameOnly != nil)
			}
			if ch.Last() != c.want[len(c.want)-1] {
				t.Errorf("Last is %s", ch.Last().Subject)
			}
		})
	}
	// chainWalk, the checks' view of the same walk.
	inter, root, lost := chainWalk(p.server.cert, []*x509.Certificate{p.root.cert, p.inter.cert})
	if !slices.Equal(inter, []*x509.Certificate{p.inter.cert}) || root != p.root.cert || lost {
		t.Errorf("chainWalk: inter %v root %v lost %v", names(inter), root != nil, lost)
	}
	if inter, root, lost := chainWalk(p.root.cert); inter != nil || root != nil || lost {
		t.Errorf("chainWalk of a root: inter %v root %v lost %v", names(inter), root != nil, lost)
	}
	if inter, root, lost := chainWalk(p.server.cert, []*x509.Certificate{recreated.cert}); inter != nil || root != nil || !lost {
		t.Errorf("chainWalk past a re-created CA: inter %v root %v lost %v", names(inter), root != nil, lost)
	}
}

// reissue issues c's certificate again, with c's key, from parent.
func reissue(t *testing.T, c, parent *testCert) *testCert {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, c.cert, parent.cert, c.key.Public(), parent.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCert{cert: cert, key: c.key}
}

func names(certs []*x509.Certificate) []string {
	var out []string
	for _, c := range certs {
		out = append(out, c.Subject.CommonName)
	}
	return out
}

// TestSANsAndEKUNames lists every kind of SAN in order and names known and unknown EKUs.
func TestSANsAndEKUNames(t *testing.T) {
	u, _ := url.Parse("spiffe://example.org/ns/default/sa/web")
	c := &x509.Certificate{DNSNames: []string{"a.example"}, EmailAddresses: []string{"ops@example.org"},
		URIs:               []*url.URL{u},
		ExtKeyUsage:        []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth, x509.ExtKeyUsage(99)},
		UnknownExtKeyUsage: []asn1.ObjectIdentifier{{1, 2, 3, 4}}}
	c.IPAddresses = append(c.IPAddresses, []byte{127, 0, 0, 1})
	if got := SANs(c); !slices.Equal(got, []string{"a.example", "127.0.0.1", u.String(), "ops@example.org"}) {
		t.Errorf("SANs = %q", got)
	}
	if got := EKUNames(c); !slices.Equal(got, []string{"serverAuth", "clientAuth", "usage(99)", "1.2.3.4"}) {
		t.Errorf("EKUNames = %q", got)
	}
	if got := ekuList(c); got != "serverAuth, clientAuth, usage(99), 1.2.3.4" {
		t.Errorf("ekuList = %q", got)
	}
}
