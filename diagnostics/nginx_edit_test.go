package diagnostics

import (
	"strings"
	"testing"

	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// TestInsertAfterDiffIncludedFile: a diff into an included file (NIM's conf.d/nms-http.conf,
// errors-grpc.server_conf) indents as that file does, not by the depth of http{} around it,
// so its context line matches the file.
func TestInsertAfterDiffIncludedFile(t *testing.T) {
	dump := "# configuration file /etc/nginx/nginx.conf:\nevents {}\nhttp {\n    include /etc/nginx/conf.d/nms-http.conf;\n}\n\n" +
		"# configuration file /etc/nginx/conf.d/nms-http.conf:\nserver {\n    listen 443 ssl http2;\n    location /f5.nginx.agent.sdk.Commander {\n        grpc_pass grpc://127.0.0.1:10000;\n    }\n}\n"
	cfg, err := nginxconf.ParseDump(strings.NewReader(dump))
	if err != nil {
		t.Fatal(err)
	}
	var server, loc *nginxconf.Directive
	for _, d := range cfg.Files[0].Parsed {
		for _, c := range d.Block {
			if c.Name == "server" {
				server = c
			}
		}
	}
	if server == nil {
		t.Fatal("no server parsed")
	}
	for _, c := range server.Block {
		if c.Name == "location" {
			loc = c
		}
	}
	if loc == nil {
		t.Fatal("no location parsed")
	}
	want := "@@ -3 +3,2 @@\n     location /f5.nginx.agent.sdk.Commander {\n+        auth_request /check-agent-client-cert;"
	if got := insertAfterDiff(loc, "auth_request /check-agent-client-cert;"); got != want {
		t.Errorf("insertAfterDiff:\n%s\nwant\n%s", got, want)
	}
	if got := indentOf(server); got != "" {
		t.Errorf("indentOf(server in conf.d) = %q, want none", got)
	}
}

// TestReloadNginxFor: playbooks test and reload the configuration that was judged.
func TestReloadNginxFor(t *testing.T) {
	const plain = "sudo nginx -t && sudo nginx -s reload"
	for _, c := range []struct {
		name string
		n    *probes.NginxFacts
		want string
	}{
		{"agent host", nil, plain},
		{"discovered", &probes.NginxFacts{Source: probes.NginxFile, Main: "/etc/nginx/nginx.conf"}, plain},
		{"named default path", &probes.NginxFacts{Explicit: true, Source: probes.NginxFile, Main: "/etc/nginx/nginx.conf"}, plain},
		{"named elsewhere", &probes.NginxFacts{Explicit: true, Source: probes.NginxFile, Main: "/srv/nms/nginx.conf"},
			"sudo nginx -t -c /srv/nms/nginx.conf && sudo nginx -s reload -c /srv/nms/nginx.conf"},
		{"nginx -T dump", &probes.NginxFacts{Explicit: true, Source: probes.NginxDump, Main: "/srv/nms/nginx.conf"}, plain},
		{"named with a prefix", &probes.NginxFacts{Explicit: true, Source: probes.NginxFile, Main: "/srv/nms/nginx.conf", Prefix: "/srv/nms/"},
			"sudo nginx -t -p /srv/nms/ -c /srv/nms/nginx.conf && sudo nginx -s reload -p /srv/nms/ -c /srv/nms/nginx.conf"},
	} {
		if got := reloadNginxFor(&Facts{Nginx: c.n}); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
