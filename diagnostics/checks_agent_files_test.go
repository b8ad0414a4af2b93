package diagnostics

import (
	"testing"

	"github.com/mtls-doctor/mtls-doctor/probes"
)

func TestAgentFileChecks(t *testing.T) {
	runCases(t, []checkCase{
		{name: "no cert or key", id: "agent-cert-not-configured", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.Cert, f.Agent.Key = probes.Setting{}, probes.Setting{}
				f.Files.Cert, f.Files.Key = nil, nil
			},
			summary: []string{"tls.cert and tls.key are empty"},
			cause:   Cause{Code: CauseNotConfigured}},
		{name: "v3 key only", id: "agent-cert-not-configured", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.Format = probes.FormatV3
				f.Agent.Cert = probes.Setting{}
				f.Files.Cert = nil
			},
			summary: []string{"command.tls.key is set (/etc/nginx-agent/agent.key) but command.tls.cert is not"},
			cause:   Cause{Code: CauseNotConfigured}},
		{name: "key pasted into --key, no cert", id: "agent-cert-not-configured", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.Cert = probes.Setting{}
				f.Agent.Key = probes.Setting{Value: "[PEM data]", Secret: "PEM data", Source: probes.Source{Kind: probes.SourceFlag, Name: "--key"}}
				f.Files.Cert = nil
				f.Files.Key = &probes.FileFacts{Role: probes.RoleKey, Path: "[PEM data]", NotPath: "PEM data"}
			},
			summary: []string{"--key is set ([PEM data]) but tls.cert is not"},
			fix:     []string{"+  cert: <agent-cert-path>", "mtls-doctor --check --key '<agent-key-path>'"},
			notFix:  []string{"PEM data", "key:"},
			cause:   Cause{Code: CauseNotConfigured}},
		{name: "key pasted into --key, no config file", id: "agent-cert-not-configured", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.Path, f.Agent.Searched = "", []string{"/etc/nginx-agent/nginx-agent.conf", "/nginx-agent.conf"}
				f.Agent.Cert = probes.Setting{}
				f.Agent.Key = probes.Setting{Value: "[PEM data]", Secret: "PEM data", Source: probes.Source{Kind: probes.SourceFlag, Name: "--key"}}
				f.Files.Cert = nil
				f.Files.Key = &probes.FileFacts{Role: probes.RoleKey, Path: "[PEM data]", NotPath: "PEM data"}
			},
			summary: []string{"--key is set ([PEM data]) but --cert is not"},
			fix:     []string{"--cert '<agent-cert-path>' --key '<agent-key-path>'"},
			notFix:  []string{"PEM data", "tee", "sed -i", "cert:"},
			cause:   Cause{Code: CauseNotConfigured}},
		{name: "tls off skips", id: "agent-cert-not-configured", want: SeveritySkip,
			mutate: func(f *Facts, _ *testPKI) { f.Agent.TLSEnabled = fileSetting("false", 5) }},
		{name: "key pasted into --key", id: "agent-cert-file-unreadable", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.Key = probes.Setting{Value: "[PEM data]", Secret: "PEM data", Source: probes.Source{Kind: probes.SourceFlag, Name: "--key"}}
				f.Files.Key = &probes.FileFacts{Role: probes.RoleKey, Path: "[PEM data]", NotPath: "PEM data"}
			},
			summary: []string{"--key holds PEM data, not a path"},
			fix:     []string{"Pass the path of the key file to --key", "--key '<agent-key-path>'"},
			notFix:  []string{"PEM data", "key:", "tee", "install"},
			cause:   Cause{Code: "file-not-a-path"}},
		{name: "--cert names a missing file", id: "agent-cert-file-unreadable", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.Cert = probes.Setting{Value: "/home/me/agnet.crt", Source: probes.Source{Kind: probes.SourceFlag, Name: "--cert"}}
				f.Files.Cert = &probes.FileFacts{Role: probes.RoleCert, Path: "/home/me/agnet.crt"}
			},
			summary: []string{"--cert /home/me/agnet.crt does not exist"},
			fix:     []string{"ls -l -- /home/me", "--cert '<agent-cert-path>'"},
			notFix:  []string{"mkdir", "install", "tee", "cert:"},
			cause:   Cause{Code: CauseFileMissing}},
		{name: "--ca names an empty file", id: "agent-cert-file-unreadable", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.CA = probes.Setting{Value: "/tmp/ca.pem", Source: probes.Source{Kind: probes.SourceFlag, Name: "--ca"}}
				f.Files.CA = &probes.FileFacts{Role: probes.RoleCA, Path: "/tmp/ca.pem", Exists: true, Encoding: ""}
			},
			summary: []string{"--ca /tmp/ca.pem holds no certificate"},
			fix:     []string{"sudo grep -n -- '-----BEGIN' /tmp/ca.pem", "--ca '<manager-ca-path>'"},
			notFix:  []string{"sudo cp", ".bak", "ca:"},
			cause:   Cause{Code: "file-empty"}},
		{name: "cert missing", id: "agent-cert-file-unreadable", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Files.Cert = &probes.FileFacts{Role: probes.RoleCert, Path: "/etc/nginx-agent/agent.crt"}
			},
			summary: []string{"cert /etc/nginx-agent/agent.crt does not exist"},
			fix:     []string{"sudo install -m 0644 '<agent-cert-path>' /etc/nginx-agent/agent.crt"},
			cause:   Cause{Code: CauseFileMissing}},
		{name: "relative cert path missing names the working directory", id: "agent-cert-file-unreadable", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.Cert = fileSetting("/agent.crt", 6)
				f.Agent.Cert.Written, f.Agent.WorkDir = "agent.crt", "/"
				f.Files.Cert = &probes.FileFacts{Role: probes.RoleCert, Path: "/agent.crt"}
			},
			summary: []string{`cert /agent.crt does not exist ("agent.crt" in /etc/nginx-agent/nginx-agent.conf:6 is relative: resolved against the agent's working directory /)`},
			cause:   Cause{Code: CauseFileMissing}},
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
			fix:     []string{"sudo namei -l /etc/nginx-agent/agent.key", "sudo chmod 0600 /etc/nginx-agent/agent.key"},
			cause:   Cause{Code: "file-unreadable"}},
		{name: "cert and key swapped", id: "agent-cert-file-unreadable", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				f.Files.Cert = keyFile("/etc/nginx-agent/agent.crt", p.agent)
				f.Files.Cert.Role = probes.RoleCert
				f.Files.Key = certFile(probes.RoleKey, "/etc/nginx-agent/agent.key", p.agent.cert)
			},
			summary: []string{"holds a private key, not a certificate", "and 2 more problems"},
			fix:     []string{"+  cert: /etc/nginx-agent/agent.key", "+  key: /etc/nginx-agent/agent.crt"},
			cause:   Cause{Code: "file-swapped"}},
		{name: "DER key as cert", id: "agent-cert-file-unreadable", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				f.Files.Cert = keyFile("/etc/nginx-agent/agent.crt", p.agent)
				f.Files.Cert.Role, f.Files.Cert.Encoding, f.Files.Cert.Blocks = probes.RoleCert, "der", nil
			},
			summary: []string{"cert /etc/nginx-agent/agent.crt holds a private key, not a certificate"},
			cause:   Cause{Code: "file-swapped"}},
		// The agent loads its pair with tls.LoadX509KeyPair and its CA with
		// AppendCertsFromPEM: PEM only, so a well-formed DER file still fails it.
		{name: "DER certificate", id: "agent-cert-file-unreadable", want: SeverityFail,
			mutate:  func(f *Facts, _ *testPKI) { f.Files.Cert.Encoding, f.Files.Cert.Blocks = "der", nil },
			summary: []string{"cert /etc/nginx-agent/agent.crt is DER; the agent reads only PEM"},
			fix:     []string{"sudo openssl x509 -inform der -in /etc/nginx-agent/agent.crt -out /etc/nginx-agent/agent.crt.pem"},
			cause:   Cause{Code: "file-der"}},
		{name: "DER key", id: "agent-cert-file-unreadable", want: SeverityFail,
			mutate:  func(f *Facts, _ *testPKI) { f.Files.Key.Encoding, f.Files.Key.Blocks = "der", nil },
			summary: []string{"key /etc/nginx-agent/agent.key is DER; the agent reads only PEM"},
			fix:     []string{"sudo openssl pkey -inform der -in /etc/nginx-agent/agent.key -out /etc/nginx-agent/agent.key.pem"},
			notFix:  []string{"openssl x509 -inform der -in /etc/nginx-agent/agent.key"},
			cause:   Cause{Code: "file-der"}},
		{name: "DER CA file", id: "agent-cert-file-unreadable", want: SeverityFail,
			mutate:  func(f *Facts, _ *testPKI) { f.Files.CA.Encoding, f.Files.CA.Blocks = "der", nil },
			summary: []string{"ca /etc/nginx-agent/ca.pem is DER; the agent reads only PEM"},
			cause:   Cause{Code: "file-der"}},
		// Only a permission problem is fixed with chmod: --key /dev/zero or a directory is
		// the wrong path, and "sudo chmod 0600 /dev/zero" would break the host.
		{name: "key too large", id: "agent-cert-file-unreadable", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Files.Key = &probes.FileFacts{Role: probes.RoleKey, Path: "/dev/zero", Exists: true,
					ReadError: "/dev/zero is larger than 1048576 bytes, too large for a certificate, key or CA file"}
			},
			summary: []string{"key /dev/zero cannot be read"},
			fix:     []string{"Point tls.key at the key file", "7s|^\\([[:space:]]*key:\\).*$|\\1 \"<agent-key-path>\"|"},
			notFix:  []string{"chmod", "Let the agent's user read"},
			cause:   Cause{Code: "file-unreadable"}},
		{name: "world-readable key", id: "agent-cert-file-unreadable", want: SeverityWarn,
			mutate:  func(f *Facts, _ *testPKI) { f.Files.Key.Mode = 0o644 },
			summary: []string{"key /etc/nginx-agent/agent.key is readable by every user (mode 0644)"},
			fix:     []string{"sudo chmod 0600 /etc/nginx-agent/agent.key"},
			cause:   Cause{Code: "file-world-readable"}},
		{name: "CA file without a certificate", id: "agent-cert-file-unreadable", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Files.CA = &probes.FileFacts{Role: probes.RoleCA, Path: "/etc/nginx-agent/ca.pem", Exists: true, Mode: 0o644}
			},
			summary: []string{"CA file /etc/nginx-agent/ca.pem holds no certificate"},
			cause:   Cause{Code: "file-empty"}},
		{name: "PKCS#12 key", id: "agent-cert-file-unreadable", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Files.Key = &probes.FileFacts{Role: probes.RoleKey, Path: "/etc/nginx-agent/agent.pfx", Exists: true, Mode: 0o600, Encoding: "pkcs12"}
			},
			summary: []string{"key /etc/nginx-agent/agent.pfx is a PKCS#12 bundle (.p12/.pfx); the agent reads only PEM"},
			fix: []string{"sudo install -m 0600 /dev/null /etc/nginx-agent/agent-key.pem",
				"sudo openssl pkcs12 -in /etc/nginx-agent/agent.pfx -nocerts -nodes -out /etc/nginx-agent/agent-key.pem",
				"+  key: /etc/nginx-agent/agent-key.pem"},
			notFix: []string{"-clcerts"},
			cause:  Cause{Code: "file-pkcs12"}},
		// A path with glob characters is quoted in the playbook, even one that looks like
		// the report's mask.
		{name: "PKCS#12 key in an odd directory", id: "agent-cert-file-unreadable", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Files.Key = &probes.FileFacts{Role: probes.RoleKey, Path: "/etc/[redacted]/agent.pfx", Exists: true, Mode: 0o600, Encoding: "pkcs12"}
			},
			fix:   []string{"sudo openssl pkcs12 -in '/etc/[redacted]/agent.pfx' -nocerts -nodes -out '/etc/[redacted]/agent-key.pem'"},
			cause: Cause{Code: "file-pkcs12"}},
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
			fix:     []string{"sudo openssl pkcs12 -in /etc/nginx-agent/ca.p12 -cacerts -nokeys -out /etc/nginx-agent/ca-cacerts.pem"},
			cause:   Cause{Code: "file-pkcs12"}},
		{name: "CA file with only a leaf", id: "agent-cert-file-unreadable", want: SeverityWarn,
			mutate: func(f *Facts, p *testPKI) {
				f.Files.CA = certFile(probes.RoleCA, "/etc/nginx-agent/ca.pem", p.server.cert)
			},
			summary: []string{"only non-CA certificates"},
			fix:     []string{"openssl s_client -connect nim.example.com:443 -servername nim.example.com -showcerts"},
			cause:   Cause{Code: "file-no-ca"}},
		{name: "encrypted key", id: "agent-key-encrypted", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Files.Key.Key = nil
				f.Files.Key.Blocks = []probes.PEMBlock{{Type: "ENCRYPTED PRIVATE KEY", Encrypted: true, Line: 1}}
			},
			summary: []string{"key /etc/nginx-agent/agent.key is encrypted"},
			fix:     []string{"sudo openssl pkey -in /etc/nginx-agent/agent.key -out /etc/nginx-agent/agent.key.new"},
			cause:   Cause{Code: CauseKeyEncrypted}},
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
				"sudo openssl pkey -in /etc/nginx-agent/agent.key -pubout | openssl sha256"},
			cause: Cause{Code: CauseKeyMismatch}},
		{name: "leaf not first in the cert file", id: "agent-key-mismatch", want: SeverityFail,
			mutate: func(f *Facts, p *testPKI) {
				f.Files.Cert = certFile(probes.RoleCert, "/etc/nginx-agent/agent.crt", p.root.cert, p.agent.cert)
			},
			summary: []string{"belongs to certificate 2 in /etc/nginx-agent/agent.crt (CN=agent-1.example.com)"},
			cause:   Cause{Code: CauseKeyMismatch}},
	})
}
