package probes

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// TestFindStreamHops: which stream servers carry agents, and what listens behind each.
func TestFindStreamHops(t *testing.T) {
	const conf = `stream {
    server { listen 10443; proxy_pass 127.0.0.1:10000; }
    server { listen 10444; proxy_pass 127.0.0.1:8443; }
    server { listen 10445 ssl; ssl_certificate a.pem; ssl_certificate_key a.key; ssl_verify_client on; proxy_pass 127.0.0.1:10000; }
    server { listen 9000; proxy_pass 10.0.0.1:443; }
    server { listen 7000; proxy_pass 127.0.0.1:9000; }
}
http {
    server {
        listen 127.0.0.1:8443 ssl;
        location /f5.nginx.agent.sdk.Commander { grpc_pass grpc://127.0.0.1:10000; }
    }
}
`
	cfg, err := nginxconf.Parse("/etc/nginx/nginx.conf", []byte(conf), nginxconf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	load := func(agentPort int, nim1 *NIMManagerConfig) *NginxFacts {
		n := NewNginxFacts(cfg, NginxFile, agentPort)
		n.NIM1 = nim1
		n.findStreamHops(agentPort, fileCache{})
		return n
	}
	kinds := func(n *NginxFacts) map[string]TerminatorKind {
		out := map[string]TerminatorKind{}
		for _, h := range n.Streams {
			out[h.Listen] = "none"
			if len(h.Targets) > 0 {
				out[h.Listen] = h.Targets[0].Kind
			}
		}
		return out
	}

	// No nginx-manager.conf: 127.0.0.1:10000 is NIM 1.x's default gRPC port; the http
	// server serves agents; 10.0.0.1:443 is unknown, so 9000 carries no agents, nor 7000
	// which passes to it.
	n := load(0, nil)
	got := kinds(n)
	want := map[string]TerminatorKind{"10443": TermNIM1Default, "10444": TermHTTPServer, "10445": TermNIM1Default}
	if len(got) != len(want) {
		t.Fatalf("hops %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("hop %s: %q, want %q", k, got[k], v)
		}
	}
	// The TLS terminator joins the agent-facing servers, with its stream hop.
	var stream *NginxServer
	for _, s := range n.Servers {
		if s.Stream != nil {
			stream = s
		}
	}
	if stream == nil || !stream.Stream.Terminates || stream.SSL.VerifyClient.Value != "on" || len(n.Servers) != 2 {
		t.Fatalf("servers %d, stream terminator %+v", len(n.Servers), stream)
	}

	// nginx-manager.conf moves the gRPC port: 10000 is then nothing known. The agents' port
	// marks a stream server that verifies client certificates there (10445), not one that
	// passes TCP to somewhere unknown (9000: on an agent host, any stream server may
	// listen on the port number the agent dials elsewhere).
	c := ParseNIMManagerConfig("/etc/nginx-manager/nginx-manager.conf", []byte("bind_address: 0.0.0.0\ngrpc_port: 7443\n"))
	if got := kinds(load(9000, c)); len(got) != 1 || got["10444"] != TermHTTPServer {
		t.Errorf("with nginx-manager on 7443 and agents on 9000: %v", got)
	}
	if got := kinds(load(10445, c)); got["10445"] != TermUnknown || len(got) != 2 {
		t.Errorf("with nginx-manager on 7443 and agents on 10445: %v", got)
	}
	c = ParseNIMManagerConfig("/etc/nginx-manager/nginx-manager.conf", []byte("grpc_port: 10000\n"))
	if got := kinds(load(0, c)); got["10443"] != TermNIM1 {
		t.Errorf("nginx-manager.conf on 127.0.0.1:10000: %v", got)
	}
}

// BenchmarkFindStreamHops: n stream servers route by server name through one map of n
// entries to nginx-manager, beside n agent-facing http servers.
// go test -bench FindStreamHops ./probes
func BenchmarkFindStreamHops(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		var conf strings.Builder
		conf.WriteString("http {\n")
		for i := range n {
			fmt.Fprintf(&conf, "  server { listen 127.0.0.1:%d ssl; location /f5.nginx.agent.sdk.Commander { grpc_pass grpc://127.0.0.1:10000; } }\n", 20000+i)
		}
		conf.WriteString("}\nstream {\n  map $ssl_preread_server_name $t {\n")
		for i := range n {
			fmt.Fprintf(&conf, "    agent%d.example.com 127.0.0.1:%d;\n", i, 20000+i)
		}
		conf.WriteString("    default 127.0.0.1:10000;\n  }\n")
		for i := range n {
			fmt.Fprintf(&conf, "  server { listen %d; ssl_preread on; proxy_pass $t; }\n", 30000+i)
		}
		conf.WriteString("}\n")
		cfg, err := nginxconf.Parse("/etc/nginx/nginx.conf", []byte(conf.String()), nginxconf.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("servers=%d", n), func(b *testing.B) {
			for b.Loop() {
				nf := NewNginxFacts(cfg, NginxFile, 0)
				nf.findStreamHops(0, fileCache{})
				if len(nf.Streams) != n || len(nf.Streams[0].Targets) != n+1 {
					b.Fatalf("%d hops", len(nf.Streams))
				}
			}
		})
	}
}
