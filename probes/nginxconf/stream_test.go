package nginxconf

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// streamConf has NGINX Instance Manager 1.x's stream passthrough (an upstream block to
// nginx-manager's gRPC port), routing by ssl_preread's server name, a TLS terminator that
// inherits ssl_* from stream{} and re-encrypts with proxy_ssl, and targets nginx refuses.
const streamConf = `stream {
    ssl_client_certificate /etc/ssl/ca.pem;
    error_log /var/log/nginx/stream.log info;
    upstream nginx-manager_stream_grpc_servers {
        zone nginx-manager_stream_grpc 64k;
        server 127.0.0.1:10000;
    }
    map $ssl_preread_server_name $backend {
        hostnames;
        nim.example.com  nginx-manager_stream_grpc_servers;
        default          10.0.0.9:443;
        other.example    $remote_addr;
    }
    server {
        listen 10443;
        proxy_pass nginx-manager_stream_grpc_servers;
    }
    server {
        listen 443;
        ssl_preread on;
        proxy_pass $backend;
    }
    server {
        listen 127.0.0.1:10444 ssl;
        ssl_certificate     /etc/ssl/nim.crt;
        ssl_certificate_key /etc/ssl/nim.key;
        ssl_verify_client   on;
        ssl_verify_depth    2;
        ssl_alpn            h2;
        proxy_ssl           on;
        proxy_ssl_certificate /etc/ssl/proxy.crt;
        proxy_pass unix:/run/nim.sock;
    }
    server {
        listen 10445;
        proxy_pass 127.0.0.1;
    }
    server {
        listen 10446;
        proxy_pass $undefined;
    }
}
http {
    server { listen 80; }
}
`

func TestStreamServers(t *testing.T) {
	cfg, err := Parse("/etc/nginx/nginx.conf", []byte(streamConf), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ss := cfg.StreamServers()
	if len(ss) != 5 {
		t.Fatalf("%d stream servers, want 5", len(ss))
	}
	if n := len(cfg.HTTPServers()); n != 1 {
		t.Errorf("%d http servers, want 1: stream servers must not be listed there", n)
	}
	targets := func(s *StreamServer) string {
		var out []string
		for _, tg := range s.Targets {
			out = append(out, fmt.Sprintf("%s via=%q sni=%q at=%d", tg.Address, tg.Upstream, tg.ServerName, tg.Directive.Line))
		}
		return strings.Join(out, "; ")
	}
	for i, c := range []struct {
		targets, problem string
		variables, tls   bool
		listen           string
	}{
		{targets: `127.0.0.1:10000 via="nginx-manager_stream_grpc_servers" sni="" at=6`, listen: "10443"},
		{targets: `127.0.0.1:10000 via="nginx-manager_stream_grpc_servers" sni="nim.example.com" at=6; 10.0.0.9:443 via="" sni="default" at=11`,
			variables: true, listen: "443"},
		{targets: `unix:/run/nim.sock via="" sni="" at=32`, tls: true, listen: "127.0.0.1:10444"},
		{problem: `no port in upstream "127.0.0.1"`, listen: "10445"},
		{variables: true, listen: "10446"},
	} {
		s := ss[i]
		if got := targets(s); got != c.targets {
			t.Errorf("server %d targets:\n got %s\nwant %s", i, got, c.targets)
		}
		if s.Problem != c.problem || s.Variables != c.variables || s.TerminatesTLS() != c.tls {
			t.Errorf("server %d: problem %q variables %v tls %v, want %q %v %v", i, s.Problem, s.Variables, s.TerminatesTLS(), c.problem, c.variables, c.tls)
		}
		if !s.Stream || len(s.Listens) != 1 || s.Listens[0].String() != c.listen {
			t.Errorf("server %d: stream %v listens %+v, want %s", i, s.Stream, s.Listens, c.listen)
		}
		if len(s.ErrorLogs) != 1 || s.ErrorLogs[0].Level != "info" || s.ErrorLogs[0].Context != "stream" {
			t.Errorf("server %d: error logs %+v, want stream{}'s at info", i, s.ErrorLogs)
		}
	}
	term := ss[2]
	if term.SSL.ClientCertificate.Value != "/etc/ssl/ca.pem" || term.SSL.ClientCertificate.Directive.Line != 2 {
		t.Errorf("ssl_client_certificate is not inherited from stream{}: %+v", term.SSL.ClientCertificate)
	}
	if term.SSL.VerifyClient.Value != "on" || term.SSL.VerifyDepth.Value != "2" || len(term.SSL.Certificates) != 1 {
		t.Errorf("terminator's ssl settings: %+v", term.SSL)
	}
	if term.ALPN.Value != "h2" || term.ProxySSL.Value != "on" || term.ProxySSLCertificate.Path != "/etc/ssl/proxy.crt" || term.ProxySSLVerify.Value != "off" {
		t.Errorf("alpn %q proxy_ssl %q cert %q verify %q", term.ALPN.Value, term.ProxySSL.Value, term.ProxySSLCertificate.Path, term.ProxySSLVerify.Value)
	}
	if ss[1].SSLPreread.Value != "on" || ss[0].SSLPreread.Value != "off" || ss[0].SSL.VerifyClient.Value != "off" {
		t.Errorf("ssl_preread %q/%q, verify %q", ss[1].SSLPreread.Value, ss[0].SSLPreread.Value, ss[0].SSL.VerifyClient.Value)
	}
}

// streamFleet is a stream{} block of n servers, each routing by server name through a map
// with n entries to an upstream block, plus the http fleet: the worst shape StreamServers
// resolves (every server walks the whole map).
func streamFleet(n int) []byte {
	var b bytes.Buffer
	b.Write(fleet(n))
	b.WriteString("stream {\n    map $ssl_preread_server_name $t {\n        hostnames;\n")
	for i := range n {
		fmt.Fprintf(&b, "        agent%d.example.com u%d;\n", i, i%10)
	}
	b.WriteString("        default 127.0.0.1:10000;\n    }\n")
	for i := range 10 {
		fmt.Fprintf(&b, "    upstream u%d { server 127.0.0.1:%d; }\n", i, 10000+i)
	}
	for i := range n {
		fmt.Fprintf(&b, "    server { listen %d; ssl_preread on; proxy_pass $t; }\n", 30000+i%1000)
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// BenchmarkStreamServers: go test -bench StreamServers ./probes/nginxconf
func BenchmarkStreamServers(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		cfg, err := Parse("/etc/nginx/nginx.conf", streamFleet(n), Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("servers=%d", n), func(b *testing.B) {
			for b.Loop() {
				if got := cfg.StreamServers(); len(got) != n || len(got[0].Targets) != n+1 {
					b.Fatalf("%d servers, %d targets", len(got), len(got[0].Targets))
				}
			}
		})
	}
}
