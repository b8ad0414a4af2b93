package nginxconf

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/internal/nginxtest"
)

// selectCases are nginx's choice of server for a name on one port. servers are the
// server_name arguments of each server in order ("default_server" in one marks the
// listen); want is the index of the chosen server. TestSelectServerRealNginx asks a real
// nginx the same questions with the name as the Host header, which nginx matches with the
// same code as SNI (ngx_http_find_virtual_server).
var selectCases = []struct {
	name    string
	servers []string
	host    string
	want    int
}{
	{name: "exact beats a leading wildcard", servers: []string{"*.example.com", "agents.example.com"}, host: "agents.example.com", want: 1},
	{name: "longest leading wildcard", servers: []string{"*.example.com", "*.mgr.example.com"}, host: "a.mgr.example.com", want: 1},
	{name: "leading beats trailing wildcard", servers: []string{"agents.*", "*.example.com"}, host: "agents.example.com", want: 1},
	{name: "trailing wildcard", servers: []string{"other.example.com", "agents.*"}, host: "agents.example.org", want: 1},
	{name: "longest trailing wildcard", servers: []string{"agents.*", "agents.example.*"}, host: "agents.example.org", want: 1},
	{name: "dot wildcard matches the bare name", servers: []string{"x", ".example.org"}, host: "example.org", want: 1},
	{name: "dot wildcard matches a subdomain", servers: []string{"x", ".example.org"}, host: "a.b.example.org", want: 1},
	{name: "exact beats a dot wildcard", servers: []string{"x", "example.org", ".b.example.org"}, host: "example.org", want: 1},
	{name: "a dot wildcard written first keeps the bare name", servers: []string{".example.org", "example.org"}, host: "example.org", want: 0},
	{name: "an exact name written first voids the dot wildcard", servers: []string{"x", "example.org", ".example.org"}, host: "a.example.org", want: 0},
	{name: "a star and a dot wildcard conflict: the first stays", servers: []string{"*.example.org", ".example.org"}, host: "a.example.org", want: 0},
	{name: "a duplicate exact name: the first stays", servers: []string{"agents", "agents"}, host: "agents", want: 0},
	{name: "the deepest wildcard that matches", servers: []string{"*.com", "*.example.com"}, host: "example.com", want: 0},
	{name: "trailing wildcard needs a label after it", servers: []string{"x", "agents.example.*", "agents.*"}, host: "agents.example", want: 2},
	{name: "star wildcard does not match the bare name", servers: []string{"*.example.com", "x default_server"}, host: "example.com", want: 1},
	{name: "first regex in configuration order", servers: []string{"~^agents", `~\.example\.com$`}, host: "agents.example.com", want: 0},
	{name: "wildcards beat regexes", servers: []string{"~^agents", "*.example.com"}, host: "agents.example.com", want: 1},
	{name: "regexes are caseless", servers: []string{"x", "~^AGENTS"}, host: "agents.example.com", want: 1},
	{name: "no match goes to default_server", servers: []string{"one", "two default_server"}, host: "three", want: 1},
	{name: "no match and no default goes to the first", servers: []string{"one", "two"}, host: "three", want: 0},
	{name: "case and trailing dot are ignored", servers: []string{"x", "agents.example.com"}, host: "Agents.Example.COM.", want: 1},
	{name: "several names in one server_name", servers: []string{"a", "b agents.example.com"}, host: "agents.example.com", want: 1},
}

// selectServers renders a case's servers on port, each answering its own index.
func selectServers(names []string, port int) string {
	var b strings.Builder
	for i, n := range names {
		def := ""
		if rest, ok := strings.CutSuffix(n, " default_server"); ok {
			n, def = rest, " default_server"
		}
		fmt.Fprintf(&b, "server {\n    listen 127.0.0.1:%d%s;\n    server_name %s;\n    return 200 \"%d\";\n}\n", port, def, n, i)
	}
	return b.String()
}

func TestSelectServer(t *testing.T) {
	for _, tc := range selectCases {
		cfg, err := Parse("/t/nginx.conf", []byte("http {\n"+selectServers(tc.servers, 8443)+"}\n"), Options{})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		all := cfg.HTTPServers()
		if got := SelectServer(all, 8443, tc.host); got != all[tc.want] {
			t.Errorf("%s: %s chose %v, want server %d (%s)", tc.name, tc.host, got.ServerNames, tc.want, tc.servers[tc.want])
		}
		if got := SelectServer(all, 8444, tc.host); got != nil {
			t.Errorf("%s: port 8444 has no server, got %v", tc.name, got.ServerNames)
		}
	}
}

func TestListensOn(t *testing.T) {
	cfg, err := Parse("/t/nginx.conf", []byte(`http {
    server { listen 443 ssl; listen [::1]:8443; }
    server { listen unix:/run/agents.sock; }
    server { server_name implicit; }
}`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	all := cfg.HTTPServers()
	for _, tc := range []struct {
		server, port int
		want         bool
	}{{0, 443, true}, {0, 8443, true}, {0, 80, false}, {1, 0, false}, {2, 80, false}} {
		if got := all[tc.server].ListensOn(tc.port); got != tc.want {
			t.Errorf("server %d ListensOn(%d) = %v, want %v", tc.server, tc.port, got, tc.want)
		}
	}
}

// TestSelectServerRealNginx serves every case from one nginx, one port per case, so the
// table above is nginx's behaviour, not our reading of it.
func TestSelectServerRealNginx(t *testing.T) {
	nginxtest.Require(t)
	dir := t.TempDir()
	ports := make([]int, len(selectCases))
	var servers strings.Builder
	for i, tc := range selectCases {
		ports[i] = nginxtest.FreePort(t)
		servers.WriteString(selectServers(tc.servers, ports[i]))
	}
	nginxtest.Start(t, dir, nginxtest.Config{Dir: dir, ServerBlock: servers.String()}.String())
	client := &http.Client{Timeout: 5 * time.Second}
	for i, tc := range selectCases {
		req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(ports[i])+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = tc.host
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		resp.Body.Close()
		if got := string(body); got != strconv.Itoa(tc.want) {
			t.Errorf("%s: nginx chose server %q for %s, the table says %d", tc.name, got, tc.host, tc.want)
		}
	}
}

// BenchmarkSelectServer is one choice among 10,000 servers on one port, each with its own
// name, two wildcards and a regex on the side.
func BenchmarkSelectServer(b *testing.B) {
	var conf strings.Builder
	conf.WriteString("http {\n")
	for i := range 10000 {
		fmt.Fprintf(&conf, "server { listen 443 ssl; server_name agents%d.example.com; }\n", i)
	}
	conf.WriteString("server { listen 443 ssl; server_name *.example.com mgr.* ~^nim[0-9]+$; }\n}\n")
	cfg, err := Parse("/b/nginx.conf", []byte(conf.String()), Options{})
	if err != nil {
		b.Fatal(err)
	}
	all := cfg.HTTPServers()
	b.ResetTimer()
	for b.Loop() {
		if SelectServer(all, 443, "agents9999.example.com") == nil {
			b.Fatal("no server")
		}
	}
}
