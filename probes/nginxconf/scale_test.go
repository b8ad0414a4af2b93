package nginxconf

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// fleet returns an nginx.conf whose http{} holds nmsLike's settings and servers and then
// n more agent-facing servers, as a manager in front of a big fleet is written: one
// server block per tenant name, each with its own listen and mTLS settings, the CA and
// the certificate inherited from http{}.
func fleet(n int) []byte {
	var b bytes.Buffer
	body := strings.TrimSuffix(strings.TrimSpace(nmsLike), "}") // leave http{} open
	b.WriteString(body)
	for i := range n {
		fmt.Fprintf(&b, `
    server {
        listen 127.0.0.1:%d ssl;
        http2 on;
        server_name agent%d.example.com;
        ssl_verify_client on;
        ssl_verify_depth 2;
        location /f5.nginx.agent.sdk.Commander { grpc_pass grpc://127.0.0.1:9000; }
        location /f5.nginx.agent.sdk.MetricsService { grpc_pass grpc://127.0.0.1:9000; }
    }
`, 20000+i%100, i)
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// serverFacts renders the settings HTTPServers works out for s, positions included, so
// that two parses can be compared.
func serverFacts(s *Server) string {
	var b strings.Builder
	set := func(name string, st Setting) {
		line := 0
		if st.Directive != nil {
			line = st.Directive.Line
		}
		fmt.Fprintf(&b, "%s=%q@%d path=%q\n", name, st.Value, line, st.Path)
	}
	fmt.Fprintf(&b, "names=%q listens=%d\n", s.ServerNames, len(s.Listens))
	set("http2", s.HTTP2)
	for _, c := range s.SSL.Certificates {
		set("cert", c)
	}
	for _, k := range s.SSL.CertificateKeys {
		set("key", k)
	}
	set("client_ca", s.SSL.ClientCertificate)
	set("verify_client", s.SSL.VerifyClient)
	set("verify_depth", s.SSL.VerifyDepth)
	set("protocols", s.SSL.Protocols)
	for _, e := range s.ErrorPages {
		fmt.Fprintf(&b, "error_page %v %s %s@%d\n", e.Codes, e.Response, e.URI, e.Directive.Line)
	}
	for _, l := range s.ErrorLogs {
		fmt.Fprintf(&b, "error_log %s %s %s\n", l.Path, l.Level, l.Context)
	}
	for _, l := range s.AccessLogs {
		fmt.Fprintf(&b, "access_log %s %s %s\n", l.Path, l.Format, l.Context)
	}
	for _, l := range s.Locations {
		fmt.Fprintf(&b, "location %s%s grpc=%q auth=%q type=%q pages=%d\n", l.Modifier, l.Path, l.GRPCPass.Value, l.AuthRequest.Value, l.DefaultType.Value, len(l.ErrorPages))
	}
	return b.String()
}

// A big http{} is indexed rather than scanned (level); the effective settings must be
// the same as with a small one, for the servers that override and those that inherit.
func TestHTTPServersBigHTTPBlock(t *testing.T) {
	small, err := Parse("/etc/nginx/nginx.conf", []byte(nmsLike), Options{Prefix: "/usr/share/nginx"})
	if err != nil {
		t.Fatal(err)
	}
	const extra = 3 * indexFrom
	big, err := Parse("/etc/nginx/nginx.conf", fleet(extra), Options{Prefix: "/usr/share/nginx"})
	if err != nil {
		t.Fatal(err)
	}
	want, got := small.HTTPServers(), big.HTTPServers()
	if len(got) != len(want)+extra {
		t.Fatalf("got %d servers, want %d", len(got), len(want)+extra)
	}
	for i := range want {
		if w, g := serverFacts(want[i]), serverFacts(got[i]); w != g {
			t.Errorf("server %d differs with a big http{}:\n got %s\nwant %s", i, g, w)
		}
	}
	last := got[len(got)-1]
	if last.SSL.ClientCertificate.Path != "/etc/nginx/certs/ca.pem" || last.SSL.ClientCertificate.Directive.Line != 5 {
		t.Errorf("last server's client CA = %+v, want http{}'s certs/ca.pem from line 5", last.SSL.ClientCertificate)
	}
	if last.SSL.VerifyDepth.Value != "2" || len(last.SSL.Certificates) != 1 || last.SSL.Certificates[0].Directive.Line != 3 {
		t.Errorf("last server: depth %q, certificates %+v", last.SSL.VerifyDepth.Value, last.SSL.Certificates)
	}
	if len(last.ErrorPages) != 1 || last.ErrorPages[0].URI != "/50x.html" {
		t.Errorf("last server's error pages = %+v, want http{}'s", last.ErrorPages)
	}
}

// BenchmarkHTTPServers parses a configuration of n agent-facing servers and works out
// every server's settings: the cost of reading a fleet's manager. ns/server should not
// grow with n.
func BenchmarkHTTPServers(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		data := fleet(n)
		b.Run(fmt.Sprintf("servers=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				cfg, err := Parse("/etc/nginx/nginx.conf", data, Options{})
				if err != nil {
					b.Fatal(err)
				}
				if got := len(cfg.HTTPServers()); got != n+2 {
					b.Fatalf("%d servers", got)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/server")
		})
	}
}
