package diagnostics

import (
	"strconv"
	"strings"
	"testing"

	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// TestKeyMismatchRepair: a key that belongs to another certificate is replaced by the one
// the probe found beside the certificate, or by <server-key-path> when none was found;
// the step never asks a person to read the line when it can write it.
func TestKeyMismatchRepair(t *testing.T) {
	p := newPKI(t)
	const wrong = "/etc/nms/certs/manager-server.key"
	for _, tc := range []struct {
		name, match, wantLine string
	}{
		{"found beside", "/etc/nms/certs/server key.pem", `ssl_certificate_key "/etc/nms/certs/server key.pem";`},
		{"not found", "", `ssl_certificate_key "<server-key-path>";`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := healthyFacts(p)
			f.Nginx = nginxFacts(healthyConf, healthyFiles(p))
			f.Nginx.Explicit = true
			f.Nginx.Servers[0].Keys[0] = keyFile(wrong, p.agent) // the agent's key: not the server certificate's
			f.Nginx.Servers[0].MatchingKeys = []string{tc.match}
			f.Nginx.Test = &probes.NginxTest{Error: &nginxconf.Error{Msg: `SSL_CTX_use_PrivateKey("` + wrong +
				`") failed (SSL: error:05800074:x509 certificate routines::key values mismatch)`}}
			ch, _ := DefaultCatalog().Lookup("nginx-config-invalid")
			r := ch.Evaluate(f)
			if r.Severity != SeverityFail {
				t.Fatalf("%s %q, want fail", r.Severity, r.Summary)
			}
			steps := ch.playbook(f, r)
			if len(steps) != 1 {
				t.Fatalf("%d steps, want the key repair alone:\n%s", len(steps), playbookText(steps))
			}
			st := steps[0]
			if st.Manual != "" || !strings.Contains(st.Diff, "+        "+tc.wantLine) {
				t.Errorf("step %q (manual %q), diff:\n%s\nwant +%s", st.Title, st.Manual, st.Diff, tc.wantLine)
			}
			if len(st.Commands) != 3 || !strings.HasPrefix(st.Commands[0], "sudo cp -p ") || !strings.Contains(st.Commands[2], "nginx -t") {
				t.Errorf("want backup, sed, nginx -t then reload: %q", st.Commands)
			}
			hasInput := false
			for _, in := range st.Inputs {
				hasInput = hasInput || in.Name == "<server-key-path>"
			}
			if hasInput != (tc.match == "") {
				t.Errorf("inputs %+v: <server-key-path> declared %v, want %v", st.Inputs, hasInput, tc.match == "")
			}
			assertNoKeyMaterial(t, p, Finding{Summary: r.Summary, Fix: steps})
		})
	}
}

// TestHTTP2OnRepair: "http2 on" on NGINX 1.22 becomes the listen parameter of the server's
// TLS listens, in one sed that also removes the directive.
func TestHTTP2OnRepair(t *testing.T) {
	p := newPKI(t)
	f := healthyFacts(p)
	f.Nginx = nginxFacts(confWith("listen 443 ssl http2;", "listen 443 ssl;\n        listen 8443 ssl;\n        http2 on;"), healthyFiles(p))
	f.Nginx.Explicit = true
	f.Nginx.Test = &probes.NginxTest{Error: &nginxconf.Error{Msg: `unknown directive "http2"`, File: testNginxMain, Line: 6}}
	ch, _ := DefaultCatalog().Lookup("nginx-config-invalid")
	steps := ch.playbook(f, ch.Evaluate(f))
	if len(steps) != 1 || steps[0].Manual != "" {
		t.Fatalf("want one runnable step:\n%s", playbookText(steps))
	}
	st := steps[0]
	for _, want := range []string{"-        http2 on;", "+        listen 443 ssl http2;", "+        listen 8443 ssl http2;"} {
		if !strings.Contains(st.Diff, want) {
			t.Errorf("diff lacks %q:\n%s", want, st.Diff)
		}
	}
	want := "sudo sed -i -e '6s|http2[^;]*;||' -e '4s|listen[^;]*;|listen 443 ssl http2;|' -e '5s|listen[^;]*;|listen 8443 ssl http2;|' /etc/nginx/nginx.conf"
	if len(st.Commands) != 3 || st.Commands[1] != want {
		t.Errorf("commands %q\nwant sed %q", st.Commands, want)
	}
	// From 1.25.1 on the directive is right, and the step is not offered.
	f.Nginx.Version = "1.25.1"
	if _, ok := http2OnRepair(f); ok {
		t.Errorf("http2 on rewritten on NGINX 1.25.1")
	}
}

// TestAgentLocationsTarget: with no server passing the agents' paths, the locations go to
// the one server the agent reaches or the one TLS server that verifies clients; with
// several, the step is manual and names them.
func TestAgentLocationsTarget(t *testing.T) {
	p := newPKI(t)
	const two = `events {}
http {
    server {
        listen 443 ssl;
        server_name nim.example.com;
        ssl_verify_client on;
        location / { return 404; }
    }
    server {
        listen 8443 ssl;
        server_name api.example.com;
        ssl_verify_client optional;
        location / { return 404; }
    }
    server {
        listen 80;
        location / { return 404; }
    }
}
`
	ch, _ := DefaultCatalog().Lookup("nginx-agent-server-missing")
	for _, tc := range []struct {
		name     string
		agent    *probes.AgentConfig
		wantLine int    // line the locations go after; 0: manual
		manual   string // what the manual step names
	}{
		{"agent names one", &probes.AgentConfig{Host: probes.Setting{Value: "api.example.com"}, Port: probes.Setting{Value: "8443"}}, 12, ""},
		{"no agent: two verify", nil, 0, "nginx.conf:3 (listen 443), server at /etc/nginx/nginx.conf:9 (listen 8443)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := healthyFacts(p)
			f.Agent = tc.agent
			f.Nginx = nginxFacts(two, testFiles{})
			f.Nginx.Explicit = true
			f.Nginx.AgentCert = &probes.FileFacts{Path: "/tmp/agent.crt"}
			r := ch.Evaluate(f)
			if r.Severity != SeverityFail {
				t.Fatalf("%s %q", r.Severity, r.Summary)
			}
			steps := ch.playbook(f, r)
			if len(steps) != 1 {
				t.Fatalf("%d steps", len(steps))
			}
			st := steps[0]
			if tc.wantLine == 0 {
				if st.Manual == "" || !strings.Contains(st.Manual, tc.manual) {
					t.Errorf("manual %q, want it to name %q", st.Manual, tc.manual)
				}
				return
			}
			if st.Manual != "" {
				t.Fatalf("manual: %s", st.Manual)
			}
			for _, want := range []string{"location /f5.nginx.agent.sdk.Commander {", "location /f5.nginx.agent.sdk.MetricsService {",
				"grpc_pass grpc://<backend-address>;", "grpc_read_timeout 5m;"} {
				if !strings.Contains(st.Diff, want) {
					t.Errorf("diff lacks %q:\n%s", want, st.Diff)
				}
			}
			if !strings.Contains(st.Commands[1], "-e '"+strconv.Itoa(tc.wantLine)+"a\\") {
				t.Errorf("sed does not add after line %d: %q", tc.wantLine, st.Commands[1])
			}
		})
	}
	// NIM 2.x's own upstreams are used when the configuration defines them.
	locs := strings.Join(agentLocations(nginxFacts("events {}\nhttp {\n    upstream dpm-grpc-service { server unix:/var/run/nms/am.sock; }\n}\n", testFiles{}).Config), "\n")
	if !strings.Contains(locs, "grpc_pass grpc://dpm-grpc-service;") || !strings.Contains(locs, "grpc_pass grpc://<backend-address>;") {
		t.Errorf("locations:\n%s", locs)
	}
}
