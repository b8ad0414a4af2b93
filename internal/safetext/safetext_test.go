package safetext

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
	"unicode/utf8"
)

// keyPEM is a fresh PKCS#8 private key, made at test time.
func keyPEM(t testing.TB) (string, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), base64.StdEncoding.EncodeToString(der)
}

// bodyLines are the base64 lines of a PEM block, each of which is key material.
func bodyLines(p string) []string {
	var out []string
	for _, l := range strings.Split(p, "\n") {
		if l != "" && !strings.HasPrefix(l, "-----") {
			out = append(out, l)
		}
	}
	return out
}

func assertNoKey(t *testing.T, out, key string) {
	t.Helper()
	for _, l := range bodyLines(key) {
		if len(l) >= 8 && strings.Contains(out, l[:8]) {
			t.Fatalf("key material %q… left in:\n%s", l[:8], out)
		}
	}
}

func TestScrubPEMKeyShapes(t *testing.T) {
	key, _ := keyPEM(t)
	noEnd := strings.SplitN(key, "-----END", 2)[0]
	escaped := strings.ReplaceAll(strings.TrimSpace(key), "\n", `\n`)
	folded := strings.ReplaceAll(strings.TrimSpace(key), "\n", " ")
	cases := map[string]struct{ in, keep string }{
		"whole block":        {"key: " + key + "after", "after"},
		"no END line":        {"evidence " + noEnd + "\n- next finding (file:1)\n", "- next finding (file:1)"},
		"no END, last line":  {noEnd, ""},
		"nginx escaped \\n":  {`cannot load certificate key "data:` + escaped + `": error`, `": error`},
		"escaped, no END":    {`key "data:` + strings.SplitN(escaped, `\n-----END`, 2)[0] + `" failed`, `" failed`},
		"folded on one line": {"tls.key " + folded + " does not exist", "does not exist"},
		"two keys":           {key + "between\n" + noEnd, "between"},
		"encrypted headers": {"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,0011\n\n" +
			strings.Join(bodyLines(key), "\n") + "\n-----END RSA PRIVATE KEY-----\nrest", "rest"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			out := Scrub(c.in)
			assertNoKey(t, out, key)
			if !strings.Contains(out, Redacted) {
				t.Errorf("no %q in %q", Redacted, out)
			}
			if !strings.Contains(out, c.keep) {
				t.Errorf("the text after the key was lost: want %q in %q", c.keep, out)
			}
		})
	}
}

func TestScrubKeepsPublicText(t *testing.T) {
	for _, s := range []string{
		"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
		"client SSL certificate verify error: (20:unable to get local issuer certificate)",
		"SHA-256 6f1ed002ab5595859014ebf0951522d9b2c8e8d3a3e53b1b7b4c6c0e0b8a4e9f",
		"/etc/nginx-agent/certs/AgentClientCertificate2024ForProduction/agent.crt",
	} {
		if got := Scrub(s); got != s {
			t.Errorf("Scrub(%q) = %q, want unchanged", s, got)
		}
	}
}

func TestScrubTokens(t *testing.T) {
	jwtTok := "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.c2lnbmF0dXJlc2lnbmF0dXJl"
	for _, s := range []string{
		"token: s3cr3t-value", `password="hunter2"`, "Authorization: Bearer abc.def.ghi",
		"command.auth.token " + jwtTok,
	} {
		got := Scrub(s)
		for _, secret := range []string{"s3cr3t-value", "hunter2", "abc.def.ghi", jwtTok[:20]} {
			if strings.Contains(got, secret) {
				t.Errorf("Scrub(%q) = %q keeps %q", s, got, secret)
			}
		}
	}
}

func TestSecretKind(t *testing.T) {
	key, b64 := keyPEM(t)
	cases := map[string]string{
		key:                                "PEM data",
		"-----BEGIN CERTIFICATE-----\nMII": "PEM data",
		b64:                                "base64 data",
		"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.c2lnbmF0dXJl": "a token",
		"/etc/nginx-agent/agent.crt":                             "",
		"agent.key":                                              "",
		"/var/lib/nginx/agent/Certs2024/AgentKeyFile001":         "",
		"nim.example.com":                                        "",
		"":                                                       "",
		"6f1ed002ab5595859014ebf0951522d9b2c8e8d3a3e53b1b7b4c6c0e0b8a4e9f": "",
	}
	for in, want := range cases {
		if got := SecretKind(in); got != want {
			t.Errorf("SecretKind(%.30q) = %q, want %q", in, got, want)
		}
	}
}

func TestEscape(t *testing.T) {
	cases := map[string]string{
		"CN=\x1b]0;pwned\x07\x1b[2J":  `CN=\x1b]0;pwned\x07\x1b[2J`,
		"a\rb":                        `a\x0db`,
		"csi\u009b31m":                `csi\u009b31m`,
		"bidi\u202eevil":              `bidi\u202eevil`,
		"bad\xffbyte":                 `bad\xffbyte`,
		"keeps\nlines\tand ✔ unicode": "keeps\nlines\tand ✔ unicode",
	}
	for in, want := range cases {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
	if got := EscapeLine("a\nb\tc\x1b"); got != `a\nb\tc\x1b` {
		t.Errorf("EscapeLine = %q", got)
	}
}

// safe reports whether s can go to a terminal: valid UTF-8 without controls other than
// newline and tab, without C1 controls and bidi overrides.
func safe(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f || isC1(r) || isBidi(r) {
			return false
		}
	}
	return true
}

func FuzzClean(f *testing.F) {
	key, _ := keyPEM(f)
	f.Add("CN=\x1b]0;x\x07")
	f.Add(key)
	f.Add(strings.SplitN(key, "-----END", 2)[0])
	f.Add("-----BEGIN PRIVATE KEY-----\\nProc-Type: 4\\n")
	f.Add("token=abc eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.x")
	f.Add("\u017fecret=x Bearer abc PassWd: y")
	f.Add("private key api-KEY'  = x bearer\f+y")
	f.Fuzz(func(t *testing.T, s string) {
		out := Clean(s)
		if !safe(out) {
			t.Fatalf("Clean(%q) = %q is not terminal-safe", s, out)
		}
		if pemKeyBegin().MatchString(out) {
			t.Fatalf("a BEGIN marker survived: %q", out)
		}
		if Escape(out) != out {
			t.Fatalf("Escape is not idempotent on %q", out)
		}
		_ = SecretKind(s)
		_ = EscapeLine(s)
		if b, a := secretShapes(s); !b && bearer().MatchString(s) || !a && secretAssign().MatchString(s) {
			t.Fatalf("the prefilter (bearer %v, assignment %v) skips a secret in %q", b, a, s)
		}
	})
}

func TestLineScrubber(t *testing.T) {
	key, _ := keyPEM(t)
	head := strings.Join(strings.Split(key, "\n")[:3], "\n") // BEGIN and two body lines
	// The shape nginx logs: the key's lines, the last one followed by the error.
	log := "2026/01/02 03:04:05 [emerg] 1#1: cannot load certificate key \"data:" + head + "\": PEM_read_bio_PrivateKey() failed\n" +
		"2026/01/02 03:04:06 [info] 1#1: *1 client closed connection"
	var ls LineScrubber
	var out []string
	for _, l := range strings.Split(log, "\n") {
		out = append(out, ls.Scrub(l))
	}
	got := strings.Join(out, "\n")
	assertNoKey(t, got, key)
	for _, keep := range []string{"PEM_read_bio_PrivateKey() failed", "client closed connection", "cannot load certificate key"} {
		if !strings.Contains(got, keep) {
			t.Errorf("lost %q:\n%s", keep, got)
		}
	}
	// A whole key, one line at a time, leaves nothing of the key and closes the block.
	ls = LineScrubber{}
	for _, l := range strings.Split(key+"after", "\n") {
		if o := ls.Scrub(l); l != "after" {
			assertNoKey(t, o, key)
		} else if o != "after" {
			t.Errorf("the line after the END line became %q", o)
		}
	}
}

// TestSecretShapes: the prefilter lets through text where a regexp could match (also
// text whose Unicode folds to a secret word: the regexps' (?i) would match it) and skips
// the rest, "private key" and "token" in prose included.
func TestSecretShapes(t *testing.T) {
	type shapes struct{ bearer, assign bool }
	for s, want := range map[string]shapes{
		"server at nginx.conf:4 → ok":                {},
		"ssl_certificate → \u212a":                   {true, true}, // any rune that folds to ASCII: conservative
		"to\u212aen=abc":                             {true, true},
		"\u017fecret: x":                             {true, true},
		"→ token=abc":                                {false, true},
		"\xff\xfe bearer x":                          {true, false},
		"\xff\xfe plain":                             {},
		"the agent's private key /etc/a.key matches": {},
		"private_key: /x":                            {false, true},
		"Private-Key = x":                            {false, true},
		"apikey=x":                                   {false, true},
		"API_KEY\t:x":                                {false, true},
		`"password" : "x"`:                           {false, true},
		`passwd'=x`:                                  {false, true},
		"the token is not set":                       {},
		"xtoken=1":                                   {},
		"tokens=1":                                   {},
		"Authorization: Bearer abc":                  {true, true},
		"bearer":                                     {},
		"bearer\n\t~x":                               {true, false},
		"bearer :x":                                  {},
		"a secret\n= x":                              {false, true},
		"client sent no required SSL certificate token": {},
	} {
		b, a := secretShapes(s)
		if (shapes{b, a}) != want {
			t.Errorf("secretShapes(%q) = %v, %v, want %v", s, b, a, want)
		}
		if !b && bearer().MatchString(s) || !a && secretAssign().MatchString(s) {
			t.Errorf("the prefilter skips a secret in %q", s)
		}
	}
	if got := Scrub("to\u212aen=abc → x"); strings.Contains(got, "abc") {
		t.Errorf("Scrub kept a token named with a Kelvin sign: %q", got)
	}
	if got := Scrub("Authorization: Bearer abc.def token=ghi"); strings.Contains(got, "abc") || strings.Contains(got, "ghi") {
		t.Errorf("Scrub kept a credential: %q", got)
	}
}

// SecretKind tests cheaply for "eyJ" and the secret words before it runs a regexp; the
// answer must be the regexps' own, whatever the text (the Unicode folds included).
func FuzzSecretKindPrefilter(f *testing.F) {
	f.Add("Bearer abc")
	f.Add("BEAR\u212aR x") // not a fold of "bearer": stays ""
	f.Add("\u017fecret bearer  tok.en")
	f.Add("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.x")
	f.Add("/etc/nginx-agent/agent.key")
	f.Fuzz(func(t *testing.T, v string) {
		tr := strings.TrimSpace(v)
		token := tr != "" && !strings.Contains(tr, "-----BEGIN ") && !strings.Contains(tr, "PRIVATE KEY-----") &&
			(jwt().MatchString(tr) || bearer().MatchString(tr))
		if got := SecretKind(v) == "a token"; got != token {
			t.Fatalf("SecretKind(%q) says token %v, the regexps %v", v, got, token)
		}
	})
}
