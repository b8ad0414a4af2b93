package probes

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/mtls-doctor/mtls-doctor/internal/pki"
)

// pemCorpus seeds FuzzParsePEMOrDER. Real certificates and keys are added at run time
// (generated, never checked in); these are the shapes that break parsers.
var pemCorpus = []string{
	// Nothing, and whitespace.
	"",
	"\n\r\n\t ",
	// A BEGIN line and nothing else.
	"-----BEGIN CERTIFICATE-----",
	"-----BEGIN CERTIFICATE-----\n",
	// BEGIN without the closing dashes, or with an empty type.
	"-----BEGIN CERTIFICATE\nMIIB\n-----END CERTIFICATE-----\n",
	"-----BEGIN -----\n-----END -----\n",
	// Mismatched END type.
	"-----BEGIN CERTIFICATE-----\nAAAA\n-----END PRIVATE KEY-----\n",
	// Bad base64 body.
	"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
	// A valid empty body.
	"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
	// Headers: legacy encryption, and a header line without a colon.
	"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n",
	"-----BEGIN PRIVATE KEY-----\nProc-Type 4\n\nAAAA\n-----END PRIVATE KEY-----\n",
	// Encrypted PKCS#8 label.
	"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAMCAQA=\n-----END ENCRYPTED PRIVATE KEY-----\n",
	// A block nested in another's body.
	"-----BEGIN CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n-----END CERTIFICATE-----\n",
	// BEGIN not at a line start (Go ignores it), and two on one line.
	"x-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
	"-----BEGIN A----------BEGIN B-----\n",
	// CR-only line ends.
	"-----BEGIN CERTIFICATE-----\rAAAA\r-----END CERTIFICATE-----\r",
	// DER-looking starts: SEQUENCE with a long length, truncated.
	"\x30\x82\xff\xff",
	"\x30\x80\x00\x00",
	"\x30",
	// Invalid UTF-8 in a type.
	"-----BEGIN \xff\xfe-----\n-----END \xff\xfe-----\n",
}

// FuzzParsePEMOrDER checks that ParsePEMOrDER never panics, that its facts are consistent,
// and that it agrees with Go's own PEM loop (what tls.X509KeyPair and the agent see) on
// the certificates and on whether the first private key parses.
func FuzzParsePEMOrDER(f *testing.F) {
	for _, s := range pemCorpus {
		f.Add([]byte(s))
	}
	root := tpIssue(f, nil, pki.Spec{CommonName: "fuzz root", IsCA: true})
	leaf := tpIssue(f, root, pki.Spec{CommonName: "fuzz leaf"})
	f.Add(root.Cert.Raw)
	f.Add(pki.CertsPEM(leaf, root))
	f.Add(append(pki.CertsPEM(leaf), tpKeyPEM(f, leaf, pki.SEC1)...))
	f.Add(tpKeyPEM(f, leaf, pki.PKCS8))
	f.Add(tpPKCS8(f, leaf.Key))
	f.Add(minimalPFX(f))

	f.Fuzz(func(t *testing.T, data []byte) {
		ff := ParsePEMOrDER(RoleKey, data)
		lines := bytes.Count(data, []byte("\n")) + 1
		prev := 0
		for _, b := range ff.Blocks {
			if b.Line <= prev || b.Line > lines {
				t.Fatalf("block lines out of order or range: %+v (file has %d lines)", ff.Blocks, lines)
			}
			prev = b.Line
		}
		if len(ff.Blocks) > 0 && ff.Encoding != "pem" {
			t.Fatalf("blocks but encoding %q", ff.Encoding)
		}
		if ff.Key != nil && (ff.Key.Public == nil || ff.Key.Algorithm == "") {
			t.Fatalf("key without public half: %+v", ff.Key)
		}
		if ff.Encoding == "pkcs12" && (len(ff.Certs) > 0 || ff.Key != nil || ff.ParseError != "") {
			t.Fatalf("a PKCS#12 bundle is not opened, yet: %+v", ff)
		}
		if ff.Encoding != "pem" {
			return
		}
		// Go's loop over the same data.
		var goCerts int
		goKey := -1 // -1: no key block; 0: did not parse; 1: parsed
		for rest := data; ; {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			if b.Type == "CERTIFICATE" {
				if _, err := x509.ParseCertificate(b.Bytes); err == nil {
					goCerts++
				}
			}
			if goKey == -1 && (b.Type == "PRIVATE KEY" || strings.HasSuffix(b.Type, " PRIVATE KEY")) {
				goKey = 0
				if goParsesKey(b.Bytes) {
					goKey = 1
				}
			}
		}
		if goCerts != len(ff.Certs) {
			t.Fatalf("Go's PEM loop finds %d certificates, ParsePEMOrDER %d (blocks %+v)", goCerts, len(ff.Certs), ff.Blocks)
		}
		if (goKey == 1) != (ff.Key != nil) {
			t.Fatalf("Go's first key block parses: %v; ParsePEMOrDER key: %+v (blocks %+v)", goKey == 1, ff.Key, ff.Blocks)
		}
	})
}

// minimalPFX is the outer PKCS#12 structure (RFC 7292, section 4) around empty data.
func minimalPFX(t testing.TB) []byte {
	var pfx pfxPDU
	pfx.Version = 3
	pfx.AuthSafe.ContentType = oidPKCS7Data
	pfx.AuthSafe.Content = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: []byte{0x04, 0x00}}
	b, err := asn1.Marshal(pfx)
	if err != nil {
		t.Fatal(err)
	}
	if !isPKCS12(b) {
		t.Fatalf("minimalPFX is not recognised")
	}
	return b
}

// goParsesKey is crypto/tls's parsePrivateKey: PKCS#1, PKCS#8 (RSA, ECDSA, Ed25519), SEC1.
func goParsesKey(der []byte) bool {
	if _, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return true
	}
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		switch k.(type) {
		case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
			return true
		}
		return false
	}
	_, err := x509.ParseECPrivateKey(der)
	return err == nil
}
