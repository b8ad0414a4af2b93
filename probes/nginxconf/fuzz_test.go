package nginxconf

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// corpus seeds the fuzzers; each entry says what it exercises.
var corpus = []string{
	// The shape NIM ships: ssl at server level, grpc locations, error pages.
	"http {\n server {\n  listen 443 ssl;\n  http2 on;\n  ssl_verify_client optional;\n  location /f5.nginx.agent.sdk.Commander { grpc_pass grpc://x; }\n }\n}\n",
	// Quotes, escapes and a quote directly followed by ")".
	`if ($a = "b\"c") { return 200 'it\'s;{}'; }`,
	// A backslash at the very end of input.
	"a \\",
	// ${var} must not open a block; a lone $ before "{" does.
	"set $x ${a}{b}; set $y $ {",
	// Comments, at and inside words, and at end of file without LF.
	"a#b # c\n# d",
	// Lua body with braces in strings, comments and long brackets, left unterminated.
	"content_by_lua_block { local s = '}' -- }\n [==[ } ]==] --[[ } ",
	// Unbalanced braces both ways.
	"}}}{{{",
	"http { server { location / {",
	// Includes that loop on themselves through the in-memory file set.
	"include *;\ninclude nginx.conf;\ninclude a.conf;",
	// include in a handler block, and a block in a handler block.
	"http { map $a $b { include a.conf; default { } } }",
	// upstream server vs http server.
	"upstream u { server 1.2.3.4 { } }",
	// A token longer than nginx's 4096-byte buffer.
	"a " + strings.Repeat("b", 4100) + " c;",
	// A quoted word longer than the buffer, unterminated.
	"a \"" + strings.Repeat("b\n", 2100),
	// CR line endings, NUL and invalid UTF-8.
	"a b;\r\nc\x00d;\r\n\xff\xfe;",
	// Upstream links: every pass module, upstream blocks, variables, odd hosts and ports.
	"http { proxy_ssl_verify on; upstream u { server [::1; server :; server a:0; server unix:; } server { location / { proxy_pass https://u; location /i { proxy_pass https://[::1]:99999/x; } } location /g { grpc_pass grpcs://; grpc_ssl_name $h; } location /w { uwsgi_pass suwsgi://unix:/s; } location /v { proxy_pass $s://x; } location /e { proxy_pass https://u:1; proxy_pass; } } }",
	// Listen forms and logs that HTTPServers parses.
	"error_log stderr; http { access_log off; log_format a escape=json; server { listen [::; listen unix:; listen :; error_page =; error_page 495 x; location { } location = { } } }",
}

// fuzzFiles is the in-memory file set that includes resolve against.
func fuzzFiles(data []byte) dumpSource {
	return dumpSource{
		"/f/nginx.conf": data,
		"/f/a.conf":     []byte("server { listen 1; include nginx.conf; }"),
		"/f/b.conf":     data,
	}
}

// maxFuzzInput keeps each fuzz run fast; nginx configurations are small.
const maxFuzzInput = 1 << 16

func FuzzParse(f *testing.F) {
	for _, s := range corpus {
		f.Add([]byte(s))
	}
	for _, tc := range badConfigs {
		f.Add([]byte(tc.files["nginx.conf"]))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return
		}
		src := fuzzFiles(data)
		cfg, err := parseMain("/f/nginx.conf", data, src, Options{})
		if cfg == nil {
			t.Fatal("nil Config")
		}
		if (err == nil) != (len(cfg.Errors) == 0) {
			t.Fatalf("err %v but Errors %v", err, cfg.Errors)
		}
		checkConfig(t, cfg, src)
	})
}

func FuzzParseDump(f *testing.F) {
	for _, s := range corpus {
		f.Add([]byte("# configuration file /f/nginx.conf:\n" + s + "\n# configuration file /f/a.conf:\ninclude /f/*;\n"))
	}
	f.Add([]byte("# configuration file /f/nginx.conf:\n# configuration file /f/nginx.conf:\n"))
	f.Add([]byte("# configuration file :\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return
		}
		cfg, err := ParseDump(bytes.NewReader(data))
		if cfg == nil {
			if err == nil {
				t.Fatal("nil Config without an error")
			}
			return
		}
		src, _ := splitDump(data)
		checkConfig(t, cfg, src)
	})
}

// checkConfig asserts the invariants every parse must keep, and runs the queries.
func checkConfig(t *testing.T, cfg *Config, src dumpSource) {
	t.Helper()
	for _, e := range cfg.Errors {
		if e.Line < 1 || e.File == "" || e.Msg == "" {
			t.Fatalf("error without a position: %#v", e)
		}
	}
	cfg.Walk(func(d *Directive) bool {
		lines := bytes.Count(src[d.File], []byte("\n")) + 1
		if d.Line < 1 || d.Line > lines {
			t.Fatalf("%s at line %d of a %d-line file", d.Name, d.Line, lines)
		}
		_ = d.String()
		return true
	})
	all := cfg.HTTPServers()
	for _, s := range all {
		_ = s.HTTP2Enabled()
		// Whatever the names, a port some server listens on always selects one of them.
		for _, l := range s.Listens {
			if l.Unix != "" {
				continue
			}
			for _, name := range append([]string{"", "a.example.org."}, s.ServerNames...) {
				if got := SelectServer(all, l.Port, name); got == nil || !got.ListensOn(l.Port) {
					t.Fatalf("SelectServer(port %d, %q) chose %v", l.Port, name, got)
				}
			}
		}
	}
	_ = cfg.ErrorLogs()
	_ = cfg.LogFormats()
	for _, l := range cfg.UpstreamLinks("1.22.1") {
		checkUpstreamLink(t, l)
	}
}

// checkUpstreamLink asserts what every upstream link must hold, whatever the input.
func checkUpstreamLink(t *testing.T, l *UpstreamLink) {
	t.Helper()
	if l.Pass == nil || l.Server == nil || l.Location == nil {
		t.Fatalf("link without its directives: %+v", l)
	}
	if l.Judgeable() && len(l.Servers) == 0 {
		t.Fatalf("judgeable link %q without servers", l.URL)
	}
	for _, s := range l.Servers {
		if s.Address == "" || (s.Unix == "" && (s.Port < 1 || s.Port > 65535)) {
			t.Fatalf("link %q: server %+v", l.URL, s)
		}
	}
	if l.SNI != "" && l.SNI != l.SSLName {
		t.Fatalf("SNI %q differs from the SSL name %q", l.SNI, l.SSLName)
	}
	_ = l.Target()
}

// FuzzDumpHeaders: the byte scan for `nginx -T` header lines finds exactly what the
// regular expression it replaced found, (?m)^# configuration file (.+):\r?$, name and all.
func FuzzDumpHeaders(f *testing.F) {
	f.Add([]byte("# configuration file /etc/nginx/nginx.conf:\nevents {}\n\n# configuration file /etc/nginx/b.conf:\r\nx;\n"))
	f.Add([]byte("x# configuration file /a:\n# configuration file :\n# configuration file ::\n# configuration file a:\rb:"))
	f.Add([]byte("# configuration file a:\r\r\n# configuration file \xff:\n"))
	re := regexp.MustCompile(`(?m)^# configuration file (.+):\r?$`)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return
		}
		var got [][]int
		for h, ok := nextDumpHeader(data, 0); ok; h, ok = nextDumpHeader(data, h.end) {
			got = append(got, []int{h.start, h.end, h.name, h.nameEnd})
		}
		want := re.FindAllSubmatchIndex(data, -1)
		if len(got) != len(want) {
			t.Fatalf("%q: scan found %v, regexp %v", data, got, want)
		}
		for i := range got {
			// The regexp's match may end after a CR; the scan's line always ends at the LF.
			end := want[i][1]
			if end < len(data) && data[end] == '\r' {
				end++
			}
			if got[i][0] != want[i][0] || got[i][2] != want[i][2] || got[i][3] != want[i][3] || (got[i][1] != end && got[i][1] != want[i][1]) {
				t.Fatalf("%q: header %d: scan %v, regexp %v", data, i, got[i], want[i])
			}
		}
		if IsDump(data) != (len(want) > 0) {
			t.Fatalf("%q: IsDump %v, regexp found %d", data, IsDump(data), len(want))
		}
	})
}
