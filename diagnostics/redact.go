package diagnostics

import (
	"cmp"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
)

var (
	pemKeyRE = regexp.MustCompile(`(?s)-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|$)`)
	secretRE = regexp.MustCompile(`(?i)\b(token|password|passwd|secret|api[_-]?key|private[_-]?key|authorization)(["']?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s,;|'"]+)`)
	bearerRE = regexp.MustCompile(`(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+`)
	// secretFlagRE names command-line flags whose value is a secret (--token X, --password=X).
	secretFlagRE = regexp.MustCompile(`(?i)^--?[a-z0-9-]*(token|password|passwd|secret|api-?key)[a-z0-9-]*$`)
)

// ScrubSecrets removes private key blocks and the values of token-like settings. The facts
// never hold key material, but evidence quotes lines from files and logs, and an agent's
// configuration may carry a token (server.token, auth.token).
func ScrubSecrets(s string) string {
	s = pemKeyRE.ReplaceAllString(s, "[private key removed]")
	// Bearer first: "Authorization: Bearer X" would otherwise lose only the word Bearer.
	s = bearerRE.ReplaceAllString(s, "${1} [redacted]")
	return secretRE.ReplaceAllString(s, "${1}${2}[redacted]")
}

// MaskArgs returns a command line with the values of secret-bearing flags replaced by
// [redacted], for reports that record how they were made.
func MaskArgs(args []string) []string {
	out := make([]string, len(args))
	maskNext := false
	for i, a := range args {
		switch name, _, hasValue := strings.Cut(a, "="); {
		case maskNext:
			out[i], maskNext = "[redacted]", false
		case secretFlagRE.MatchString(name) && hasValue:
			out[i] = name + "=[redacted]"
		case secretFlagRE.MatchString(name):
			out[i], maskNext = a, true
		default:
			out[i] = ScrubSecrets(a)
		}
	}
	return out
}

// HostNames are the host names and addresses the facts mention, for --redact: the agent's
// server and SNI, what the probe dialled and resolved, and the names in the certificates.
func HostNames(f *Facts) []string {
	if f == nil {
		return nil
	}
	var names []string
	add := func(ss ...string) {
		for _, s := range ss {
			if s = strings.Trim(s, "[]"); s != "" {
				names = append(names, s)
			}
		}
	}
	if a := f.Agent; a != nil {
		add(a.Host.Value, a.ServerName.Value)
	}
	if ep := f.Endpoint; ep != nil {
		if h, _, err := net.SplitHostPort(ep.Address); err == nil {
			add(h)
		}
		if h, _, err := net.SplitHostPort(ep.TCPAddr); err == nil {
			add(h)
		}
		add(ep.ServerName, ep.VerifyName, ep.Authority)
		add(ep.DNSAddrs...)
	}
	for _, c := range CertLives(f) {
		add(c.Cert.DNSNames...)
		for _, ip := range c.Cert.IPAddresses {
			add(ip.String())
		}
		if cn := c.Cert.Subject.CommonName; strings.Contains(cn, ".") {
			add(cn)
		}
	}
	return names
}

var (
	ipv4RE = regexp.MustCompile(`\b\d{1,3}(\.\d{1,3}){3}\b`)
	ipv6RE = regexp.MustCompile(`[0-9A-Fa-f]{0,4}(:[0-9A-Fa-f]{0,4}){2,7}(%[0-9A-Za-z]+)?`)
)

// RedactHosts replaces each name with a stable placeholder (host-1, host-2 …) and every IP
// address with ip-1, ip-2 …, so a report can be shared without naming the network.
func RedactHosts(s string, names []string) string {
	ips := map[string]string{}
	ipRepl := func(v string) string {
		if net.ParseIP(strings.SplitN(v, "%", 2)[0]) == nil {
			return v
		}
		if r, ok := ips[v]; ok {
			return r
		}
		ips[v] = fmt.Sprintf("ip-%d", len(ips)+1)
		return ips[v]
	}
	var hosts []string
	for _, n := range names {
		if net.ParseIP(n) == nil && !slices.Contains(hosts, n) {
			hosts = append(hosts, n)
		}
	}
	if len(hosts) > 0 {
		// Longest first (RE2 alternation is leftmost-first), so a.example.com is not
		// half-replaced by example.com; \b keeps "nim" from matching inside "animal".
		slices.SortStableFunc(hosts, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
		quoted := make([]string, len(hosts))
		for i, h := range hosts {
			quoted[i] = regexp.QuoteMeta(h)
		}
		re := regexp.MustCompile(`(?i)\b(` + strings.Join(quoted, "|") + `)\b`)
		seen := map[string]string{}
		s = re.ReplaceAllStringFunc(s, func(v string) string {
			k := strings.ToLower(v)
			if r, ok := seen[k]; ok {
				return r
			}
			seen[k] = fmt.Sprintf("host-%d", len(seen)+1)
			return seen[k]
		})
	}
	s = ipv6RE.ReplaceAllStringFunc(s, ipRepl)
	return ipv4RE.ReplaceAllStringFunc(s, ipRepl)
}
