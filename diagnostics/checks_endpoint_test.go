package diagnostics

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/probes"
)

func intp(n int) *int { return &n }

// unreachable makes the endpoint refuse connections: nothing after TCP happened.
func unreachable(f *Facts) {
	f.Endpoint.TCPError = &probes.ProbeError{Kind: probes.ErrRefused, Message: "dial tcp 10.0.0.5:443: connect: connection refused"}
	f.Endpoint.Agent, f.Endpoint.NoCert = nil, nil
}

func TestNetworkChecks(t *testing.T) {
	runCases(t, []checkCase{
		{name: "name does not resolve", id: "endpoint-dns", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Endpoint.DNSAddrs = nil
				f.Endpoint.DNSError = &probes.ProbeError{Kind: probes.ErrDNSNotFound, Message: "lookup nim.example.com: no such host"}
				f.Endpoint.Agent, f.Endpoint.NoCert = nil, nil
			},
			summary: []string{"nim.example.com does not resolve"}, fix: []string{"getent ahosts nim.example.com"}},
		{name: "refused", id: "endpoint-refused", want: SeverityFail,
			mutate:  func(f *Facts, _ *testPKI) { unreachable(f) },
			summary: []string{"nothing listens on nim.example.com:443"}, fix: []string{"sudo ss -ltnp 'sport = :443'"}},
		{name: "refused leaves DNS ok", id: "endpoint-dns", want: SeverityOK,
			mutate: func(f *Facts, _ *testPKI) { unreachable(f) }},
		{name: "timeout", id: "endpoint-timeout", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Endpoint.TCPError = &probes.ProbeError{Kind: probes.ErrTimeout, Message: "i/o timeout"}
				f.Endpoint.Agent, f.Endpoint.NoCert = nil, nil
			},
			summary: []string{"timed out"}, fix: []string{"nc -vz -w 5 nim.example.com 443"}},
		{name: "handshake cut off by a 1ms --timeout", id: "endpoint-timeout", want: SeverityWarn,
			mutate: func(f *Facts, _ *testPKI) {
				f.Endpoint.StepTimeout = time.Millisecond
				f.Endpoint.Agent = &probes.Attempt{WithClientCert: true, TLS: &probes.TLSObservation{
					Error: &probes.ProbeError{Kind: probes.ErrTimeout, Deadline: true, Message: "read tcp: i/o timeout"}}}
				f.Endpoint.NoCert = nil
			},
			summary: []string{"the TLS handshake with nim.example.com:443 did not finish within --timeout 1ms, too short"},
			fix:     []string{"mtls-doctor --check --timeout 5s"}, notFix: []string{"nc -vz"}},
		{name: "kernel timeout under a short --timeout still blames the path", id: "endpoint-timeout", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Endpoint.StepTimeout = 500 * time.Millisecond
				f.Endpoint.TCPError = &probes.ProbeError{Kind: probes.ErrTimeout, Message: "connect: connection timed out"}
				f.Endpoint.Agent, f.Endpoint.NoCert = nil, nil
			},
			summary: []string{"packets are dropped"}},
		{name: "lookup cut off by a 1ms --timeout", id: "endpoint-dns", want: SeverityWarn,
			mutate: func(f *Facts, _ *testPKI) {
				f.Endpoint.StepTimeout = time.Millisecond
				f.Endpoint.DNSAddrs = nil
				f.Endpoint.DNSError = &probes.ProbeError{Kind: probes.ErrDNSFailure, Deadline: true, Message: "lookup nim.example.com: i/o timeout"}
				f.Endpoint.Agent, f.Endpoint.NoCert = nil, nil
			},
			summary: []string{"looking up nim.example.com did not finish within --timeout 1ms"},
			fix:     []string{"mtls-doctor --check --timeout 5s"}, notFix: []string{"getent"}},
		{name: "plaintext port", id: "endpoint-not-tls", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Endpoint.Agent = &probes.Attempt{WithClientCert: true, TLS: &probes.TLSObservation{
					Error: &probes.ProbeError{Kind: probes.ErrNotTLS, Message: "tls: first record does not look like a TLS handshake"}}}
				f.Endpoint.NoCert = nil
			},
			summary: []string{"plaintext port"}},
		{name: "TLS version", id: "tls-version-mismatch", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Endpoint.Agent = &probes.Attempt{WithClientCert: true, TLS: &probes.TLSObservation{
					Error: &probes.ProbeError{Kind: probes.ErrTLSAlert, Alert: 70, Message: "remote error: tls: protocol version not supported"}}}
			},
			summary: []string{"no TLS version the agent accepts"}, fix: []string{"+    ssl_protocols TLSv1.2 TLSv1.3;"}},
		{name: "unrecognized name", id: "tls-handshake-failed", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Endpoint.Agent = &probes.Attempt{WithClientCert: true, TLS: &probes.TLSObservation{
					Error: &probes.ProbeError{Kind: probes.ErrTLSAlert, Alert: 112, Message: "remote error: tls: unrecognized name"}}}
			},
			summary: []string{`rejected the server name "nim.example.com"`}, fix: []string{"Set server.command to a name the manager serves"}},
		{name: "no application protocol alert", id: "alpn-h2-missing", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Endpoint.Agent = &probes.Attempt{WithClientCert: true, TLS: &probes.TLSObservation{
					Error: &probes.ProbeError{Kind: probes.ErrTLSAlert, Alert: 120, Message: "remote error: tls: no application protocol"}}}
			},
			summary: []string{`"no application protocol" (alert 120)`}, fix: []string{"+    listen 443 ssl http2;"}},
		{name: "no application protocol is not a second handshake finding", id: "tls-handshake-failed", want: SeveritySkip,
			mutate: func(f *Facts, _ *testPKI) {
				f.Endpoint.Agent = &probes.Attempt{WithClientCert: true, TLS: &probes.TLSObservation{
					Error: &probes.ProbeError{Kind: probes.ErrTLSAlert, Alert: 120, Message: "remote error: tls: no application protocol"}}}
			}},
		{name: "no ALPN", id: "alpn-h2-missing", want: SeverityFail,
			mutate:  func(f *Facts, _ *testPKI) { f.Endpoint.Agent.TLS.ALPN = "" },
			summary: []string{`negotiated ALPN "none", not h2`}, fix: []string{"+    listen 443 ssl http2;", "http2 on"}},
		{name: "skewed clock", id: "clock-skew", want: SeverityWarn,
			mutate:  func(f *Facts, _ *testPKI) { f.Endpoint.Agent.HTTP.Date = testNow.Add(-10 * time.Minute) },
			summary: []string{"this host's clock is 10m0s ahead of the server's"}, fix: []string{"timedatectl set-ntp true"}},
		{name: "skew within tolerance", id: "clock-skew", want: SeverityOK,
			mutate: func(f *Facts, _ *testPKI) { f.Endpoint.Agent.HTTP.Date = testNow.Add(4 * time.Minute) }},
	})
}

func TestServerCertChecks(t *testing.T) {
	otherCA := func(f *Facts, t *testing.T) {
		other := mkCert(t, certSpec{cn: "other-ca", ca: true}, nil)
		f.Files.CA = certFile(probes.RoleCA, "/etc/nginx-agent/ca.pem", other.cert)
	}
	runCases(t, []checkCase{
		{name: "agent trusts another CA", id: "server-cert-untrusted", want: SeverityFail,
			mutate:  func(f *Facts, _ *testPKI) { otherCA(f, t) },
			summary: []string{"does not chain to the agent's CA file /etc/nginx-agent/ca.pem", "unknown authority"},
			fix:     []string{"sudo cp -p /etc/nginx-agent/ca.pem /etc/nginx-agent/ca.pem.bak", "sudo cat '<manager-ca-path>' | sudo tee -a /etc/nginx-agent/ca.pem"}},
		{name: "another CA is not a chain problem", id: "server-chain-incomplete", want: SeverityOK,
			mutate: func(f *Facts, _ *testPKI) { otherCA(f, t) }},
		{name: "server omits its intermediate", id: "server-chain-incomplete", want: SeverityFail,
			mutate:  func(f *Facts, p *testPKI) { f.Endpoint.Agent.TLS.PeerChain = []*x509.Certificate{p.server.cert} },
			summary: []string{"without the certificate that issued it (CN=nms-int-ca)"},
			fix:     []string{"sudo cat '<intermediate-path>' | sudo tee -a '<server-cert-path>'"}},
		{name: "omitted intermediate held by the agent", id: "server-chain-incomplete", want: SeverityWarn,
			mutate: func(f *Facts, p *testPKI) {
				f.Endpoint.Agent.TLS.PeerChain = []*x509.Certificate{p.server.cert}
				f.Files.CA = certFile(probes.RoleCA, "/etc/nginx-agent/ca.pem", p.root.cert, p.inter.cert)
			},
			summary: []string{"does not send the intermediate CN=nms-int-ca"}},
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
			fix:     []string{"+  command: nim.example.com", "DNS:nim.internal"}},
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
			fix:     []string{"+  command: nim.example.com", "IP:10.0.0.5"}},
		{name: "CN only", id: "server-cert-cn-only", want: SeverityFail,
			mutate:  func(f *Facts, p *testPKI) { reissueServer(t, f, p, certSpec{}) },
			summary: []string{"CN=nim.example.com has no SANs"}, fix: []string{"subjectAltName=DNS:nim.example.com"}},
		{name: "CN only is not a name mismatch", id: "server-name-mismatch", want: SeveritySkip,
			mutate: func(f *Facts, p *testPKI) { reissueServer(t, f, p, certSpec{}) }},
		{name: "placeholder SAN", id: "server-cert-placeholder-san", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				reissueServer(t, f, p, certSpec{cn: "<NGINX-INSTANCE-MANAGER-FQDN>", dns: []string{"<NGINX-INSTANCE-MANAGER-FQDN>"}})
			},
			summary: []string{"placeholder <NGINX-INSTANCE-MANAGER-FQDN>"}, fix: []string{"subjectAltName=DNS:nim.example.com"}},
		{name: "server expired", id: "server-cert-expired", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				reissueServer(t, f, p, certSpec{dns: []string{"nim.example.com"}, notBefore: testNow.AddDate(-1, 0, 0), notAfter: testNow.Add(-days(1))})
			},
			summary: []string{"server certificate CN=nim.example.com expired 2026-05-31 12:00:00 UTC"}},
		{name: "expired server is still judged for trust", id: "server-cert-untrusted", want: SeverityOK,
			mutate: func(f *Facts, p *testPKI) {
				reissueServer(t, f, p, certSpec{dns: []string{"nim.example.com"}, notBefore: testNow.AddDate(-1, 0, 0), notAfter: testNow.Add(-days(1))})
			}},
		{name: "server not yet valid", id: "server-cert-not-yet-valid", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				reissueServer(t, f, p, certSpec{dns: []string{"nim.example.com"}, notBefore: testNow.Add(days(1)), notAfter: testNow.AddDate(1, 0, 0)})
			},
			summary: []string{"valid only from 2026-06-02 12:00:00 UTC"}},
		{name: "server expiring", id: "server-cert-expiring", want: SeverityWarn,
			mutate: func(f *Facts, p *testPKI) {
				reissueServer(t, f, p, certSpec{dns: []string{"nim.example.com"}, notBefore: testNow.AddDate(-1, 0, 0), notAfter: testNow.Add(days(10))})
			},
			summary: []string{"10 days left"}},
		{name: "server EKU clientAuth", id: "server-cert-wrong-purpose", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				reissueServer(t, f, p, certSpec{dns: []string{"nim.example.com"}, eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
			},
			summary: []string{"extended key usage clientAuth, without serverAuth"}, fix: []string{"extendedKeyUsage=serverAuth"}},
		{name: "unreachable endpoint skips server checks", id: "server-cert-expired", want: SeveritySkip,
			mutate:  func(f *Facts, _ *testPKI) { unreachable(f) },
			summary: []string{"no TLS handshake"}},
	})
}

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
			fix:     []string{"Acceptable client certificate CA names", "sudo cat '<agents-ca-path>' | sudo tee -a '<client-ca-path>'"}},
		{name: "missing intermediate hides the cert", id: "agent-cert-unknown-ca", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				p.agent = mkCert(t, certSpec{cn: "agent-1.example.com", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, p.inter)
				f.Files.Cert.Certs = []*x509.Certificate{p.agent.cert}
				f.Files.Key = keyFile("/etc/nginx-agent/agent.key", p.agent)
				f.Files.CA = certFile(probes.RoleCA, "/etc/nginx-agent/ca.pem", p.root.cert, p.inter.cert)
				f.Endpoint.Agent.TLS.ClientCertSent = false
			},
			summary: []string{"issued by CN=nms-ca, but the agent's is issued by CN=nms-int-ca"},
			fix:     []string{"sudo sed -n '21,/-----END CERTIFICATE-----/p' /etc/nginx-agent/ca.pem | sudo tee -a /etc/nginx-agent/agent.crt >/dev/null"}},
		{name: "495 with an expired agent cert", id: "agent-cert-rejected", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				reissueAgent(t, f, p, certSpec{notBefore: testNow.AddDate(-1, 0, 0), notAfter: testNow.Add(-days(2))})
				f.Endpoint.Agent.HTTP = nginx400(titleCertError)
			},
			summary: []string{`the TLS handshake succeeded; NGINX then answered 400 "The SSL certificate error"`, "likely: the certificate expired"},
			fix:     []string{"client SSL certificate verify error"}},
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
			}},
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
			summary: []string{`400 "No required SSL certificate was sent" (496)`}},
		{name: "mapped to grpc-status 16", id: "agent-cert-rejected", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Endpoint.Agent.HTTP = &probes.HTTPObservation{Status: 200, ContentType: "application/grpc", GRPCStatus: intp(16), GRPCMessage: "401. Unauthorized."}
			},
			summary: []string{"grpc-status 16 Unauthenticated"}},
		{name: "rejection skips the grpc checks", id: "grpc-backend-unavailable", want: SeveritySkip,
			mutate:  func(f *Facts, _ *testPKI) { f.Endpoint.Agent.HTTP = nginx400(titleCertError) },
			summary: []string{"see agent-cert-rejected"}},
		{name: "two intermediates", id: "client-verify-depth", want: SeverityWarn,
			mutate: func(f *Facts, p *testPKI) {
				int2 := mkCert(t, certSpec{cn: "agents-ca", ca: true}, p.inter)
				p.agent = mkCert(t, certSpec{cn: "agent-1.example.com", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, int2)
				f.Files.Cert = certFile(probes.RoleCert, "/etc/nginx-agent/agent.crt", p.agent.cert, int2.cert, p.inter.cert)
				f.Files.Key = keyFile("/etc/nginx-agent/agent.key", p.agent)
			},
			summary: []string{"under 2 intermediates: NGINX needs ssl_verify_depth 2"}, fix: []string{"+    ssl_verify_depth 2;"}},
		{name: "two intermediates and rejected", id: "client-verify-depth", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				int2 := mkCert(t, certSpec{cn: "agents-ca", ca: true}, p.inter)
				p.agent = mkCert(t, certSpec{cn: "agent-1.example.com", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, int2)
				f.Files.Cert = certFile(probes.RoleCert, "/etc/nginx-agent/agent.crt", p.agent.cert, int2.cert, p.inter.cert)
				f.Files.Key = keyFile("/etc/nginx-agent/agent.key", p.agent)
				f.Endpoint.Agent.HTTP = nginx400(titleCertError)
			},
			summary: []string{"NGINX rejected it"}},
		{name: "no cert reaches gRPC", id: "client-auth-not-required", want: SeverityWarn,
			mutate:  func(f *Facts, _ *testPKI) { f.Endpoint.NoCert.HTTP = grpcOK() },
			summary: []string{"without a client certificate reached the gRPC service"}, fix: []string{"+    ssl_verify_client on;"}},
		{name: "cert never requested", id: "client-auth-not-required", want: SeverityWarn,
			mutate: func(f *Facts, _ *testPKI) {
				f.Endpoint.Agent.TLS.CertRequested = false
				f.Endpoint.NoCert.TLS.CertRequested = false
			},
			summary: []string{"never asked for a client certificate"}},
		{name: "revocation needs the manager", id: "agent-cert-revoked", want: SeveritySkip,
			mutate:  func(*Facts, *testPKI) {},
			summary: []string{"needs the manager's ssl_crl or NGINX's log"}},
	})
}

func TestGRPCChecks(t *testing.T) {
	html := func(status int) *probes.HTTPObservation {
		return &probes.HTTPObservation{Status: status, ContentType: "text/html", BodyTitle: statusText(status), Date: testNow}
	}
	runCases(t, []checkCase{
		{name: "502", id: "grpc-backend-unavailable", want: SeverityFail,
			mutate:  func(f *Facts, _ *testPKI) { f.Endpoint.Agent.HTTP = html(502) },
			summary: []string{"NGINX answered 502 Bad Gateway"}, fix: []string{"sudo systemctl restart nms"}},
		{name: "grpc unavailable", id: "grpc-backend-unavailable", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Endpoint.Agent.HTTP = &probes.HTTPObservation{Status: 200, ContentType: "application/grpc", GRPCStatus: intp(14)}
			},
			summary: []string{"grpc-status 14"}},
		{name: "404", id: "grpc-path-missing", want: SeverityFail,
			mutate:  func(f *Facts, _ *testPKI) { f.Endpoint.Agent.HTTP = html(404) },
			summary: []string{"no location for /f5.nginx.agent.sdk.Commander/CommandChannel"}},
		{name: "v3 agent unimplemented", id: "grpc-path-missing", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.Format = probes.FormatV3
				f.Endpoint.Path = probes.PathV3CreateConnection
				f.Endpoint.Agent.HTTP = &probes.HTTPObservation{Status: 200, ContentType: "application/grpc", GRPCStatus: intp(12)}
			},
			summary: []string{"does not implement /mpi.v1.CommandService/CreateConnection"}, fix: []string{"agent 2.x only"}},
		{name: "421", id: "misdirected-request", want: SeverityFail,
			mutate:  func(f *Facts, _ *testPKI) { f.Endpoint.Agent.HTTP = html(421) },
			summary: []string{"421 Misdirected Request"}},
	})
}
