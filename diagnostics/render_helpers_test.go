package diagnostics

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/probes"
)

// renderNow is the pinned clock of the render goldens: 2026-11-22T10:00:00Z.
var renderNow = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// renderCert makes a self-signed certificate with fixed names and dates; only those appear
// in rendered output, so the random key does not disturb the goldens.
func renderCert(t testing.TB, cn string, notAfter time.Time) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: notAfter.AddDate(-1, 0, 0), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// renderReport is a fixed run: one failure with evidence and a fix, one warning, passes and
// a skip, over an agent v2 config and two certificates.
func renderReport(t testing.TB) *Report {
	facts := &Facts{
		Now:        renderNow,
		Thresholds: DefaultThresholds(),
		Agent: &probes.AgentConfig{
			Path: "/etc/nginx-agent/nginx-agent.conf", Format: probes.FormatV2,
			Host:       probes.Setting{Value: "nim.example.com", Source: probes.Source{Kind: probes.SourceFile}},
			Port:       probes.Setting{Value: "443", Source: probes.Source{Kind: probes.SourceFile}},
			ServerName: probes.Setting{Value: "nim.example.com", Source: probes.Source{Kind: probes.SourceFile}},
		},
		Files: &probes.AgentFiles{Cert: &probes.FileFacts{Certs: []*x509.Certificate{
			renderCert(t, "agent.example.com", renderNow.Add(-72*time.Hour))}}},
		Endpoint: &probes.EndpointReport{Agent: &probes.Attempt{TLS: &probes.TLSObservation{
			PeerChain: []*x509.Certificate{renderCert(t, "nim.example.com", renderNow.AddDate(0, 0, 20))}}}},
	}
	return &Report{Facts: facts, Findings: []Finding{
		{ID: "agent-config-invalid", Category: CategoryAgentConfig, Severity: SeverityOK,
			Title: "agent configuration file is valid YAML with the keys the agent reads"},
		{ID: "agent-skip-verify", Category: CategoryAgentConfig, Severity: SeveritySkip,
			Title: "agent verifies the server certificate", Summary: "skipped: TLS is off"},
		{ID: "agent-cert-expired", Category: CategoryAgentCert, Severity: SeverityFail,
			Title:   "agent certificate is within its validity period",
			Summary: "agent certificate expired 3 days ago (2026-11-19)",
			Evidence: []Evidence{
				Note("/etc/nginx-agent/agent.crt", "notAfter 2026-11-19 10:00:00 UTC, subject CN=agent.example.com"),
				Quoted("/var/log/nginx/error.log", "NGINX rejected it 2 times",
					`2026/11/22 09:59:58 [info] 812#812: *9 client SSL certificate verify error: (10:certificate has expired) while reading client request headers`),
			},
			Fix: []Step{
				{Title: "Issue a new agent certificate", Commands: []string{"openssl x509 -req -in agent.csr -CA ca.crt -CAkey ca.key -out /etc/nginx-agent/agent.crt -days 365"}, Verify: []string{"agent-cert-expired"}},
				{Title: "Restart the agent so it loads the new certificate", Commands: []string{"sudo systemctl restart nginx-agent"}, Verify: []string{"agent-cert-rejected"}},
			}},
		{ID: "server-cert-expiring", Category: CategoryServerCert, Severity: SeverityWarn,
			Title: "server certificate has more than 30 days left", Summary: "server certificate expires in 20 days",
			Fix: []Step{{Title: "Renew the server certificate", Verify: []string{"server-cert-expiring"}}}},
		{ID: "alpn-h2-missing", Category: CategoryNetwork, Severity: SeverityOK,
			Title: "the endpoint negotiates HTTP/2 (ALPN h2)"},
	}}
}
