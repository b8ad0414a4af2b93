package tui

import (
	"strings"
	"testing"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// TestNginxFactsStream: the host facts name nginx-manager and the stream server that passes
// the agents through to it, and a stream server that terminates their TLS as "stream".
func TestNginxFactsStream(t *testing.T) {
	const conf = `stream {
    server { listen 10443; proxy_pass 127.0.0.1:10000; }
    server { listen 10444 ssl; ssl_verify_client on; proxy_pass 127.0.0.1:10000; }
}
`
	cfg, err := nginxconf.Parse("/etc/nginx/nginx.conf", []byte(conf), nginxconf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ss := cfg.StreamServers()
	pass := &probes.StreamHop{Server: ss[0], Pos: ss[0].Pos(), Listen: "10443",
		Targets: []probes.StreamHopTarget{{StreamTarget: ss[0].Targets[0], Kind: probes.TermNIM1}}}
	term := &probes.StreamHop{Server: ss[1], Pos: ss[1].Pos(), Listen: "10444", Terminates: true}
	nim := &probes.NIMManagerConfig{Path: "/etc/nginx-manager/nginx-manager.conf"}
	text := func(n *probes.NginxFacts) string {
		var lines []string
		for _, f := range (Model{host: &diagnostics.Facts{Nginx: n}}).nginxFacts() {
			lines = append(lines, f.name+": "+f.value)
		}
		return strings.Join(lines, "\n")
	}
	got := text(&probes.NginxFacts{Main: "/etc/nginx/nginx.conf", Config: cfg, NIM1: nim, Streams: []*probes.StreamHop{pass}})
	if !strings.Contains(got, "Manager: nginx-manager (NIM 1.x) /etc/nginx-manager/nginx-manager.conf") ||
		!strings.Contains(got, "Through: stream listen 10443 → 127.0.0.1:10000  /etc/nginx/nginx.conf:2") {
		t.Errorf("passthrough:\n%s", got)
	}
	got = text(&probes.NginxFacts{Main: "/etc/nginx/nginx.conf", Config: cfg, NIM1: nim, Streams: []*probes.StreamHop{term},
		Servers: []*probes.NginxServer{{Server: ss[1].Server, Stream: term}}})
	if !strings.Contains(got, "Agents at: stream  listen 10444  /etc/nginx/nginx.conf:3") || strings.Contains(got, "Through") {
		t.Errorf("terminator:\n%s", got)
	}
}
