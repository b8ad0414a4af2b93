package probes

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/internal/nginxtest"
	"github.com/mtls-doctor/mtls-doctor/internal/pki"
)

// tpIssue signs spec with parent (nil: self-signed), its validity placed around now.
func tpIssue(t testing.TB, parent *pki.Cert, spec pki.Spec) *pki.Cert {
	t.Helper()
	c, err := pki.New(time.Now()).Issue(parent, spec)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tpKeyPEM is c's private key as PEM in format.
func tpKeyPEM(t testing.TB, c *pki.Cert, format pki.KeyFormat) []byte {
	t.Helper()
	b, err := c.KeyPEM(format)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func tpPEM(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func tpPKCS8(t testing.TB, k crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func tpWrite(t testing.TB, path string, data []byte, mode os.FileMode) string {
	t.Helper()
	if err := pki.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func blockTypesOf(ff FileFacts) string {
	var ts []string
	for _, b := range ff.Blocks {
		ts = append(ts, fmt.Sprintf("%s@%d", b.Type, b.Line))
		if b.Encrypted {
			ts[len(ts)-1] += "(enc)"
		}
	}
	return strings.Join(ts, ",")
}

func TestParsePEMOrDER(t *testing.T) {
	root := tpIssue(t, nil, pki.Spec{CommonName: "root", IsCA: true})
	inter := tpIssue(t, root, pki.Spec{CommonName: "inter", IsCA: true})
	leaf := tpIssue(t, inter, pki.Spec{CommonName: "agent", EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(p384)
	if err != nil {
		t.Fatal(err)
	}
	procType := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY",
		Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00112233445566778899AABBCCDDEEFF"},
		Bytes:   []byte("ciphertext that is not a key")})
	chain := pki.CertsPEM(leaf, inter)
	leafLines := bytes.Count(pki.CertsPEM(leaf), []byte("\n"))

	cases := []struct {
		name      string
		role      FileRole
		data      []byte
		encoding  string
		blocks    string // Type@Line, "(enc)" when encrypted
		certs     int
		keyAlg    string // "" when no key is expected
		keyBits   int
		keyEnc    string
		keyPublic crypto.PublicKey
		parseErr  string // substring; "" means none
	}{
		{name: "empty", role: RoleCert, data: nil},
		{name: "whitespace only", role: RoleCert, data: []byte("\n \r\n")},
		{name: "garbage", role: RoleCert, data: []byte("hello, I am not a certificate\n")},
		{name: "one certificate", role: RoleCert, data: pki.CertsPEM(leaf),
			encoding: "pem", blocks: "CERTIFICATE@1", certs: 1},
		{name: "chain, with text before it", role: RoleCert,
			data:     append([]byte("Certificate:\n    Data: (openssl x509 -text)\n"), chain...),
			encoding: "pem", blocks: fmt.Sprintf("CERTIFICATE@3,CERTIFICATE@%d", 3+leafLines), certs: 2},
		{name: "CRLF line endings", role: RoleCA,
			data:     bytes.ReplaceAll(chain, []byte("\n"), []byte("\r\n")),
			encoding: "pem", blocks: fmt.Sprintf("CERTIFICATE@1,CERTIFICATE@%d", 1+leafLines), certs: 2},
		{name: "DER certificate", role: RoleCA, data: root.Cert.Raw, encoding: "der", certs: 1},
		{name: "two DER certificates", role: RoleCA, data: append(append([]byte{}, root.Cert.Raw...), inter.Cert.Raw...),
			encoding: "der", certs: 2},
		{name: "RSA PKCS#1", role: RoleKey, data: tpPEM("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)),
			encoding: "pem", blocks: "RSA PRIVATE KEY@1", keyAlg: "RSA", keyBits: 2048, keyEnc: "PKCS#1", keyPublic: &rsaKey.PublicKey},
		{name: "RSA PKCS#8", role: RoleKey, data: tpPEM("PRIVATE KEY", tpPKCS8(t, rsaKey)),
			encoding: "pem", blocks: "PRIVATE KEY@1", keyAlg: "RSA", keyBits: 2048, keyEnc: "PKCS#8", keyPublic: &rsaKey.PublicKey},
		{name: "ECDSA SEC1 P-384", role: RoleKey, data: tpPEM("EC PRIVATE KEY", sec1),
			encoding: "pem", blocks: "EC PRIVATE KEY@1", keyAlg: "ECDSA", keyBits: 384, keyEnc: "SEC1", keyPublic: &p384.PublicKey},
		{name: "ECDSA PKCS#8", role: RoleKey, data: tpPEM("PRIVATE KEY", tpPKCS8(t, ecKey)),
			encoding: "pem", blocks: "PRIVATE KEY@1", keyAlg: "ECDSA", keyBits: 256, keyEnc: "PKCS#8", keyPublic: &ecKey.PublicKey},
		{name: "Ed25519 PKCS#8", role: RoleKey, data: tpPEM("PRIVATE KEY", tpPKCS8(t, edKey)),
			encoding: "pem", blocks: "PRIVATE KEY@1", keyAlg: "Ed25519", keyBits: 256, keyEnc: "PKCS#8", keyPublic: edKey.Public()},
		{name: "PKCS#8 under an RSA label", role: RoleKey, data: tpPEM("RSA PRIVATE KEY", tpPKCS8(t, ecKey)),
			encoding: "pem", blocks: "RSA PRIVATE KEY@1", keyAlg: "ECDSA", keyBits: 256, keyEnc: "PKCS#8", keyPublic: &ecKey.PublicKey},
		{name: "DER key", role: RoleKey, data: tpPKCS8(t, ecKey),
			encoding: "der", keyAlg: "ECDSA", keyBits: 256, keyEnc: "PKCS#8", keyPublic: &ecKey.PublicKey},
		{name: "encrypted PKCS#8", role: RoleKey, data: tpPEM("ENCRYPTED PRIVATE KEY", []byte{0x30, 0x03, 0x02, 0x01, 0x00}),
			encoding: "pem", blocks: "ENCRYPTED PRIVATE KEY@1(enc)", parseErr: "encrypted"},
		{name: "Proc-Type encrypted", role: RoleKey, data: procType,
			encoding: "pem", blocks: "RSA PRIVATE KEY@1(enc)", parseErr: "encrypted"},
		{name: "swapped: certificate in the key file", role: RoleKey, data: pki.CertsPEM(leaf),
			encoding: "pem", blocks: "CERTIFICATE@1", certs: 1},
		{name: "swapped: key in the cert file", role: RoleCert, data: tpPEM("PRIVATE KEY", tpPKCS8(t, ecKey)),
			encoding: "pem", blocks: "PRIVATE KEY@1", keyAlg: "ECDSA", keyBits: 256, keyEnc: "PKCS#8", keyPublic: &ecKey.PublicKey},
		{name: "combined cert and key", role: RoleCert,
			data:     append(pki.CertsPEM(leaf), tpKeyPEM(t, leaf, pki.PKCS8)...),
			encoding: "pem", blocks: fmt.Sprintf("CERTIFICATE@1,PRIVATE KEY@%d", 1+leafLines), certs: 1,
			keyAlg: "ECDSA", keyBits: 256, keyEnc: "PKCS#8", keyPublic: leaf.Key.Public()},
		{name: "first key block wins, as in crypto/tls", role: RoleKey,
			data:     append(tpPEM("PRIVATE KEY", []byte("junk")), tpPEM("PRIVATE KEY", tpPKCS8(t, ecKey))...),
			encoding: "pem", blocks: "PRIVATE KEY@1,PRIVATE KEY@4", parseErr: "line 1: PRIVATE KEY: not a PKCS#8 private key: "},
		{name: "certificate that does not parse", role: RoleCert,
			data:     append(tpPEM("CERTIFICATE", []byte("not DER")), pki.CertsPEM(root)...),
			encoding: "pem", blocks: "CERTIFICATE@1,CERTIFICATE@4", certs: 1, parseErr: "line 1: CERTIFICATE: x509:"},
		{name: "block without END, then a good one", role: RoleCA,
			data:     append([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n"), pki.CertsPEM(root)...),
			encoding: "pem", blocks: "CERTIFICATE@1,CERTIFICATE@3", certs: 1, parseErr: "line 1: CERTIFICATE: malformed PEM block"},
		{name: "BEGIN in mid-line is not a block (Go ignores it)", role: RoleCA,
			data: []byte("x -----BEGIN CERTIFICATE-----\n"), encoding: ""},
		{name: "public key and CSR", role: RoleCert,
			data:     append(tpPEM("PUBLIC KEY", []byte{1}), tpPEM("CERTIFICATE REQUEST", []byte{2})...),
			encoding: "pem", blocks: "PUBLIC KEY@1,CERTIFICATE REQUEST@4"},
		{name: "DER-looking garbage", role: RoleCert, data: []byte{0x30, 0x82, 0x01},
			encoding: "der", parseErr: "DER: not a certificate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ff := ParsePEMOrDER(c.role, c.data)
			if ff.Role != c.role {
				t.Errorf("Role = %q", ff.Role)
			}
			if ff.Encoding != c.encoding {
				t.Errorf("Encoding = %q, want %q", ff.Encoding, c.encoding)
			}
			if got := blockTypesOf(ff); got != c.blocks {
				t.Errorf("Blocks = %s, want %s", got, c.blocks)
			}
			if len(ff.Certs) != c.certs {
				t.Errorf("%d certs, want %d", len(ff.Certs), c.certs)
			}
			switch {
			case c.keyAlg == "" && ff.Key != nil:
				t.Errorf("unexpected key %+v", ff.Key)
			case c.keyAlg != "" && ff.Key == nil:
				t.Errorf("no key; parse error %q", ff.ParseError)
			case c.keyAlg != "":
				k := ff.Key
				if k.Algorithm != c.keyAlg || k.Bits != c.keyBits || k.Encoding != c.keyEnc {
					t.Errorf("key = %s %d %s, want %s %d %s", k.Algorithm, k.Bits, k.Encoding, c.keyAlg, c.keyBits, c.keyEnc)
				}
				if eq, ok := k.Public.(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(c.keyPublic) {
					t.Errorf("public half %T does not equal the key's", k.Public)
				}
			}
			if c.parseErr == "" && ff.ParseError != "" {
				t.Errorf("ParseError = %q", ff.ParseError)
			}
			if c.parseErr != "" && !strings.Contains(ff.ParseError, c.parseErr) {
				t.Errorf("ParseError = %q, want it to contain %q", ff.ParseError, c.parseErr)
			}
		})
	}
}

// TestParsePEMOrDERKeepsNoPrivateMaterial checks that neither the JSON nor a %+v dump of
// the facts of a key file carries the private key, in any encoding a leak would take.
func TestParsePEMOrDERKeepsNoPrivateMaterial(t *testing.T) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der := tpPKCS8(t, k)
	ff := ParsePEMOrDER(RoleKey, tpPEM("PRIVATE KEY", der))
	if ff.Key == nil {
		t.Fatal("key did not parse")
	}
	if _, ok := ff.Key.Public.(*rsa.PublicKey); !ok {
		t.Fatalf("Public is %T, want *rsa.PublicKey", ff.Key.Public)
	}
	js, err := json.Marshal(ff)
	if err != nil {
		t.Fatal(err)
	}
	dump := string(js) + fmt.Sprintf("%+v %+v", ff, *ff.Key)
	d := k.D.Bytes()
	for name, secret := range map[string]string{
		"D decimal":    k.D.String(),
		"D hex":        hex.EncodeToString(d),
		"D base64":     base64.StdEncoding.EncodeToString(d[:30]),
		"P decimal":    k.Primes[0].String(),
		"PKCS#8 b64":   base64.StdEncoding.EncodeToString(der)[:60],
		"PKCS#8 bytes": fmt.Sprint(der[:40]),
	} {
		if strings.Contains(dump, secret) {
			t.Errorf("facts carry the private key (%s)", name)
		}
	}
}

// TestParsePEMOrDEROpenSSLKeys parses keys as openssl writes them: the legacy
// Proc-Type-encrypted PEM, PKCS#8 encrypted, and ecparam's EC PARAMETERS block before the
// key.
func TestParsePEMOrDEROpenSSLKeys(t *testing.T) {
	bin := nginxtest.RequireOpenSSL(t)
	dir := t.TempDir()
	run := func(t *testing.T, args ...string) []byte {
		t.Helper()
		out := filepath.Join(dir, "out.pem")
		// -out before the arguments: genrsa takes the key size last.
		cmd := exec.Command(bin, append([]string{args[0], "-out", out}, args[1:]...)...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, b)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name, blocks, alg, enc string
		args                   []string
	}{
		{"genpkey -aes256", "ENCRYPTED PRIVATE KEY@1(enc)", "", "",
			[]string{"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-aes256", "-pass", "pass:secret"}},
		{"genrsa -traditional -aes256", "RSA PRIVATE KEY@1(enc)", "", "",
			[]string{"genrsa", "-traditional", "-aes256", "-passout", "pass:secret", "2048"}},
		{"ecparam -genkey", "EC PARAMETERS@1,EC PRIVATE KEY@4", "ECDSA", "SEC1",
			[]string{"ecparam", "-genkey", "-name", "prime256v1"}},
		{"genpkey ed25519", "PRIVATE KEY@1", "Ed25519", "PKCS#8",
			[]string{"genpkey", "-algorithm", "ed25519"}},
		{"genrsa -traditional", "RSA PRIVATE KEY@1", "RSA", "PKCS#1",
			[]string{"genrsa", "-traditional", "2048"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ff := ParsePEMOrDER(RoleKey, run(t, c.args...))
			if got := blockTypesOf(ff); got != c.blocks {
				t.Errorf("Blocks = %s, want %s", got, c.blocks)
			}
			if c.alg == "" {
				if ff.Key != nil || !strings.Contains(ff.ParseError, "encrypted") {
					t.Errorf("Key = %+v, ParseError %q; want no key, an encrypted note", ff.Key, ff.ParseError)
				}
				return
			}
			if ff.Key == nil || ff.Key.Algorithm != c.alg || ff.Key.Encoding != c.enc || ff.ParseError != "" {
				t.Errorf("Key = %+v, ParseError %q; want %s %s", ff.Key, ff.ParseError, c.alg, c.enc)
			}
		})
	}
}

// TestParsePEMOrDERPKCS12 recognises bundles made by `openssl pkcs12 -export` (with a key,
// with certificates only, without a password) as PKCS#12 rather than as a broken DER file,
// and a truncated bundle or a DER certificate as not PKCS#12.
func TestParsePEMOrDERPKCS12(t *testing.T) {
	bin := nginxtest.RequireOpenSSL(t)
	dir := t.TempDir()
	root := tpIssue(t, nil, pki.Spec{CommonName: "p12 root", IsCA: true})
	leaf := tpIssue(t, root, pki.Spec{CommonName: "p12 agent"})
	cert := tpWrite(t, filepath.Join(dir, "agent.crt"), pki.CertsPEM(leaf), 0o644)
	key := tpWrite(t, filepath.Join(dir, "agent.key"), tpKeyPEM(t, leaf, pki.PKCS8), 0o600)
	ca := tpWrite(t, filepath.Join(dir, "ca.crt"), pki.CertsPEM(root), 0o644)
	export := func(t *testing.T, args ...string) []byte {
		t.Helper()
		out := filepath.Join(dir, "out.p12")
		cmd := exec.Command(bin, append([]string{"pkcs12", "-export", "-out", out}, args...)...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl pkcs12 -export %s: %v\n%s", strings.Join(args, " "), err, b)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for name, args := range map[string][]string{
		"cert, key and CA":  {"-in", cert, "-inkey", key, "-certfile", ca, "-passout", "pass:secret"},
		"no password":       {"-in", cert, "-inkey", key, "-passout", "pass:"},
		"certificates only": {"-in", ca, "-nokeys", "-passout", "pass:secret"},
	} {
		t.Run(name, func(t *testing.T) {
			data := export(t, args...)
			for _, role := range []FileRole{RoleCert, RoleKey, RoleCA} {
				ff := ParsePEMOrDER(role, data)
				if ff.Encoding != "pkcs12" || ff.ParseError != "" || len(ff.Certs) > 0 || ff.Key != nil {
					t.Errorf("%s: Encoding %q, ParseError %q, %d certs, key %v; want a PKCS#12 bundle", role, ff.Encoding, ff.ParseError, len(ff.Certs), ff.Key != nil)
				}
			}
			if ff := ParsePEMOrDER(RoleCert, data[:len(data)/2]); ff.Encoding == "pkcs12" {
				t.Errorf("half a bundle is taken for PKCS#12")
			}
		})
	}
	if ff := ParsePEMOrDER(RoleCert, leaf.Cert.Raw); ff.Encoding != "der" || len(ff.Certs) != 1 {
		t.Errorf("a DER certificate: Encoding %q, %d certs", ff.Encoding, len(ff.Certs))
	}
}

func TestLoadTLSFile(t *testing.T) {
	dir := t.TempDir()
	leaf := tpIssue(t, nil, pki.Spec{CommonName: "agent"})
	certPath := tpWrite(t, filepath.Join(dir, "agent.crt"), pki.CertsPEM(leaf), 0o644)
	keyPath := tpWrite(t, filepath.Join(dir, "agent.key"), tpKeyPEM(t, leaf, pki.PKCS8), 0o640)

	t.Run("cert", func(t *testing.T) {
		ff := LoadTLSFile(RoleCert, certPath)
		if !ff.Exists || ff.ReadError != "" || len(ff.Certs) != 1 || ff.Path != certPath {
			t.Fatalf("facts = %+v", ff)
		}
		if ff.Mode.Perm() != 0o644 || ff.UID != os.Getuid() || ff.GID != os.Getgid() {
			t.Errorf("mode %v uid %d gid %d", ff.Mode, ff.UID, ff.GID)
		}
	})
	t.Run("key, by a relative path", func(t *testing.T) {
		t.Chdir(dir)
		ff := LoadTLSFile(RoleKey, "agent.key")
		if ff.Path != keyPath || ff.Key == nil || ff.Mode.Perm() != 0o640 {
			t.Fatalf("facts = %+v", ff)
		}
	})
	t.Run("symlink is followed", func(t *testing.T) {
		link := filepath.Join(dir, "current.crt")
		if err := os.Symlink(certPath, link); err != nil {
			t.Fatal(err)
		}
		ff := LoadTLSFile(RoleCert, link)
		if !ff.Exists || len(ff.Certs) != 1 || !ff.Mode.IsRegular() {
			t.Fatalf("facts = %+v", ff)
		}
	})
	t.Run("missing", func(t *testing.T) {
		ff := LoadTLSFile(RoleCA, filepath.Join(dir, "nope.pem"))
		if ff.Exists || ff.ReadError != "" || ff.Encoding != "" {
			t.Fatalf("facts = %+v", ff)
		}
	})
	t.Run("directory", func(t *testing.T) {
		ff := LoadTLSFile(RoleCA, dir)
		if !ff.Exists || !strings.Contains(ff.ReadError, "is a directory") {
			t.Fatalf("facts = %+v", ff)
		}
	})
	t.Run("search permission denied", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root reads through any mode")
		}
		locked := filepath.Join(dir, "locked")
		if err := os.Mkdir(locked, 0o700); err != nil {
			t.Fatal(err)
		}
		tpWrite(t, filepath.Join(locked, "k.pem"), []byte("x"), 0o600)
		if err := os.Chmod(locked, 0); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(locked, 0o700) })
		ff := LoadTLSFile(RoleKey, filepath.Join(locked, "k.pem"))
		if !ff.Exists || !strings.Contains(ff.ReadError, "permission denied") {
			t.Fatalf("facts = %+v", ff)
		}
	})
	t.Run("too large", func(t *testing.T) {
		big := tpWrite(t, filepath.Join(dir, "big.pem"), bytes.Repeat([]byte("A"), MaxTLSFileSize+1), 0o644)
		ff := LoadTLSFile(RoleCA, big)
		if !ff.Exists || !strings.Contains(ff.ReadError, "larger than") || len(ff.Blocks) != 0 {
			t.Fatalf("facts = %+v", ff)
		}
		exact := tpWrite(t, filepath.Join(dir, "exact.pem"), bytes.Repeat([]byte("A"), MaxTLSFileSize), 0o644)
		if ff := LoadTLSFile(RoleCA, exact); ff.ReadError != "" {
			t.Fatalf("a file of exactly the limit: %s", ff.ReadError)
		}
	})
}

func TestLoadAgentFiles(t *testing.T) {
	dir := t.TempDir()
	root := tpIssue(t, nil, pki.Spec{CommonName: "root", IsCA: true})
	leaf := tpIssue(t, root, pki.Spec{CommonName: "agent"})
	set := func(v string) Setting { return Setting{Value: v, Source: Source{Kind: SourceFile, Name: "test"}} }
	cfg := AgentConfig{
		Cert: set(tpWrite(t, filepath.Join(dir, "a.crt"), pki.CertsPEM(leaf), 0o644)),
		Key:  set(tpWrite(t, filepath.Join(dir, "a.key"), tpKeyPEM(t, leaf, pki.SEC1), 0o600)),
		CA:   set(tpWrite(t, filepath.Join(dir, "ca.pem"), pki.CertsPEM(root), 0o644)),
	}
	af := LoadAgentFiles(cfg)
	if af.Cert == nil || af.Cert.Role != RoleCert || len(af.Cert.Certs) != 1 {
		t.Errorf("Cert = %+v", af.Cert)
	}
	if af.Key == nil || af.Key.Role != RoleKey || af.Key.Key == nil || af.Key.Key.Encoding != "SEC1" {
		t.Errorf("Key = %+v", af.Key)
	}
	if af.CA == nil || af.CA.Role != RoleCA || len(af.CA.Certs) != 1 || !af.CA.Certs[0].IsCA {
		t.Errorf("CA = %+v", af.CA)
	}
	if af.SystemRoots != nil || af.SystemRootsError != "" {
		t.Errorf("system roots loaded although a CA file is set")
	}

	none := LoadAgentFiles(AgentConfig{})
	if none.Cert != nil || none.Key != nil || none.CA != nil {
		t.Errorf("unset paths gave facts: %+v", none)
	}
	if (none.SystemRoots == nil) == (none.SystemRootsError == "") {
		t.Errorf("without a CA file: roots %v, error %q; want exactly one", none.SystemRoots != nil, none.SystemRootsError)
	}
}

func TestLoadClientCertificate(t *testing.T) {
	dir := t.TempDir()
	root := tpIssue(t, nil, pki.Spec{CommonName: "root", IsCA: true})
	leaf := tpIssue(t, root, pki.Spec{CommonName: "agent"})
	other := tpIssue(t, root, pki.Spec{CommonName: "other"})
	certPath := tpWrite(t, filepath.Join(dir, "a.crt"), pki.CertsPEM(leaf), 0o644)
	keyPath := tpWrite(t, filepath.Join(dir, "a.key"), tpKeyPEM(t, leaf, pki.PKCS8), 0o600)
	otherKey := tpWrite(t, filepath.Join(dir, "o.key"), tpKeyPEM(t, other, pki.PKCS8), 0o600)

	c, err := LoadClientCertificate(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Certificate) != 1 || c.Leaf == nil || c.Leaf.Subject.CommonName != "agent" {
		t.Errorf("certificate = %d certs, leaf %v", len(c.Certificate), c.Leaf)
	}
	// Go's own error texts, as the agent logs them.
	for _, tc := range []struct{ cert, key, want string }{
		{certPath, otherKey, "tls: private key does not match public key"},
		{keyPath, certPath, "tls: failed to find certificate PEM data in certificate input, but did find a private key; PEM inputs may have been switched"},
		{filepath.Join(dir, "missing.crt"), keyPath, "open " + filepath.Join(dir, "missing.crt") + ": no such file or directory"},
	} {
		c, err := LoadClientCertificate(tc.cert, tc.key)
		if c != nil || err == nil || err.Error() != tc.want {
			t.Errorf("LoadClientCertificate(%s, %s) = %v, %v; want %q", tc.cert, tc.key, c, err, tc.want)
		}
	}

	// A key path naming something endless (/dev/zero) or huge must not be read whole:
	// tls.LoadX509KeyPair would read /dev/zero until memory runs out. A file one byte over
	// the cap stands in for it here.
	big := filepath.Join(dir, "big.key")
	if err := os.WriteFile(big, make([]byte, MaxTLSFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ cert, key string }{{certPath, big}, {big, keyPath}} {
		c, err := LoadClientCertificate(tc.cert, tc.key)
		if c != nil || err == nil || !strings.Contains(err.Error(), "too large") {
			t.Errorf("LoadClientCertificate(%s, %s) = %v, %v; want a too-large error", tc.cert, tc.key, c, err)
		}
	}
}
