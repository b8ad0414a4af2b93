package diagnostics

import (
	"crypto/x509"
	"testing"

	"github.com/mtls-doctor/mtls-doctor/probes"
)

// leafUnderInter makes the agent's certificate come from the intermediate, with only the
// leaf in the cert file and the intermediate in the agent's CA file.
func leafUnderInter(t *testing.T, f *Facts, p *testPKI) {
	p.agent = mkCert(t, certSpec{cn: "agent-1.example.com", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, p.inter)
	f.Files.Cert.Certs = []*x509.Certificate{p.agent.cert}
	f.Files.Key = keyFile("/etc/nginx-agent/agent.key", p.agent)
	f.Files.CA = certFile(probes.RoleCA, "/etc/nginx-agent/ca.pem", p.root.cert, p.inter.cert)
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
				"the server lists CN=nms-int-ca among the CAs it asks for"}},
		{name: "Go withholds it: only the root is advertised", id: "agent-chain-incomplete", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				leafUnderInter(t, f, p)
				f.Endpoint.Agent.TLS.ClientCertSent = false
				f.Endpoint.Agent.HTTP = nginx400(titleNoCert)
			},
			summary: []string{"Go sends none"}},
		{name: "NGINX rejects it", id: "agent-chain-incomplete", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				leafUnderInter(t, f, p)
				f.Endpoint.Agent.TLS.AcceptableCAs = nil
				f.Endpoint.Agent.HTTP = nginx400(titleCertError)
			},
			summary: []string{"NGINX rejected the certificate", "cannot build the chain"}},
		{name: "no answer from the server", id: "agent-chain-incomplete", want: SeverityWarn,
			mutate: func(f *Facts, p *testPKI) {
				leafUnderInter(t, f, p)
				f.Endpoint.Agent.TLS.AcceptableCAs = nil
				f.Endpoint.Agent.HTTP = nil
			},
			summary: []string{"could not be seen from here"}},
	})
}
