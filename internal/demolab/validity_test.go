package demolab

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestIssuersCoverTheirCertificates checks, in every scenario's files, that each
// certificate falls inside its issuer's validity: a CA valid from after the leaf it
// issued (an expired leaf backdated a year under a CA made an hour ago) reads as a CA
// that did not exist yet. TestScenarios and TestUpstreamScenarios check that each
// scenario still shows its fault.
func TestIssuersCoverTheirCertificates(t *testing.T) {
	for _, sc := range Scenarios() {
		t.Run(sc.Name, func(t *testing.T) {
			t.Parallel()
			l := startLab(t, sc.Name)
			certs := labCertificates(t, l.Dir)
			checked := 0
			for _, c := range certs {
				for _, ca := range certs {
					if !issued(ca, c) {
						continue
					}
					checked++
					if c.NotBefore.Before(ca.NotBefore) {
						t.Errorf("%s is valid from %s, before its issuer %s (from %s)",
							c.Subject, c.NotBefore.Format(time.DateOnly), ca.Subject, ca.NotBefore.Format(time.DateOnly))
					}
					if c.NotAfter.After(ca.NotAfter) {
						t.Errorf("%s is valid until %s, after its issuer %s (until %s)",
							c.Subject, c.NotAfter.Format(time.DateOnly), ca.Subject, ca.NotAfter.Format(time.DateOnly))
					}
				}
			}
			if checked == 0 {
				t.Fatalf("no certificate with its issuer among the %d certificates in %s", len(certs), l.Dir)
			}
		})
	}
}

// labCertificates returns every distinct certificate in the PEM files under dir.
func labCertificates(t *testing.T, dir string) []*x509.Certificate {
	t.Helper()
	var certs []*x509.Certificate
	seen := map[string]bool{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rest, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				return nil
			}
			if b.Type != "CERTIFICATE" || seen[string(b.Bytes)] {
				continue
			}
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return err
			}
			seen[string(b.Bytes)] = true
			certs = append(certs, c)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return certs
}

// issued reports whether ca issued c, by name and key identifier rather than by
// signature, so that agent-cert-rejected's damaged signature still finds its issuer.
func issued(ca, c *x509.Certificate) bool {
	return ca != c && ca.IsCA && bytes.Equal(c.RawIssuer, ca.RawSubject) &&
		bytes.Equal(c.AuthorityKeyId, ca.SubjectKeyId)
}
