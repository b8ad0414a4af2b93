package diagnostics

import (
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/internal/opensslverdict"
	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// healthyConf is the manager's NGINX of the healthy host: NGINX Instance Manager's agent
// server with mTLS enforced, a CRL, [info] logging and the gRPC error mapping. Line numbers
// matter to the tests: the server block starts on line 3.
const healthyConf = `events {}
http {
    server {
        listen 443 ssl http2;
        server_name nim.example.com;
        ssl_certificate /etc/nms/certs/manager-server.pem;
        ssl_certificate_key /etc/nms/certs/manager-server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_client_certificate /etc/nms/certs/ca.pem;
        ssl_verify_client on;
        ssl_crl /etc/nms/certs/crl.pem;
        error_log /var/log/nginx/error.log info;
        error_page 495 496 = @grpc_unauthenticated;
        location /f5.nginx.agent.sdk.Commander {
            grpc_pass grpc://127.0.0.1:10000;
        }
        location /f5.nginx.agent.sdk.MetricsService {
            grpc_pass grpc://127.0.0.1:10000;
        }
        location @grpc_unauthenticated {
            default_type application/grpc;
            add_header grpc-status 16;
            add_header grpc-message "client certificate rejected";
            return 200;
        }
    }
}
`

const testNginxMain = "/etc/nginx/nginx.conf"

// crlOf returns a CRL issued by ca at testNow (valid a week) that revokes the given certs.
func crlOf(ca *testCert, thisUpdate time.Time, revoked ...*testCert) *x509.RevocationList {
	var entries []x509.RevocationListEntry
	for _, r := range revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: r.cert.SerialNumber, RevocationTime: thisUpdate})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(1), ThisUpdate: thisUpdate, NextUpdate: thisUpdate.Add(7 * 24 * time.Hour),
		RevokedCertificateEntries: entries,
	}, ca.cert, ca.key)
	if err != nil {
		panic(err)
	}
	rl, err := x509.ParseRevocationList(der)
	if err != nil {
		panic(err)
	}
	return rl
}

// testFiles are the manager's files by path, as LoadNginx would find them.
type testFiles struct {
	tls  map[string]*probes.FileFacts
	crls map[string]*probes.CRLFacts
}

func healthyFiles(p *testPKI) testFiles {
	return testFiles{
		tls: map[string]*probes.FileFacts{
			"/etc/nms/certs/manager-server.pem": certFile(probes.RoleCert, "/etc/nms/certs/manager-server.pem", p.server.cert, p.inter.cert),
			"/etc/nms/certs/manager-server.key": keyFile("/etc/nms/certs/manager-server.key", p.server),
			"/etc/nms/certs/ca.pem":             certFile(probes.RoleCA, "/etc/nms/certs/ca.pem", p.root.cert),
		},
		crls: map[string]*probes.CRLFacts{
			"/etc/nms/certs/crl.pem": {Path: "/etc/nms/certs/crl.pem", Exists: true,
				CRLs: []*x509.RevocationList{crlOf(p.root, testNow.Add(-time.Hour))}},
		},
	}
}

// nginxFacts parses conf as the main file and attaches files as LoadNginx would.
func nginxFacts(conf string, files testFiles) *probes.NginxFacts {
	cfg, _ := nginxconf.Parse(testNginxMain, []byte(conf), nginxconf.Options{})
	n := probes.NewNginxFacts(cfg, probes.NginxFile, 0)
	n.Main = testNginxMain
	n.Binary, n.Version = "/usr/sbin/nginx", "1.22.1"
	tlsFile := func(role probes.FileRole, st nginxconf.Setting) *probes.FileFacts {
		if !st.IsSet() || st.Path == "" {
			return nil
		}
		if ff, ok := files.tls[st.Path]; ok {
			return ff
		}
		return &probes.FileFacts{Role: role, Path: st.Path}
	}
	for _, s := range n.Servers {
		for _, c := range s.SSL.Certificates {
			s.Certs = append(s.Certs, tlsFile(probes.RoleCert, c))
		}
		for _, k := range s.SSL.CertificateKeys {
			s.Keys = append(s.Keys, tlsFile(probes.RoleKey, k))
		}
		s.ClientCA = tlsFile(probes.RoleCA, s.SSL.ClientCertificate)
		s.TrustedCA = tlsFile(probes.RoleCA, s.SSL.TrustedCertificate)
		if st := s.SSL.CRL; st.IsSet() {
			if c, ok := files.crls[st.Path]; ok {
				s.CRL = c
			} else {
				s.CRL = &probes.CRLFacts{Path: st.Path}
			}
		}
	}
	return n
}

func healthyNginx(p *testPKI) *probes.NginxFacts {
	n := nginxFacts(healthyConf, healthyFiles(p))
	n.Test = &probes.NginxTest{OK: true}
	return n
}

// setConf replaces the manager's configuration, keeping the files (and any added to files).
func setConf(f *Facts, p *testPKI, conf string, edit ...func(testFiles)) {
	files := healthyFiles(p)
	for _, e := range edit {
		e(files)
	}
	old := f.Nginx
	f.Nginx = nginxFacts(conf, files)
	if old != nil {
		f.Nginx.Version, f.Nginx.Explicit, f.Nginx.AgentCert = old.Version, old.Explicit, old.AgentCert
	}
}

// confWith is healthyConf with each old line replaced by new ("" deletes it).
func confWith(pairs ...string) string {
	conf := healthyConf
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(conf, pairs[i]) {
			panic("healthyConf lacks " + pairs[i])
		}
		conf = strings.Replace(conf, pairs[i], pairs[i+1], 1)
	}
	return conf
}

// nimAuthRequest turns healthyConf into NIM 2.x's enforcement: ssl_verify_client optional
// and an auth_request to /check-agent-client-cert in both agent locations.
var nimAuthRequest = []string{"ssl_verify_client on;", "ssl_verify_client optional;",
	"grpc_pass grpc://127.0.0.1:10000;\n        }\n        location /f5.nginx.agent.sdk.MetricsService {",
	"grpc_pass grpc://127.0.0.1:10000;\n            auth_request /check-agent-client-cert;\n        }\n        location /f5.nginx.agent.sdk.MetricsService {\n            auth_request /check-agent-client-cert;",
	"location @grpc_unauthenticated {",
	"location /check-agent-client-cert {\n            internal;\n            if ($ssl_client_verify !~* 'SUCCESS') { return 401; }\n            return 200;\n        }\n        location @grpc_unauthenticated {"}

func TestManagerChecks(t *testing.T) {
	agentExpired := func(f *Facts, p *testPKI) {
		p.agent = mkCert(t, certSpec{cn: "agent-1.example.com", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			notBefore: testNow.AddDate(-1, 0, -2), notAfter: testNow.AddDate(0, 0, -2)}, p.root)
		f.Files.Cert.Certs = []*x509.Certificate{p.agent.cert}
	}
	cases := []checkCase{
		{name: "no agent locations", id: "nginx-agent-server-missing", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				f.Nginx.Explicit = true
				setConf(f, p, confWith("location /f5.nginx.agent.sdk.Commander", "location /api",
					"location /f5.nginx.agent.sdk.MetricsService", "location /ui"))
			},
			summary: []string{"no server in /etc/nginx/nginx.conf passes the agent gRPC paths"},
			fix:     []string{"location /f5.nginx.agent.sdk.Commander {", "grpc_pass grpc://"},
			cause:   Cause{Code: CauseNoAgentServer}},
		{name: "unbalanced braces", id: "nginx-config-invalid", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				setConf(f, p, confWith("return 200;", "return 200; }"))
			},
			summary: []string{`nginx -t would fail: unexpected "}" in /etc/nginx/nginx.conf:27`},
			fix:     []string{"/etc/nginx/nginx.conf:27", "sudo nginx -t && sudo nginx -s reload"},
			cause:   Cause{Code: CauseConfigInvalid}},
		{name: "http2 on before 1.25.1", id: "nginx-config-invalid", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				setConf(f, p, confWith("listen 443 ssl http2;", "listen 443 ssl;\n        http2 on;"))
			},
			summary: []string{`unknown directive "http2"`, "/etc/nginx/nginx.conf:5"},
			cause:   Cause{Code: CauseConfigInvalid}},
		{name: "key does not match", id: "nginx-config-invalid", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				other := mkCert(t, certSpec{cn: "x"}, p.inter)
				setConf(f, p, healthyConf, func(fs testFiles) {
					fs.tls["/etc/nms/certs/manager-server.key"] = keyFile("/etc/nms/certs/manager-server.key", other)
				})
			},
			summary: []string{`SSL_CTX_use_PrivateKey("/etc/nms/certs/manager-server.key") failed (key values mismatch)`, "nginx.conf:7"},
			cause:   Cause{Code: CauseConfigInvalid}},
		{name: "nginx -t says no", id: "nginx-config-invalid", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				f.Nginx.Test = &probes.NginxTest{Error: &nginxconf.Error{File: "/etc/nms/nginx/x.conf", Line: 4, Msg: `unknown directive "foo"`}}
			},
			summary: []string{`nginx -t fails: unknown directive "foo" in /etc/nms/nginx/x.conf:4`},
			fix:     []string{"/etc/nms/nginx/x.conf:4"},
			cause:   Cause{Code: CauseConfigInvalid}},
		{name: "verify optional without auth_request", id: "client-auth-not-required", want: SeverityWarn,
			mutate: func(f *Facts, p *testPKI) {
				setConf(f, p, confWith("ssl_verify_client on;", "ssl_verify_client optional;"))
			},
			summary: []string{"ssl_verify_client optional", "/f5.nginx.agent.sdk.Commander", "nginx.conf:14"},
			fix:     []string{"@@ -10 +10 @@", "-        ssl_verify_client optional;", "+        ssl_verify_client on;", "sudo nginx -t && sudo nginx -s reload"},
			cause:   Cause{Code: CauseNotEnforced}},
		{name: "verify optional with NIM's auth_request", id: "client-auth-not-required", want: SeverityOK,
			mutate: func(f *Facts, p *testPKI) {
				setConf(f, p, confWith("ssl_verify_client on;", "ssl_verify_client optional;",
					"grpc_pass grpc://127.0.0.1:10000;\n        }\n        location /f5.nginx.agent.sdk.MetricsService {",
					"grpc_pass grpc://127.0.0.1:10000;\n            auth_request /check-agent-client-cert;\n        }\n        location /f5.nginx.agent.sdk.MetricsService {\n            auth_request /check-agent-client-cert;",
					"location @grpc_unauthenticated {",
					"location /check-agent-client-cert {\n            internal;\n            if ($ssl_client_verify !~* 'SUCCESS') { return 401; }\n            return 200;\n        }\n        location @grpc_unauthenticated {"))
			}},
		{name: "NIM's auth_request commented out", id: "client-auth-not-required", want: SeverityWarn,
			mutate: func(f *Facts, p *testPKI) {
				setConf(f, p, confWith("ssl_verify_client on;", "ssl_verify_client optional;",
					"location @grpc_unauthenticated {",
					"location /check-agent-client-cert {\n            internal;\n            if ($ssl_client_verify !~* 'SUCCESS') { return 401; }\n            return 200;\n        }\n        location @grpc_unauthenticated {"))
			},
			fix:   []string{"auth_request /check-agent-client-cert;", "@@ -14 +14,2 @@"},
			cause: Cause{Code: CauseNotEnforced}},
		{name: "verify off", id: "client-auth-not-required", want: SeverityWarn,
			mutate: func(f *Facts, p *testPKI) {
				setConf(f, p, confWith("        ssl_verify_client on;\n", ""))
			},
			summary: []string{"ssl_verify_client is not set"},
			cause:   Cause{Code: CauseNotRequired}},
		// Two agent-facing servers: the playbook edits the one the finding is about (its
		// Subject), the second.
		{name: "second server asks for no certificate", id: "client-auth-not-required", want: SeverityWarn,
			mutate: func(f *Facts, p *testPKI) {
				setConf(f, p, strings.TrimSuffix(healthyConf, "}\n")+`    server {
        listen 8443 ssl http2;
        server_name agents2.example.com;
        ssl_certificate /etc/nms/certs/manager-server.pem;
        ssl_certificate_key /etc/nms/certs/manager-server.key;
        location /f5.nginx.agent.sdk.Commander {
            grpc_pass grpc://127.0.0.1:10000;
        }
    }
}
`)
			},
			summary: []string{"server at /etc/nginx/nginx.conf:27 (listen 8443)", "ssl_verify_client is not set"},
			fix: []string{"@@ -31 +31,3 @@", "+        ssl_verify_client on;",
				// "on" without ssl_client_certificate is refused by nginx -t.
				"+        ssl_client_certificate <agents-ca-path>;"},
			notFix: []string{"@@ -7 "},
			cause:  Cause{Code: CauseNotRequired}},
		{name: "no client CA", id: "nginx-client-ca-missing", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				setConf(f, p, confWith("        ssl_client_certificate /etc/nms/certs/ca.pem;\n", ""))
			},
			summary: []string{"neither ssl_client_certificate nor ssl_trusted_certificate"},
			fix:     []string{"+        ssl_client_certificate <agents-ca-path>;"},
			cause:   Cause{Code: CauseNoCAFile}},
		{name: "client CA file missing", id: "nginx-client-ca-missing", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				setConf(f, p, confWith("ssl_client_certificate /etc/nms/certs/ca.pem;", "ssl_client_certificate /etc/nms/certs/gone.pem;"))
			},
			summary: []string{"/etc/nms/certs/gone.pem does not exist"},
			cause:   Cause{Code: CauseFileMissing}},
		{name: "agent from another CA", id: "agent-cert-unknown-ca", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				other := mkCert(t, certSpec{cn: "other-ca", ca: true}, nil)
				setConf(f, p, healthyConf, func(fs testFiles) {
					fs.tls["/etc/nms/certs/ca.pem"] = certFile(probes.RoleCA, "/etc/nms/certs/ca.pem", other.cert)
				})
			},
			summary: []string{"NGINX asks for a certificate issued by CN=other-ca", "client sent no required SSL certificate"},
			fix:     []string{"Add the agents' CA to /etc/nms/certs/ca.pem"},
			cause:   Cause{Code: CauseNoCertSent}},
		// Go sends nothing and NGINX answers 496: agent-cert-unknown-ca carries the cause,
		// agent-cert-rejected names it.
		{name: "agent from another CA, 496 predicted", id: "agent-cert-rejected", want: SeverityInfo,
			mutate: func(f *Facts, p *testPKI) {
				other := mkCert(t, certSpec{cn: "other-ca", ca: true}, nil)
				setConf(f, p, healthyConf, func(fs testFiles) {
					fs.tls["/etc/nms/certs/ca.pem"] = certFile(probes.RoleCA, "/etc/nms/certs/ca.pem", other.cert)
				})
			},
			summary: []string{"NGINX would answer 496", "Go sends no certificate", "the cause is reported as agent-cert-unknown-ca"},
			cause:   Cause{Code: CauseNoCertSent}},
		{name: "agent from another CA, optional with NIM's auth_request", id: "agent-cert-unknown-ca", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				other := mkCert(t, certSpec{cn: "other-ca", ca: true}, nil)
				setConf(f, p, confWith(nimAuthRequest...), func(fs testFiles) {
					fs.tls["/etc/nms/certs/ca.pem"] = certFile(probes.RoleCA, "/etc/nms/certs/ca.pem", other.cert)
				})
			},
			summary: []string{"Go sends none, and the auth_request in every agent location answers 401"},
			cause:   Cause{Code: CauseNoCertSent}},
		{name: "agent from another CA, optional with NIM's auth_request, predicted", id: "agent-cert-rejected", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				other := mkCert(t, certSpec{cn: "other-ca", ca: true}, nil)
				setConf(f, p, confWith(nimAuthRequest...), func(fs testFiles) {
					fs.tls["/etc/nms/certs/ca.pem"] = certFile(probes.RoleCA, "/etc/nms/certs/ca.pem", other.cert)
				})
			},
			summary: []string{"auth_request in every agent location answers 401: Go sends no certificate"},
			fix:     []string{"Add the agents' CA to /etc/nms/certs/ca.pem"},
			cause:   Cause{Code: CauseNoCertSent}},
		{name: "optional_no_ca without a CA file", id: "agent-cert-unknown-ca", want: SeverityWarn,
			mutate: func(f *Facts, p *testPKI) {
				setConf(f, p, confWith("        ssl_client_certificate /etc/nms/certs/ca.pem;\n", "", "ssl_verify_client on;", "ssl_verify_client optional_no_ca;"))
			},
			summary: []string{"lets it in anyway"},
			fix:     []string{"Point ssl_client_certificate at the CA that issues agent certificates", "+        ssl_client_certificate <agents-ca-path>;"},
			cause:   Cause{Code: CauseUntrusted, OpenSSL: opensslverdict.UnableToVerifyLeafSig}},
		{name: "verify on without a CA file: nothing to predict", id: "agent-cert-rejected", want: SeveritySkip,
			mutate: func(f *Facts, p *testPKI) {
				f.Agent, f.Files, f.Endpoint = nil, nil, nil
				f.Nginx.AgentCert = certFile(probes.RoleCert, "/tmp/agent.crt", p.agent.cert)
				setConf(f, p, confWith("        ssl_client_certificate /etc/nms/certs/ca.pem;\n", ""))
			},
			summary: []string{"does not load (see nginx-client-ca-missing)"}},
		{name: "chain too deep", id: "client-verify-depth", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				a := mkCert(t, certSpec{cn: "agent-int-a", ca: true}, p.root)
				b := mkCert(t, certSpec{cn: "agent-int-b", ca: true}, a)
				p.agent = mkCert(t, certSpec{cn: "agent-1.example.com", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, b)
				f.Files.Cert.Certs = []*x509.Certificate{p.agent.cert, b.cert, a.cert}
				f.Files.Key = keyFile(f.Files.Key.Path, p.agent)
				setConf(f, p, confWith("        ssl_crl /etc/nms/certs/crl.pem;\n", ""))
			},
			summary: []string{"needs ssl_verify_depth 2", "(20:unable to get local issuer certificate)"},
			fix:     []string{"+        ssl_verify_depth 2;"},
			cause:   Cause{Code: CauseVerifyDepth, OpenSSL: opensslverdict.UnableToGetIssuerLocally}},
		{name: "agent revoked", id: "agent-cert-revoked", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				setConf(f, p, healthyConf, func(fs testFiles) {
					fs.crls["/etc/nms/certs/crl.pem"].CRLs = []*x509.RevocationList{crlOf(p.root, testNow.Add(-time.Hour), p.agent)}
				})
			},
			summary: []string{"is revoked by the CRL from CN=nms-ca", "(23:certificate revoked)"},
			cause:   Cause{Code: CauseRevoked, OpenSSL: opensslverdict.CertRevoked}},
		// The predicted code has a finding of its own: agent-cert-rejected names it and
		// agent-cert-expired fails.
		{name: "agent expired, predicted", id: "agent-cert-rejected", want: SeverityInfo,
			mutate: agentExpired,
			summary: []string{`NGINX would answer 495 (error_page sends it to @grpc_unauthenticated) and log`, "client SSL certificate verify error: (10:certificate has expired)",
				"the cause is reported as agent-cert-expired"},
			cause: Cause{Code: CauseNginxVerdict, OpenSSL: opensslverdict.CertHasExpired}},
		{name: "agent expired, predicted, own ID", id: "agent-cert-expired", want: SeverityFail, mutate: agentExpired,
			cause: Cause{Code: CauseExpired}},
		{name: "agent expired, predicted, no error_page", id: "agent-cert-rejected", want: SeverityInfo,
			mutate: func(f *Facts, p *testPKI) {
				agentExpired(f, p)
				setConf(f, p, confWith("        error_page 495 496 = @grpc_unauthenticated;\n", ""))
			},
			summary: []string{`NGINX would answer 400 "The SSL certificate error" (495) and log`}},
		{name: "listen without http2", id: "nginx-http2-missing", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				setConf(f, p, confWith("listen 443 ssl http2;", "listen 443 ssl;"))
			},
			summary: []string{"no application protocol"},
			fix:     []string{"-        listen 443 ssl;", "+        listen 443 ssl http2;"},
			cause:   Cause{Code: CauseNoHTTP2}},
		{name: "http2 on 1.25.1", id: "nginx-http2-missing", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				f.Nginx.Version = "1.27.4"
				setConf(f, p, confWith("listen 443 ssl http2;", "listen 443 ssl;"))
			},
			fix:   []string{"+        http2 on;"},
			cause: Cause{Code: CauseNoHTTP2}},
		{name: "TLSv1.1 still on", id: "nginx-tls-protocols", want: SeverityWarn,
			mutate: func(f *Facts, p *testPKI) {
				setConf(f, p, confWith("ssl_protocols TLSv1.2 TLSv1.3;", "ssl_protocols TLSv1.1 TLSv1.2;"))
			},
			summary: []string{"TLSv1.1"},
			fix:     []string{"+        ssl_protocols TLSv1.2 TLSv1.3;"},
			cause:   Cause{Code: CauseDeprecatedProtocol}},
		{name: "no modern TLS", id: "nginx-tls-protocols", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				setConf(f, p, confWith("ssl_protocols TLSv1.2 TLSv1.3;", "ssl_protocols TLSv1;"))
			},
			cause: Cause{Code: CauseTLSVersion}},
		{name: "server_name not in SANs", id: "server-name-mismatch", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				setConf(f, p, confWith("server_name nim.example.com;", "server_name nim.corp.example;"))
			},
			summary: []string{"server_name nim.corp.example is not in the SANs of /etc/nms/certs/manager-server.pem"},
			fix:     []string{"sudo cp /etc/nms/certs/manager-server.pem.new /etc/nms/certs/manager-server.pem"},
			cause:   Cause{Code: CauseNameMismatch}},
		{name: "agents' name picks another server", id: "server-name-mismatch", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				setConf(f, p, confWith("server_name nim.example.com;", "server_name nim.corp.example;",
					"    server {\n        listen 443 ssl http2;",
					"    server {\n        listen 443 ssl default_server;\n        server_name ui.example.com;\n        ssl_certificate /etc/nms/certs/manager-server.pem;\n        ssl_certificate_key /etc/nms/certs/manager-server.key;\n    }\n    server {\n        listen 443 ssl http2;"))
			},
			summary: []string{"the agents' server name nim.example.com selects the server at /etc/nginx/nginx.conf:3", "server_name ui.example.com"},
			cause:   Cause{Code: CauseOtherServerSelected}},
		{name: "leaf served alone", id: "server-chain-incomplete", want: SeverityWarn,
			mutate: func(f *Facts, p *testPKI) {
				setConf(f, p, healthyConf, func(fs testFiles) {
					fs.tls["/etc/nms/certs/manager-server.pem"] = certFile(probes.RoleCert, "/etc/nms/certs/manager-server.pem", p.server.cert)
				})
			},
			summary: []string{"without its issuer CN=nms-int-ca"},
			fix:     []string{"sudo cat '<intermediate-path>' | sudo tee -a /etc/nms/certs/manager-server.pem >/dev/null"},
			cause:   Cause{Code: CauseIntermediateMissing}},
		{name: "leaf served alone, intermediate in the client CA file", id: "server-chain-incomplete", want: SeverityWarn,
			mutate: func(f *Facts, p *testPKI) {
				setConf(f, p, healthyConf, func(fs testFiles) {
					fs.tls["/etc/nms/certs/manager-server.pem"] = certFile(probes.RoleCert, "/etc/nms/certs/manager-server.pem", p.server.cert)
					fs.tls["/etc/nms/certs/ca.pem"] = certFile(probes.RoleCA, "/etc/nms/certs/ca.pem", p.root.cert, p.inter.cert)
				})
			},
			summary: []string{"without its intermediate CN=nms-int-ca"},
			fix:     []string{"sed -n '21,/-----END CERTIFICATE-----/p' /etc/nms/certs/ca.pem | sudo tee -a /etc/nms/certs/manager-server.pem >/dev/null"},
			cause:   Cause{Code: CauseIntermediateMissing}},
		{name: "served certificate expired", id: "server-cert-expired", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				old := mkCert(t, certSpec{cn: "nim.example.com", dns: []string{"nim.example.com"}, notBefore: testNow.AddDate(-1, 0, -1),
					notAfter: testNow.AddDate(0, 0, -1), eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, p.inter)
				setConf(f, p, healthyConf, func(fs testFiles) {
					fs.tls["/etc/nms/certs/manager-server.pem"] = certFile(probes.RoleCert, "/etc/nms/certs/manager-server.pem", old.cert, p.inter.cert)
					fs.tls["/etc/nms/certs/manager-server.key"] = keyFile("/etc/nms/certs/manager-server.key", old)
				})
			},
			summary: []string{"ssl_certificate /etc/nms/certs/manager-server.pem: server certificate CN=nim.example.com expired"},
			cause:   Cause{Code: CauseExpired}},
		// Two servers with their own certificates: the playbook reissues the expired one,
		// the finding's Subject, not the first served.
		{name: "second served certificate expired", id: "server-cert-expired", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				old := mkCert(t, certSpec{cn: "agents2.example.com", dns: []string{"agents2.example.com"}, notBefore: testNow.AddDate(-1, 0, -1),
					notAfter: testNow.AddDate(0, 0, -1), eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, p.inter)
				setConf(f, p, strings.TrimSuffix(healthyConf, "}\n")+`    server {
        listen 8443 ssl http2;
        server_name agents2.example.com;
        ssl_certificate /etc/nms/certs/agents2.pem;
        ssl_certificate_key /etc/nms/certs/agents2.key;
        ssl_client_certificate /etc/nms/certs/ca.pem;
        ssl_verify_client on;
        location /f5.nginx.agent.sdk.Commander {
            grpc_pass grpc://127.0.0.1:10000;
        }
    }
}
`, func(fs testFiles) {
					fs.tls["/etc/nms/certs/agents2.pem"] = certFile(probes.RoleCert, "/etc/nms/certs/agents2.pem", old.cert, p.inter.cert)
					fs.tls["/etc/nms/certs/agents2.key"] = keyFile("/etc/nms/certs/agents2.key", old)
				})
			},
			summary: []string{"ssl_certificate /etc/nms/certs/agents2.pem: server certificate CN=agents2.example.com expired"},
			fix:     []string{"sudo openssl req -new -key /etc/nms/certs/agents2.key", "sudo cp /etc/nms/certs/agents2.pem.new /etc/nms/certs/agents2.pem", "subjectAltName=DNS:agents2.example.com |"},
			notFix:  []string{"manager-server"},
			cause:   Cause{Code: CauseExpired}},
		{name: "stale CRL", id: "crl-expired", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				setConf(f, p, healthyConf, func(fs testFiles) {
					fs.crls["/etc/nms/certs/crl.pem"].CRLs = []*x509.RevocationList{crlOf(p.root, testNow.AddDate(0, 0, -30))}
				})
			},
			summary: []string{"(12:CRL has expired)"},
			fix:     []string{"/etc/nms/certs/crl.pem"},
			cause:   Cause{Code: CauseExpired, OpenSSL: opensslverdict.CRLHasExpired}},
		{name: "CRL from another CA only", id: "crl-missing", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				setConf(f, p, healthyConf, func(fs testFiles) {
					fs.crls["/etc/nms/certs/crl.pem"].CRLs = []*x509.RevocationList{crlOf(p.inter, testNow.Add(-time.Hour))}
				})
			},
			summary: []string{"has no CRL from CN=nms-ca", "(3:unable to get certificate CRL)"},
			cause:   Cause{Code: CauseCRLMissing, OpenSSL: opensslverdict.UnableToGetCRL}},
		{name: "error_page inside the location", id: "nginx-error-page-in-location", want: SeverityWarn,
			mutate: func(f *Facts, p *testPKI) {
				setConf(f, p, confWith("        error_page 495 496 = @grpc_unauthenticated;\n", "",
					"location /f5.nginx.agent.sdk.Commander {", "location /f5.nginx.agent.sdk.Commander {\n            error_page 495 496 = @grpc_unauthenticated;"))
			},
			summary: []string{"error_page 495 496 = @grpc_unauthenticated; at /etc/nginx/nginx.conf:14 sits inside a location"},
			fix:     []string{"-            error_page 495 496 = @grpc_unauthenticated;", "+        error_page 495 496 = @grpc_unauthenticated;"},
			cause:   Cause{Code: CauseNeverFires}},
		{name: "error log at notice", id: "nginx-log-level-hides-mtls", want: SeverityWarn,
			mutate: func(f *Facts, p *testPKI) {
				setConf(f, p, confWith("error_log /var/log/nginx/error.log info;", "error_log /var/log/nginx/error.log notice;"))
			},
			summary: []string{"at notice"},
			fix:     []string{"-        error_log /var/log/nginx/error.log notice;", "+        error_log /var/log/nginx/error.log info;"},
			cause:   Cause{Code: CauseLogLevel}},
		{name: "default error log", id: "nginx-log-level-hides-mtls", want: SeverityWarn,
			mutate: func(f *Facts, p *testPKI) {
				setConf(f, p, confWith("        error_log /var/log/nginx/error.log info;\n", ""))
			},
			summary: []string{"at error"},
			cause:   Cause{Code: CauseLogLevel}},
		{name: "no gRPC error mapping", id: "nginx-grpc-errors-unmapped", want: SeverityWarn,
			mutate: func(f *Facts, p *testPKI) {
				setConf(f, p, confWith("        error_page 495 496 = @grpc_unauthenticated;\n", ""))
			},
			summary: []string{"no server-level error_page for 495 and 496", "400 (Bad Request)"},
			fix:     []string{"+        error_page 495 496 = @grpc_unauthenticated;", "default_type application/grpc;"},
			cause:   Cause{Code: CauseUnmapped}},
		{name: "mapping answers 204", id: "nginx-grpc-errors-unmapped", want: SeverityWarn,
			mutate: func(f *Facts, p *testPKI) {
				setConf(f, p, confWith("return 200;", "return 204;"))
			},
			summary: []string{"missing HTTP content-type"},
			cause:   Cause{Code: CauseNotGRPC}},
		{name: "mapping answers text/plain", id: "nginx-grpc-errors-unmapped", want: SeverityWarn,
			mutate: func(f *Facts, p *testPKI) {
				setConf(f, p, confWith("            default_type application/grpc;\n", ""))
			},
			summary: []string{"content-type text/plain", `code = Unknown desc = transport: received unexpected content-type \"text/plain\"`},
			fix:     []string{"Answer application/grpc from @grpc_unauthenticated", "@@ -20 +20,2 @@", "+            default_type application/grpc;"},
			cause:   Cause{Code: CauseNotGRPC}},
		{name: "mapping answers 401 text/plain", id: "nginx-grpc-errors-unmapped", want: SeverityWarn,
			mutate: func(f *Facts, p *testPKI) {
				setConf(f, p, confWith("            default_type application/grpc;\n", "", "return 200;", "return 401;"))
			},
			summary: []string{`code = Unauthenticated desc = unexpected HTTP status code received from server: 401 (Unauthorized); transport: received unexpected content-type \"text/plain\"`},
			cause:   Cause{Code: CauseNotGRPC}},
		{name: "optional_no_ca", id: "nginx-ssl-verify-optional-no-ca", want: SeverityWarn,
			mutate: func(f *Facts, p *testPKI) {
				setConf(f, p, confWith("ssl_verify_client on;", "ssl_verify_client optional_no_ca;"))
			},
			fix:   []string{"+        ssl_verify_client on;"},
			cause: Cause{Code: CauseNotEnforced}},
	}
	// Every case starts from a host that is agent and manager at once.
	for i := range cases {
		mutate := cases[i].mutate
		cases[i].mutate = func(f *Facts, p *testPKI) {
			f.Nginx = healthyNginx(p)
			mutate(f, p)
		}
	}
	runCases(t, cases)
}

// TestManagerOnlyRun is `mtls-doctor --check --nginx-config PATH --cert AGENT.crt` on the
// manager: no agent configuration, so every agent-side check skips quietly, and every
// manager check (two-sided ones included) judges the configuration and the given cert.
func TestManagerOnlyRun(t *testing.T) {
	p := newPKI(t)
	f := healthyFacts(p)
	f.Nginx = healthyNginx(p)
	f.Nginx.AgentCert, f.Nginx.AgentKey = f.Files.Cert, f.Files.Key
	f.Agent, f.Files, f.Endpoint = nil, nil, nil
	// What the collector records on a manager-only run.
	f.Errors[FactAgentConfig] = "not gathered: manager side only (no agent configuration on this host)"
	f.Errors[FactAgentFiles], f.Errors[FactEndpoint] = "no agent configuration", "no agent configuration"
	f.Nginx.Explicit = true
	managerIDs := map[string]bool{}
	for _, ch := range DefaultCatalog() {
		managerIDs[ch.ID] = ch.Manager != nil
	}
	for _, ch := range DefaultCatalog() {
		fd := ch.run(f)
		switch {
		case ch.ID == "server-cert-untrusted":
			// Trust is the agents' CA file's business, which is not on this host (no --ca).
			if fd.Severity != SeveritySkip || !strings.Contains(fd.Summary, "give --ca") {
				t.Errorf("%s: got %s %q, want skip", ch.ID, fd.Severity, fd.Summary)
			}
		case ch.Category == CategoryManager || managerIDs[ch.ID]:
			if fd.Severity != SeverityOK {
				t.Errorf("%s: got %s %q, want ok", ch.ID, fd.Severity, fd.Summary)
			}
		case ch.Category == CategoryUpstream:
			// The manager's NGINX passes nothing to a TLS upstream.
			if fd.Severity != SeveritySkip || !strings.Contains(fd.Summary, "upstream") {
				t.Errorf("%s: got %s %q, want a skip naming the upstream links", ch.ID, fd.Severity, fd.Summary)
			}
		case ch.Category == CategoryLogs:
			// This run gathered no logs: the log checks say so.
			if fd.Severity != SeveritySkip || !strings.Contains(fd.Summary, "logs facts") {
				t.Errorf("%s: got %s %q, want a skip for the logs", ch.ID, fd.Severity, fd.Summary)
			}
		default:
			if fd.Severity != SeveritySkip || !strings.Contains(fd.Summary, "agent configuration") {
				t.Errorf("agent-side %s: got %s %q, want a quiet skip", ch.ID, fd.Severity, fd.Summary)
			}
		}
	}
	// The same run with an agent certificate NGINX rejects.
	expired := mkCert(t, certSpec{cn: "agent-1.example.com", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		notBefore: testNow.AddDate(-1, 0, -2), notAfter: testNow.AddDate(0, 0, -2)}, p.root)
	f.Nginx.AgentCert = certFile(probes.RoleCert, "/tmp/agent.crt", expired.cert)
	ch, _ := DefaultCatalog().Lookup("agent-cert-rejected")
	fd := ch.run(f)
	if fd.Severity != SeverityInfo || !strings.Contains(fd.Summary, "(10:certificate has expired)") ||
		!strings.Contains(fd.Summary, "reported as agent-cert-expired") {
		t.Errorf("agent-cert-rejected: got %s %q", fd.Severity, fd.Summary)
	}
	ch, _ = DefaultCatalog().Lookup("agent-cert-expired")
	if fd := ch.run(f); fd.Severity != SeverityFail || !strings.Contains(fd.Summary, "--cert /tmp/agent.crt") || len(fd.Fix) == 0 {
		t.Errorf("agent-cert-expired: got %s %q (%d steps)", fd.Severity, fd.Summary, len(fd.Fix))
	}
}

// TestManagerOnlyGivenFiles: on a manager-only run, --key and --ca beside --cert are
// judged by the agent's own file checks: a key of another certificate, an encrypted key,
// a --cert that is not there; --ca is the agents' trust for the certificate NGINX serves.
// Without --key the key checks say so.
func TestManagerOnlyGivenFiles(t *testing.T) {
	p := newPKI(t)
	other := mkCert(t, certSpec{cn: "agent-2.example.com", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, p.root)
	strange := mkCert(t, certSpec{cn: "strange-ca", ca: true}, nil)
	managerOnly := func(edit func(n *probes.NginxFacts)) *Facts {
		f := healthyFacts(p)
		f.Nginx = healthyNginx(p)
		f.Nginx.Explicit = true
		f.Nginx.AgentCert = certFile(probes.RoleCert, "/tmp/agent.crt", p.agent.cert)
		f.Nginx.AgentKey = keyFile("/tmp/agent.key", p.agent)
		f.Nginx.AgentCA = certFile(probes.RoleCA, "/tmp/ca.pem", p.root.cert)
		f.Agent, f.Files, f.Endpoint = nil, nil, nil
		f.Errors[FactAgentConfig] = "not gathered: manager side only (no agent configuration on this host)"
		f.Errors[FactAgentFiles], f.Errors[FactEndpoint] = "no agent configuration", "no agent configuration"
		edit(f.Nginx)
		return f
	}
	for _, tc := range []struct {
		name, id string
		edit     func(n *probes.NginxFacts)
		want     Severity
		summary  []string
		fix      string
	}{
		{"healthy: key", "agent-key-mismatch", func(*probes.NginxFacts) {}, SeverityOK, []string{"--cert /tmp/agent.crt --key /tmp/agent.key --ca /tmp/ca.pem: key /tmp/agent.key"}, ""},
		{"healthy: files", "agent-cert-file-unreadable", func(*probes.NginxFacts) {}, SeverityOK, []string{"readable and well-formed"}, ""},
		{"healthy: served certificate against --ca", "server-cert-untrusted", func(*probes.NginxFacts) {}, SeverityOK,
			[]string{"--ca /tmp/ca.pem, ssl_certificate", "chains to the agent's CA file /tmp/ca.pem"}, ""},
		{"key of another certificate", "agent-key-mismatch", func(n *probes.NginxFacts) { n.AgentKey = keyFile("/tmp/other.key", other) }, SeverityFail,
			[]string{"key /tmp/other.key", "does not belong to CN=agent-1.example.com"}, "openssl pkey -in /tmp/other.key -pubout"},
		{"encrypted key", "agent-key-encrypted", func(n *probes.NginxFacts) {
			n.AgentKey = &probes.FileFacts{Role: probes.RoleKey, Path: "/tmp/agent.key", Exists: true, Mode: 0o600, Encoding: "pem",
				Blocks: []probes.PEMBlock{{Type: "ENCRYPTED PRIVATE KEY", Encrypted: true, Line: 1}}}
		}, SeverityFail, []string{"key /tmp/agent.key is encrypted"}, "openssl pkey -in /tmp/agent.key -out /tmp/agent.key.new"},
		{"--cert not there", "agent-cert-file-unreadable", func(n *probes.NginxFacts) {
			n.AgentCert = &probes.FileFacts{Role: probes.RoleCert, Path: "/tmp/gone.crt"}
		}, SeverityFail, []string{"cert /tmp/gone.crt does not exist"}, ""},
		{"--cert not there: the certificate checks point at the file check", "agent-cert-expired", func(n *probes.NginxFacts) {
			n.AgentCert = &probes.FileFacts{Role: probes.RoleCert, Path: "/tmp/gone.crt"}
		}, SeveritySkip, []string{"see agent-cert-file-unreadable"}, ""},
		{"--ca does not hold the server's root", "server-cert-untrusted", func(n *probes.NginxFacts) {
			n.AgentCA = certFile(probes.RoleCA, "/tmp/ca.pem", strange.cert)
		}, SeverityFail, []string{"does not chain to the agent's CA file /tmp/ca.pem"}, ""},
		{"no --key", "agent-key-mismatch", func(n *probes.NginxFacts) { n.AgentKey = nil }, SeveritySkip, []string{"no --key given beside --cert /tmp/agent.crt"}, ""},
		{"no --key: encrypted", "agent-key-encrypted", func(n *probes.NginxFacts) { n.AgentKey = nil }, SeveritySkip, []string{"no --key given"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch, _ := DefaultCatalog().Lookup(tc.id)
			fd := ch.run(managerOnly(tc.edit))
			if fd.Severity != tc.want {
				t.Fatalf("%s: got %s %q, want %s", tc.id, fd.Severity, fd.Summary, tc.want)
			}
			for _, s := range tc.summary {
				if !strings.Contains(fd.Summary, s) {
					t.Errorf("%s: summary %q lacks %q", tc.id, fd.Summary, s)
				}
			}
			if tc.fix != "" && !strings.Contains(fmt.Sprint(fd.Fix), tc.fix) {
				t.Errorf("%s: playbook lacks %q:\n%+v", tc.id, tc.fix, fd.Fix)
			}
		})
	}
}

// TestAgentHostSkipsManagerChecks: an agent host whose own NGINX (the data plane) serves no
// agent paths judges nothing on the manager side and fails nothing there.
func TestAgentHostSkipsManagerChecks(t *testing.T) {
	p := newPKI(t)
	f := healthyFacts(p)
	f.Nginx = nginxFacts("events {}\nhttp { server { listen 80; location / { root /srv; } } }\n", testFiles{})
	for _, ch := range DefaultCatalog() {
		fd := ch.run(f)
		if ch.Category == CategoryManager && fd.Severity != SeveritySkip {
			t.Errorf("%s: got %s %q on an agent host, want skip", ch.ID, fd.Severity, fd.Summary)
		}
		if fd.Problem() {
			t.Errorf("%s: %s %q on a healthy agent host", ch.ID, fd.Severity, fd.Summary)
		}
	}
}

// TestBothSidesCrossCheck: with both ends on one host, a fault only the configuration shows
// (the agent certificate revoked by a CRL NGINX has) fails its own ID, and
// agent-cert-rejected names it with the probe's view as evidence.
func TestBothSidesCrossCheck(t *testing.T) {
	p := newPKI(t)
	f := healthyFacts(p)
	f.Nginx = healthyNginx(p)
	setConf(f, p, healthyConf, func(fs testFiles) {
		fs.crls["/etc/nms/certs/crl.pem"].CRLs = []*x509.RevocationList{crlOf(p.root, testNow.Add(-time.Hour), p.agent)}
	})
	ch, _ := DefaultCatalog().Lookup("agent-cert-revoked")
	if fd := ch.run(f); fd.Severity != SeverityFail || !strings.Contains(fd.Summary, "(23:certificate revoked)") {
		t.Fatalf("agent-cert-revoked: got %s %q", fd.Severity, fd.Summary)
	}
	ch, _ = DefaultCatalog().Lookup("agent-cert-rejected")
	fd := ch.run(f)
	if fd.Severity != SeverityInfo || !strings.Contains(fd.Summary, "(23:certificate revoked)") || !strings.Contains(fd.Summary, "reported as agent-cert-revoked") {
		t.Fatalf("agent-cert-rejected: got %s %q", fd.Severity, fd.Summary)
	}
	found := false
	for _, e := range fd.Evidence {
		if strings.Contains(e.Text, "the probe from the agent's side says (ok)") {
			found = true
		}
	}
	if !found {
		t.Errorf("the agent side's verdict is not in the evidence: %+v", fd.Evidence)
	}
}

// TestNIM1Manager: NIM 1.x's nginx-manager serves agents itself; its certificate is judged
// like an ssl_certificate, and it enforces no client certificate.
func TestNIM1Manager(t *testing.T) {
	p := newPKI(t)
	f := healthyFacts(p)
	conf := "/etc/nginx-manager/nginx-manager.conf"
	set := func(v string, line int) probes.Setting {
		return probes.Setting{Value: v, Source: probes.Source{Kind: probes.SourceFile, Name: conf, Line: line}}
	}
	f.Nginx = &probes.NginxFacts{NIM1: &probes.NIMManagerConfig{Path: conf,
		BindAddress: set("0.0.0.0", 1), GRPCPort: set("10000", 2), ServerName: set("nim.example.com", 3),
		Cert: set("/etc/ssl/nginx-manager/nginx-manager.crt", 4), Key: set("/etc/ssl/nginx-manager/nginx-manager.key", 5),
		CertFile: certFile(probes.RoleCert, "/etc/ssl/nginx-manager/nginx-manager.crt", p.server.cert, p.inter.cert),
		KeyFile:  keyFile("/etc/ssl/nginx-manager/nginx-manager.key", p.server)}}
	c := DefaultCatalog()
	for id, want := range map[string]Severity{
		"nginx-agent-server-missing": SeverityOK, "client-auth-not-required": SeverityWarn, "server-cert-expired": SeverityOK,
		"server-name-mismatch": SeverityOK, "nginx-config-invalid": SeverityOK, "nginx-http2-missing": SeveritySkip,
	} {
		ch, _ := c.Lookup(id)
		if fd := ch.run(f); fd.Severity != want {
			t.Errorf("%s: got %s %q, want %s", id, fd.Severity, fd.Summary, want)
		}
	}
	f.Nginx.NIM1.ServerName = set("nim.corp.example", 3)
	ch, _ := c.Lookup("server-name-mismatch")
	if fd := ch.run(f); fd.Severity != SeverityFail || !strings.Contains(fd.Summary, "server_name nim.corp.example") {
		t.Errorf("server-name-mismatch: got %s %q", fd.Severity, fd.Summary)
	}
}

// TestAgentServerMissingNeedsAReason: an NGINX without agent locations fails only when
// something on the host says agents should reach it.
func TestAgentServerMissingNeedsAReason(t *testing.T) {
	proxy := `http {
    server {
        listen 443 ssl;
        server_name www.example.com;
        location / { proxy_pass http://127.0.0.1:8080; }
    }
}
`
	ch, _ := DefaultCatalog().Lookup("nginx-agent-server-missing")
	for _, tc := range []struct {
		name string
		set  func(f *Facts)
		want Severity
	}{
		{"nothing says agents", func(*Facts) {}, SeverityInfo},
		{"NIM installed", func(f *Facts) { f.Nginx.NIMFiles = []probes.NIMFile{{Path: "/etc/nms/nginx/oidc.conf"}} }, SeverityFail},
		{"--cert to judge", func(f *Facts) { f.Nginx.AgentCert = &probes.FileFacts{Path: "/tmp/agent.crt"} }, SeverityFail},
		{"agent points at it by name", func(f *Facts) {
			f.Agent = &probes.AgentConfig{Host: probes.Setting{Value: "www.example.com"}, Port: probes.Setting{Value: "443"}}
		}, SeverityFail},
		{"agent points at loopback", func(f *Facts) {
			f.Agent = &probes.AgentConfig{Host: probes.Setting{Value: "127.0.0.1"}, Port: probes.Setting{Value: "443"}}
		}, SeverityFail},
		{"agent points elsewhere", func(f *Facts) {
			f.Agent = &probes.AgentConfig{Host: probes.Setting{Value: "nim.example.com"}, Port: probes.Setting{Value: "443"}}
		}, SeverityInfo},
		{"agent on another port", func(f *Facts) {
			f.Agent = &probes.AgentConfig{Host: probes.Setting{Value: "127.0.0.1"}, Port: probes.Setting{Value: "8443"}}
		}, SeverityInfo},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &Facts{Now: testNow, Nginx: nginxFacts(proxy, testFiles{})}
			f.Nginx.Explicit = true
			tc.set(f)
			r := ch.Evaluate(f)
			if r.Severity != tc.want {
				t.Errorf("%s %q, want %s", r.Severity, r.Summary, tc.want)
			}
		})
	}
}

// BenchmarkServerNameManyServers judges server-name-mismatch's manager half on a host with
// an agent and 2,000 agent-facing servers on its port, each serving a certificate: the
// server NGINX chooses for the agents' name is found once, not once per certificate.
func BenchmarkServerNameManyServers(b *testing.B) {
	p := newPKI(b)
	f := healthyFacts(p)
	var conf strings.Builder
	conf.WriteString(strings.TrimSuffix(healthyConf, "}\n"))
	for i := range 2000 {
		fmt.Fprintf(&conf, "    server {\n        listen 443 ssl http2;\n        server_name agents%d.example.com;\n"+
			"        ssl_certificate /etc/nms/certs/manager-server.pem;\n        ssl_certificate_key /etc/nms/certs/manager-server.key;\n"+
			"        location /f5.nginx.agent.sdk.Commander {\n            grpc_pass grpc://127.0.0.1:10000;\n        }\n    }\n", i)
	}
	conf.WriteString("}\n")
	setConf(f, p, conf.String())
	if len(f.Nginx.Servers) < 2000 {
		b.Fatalf("%d agent servers", len(f.Nginx.Servers))
	}
	b.ResetTimer()
	for b.Loop() {
		if r := mgrServerName(f); r.Severity == SeveritySkip {
			b.Fatal(r.Summary)
		}
	}
}
