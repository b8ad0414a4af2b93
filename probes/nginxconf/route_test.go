package nginxconf

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/internal/nginxtest"
)

// routeCases are nginx's location choice as ngx_http_core_find_location makes it
// (src/http/ngx_http_core_module.c). Every location answers `return 200 "LABEL"`; want
// is the label of the chosen location, "" when none matches. TestSelectLocationRealNginx
// asks a real nginx the same questions.
var routeCases = []struct {
	name, locations, uri, want string
	// pcreOnly marks a case where PCRE and Go's RE2 differ on purpose: not asked of nginx.
	pcreOnly bool
}{
	{name: "exact beats prefix and regex",
		locations: `location /a { return 200 "prefix"; } location = /a { return 200 "exact"; } location ~ a { return 200 "regex"; }`,
		uri:       "/a", want: "exact"},
	{name: "exact matches only the whole uri",
		locations: `location = /a { return 200 "exact"; } location / { return 200 "root"; }`,
		uri:       "/ab", want: "root"},
	{name: "longest prefix whatever the order",
		locations: `location /a/b { return 200 "ab"; } location /a { return 200 "a"; } location / { return 200 "root"; }`,
		uri:       "/a/b/c", want: "ab"},
	{name: "longest prefix written last",
		locations: `location / { return 200 "root"; } location /a { return 200 "a"; } location /a/b { return 200 "ab"; }`,
		uri:       "/a/bc", want: "ab"},
	{name: "regex beats the longest prefix",
		locations: `location /a/b { return 200 "ab"; } location ~ b$ { return 200 "regex"; }`,
		uri:       "/a/b", want: "regex"},
	{name: "^~ on the longest prefix skips the regexes",
		locations: `location ^~ /a/b { return 200 "ab"; } location ~ b$ { return 200 "regex"; }`,
		uri:       "/a/b", want: "ab"},
	{name: "^~ on a shorter prefix does not",
		locations: `location ^~ /a { return 200 "a"; } location /a/b { return 200 "ab"; } location ~ b$ { return 200 "regex"; }`,
		uri:       "/a/b", want: "regex"},
	{name: "first regex in order wins",
		locations: `location ~ b { return 200 "first"; } location ~ a/b { return 200 "second"; }`,
		uri:       "/a/b", want: "first"},
	{name: "~ is case-sensitive",
		locations: `location ~ ABC { return 200 "regex"; } location / { return 200 "root"; }`,
		uri:       "/abc", want: "root"},
	{name: "~* is not",
		locations: `location ~* ABC { return 200 "regex"; } location / { return 200 "root"; }`,
		uri:       "/abc", want: "regex"},
	{name: "nested prefix",
		locations: `location /a { return 200 "a"; location /a/b { return 200 "ab"; } }`,
		uri:       "/a/b/c", want: "ab"},
	{name: "nested regex beats the outer regex",
		locations: `location /a { location ~ b { return 200 "inner"; } } location ~ a/b { return 200 "outer"; }`,
		uri:       "/a/b", want: "inner"},
	{name: "nested ^~ leaves the outer regexes on",
		locations: `location /a { location ^~ /a/b { return 200 "ab"; } } location ~ b$ { return 200 "outer"; }`,
		uri:       "/a/b", want: "outer"},
	{name: "regex searches its nested regexes",
		locations: `location ~ ^/r { return 200 "r"; location ~ x$ { return 200 "rx"; } }`,
		uri:       "/r/x", want: "rx"},
	{name: "regex without a nested match",
		locations: `location ~ ^/r { return 200 "r"; location ~ x$ { return 200 "rx"; } }`,
		uri:       "/r/y", want: "r"},
	{name: "named locations never match",
		locations: `location @n { return 200 "named"; } location /x { return 200 "x"; }`,
		uri:       "/@n", want: ""},
	{name: "no location",
		locations: `location /api { return 200 "api"; }`,
		uri:       "/f5.nginx.agent.sdk.Commander/CommandChannel", want: ""},
	{name: "agent v2 path under ^~",
		locations: `location / { return 200 "root"; } location ^~ /f5.nginx.agent.sdk.Commander { return 200 "commander"; } location ~* \.sdk\. { return 200 "sdk"; }`,
		uri:       "/f5.nginx.agent.sdk.Commander/CommandChannel", want: "commander"},
	{name: "backreference RE2 cannot compile is no match",
		locations: `location ~ (a)\1 { return 200 "backref"; } location / { return 200 "root"; }`,
		uri:       "/aa", want: "root", pcreOnly: true},
}

func routeLabel(l *Location) string {
	if l == nil {
		return ""
	}
	if l.Return == nil || len(l.Return.Args) < 2 {
		return "(no return)"
	}
	return l.Return.Args[1]
}

func TestSelectLocation(t *testing.T) {
	for _, tc := range routeCases {
		cfg, err := Parse("/t/nginx.conf", []byte("http { server { "+tc.locations+" } }"), Options{})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := routeLabel(SelectLocation(cfg.HTTPServers()[0], tc.uri)); got != tc.want {
			t.Errorf("%s: %s chose %q, want %q", tc.name, tc.uri, got, tc.want)
		}
	}
}

// TestSelectLocationRealNginx serves every case from one nginx, one server_name per case,
// so the table above is nginx's behaviour, not our reading of it.
func TestSelectLocationRealNginx(t *testing.T) {
	nginxtest.Require(t)
	dir := t.TempDir()
	port := nginxtest.FreePort(t)
	var servers strings.Builder
	for i, tc := range routeCases {
		if !tc.pcreOnly {
			fmt.Fprintf(&servers, "server {\n    listen 127.0.0.1:%d;\n    server_name case%d;\n    %s\n}\n", port, i, tc.locations)
		}
	}
	inst := nginxtest.Start(t, dir, nginxtest.Config{Dir: dir, ServerBlock: servers.String()}.String())
	client := &http.Client{Timeout: 5 * time.Second}
	for i, tc := range routeCases {
		if tc.pcreOnly {
			continue
		}
		req, err := http.NewRequest(http.MethodGet, "http://"+inst.Addr()+tc.uri, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = fmt.Sprintf("case%d", i)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		resp.Body.Close()
		got := string(body)
		if resp.StatusCode != http.StatusOK {
			got = "" // no location: nginx serves its default root, which has no such file
		}
		if got != tc.want {
			t.Errorf("%s: nginx chose %q (status %d) for %s, the table says %q", tc.name, got, resp.StatusCode, tc.uri, tc.want)
		}
	}
}
