package diagnostics

import (
	"bytes"
	"crypto/x509"
	"time"
)

// CertLife is one certificate's remaining validity, for perfdata, metrics and the TUI.
type CertLife struct {
	// Role is "agent", "server" (the manager's certificate, as served to the probe or as
	// the ssl_certificate NGINX serves agents), "ca" (a certificate from the agent's CA
	// file), "mesh-upstream" (the upstream CA SPIRE signs with), "mesh-ca" (a CA above
	// it), "upstream-client" (the certificate NGINX presents to an upstream) or
	// "upstream-server" (the certificate an upstream served NGINX's probe). Monitoring
	// keys on it, so one certificate appears under one role, once.
	Role    string
	Subject string
	// Link names the upstream link of an upstream-* role ("front → upstream:port").
	Link string
	// NotAfter is the end of the validity period.
	NotAfter time.Time
	// DaysLeft is the whole days until NotAfter, negative once expired.
	DaysLeft int
	// Lifetime is NotAfter - NotBefore.
	Lifetime time.Duration
	// Cert is the certificate itself, for views that show more than its life.
	Cert *x509.Certificate
}

// DaysLeft returns the whole days between now and c's expiry, counted toward now as
// HumanDuration counts them: 47 hours left is 1 day, expired 24 (or 47) hours ago is -1.
// An expired certificate is never 0, so "negative once expired" holds for monitoring.
func DaysLeft(c *x509.Certificate, now time.Time) int {
	left := c.NotAfter.Sub(now)
	days := int(left / day) // truncates toward zero, that is toward now
	if left < 0 && days == 0 {
		return -1
	}
	return days
}

// CertLives lists the certificates the facts hold: the agent's leaf, the server's leaf as
// served, and the certificates of the agent's CA file.
func CertLives(f *Facts) []CertLife {
	var out []CertLife
	var seen []*x509.Certificate
	add := func(role string, c *x509.Certificate) {
		for _, s := range seen {
			if bytes.Equal(s.Raw, c.Raw) {
				return // the served certificate the probe received is also in ssl_certificate
			}
		}
		seen = append(seen, c)
		out = append(out, CertLife{
			Role: role, Subject: c.Subject.String(), NotAfter: c.NotAfter,
			DaysLeft: DaysLeft(c, f.Now), Lifetime: c.NotAfter.Sub(c.NotBefore), Cert: c,
		})
	}
	if f.Files != nil && f.Files.Cert != nil && len(f.Files.Cert.Certs) > 0 {
		add("agent", f.Files.Cert.Certs[0])
	}
	if f.Endpoint != nil && f.Endpoint.Agent != nil && f.Endpoint.Agent.TLS != nil &&
		len(f.Endpoint.Agent.TLS.PeerChain) > 0 {
		add("server", f.Endpoint.Agent.TLS.PeerChain[0])
	}
	if f.Files != nil && f.Files.CA != nil {
		for _, c := range f.Files.CA.Certs {
			add("ca", c)
		}
	}
	// On the manager: the certificates NGINX serves, and the agent certificate given with
	// --cert when this host has no agent of its own.
	for _, sc := range servedCerts(f) {
		if sc.file != nil && len(sc.file.Certs) > 0 {
			add("server", sc.file.Certs[0])
		}
	}
	if f.Files == nil && f.Nginx != nil && f.Nginx.AgentCert != nil && len(f.Nginx.AgentCert.Certs) > 0 {
		add("agent", f.Nginx.AgentCert.Certs[0])
	}
	// NGINX as the client of its upstreams: per link, the certificate it presents and the
	// one the upstream served.
	for _, l := range upstreamLinks(f) {
		n := len(out)
		if leaf := clientLeaf(l); leaf != nil {
			add("upstream-client", leaf)
		}
		if leaf, _ := peerLeaf(l); leaf != nil {
			add("upstream-server", leaf)
		}
		for i := n; i < len(out); i++ {
			out[i].Link = LinkName(l.UpstreamLink)
		}
	}
	// NGINX Service Mesh: the upstream CA SPIRE signs with, then the CAs above it.
	if f.Mesh != nil {
		ca := meshCAOf(f)
		for _, c := range ca.certsToJudge() {
			role := "mesh-ca"
			if c == ca.upstreamCert() {
				role = "mesh-upstream"
			}
			add(role, c)
		}
	}
	return out
}
