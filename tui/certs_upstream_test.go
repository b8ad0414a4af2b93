package tui

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/internal/pki"
	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// TestUpstreamCertGroups: the Certificates screen shows, per upstream link, the client
// certificate NGINX presents and the chain the upstream served, completed from the link's
// trusted CA file.
func TestUpstreamCertGroups(t *testing.T) {
	g := pki.New(time.Now())
	ca, _ := g.Root("upstream-ca")
	client, _ := g.Issue(ca, pki.Spec{CommonName: "front-proxy", EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	server, err := g.Issue(ca, pki.Spec{CommonName: "backend.example.com", DNSNames: []string{"backend.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	conf := "http { server { listen 80; server_name front.example.com; location / { proxy_pass https://backend.example.com:8443; " +
		"proxy_ssl_certificate /etc/nginx/proxy.pem; proxy_ssl_certificate_key /etc/nginx/proxy.key; " +
		"proxy_ssl_trusted_certificate /etc/nginx/ca.pem; } } }"
	cfg, err := nginxconf.Parse("/etc/nginx/nginx.conf", []byte(conf), nginxconf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	links := cfg.UpstreamLinks("1.22.1")
	if len(links) != 1 {
		t.Fatalf("%d links", len(links))
	}
	l := &probes.UpstreamLinkFacts{UpstreamLink: links[0],
		Cert:      &probes.FileFacts{Path: "/etc/nginx/proxy.pem", Exists: true, Certs: []*x509.Certificate{client.Cert}},
		TrustedCA: &probes.FileFacts{Path: "/etc/nginx/ca.pem", Exists: true, Certs: []*x509.Certificate{ca.Cert}},
		Probes: []*probes.UpstreamProbe{{Server: links[0].Servers[0],
			TLS: &probes.TLSObservation{PeerChain: []*x509.Certificate{server.Cert}}}}}
	m := Model{host: &diagnostics.Facts{Now: time.Now(), Upstreams: &probes.UpstreamFacts{Links: []*probes.UpstreamLinkFacts{l}}}}
	groups := m.upstreamCertGroups()
	if len(groups) != 2 {
		t.Fatalf("%d groups", len(groups))
	}
	c, s := groups[0], groups[1]
	if !strings.Contains(c.title, "front.example.com → backend.example.com:8443: client certificate") || c.source != "/etc/nginx/proxy.pem" ||
		len(c.chains) != 1 || c.chains[0][0].cert != client.Cert || c.role != roleAgent {
		t.Errorf("client group %+v", c)
	}
	if !strings.Contains(s.title, "served by the upstream") || s.source != "backend.example.com:8443" || len(s.chains) != 1 ||
		len(s.chains[0]) != 2 || s.chains[0][1].cert != ca.Cert || !strings.Contains(s.chains[0][1].where, "/etc/nginx/ca.pem") {
		t.Errorf("served group %+v", s)
	}
}

// TestOverviewGroupsUpstreamPerLink: the Overview groups the upstream checks under the link
// they judged.
func TestOverviewGroupsUpstreamPerLink(t *testing.T) {
	link := diagnostics.Subject{Kind: diagnostics.SubjectUpstreamLink, Name: "front.example.com → backend.example.com:8443"}
	m := Model{findings: map[string]diagnostics.Finding{
		"upstream-verify-off":  {ID: "upstream-verify-off", Severity: diagnostics.SeverityOK, Subject: link},
		"upstream-unreachable": {ID: "upstream-unreachable", Severity: diagnostics.SeverityOK, Subject: link},
		"upstream-not-tls":     {ID: "upstream-not-tls", Severity: diagnostics.SeveritySkip, Subject: diagnostics.Subject{Kind: diagnostics.SubjectUpstreamLink}},
	}}
	m.engine.Catalog = diagnostics.DefaultCatalog()
	m.g = asciiGlyphs
	var titles []string
	for _, g := range (&overviewPage{}).groups(&m) {
		titles = append(titles, g.title)
		if strings.HasSuffix(g.title, link.Name) && (len(g.ids) != 2 || !strings.HasPrefix(g.title, "upstream ")) {
			t.Errorf("group %q holds %v", g.title, g.ids)
		}
	}
	if !slicesContainsSuffix(titles, link.Name) {
		t.Errorf("no group for the link: %q", titles)
	}
}

func slicesContainsSuffix(list []string, suffix string) bool {
	for _, s := range list {
		if strings.HasSuffix(s, suffix) {
			return true
		}
	}
	return false
}
