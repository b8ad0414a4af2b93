package nginxconf

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// upstreamConf has every shape of link: inherited and overridden proxy_ssl_*, an
// upstream block (servers without a port get 80), grpcs with proxy_ssl_* that do
// nothing there, variables, a plaintext pass with TLS directives, and IPv6.
const upstreamConf = `http {
    proxy_ssl_certificate     /etc/nginx/proxy.pem;
    proxy_ssl_certificate_key /etc/nginx/proxy.key;
    proxy_ssl_verify on;
    upstream Backend {
        server 10.0.0.1:8443;
        server b.example.com backup;
        server unix:/run/b.sock down;
    }
    server {
        listen 443 ssl;
        server_name front.example.com;
        proxy_ssl_trusted_certificate certs/upstream-ca.pem;
        proxy_ssl_server_name on;

        location /app/ {
            proxy_pass https://backend/api/;
            proxy_ssl_verify_depth 2;
            location /app/inner {
                proxy_pass https://api.example.com:8443;
                proxy_ssl_name api.internal;
            }
        }
        location /grpc {
            grpc_pass grpcs://127.0.0.1:9443;
            grpc_ssl_certificate certs/grpc.pem;
            grpc_ssl_certificate_key certs/grpc.key;
            proxy_ssl_password_file /etc/nginx/pass;
        }
        location /var { proxy_pass https://$host$request_uri; }
        location /plain { proxy_pass http://10.0.0.2; }
        location /v6 { proxy_pass https://[::1]; }
        location /static { root /srv; }
    }
    server {
        listen 80;
        location / { proxy_pass http://plain.example.com; }
        location /nogrpcport { grpc_pass grpcs://127.0.0.1; }
        location /badport { proxy_pass https://backend:8443; }
    }
}
`

func TestUpstreamLinks(t *testing.T) {
	cfg, err := Parse("/etc/nginx/nginx.conf", []byte(upstreamConf), Options{})
	if err != nil {
		t.Fatal(err)
	}
	links := cfg.UpstreamLinks("1.22.1")
	var urls []string
	for _, l := range links {
		urls = append(urls, l.URL)
	}
	want := []string{
		"https://backend/api/", "https://api.example.com:8443", "grpcs://127.0.0.1:9443",
		"https://$host$request_uri", "http://10.0.0.2", "https://[::1]",
		"http://plain.example.com", "grpcs://127.0.0.1", "https://backend:8443",
	}
	if !reflect.DeepEqual(urls, want) {
		t.Fatalf("links:\n got %q\nwant %q", urls, want)
	}
	byURL := map[string]*UpstreamLink{}
	for _, l := range links {
		byURL[l.URL] = l
	}

	app := byURL["https://backend/api/"]
	if app.Upstream == nil || app.Upstream.Arg(0) != "Backend" || !app.TLS || app.Module != PassProxy {
		t.Fatalf("backend link: %+v", app)
	}
	gotServers := []string{}
	for _, s := range app.Servers {
		gotServers = append(gotServers, s.Address)
	}
	if want := []string{"10.0.0.1:8443", "b.example.com:80", "unix:/run/b.sock"}; !reflect.DeepEqual(gotServers, want) {
		t.Errorf("servers %q, want %q", gotServers, want)
	}
	if !app.Servers[1].Backup || !app.Servers[2].Down {
		t.Errorf("server parameters lost: %+v", app.Servers)
	}
	cert := app.SSL.Certificate
	if cert.Path != "/etc/nginx/proxy.pem" || cert.Level != "http" || !cert.Inherited || cert.Pos() != "/etc/nginx/nginx.conf:2" {
		t.Errorf("certificate inherited from http: %+v at %s", cert, cert.Pos())
	}
	if ca := app.SSL.TrustedCertificate; ca.Path != "/etc/nginx/certs/upstream-ca.pem" || ca.Level != "server" || !ca.Inherited {
		t.Errorf("trusted certificate from server: %+v", ca)
	}
	if d := app.SSL.VerifyDepth; d.Value != "2" || d.Inherited || d.Level != "location" {
		t.Errorf("verify depth set in the location: %+v", d)
	}
	if app.SSL.Verify.Value != "on" || app.SSL.Ciphers.Value != "DEFAULT" || !app.SSL.Ciphers.Default() || app.SSL.SessionReuse.Value != "on" {
		t.Errorf("verify/ciphers/session reuse: %+v %+v %+v", app.SSL.Verify, app.SSL.Ciphers, app.SSL.SessionReuse)
	}
	if app.SSL.Protocols.Value != "TLSv1 TLSv1.1 TLSv1.2" || !app.SSL.Protocols.Default() {
		t.Errorf("1.22.1 default protocols: %q", app.SSL.Protocols.Value)
	}
	// The upstream block's name is the SSL name, as written in proxy_pass.
	if app.SSLName != "backend" || app.SNI != "backend" {
		t.Errorf("ssl name %q sni %q, want backend for both", app.SSLName, app.SNI)
	}

	inner := byURL["https://api.example.com:8443"]
	if inner.Port != 8443 || inner.Host != "api.example.com" || inner.Upstream != nil {
		t.Errorf("inner target: %+v", inner)
	}
	// The nested location inherits depth from the outer location.
	if d := inner.SSL.VerifyDepth; d.Value != "2" || !d.Inherited || d.Level != "location" {
		t.Errorf("depth from the enclosing location: %+v", d)
	}
	if inner.SSLName != "api.internal" || inner.SNI != "api.internal" {
		t.Errorf("proxy_ssl_name: %q %q", inner.SSLName, inner.SNI)
	}

	g := byURL["grpcs://127.0.0.1:9443"]
	if g.Module != PassGRPC || !g.TLS || g.SSL.Certificate.Name != "grpc_ssl_certificate" || g.SSL.Certificate.Path != "/etc/nginx/certs/grpc.pem" {
		t.Errorf("grpc link: %+v", g.SSL.Certificate)
	}
	if g.SSL.Verify.Value != "off" || !g.SSL.Verify.Default() {
		t.Errorf("grpc_ssl_verify is not proxy_ssl_verify: %+v", g.SSL.Verify)
	}
	if g.SSLName != "127.0.0.1" || g.SNI != "" {
		t.Errorf("an IP is never sent as SNI: %q %q", g.SSLName, g.SNI)
	}
	var foreign []string
	for _, f := range g.Foreign {
		foreign = append(foreign, f.Name+"@"+f.Level)
	}
	want = []string{
		"proxy_ssl_certificate@http", "proxy_ssl_certificate_key@http", "proxy_ssl_password_file@location",
		"proxy_ssl_trusted_certificate@server", "proxy_ssl_verify@http", "proxy_ssl_server_name@server",
	}
	if !reflect.DeepEqual(foreign, want) {
		t.Errorf("foreign directives:\n got %q\nwant %q", foreign, want)
	}

	if v := byURL["https://$host$request_uri"]; !v.Variables || v.Judgeable() || len(v.Servers) != 0 {
		t.Errorf("variables: %+v", v)
	}
	if p := byURL["http://10.0.0.2"]; p.TLS || p.Scheme != "http" || p.Port != 80 {
		t.Errorf("plaintext pass with inherited TLS directives: %+v", p)
	}
	if v6 := byURL["https://[::1]"]; v6.Servers[0].Address != "[::1]:443" || v6.SSLName != "[::1]" || v6.SNI != "" {
		t.Errorf("ipv6: %+v", v6)
	}
	if p := byURL["grpcs://127.0.0.1"]; p.Problem != `no port in upstream "127.0.0.1"` || p.Judgeable() {
		t.Errorf("grpc without a port: %q", p.Problem)
	}
	if p := byURL["https://backend:8443"]; p.Problem != `upstream "backend" may not have port 8443` {
		t.Errorf("upstream with a port: %q", p.Problem)
	}
	// Neither the second server's plaintext proxy_pass nor the static location is a link
	// on its own: they are listed only for the TLS directives inherited from http{}.
	if byURL["http://plain.example.com"] == nil {
		t.Error("a plaintext pass under http-level proxy_ssl_certificate is listed")
	}
}

func TestUpstreamLinksPlainWithoutTLSDirectives(t *testing.T) {
	cfg, _ := Parse("/n.conf", []byte("http { server { location / { proxy_pass http://a; } location /g { grpc_pass 127.0.0.1:1; } } }"), Options{})
	if links := cfg.UpstreamLinks(""); len(links) != 0 {
		t.Fatalf("plaintext passes without TLS directives are no links: %+v", links[0])
	}
	if cfg.HTTPServers()[0].PassesUpstreamTLS() {
		t.Error("plaintext passes taken for TLS")
	}
	cfg, _ = Parse("/n.conf", []byte("http { server { location / { location /x { if ($a) { uwsgi_pass SUWSGI://a:1; } } } } }"), Options{})
	if !cfg.HTTPServers()[0].PassesUpstreamTLS() {
		t.Error("a nested suwsgi pass not seen")
	}
}

func TestDefaultUpstreamProtocols(t *testing.T) {
	for v, want := range map[string]string{
		"1.22.1": "TLSv1 TLSv1.1 TLSv1.2",
		"1.23.3": "TLSv1 TLSv1.1 TLSv1.2",
		"1.23.4": "TLSv1 TLSv1.1 TLSv1.2 TLSv1.3",
		"1.27.2": "TLSv1 TLSv1.1 TLSv1.2 TLSv1.3",
		"1.27.3": "TLSv1.2 TLSv1.3",
		"1.29.0": "TLSv1.2 TLSv1.3",
	} {
		got, ok := DefaultUpstreamProtocols(v)
		if !ok || strings.Join(got, " ") != want {
			t.Errorf("%s: %q %v, want %q", v, got, ok, want)
		}
	}
	for _, v := range []string{"", "1.22", "x.y.z", "1.-1.0"} {
		if _, ok := DefaultUpstreamProtocols(v); ok {
			t.Errorf("%q parsed", v)
		}
	}
	cfg, _ := Parse("/n.conf", []byte("http { server { location / { proxy_pass https://a; } } }"), Options{})
	if p := cfg.UpstreamLinks("")[0].SSL.Protocols; p.Value != "" || !p.Default() {
		t.Errorf("unknown version leaves the default empty: %+v", p)
	}
}

// TestUpstreamLinksInIf: a pass in an "if" block of a location is a link of that
// location, with the if block as the innermost merge level.
func TestUpstreamLinksInIf(t *testing.T) {
	cfg, err := Parse("/n.conf", []byte(`http { server {
    location / {
        proxy_ssl_verify on;
        proxy_pass https://a:8443;
        if ($http_x_canary) { proxy_pass https://b:8443; proxy_ssl_name canary.internal; }
    }
} }`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	links := cfg.UpstreamLinks("1.27.3")
	if len(links) != 2 || links[0].Target() != "a:8443" || links[1].Target() != "b:8443" {
		t.Fatalf("links: %+v", links)
	}
	canary := links[1]
	if canary.Location != links[0].Location || canary.SSL.Name.Level != "if" || canary.SSL.Name.Inherited {
		t.Errorf("if level: %+v", canary.SSL.Name)
	}
	if v := canary.SSL.Verify; v.Value != "on" || v.Level != "location" || !v.Inherited {
		t.Errorf("inherited from the location: %+v", v)
	}
	if canary.SSLName != "canary.internal" || links[0].SSLName != "a" {
		t.Errorf("names %q %q", canary.SSLName, links[0].SSLName)
	}
}

// frontFleet is a front NGINX with n servers, each passing two locations to upstreams
// over TLS with proxy_ssl_* inherited from http{}.
func frontFleet(n int) []byte {
	var b strings.Builder
	b.WriteString("http {\n    proxy_ssl_certificate /etc/nginx/proxy.pem;\n    proxy_ssl_certificate_key /etc/nginx/proxy.key;\n")
	b.WriteString("    proxy_ssl_trusted_certificate /etc/nginx/upstream-ca.pem;\n    proxy_ssl_verify on;\n")
	b.WriteString("    upstream pool { server 10.0.0.1:8443; server 10.0.0.2:8443; }\n")
	for i := range n {
		fmt.Fprintf(&b, `    server {
        listen 443 ssl;
        server_name tenant%d.example.com;
        location / { proxy_pass https://pool; proxy_ssl_name tenant%d.internal; }
        location /api/ { proxy_pass https://10.1.%d.%d:9443/; proxy_ssl_verify_depth 2; }
        location /static/ { root /srv; }
    }
`, i, i, i/250, i%250)
	}
	b.WriteString("}\n")
	return []byte(b.String())
}

func BenchmarkUpstreamLinks(b *testing.B) {
	for _, n := range []int{10, 1000} {
		data := frontFleet(n)
		cfg, err := Parse("/etc/nginx/nginx.conf", data, Options{})
		if err != nil {
			b.Fatal(err)
		}
		servers := cfg.HTTPServers()
		// The links alone, over servers already merged (as gather calls it).
		b.Run(fmt.Sprintf("servers=%d", n), func(b *testing.B) {
			for b.Loop() {
				if links := cfg.UpstreamLinksIn(servers, "1.22.1"); len(links) != 2*n {
					b.Fatalf("%d links", len(links))
				}
			}
		})
	}
}

// TestUpstreamSSLNameUnix: a unix socket's path is the host nginx names, so it is the
// SSL name too (and the SNI, when server_name is on: it is no IP address).
func TestUpstreamSSLNameUnix(t *testing.T) {
	cfg, _ := Parse("/n.conf", []byte("http { server { location / { proxy_pass https://unix:/run/up.sock:/api; proxy_ssl_server_name on; } } }"), Options{})
	l := cfg.UpstreamLinks("")[0]
	if l.Unix != "/run/up.sock" || l.SSLName != "/run/up.sock" || l.SNI != "/run/up.sock" || l.Target() != "unix:/run/up.sock" {
		t.Fatalf("%+v", l)
	}
}
