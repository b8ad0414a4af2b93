package tui

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/internal/pki"
	"github.com/mtls-doctor/mtls-doctor/logparse"
	"github.com/mtls-doctor/mtls-doctor/probes"
)

// The screen goldens draw a fixed test catalog over fixed facts at a pinned clock, so that
// adding or rewording a check in diagnostics changes none of them; TestEndToEndGolden is
// the one golden over the real catalog.

// Paths and names of the fixed host.
const (
	testConfig = "/etc/nginx-agent/nginx-agent.conf"
	testCert   = "/etc/nginx-agent/agent.crt"
	testKey    = "/etc/nginx-agent/agent.key"
	testCA     = "/etc/nginx-agent/ca.pem"
	testServer = "nim.test.local"
)

// testCatalog has checks of every severity in several categories: two failures, a
// warning, passes, an info and two skips. The expired agent certificate has two fix steps
// (commands, then a configuration edit) and evidence; the warning one command.
func testCatalog() diagnostics.Catalog {
	agent := []diagnostics.FactKind{diagnostics.FactAgentConfig}
	files := []diagnostics.FactKind{diagnostics.FactAgentFiles}
	endpoint := []diagnostics.FactKind{diagnostics.FactEndpoint}
	result := func(r diagnostics.Result) func(*diagnostics.Facts) diagnostics.Result {
		return func(*diagnostics.Facts) diagnostics.Result { return r }
	}
	return diagnostics.Catalog{
		{ID: "agent-config-found", Category: diagnostics.CategoryAgentConfig, Title: "agent configuration is found and read",
			Needs: agent, Evaluate: func(f *diagnostics.Facts) diagnostics.Result { return diagnostics.OK("read %s", f.Agent.Path) }},
		{ID: "agent-tls-enabled", Category: diagnostics.CategoryAgentConfig, Title: "agent uses TLS",
			Needs: agent, Evaluate: result(diagnostics.OK("tls.enable is true"))},
		{ID: "agent-key-private", Category: diagnostics.CategoryAgentFiles, Title: "agent key is readable by its owner only",
			Why:   "A key others can read can be copied and used to pose as this agent.",
			Needs: files, Evaluate: result(diagnostics.Warn("%s is readable by others (mode 0644)", testKey)),
			Fix: func(*diagnostics.Facts, diagnostics.Result) []diagnostics.Step {
				return []diagnostics.Step{{Title: "Make the key readable by its owner only", Commands: []string{"chmod 600 " + testKey},
					Verify: []string{"agent-key-private"}}}
			}},
		{ID: "agent-cert-expired", Category: diagnostics.CategoryAgentCert, Title: "agent certificate is within its validity period",
			Why:   "NGINX refuses an expired client certificate during the handshake; the agent cannot connect until it is renewed.",
			Needs: files, LogKinds: []logparse.Kind{logparse.KindAgentCertExpired}, Evaluate: func(f *diagnostics.Facts) diagnostics.Result {
				leaf := f.Files.Cert.Certs[0]
				_, text := diagnostics.CertExpiry(leaf, f.Now, f.Thresholds)
				return diagnostics.Fail("the agent certificate CN=%s %s", leaf.Subject.CommonName, text).
					With(diagnostics.Evidence{Text: "notAfter " + leaf.NotAfter.UTC().Format(time.RFC3339), Location: testCert,
						Quote: []string{"client SSL certificate verify error: (10:certificate has expired)"}})
			},
			Fix: func(*diagnostics.Facts, diagnostics.Result) []diagnostics.Step {
				return []diagnostics.Step{
					{Title: "Renew the agent certificate", Why: "Sign a new certificate for the agent's key with the same CA.",
						Commands: []string{
							"openssl req -new -key " + testKey + " -subj '/CN=agent-01.test.local' -out /tmp/agent.csr",
							"openssl x509 -req -in /tmp/agent.csr -CA " + testCA + " -CAkey /etc/pki/ca.key -days 365 -extfile /etc/pki/agent.ext -out " + testCert,
						}, Verify: []string{"agent-cert-expired"}},
					{Title: "Point the agent at the renewed certificate", File: testConfig,
						Diff:   "@@ tls @@\n tls:\n-  cert: /etc/nginx-agent/old.crt\n+  cert: " + testCert + "\n",
						Verify: []string{"agent-cert-expired"}},
				}
			}},
		{ID: "endpoint-reachable", Category: diagnostics.CategoryNetwork, Title: "management plane answers on TCP",
			Needs: endpoint, Evaluate: func(f *diagnostics.Facts) diagnostics.Result {
				return diagnostics.OK("connected to %s", f.Endpoint.Address)
			}},
		{ID: "tls-version", Category: diagnostics.CategoryNetwork, Title: "TLS version is 1.2 or later",
			Needs: endpoint, Evaluate: result(diagnostics.Info("negotiated TLS 1.3"))},
		{ID: "server-name-matches", Category: diagnostics.CategoryServerCert, Title: "server certificate covers the name the agent verifies",
			Why:   "The agent verifies the server's certificate against the name it dials; a certificate without that name fails every handshake.",
			Needs: endpoint, Evaluate: func(f *diagnostics.Facts) diagnostics.Result {
				return diagnostics.Fail("the server certificate does not cover %s (SANs: localhost)", f.Endpoint.VerifyName)
			}},
		{ID: "server-cert-chain", Category: diagnostics.CategoryServerCert, Title: "server chain verifies against the agent's CA",
			Needs: endpoint, Evaluate: result(diagnostics.OK("chains to CN=Test Root CA"))},
		{ID: "client-cert-accepted", Category: diagnostics.CategoryClientAuth, Title: "NGINX accepts the agent certificate",
			Needs: endpoint, Evaluate: result(diagnostics.Skip("skipped: the agent certificate has expired"))},
		{ID: "grpc-answers", Category: diagnostics.CategoryGRPC, Title: "the command service answers over gRPC",
			Needs: endpoint, Evaluate: result(diagnostics.Skip("skipped: the agent certificate has expired"))},
		{ID: "logs-read", Category: diagnostics.CategoryLogs, Title: "NGINX and agent logs were read",
			Evaluate: result(diagnostics.OK("2 files read"))},
	}
}

// fixedHost is the fixed host's facts by kind, with certificates made at testNow: a root,
// an intermediate that issued the server certificate (localhost only) and an agent
// certificate that expired a day ago.
type fixedHost struct {
	agent    *probes.AgentConfig
	files    *probes.AgentFiles
	endpoint *probes.EndpointReport
}

func newFixedHost(t testing.TB) *fixedHost {
	t.Helper()
	g := pki.New(testNow)
	issue := func(parent *pki.Cert, spec pki.Spec) *x509.Certificate {
		c, err := g.Issue(parent, spec)
		if err != nil {
			t.Fatal(err)
		}
		return c.Cert
	}
	rootCA, err := g.Issue(nil, pki.Spec{CommonName: "Test Root CA", IsCA: true, From: -365 * 24 * time.Hour, Until: 3650 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	inter, err := g.Issue(rootCA, pki.Spec{CommonName: "Test Intermediate CA", IsCA: true, From: -365 * 24 * time.Hour, Until: 1825 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	agentCert := issue(rootCA, pki.Spec{CommonName: "agent-01.test.local", EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		From: -366 * 24 * time.Hour, Until: -24 * time.Hour})
	server := issue(inter, pki.Spec{CommonName: testServer, DNSNames: []string{"localhost"},
		EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, From: -30 * 24 * time.Hour, Until: 335 * 24 * time.Hour})
	set := func(v string, line int) probes.Setting {
		return probes.Setting{Value: v, Source: probes.Source{Kind: probes.SourceFile, Name: testConfig, Line: line}}
	}
	return &fixedHost{
		agent: &probes.AgentConfig{Path: testConfig, Format: probes.FormatV2, Host: set(testServer, 2), Port: set("443", 3),
			TLSEnabled: set("true", 5), Cert: set(testCert, 6), Key: set(testKey, 7), CA: set(testCA, 8)},
		files: &probes.AgentFiles{
			Cert: &probes.FileFacts{Role: probes.RoleCert, Path: testCert, Exists: true, Certs: []*x509.Certificate{agentCert}},
			Key:  &probes.FileFacts{Role: probes.RoleKey, Path: testKey, Exists: true},
			CA:   &probes.FileFacts{Role: probes.RoleCA, Path: testCA, Exists: true, Certs: []*x509.Certificate{rootCA.Cert}},
		},
		endpoint: &probes.EndpointReport{Address: testServer + ":443", ServerName: testServer, VerifyName: testServer,
			Agent: &probes.Attempt{WithClientCert: true, TLS: &probes.TLSObservation{Version: tls.VersionTLS13,
				PeerChain: []*x509.Certificate{server, inter.Cert}}}},
	}
}

// Gather implements diagnostics.Gatherer with the fixed facts.
func (h *fixedHost) Gather(_ context.Context, kind diagnostics.FactKind, f *diagnostics.Facts) error {
	switch kind {
	case diagnostics.FactAgentConfig:
		f.Agent = h.agent
	case diagnostics.FactAgentFiles:
		f.Files = h.files
	case diagnostics.FactEndpoint:
		f.Endpoint = h.endpoint
	default:
		return fmt.Errorf("the fixed host has no %s facts", kind)
	}
	return nil
}

// fixedOptions are the assistant's options over the test catalog and the fixed host.
func fixedOptions(t testing.TB) Options {
	t.Helper()
	c := testCatalog()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	e := &diagnostics.Engine{Catalog: c, Gatherer: newFixedHost(t), Now: func() time.Time { return testNow }}
	return Options{Engine: e, Title: "test catalog", ReportDir: t.TempDir()}
}
