package probes

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// joinHostPort builds host:port as agent v2 does (fmt.Sprintf("%s:%d", host, port),
// nginx-agent v2 config.go), so a host written as a bracketed IPv6 literal ("[::1]") is
// dialled as [::1]:port, not [[::1]]:port; a bare IPv6 literal gets its brackets.
func joinHostPort(host, port string) string {
	if inner, ok := unbracket(host); ok {
		host = inner
	}
	return net.JoinHostPort(host, port)
}

// unbracket returns the IP literal inside "[...]".
func unbracket(host string) (string, bool) {
	if len(host) > 2 && host[0] == '[' && host[len(host)-1] == ']' {
		if _, err := netip.ParseAddr(host[1 : len(host)-1]); err == nil {
			return host[1 : len(host)-1], true
		}
	}
	return "", false
}

// checkDialAddress says why host:port cannot be dialled at all: a host that is neither an IP
// address nor a DNS name (brackets, spaces, slashes; RFC 1123 §2.1 names hold letters,
// digits, hyphens and dots, and underscores are common in private zones), or a port that
// is not a number from 1 to 65535. nil means it can be tried.
func checkDialAddress(host, port string) error {
	if _, err := netip.ParseAddr(host); err != nil {
		if host == "" {
			return fmt.Errorf("the host is empty")
		}
		if i := strings.IndexFunc(host, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_')
		}); i >= 0 {
			return fmt.Errorf("the host %q is neither an IP address nor a DNS name (it holds %q)", host, host[i:i+1])
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("the port %q is not a number from 1 to 65535", port)
	}
	return nil
}
