package diagnostics

import (
	"crypto/x509"
	"testing"

	"github.com/mtls-doctor/mtls-doctor/probes"
)

func TestAgentCertChecks(t *testing.T) {
	runCases(t, []checkCase{
		{name: "expired", id: "agent-cert-expired", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				reissueAgent(t, f, p, certSpec{notBefore: testNow.AddDate(-1, 0, 0), notAfter: testNow.Add(-days(3))})
			},
			summary: []string{"CN=agent-1.example.com expired 2026-05-29 12:00:00 UTC (3 days ago)"},
			fix:     []string{"-key /etc/nginx-agent/agent.key", "openssl x509 -in /etc/nginx-agent/agent.crt", "sudo systemctl restart nginx-agent"},
			cause:   Cause{Code: CauseExpired}},
		{name: "expired cert does not also warn expiring", id: "agent-cert-expiring", want: SeveritySkip,
			mutate: func(f *Facts, p *testPKI) {
				reissueAgent(t, f, p, certSpec{notBefore: testNow.AddDate(-1, 0, 0), notAfter: testNow.Add(-days(3))})
			}},
		{name: "not yet valid, clock behind the server", id: "agent-cert-not-yet-valid", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				reissueAgent(t, f, p, certSpec{notBefore: testNow.Add(days(0.1)), notAfter: testNow.AddDate(1, 0, 0)})
				f.Endpoint.Agent.HTTP.Date = testNow.Add(days(0.125))
			},
			summary: []string{"valid only from 2026-06-01 14:24:00 UTC", "this host's clock is 3h0m0s behind the server's"},
			fix:     []string{"timedatectl"},
			cause:   Cause{Code: CauseNotYetValid}},
		{name: "not yet valid, clocks agree", id: "agent-cert-not-yet-valid", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				reissueAgent(t, f, p, certSpec{notBefore: testNow.Add(days(2)), notAfter: testNow.AddDate(1, 0, 0)})
			},
			summary: []string{"2 days from now"},
			cause:   Cause{Code: CauseNotYetValid}},
		// One-year certificates: days left against WarnDays 30 and CritDays 7.
		{name: "exactly WarnDays left", id: "agent-cert-expiring", want: SeverityOK,
			mutate: func(f *Facts, p *testPKI) {
				reissueAgent(t, f, p, certSpec{notBefore: testNow.AddDate(-1, 0, 0), notAfter: testNow.Add(days(30))})
			},
			summary: []string{"30 days left"}},
		{name: "one day under WarnDays", id: "agent-cert-expiring", want: SeverityWarn,
			mutate: func(f *Facts, p *testPKI) {
				reissueAgent(t, f, p, certSpec{notBefore: testNow.AddDate(-1, 0, 0), notAfter: testNow.Add(days(29.5))})
			},
			summary: []string{"29 days left"},
			cause:   Cause{Code: CauseExpiring}},
		{name: "exactly CritDays left", id: "agent-cert-expiring", want: SeverityWarn,
			mutate: func(f *Facts, p *testPKI) {
				reissueAgent(t, f, p, certSpec{notBefore: testNow.AddDate(-1, 0, 0), notAfter: testNow.Add(days(7))})
			},
			cause: Cause{Code: CauseExpiring}},
		{name: "under CritDays", id: "agent-cert-expiring", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				reissueAgent(t, f, p, certSpec{notBefore: testNow.AddDate(-1, 0, 0), notAfter: testNow.Add(days(6.5))})
			},
			summary: []string{"6 days left"},
			cause:   Cause{Code: CauseExpiring}},
		// A 24-hour certificate is judged by the share of its lifetime left.
		{name: "24h cert at half its life", id: "agent-cert-expiring", want: SeverityOK,
			mutate: func(f *Facts, p *testPKI) {
				reissueAgent(t, f, p, certSpec{notBefore: testNow.Add(-days(0.5)), notAfter: testNow.Add(days(0.5))})
			},
			summary: []string{"12 hours left", "50% of its 24h lifetime"}},
		{name: "24h cert under WarnPercent", id: "agent-cert-expiring", want: SeverityWarn,
			mutate: func(f *Facts, p *testPKI) {
				reissueAgent(t, f, p, certSpec{notBefore: testNow.Add(-days(20.0 / 24)), notAfter: testNow.Add(days(4.0 / 24))})
			},
			summary: []string{"4 hours left", "17% of its 24h lifetime"},
			cause:   Cause{Code: CauseExpiring}},
		{name: "24h cert nearly gone", id: "agent-cert-expiring", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				reissueAgent(t, f, p, certSpec{notBefore: testNow.Add(-days(23.5 / 24)), notAfter: testNow.Add(days(0.5 / 24))})
			},
			summary: []string{"30 minutes left"},
			cause:   Cause{Code: CauseExpiring}},
		{name: "serverAuth-only EKU", id: "agent-cert-wrong-purpose", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				reissueAgent(t, f, p, certSpec{eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			},
			summary: []string{"CN=agent-1.example.com has extended key usage serverAuth, without clientAuth"},
			fix:     []string{"extendedKeyUsage=clientAuth", "sudo openssl req -new -key /etc/nginx-agent/agent.key -subj /CN=agent-1.example.com -out /etc/nginx-agent/agent.csr"},
			cause:   Cause{Code: CauseWrongPurpose}},
		{name: "CA certificate as the agent's", id: "agent-cert-wrong-purpose", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				f.Files.Cert.Certs = []*x509.Certificate{p.root.cert}
				f.Files.Key = keyFile("/etc/nginx-agent/agent.key", p.root)
			},
			summary: []string{"CN=nms-ca is a CA certificate"},
			cause:   Cause{Code: CauseWrongPurpose}},
		{name: "RSA 1024", id: "agent-cert-weak-key", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				reissueAgent(t, f, p, certSpec{rsaBits: 1024, eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
			},
			summary: []string{"1024-bit RSA key"},
			fix:     []string{"ec_paramgen_curve:P-256", "-key /etc/nginx-agent/agent.key.new"},
			cause:   Cause{Code: CauseWeakKey}},
		{name: "SHA-1 signature", id: "agent-cert-weak-key", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				c := *p.agent.cert
				c.SignatureAlgorithm = x509.SHA1WithRSA
				f.Files.Cert.Certs = []*x509.Certificate{&c}
			},
			summary: []string{"signed with SHA1-RSA"},
			cause:   Cause{Code: CauseWeakKey}},
		{name: "intermediate left out of the cert file", id: "agent-chain-incomplete", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				p.agent = mkCert(t, certSpec{cn: "agent-1.example.com", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, p.inter)
				f.Files.Cert.Certs = []*x509.Certificate{p.agent.cert}
				f.Files.Key = keyFile("/etc/nginx-agent/agent.key", p.agent)
				f.Files.CA = certFile(probes.RoleCA, "/etc/nginx-agent/ca.pem", p.root.cert, p.inter.cert)
			},
			summary: []string{"/etc/nginx-agent/agent.crt lacks the intermediate CN=nms-int-ca", "(it is in /etc/nginx-agent/ca.pem)"},
			fix:     []string{"sudo sed -n '21,/-----END CERTIFICATE-----/p' /etc/nginx-agent/ca.pem | sudo tee -a /etc/nginx-agent/agent.crt >/dev/null"},
			cause:   Cause{Code: CauseIntermediateMissing}},
		{name: "intermediate in the cert file", id: "agent-chain-incomplete", want: SeverityOK,
			mutate: func(f *Facts, p *testPKI) {
				p.agent = mkCert(t, certSpec{cn: "agent-1.example.com", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, p.inter)
				f.Files.Cert = certFile(probes.RoleCert, "/etc/nginx-agent/agent.crt", p.agent.cert, p.inter.cert)
				f.Files.Key = keyFile("/etc/nginx-agent/agent.key", p.agent)
			},
			summary: []string{"carries 1 intermediate up to the root CN=nms-ca"}},
		{name: "unknown issuer the server accepts", id: "agent-chain-incomplete", want: SeverityOK,
			mutate: func(f *Facts, p *testPKI) {
				f.Files.CA = certFile(probes.RoleCA, "/etc/nginx-agent/ca.pem", p.inter.cert)
			},
			summary: []string{"chains to CN=nms-ca, which the server accepts"}},
		{name: "tls off skips", id: "agent-cert-expired", want: SeveritySkip,
			mutate: func(f *Facts, _ *testPKI) { f.Agent.TLSEnabled = fileSetting("false", 5) }},
	})
}

// TestAgentChainWhoBuildsIt: a cert file without its intermediate fails only when Go
// withholds it or NGINX cannot build the chain; when NGINX supplies the intermediate, it
// is a warning that says so.
func TestAgentChainWhoBuildsIt(t *testing.T) {
	runCases(t, []checkCase{
		{name: "NGINX advertises the intermediate and accepts", id: "agent-chain-incomplete", want: SeverityWarn,
			mutate: func(f *Facts, p *testPKI) {
				leafUnderInter(t, f, p)
				f.Endpoint.Agent.TLS.AcceptableCAs = [][]byte{p.inter.cert.RawSubject, p.root.cert.RawSubject}
			},
			summary: []string{"lacks the intermediate CN=nms-int-ca", "works today because NGINX accepted it",
				"the server lists CN=nms-int-ca among the CAs it asks for"},
			cause: Cause{Code: CauseIntermediateMissing}},
		{name: "Go withholds it: only the root is advertised", id: "agent-chain-incomplete", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				leafUnderInter(t, f, p)
				f.Endpoint.Agent.TLS.ClientCertSent = false
				f.Endpoint.Agent.HTTP = nginx400(titleNoCert)
			},
			summary: []string{"Go sends none"},
			cause:   Cause{Code: CauseIntermediateMissing}},
		{name: "NGINX rejects it", id: "agent-chain-incomplete", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				leafUnderInter(t, f, p)
				f.Endpoint.Agent.TLS.AcceptableCAs = nil
				f.Endpoint.Agent.HTTP = nginx400(titleCertError)
			},
			summary: []string{"NGINX rejected the certificate", "cannot build the chain"},
			cause:   Cause{Code: CauseIntermediateMissing}},
		{name: "no answer from the server", id: "agent-chain-incomplete", want: SeverityWarn,
			mutate: func(f *Facts, p *testPKI) {
				leafUnderInter(t, f, p)
				f.Endpoint.Agent.TLS.AcceptableCAs = nil
				f.Endpoint.Agent.HTTP = nil
			},
			summary: []string{"could not be seen from here"},
			cause:   Cause{Code: CauseIntermediateMissing}},
	})
}
