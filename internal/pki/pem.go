package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
)

// KeyFormat is a PEM encoding of a private key.
type KeyFormat int

const (
	// PKCS8 is "PRIVATE KEY", what make_certs.sh and most tools write today (default).
	PKCS8 KeyFormat = iota
	// PKCS1 is "RSA PRIVATE KEY" (RSA keys only).
	PKCS1
	// SEC1 is "EC PRIVATE KEY" (ECDSA keys only).
	SEC1
)

// CertsPEM encodes the certificates, in order, as consecutive PEM blocks.
func CertsPEM(certs ...*Cert) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		// Writing to a bytes.Buffer cannot fail.
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw})
	}
	return b.Bytes()
}

// KeyPEM encodes c's private key in format.
func (c *Cert) KeyPEM(format KeyFormat) ([]byte, error) {
	var block *pem.Block
	switch format {
	case PKCS8:
		der, err := x509.MarshalPKCS8PrivateKey(c.Key)
		if err != nil {
			return nil, fmt.Errorf("pki: encode key: %w", err)
		}
		block = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	case PKCS1:
		k, ok := c.Key.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("pki: PKCS#1 needs an RSA key, not %T", c.Key)
		}
		block = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}
	case SEC1:
		k, ok := c.Key.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("pki: SEC1 needs an ECDSA key, not %T", c.Key)
		}
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return nil, fmt.Errorf("pki: encode key: %w", err)
		}
		block = &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
	default:
		return nil, fmt.Errorf("pki: unknown key format %d", int(format))
	}
	return pem.EncodeToMemory(block), nil
}

// CRLPEM encodes a DER CRL as PEM ("X509 CRL", what NGINX's ssl_crl reads).
func CRLPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

// WriteCerts writes the certificates, in order, as one PEM file with mode 0644.
func WriteCerts(path string, certs ...*Cert) error {
	return WriteFile(path, CertsPEM(certs...), 0o644)
}

// WriteKey writes c's key as PKCS#8 PEM with mode 0600.
func WriteKey(path string, c *Cert) error {
	b, err := c.KeyPEM(PKCS8)
	if err != nil {
		return err
	}
	return WriteFile(path, b, 0o600)
}

// WriteFile replaces path with data and gives it mode, atomically: a reader sees the old
// file or the new one, never half of it, and an existing file's looser mode is not kept.
func WriteFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(name)
		}
	}()
	if err := tmp.Chmod(mode); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(name, path); err != nil {
		return err
	}
	ok = true
	return nil
}
