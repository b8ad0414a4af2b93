package diagnostics

import (
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
			fix:     []string{"ls -l /etc/nginx-agent/"},
			cause:   Cause{Code: CauseConfigMissing}},
		{name: "--agent-config names a missing path", id: "agent-config-missing", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.Path, f.Agent.PathGiven = "", true
				f.Agent.Searched = []string{"/etc/nope/nginx-agent.conf"}
			},
			summary: []string{"--agent-config /etc/nope/nginx-agent.conf does not exist"},
			fix:     []string{"ls -l /etc/nginx-agent/", "mtls-doctor --check --agent-config '<agent-config-path>'"},
			notFix:  []string{"Create", "mkdir", "tee", "systemctl restart"},
			cause:   Cause{Code: CauseConfigMissing}},
		{name: "--agent-config names a directory", id: "agent-config-missing", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.Path, f.Agent.PathGiven = "/etc/nginx-agent", true
				f.Agent.Searched = []string{"/etc/nginx-agent"}
				f.Agent.Error = &probes.ConfigError{Path: "/etc/nginx-agent", Message: "is a directory", NotRegular: true,
					Inside: "/etc/nginx-agent/nginx-agent.conf"}
			},
			summary: []string{"--agent-config /etc/nginx-agent is a directory, not a file"},
			fix:     []string{"mtls-doctor --check --agent-config /etc/nginx-agent/nginx-agent.conf"},
			notFix:  []string{"YAML", "tee", "cp -p", "sed -i", "systemctl restart"},
			cause:   Cause{Code: CauseConfigMissing}},
		{name: "directory at the agent's own location", id: "agent-config-missing", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.Error = &probes.ConfigError{Path: f.Agent.Path, Message: "is a directory", NotRegular: true}
			},
			summary: []string{"the agent's configuration path /etc/nginx-agent/nginx-agent.conf is a directory"},
			notFix:  []string{"--agent-config", "tee", "cp -p", "sed -i"}},
		{name: "directory is not parsed", id: "agent-config-invalid", want: SeveritySkip,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.PathGiven = true
				f.Agent.Error = &probes.ConfigError{Path: f.Agent.Path, Message: "is a directory", NotRegular: true}
			}},
		{name: "missing --agent-config: port fixed on --server, not in the path typed", id: "agent-config-invalid", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.Path, f.Agent.PathGiven = "", true
				f.Agent.Searched = []string{"/etc/nope/nginx-agent.conf"}
				f.Agent.Host = probes.Setting{Value: "nim.example.com", Source: probes.Source{Kind: probes.SourceFlag, Name: "--server"}}
				f.Agent.Port = f.Agent.Host
				f.Agent.Port.Value = ""
			},
			summary: []string{"no --server port is set"},
			fix:     []string{"mtls-doctor --check --server nim.example.com:443"},
			notFix:  []string{"/etc/nope", "tee", "sed -i"}},
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
			fix:     []string{"sudo sed -n '4,10p' /etc/nginx-agent/nginx-agent.conf", "sudo systemctl restart nginx-agent"},
			cause:   Cause{Code: CauseConfigInvalid}},
		{name: "v2 keys in a v3 file", id: "agent-config-invalid", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.Format = probes.FormatV3
				f.Agent.MixedKeys = []string{"tls (line 12)"}
			},
			summary: []string{"agent v3 file holds v2 keys: tls (line 12)"},
			fix:     []string{"command.server and command.tls"},
			cause:   Cause{Code: CauseConfigInvalid}},
		{name: "host missing", id: "agent-config-invalid", want: SeverityFail,
			mutate:  func(f *Facts, _ *testPKI) { f.Agent.Host = probes.Setting{} },
			summary: []string{"no server host is set"},
			cause:   Cause{Code: CauseConfigInvalid}},
		{name: "port written as a list", id: "agent-config-invalid", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.Port = probes.Setting{}
				f.Agent.TypeErrors = []probes.TypeError{{Key: "server.grpcPort", Type: "a list",
					Source: probes.Source{Kind: probes.SourceFile, Name: "/etc/nginx agent/nginx-agent.conf", Line: 3}}}
			},
			summary: []string{"/etc/nginx agent/nginx-agent.conf:3: server.grpcPort is a list, not one value"},
			fix:     []string{"sudo sed -n '2,6p' '/etc/nginx agent/nginx-agent.conf'"}, notFix: []string{"Set server.host and server.grpcPort"},
			cause: Cause{Code: CauseConfigInvalid}},
		{name: "placeholder host", id: "agent-config-invalid", want: SeverityFail,
			mutate:  func(f *Facts, _ *testPKI) { f.Agent.Host = fileSetting("<NGINX-INSTANCE-MANAGER-FQDN>", 2) },
			summary: []string{"placeholder"},
			cause:   Cause{Code: CauseConfigInvalid}},
		{name: "deprecated env", id: "agent-env-overrides", want: SeverityWarn,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.Env = []probes.EnvOverride{{Name: "NMS_TLS_CERT", Key: "tls.cert", Deprecated: true}}
			},
			summary: []string{"NMS_TLS_CERT"}, fix: []string{"NMS_TLS_CERT → NGINX_AGENT_TLS_CERT"},
			cause: Cause{Code: CauseDeprecatedEnv}},
		{name: "tls off against a TLS port", id: "agent-tls-disabled", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.TLSEnabled = fileSetting("false", 5)
				f.Endpoint.PlainText = true
				f.Endpoint.NoCert = nil
				f.Endpoint.Agent = &probes.Attempt{HTTP: &probes.HTTPObservation{Error: &probes.ProbeError{Kind: probes.ErrProtocol, Message: "http2: frame too large"}}}
			},
			summary: []string{"TLS is off (/etc/nginx-agent/nginx-agent.conf:5)", "expects TLS", "frame too large"},
			fix:     []string{"-  enable: false\n+  enable: true\n   cert: /etc/nginx-agent/agent.crt"},
			cause:   Cause{Code: CauseTLSOff}},
		{name: "tls off, NGINX says plain HTTP to HTTPS port", id: "agent-tls-disabled", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.TLSEnabled = fileSetting("false", 5)
				f.Endpoint.PlainText = true
				f.Endpoint.Agent = &probes.Attempt{HTTP: nginx400(titlePlainHTTP)}
			},
			summary: []string{"expects TLS"},
			cause:   Cause{Code: CauseTLSOff}},
		{name: "tls off against a plaintext port", id: "agent-tls-disabled", want: SeverityWarn,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.TLSEnabled = fileSetting("false", 5)
				f.Endpoint.PlainText = true
				f.Endpoint.Agent = &probes.Attempt{HTTP: grpcOK()}
			},
			summary: []string{"unencrypted"},
			cause:   Cause{Code: CauseTLSOff}},
		{name: "tls off v3: fix adds command.tls", id: "agent-tls-disabled", want: SeverityWarn,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.Format = probes.FormatV3
				f.Agent.TLSEnabled = probes.Setting{Value: "false"}
				f.Endpoint.PlainText = true
				f.Endpoint.Agent = &probes.Attempt{HTTP: grpcOK()}
			},
			fix:   []string{" command:\n   tls:\n     cert: /etc/nginx-agent/agent.crt\n     key: /etc/nginx-agent/agent.key"},
			cause: Cause{Code: CauseTLSOff}},
		{name: "skip_verify in file", id: "agent-skip-verify", want: SeverityWarn,
			mutate:  func(f *Facts, _ *testPKI) { f.Agent.SkipVerify = fileSetting("true", 9) },
			summary: []string{"skip_verify is on (/etc/nginx-agent/nginx-agent.conf:9)"},
			fix:     []string{"-  skip_verify: true\n+  skip_verify: false", "-CAfile /etc/nginx-agent/ca.pem"},
			cause:   Cause{Code: CauseSkipVerify}},
		{name: "skip_verify from env", id: "agent-skip-verify", want: SeverityWarn,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.SkipVerify = probes.Setting{Value: "true", Source: probes.Source{Kind: probes.SourceEnv, Name: "NGINX_AGENT_TLS_SKIP_VERIFY"}}
			},
			fix:   []string{"NGINX_AGENT_TLS_SKIP_VERIFY=false", "/etc/systemd/system/nginx-agent.service.d/mtls-doctor.conf", "sudo systemctl daemon-reload"},
			cause: Cause{Code: CauseSkipVerify}},
	})
}
