package pki

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2026, 11, 30, 20, 55, 1, 0, time.UTC)

func TestIssue(t *testing.T) {
	g := New(testNow)
	root, err := g.Root("nms-ca")
	if err != nil {
		t.Fatal(err)
	}
	const day = 24 * time.Hour
	tests := []struct {
		name  string
		spec  Spec
		check func(t *testing.T, c *x509.Certificate)
	}{
		{
			name: "defaults",
			spec: Spec{CommonName: "agent"},
			check: func(t *testing.T, c *x509.Certificate) {
				if !c.NotBefore.Equal(testNow.Add(-time.Hour)) || !c.NotAfter.Equal(testNow.Add(365*day)) {
					t.Errorf("validity %s – %s, want an hour before now to a year after", c.NotBefore, c.NotAfter)
				}
				if c.IsCA || c.ExtKeyUsage != nil || c.KeyUsage != x509.KeyUsageDigitalSignature {
					t.Errorf("IsCA %v EKU %v KU %v, want a plain leaf", c.IsCA, c.ExtKeyUsage, c.KeyUsage)
				}
				if c.Subject.CommonName != "agent" || !slices.Equal(c.Subject.Organization, []string{DefaultOrganization}) {
					t.Errorf("subject %s", c.Subject)
				}
				if _, ok := c.PublicKey.(*ecdsa.PublicKey); !ok {
					t.Errorf("key %T, want ECDSA", c.PublicKey)
				}
			},
		},
		{
			name: "expired",
			spec: Spec{CommonName: "old", From: -400 * day, Until: -day},
			check: func(t *testing.T, c *x509.Certificate) {
				if !c.NotAfter.Before(testNow) || !c.NotAfter.Equal(testNow.Add(-day)) {
					t.Errorf("NotAfter %s, want a day before %s", c.NotAfter, testNow)
				}
			},
		},
		{
			name: "server names and purpose",
			spec: Spec{CommonName: "nim", DNSNames: []string{"nim.test.local"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)},
				EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}},
			check: func(t *testing.T, c *x509.Certificate) {
				if err := c.VerifyHostname("nim.test.local"); err != nil {
					t.Error(err)
				}
				if err := c.VerifyHostname("127.0.0.1"); err != nil {
					t.Error(err)
				}
				if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
					t.Errorf("EKU %v", c.ExtKeyUsage)
				}
			},
		},
		{
			name: "intermediate with pathlen 0",
			spec: Spec{CommonName: "int", IsCA: true, MaxPathLen: -1},
			check: func(t *testing.T, c *x509.Certificate) {
				if !c.IsCA || c.MaxPathLen != 0 || !c.MaxPathLenZero {
					t.Errorf("IsCA %v MaxPathLen %d zero %v", c.IsCA, c.MaxPathLen, c.MaxPathLenZero)
				}
				if c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
					t.Errorf("KU %v", c.KeyUsage)
				}
			},
		},
		{
			name: "RSA 2048 by default",
			spec: Spec{CommonName: "rsa", Key: RSA},
			check: func(t *testing.T, c *x509.Certificate) {
				k, ok := c.PublicKey.(*rsa.PublicKey)
				if !ok || k.N.BitLen() != 2048 {
					t.Fatalf("key %T", c.PublicKey)
				}
				if c.KeyUsage&x509.KeyUsageKeyEncipherment == 0 {
					t.Error("an RSA leaf lacks keyEncipherment")
				}
			},
		},
		{
			name: "RSA 1024 (weak)",
			spec: Spec{CommonName: "weak", Key: RSA, Bits: 1024},
			check: func(t *testing.T, c *x509.Certificate) {
				if k := c.PublicKey.(*rsa.PublicKey); k.N.BitLen() != 1024 {
					t.Errorf("%d bits", k.N.BitLen())
				}
			},
		},
		{
			name: "Ed25519",
			spec: Spec{CommonName: "ed", Key: Ed25519},
			check: func(t *testing.T, c *x509.Certificate) {
				if _, ok := c.PublicKey.(ed25519.PublicKey); !ok {
					t.Errorf("key %T", c.PublicKey)
				}
			},
		},
		{
			name: "P-384",
			spec: Spec{CommonName: "p384", Key: ECDSAP384},
			check: func(t *testing.T, c *x509.Certificate) {
				if k := c.PublicKey.(*ecdsa.PublicKey); k.Curve.Params().BitSize != 384 {
					t.Errorf("curve %s", k.Curve.Params().Name)
				}
			},
		},
		{
			name: "SHA-384 signature on request",
			spec: Spec{CommonName: "sha384", SignatureAlgorithm: x509.ECDSAWithSHA384},
			check: func(t *testing.T, c *x509.Certificate) {
				if c.SignatureAlgorithm != x509.ECDSAWithSHA384 {
					t.Errorf("signature %s", c.SignatureAlgorithm)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := g.Issue(root, tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Cert.CheckSignatureFrom(root.Cert); err != nil {
				t.Errorf("not signed by the root: %v", err)
			}
			if string(c.Cert.RawIssuer) != string(root.Cert.RawSubject) {
				t.Error("issuer is not the root's subject")
			}
			tt.check(t, c.Cert)
		})
	}
}

func TestChainVerifies(t *testing.T) {
	g := New(testNow)
	root, _ := g.Root("nms-ca")
	inter, err := g.Issue(root, Spec{CommonName: "nms-int-ca", IsCA: true})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := g.Issue(inter, Spec{CommonName: "agent", EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		t.Fatal(err)
	}
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root.Cert)
	inters.AddCert(inter.Cert)
	opts := x509.VerifyOptions{Roots: roots, Intermediates: inters, CurrentTime: testNow,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if _, err := leaf.Cert.Verify(opts); err != nil {
		t.Fatalf("chain does not verify: %v", err)
	}
	opts.CurrentTime = testNow.Add(-2 * time.Hour) // before the default NotBefore
	if _, err := leaf.Cert.Verify(opts); err == nil {
		t.Error("verified two hours before it became valid")
	}
}

func TestReuseKey(t *testing.T) {
	g := New(testNow)
	root, _ := g.Root("ca")
	first, err := g.Issue(root, Spec{CommonName: "agent"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := g.Issue(root, Spec{CommonName: "agent", Signer: first.Key})
	if err != nil {
		t.Fatal(err)
	}
	if again.Key != first.Key || !again.Cert.PublicKey.(*ecdsa.PublicKey).Equal(first.Cert.PublicKey) {
		t.Error("the reissued certificate is not for the same key")
	}
	if again.Cert.SerialNumber.Cmp(first.Cert.SerialNumber) == 0 {
		t.Error("the reissued certificate has the same serial number")
	}
}

func TestIssueErrors(t *testing.T) {
	root, _ := New(testNow).Root("ca")
	tests := []struct {
		name string
		g    *Generator
		p    *Cert
		spec Spec
		want string
	}{
		{"zero now", &Generator{}, nil, Spec{}, "Now is not set"},
		{"inverted window", New(testNow), root, Spec{From: time.Hour, Until: -time.Hour}, "before it starts"},
		{"parent without key", New(testNow), &Cert{Cert: root.Cert}, Spec{}, "no certificate or key"},
		{"tiny RSA", New(testNow), root, Spec{Key: RSA, Bits: 512}, "too small"},
		{"unknown key type", New(testNow), root, Spec{Key: KeyType(99)}, "unknown key type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.g.Issue(tt.p, tt.spec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestCRL(t *testing.T) {
	g := New(testNow)
	root, _ := g.Root("ca")
	bad, _ := g.Issue(root, Spec{CommonName: "revoked"})
	good, _ := g.Issue(root, Spec{CommonName: "fine"})
	der, err := g.CRL(root, bad)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(root.Cert); err != nil {
		t.Fatalf("CRL signature: %v", err)
	}
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(bad.Cert.SerialNumber) != 0 {
		t.Errorf("revoked %v, want only %v", crl.RevokedCertificateEntries, bad.Cert.SerialNumber)
	}
	if crl.RevokedCertificateEntries[0].SerialNumber.Cmp(good.Cert.SerialNumber) == 0 {
		t.Error("the good certificate is revoked")
	}
	if !crl.NextUpdate.After(testNow) || crl.ThisUpdate.After(testNow) {
		t.Errorf("CRL window %s – %s does not cover now", crl.ThisUpdate, crl.NextUpdate)
	}
	if b, _ := pem.Decode(CRLPEM(der)); b == nil || b.Type != "X509 CRL" {
		t.Error("CRLPEM is not an X509 CRL block")
	}
	if _, err := g.CRL(&Cert{}, bad); err == nil {
		t.Error("CRL without an issuer key succeeded")
	}
}

func TestKeyPEM(t *testing.T) {
	g := New(testNow)
	ec, _ := g.SelfSigned(Spec{CommonName: "ec"})
	rs, _ := g.SelfSigned(Spec{CommonName: "rsa", Key: RSA})
	ed, _ := g.SelfSigned(Spec{CommonName: "ed", Key: Ed25519})
	tests := []struct {
		c       *Cert
		format  KeyFormat
		pemType string // "" means an error is expected
	}{
		{ec, PKCS8, "PRIVATE KEY"},
		{ec, SEC1, "EC PRIVATE KEY"},
		{ec, PKCS1, ""},
		{rs, PKCS8, "PRIVATE KEY"},
		{rs, PKCS1, "RSA PRIVATE KEY"},
		{rs, SEC1, ""},
		{ed, PKCS8, "PRIVATE KEY"},
		{ed, SEC1, ""},
		{ec, KeyFormat(9), ""},
	}
	for _, tt := range tests {
		b, err := tt.c.KeyPEM(tt.format)
		if tt.pemType == "" {
			if err == nil {
				t.Errorf("%s as format %d: no error", tt.c.Cert.Subject.CommonName, tt.format)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s as format %d: %v", tt.c.Cert.Subject.CommonName, tt.format, err)
			continue
		}
		// tls.X509KeyPair accepts every encoding the agent would: the pair must load.
		if _, err := tls.X509KeyPair(CertsPEM(tt.c), b); err != nil {
			t.Errorf("%s %s: pair does not load: %v", tt.c.Cert.Subject.CommonName, tt.pemType, err)
		}
		if blk, _ := pem.Decode(b); blk == nil || blk.Type != tt.pemType {
			t.Errorf("%s: PEM type %v, want %s", tt.c.Cert.Subject.CommonName, blk, tt.pemType)
		}
	}
}

func TestWriteFiles(t *testing.T) {
	g := New(testNow)
	root, _ := g.Root("ca")
	leaf, _ := g.Issue(root, Spec{CommonName: "agent"})
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "agent.crt"), filepath.Join(dir, "agent.key")

	// An existing world-readable key file must end up 0600.
	if err := os.WriteFile(keyPath, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteCerts(certPath, leaf, root); err != nil {
		t.Fatal(err)
	}
	if err := WriteKey(keyPath, leaf); err != nil {
		t.Fatal(err)
	}
	for path, mode := range map[string]os.FileMode{certPath: 0o644, keyPath: 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s mode %o, want %o", filepath.Base(path), fi.Mode().Perm(), mode)
		}
	}
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(pair.Certificate) != 2 {
		t.Errorf("%d certificates in the file, want leaf and root", len(pair.Certificate))
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	if err := WriteFile(filepath.Join(dir, "missing-dir", "x"), nil, 0o644); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}
