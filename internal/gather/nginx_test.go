package gather

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"testing"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/probes"
)

const managerConf = `events {}
http {
    server {
        listen 443 ssl;
        location /f5.nginx.agent.sdk.Commander { grpc_pass grpc://127.0.0.1:10000; }
    }
}
`

const dataPlaneConf = "events {}\nhttp { server { listen 80; location / { root /srv; } } }\n"

func writeConf(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRoleDetection: which side a run judges follows from what is on the host.
func TestRoleDetection(t *testing.T) {
	agentConf := writeConf(t, "nginx-agent.conf", "server:\n  host: nim.example.com\n  grpcPort: 443\ntls:\n  enable: true\n")
	noAgent := []string{filepath.Join(t.TempDir(), "none.conf")}
	quiet := probes.NginxOptions{NoBinary: true, NIMFiles: []string{}, NIM1Paths: []string{}}
	for name, tc := range map[string]struct {
		agent       probes.AgentConfigOptions
		nginx       probes.NginxOptions
		managerOnly bool // the agent-side facts are skipped
		manager     bool // the NGINX facts show an agent-facing server
	}{
		"agent only": {agent: probes.AgentConfigOptions{Path: agentConf},
			nginx: with(quiet, func(o *probes.NginxOptions) { o.Search = []string{writeConf(t, "nginx.conf", dataPlaneConf)} })},
		"manager by discovery": {agent: probes.AgentConfigOptions{SearchPaths: noAgent}, managerOnly: true, manager: true,
			nginx: with(quiet, func(o *probes.NginxOptions) { o.Search = []string{writeConf(t, "nginx.conf", managerConf)} })},
		"manager named, --cert given": {agent: probes.AgentConfigOptions{SearchPaths: noAgent, Overrides: probes.AgentOverrides{Cert: "/x/agent.crt"}},
			managerOnly: true, manager: true,
			nginx: with(quiet, func(o *probes.NginxOptions) { o.Config = writeConf(t, "nginx.conf", managerConf) })},
		"both": {agent: probes.AgentConfigOptions{Path: agentConf}, manager: true,
			nginx: with(quiet, func(o *probes.NginxOptions) { o.Config = writeConf(t, "nginx.conf", managerConf) })},
		"neither": {agent: probes.AgentConfigOptions{SearchPaths: noAgent},
			nginx: with(quiet, func(o *probes.NginxOptions) { o.Search = []string{writeConf(t, "nginx.conf", dataPlaneConf)} })},
	} {
		t.Run(name, func(t *testing.T) {
			c := New(Options{Agent: tc.agent, Nginx: tc.nginx})
			f := &diagnostics.Facts{Errors: map[diagnostics.FactKind]string{}}
			err := c.Gather(context.Background(), diagnostics.FactAgentConfig, f)
			if got := err != nil && strings.Contains(err.Error(), "manager side only"); got != tc.managerOnly {
				t.Fatalf("manager-only %v (err %v), want %v", got, err, tc.managerOnly)
			}
			if f.Nginx == nil {
				if err := c.Gather(context.Background(), diagnostics.FactNginx, f); err != nil {
					t.Fatal(err)
				}
			}
			if f.Nginx.Manager() != tc.manager {
				t.Errorf("manager %v, want %v", f.Nginx.Manager(), tc.manager)
			}
			if tc.managerOnly && tc.agent.Overrides.Cert != "" && (f.Nginx.AgentCert == nil || f.Nginx.AgentCert.Path != "/x/agent.crt") {
				t.Errorf("--cert is not the agent certificate judged: %+v", f.Nginx.AgentCert)
			}
		})
	}
}

func with(o probes.NginxOptions, edit func(*probes.NginxOptions)) probes.NginxOptions {
	edit(&o)
	return o
}

// `nginx -T` output on standard input is read once: the assistant's re-runs parse it
// again, while --check's single run lets it go and refuses a second parse rather than
// judge an empty configuration.
func TestStdinDumpReruns(t *testing.T) {
	dump := "# configuration file /etc/nginx/nginx.conf:\n" + managerConf
	for _, single := range []bool{false, true} {
		c := New(Options{SingleRun: single, Nginx: probes.NginxOptions{Config: probes.StdinName, Stdin: strings.NewReader(dump), NoBinary: true}})
		for run := range 2 {
			f := &diagnostics.Facts{Errors: map[diagnostics.FactKind]string{}}
			if err := c.Gather(context.Background(), diagnostics.FactNginx, f); err != nil {
				t.Fatal(err)
			}
			n := f.Nginx
			switch {
			case run == 1 && single:
				if n.Config != nil || !strings.Contains(n.ReadError, "already read") {
					t.Errorf("single run, second parse: config %v, read error %q; want the refusal", n.Config != nil, n.ReadError)
				}
			case n.Config == nil || len(n.Servers) != 1:
				t.Errorf("single=%v run %d: read error %q, %d agent servers; want the dump's one", single, run, n.ReadError, len(n.Servers))
			}
		}
	}
}

// A single run lowers GOGC once the live heap is a big configuration's, and only then;
// a GOGC set before (the user's) stays.
func TestTightenGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	runtime.GC()
	tightenGC()
	if got := debug.SetGCPercent(100); got != 100 && liveHeap() < bigLiveHeap {
		t.Errorf("GOGC %d with a small live heap (%d bytes), want 100", got, liveHeap())
	}
	tree := make([][]byte, 0, 64)
	for range bigLiveHeap / (1 << 20) * 2 {
		tree = append(tree, make([]byte, 1<<20))
	}
	runtime.GC()
	tightenGC()
	if got := debug.SetGCPercent(200); got != tightGOGC {
		t.Errorf("GOGC %d with a %d-byte live heap, want %d", got, liveHeap(), tightGOGC)
	}
	tightenGC()
	if got := debug.SetGCPercent(100); got != 200 {
		t.Errorf("GOGC %d after the user's 200, want it kept", got)
	}
	runtime.KeepAlive(tree)
}

func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
