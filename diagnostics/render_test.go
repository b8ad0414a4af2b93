package diagnostics

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"
	"github.com/mtls-doctor/mtls-doctor/probes"
)

// renderNow is the pinned clock of the render goldens: 2026-11-22T10:00:00Z.
var renderNow = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// renderCert makes a self-signed certificate with fixed names and dates; only those appear
// in rendered output, so the random key does not disturb the goldens.
func renderCert(t *testing.T, cn string, notAfter time.Time) *x509.Certificate {
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
func renderReport(t *testing.T) *Report {
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

func TestWriteText(t *testing.T) {
	for name, opt := range map[string]TextOptions{
		"unicode": {}, "ascii": {ASCII: true}, "verbose": {Verbose: true}, "color": {Color: true},
	} {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteText(&b, renderReport(t), opt); err != nil {
				t.Fatal(err)
			}
			if !opt.Color && strings.Contains(b.String(), "\x1b") {
				t.Fatal("escape codes without Color")
			}
			golden.RequireEqual(t, b.Bytes())
		})
	}
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, renderReport(t)); err != nil {
		t.Fatal(err)
	}
	var doc JSONReport
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("output is not one JSON document: %v", err)
	}
	if doc.Version != 1 || doc.Status != "fail" || len(doc.Findings) != 5 {
		t.Fatalf("version=%d status=%q findings=%d", doc.Version, doc.Status, len(doc.Findings))
	}
	golden.RequireEqual(t, b.Bytes())
}

func TestWriteNagios(t *testing.T) {
	var b bytes.Buffer
	if err := WriteNagios(&b, renderReport(t)); err != nil {
		t.Fatal(err)
	}
	first := strings.SplitN(b.String(), "\n", 2)[0]
	if strings.Count(first, "|") != 1 {
		t.Fatalf("status line must have exactly one perfdata separator: %q", first)
	}
	golden.RequireEqual(t, b.Bytes())
}

func TestWritePrometheus(t *testing.T) {
	var b bytes.Buffer
	if err := WritePrometheus(&b, renderReport(t)); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if !strings.HasPrefix(line, "#") && len(strings.Fields(line)) != 2 {
			t.Errorf("not a sample line: %q", line)
		}
	}
	golden.RequireEqual(t, b.Bytes())
}

func TestExitCode(t *testing.T) {
	for sev, want := range map[Severity]int{SeverityOK: 0, SeverityInfo: 0, SeveritySkip: 0, SeverityWarn: 1, SeverityFail: 2} {
		r := &Report{Findings: []Finding{{Severity: SeverityOK}, {Severity: sev}}}
		if got := ExitCode(r); got != want {
			t.Errorf("%s: exit %d, want %d", sev, got, want)
		}
	}
}

// WriteJSON streams the findings; the bytes must be what one json.Encoder with two-space
// indent writes for the whole document — with findings, without, and with a target whose
// text holds the findings key itself.
func TestWriteJSONSameAsEncoder(t *testing.T) {
	full := renderReport(t)
	tricky := renderReport(t)
	tricky.Facts.Agent.Path = "/etc/nginx-agent/\n  \"findings\": [].conf"
	for name, r := range map[string]*Report{"full": full, "none": {}, "tricky target": tricky} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetIndent("", "  ")
		if err := enc.Encode(NewJSONReport(r)); err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := WriteJSON(&got, r); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("%s: WriteJSON differs from json.Encoder:\n got %s\nwant %s", name, got.String(), want.String())
		}
	}
}
