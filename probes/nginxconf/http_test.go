package nginxconf

import (
	"fmt"
	"reflect"
	"testing"
)

// nmsLike resembles NIM's nms-http.conf: ssl_* at http level, one server that
// overrides some of them, one that inherits everything, and error_page at each level.
const nmsLike = `error_log /var/log/nginx/main.log warn;
http {
    ssl_certificate     /etc/nms/certs/manager-server.pem;
    ssl_certificate_key /etc/nms/certs/manager-server.key;
    ssl_client_certificate certs/ca.pem;
    ssl_verify_client optional;
    ssl_protocols TLSv1.1 TLSv1.2;
    error_page 500 /50x.html;
    log_format agents escape=json '{"v":"$ssl_client_verify",' '"s":$status}';
    access_log logs/http.log agents buffer=4k;

    server {
        listen 443 ssl;
        listen [::]:443 ssl default_server;
        http2 on;
        server_name _ manager.example.com;
        ssl_verify_client on;
        ssl_verify_depth 3;
        ssl_certificate     /etc/nms/certs/rsa.pem;
        ssl_certificate     /etc/nms/certs/ecdsa.pem;
        ssl_certificate_key /etc/nms/certs/rsa.key;
        ssl_certificate_key /etc/nms/certs/ecdsa.key;
        error_log logs/agents.log info;
        error_page 495 496 = @grpc_unauthenticated;

        location /f5.nginx.agent.sdk.Commander {
            auth_request /check-agent-client-cert;
            grpc_pass grpc://dpm-grpc-service;
            location ~* \.inner$ {
                error_page 404 /x;
            }
        }
        location = /check-agent-client-cert {
            internal;
            error_page 495 = @grpc_unauthenticated;
            return 200;
        }
        location @grpc_unauthenticated {
            default_type application/grpc;
            add_header grpc-status 16;
            return 204;
        }
    }

    server {
        listen 127.0.0.1:10443 http2 ssl;
        listen 8080;
        listen unix:/run/nms.sock;
        listen 127.0.0.1;
    }
}
`

func TestHTTPServers(t *testing.T) {
	cfg, err := Parse("/etc/nginx/nginx.conf", []byte(nmsLike), Options{Prefix: "/usr/share/nginx"})
	if err != nil {
		t.Fatal(err)
	}
	servers := cfg.HTTPServers()
	if len(servers) != 2 {
		t.Fatalf("got %d servers", len(servers))
	}
	a, b := servers[0], servers[1]

	t.Run("own settings win over http", func(t *testing.T) {
		check(t, "verify client", a.SSL.VerifyClient, "on", 17)
		check(t, "verify depth", a.SSL.VerifyDepth, "3", 18)
		if len(a.SSL.Certificates) != 2 || a.SSL.Certificates[1].Value != "/etc/nms/certs/ecdsa.pem" || len(a.SSL.CertificateKeys) != 2 {
			t.Errorf("certificates = %+v", a.SSL.Certificates)
		}
		if !a.HTTP2On || !a.HTTP2Enabled() || a.HTTP2.Directive.Line != 15 {
			t.Errorf("http2 = %+v", a.HTTP2)
		}
		if !reflect.DeepEqual(a.ServerNames, []string{"_", "manager.example.com"}) {
			t.Errorf("server names = %q", a.ServerNames)
		}
	})
	t.Run("inherited from http", func(t *testing.T) {
		check(t, "verify client", b.SSL.VerifyClient, "optional", 6)
		check(t, "client CA", b.SSL.ClientCertificate, "certs/ca.pem", 5)
		if b.SSL.ClientCertificate.Path != "/etc/nginx/certs/ca.pem" {
			t.Errorf("client CA path = %q, want it against the conf prefix", b.SSL.ClientCertificate.Path)
		}
		check(t, "protocols", b.SSL.Protocols, "TLSv1.1 TLSv1.2", 7)
		if len(b.SSL.Certificates) != 1 || b.SSL.Certificates[0].Directive.Line != 3 {
			t.Errorf("certificates = %+v", b.SSL.Certificates)
		}
		if b.HTTP2On || !b.HTTP2Enabled() {
			t.Errorf("http2: on %v enabled %v; want the listen parameter only", b.HTTP2On, b.HTTP2Enabled())
		}
	})
	t.Run("defaults", func(t *testing.T) {
		check(t, "verify depth", b.SSL.VerifyDepth, "1", 0)
		check(t, "crl", b.SSL.CRL, "", 0)
		check(t, "trusted", b.SSL.TrustedCertificate, "", 0)
		check(t, "http2", b.HTTP2, "off", 0)
	})
	t.Run("listens", func(t *testing.T) {
		var got []string
		for _, l := range append(a.Listens, b.Listens...) {
			got = append(got, fmt.Sprintf("%s|%d|%s|ssl=%v|h2=%v|def=%v", l.Addr, l.Port, l.Unix, l.SSL, l.HTTP2, l.DefaultServer))
		}
		want := []string{
			"|443||ssl=true|h2=false|def=false",
			"::|443||ssl=true|h2=false|def=true",
			"127.0.0.1|10443||ssl=true|h2=true|def=false",
			"|8080||ssl=false|h2=false|def=false",
			"|0|/run/nms.sock|ssl=false|h2=false|def=false",
			"127.0.0.1|80||ssl=false|h2=false|def=false",
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("listens\n got %q\nwant %q", got, want)
		}
	})
	t.Run("error pages by context", func(t *testing.T) {
		if len(a.ErrorPages) != 1 || !a.ErrorPages[0].Maps(495) || !a.ErrorPages[0].Maps(496) || a.ErrorPages[0].Context != "server" ||
			a.ErrorPages[0].Response != "=" || a.ErrorPages[0].URI != "@grpc_unauthenticated" {
			t.Errorf("server a error pages = %+v", a.ErrorPages)
		}
		if len(b.ErrorPages) != 1 || b.ErrorPages[0].Context != "http" || !b.ErrorPages[0].Maps(500) {
			t.Errorf("server b must inherit http's error_page: %+v", b.ErrorPages)
		}
		locs := map[string]Location{}
		for _, l := range a.Locations {
			locs[l.Modifier+l.Path] = l
		}
		authLoc := locs["=/check-agent-client-cert"]
		if len(authLoc.ErrorPages) != 1 || authLoc.ErrorPages[0].Context != "location" || !authLoc.ErrorPages[0].Maps(495) || !authLoc.Internal {
			t.Errorf("location error pages = %+v", authLoc.ErrorPages)
		}
		if cmd := locs["/f5.nginx.agent.sdk.Commander"]; len(cmd.ErrorPages) != 1 || cmd.ErrorPages[0].Context != "server" {
			t.Errorf("a location without error_page inherits the server's: %+v", cmd.ErrorPages)
		}
	})
	t.Run("locations", func(t *testing.T) {
		var got []string
		for _, l := range a.Locations {
			got = append(got, fmt.Sprintf("%s|%s|grpc=%s|auth=%s|type=%s", l.Modifier, l.Path, l.GRPCPass.Value, l.AuthRequest.Value, l.DefaultType.Value))
		}
		want := []string{
			"|/f5.nginx.agent.sdk.Commander|grpc=grpc://dpm-grpc-service|auth=/check-agent-client-cert|type=text/plain",
			"~*|\\.inner$|grpc=|auth=/check-agent-client-cert|type=text/plain",
			"=|/check-agent-client-cert|grpc=|auth=off|type=text/plain",
			"|@grpc_unauthenticated|grpc=|auth=off|type=application/grpc",
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("locations\n got %q\nwant %q", got, want)
		}
		if u := a.Locations[3]; u.Return == nil || u.Return.Arg(0) != "204" || len(u.AddHeaders) != 1 {
			t.Errorf("named location = %+v", u)
		}
	})
	t.Run("logs", func(t *testing.T) {
		if len(a.ErrorLogs) != 1 || a.ErrorLogs[0].Level != "info" || a.ErrorLogs[0].Path != "/usr/share/nginx/logs/agents.log" || a.ErrorLogs[0].Context != "server" {
			t.Errorf("server a error logs = %+v", a.ErrorLogs)
		}
		if len(b.ErrorLogs) != 1 || b.ErrorLogs[0].Level != "warn" || b.ErrorLogs[0].Context != "main" {
			t.Errorf("server b must inherit main's error_log: %+v", b.ErrorLogs)
		}
		al := b.AccessLogs
		if len(al) != 1 || al[0].Format != "agents" || al[0].Path != "/usr/share/nginx/logs/http.log" || !reflect.DeepEqual(al[0].Params, []string{"buffer=4k"}) {
			t.Errorf("access logs = %+v", al)
		}
		f, ok := cfg.LogFormat("agents")
		if !ok || f.Escape != "json" || f.Format != `{"v":"$ssl_client_verify","s":$status}` || f.Directive.Line != 9 {
			t.Errorf("log format = %+v", f)
		}
		if fs := cfg.LogFormats(); fs["combined"] != combinedFormat || fs["agents"] != f.Format {
			t.Errorf("LogFormats = %q", fs)
		}
		if all := cfg.ErrorLogs(); len(all) != 2 || all[0].Context != "main" || all[1].Context != "server" {
			t.Errorf("ErrorLogs = %+v", all)
		}
	})
}

func TestDefaultLogs(t *testing.T) {
	cfg, err := Parse("/etc/nginx/nginx.conf", []byte("http { server { listen 443 ssl; } }"), Options{ErrorLogPath: "logs/error.log"})
	if err != nil {
		t.Fatal(err)
	}
	srv := cfg.HTTPServers()[0]
	el := srv.ErrorLogs
	if len(el) != 1 || el[0].Directive != nil || el[0].Level != "error" || el[0].Path != "/etc/nginx/logs/error.log" {
		t.Errorf("default error log = %+v (Prefix empty means the conf prefix)", el)
	}
	if al := srv.AccessLogs; len(al) != 1 || al[0].Directive != nil || al[0].Format != "combined" || al[0].Path != defaultAccessLogPath {
		t.Errorf("default access log = %+v", al)
	}
	if all := cfg.ErrorLogs(); len(all) != 1 || all[0].Directive != nil {
		t.Errorf("ErrorLogs = %+v", all)
	}
	if srv.SSL.VerifyClient.Value != "off" || srv.SSL.VerifyClient.IsSet() {
		t.Errorf("verify client default = %+v", srv.SSL.VerifyClient)
	}
}

func TestPaths(t *testing.T) {
	cfg := &Config{ConfPrefix: "/etc/nginx", Prefix: "/usr/share/nginx"}
	for _, c := range []struct{ got, want string }{
		{cfg.ConfPath("certs/ca.pem"), "/etc/nginx/certs/ca.pem"},
		{cfg.ConfPath("/abs/ca.pem"), "/abs/ca.pem"},
		{cfg.ConfPath("/etc/$ssl_server_name.pem"), ""},
		{cfg.ConfPath("data:$cert"), ""},
		{cfg.PrefixPath("logs/error.log"), "/usr/share/nginx/logs/error.log"},
		{cfg.logPath("stderr"), ""},
		{cfg.logPath("syslog:server=unix:/dev/log"), ""},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func check(t *testing.T, what string, s Setting, value string, line int) {
	t.Helper()
	gotLine := 0
	if s.Directive != nil {
		gotLine = s.Directive.Line
	}
	if s.Value != value || gotLine != line {
		t.Errorf("%s = %q from line %d, want %q from line %d", what, s.Value, gotLine, value, line)
	}
}

func TestListenString(t *testing.T) {
	for _, c := range []struct {
		l    Listen
		want string
	}{
		{Listen{Port: 443}, "443"},
		{Listen{Addr: "*", Port: 443}, "443"},
		{Listen{Addr: "10.0.0.5", Port: 8443}, "10.0.0.5:8443"},
		{Listen{Addr: "::1", Port: 443}, "[::1]:443"},
		{Listen{Unix: "/run/nginx.sock"}, "unix:/run/nginx.sock"},
	} {
		if got := c.l.String(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.l, got, c.want)
		}
	}
}
