package probes

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/mtls-doctor/mtls-doctor/internal/regularfile"
	"github.com/mtls-doctor/mtls-doctor/internal/safetext"
)

// MaxTLSFileSize bounds how much of a cert, key, CA or CRL file is read. Neither the agent
// (os.ReadFile, then tls.X509KeyPair or AppendCertsFromPEM) nor NGINX (PEM_read_bio) caps
// these files, and CA bundles of thousands of certificates are real (5,001 certificates
// are 2.9 MB), so the cap sits well above any of them: it only stops a path like
// /dev/zero or a disk image from being read whole.
const MaxTLSFileSize = 16 << 20

// LoadTLSFile stats and reads the file at path (following symlinks, as the agent does) and
// parses it with ParsePEMOrDER. It never fails: a missing, unreadable or oversized file is
// recorded in the facts.
func LoadTLSFile(role FileRole, path string) *FileFacts {
	if kind := safetext.SecretKind(path); kind != "" {
		return notPathFacts(role, kind)
	}
	ff := &FileFacts{Role: role, Path: path}
	if abs, err := filepath.Abs(path); err == nil {
		ff.Path = abs
	}
	fi, err := os.Stat(ff.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return ff
	}
	// Any other stat error (e.g. a directory on the way we may not search) leaves the
	// file's existence unknown; it is reported as unreadable rather than missing.
	ff.Exists = true
	if err != nil {
		ff.ReadError = err.Error()
		return ff
	}
	ff.Mode = fi.Mode()
	ff.UID, ff.GID = fileOwner(fi)
	data, err := readTLSFileCapped(ff.Path, MaxTLSFileSize)
	if err != nil {
		ff.ReadError = err.Error()
		return ff
	}
	parsed := ParsePEMOrDER(role, data)
	parsed.Path, parsed.Exists, parsed.Mode, parsed.UID, parsed.GID = ff.Path, true, ff.Mode, ff.UID, ff.GID
	return &parsed
}

// readTLSFileCapped reads at most limit bytes of path and fails when the file holds more.
func readTLSFileCapped(path string, limit int64) ([]byte, error) {
	f, err := regularfile.Open(path) // a FIFO would block os.Open for ever
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes, too large for a certificate, key or CA file", path, limit)
	}
	return data, nil
}

// LoadAgentFiles loads the agent's configured cert, key and CA files; an unset path leaves
// its entry nil. Without a CA file the agent verifies the server against the host's trust
// store, so that is loaded instead.
func LoadAgentFiles(cfg AgentConfig) AgentFiles {
	var af AgentFiles
	if cfg.Cert.Value != "" {
		af.Cert = loadSettingFile(RoleCert, cfg.Cert)
	}
	if cfg.Key.Value != "" {
		af.Key = loadSettingFile(RoleKey, cfg.Key)
	}
	if cfg.CA.Value != "" {
		af.CA = loadSettingFile(RoleCA, cfg.CA)
	} else {
		pool, err := x509.SystemCertPool()
		if err != nil {
			af.SystemRootsError = err.Error()
		} else {
			af.SystemRoots = pool
		}
	}
	return af
}

// loadSettingFile loads the file a setting names; a setting that holds key material
// instead of a path is recorded as such and nothing is opened.
func loadSettingFile(role FileRole, s Setting) *FileFacts {
	if s.Secret != "" {
		return notPathFacts(role, s.Secret)
	}
	return LoadTLSFile(role, s.Value)
}

// notPathFacts describes a path argument that holds key material or a token (kind is
// safetext.SecretKind's) without keeping it.
func notPathFacts(role FileRole, kind string) *FileFacts {
	return &FileFacts{Role: role, Path: safetext.Placeholder(kind), Exists: true, NotPath: kind,
		ReadError: "holds " + kind + ", not a path"}
}

// LoadClientCertificate loads the agent's key pair as the agent does, with Go's
// tls.X509KeyPair; the error is Go's, verbatim (e.g. "tls: private key does not match
// public key"), which the agent logs after "could not load X509 keypair: ". The files are
// read capped at MaxTLSFileSize rather than with tls.LoadX509KeyPair, which reads a path
// like /dev/zero until memory runs out.
func LoadClientCertificate(certPath, keyPath string) (*tls.Certificate, error) {
	certPEM, err := readTLSFileCapped(certPath, MaxTLSFileSize)
	if err != nil {
		return nil, err
	}
	keyPEM, err := readTLSFileCapped(keyPath, MaxTLSFileSize)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	return &cert, nil
}

// ParsePEMOrDER describes the contents of a TLS file: its encoding, every PEM block with the
// line of its BEGIN marker, the certificates, the first private key's public half, and which
// blocks are encrypted or do not parse. Certificates and keys are looked for whatever the
// role, so a swapped cert and key shows in the facts. Path, Exists, Mode and owner are left
// for LoadTLSFile. It never panics and keeps no private key material.
func ParsePEMOrDER(role FileRole, data []byte) FileFacts {
	ff := FileFacts{Role: role}
	if len(bytes.TrimSpace(data)) == 0 {
		return ff
	}
	var errs []string
	if blocks := scanPEMBlocks(data); len(blocks) > 0 {
		ff.Encoding = "pem"
		keySeen := false
		for _, b := range blocks {
			pb := PEMBlock{Type: b.typ, Line: b.line}
			if b.block == nil {
				ff.Blocks = append(ff.Blocks, pb)
				errs = append(errs, fmt.Sprintf("line %d: %s: malformed PEM block (no matching END line or bad base64)", b.line, b.typ))
				continue
			}
			encrypted := b.typ == "ENCRYPTED PRIVATE KEY" || strings.Contains(b.block.Headers["Proc-Type"], "ENCRYPTED")
			switch {
			case b.typ == "CERTIFICATE":
				ff.Blocks = append(ff.Blocks, pb)
				c, err := x509.ParseCertificate(b.block.Bytes)
				if err != nil {
					errs = append(errs, fmt.Sprintf("line %d: CERTIFICATE: %v", b.line, err))
					continue
				}
				ff.Certs = append(ff.Certs, c)
			case isPrivateKeyBlock(b.typ) && !keySeen:
				// Go (tls.X509KeyPair) uses the first private key block and no other, and
				// ignores the encryption headers: an encrypted block simply does not parse.
				keySeen = true
				k, err := parsePrivateKeyFacts(b.typ, b.block.Bytes)
				switch {
				case err == nil:
					ff.Key = k
				case encrypted:
					pb.Encrypted = true
					errs = append(errs, fmt.Sprintf("line %d: %s: encrypted; the agent has no passphrase option", b.line, b.typ))
				default:
					errs = append(errs, fmt.Sprintf("line %d: %s: %v", b.line, b.typ, err))
				}
				ff.Blocks = append(ff.Blocks, pb)
			default:
				// Later key blocks are listed too, marked if encrypted, but not parsed.
				pb.Encrypted = isPrivateKeyBlock(b.typ) && encrypted
				ff.Blocks = append(ff.Blocks, pb)
			}
		}
	} else {
		parseTLSDER(&ff, data, &errs)
	}
	if len(errs) > maxParseErrors {
		errs = append(errs[:maxParseErrors], fmt.Sprintf("... and %d more", len(errs)-maxParseErrors))
	}
	ff.ParseError = strings.Join(errs, "\n")
	return ff
}

// maxParseErrors bounds ParseError for a damaged file: the first few say what is wrong.
const maxParseErrors = 20

// parseTLSDER handles a file without PEM blocks: one or more concatenated DER certificates,
// or one DER private key. Data that is not an ASN.1 SEQUENCE is neither PEM nor DER.
func parseTLSDER(ff *FileFacts, data []byte, errs *[]string) {
	if data[0] != 0x30 {
		return
	}
	if isPKCS12(data) {
		// A .p12/.pfx bundle: the agent reads none of it, so its contents (often behind
		// a password) are not opened; the finding says how to convert it.
		ff.Encoding = "pkcs12"
		return
	}
	ff.Encoding = "der"
	certs, certErr := x509.ParseCertificates(data)
	if certErr == nil && len(certs) > 0 {
		ff.Certs = certs
		return
	}
	k, keyErr := parsePrivateKeyFacts("", data)
	if keyErr == nil {
		ff.Key = k
		return
	}
	*errs = append(*errs, fmt.Sprintf("DER: not a certificate (%v) nor a private key (%v)", certErr, keyErr))
}

// pfxPDU is the outer structure of a PKCS#12 file (RFC 7292, section 4): version 3 and an
// authSafe ContentInfo of type data (password integrity) or signedData (public-key integrity).
type pfxPDU struct {
	Version  int
	AuthSafe struct {
		ContentType asn1.ObjectIdentifier
		Content     asn1.RawValue `asn1:"explicit,tag:0,optional"`
	}
	MacData asn1.RawValue `asn1:"optional"`
}

var (
	oidPKCS7Data       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidPKCS7SignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
)

// isPKCS12 reports whether data is a DER PKCS#12 PFX, as openssl pkcs12 -export writes it.
func isPKCS12(data []byte) bool {
	var pfx pfxPDU
	if _, err := asn1.Unmarshal(data, &pfx); err != nil {
		return false
	}
	ct := pfx.AuthSafe.ContentType
	return pfx.Version == 3 && (ct.Equal(oidPKCS7Data) || ct.Equal(oidPKCS7SignedData))
}

// pemFound is one BEGIN marker in a file: the decoded block, or nil when it is malformed.
type pemFound struct {
	typ   string
	line  int
	block *pem.Block
}

var (
	pemBegin = []byte("-----BEGIN ")
	pemDash  = []byte("-----")
)

// scanPEMBlocks finds every BEGIN marker at the start of a line (where Go's pem.Decode looks) and
// decodes each block on its own: the input given to pem.Decode stops at the next marker, so
// a malformed block is reported at its own line instead of being skipped silently.
func scanPEMBlocks(data []byte) []pemFound {
	var out []pemFound
	line, counted := 1, 0 // line number of offset counted
	pos := 0
	for pos < len(data) {
		i := bytes.Index(data[pos:], pemBegin)
		if i < 0 {
			break
		}
		start := pos + i
		if start > 0 && data[start-1] != '\n' {
			pos = start + len(pemBegin)
			continue
		}
		line += bytes.Count(data[counted:start], []byte{'\n'})
		counted = start
		end := len(data)
		if j := nextPEMBegin(data, start+len(pemBegin)); j >= 0 {
			end = j
		}
		f := pemFound{typ: pemBeginType(data[start:end]), line: line}
		if b, _ := pem.Decode(data[start:end]); b != nil {
			f.block, f.typ = b, b.Type
		}
		out = append(out, f)
		pos = end
	}
	return out
}

// nextPEMBegin returns the offset of the next BEGIN marker at a line start from pos, or -1.
func nextPEMBegin(data []byte, pos int) int {
	for pos < len(data) {
		i := bytes.Index(data[pos:], pemBegin)
		if i < 0 {
			return -1
		}
		at := pos + i
		if data[at-1] == '\n' {
			return at
		}
		pos = at + len(pemBegin)
	}
	return -1
}

// pemBeginType returns the type named on a BEGIN line ("-----BEGIN X-----" gives "X").
func pemBeginType(block []byte) string {
	first := block[len(pemBegin):]
	if i := bytes.IndexAny(first, "\r\n"); i >= 0 {
		first = first[:i]
	}
	if i := bytes.Index(first, pemDash); i >= 0 {
		first = first[:i]
	}
	const maxType = 64 // a damaged file can have anything here; keep reports short
	if len(first) > maxType {
		first = first[:maxType]
	}
	return strings.ToValidUTF8(string(first), "?")
}

func isPrivateKeyBlock(typ string) bool {
	return typ == "PRIVATE KEY" || strings.HasSuffix(typ, " PRIVATE KEY")
}

// parsePrivateKeyFacts parses a DER private key the way crypto/tls does (PKCS#1, then PKCS#8, then
// SEC1, whatever the PEM type says) and returns only its public facts. The block type
// decides which error is reported when none parses.
func parsePrivateKeyFacts(typ string, der []byte) (*KeyFacts, error) {
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return privateKeyFacts(k, "PKCS#1")
	}
	k8, err8 := x509.ParsePKCS8PrivateKey(der)
	if err8 == nil {
		return privateKeyFacts(k8, "PKCS#8")
	}
	k1, errEC := x509.ParseECPrivateKey(der)
	if errEC == nil {
		return privateKeyFacts(k1, "SEC1")
	}
	switch typ {
	case "RSA PRIVATE KEY":
		_, err := x509.ParsePKCS1PrivateKey(der)
		return nil, fmt.Errorf("not a PKCS#1 private key: %w", err)
	case "EC PRIVATE KEY":
		return nil, fmt.Errorf("not a SEC1 private key: %w", errEC)
	case "PRIVATE KEY":
		return nil, fmt.Errorf("not a PKCS#8 private key: %w", err8)
	}
	return nil, errors.New("not a PKCS#1, PKCS#8 or SEC1 private key")
}

// privateKeyFacts keeps the algorithm, size and public half of a private key.
func privateKeyFacts(k any, encoding string) (*KeyFacts, error) {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		// Copies, so that nothing points into the private key's struct and keeps it alive.
		pub := k.PublicKey
		return &KeyFacts{Algorithm: "RSA", Bits: k.N.BitLen(), Encoding: encoding, Public: &pub}, nil
	case *ecdsa.PrivateKey:
		pub := k.PublicKey
		return &KeyFacts{Algorithm: "ECDSA", Bits: k.Curve.Params().BitSize, Encoding: encoding, Public: &pub}, nil
	case ed25519.PrivateKey:
		return &KeyFacts{Algorithm: "Ed25519", Bits: 256, Encoding: encoding, Public: k.Public()}, nil
	}
	return nil, fmt.Errorf("unsupported private key type %T (TLS takes RSA, ECDSA or Ed25519)", k)
}
