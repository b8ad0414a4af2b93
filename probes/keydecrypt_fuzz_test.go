package probes

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"strings"
	"testing"
)

// pbes2PEM encrypts der (a PKCS#8 key, or anything) as OpenSSL 3's default PKCS#8
// scheme: PBES2, PBKDF2 with HMAC-SHA256, AES-256-CBC.
func pbes2PEM(t testing.TB, der []byte, pass string, iter int) []byte {
	t.Helper()
	salt, iv := []byte("saltsalt"), []byte("0123456789abcdef")
	key, err := pbkdf2.Key(sha256.New, pass, salt, iter, 32)
	if err != nil {
		t.Fatal(err)
	}
	pad := aes.BlockSize - len(der)%aes.BlockSize
	plain := append(append([]byte{}, der...), []byte(strings.Repeat(string(rune(pad)), pad))...)
	b, _ := aes.NewCipher(key)
	out := make([]byte, len(plain))
	cipher.NewCBCEncrypter(b, iv).CryptBlocks(out, plain)
	kdfParams, _ := asn1.Marshal(pbkdf2Params{Salt: salt, IterationCount: iter, PRF: pkix.AlgorithmIdentifier{Algorithm: oidHMACSHA256, Parameters: asn1.NullRawValue}})
	ivDER, _ := asn1.Marshal(iv)
	params, _ := asn1.Marshal(pbes2Params{
		KeyDerivationFunc: pkix.AlgorithmIdentifier{Algorithm: oidPBKDF2, Parameters: asn1.RawValue{FullBytes: kdfParams}},
		EncryptionScheme:  pkix.AlgorithmIdentifier{Algorithm: oidAES256CBC, Parameters: asn1.RawValue{FullBytes: ivDER}},
	})
	info, err := asn1.Marshal(encryptedPrivateKeyInfo{Algo: pkix.AlgorithmIdentifier{Algorithm: oidPBES2, Parameters: asn1.RawValue{FullBytes: params}}, EncryptedData: out})
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: info})
}

func TestUnlockKeyIterationCap(t *testing.T) {
	u, key := UnlockKey(pbes2PEM(t, []byte("x"), "p", maxPBKDF2Iterations+1), [][]byte{[]byte("p")})
	if key != nil || !u.Unsupported || !strings.Contains(u.Error, "iteration count") {
		t.Fatalf("%+v", u)
	}
	// Right passphrase, but what it decrypts is no key: said as a failed decrypt.
	if u, key := UnlockKey(pbes2PEM(t, []byte("not a key"), "p", 10), [][]byte{[]byte("p")}); key != nil || u.Line != 0 {
		t.Fatalf("%+v", u)
	}
}

// FuzzUnlockKey: hostile key files and password lists give facts, never a panic, and
// never a decrypted key that does not parse.
func FuzzUnlockKey(f *testing.F) {
	f.Add(pbes2PEM(f, []byte("garbage"), "p", 3), "p")
	f.Add([]byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n"), "x")
	f.Add([]byte("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00000000000000000000000000000000\n\nAAAAAAAAAAAAAAAAAAAAAA==\n-----END RSA PRIVATE KEY-----\n"), "x")
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n"), "")
	f.Add([]byte{}, "a\nb")
	f.Fuzz(func(t *testing.T, data []byte, passes string) {
		if len(data) > 1<<16 {
			return
		}
		var ps [][]byte
		for _, p := range strings.Split(passes, "\n") {
			ps = append(ps, []byte(p))
		}
		u, key := UnlockKey(data, ps)
		if u == nil {
			t.Fatal("nil facts")
		}
		if key != nil {
			if u.Line < 1 || u.Line > len(ps) || u.Key == nil {
				t.Fatalf("unlocked without facts: %+v", u)
			}
			if ff := ParsePEMOrDER(RoleKey, key); ff.Key == nil {
				t.Fatalf("decrypted key does not parse: %s", ff.ParseError)
			}
		} else if u.Error == "" {
			t.Fatalf("locked without a reason: %+v", u)
		}
	})
}
