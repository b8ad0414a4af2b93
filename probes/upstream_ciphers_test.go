package probes

import (
	"crypto/tls"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func cipherNames(ids []uint16) []string {
	var out []string
	for _, id := range ids {
		out = append(out, OpenSSLCipherName(id))
	}
	return out
}

func TestOfferedCiphers(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    []string // nil: every suite of the table
		unknown []string
	}{
		{in: "DEFAULT"},
		{in: ""},
		{in: "HIGH:!aNULL:!MD5"},
		{in: "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384",
			want: []string{"ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-AES128-GCM-SHA256"}},
		{in: "ECDHE+AESGCM", want: []string{"ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
			"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256"}},
		{in: "EECDH+AESGCM:EDH+AESGCM", want: []string{"ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
			"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256"}},
		{in: "HIGH:!kRSA:!SHA1:!SHA256:!aECDSA", want: []string{"ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305",
			"ECDHE-RSA-AES128-GCM-SHA256"}},
		// '-' removes until added again; '!' removes for good.
		{in: "AESGCM:-ECDHE:ECDHE-RSA-AES128-GCM-SHA256", want: []string{"ECDHE-RSA-AES128-GCM-SHA256", "AES256-GCM-SHA384", "AES128-GCM-SHA256"}},
		{in: "!ECDHE:AESGCM:ECDHE-RSA-AES128-GCM-SHA256", want: []string{"AES256-GCM-SHA384", "AES128-GCM-SHA256"}},
		{in: "CHACHA20 , AES128-SHA", want: []string{"ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305", "AES128-SHA"}},
		{in: "DHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-SHA:@STRENGTH", want: []string{"ECDHE-RSA-AES256-SHA"},
			unknown: []string{"DHE-RSA-AES256-GCM-SHA384"}},
		{in: "FROBNICATE", want: []string{}, unknown: []string{"FROBNICATE"}},
		{in: "TLSv1.2+aECDSA+SHA256", want: []string{"ECDHE-ECDSA-AES128-SHA256"}},
	} {
		t.Run(tt.in, func(t *testing.T) {
			ids, unknown := OfferedCiphers(tt.in)
			got := cipherNames(ids)
			want := tt.want
			if want == nil {
				for _, s := range openSSLSuites {
					want = append(want, s.name)
				}
			}
			if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Errorf("offered %q, want %q", got, want)
			}
			if !slices.Equal(unknown, tt.unknown) {
				t.Errorf("unknown %q, want %q", unknown, tt.unknown)
			}
		})
	}
}

// TestOfferedCiphersMatchOpenSSL asks the real openssl which suites a cipher string
// enables under TLS 1.2: of those, the ones the table knows must be exactly what
// OfferedCiphers offers.
func TestOfferedCiphersMatchOpenSSL(t *testing.T) {
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	known := map[string]bool{}
	for _, s := range openSSLSuites {
		known[s.name] = true
	}
	for _, in := range []string{"DEFAULT", "HIGH:!aNULL:!MD5", "ECDHE+AESGCM", "EECDH+AESGCM:EDH+AESGCM",
		"HIGH:!kRSA:!SHA1", "aRSA:-kRSA", "ALL:!ECDSA:!AES256", "AES128:!SHA256", "TLSv1.2", "SSLv3:+AES256",
		"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384", "CHACHA20:AES128-SHA", "ECDH+SHA1",
		"kECDHE+AES256:-AESGCM:AES256-SHA"} {
		out, err := exec.Command(bin, "ciphers", "-s", "-tls1_2", in).Output()
		if err != nil {
			t.Fatalf("openssl ciphers %q: %v", in, err)
		}
		var want []string
		for _, n := range strings.Split(strings.TrimSpace(string(out)), ":") {
			if known[n] {
				want = append(want, n)
			}
		}
		ids, _ := OfferedCiphers(in)
		got := cipherNames(ids)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%q: offered %q, openssl enables %q", in, got, want)
		}
	}
}

func TestOpenSSLCipherName(t *testing.T) {
	if got := OpenSSLCipherName(tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256); got != "ECDHE-RSA-CHACHA20-POLY1305" {
		t.Errorf("got %q", got)
	}
	if got := OpenSSLCipherName(tls.TLS_AES_128_GCM_SHA256); got != "TLS_AES_128_GCM_SHA256" {
		t.Errorf("TLS 1.3 suite: got %q", got)
	}
	// Every suite of the table is one Go can offer under TLS 1.2.
	goSuites := map[uint16]bool{}
	for _, cs := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		if slices.Contains(cs.SupportedVersions, tls.VersionTLS12) {
			goSuites[cs.ID] = true
		}
	}
	for _, s := range openSSLSuites {
		if !goSuites[s.id] {
			t.Errorf("%s: Go does not offer it under TLS 1.2", s.name)
		}
	}
}

// FuzzOfferedCiphers: any cipher string gives suites of the table, each once, never a
// panic; a suite named with '!' at the end is never offered.
func FuzzOfferedCiphers(f *testing.F) {
	for _, s := range []string{"DEFAULT", "HIGH:!aNULL:!MD5", "ECDHE+AESGCM:-AES256", "!", "+", "::,, ", "@SECLEVEL=0",
		"AES128-SHA:!AES128-SHA", "a+b+c", "\x00!-+"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids, _ := OfferedCiphers(s)
		seen := map[uint16]bool{}
		for _, id := range ids {
			if seen[id] || OpenSSLCipherName(id) == tls.CipherSuiteName(id) && !slices.ContainsFunc(openSSLSuites, func(su openSSLSuite) bool { return su.id == id }) {
				t.Fatalf("%q: suite %#x twice or not in the table", s, id)
			}
			seen[id] = true
		}
		ids, _ = OfferedCiphers(s + ":!AES128-SHA")
		if slices.Contains(ids, tls.TLS_RSA_WITH_AES_128_CBC_SHA) {
			t.Fatalf("%q:!AES128-SHA still offers AES128-SHA", s)
		}
	})
}

func BenchmarkOfferedCiphers(b *testing.B) {
	for b.Loop() {
		OfferedCiphers("ECDHE+AESGCM:ECDHE+CHACHA20:!aECDSA:AES128-SHA:@STRENGTH")
	}
}
