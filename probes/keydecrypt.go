package probes

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"strings"
)

// This file decrypts the encrypted private keys NGINX can load with *_ssl_password_file,
// so that the tool can tell a wrong passphrase from a missing one without running NGINX.
// It covers what OpenSSL writes by default: PKCS#8 with PBES2 (PBKDF2 with HMAC-SHA1/SHA2,
// AES-CBC or DES-EDE3-CBC; RFC 8018 sections 6.2 and A.2-A.4) and the legacy PEM
// "Proc-Type: 4,ENCRYPTED" form (OpenSSL's traditional format). Other schemes (scrypt,
// PKCS#12 PBE) are reported as not supported here, not as a wrong passphrase.

var (
	oidPBES2      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidHMACSHA1   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACSHA224 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 8}
	oidHMACSHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidHMACSHA384 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 10}
	oidHMACSHA512 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}
	oidAES128CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidDESEDE3CBC = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}
)

// maxPBKDF2Iterations bounds the work one passphrase may cost: OpenSSL 3 writes 2048,
// and a hostile file must not keep the tool busy for minutes.
const maxPBKDF2Iterations = 10_000_000

// errUnsupportedKeyEncryption marks a key whose encryption this file cannot undo.
var errUnsupportedKeyEncryption = errors.New("unsupported key encryption")

// errWrongPassphrase is a passphrase that does not decrypt the key.
var errWrongPassphrase = errors.New("bad decrypt")

type encryptedPrivateKeyInfo struct {
	Algo          pkix.AlgorithmIdentifier
	EncryptedData []byte
}

type pbes2Params struct {
	KeyDerivationFunc pkix.AlgorithmIdentifier
	EncryptionScheme  pkix.AlgorithmIdentifier
}

type pbkdf2Params struct {
	Salt           []byte
	IterationCount int
	KeyLength      int                      `asn1:"optional"`
	PRF            pkix.AlgorithmIdentifier `asn1:"optional"`
}

// keyDecrypter decrypts one encrypted key block with candidate passphrases.
type keyDecrypter struct {
	block *pem.Block
	// PBES2: the parsed parameters.
	prf      func() hash.Hash
	salt     []byte
	iter     int
	keyLen   int
	newBlock func([]byte) (cipher.Block, error)
	iv       []byte
	data     []byte
}

// newKeyDecrypter prepares block (an encrypted PEM private key) for decryption.
func newKeyDecrypter(block *pem.Block) (*keyDecrypter, error) {
	d := &keyDecrypter{block: block}
	if block.Type != "ENCRYPTED PRIVATE KEY" {
		//lint:ignore SA1019 OpenSSL's traditional encrypted PEM is what NGINX still reads.
		if !x509.IsEncryptedPEMBlock(block) { //nolint:staticcheck
			return nil, errors.New("not an encrypted private key")
		}
		return d, nil
	}
	var info encryptedPrivateKeyInfo
	if rest, err := asn1.Unmarshal(block.Bytes, &info); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("%w: malformed EncryptedPrivateKeyInfo", errUnsupportedKeyEncryption)
	}
	if !info.Algo.Algorithm.Equal(oidPBES2) {
		return nil, fmt.Errorf("%w: %v (only PBES2 is tried here)", errUnsupportedKeyEncryption, info.Algo.Algorithm)
	}
	var p pbes2Params
	if _, err := asn1.Unmarshal(info.Algo.Parameters.FullBytes, &p); err != nil {
		return nil, fmt.Errorf("%w: malformed PBES2 parameters", errUnsupportedKeyEncryption)
	}
	if !p.KeyDerivationFunc.Algorithm.Equal(oidPBKDF2) {
		return nil, fmt.Errorf("%w: key derivation %v (only PBKDF2 is tried here)", errUnsupportedKeyEncryption, p.KeyDerivationFunc.Algorithm)
	}
	var kdf pbkdf2Params
	if _, err := asn1.Unmarshal(p.KeyDerivationFunc.Parameters.FullBytes, &kdf); err != nil {
		return nil, fmt.Errorf("%w: malformed PBKDF2 parameters", errUnsupportedKeyEncryption)
	}
	if kdf.IterationCount < 1 || kdf.IterationCount > maxPBKDF2Iterations {
		return nil, fmt.Errorf("%w: PBKDF2 iteration count %d", errUnsupportedKeyEncryption, kdf.IterationCount)
	}
	switch prf := kdf.PRF.Algorithm; {
	case len(prf) == 0 || prf.Equal(oidHMACSHA1):
		d.prf = sha1.New
	case prf.Equal(oidHMACSHA224):
		d.prf = sha256.New224
	case prf.Equal(oidHMACSHA256):
		d.prf = sha256.New
	case prf.Equal(oidHMACSHA384):
		d.prf = sha512.New384
	case prf.Equal(oidHMACSHA512):
		d.prf = sha512.New
	default:
		return nil, fmt.Errorf("%w: PBKDF2 PRF %v", errUnsupportedKeyEncryption, prf)
	}
	switch enc := p.EncryptionScheme.Algorithm; {
	case enc.Equal(oidAES128CBC):
		d.keyLen, d.newBlock = 16, aes.NewCipher
	case enc.Equal(oidAES192CBC):
		d.keyLen, d.newBlock = 24, aes.NewCipher
	case enc.Equal(oidAES256CBC):
		d.keyLen, d.newBlock = 32, aes.NewCipher
	case enc.Equal(oidDESEDE3CBC):
		d.keyLen, d.newBlock = 24, des.NewTripleDESCipher
	default:
		return nil, fmt.Errorf("%w: cipher %v", errUnsupportedKeyEncryption, enc)
	}
	if kdf.KeyLength != 0 && kdf.KeyLength != d.keyLen {
		return nil, fmt.Errorf("%w: key length %d", errUnsupportedKeyEncryption, kdf.KeyLength)
	}
	if _, err := asn1.Unmarshal(p.EncryptionScheme.Parameters.FullBytes, &d.iv); err != nil {
		return nil, fmt.Errorf("%w: malformed cipher parameters", errUnsupportedKeyEncryption)
	}
	blockSize := aes.BlockSize
	if d.keyLen == 24 && p.EncryptionScheme.Algorithm.Equal(oidDESEDE3CBC) {
		blockSize = des.BlockSize
	}
	if len(d.iv) != blockSize || len(info.EncryptedData) == 0 || len(info.EncryptedData)%blockSize != 0 {
		return nil, fmt.Errorf("%w: malformed ciphertext", errUnsupportedKeyEncryption)
	}
	d.salt, d.iter, d.data = kdf.Salt, kdf.IterationCount, info.EncryptedData
	return d, nil
}

// decrypt returns the key's DER (PKCS#8 for an ENCRYPTED PRIVATE KEY, the block type's
// encoding for the traditional form) and the PEM type that DER has, or
// errWrongPassphrase.
func (d *keyDecrypter) decrypt(pass []byte) ([]byte, string, error) {
	if d.block.Type != "ENCRYPTED PRIVATE KEY" {
		//lint:ignore SA1019 OpenSSL's traditional encrypted PEM is what NGINX still reads.
		der, err := x509.DecryptPEMBlock(d.block, pass) //nolint:staticcheck
		if err != nil {
			return nil, "", errWrongPassphrase
		}
		// A wrong passphrase passes the padding check about once in 256 tries: the key
		// must also parse.
		if _, err := parsePrivateKeyFacts(d.block.Type, der); err != nil {
			return nil, "", errWrongPassphrase
		}
		return der, d.block.Type, nil
	}
	key, err := pbkdf2.Key(d.prf, string(pass), d.salt, d.iter, d.keyLen)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", errUnsupportedKeyEncryption, err)
	}
	b, err := d.newBlock(key)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", errUnsupportedKeyEncryption, err)
	}
	out := make([]byte, len(d.data))
	cipher.NewCBCDecrypter(b, d.iv).CryptBlocks(out, d.data)
	n := int(out[len(out)-1])
	if n == 0 || n > b.BlockSize() || !bytes.Equal(out[len(out)-n:], bytes.Repeat([]byte{byte(n)}, n)) {
		return nil, "", errWrongPassphrase
	}
	der := out[:len(out)-n]
	if _, err := x509.ParsePKCS8PrivateKey(der); err != nil {
		return nil, "", errWrongPassphrase
	}
	return der, "PRIVATE KEY", nil
}

// maxPassphrases bounds how many lines of a password file are tried.
const maxPassphrases = 1000

// UnlockKey tries each passphrase on the first encrypted private key block of keyPEM, in
// order, as NGINX does (ngx_ssl_certificate's password callback walks the list). It returns
// the facts of the outcome (Line is the 1-based index of the passphrase that worked) and,
// on success, the key re-encoded as unencrypted PEM for the
// probe to present; that PEM is never to be printed or stored.
func UnlockKey(keyPEM []byte, passphrases [][]byte) (*KeyUnlock, []byte) {
	var block *pem.Block
	for _, b := range scanPEMBlocks(keyPEM) {
		if b.block != nil && isPrivateKeyBlock(b.typ) {
			block = b.block
			break
		}
	}
	if block == nil {
		return &KeyUnlock{Error: "no private key block"}, nil
	}
	d, err := newKeyDecrypter(block)
	if err != nil {
		return &KeyUnlock{Error: err.Error(), Unsupported: errors.Is(err, errUnsupportedKeyEncryption)}, nil
	}
	if len(passphrases) == 0 {
		return &KeyUnlock{Error: "the key is encrypted and no password file is configured"}, nil
	}
	for i, p := range passphrases {
		if i == maxPassphrases {
			return &KeyUnlock{Error: fmt.Sprintf("none of the first %d passphrases decrypts the key", maxPassphrases)}, nil
		}
		der, typ, err := d.decrypt(p)
		if errors.Is(err, errWrongPassphrase) {
			continue
		}
		if err != nil {
			return &KeyUnlock{Error: err.Error(), Unsupported: true}, nil
		}
		facts, err := parsePrivateKeyFacts(typ, der)
		if err != nil {
			return &KeyUnlock{Error: err.Error()}, nil
		}
		return &KeyUnlock{Line: i + 1, Key: facts}, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	}
	return &KeyUnlock{Error: fmt.Sprintf("none of the %d passphrases in the password file decrypts the key (OpenSSL: bad decrypt)", len(passphrases))}, nil
}

// readPasswordFile reads a *_ssl_password_file as ngx_ssl_read_password_file does
// (src/event/ngx_event_openssl.c): one passphrase per LF-terminated line, a trailing CR
// removed, empty lines skipped, a line of 4096 bytes or more refused ("too long line").
// lines holds the 1-based file line of each passphrase.
func readPasswordFile(path string) (pf *PasswordFileFacts, passphrases [][]byte, lines []int) {
	pf = &PasswordFileFacts{Path: path}
	data, err := readTLSFileCapped(path, MaxTLSFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return pf, nil, nil
	}
	pf.Exists = true
	if err != nil {
		pf.ReadError = err.Error()
		return pf, nil, nil
	}
	for i, line := range strings.Split(string(data), "\n") {
		if len(line) >= 4096 {
			pf.ReadError = fmt.Sprintf("too long line in %q (line %d)", path, i+1)
			return pf, nil, nil
		}
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			continue
		}
		passphrases = append(passphrases, []byte(line))
		lines = append(lines, i+1)
	}
	pf.Passphrases = len(passphrases)
	return pf, passphrases, lines
}
