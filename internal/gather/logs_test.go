package gather

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/logparse"
	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

const logsConf = `
error_log logs/error.log info;
events {}
http {
    error_log /var/log/nginx/http-error.log;
    log_format grpc_json escape=json '{"timestamp":"$time_iso8601","client":"$remote_addr",'
                                     '"uri":"$uri","http-status":$status,'
                                     '"grpc-status":$grpc_status,"upstream":"$upstream_addr"'
                                     '"rx-bytes":$request_length,"tx-bytes":$bytes_sent}';
    access_log /var/log/nginx/access.log;
    server {
        listen 443 ssl http2;
        server_name nim.example.com;
        error_log logs/error.log warn;
        access_log logs/grpc.log grpc_json;
        access_log syslog:server=unix:/dev/log;
        location /f5.nginx.agent.sdk.Commander { grpc_pass grpc://127.0.0.1:10000; }
    }
    server {
        listen 80;
        access_log off;
    }
}
`

func TestLogFiles(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "nginx.conf")
	cfg, err := nginxconf.Parse(main, []byte(logsConf), nginxconf.Options{Prefix: "/srv/nginx"})
	if err != nil {
		t.Fatal(err)
	}
	nginx := probes.NewNginxFacts(cfg, probes.NginxFile, 443)
	if len(nginx.Servers) != 1 {
		t.Fatalf("%d agent servers", len(nginx.Servers))
	}
	agentDir := filepath.Join(dir, "agent-logs")
	os.Mkdir(agentDir, 0o755)
	agent := &probes.AgentConfig{LogPath: probes.Setting{Value: agentDir, Source: probes.Source{Kind: probes.SourceFile, Name: "/etc/nginx-agent/nginx-agent.conf"}}}

	files := LogFiles(agent, nginx, []string{"/tmp/x.log"}, DefaultLogFiles())
	got := map[string]logparse.File{}
	var order []string
	for _, f := range files {
		got[f.Path] = f
		order = append(order, f.Path)
	}
	want := []string{"/srv/nginx/logs/error.log", "/var/log/nginx/http-error.log", "/srv/nginx/logs/grpc.log",
		filepath.Join(agentDir, "agent.log"), "/tmp/x.log"}
	if strings.Join(order, " ") != strings.Join(want, " ") {
		t.Fatalf("files %q\nwant  %q", order, want)
	}
	if e := got["/srv/nginx/logs/error.log"]; e.Type != logparse.TypeNginxError || e.Level != "info" || e.Origin != "error_log at "+main+":2" {
		t.Errorf("error log %+v", e)
	}
	if a := got["/srv/nginx/logs/grpc.log"]; a.Type != logparse.TypeNginxAccess || len(a.Formats) != 1 || a.Formats[0].Name != "grpc_json" || a.Formats[0].Escape != "json" {
		t.Errorf("access log %+v", a)
	}
	if a := got[filepath.Join(agentDir, "agent.log")]; a.Type != logparse.TypeAgent || a.Origin != "log.path in /etc/nginx-agent/nginx-agent.conf" {
		t.Errorf("agent log %+v", a)
	}
	if x := got["/tmp/x.log"]; x.Type != logparse.TypeAuto || len(x.Formats) != 3 || x.Formats[1].Name != "grpc_json" {
		t.Errorf("--logs %+v", x)
	}

	// Nothing configured: the defaults; log.path set empty: no agent log.
	files = LogFiles(&probes.AgentConfig{LogPath: probes.Setting{Source: probes.Source{Kind: probes.SourceFile}}}, nil, nil, DefaultLogFiles())
	if len(files) != 2 || files[0].Path != DefaultNginxErrorLog || files[1].Path != DefaultNginxAccessLog {
		t.Errorf("defaults %+v", files)
	}
	if files := LogFiles(nil, nil, nil, DefaultLogFiles()); len(files) != 3 || files[2].Path != "/var/log/nginx-agent/agent.log" {
		t.Errorf("no configs: %+v", files)
	}
}

// TestGatherLogs reads a real-format log through the collector, windowed at the engine's
// start time.
func TestGatherLogs(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 22, 16, 10, 0, 0, time.UTC)
	errLog := filepath.Join(dir, "error.log")
	lines := `2026/11/22 14:05:53 [info] 665#665: *1 client SSL certificate verify error: (10:certificate has expired) while reading client request headers, client: 10.0.0.4, server: nim.test.local
2026/11/22 16:05:53 [info] 665#665: *1 client SSL certificate verify error: (10:certificate has expired) while reading client request headers, client: 10.0.0.5, server: nim.test.local, request: "POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0", host: "127.0.0.1:35051"
`
	if err := os.WriteFile(errLog, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(errLog, now, now)
	c := New(Options{Logs: LogOptions{Location: time.UTC, Defaults: []logparse.File{{Path: errLog, Type: logparse.TypeNginxError, Origin: OriginDefault}}}})
	f := &diagnostics.Facts{Now: now}
	if err := c.Gather(context.Background(), diagnostics.FactLogs, f); err != nil {
		t.Fatal(err)
	}
	if f.Logs == nil || len(f.Logs.Summaries) != 1 || f.Logs.Summaries[0].Count != 1 || f.Logs.Summaries[0].Clients[0].Client != "10.0.0.5" {
		t.Fatalf("logs %+v", f.Logs)
	}
	c.Options.Logs.Disabled = true
	if err := c.Gather(context.Background(), diagnostics.FactLogs, &diagnostics.Facts{Now: now}); err == nil || !strings.Contains(err.Error(), "--no-logs") {
		t.Errorf("disabled: %v", err)
	}
}
