package probes

import (
	"crypto/tls"
	"slices"
	"strings"
)

// This file maps an OpenSSL cipher string (*_ssl_ciphers, default "DEFAULT") to the TLS
// 1.2 cipher suites Go can offer, so that the upstream probe offers what NGINX offers.
// The string's grammar is OpenSSL's (ciphers(1), "CIPHER LIST FORMAT"): elements separated
// by ':', ',' or ' '; each a cipher name, a keyword or keywords joined by '+' (all must
// match), optionally prefixed by '!' (removed for good), '-' (removed, may be added back)
// or '+' (moved to the end: the set is unchanged). The rules are applied, left to right,
// to the suites both OpenSSL 3 and Go's crypto/tls implement (openSSLSuites); what is
// approximated: suites Go does not implement (DHE, CCM, ARIA, CAMELLIA, AES256-SHA256,
// *-SHA384 CBC) cannot be offered and are left out; 3DES and RC4, which OpenSSL 3 does not
// build by default, are never offered; @STRENGTH and @SECLEVEL are ignored (Go orders
// the suites it offers by its own preference); an unknown keyword matches nothing and is
// reported. TLS 1.3 suites are not set by *_ssl_ciphers (OpenSSL sets them with
// Ciphersuites), and Go offers its own.

// openSSLSuite is one TLS 1.2 cipher suite with the attributes OpenSSL's keywords select by.
type openSSLSuite struct {
	name string // OpenSSL's name, as `openssl ciphers` prints it
	id   uint16
	kx   string // key exchange: "ECDHE" or "RSA"
	au   string // authentication: "RSA" or "ECDSA"
	enc  string // "AESGCM", "AES" (CBC) or "CHACHA20"
	bits int
	mac  string // "SHA1", "SHA256", or "AEAD"
}

// tls12Only reports whether the suite exists only from TLS 1.2 (the TLSv1.2 keyword).
func (s openSSLSuite) tls12Only() bool { return s.mac != "SHA1" }

// openSSLSuites are the TLS 1.2 suites the probe can offer, named as OpenSSL names them
// (`openssl ciphers -V`; the IANA names in crypto/tls).
var openSSLSuites = []openSSLSuite{
	{"ECDHE-ECDSA-AES256-GCM-SHA384", tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, "ECDHE", "ECDSA", "AESGCM", 256, "AEAD"},
	{"ECDHE-RSA-AES256-GCM-SHA384", tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, "ECDHE", "RSA", "AESGCM", 256, "AEAD"},
	{"ECDHE-ECDSA-CHACHA20-POLY1305", tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, "ECDHE", "ECDSA", "CHACHA20", 256, "AEAD"},
	{"ECDHE-RSA-CHACHA20-POLY1305", tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, "ECDHE", "RSA", "CHACHA20", 256, "AEAD"},
	{"ECDHE-ECDSA-AES128-GCM-SHA256", tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, "ECDHE", "ECDSA", "AESGCM", 128, "AEAD"},
	{"ECDHE-RSA-AES128-GCM-SHA256", tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, "ECDHE", "RSA", "AESGCM", 128, "AEAD"},
	{"ECDHE-ECDSA-AES128-SHA256", tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, "ECDHE", "ECDSA", "AES", 128, "SHA256"},
	{"ECDHE-RSA-AES128-SHA256", tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, "ECDHE", "RSA", "AES", 128, "SHA256"},
	{"ECDHE-ECDSA-AES256-SHA", tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, "ECDHE", "ECDSA", "AES", 256, "SHA1"},
	{"ECDHE-RSA-AES256-SHA", tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, "ECDHE", "RSA", "AES", 256, "SHA1"},
	{"ECDHE-ECDSA-AES128-SHA", tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, "ECDHE", "ECDSA", "AES", 128, "SHA1"},
	{"ECDHE-RSA-AES128-SHA", tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, "ECDHE", "RSA", "AES", 128, "SHA1"},
	{"AES256-GCM-SHA384", tls.TLS_RSA_WITH_AES_256_GCM_SHA384, "RSA", "RSA", "AESGCM", 256, "AEAD"},
	{"AES128-GCM-SHA256", tls.TLS_RSA_WITH_AES_128_GCM_SHA256, "RSA", "RSA", "AESGCM", 128, "AEAD"},
	{"AES128-SHA256", tls.TLS_RSA_WITH_AES_128_CBC_SHA256, "RSA", "RSA", "AES", 128, "SHA256"},
	{"AES256-SHA", tls.TLS_RSA_WITH_AES_256_CBC_SHA, "RSA", "RSA", "AES", 256, "SHA1"},
	{"AES128-SHA", tls.TLS_RSA_WITH_AES_128_CBC_SHA, "RSA", "RSA", "AES", 128, "SHA1"},
}

// OpenSSLCipherName is OpenSSL's name of a TLS 1.2 suite the probe can offer, or Go's
// (IANA) name for another.
func OpenSSLCipherName(id uint16) string {
	for _, s := range openSSLSuites {
		if s.id == id {
			return s.name
		}
	}
	return tls.CipherSuiteName(id)
}

// cipherKeywords are OpenSSL's keywords (ciphers(1)) as predicates on openSSLSuites.
// Keywords for what Go does not implement (DHE, PSK, CAMELLIA, …) match none of them.
var cipherKeywords = func() map[string]func(openSSLSuite) bool {
	all := func(openSSLSuite) bool { return true }
	none := func(openSSLSuite) bool { return false }
	kx := func(v string) func(openSSLSuite) bool { return func(s openSSLSuite) bool { return s.kx == v } }
	au := func(v string) func(openSSLSuite) bool { return func(s openSSLSuite) bool { return s.au == v } }
	enc := func(v string) func(openSSLSuite) bool { return func(s openSSLSuite) bool { return s.enc == v } }
	mac := func(v string) func(openSSLSuite) bool { return func(s openSSLSuite) bool { return s.mac == v } }
	m := map[string]func(openSSLSuite) bool{
		// Every suite of the table is in OpenSSL 3's ALL, DEFAULT and HIGH.
		"ALL": all, "DEFAULT": all, "HIGH": all,
		"kRSA": kx("RSA"), "RSA": kx("RSA"), "aRSA": au("RSA"),
		"kECDHE": kx("ECDHE"), "kEECDH": kx("ECDHE"), "ECDHE": kx("ECDHE"), "EECDH": kx("ECDHE"), "ECDH": kx("ECDHE"),
		"aECDSA": au("ECDSA"), "ECDSA": au("ECDSA"),
		"AESGCM": enc("AESGCM"), "CHACHA20": enc("CHACHA20"),
		"AES":    func(s openSSLSuite) bool { return s.enc == "AES" || s.enc == "AESGCM" },
		"AES128": func(s openSSLSuite) bool { return s.enc != "CHACHA20" && s.bits == 128 },
		"AES256": func(s openSSLSuite) bool { return s.enc != "CHACHA20" && s.bits == 256 },
		"SHA1":   mac("SHA1"), "SHA": mac("SHA1"), "SHA256": mac("SHA256"),
		"TLSv1.2": openSSLSuite.tls12Only,
		// The protocol keywords select by the version a suite first appeared in: the RSA
		// key exchange CBC suites in SSLv3, the ECDHE ones in TLS 1.0 (RFC 4492).
		"TLSv1.0": func(s openSSLSuite) bool { return !s.tls12Only() && s.kx == "ECDHE" },
		"TLSv1":   func(s openSSLSuite) bool { return !s.tls12Only() && s.kx == "ECDHE" },
		"SSLv3":   func(s openSSLSuite) bool { return !s.tls12Only() && s.kx == "RSA" },
	}
	for _, k := range []string{"COMPLEMENTOFDEFAULT", "COMPLEMENTOFALL", "MEDIUM", "LOW", "EXP", "EXPORT",
		"eNULL", "NULL", "aNULL", "ADH", "AECDH", "MD5", "RC4", "3DES", "DES", "IDEA", "SEED", "RC2",
		"CAMELLIA", "CAMELLIA128", "CAMELLIA256", "ARIA", "ARIA128", "ARIA256", "ARIAGCM", "AESCCM", "AESCCM8",
		"DH", "DHE", "EDH", "kDHE", "kEDH", "kDHr", "kDHd", "kDH", "DSS", "aDSS", "aDH", "aECDH", "SHA384",
		"PSK", "kPSK", "kECDHEPSK", "kDHEPSK", "kRSAPSK", "aPSK", "SRP", "kSRP", "aSRP",
		"aGOST", "aGOST01", "kGOST", "GOST94", "GOST89MAC", "SUITEB128", "SUITEB128ONLY", "SUITEB192",
		"KRB5"} {
		if _, ok := m[k]; !ok {
			m[k] = none
		}
	}
	return m
}()

// OfferedCiphers is what a cipher string makes NGINX offer under TLS 1.2, as far as the
// probe can offer it: the suites' IDs (table order) and the elements that name nothing
// this table knows (unknown keywords, or suites Go does not implement), which OpenSSL may
// still offer. An empty string is OpenSSL's DEFAULT.
func OfferedCiphers(s string) (ids []uint16, unknown []string) {
	if strings.TrimSpace(s) == "" {
		s = "DEFAULT"
	}
	in := make([]bool, len(openSSLSuites))
	killed := make([]bool, len(openSSLSuites))
	for _, el := range strings.FieldsFunc(s, func(r rune) bool { return r == ':' || r == ',' || r == ' ' }) {
		op := byte(0)
		if strings.ContainsRune("!-+", rune(el[0])) {
			op, el = el[0], el[1:]
		}
		if el == "" || el[0] == '@' {
			continue // @STRENGTH, @SECLEVEL=n: order and security level, not the set
		}
		match, ok := cipherRule(el)
		if !ok {
			unknown = append(unknown, el)
			continue
		}
		for i, su := range openSSLSuites {
			if !match(su) {
				continue
			}
			switch op {
			case '!':
				in[i], killed[i] = false, true
			case '-':
				in[i] = false
			case '+':
				// Moved to the end of the list: the set is unchanged.
			default:
				in[i] = in[i] || !killed[i]
			}
		}
	}
	for i, su := range openSSLSuites {
		if in[i] {
			ids = append(ids, su.id)
		}
	}
	return ids, unknown
}

// cipherRule is the predicate of one element without its operator: a cipher name, or
// keywords joined by '+'; ok is false when a part is neither.
func cipherRule(el string) (func(openSSLSuite) bool, bool) {
	if i := slices.IndexFunc(openSSLSuites, func(s openSSLSuite) bool { return s.name == el }); i >= 0 {
		name := el
		return func(s openSSLSuite) bool { return s.name == name }, true
	}
	var preds []func(openSSLSuite) bool
	for _, part := range strings.Split(el, "+") {
		p, ok := cipherKeywords[part]
		if !ok {
			return nil, false
		}
		preds = append(preds, p)
	}
	return func(s openSSLSuite) bool {
		for _, p := range preds {
			if !p(s) {
				return false
			}
		}
		return true
	}, true
}
