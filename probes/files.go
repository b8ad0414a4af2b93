package probes

import (
	"crypto"
	"crypto/x509"
	"io/fs"
)

// FileRole says what a TLS file is configured as.
type FileRole string

const (
	RoleCert FileRole = "cert"
	RoleKey  FileRole = "key"
	RoleCA   FileRole = "ca"
)

// PEMBlock describes one PEM block found in a file (the bytes are not kept).
type PEMBlock struct {
	// Type is the PEM type line, e.g. "CERTIFICATE" or "RSA PRIVATE KEY".
	Type string `json:"type"`
	// Encrypted is true for "ENCRYPTED PRIVATE KEY" or a Proc-Type: 4,ENCRYPTED header.
	Encrypted bool `json:"encrypted,omitempty"`
	// Line is the 1-based line of the BEGIN marker.
	Line int `json:"line"`
}

// KeyFacts describes a private key file's key without keeping the private material.
type KeyFacts struct {
	// Algorithm is "RSA", "ECDSA" or "Ed25519".
	Algorithm string `json:"algorithm"`
	// Bits is the RSA modulus size or the ECDSA curve size.
	Bits int `json:"bits"`
	// Encoding is "PKCS#1", "PKCS#8" or "SEC1".
	Encoding string `json:"encoding"`
	// Public is the public half, for matching against a certificate.
	Public crypto.PublicKey `json:"-"`
}

// FileFacts is what was found at one configured TLS path.
type FileFacts struct {
	Role FileRole `json:"role"`
	// Path is the absolute path that was read.
	Path string `json:"path"`
	// Exists is false when the path does not exist.
	Exists bool `json:"exists"`
	// ReadError is the error opening or reading the file (e.g. "permission denied").
	ReadError string `json:"read_error,omitempty"`
	// NotPath says what the setting held instead of a path ("PEM data"; Setting.Secret):
	// nothing was read, and Path is only a placeholder.
	NotPath string `json:"not_path,omitempty"`
	// Mode, UID and GID are the file's permission bits and owner.
	Mode fs.FileMode `json:"mode"`
	UID  int         `json:"uid"`
	GID  int         `json:"gid"`
	// Encoding is "pem", "der", "pkcs12" (a .p12/.pfx bundle, not opened further) or ""
	// when none could be recognised.
	Encoding string `json:"encoding,omitempty"`
	// Blocks lists the PEM blocks in order.
	Blocks []PEMBlock `json:"blocks,omitempty"`
	// Certs are the certificates parsed from the file, in file order.
	Certs []*x509.Certificate `json:"-"`
	// Key is set when the file holds an unencrypted private key that parsed.
	Key *KeyFacts `json:"key,omitempty"`
	// ParseError describes blocks that did not parse (joined, one per line).
	ParseError string `json:"parse_error,omitempty"`
}

// AgentFiles is the agent's TLS material: the configured cert, key and CA files.
// A nil entry means that path is not configured.
type AgentFiles struct {
	Cert *FileFacts `json:"cert,omitempty"`
	Key  *FileFacts `json:"key,omitempty"`
	CA   *FileFacts `json:"ca,omitempty"`
	// SystemRoots is the host's trust store, loaded only when no CA file is configured
	// (the agent then verifies against it). Nil when not loaded or unavailable.
	SystemRoots *x509.CertPool `json:"-"`
	// SystemRootsError is why the system trust store could not be loaded.
	SystemRootsError string `json:"system_roots_error,omitempty"`
}
