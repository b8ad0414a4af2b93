package diagnostics

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"slices"
	"time"
)

// Chain the pathlen check builds: SPIRE's CA and a workload SVID as SPIRE makes them
// (SPIRE v1.5.6 pkg/server/ca/templates.go; spire-server.conf's ca_subject in the chart).
const meshDefaultTrustDomain = "example.org"

// chainVerdict is the result of building SVID → SPIRE CA → path with Go's verifier.
type chainVerdict struct {
	// err is Go's verdict, nil when the chain verifies.
	err error
	// culprit is the certificate of path the error is about, nil when none.
	culprit *x509.Certificate
}

// verifySPIREChain rebuilds path with fresh keys, keeping each certificate's subject,
// validity, pathlen, name constraints and unhandled critical extensions (CA flag, key
// usage and EKU are mesh-ca-not-a-ca's, so they are made right), adds a SPIRE CA and an
// SVID for trustDomain below it, and verifies the SVID at a time every certificate is
// valid (validity has its own checks). path must end at a self-signed root.
func verifySPIREChain(path []*x509.Certificate, trustDomain string, now time.Time) (chainVerdict, error) {
	at := trustTime(path, now)
	clones := make([]*x509.Certificate, len(path))
	keys := make([]*ecdsa.PrivateKey, len(path))
	for i := len(path) - 1; i >= 0; i-- {
		c := path[i]
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return chainVerdict{}, err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(int64(i + 2)), RawSubject: c.RawSubject,
			NotBefore: c.NotBefore, NotAfter: c.NotAfter,
			BasicConstraintsValid: true, IsCA: true, MaxPathLen: c.MaxPathLen, MaxPathLenZero: c.MaxPathLenZero,
			KeyUsage:                    x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
			PermittedDNSDomainsCritical: c.PermittedDNSDomainsCritical,
			PermittedDNSDomains:         c.PermittedDNSDomains, ExcludedDNSDomains: c.ExcludedDNSDomains,
			PermittedIPRanges: c.PermittedIPRanges, ExcludedIPRanges: c.ExcludedIPRanges,
			PermittedEmailAddresses: c.PermittedEmailAddresses, ExcludedEmailAddresses: c.ExcludedEmailAddresses,
			PermittedURIDomains: c.PermittedURIDomains, ExcludedURIDomains: c.ExcludedURIDomains,
		}
		if !c.BasicConstraintsValid {
			tmpl.MaxPathLen = -1
		}
		for _, ext := range c.Extensions {
			if slices.ContainsFunc(c.UnhandledCriticalExtensions, ext.Id.Equal) {
				tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, ext)
			}
		}
		parent, signer := tmpl, k
		if i < len(path)-1 {
			parent, signer = clones[i+1], keys[i+1]
		}
		clone, err := createCert(tmpl, parent, &k.PublicKey, signer)
		if err != nil {
			return chainVerdict{}, fmt.Errorf("rebuild %s: %w", certName(c), err)
		}
		clones[i], keys[i] = clone, k
	}
	td := &url.URL{Scheme: "spiffe", Host: trustDomain}
	notAfter := func(limit time.Time) time.Time { return minTime(at.Add(time.Hour), limit) }
	spireKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return chainVerdict{}, err
	}
	spireCA, err := createCert(&x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{Country: []string{"US"}, Organization: []string{"NGINX"}},
		URIs: []*url.URL{td}, NotBefore: at.Add(-10 * time.Second), NotAfter: notAfter(path[0].NotAfter),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true,
	}, clones[0], &spireKey.PublicKey, keys[0])
	if err != nil {
		return chainVerdict{}, fmt.Errorf("sign a SPIRE CA: %w", err)
	}
	svidKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return chainVerdict{}, err
	}
	svid, err := createCert(&x509.Certificate{
		SerialNumber: big.NewInt(1), URIs: []*url.URL{td.JoinPath("ns", "default", "sa", "default")},
		NotBefore: at.Add(-10 * time.Second), NotAfter: notAfter(spireCA.NotAfter),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageKeyAgreement,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, BasicConstraintsValid: true,
	}, spireCA, &svidKey.PublicKey, spireKey)
	if err != nil {
		return chainVerdict{}, fmt.Errorf("sign an SVID: %w", err)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(clones[len(clones)-1])
	inter.AddCert(spireCA)
	for _, c := range clones[:len(clones)-1] {
		inter.AddCert(c)
	}
	// go-spiffe's x509svid.Verify: any usage, the bundle as roots.
	_, err = svid.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	v := chainVerdict{err: err}
	var ce x509.CertificateInvalidError
	if errors.As(err, &ce) {
		if i := slices.Index(clones, ce.Cert); i >= 0 {
			v.culprit = path[i]
		}
	}
	return v, nil
}

func createCert(tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, signer *ecdsa.PrivateKey) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// pathlenText describes c's path length constraint.
func pathlenText(c *x509.Certificate) string {
	switch {
	case !c.BasicConstraintsValid || c.MaxPathLen < 0 || (c.MaxPathLen == 0 && !c.MaxPathLenZero):
		return "pathlen unset"
	}
	return fmt.Sprintf("pathlen:%d", c.MaxPathLen)
}

// pathlenShort lists the certificates of path whose pathlen is below the CAs the chain
// puts under them: path[i] has i certificates of path and SPIRE's CA below it.
func pathlenShort(path []*x509.Certificate) []int {
	var out []int
	for i, c := range path {
		if pathlenText(c) != "pathlen unset" && c.MaxPathLen < i+1 {
			out = append(out, i)
		}
	}
	return out
}
