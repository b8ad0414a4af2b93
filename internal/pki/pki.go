// Package pki makes small X.509 PKIs in memory for tests and the demo lab: root and
// intermediate CAs, leaf certificates with chosen names, purposes, keys and validity,
// CRLs, and the PEM files NGINX and the agent read.
//
// Every validity window is relative to an instant the caller passes in (Generator.Now),
// so a lab built "now" and a lab built for a fixed test instant behave the same way.
// Keys are ECDSA P-256 unless a Spec asks for RSA or Ed25519.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Default validity of a certificate relative to Generator.Now: valid from an hour ago
// (tolerates small clock differences) for a year.
const (
	DefaultFrom  = -time.Hour
	DefaultUntil = 365 * 24 * time.Hour
)

// DefaultOrganization is the subject organization of certificates whose Spec sets none.
const DefaultOrganization = "mtls-doctor lab"

// KeyType is the kind of key a certificate is made for.
type KeyType int

const (
	// ECDSAP256 is the default: quick to generate, accepted by NGINX and Go alike.
	ECDSAP256 KeyType = iota
	// ECDSAP384 is ECDSA on P-384.
	ECDSAP384
	// RSA is an RSA key of Spec.Bits bits (default 2048).
	RSA
	// Ed25519 is an Ed25519 key (Go accepts it; many OpenSSL-based peers do not for TLS).
	Ed25519
)

// String names the key type as the diagnostics do ("ECDSA", "RSA", "Ed25519").
func (k KeyType) String() string {
	switch k {
	case ECDSAP256:
		return "ECDSA P-256"
	case ECDSAP384:
		return "ECDSA P-384"
	case RSA:
		return "RSA"
	case Ed25519:
		return "Ed25519"
	}
	return fmt.Sprintf("KeyType(%d)", int(k))
}

// Spec says what to issue. The zero Spec is a one-year end-entity certificate without
// names or purposes, valid from an hour before Generator.Now.
type Spec struct {
	// CommonName is the subject CN. Subject, when set, replaces the whole subject.
	CommonName string
	// Organization is the subject O; nil gives DefaultOrganization.
	Organization []string
	Subject      *pkix.Name

	// DNSNames, IPs, Emails and URIs are the subjectAltName entries.
	DNSNames []string
	IPs      []net.IP
	Emails   []string

	// EKU is the extendedKeyUsage; nil leaves the extension out (any purpose).
	EKU []x509.ExtKeyUsage
	// KeyUsage overrides the default (CAs: certSign|crlSign; leaves: digitalSignature,
	// plus keyEncipherment for RSA).
	KeyUsage x509.KeyUsage

	// IsCA makes a CA certificate (basicConstraints CA:TRUE).
	IsCA bool
	// MaxPathLen limits the CAs below a CA; 0 leaves it unlimited, use -1 for "none below"
	// (pathlen:0).
	MaxPathLen int

	// From and Until place the validity window relative to Generator.Now:
	// NotBefore = Now+From, NotAfter = Now+Until. Zero gives DefaultFrom / DefaultUntil.
	// An expired certificate is e.g. From: -400 days, Until: -1 day.
	From, Until time.Duration

	// Key is the type of the new key pair; Bits is the RSA size (default 2048).
	Key  KeyType
	Bits int
	// Signer, when set, is used as the certificate's key instead of generating one
	// (to reissue a certificate for an existing key).
	Signer crypto.Signer

	// SignatureAlgorithm overrides the issuer's default signature algorithm.
	SignatureAlgorithm x509.SignatureAlgorithm
	// SerialNumber overrides the random serial number.
	SerialNumber *big.Int
}

// Cert is a certificate with its private key.
type Cert struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// Generator issues certificates with validity windows relative to Now.
type Generator struct {
	// Now is the instant validity windows are placed around.
	Now time.Time
}

// New returns a Generator for the instant now.
func New(now time.Time) *Generator { return &Generator{Now: now} }

// SelfSigned makes a self-signed certificate: a root CA when spec.IsCA, else a
// self-signed leaf.
func (g *Generator) SelfSigned(spec Spec) (*Cert, error) { return g.Issue(nil, spec) }

// Root makes a self-signed root CA named cn with default settings.
func (g *Generator) Root(cn string) (*Cert, error) {
	return g.Issue(nil, Spec{CommonName: cn, IsCA: true})
}

// Issue signs spec with parent's key; a nil parent makes the certificate self-signed.
func (g *Generator) Issue(parent *Cert, spec Spec) (*Cert, error) {
	if g == nil || g.Now.IsZero() {
		return nil, errors.New("pki: Generator.Now is not set")
	}
	if parent != nil && (parent.Cert == nil || parent.Key == nil) {
		return nil, errors.New("pki: parent has no certificate or key")
	}
	key := spec.Signer
	if key == nil {
		var err error
		if key, err = NewKey(spec.Key, spec.Bits); err != nil {
			return nil, err
		}
	}
	serial := spec.SerialNumber
	if serial == nil {
		var err error
		if serial, err = rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120)); err != nil {
			return nil, fmt.Errorf("pki: serial number: %w", err)
		}
	}
	from, until := spec.From, spec.Until
	if from == 0 {
		from = DefaultFrom
	}
	if until == 0 {
		until = DefaultUntil
	}
	if until <= from {
		return nil, fmt.Errorf("pki: validity ends (%s) before it starts (%s)", until, from)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject(spec),
		NotBefore:             g.Now.Add(from),
		NotAfter:              g.Now.Add(until),
		BasicConstraintsValid: true,
		IsCA:                  spec.IsCA,
		DNSNames:              spec.DNSNames,
		IPAddresses:           spec.IPs,
		EmailAddresses:        spec.Emails,
		ExtKeyUsage:           spec.EKU,
		KeyUsage:              spec.KeyUsage,
		SignatureAlgorithm:    spec.SignatureAlgorithm,
	}
	if spec.IsCA {
		switch {
		case spec.MaxPathLen < 0:
			tmpl.MaxPathLen, tmpl.MaxPathLenZero = 0, true
		case spec.MaxPathLen > 0:
			tmpl.MaxPathLen = spec.MaxPathLen
		}
	}
	if tmpl.KeyUsage == 0 {
		tmpl.KeyUsage = defaultKeyUsage(spec.IsCA, key)
	}
	issuer, issuerKey := tmpl, key
	if parent != nil {
		issuer, issuerKey = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), issuerKey)
	if err != nil {
		return nil, fmt.Errorf("pki: create certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parse certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	return &Cert{Cert: c, Key: key}, nil
}

func subject(spec Spec) pkix.Name {
	if spec.Subject != nil {
		return *spec.Subject
	}
	org := spec.Organization
	if org == nil {
		org = []string{DefaultOrganization}
	}
	return pkix.Name{Organization: org, CommonName: spec.CommonName}
}

func defaultKeyUsage(ca bool, key crypto.Signer) x509.KeyUsage {
	if ca {
		return x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	}
	ku := x509.KeyUsageDigitalSignature
	if _, ok := key.Public().(*rsa.PublicKey); ok {
		// RSA key exchange (TLS 1.2 without ECDHE) needs it; OpenSSL's make_certs.sh sets it.
		ku |= x509.KeyUsageKeyEncipherment
	}
	return ku
}

// NewKey generates a private key of type t; bits is the RSA size (0 means 2048).
func NewKey(t KeyType, bits int) (crypto.Signer, error) {
	switch t {
	case ECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ECDSAP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case RSA:
		if bits == 0 {
			bits = 2048
		}
		if bits < 1024 {
			// crypto/rsa refuses smaller keys; weak-key tests use 1024.
			return nil, fmt.Errorf("pki: RSA key of %d bits is too small to generate (minimum 1024)", bits)
		}
		return rsa.GenerateKey(rand.Reader, bits)
	case Ed25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("pki: unknown key type %d", int(t))
}

// CRL returns a DER certificate revocation list signed by issuer that revokes the given
// certificates as of an hour before Now, valid for a week.
func (g *Generator) CRL(issuer *Cert, revoked ...*Cert) ([]byte, error) {
	if g == nil || g.Now.IsZero() {
		return nil, errors.New("pki: Generator.Now is not set")
	}
	if issuer == nil || issuer.Cert == nil || issuer.Key == nil {
		return nil, errors.New("pki: CRL issuer has no certificate or key")
	}
	entries := make([]x509.RevocationListEntry, 0, len(revoked))
	for _, r := range revoked {
		entries = append(entries, x509.RevocationListEntry{
			SerialNumber: r.Cert.SerialNumber, RevocationTime: g.Now.Add(-time.Hour)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    big.NewInt(1),
		ThisUpdate:                g.Now.Add(-time.Hour),
		NextUpdate:                g.Now.Add(7 * 24 * time.Hour),
		RevokedCertificateEntries: entries,
	}, issuer.Cert, issuer.Key)
	if err != nil {
		return nil, fmt.Errorf("pki: create CRL: %w", err)
	}
	return der, nil
}
