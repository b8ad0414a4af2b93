package diagnostics

import (
	"crypto/x509"
	"testing"

	"github.com/mtls-doctor/mtls-doctor/probes"
)

func TestServerCertChecks(t *testing.T) {
	otherCA := func(f *Facts, t *testing.T) {
		other := mkCert(t, certSpec{cn: "other-ca", ca: true}, nil)
		f.Files.CA = certFile(probes.RoleCA, "/etc/nginx-agent/ca.pem", other.cert)
	}
	runCases(t, []checkCase{
		{name: "agent trusts another CA", id: "server-cert-untrusted", want: SeverityFail,
			mutate:  func(f *Facts, _ *testPKI) { otherCA(f, t) },
			summary: []string{"does not chain to the agent's CA file /etc/nginx-agent/ca.pem", "unknown authority"},
			fix:     []string{"sudo cp -p /etc/nginx-agent/ca.pem /etc/nginx-agent/ca.pem.bak", "sudo cat '<manager-ca-path>' | sudo tee -a /etc/nginx-agent/ca.pem"},
			cause:   Cause{Code: CauseUntrusted}},
		{name: "another CA is not a chain problem", id: "server-chain-incomplete", want: SeverityOK,
			mutate: func(f *Facts, _ *testPKI) { otherCA(f, t) }},
		{name: "server omits its intermediate", id: "server-chain-incomplete", want: SeverityFail,
			mutate:  func(f *Facts, p *testPKI) { f.Endpoint.Agent.TLS.PeerChain = []*x509.Certificate{p.server.cert} },
			summary: []string{"without the certificate that issued it (CN=nms-int-ca)"},
			fix:     []string{"sudo cat '<intermediate-path>' | sudo tee -a '<server-cert-path>'"},
			cause:   Cause{Code: CauseIntermediateMissing}},
		{name: "omitted intermediate held by the agent", id: "server-chain-incomplete", want: SeverityWarn,
			mutate: func(f *Facts, p *testPKI) {
				f.Endpoint.Agent.TLS.PeerChain = []*x509.Certificate{p.server.cert}
				f.Files.CA = certFile(probes.RoleCA, "/etc/nginx-agent/ca.pem", p.root.cert, p.inter.cert)
			},
			summary: []string{"does not send the intermediate CN=nms-int-ca"},
			cause:   Cause{Code: CauseIntermediateMissing}},
		{name: "omitted intermediate held by the agent still trusts", id: "server-cert-untrusted", want: SeverityOK,
			mutate: func(f *Facts, p *testPKI) {
				f.Endpoint.Agent.TLS.PeerChain = []*x509.Certificate{p.server.cert}
				f.Files.CA = certFile(probes.RoleCA, "/etc/nginx-agent/ca.pem", p.root.cert, p.inter.cert)
			}},
		{name: "system roots", id: "server-cert-untrusted", want: SeverityOK,
			mutate: func(f *Facts, p *testPKI) {
				f.Agent.CA, f.Files.CA = probes.Setting{}, nil
				f.Files.SystemRoots = x509.NewCertPool()
				f.Files.SystemRoots.AddCert(p.root.cert)
			},
			summary: []string{"chains to the system trust store"}},
		{name: "no system roots", id: "server-cert-untrusted", want: SeveritySkip,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.CA, f.Files.CA = probes.Setting{}, nil
				f.Files.SystemRootsError = "open /etc/ssl/certs/ca-certificates.crt: no such file or directory"
			},
			summary: []string{"no such file"}},
		{name: "server name not in SANs", id: "server-name-mismatch", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Endpoint.VerifyName, f.Endpoint.ServerName = "nim.internal", "nim.internal"
			},
			summary: []string{"CN=nim.example.com is not valid for nim.internal (SANs: nim.example.com, localhost)"},
			fix:     []string{"+  command: nim.example.com", "DNS:nim.internal"},
			cause:   Cause{Code: CauseNameMismatch}},
		{name: "IP host matches IP SAN", id: "server-name-mismatch", want: SeverityOK,
			mutate: func(f *Facts, p *testPKI) {
				f.Agent.Host = fileSetting("10.0.0.5", 2)
				f.Endpoint.Address, f.Endpoint.ServerName, f.Endpoint.VerifyName = "10.0.0.5:443", "", "10.0.0.5"
				reissueServer(t, f, p, certSpec{dns: []string{"nim.example.com"}, ips: []string{"10.0.0.5"}})
			},
			summary: []string{"valid for 10.0.0.5"}},
		{name: "IP host without IP SAN", id: "server-name-mismatch", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.Host = fileSetting("10.0.0.5", 2)
				f.Endpoint.Address, f.Endpoint.ServerName, f.Endpoint.VerifyName = "10.0.0.5:443", "", "10.0.0.5"
			},
			summary: []string{"verifies the IP 10.0.0.5, but CN=nim.example.com has no IP SANs"},
			fix:     []string{"+  command: nim.example.com", "IP:10.0.0.5"},
			cause:   Cause{Code: CauseNameMismatch}},
		{name: "CN only", id: "server-cert-cn-only", want: SeverityFail,
			mutate:  func(f *Facts, p *testPKI) { reissueServer(t, f, p, certSpec{}) },
			summary: []string{"CN=nim.example.com has no SANs"}, fix: []string{"subjectAltName=DNS:nim.example.com"},
			cause: Cause{Code: CauseNoSANs}},
		{name: "CN only is not a name mismatch", id: "server-name-mismatch", want: SeveritySkip,
			mutate: func(f *Facts, p *testPKI) { reissueServer(t, f, p, certSpec{}) }},
		{name: "placeholder SAN", id: "server-cert-placeholder-san", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				reissueServer(t, f, p, certSpec{cn: "<NGINX-INSTANCE-MANAGER-FQDN>", dns: []string{"<NGINX-INSTANCE-MANAGER-FQDN>"}})
			},
			summary: []string{"placeholder <NGINX-INSTANCE-MANAGER-FQDN>"}, fix: []string{"subjectAltName=DNS:nim.example.com"},
			cause: Cause{Code: CausePlaceholderName}},
		{name: "server expired", id: "server-cert-expired", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				reissueServer(t, f, p, certSpec{dns: []string{"nim.example.com"}, notBefore: testNow.AddDate(-1, 0, 0), notAfter: testNow.Add(-days(1))})
			},
			summary: []string{"server certificate CN=nim.example.com expired 2026-05-31 12:00:00 UTC"},
			cause:   Cause{Code: CauseExpired}},
		{name: "expired server is still judged for trust", id: "server-cert-untrusted", want: SeverityOK,
			mutate: func(f *Facts, p *testPKI) {
				reissueServer(t, f, p, certSpec{dns: []string{"nim.example.com"}, notBefore: testNow.AddDate(-1, 0, 0), notAfter: testNow.Add(-days(1))})
			}},
		{name: "server not yet valid", id: "server-cert-not-yet-valid", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				reissueServer(t, f, p, certSpec{dns: []string{"nim.example.com"}, notBefore: testNow.Add(days(1)), notAfter: testNow.AddDate(1, 0, 0)})
			},
			summary: []string{"valid only from 2026-06-02 12:00:00 UTC"},
			cause:   Cause{Code: CauseNotYetValid}},
		{name: "server expiring", id: "server-cert-expiring", want: SeverityWarn,
			mutate: func(f *Facts, p *testPKI) {
				reissueServer(t, f, p, certSpec{dns: []string{"nim.example.com"}, notBefore: testNow.AddDate(-1, 0, 0), notAfter: testNow.Add(days(10))})
			},
			summary: []string{"10 days left"},
			cause:   Cause{Code: CauseExpiring}},
		{name: "server EKU clientAuth", id: "server-cert-wrong-purpose", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				reissueServer(t, f, p, certSpec{dns: []string{"nim.example.com"}, eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
			},
			summary: []string{"extended key usage clientAuth, without serverAuth"}, fix: []string{"extendedKeyUsage=serverAuth"},
			cause: Cause{Code: CauseWrongPurpose}},
		{name: "unreachable endpoint skips server checks", id: "server-cert-expired", want: SeveritySkip,
			mutate:  func(f *Facts, _ *testPKI) { unreachable(f) },
			summary: []string{"no TLS handshake"}},
	})
}
