package diagnostics

import (
	"cmp"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/mtls-doctor/mtls-doctor/internal/safetext"
)

// secretFlagRE names command-line flags whose value is a secret (--token X, --password=X).
var secretFlagRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)^--?[a-z0-9-]*(token|password|passwd|secret|api-?key)[a-z0-9-]*$`)
})

// maskedValue stands for a secret flag's value in a recorded command line.
const maskedValue = "[redacted]"

// CommandLine shows args (without the program name) as one pasteable sh command for a
// report: values of secret-bearing flags are masked, any other secret text is scrubbed
// (safetext.Scrub), and words are quoted for POSIX sh where they need it.
func CommandLine(args []string) string {
	words := []string{"mtls-doctor"}
	maskNext := false
	for _, a := range args {
		name, _, hasValue := strings.Cut(a, "=")
		switch {
		case maskNext:
			words, maskNext = append(words, maskedValue), false
		case secretFlagRE().MatchString(name) && hasValue:
			words = append(words, name+"="+maskedValue)
		case secretFlagRE().MatchString(name):
			words, maskNext = append(words, a), true
		default:
			words = append(words, shellWord(safetext.Scrub(a)))
		}
	}
	return strings.Join(words, " ")
}

// shellWord is shellQuote for a command-line word in a report, except that a masked value
// stays bare: quoted, the report's final scrub would take the closing quote for part of
// the secret.
func shellWord(s string) string {
	if bare := strings.ReplaceAll(s, maskedValue, "x"); shellQuote(bare) == bare {
		return s
	}
	return shellQuote(s)
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
	ipv4RE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\b\d{1,3}(\.\d{1,3}){3}\b`) })
	ipv6RE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`[0-9A-Fa-f]{0,4}(:[0-9A-Fa-f]{0,4}){2,7}(%[0-9A-Za-z]+)?`)
	})
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
	s = ipv6RE().ReplaceAllStringFunc(s, ipRepl)
	return ipv4RE().ReplaceAllStringFunc(s, ipRepl)
}
