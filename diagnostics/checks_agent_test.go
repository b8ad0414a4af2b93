package diagnostics

import (
	"crypto/x509"
	"testing"

	"github.com/mtls-doctor/mtls-doctor/probes"
)

func TestAgentConfigChecks(t *testing.T) {
	runCases(t, []checkCase{
		{name: "no config file", id: "agent-config-missing", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.Path = ""
				f.Agent.Searched = []string{"/etc/nginx-manager/nginx-agent.conf", "/etc/nginx-agent/nginx-agent.conf"}
				f.Agent.Host = probes.Setting{}
			},
			summary: []string{"no nginx-agent.conf found in /etc/nginx-manager/nginx-agent.conf"},
			fix:     []string{"ls -l /etc/nginx-agent/"}},
		{name: "no config file, server from env", id: "agent-config-missing", want: SeverityInfo,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.Path = ""
				f.Agent.Host.Source = probes.Source{Kind: probes.SourceEnv, Name: "NGINX_AGENT_SERVER_HOST"}
			},
			summary: []string{"environment NGINX_AGENT_SERVER_HOST"}},
		{name: "yaml error", id: "agent-config-invalid", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.Error = &probes.ConfigError{Path: "/etc/nginx-agent/nginx-agent.conf", Line: 7, Column: 3, Message: "mapping values are not allowed in this context"}
			},
			summary: []string{"/etc/nginx-agent/nginx-agent.conf:7:3: mapping values"},
			fix:     []string{"sudo sed -n '4,10p' /etc/nginx-agent/nginx-agent.conf", "sudo systemctl restart nginx-agent"}},
		{name: "v2 keys in a v3 file", id: "agent-config-invalid", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.Format = probes.FormatV3
				f.Agent.MixedKeys = []string{"tls (line 12)"}
			},
			summary: []string{"agent v3 file holds v2 keys: tls (line 12)"},
			fix:     []string{"command.server and command.tls"}},
		{name: "host missing", id: "agent-config-invalid", want: SeverityFail,
			mutate:  func(f *Facts, _ *testPKI) { f.Agent.Host = probes.Setting{} },
			summary: []string{"no server host is set"}},
		{name: "port written as a list", id: "agent-config-invalid", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.Port = probes.Setting{}
				f.Agent.TypeErrors = []probes.TypeError{{Key: "server.grpcPort", Type: "a list",
					Source: probes.Source{Kind: probes.SourceFile, Name: "/etc/nginx agent/nginx-agent.conf", Line: 3}}}
			},
			summary: []string{"/etc/nginx agent/nginx-agent.conf:3: server.grpcPort is a list, not one value"},
			fix:     []string{"sudo sed -n '2,6p' '/etc/nginx agent/nginx-agent.conf'"}, notFix: []string{"Set server.host and server.grpcPort"}},
		{name: "placeholder host", id: "agent-config-invalid", want: SeverityFail,
			mutate:  func(f *Facts, _ *testPKI) { f.Agent.Host = fileSetting("<NGINX-INSTANCE-MANAGER-FQDN>", 2) },
			summary: []string{"placeholder"}},
		{name: "deprecated env", id: "agent-env-overrides", want: SeverityWarn,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.Env = []probes.EnvOverride{{Name: "NMS_TLS_CERT", Key: "tls.cert", Deprecated: true}}
			},
			summary: []string{"NMS_TLS_CERT"}, fix: []string{"NMS_TLS_CERT → NGINX_AGENT_TLS_CERT"}},
		{name: "tls off against a TLS port", id: "agent-tls-disabled", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.TLSEnabled = fileSetting("false", 5)
				f.Endpoint.PlainText = true
				f.Endpoint.NoCert = nil
				f.Endpoint.Agent = &probes.Attempt{HTTP: &probes.HTTPObservation{Error: &probes.ProbeError{Kind: probes.ErrProtocol, Message: "http2: frame too large"}}}
			},
			summary: []string{"TLS is off (/etc/nginx-agent/nginx-agent.conf:5)", "expects TLS", "frame too large"},
			fix:     []string{"-  enable: false\n+  enable: true\n   cert: /etc/nginx-agent/agent.crt"}},
		{name: "tls off, NGINX says plain HTTP to HTTPS port", id: "agent-tls-disabled", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.TLSEnabled = fileSetting("false", 5)
				f.Endpoint.PlainText = true
				f.Endpoint.Agent = &probes.Attempt{HTTP: nginx400(titlePlainHTTP)}
			},
			summary: []string{"expects TLS"}},
		{name: "tls off against a plaintext port", id: "agent-tls-disabled", want: SeverityWarn,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.TLSEnabled = fileSetting("false", 5)
				f.Endpoint.PlainText = true
				f.Endpoint.Agent = &probes.Attempt{HTTP: grpcOK()}
			},
			summary: []string{"unencrypted"}},
		{name: "tls off v3: fix adds command.tls", id: "agent-tls-disabled", want: SeverityWarn,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.Format = probes.FormatV3
				f.Agent.TLSEnabled = probes.Setting{Value: "false"}
				f.Endpoint.PlainText = true
				f.Endpoint.Agent = &probes.Attempt{HTTP: grpcOK()}
			},
			fix: []string{" command:\n   tls:\n     cert: /etc/nginx-agent/agent.crt\n     key: /etc/nginx-agent/agent.key"}},
		{name: "skip_verify in file", id: "agent-skip-verify", want: SeverityWarn,
			mutate:  func(f *Facts, _ *testPKI) { f.Agent.SkipVerify = fileSetting("true", 9) },
			summary: []string{"skip_verify is on (/etc/nginx-agent/nginx-agent.conf:9)"},
			fix:     []string{"-  skip_verify: true\n+  skip_verify: false", "-CAfile /etc/nginx-agent/ca.pem"}},
		{name: "skip_verify from env", id: "agent-skip-verify", want: SeverityWarn,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.SkipVerify = probes.Setting{Value: "true", Source: probes.Source{Kind: probes.SourceEnv, Name: "NGINX_AGENT_TLS_SKIP_VERIFY"}}
			},
			fix: []string{"NGINX_AGENT_TLS_SKIP_VERIFY=false", "/etc/systemd/system/nginx-agent.service.d/mtls-doctor.conf", "sudo systemctl daemon-reload"}},
	})
}

func TestAgentFileChecks(t *testing.T) {
	runCases(t, []checkCase{
		{name: "no cert or key", id: "agent-cert-not-configured", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.Cert, f.Agent.Key = probes.Setting{}, probes.Setting{}
				f.Files.Cert, f.Files.Key = nil, nil
			},
			summary: []string{"tls.cert and tls.key are empty"}},
		{name: "v3 key only", id: "agent-cert-not-configured", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.Format = probes.FormatV3
				f.Agent.Cert = probes.Setting{}
				f.Files.Cert = nil
			},
			summary: []string{"command.tls.key is set (/etc/nginx-agent/agent.key) but command.tls.cert is not"}},
		{name: "tls off skips", id: "agent-cert-not-configured", want: SeveritySkip,
			mutate: func(f *Facts, _ *testPKI) { f.Agent.TLSEnabled = fileSetting("false", 5) }},
		{name: "cert missing", id: "agent-cert-file-unreadable", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Files.Cert = &probes.FileFacts{Role: probes.RoleCert, Path: "/etc/nginx-agent/agent.crt"}
			},
			summary: []string{"cert /etc/nginx-agent/agent.crt does not exist"},
			fix:     []string{"sudo install -m 0644 '<agent-cert-path>' /etc/nginx-agent/agent.crt"}},
		{name: "relative cert path missing names the working directory", id: "agent-cert-file-unreadable", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.Cert = fileSetting("/agent.crt", 6)
				f.Agent.Cert.Written, f.Agent.WorkDir = "agent.crt", "/"
				f.Files.Cert = &probes.FileFacts{Role: probes.RoleCert, Path: "/agent.crt"}
			},
			summary: []string{`cert /agent.crt does not exist ("agent.crt" in /etc/nginx-agent/nginx-agent.conf:6 is relative: resolved against the agent's working directory /)`}},
		{name: "no configuration: TLS off is not judged", id: "agent-tls-disabled", want: SeveritySkip,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent = &probes.AgentConfig{Searched: []string{"/etc/nginx-agent/nginx-agent.conf"}}
			},
			summary: []string{"no usable agent configuration"}},
		{name: "no configuration: files are not judged", id: "agent-cert-file-unreadable", want: SeveritySkip,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent = &probes.AgentConfig{Searched: []string{"/etc/nginx-agent/nginx-agent.conf"}}
			},
			summary: []string{"no usable agent configuration"}},
		{name: "permission denied", id: "agent-cert-file-unreadable", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Files.Key = &probes.FileFacts{Role: probes.RoleKey, Path: "/etc/nginx-agent/agent.key", Exists: true, ReadError: "permission denied"}
			},
			summary: []string{"key /etc/nginx-agent/agent.key cannot be read: permission denied"},
			fix:     []string{"sudo namei -l /etc/nginx-agent/agent.key", "sudo chmod 0600 /etc/nginx-agent/agent.key"}},
		{name: "cert and key swapped", id: "agent-cert-file-unreadable", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				f.Files.Cert = keyFile("/etc/nginx-agent/agent.crt", p.agent)
				f.Files.Cert.Role = probes.RoleCert
				f.Files.Key = certFile(probes.RoleKey, "/etc/nginx-agent/agent.key", p.agent.cert)
			},
			summary: []string{"holds a private key, not a certificate", "and 2 more problems"},
			fix:     []string{"+  cert: /etc/nginx-agent/agent.key", "+  key: /etc/nginx-agent/agent.crt"}},
		{name: "DER key as cert", id: "agent-cert-file-unreadable", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				f.Files.Cert = keyFile("/etc/nginx-agent/agent.crt", p.agent)
				f.Files.Cert.Role, f.Files.Cert.Encoding, f.Files.Cert.Blocks = probes.RoleCert, "der", nil
			},
			summary: []string{"cert /etc/nginx-agent/agent.crt holds a private key, not a certificate"}},
		// The agent loads its pair with tls.LoadX509KeyPair and its CA with
		// AppendCertsFromPEM: PEM only, so a well-formed DER file still fails it.
		{name: "DER certificate", id: "agent-cert-file-unreadable", want: SeverityFail,
			mutate:  func(f *Facts, _ *testPKI) { f.Files.Cert.Encoding, f.Files.Cert.Blocks = "der", nil },
			summary: []string{"cert /etc/nginx-agent/agent.crt is DER; the agent reads only PEM"},
			fix:     []string{"sudo openssl x509 -inform der -in /etc/nginx-agent/agent.crt -out /etc/nginx-agent/agent.crt.pem"}},
		{name: "DER key", id: "agent-cert-file-unreadable", want: SeverityFail,
			mutate:  func(f *Facts, _ *testPKI) { f.Files.Key.Encoding, f.Files.Key.Blocks = "der", nil },
			summary: []string{"key /etc/nginx-agent/agent.key is DER; the agent reads only PEM"},
			fix:     []string{"sudo openssl pkey -inform der -in /etc/nginx-agent/agent.key -out /etc/nginx-agent/agent.key.pem"},
			notFix:  []string{"openssl x509 -inform der -in /etc/nginx-agent/agent.key"}},
		{name: "DER CA file", id: "agent-cert-file-unreadable", want: SeverityFail,
			mutate:  func(f *Facts, _ *testPKI) { f.Files.CA.Encoding, f.Files.CA.Blocks = "der", nil },
			summary: []string{"ca /etc/nginx-agent/ca.pem is DER; the agent reads only PEM"}},
		// Only a permission problem is fixed with chmod: --key /dev/zero or a directory is
		// the wrong path, and "sudo chmod 0600 /dev/zero" would break the host.
		{name: "key too large", id: "agent-cert-file-unreadable", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Files.Key = &probes.FileFacts{Role: probes.RoleKey, Path: "/dev/zero", Exists: true,
					ReadError: "/dev/zero is larger than 1048576 bytes, too large for a certificate, key or CA file"}
			},
			summary: []string{"key /dev/zero cannot be read"},
			fix:     []string{"Point tls.key at the key file", "7s|^\\([[:space:]]*key:\\).*$|\\1 \"<agent-key-path>\"|"},
			notFix:  []string{"chmod", "Let the agent's user read"}},
		{name: "world-readable key", id: "agent-cert-file-unreadable", want: SeverityWarn,
			mutate:  func(f *Facts, _ *testPKI) { f.Files.Key.Mode = 0o644 },
			summary: []string{"key /etc/nginx-agent/agent.key is readable by every user (mode 0644)"},
			fix:     []string{"sudo chmod 0600 /etc/nginx-agent/agent.key"}},
		{name: "CA file without a certificate", id: "agent-cert-file-unreadable", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Files.CA = &probes.FileFacts{Role: probes.RoleCA, Path: "/etc/nginx-agent/ca.pem", Exists: true, Mode: 0o644}
			},
			summary: []string{"CA file /etc/nginx-agent/ca.pem holds no certificate"}},
		{name: "PKCS#12 key", id: "agent-cert-file-unreadable", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Files.Key = &probes.FileFacts{Role: probes.RoleKey, Path: "/etc/nginx-agent/agent.pfx", Exists: true, Mode: 0o600, Encoding: "pkcs12"}
			},
			summary: []string{"key /etc/nginx-agent/agent.pfx is a PKCS#12 bundle (.p12/.pfx); the agent reads only PEM"},
			fix: []string{"sudo install -m 0600 /dev/null /etc/nginx-agent/agent-key.pem",
				"sudo openssl pkcs12 -in /etc/nginx-agent/agent.pfx -nocerts -nodes -out /etc/nginx-agent/agent-key.pem",
				"+  key: /etc/nginx-agent/agent-key.pem"},
			notFix: []string{"-clcerts"}},
		{name: "PKCS#12 key is not judged for a passphrase", id: "agent-key-encrypted", want: SeveritySkip,
			mutate: func(f *Facts, _ *testPKI) {
				f.Files.Key = &probes.FileFacts{Role: probes.RoleKey, Path: "/etc/nginx-agent/agent.pfx", Exists: true, Mode: 0o600, Encoding: "pkcs12"}
			},
			summary: []string{"PKCS#12"}},
		{name: "PKCS#12 CA file", id: "agent-cert-file-unreadable", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Files.CA = &probes.FileFacts{Role: probes.RoleCA, Path: "/etc/nginx-agent/ca.p12", Exists: true, Mode: 0o644, Encoding: "pkcs12"}
			},
			summary: []string{"ca /etc/nginx-agent/ca.p12 is a PKCS#12 bundle"},
			fix:     []string{"sudo openssl pkcs12 -in /etc/nginx-agent/ca.p12 -cacerts -nokeys -out /etc/nginx-agent/ca-cacerts.pem"}},
		{name: "CA file with only a leaf", id: "agent-cert-file-unreadable", want: SeverityWarn,
			mutate: func(f *Facts, p *testPKI) {
				f.Files.CA = certFile(probes.RoleCA, "/etc/nginx-agent/ca.pem", p.server.cert)
			},
			summary: []string{"only non-CA certificates"},
			fix:     []string{"openssl s_client -connect nim.example.com:443 -servername nim.example.com -showcerts"}},
		{name: "encrypted key", id: "agent-key-encrypted", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Files.Key.Key = nil
				f.Files.Key.Blocks = []probes.PEMBlock{{Type: "ENCRYPTED PRIVATE KEY", Encrypted: true, Line: 1}}
			},
			summary: []string{"key /etc/nginx-agent/agent.key is encrypted"},
			fix:     []string{"sudo openssl pkey -in /etc/nginx-agent/agent.key -out /etc/nginx-agent/agent.key.new"}},
		{name: "encrypted key is not also unreadable", id: "agent-cert-file-unreadable", want: SeverityOK,
			mutate: func(f *Facts, _ *testPKI) {
				f.Files.Key.Key = nil
				f.Files.Key.Blocks = []probes.PEMBlock{{Type: "RSA PRIVATE KEY", Encrypted: true, Line: 1}}
				f.Files.Key.ParseError = "x509: decryption password incorrect"
			}},
		{name: "key of another certificate", id: "agent-key-mismatch", want: SeverityFail,
			mutate:  func(f *Facts, p *testPKI) { f.Files.Key = keyFile("/etc/nginx-agent/agent.key", p.server) },
			summary: []string{"key /etc/nginx-agent/agent.key (ECDSA 256) does not belong to CN=agent-1.example.com"},
			fix: []string{"openssl x509 -in /etc/nginx-agent/agent.crt -noout -pubkey | openssl sha256",
				"sudo openssl pkey -in /etc/nginx-agent/agent.key -pubout | openssl sha256"}},
		{name: "leaf not first in the cert file", id: "agent-key-mismatch", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				f.Files.Cert = certFile(probes.RoleCert, "/etc/nginx-agent/agent.crt", p.root.cert, p.agent.cert)
			},
			summary: []string{"belongs to certificate 2 in /etc/nginx-agent/agent.crt (CN=agent-1.example.com)"}},
	})
}

func TestAgentCertChecks(t *testing.T) {
	runCases(t, []checkCase{
		{name: "expired", id: "agent-cert-expired", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				reissueAgent(t, f, p, certSpec{notBefore: testNow.AddDate(-1, 0, 0), notAfter: testNow.Add(-days(3))})
			},
			summary: []string{"CN=agent-1.example.com expired 2026-05-29 12:00:00 UTC (3 days ago)"},
			fix:     []string{"-key /etc/nginx-agent/agent.key", "openssl x509 -in /etc/nginx-agent/agent.crt", "sudo systemctl restart nginx-agent"}},
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
			fix:     []string{"timedatectl"}},
		{name: "not yet valid, clocks agree", id: "agent-cert-not-yet-valid", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				reissueAgent(t, f, p, certSpec{notBefore: testNow.Add(days(2)), notAfter: testNow.AddDate(1, 0, 0)})
			},
			summary: []string{"2 days from now"}},
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
			summary: []string{"29 days left"}},
		{name: "exactly CritDays left", id: "agent-cert-expiring", want: SeverityWarn,
			mutate: func(f *Facts, p *testPKI) {
				reissueAgent(t, f, p, certSpec{notBefore: testNow.AddDate(-1, 0, 0), notAfter: testNow.Add(days(7))})
			}},
		{name: "under CritDays", id: "agent-cert-expiring", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				reissueAgent(t, f, p, certSpec{notBefore: testNow.AddDate(-1, 0, 0), notAfter: testNow.Add(days(6.5))})
			},
			summary: []string{"6 days left"}},
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
			summary: []string{"4 hours left", "17% of its 24h lifetime"}},
		{name: "24h cert nearly gone", id: "agent-cert-expiring", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				reissueAgent(t, f, p, certSpec{notBefore: testNow.Add(-days(23.5 / 24)), notAfter: testNow.Add(days(0.5 / 24))})
			},
			summary: []string{"30 minutes left"}},
		{name: "serverAuth-only EKU", id: "agent-cert-wrong-purpose", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				reissueAgent(t, f, p, certSpec{eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			},
			summary: []string{"CN=agent-1.example.com has extended key usage serverAuth, without clientAuth"},
			fix:     []string{"extendedKeyUsage=clientAuth", "sudo openssl req -new -key /etc/nginx-agent/agent.key -subj /CN=agent-1.example.com -out /etc/nginx-agent/agent.csr"}},
		{name: "CA certificate as the agent's", id: "agent-cert-wrong-purpose", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				f.Files.Cert.Certs = []*x509.Certificate{p.root.cert}
				f.Files.Key = keyFile("/etc/nginx-agent/agent.key", p.root)
			},
			summary: []string{"CN=nms-ca is a CA certificate"}},
		{name: "RSA 1024", id: "agent-cert-weak-key", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				reissueAgent(t, f, p, certSpec{rsaBits: 1024, eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
			},
			summary: []string{"1024-bit RSA key"},
			fix:     []string{"ec_paramgen_curve:P-256", "-key /etc/nginx-agent/agent.key.new"}},
		{name: "SHA-1 signature", id: "agent-cert-weak-key", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				c := *p.agent.cert
				c.SignatureAlgorithm = x509.SHA1WithRSA
				f.Files.Cert.Certs = []*x509.Certificate{&c}
			},
			summary: []string{"signed with SHA1-RSA"}},
		{name: "intermediate left out of the cert file", id: "agent-chain-incomplete", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				p.agent = mkCert(t, certSpec{cn: "agent-1.example.com", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, p.inter)
				f.Files.Cert.Certs = []*x509.Certificate{p.agent.cert}
				f.Files.Key = keyFile("/etc/nginx-agent/agent.key", p.agent)
				f.Files.CA = certFile(probes.RoleCA, "/etc/nginx-agent/ca.pem", p.root.cert, p.inter.cert)
			},
			summary: []string{"/etc/nginx-agent/agent.crt lacks the intermediate CN=nms-int-ca", "(it is in /etc/nginx-agent/ca.pem)"},
			fix:     []string{"sudo sed -n '21,/-----END CERTIFICATE-----/p' /etc/nginx-agent/ca.pem | sudo tee -a /etc/nginx-agent/agent.crt >/dev/null"}},
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
