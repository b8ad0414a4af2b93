package diagnostics

import (
	"crypto/x509"
	"testing"

	"github.com/mtls-doctor/mtls-doctor/probes"
)

func TestClientAuthChecks(t *testing.T) {
	runCases(t, []checkCase{
		{name: "agent cert from a CA the server does not list", id: "agent-cert-unknown-ca", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				other := mkCert(t, certSpec{cn: "other-ca", ca: true}, nil)
				f.Endpoint.Agent.TLS.AcceptableCAs = [][]byte{other.cert.RawSubject}
				f.Endpoint.Agent.TLS.ClientCertSent = false
				f.Endpoint.Agent.HTTP = nginx400(titleNoCert)
			},
			summary: []string{"asks for a certificate issued by CN=other-ca, but the agent's is issued by CN=nms-ca", "Go sends none"},
			fix:     []string{"Acceptable client certificate CA names", "sudo cat '<agents-ca-path>' | sudo tee -a '<client-ca-path>'"},
			cause:   Cause{Code: CauseNoCertSent}},
		{name: "missing intermediate hides the cert", id: "agent-cert-unknown-ca", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				p.agent = mkCert(t, certSpec{cn: "agent-1.example.com", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, p.inter)
				f.Files.Cert.Certs = []*x509.Certificate{p.agent.cert}
				f.Files.Key = keyFile("/etc/nginx-agent/agent.key", p.agent)
				f.Files.CA = certFile(probes.RoleCA, "/etc/nginx-agent/ca.pem", p.root.cert, p.inter.cert)
				f.Endpoint.Agent.TLS.ClientCertSent = false
			},
			summary: []string{"issued by CN=nms-ca, but the agent's is issued by CN=nms-int-ca"},
			fix:     []string{"sudo sed -n '21,/-----END CERTIFICATE-----/p' /etc/nginx-agent/ca.pem | sudo tee -a /etc/nginx-agent/agent.crt >/dev/null"},
			cause:   Cause{Code: CauseNoCertSent}},
		{name: "495 with an expired agent cert", id: "agent-cert-rejected", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				reissueAgent(t, f, p, certSpec{notBefore: testNow.AddDate(-1, 0, 0), notAfter: testNow.Add(-days(2))})
				f.Endpoint.Agent.HTTP = nginx400(titleCertError)
			},
			summary: []string{`the TLS handshake succeeded; NGINX then answered 400 "The SSL certificate error"`, "likely: the certificate expired"},
			fix:     []string{"client SSL certificate verify error"},
			cause:   Cause{Code: CauseRejected}},
		// A 496 whose cause has its own failing ID: agent-cert-rejected is info naming it.
		{name: "496 although a cert is configured", id: "agent-cert-rejected", want: SeverityInfo,
			mutate: func(f *Facts, _ *testPKI) {
				f.Endpoint.Agent.TLS.ClientCertSent = false
				f.Endpoint.Agent.HTTP = nginx400(titleNoCert)
			},
			summary: []string{`400 "No required SSL certificate was sent" (496)`, "no certificate was sent although the agent's issuer CN=nms-ca",
				"the cause is reported as agent-cert-unknown-ca"}},
		{name: "496, the same cause's own ID", id: "agent-cert-unknown-ca", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Endpoint.Agent.TLS.ClientCertSent = false
				f.Endpoint.Agent.HTTP = nginx400(titleNoCert)
			},
			cause: Cause{Code: CauseNoCertSent}},
		{name: "496 from a CA the server does not list", id: "agent-cert-rejected", want: SeverityInfo,
			mutate: func(f *Facts, _ *testPKI) {
				other := mkCert(t, certSpec{cn: "other-ca", ca: true}, nil)
				f.Endpoint.Agent.TLS.AcceptableCAs = [][]byte{other.cert.RawSubject}
				f.Endpoint.Agent.TLS.ClientCertSent = false
				f.Endpoint.Agent.HTTP = &probes.HTTPObservation{Status: 200, ContentType: "application/grpc", GRPCStatus: intp(16), GRPCMessage: "client certificate rejected"}
			},
			summary: []string{"grpc-status 16", "asks for a certificate issued by CN=other-ca", "the cause is reported as agent-cert-unknown-ca"}},
		{name: "496 with no certificate configured", id: "agent-cert-rejected", want: SeverityInfo,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.Cert, f.Agent.Key = probes.Setting{}, probes.Setting{}
				f.Files.Cert, f.Files.Key = nil, nil
				f.Endpoint.Agent.WithClientCert = false
				f.Endpoint.Agent.TLS.ClientCertSent = false
				f.Endpoint.Agent.HTTP = nginx400(titleNoCert)
			},
			summary: []string{"no client certificate configured", "the cause is reported as agent-cert-not-configured"}},
		// Nothing on this host explains the 496: it stays the failure.
		{name: "496 with the certificate sent", id: "agent-cert-rejected", want: SeverityFail,
			mutate:  func(f *Facts, _ *testPKI) { f.Endpoint.Agent.HTTP = nginx400(titleNoCert) },
			summary: []string{`400 "No required SSL certificate was sent" (496)`},
			cause:   Cause{Code: CauseRejected}},
		{name: "mapped to grpc-status 16", id: "agent-cert-rejected", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Endpoint.Agent.HTTP = &probes.HTTPObservation{Status: 200, ContentType: "application/grpc", GRPCStatus: intp(16), GRPCMessage: "401. Unauthorized."}
			},
			summary: []string{"grpc-status 16 Unauthenticated"},
			cause:   Cause{Code: CauseRejected}},
		{name: "rejection skips the grpc checks", id: "grpc-backend-unavailable", want: SeveritySkip,
			mutate:  func(f *Facts, _ *testPKI) { f.Endpoint.Agent.HTTP = nginx400(titleCertError) },
			summary: []string{"see agent-cert-rejected"}},
		{name: "two intermediates", id: "client-verify-depth", want: SeverityWarn,
			mutate: func(f *Facts, p *testPKI) {
				int2 := mkCert(t, certSpec{cn: "agents-ca", ca: true}, p.inter)
				p.agent = mkCert(t, certSpec{cn: "agent-1.example.com", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, int2)
				f.Files.Cert = certFile(probes.RoleCert, "/etc/nginx-agent/agent.crt", p.agent.cert, int2.cert, p.inter.cert)
				f.Files.Key = keyFile("/etc/nginx-agent/agent.key", p.agent)
				f.Endpoint.Agent.HTTP = nil // no answer: the agent's host cannot tell NGINX's depth
			},
			summary: []string{"under 2 intermediates: NGINX needs ssl_verify_depth 2"}, fix: []string{"+    ssl_verify_depth 2;"},
			cause: Cause{Code: CauseVerifyDepth}},
		{name: "two intermediates that NGINX accepted", id: "client-verify-depth", want: SeverityOK,
			mutate: func(f *Facts, p *testPKI) {
				int2 := mkCert(t, certSpec{cn: "agents-ca", ca: true}, p.inter)
				p.agent = mkCert(t, certSpec{cn: "agent-1.example.com", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, int2)
				f.Files.Cert = certFile(probes.RoleCert, "/etc/nginx-agent/agent.crt", p.agent.cert, int2.cert, p.inter.cert)
				f.Files.Key = keyFile("/etc/nginx-agent/agent.key", p.agent)
			},
			summary: []string{"NGINX accepted it"}},
		{name: "two intermediates and rejected", id: "client-verify-depth", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				int2 := mkCert(t, certSpec{cn: "agents-ca", ca: true}, p.inter)
				p.agent = mkCert(t, certSpec{cn: "agent-1.example.com", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, int2)
				f.Files.Cert = certFile(probes.RoleCert, "/etc/nginx-agent/agent.crt", p.agent.cert, int2.cert, p.inter.cert)
				f.Files.Key = keyFile("/etc/nginx-agent/agent.key", p.agent)
				f.Endpoint.Agent.HTTP = nginx400(titleCertError)
			},
			summary: []string{"NGINX rejected it"},
			cause:   Cause{Code: CauseVerifyDepth}},
		{name: "no cert reaches gRPC", id: "client-auth-not-required", want: SeverityWarn,
			mutate:  func(f *Facts, _ *testPKI) { f.Endpoint.NoCert.HTTP = grpcOK() },
			summary: []string{"without a client certificate reached the gRPC service"}, fix: []string{"+    ssl_verify_client on;"},
			cause: Cause{Code: CauseNotEnforced}},
		{name: "cert never requested", id: "client-auth-not-required", want: SeverityWarn,
			mutate: func(f *Facts, _ *testPKI) {
				f.Endpoint.Agent.TLS.CertRequested = false
				f.Endpoint.NoCert.TLS.CertRequested = false
			},
			summary: []string{"never asked for a client certificate"},
			cause:   Cause{Code: CauseNotRequired}},
		{name: "revocation needs the manager", id: "agent-cert-revoked", want: SeveritySkip,
			mutate:  func(*Facts, *testPKI) {},
			summary: []string{"needs the manager's ssl_crl or NGINX's log"}},
	})
}
