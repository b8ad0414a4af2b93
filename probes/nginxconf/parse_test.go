package nginxconf

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// render prints a tree one directive a line: "line name [args]" indented by depth,
// with the file's base name when it differs from the parent's.
func render(cfg *Config) string {
	var b strings.Builder
	var rec func([]*Directive, int, string)
	rec = func(ds []*Directive, depth int, file string) {
		for _, d := range ds {
			where := fmt.Sprint(d.Line)
			if d.File != file {
				where = filepath.Base(d.File) + ":" + where
			}
			fmt.Fprintf(&b, "%s%s %s %q\n", strings.Repeat("  ", depth), where, d.Name, d.Args)
			rec(d.Block, depth+1, d.File)
		}
	}
	rec(cfg.Tree(), 0, cfg.Main)
	return b.String()
}

// writeTree creates files (relative name → content) under a temp dir and returns it.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestTokens(t *testing.T) {
	tests := map[string]struct {
		in, want string
	}{
		"quotes stripped, escapes applied": {
			in:   `add_header X "a \"b\" \\ \t \n" 'it\'s' "\d";`,
			want: "1 add_header [\"X\" \"a \\\"b\\\" \\\\ \\t \\n\" \"it's\" \"\\\\d\"]\n",
		},
		"comment only at word start": {
			in:   "root /a#b; # trailing\n# whole line\nindex i;",
			want: "1 root [\"/a#b\"]\n3 index [\"i\"]\n",
		},
		"if tokens as nginx produces them": {
			in:   `if ($request_method = "OPTIONS") { return 204; }`,
			want: "1 if [\"($request_method\" \"=\" \"OPTIONS\" \")\"]\n  1 return [\"204\"]\n",
		},
		"special characters inside quotes": {
			in:   `return 200 "ok;{}";`,
			want: "1 return [\"200\" \"ok;{}\"]\n",
		},
		"regex location with braces in quotes": {
			in:   "location ~ \"^/api/v[0-9]{1,2}/\" {\n  grpc_pass grpc://x;\n}",
			want: "1 location [\"~\" \"^/api/v[0-9]{1,2}/\"]\n  2 grpc_pass [\"grpc://x\"]\n",
		},
		"${var} does not open a block": {
			in:   "set $a ${host}x;\nreturn 200 ${a};",
			want: "1 set [\"$a\" \"${host}x\"]\n2 return [\"200\" \"${a}\"]\n",
		},
		"block line is its opening line": {
			in:   "http\n{\n  server {\n\n  }\n}\n",
			want: "1 http []\n  3 server []\n",
		},
		"multi-line directive keeps its first line": {
			in:   "log_format main\n  '$remote_addr'\n  ' \"$request\"';",
			want: "1 log_format [\"main\" \"$remote_addr\" \" \\\"$request\\\"\"]\n",
		},
		"empty quoted word": {
			in:   `add_header X "";`,
			want: "1 add_header [\"X\" \"\"]\n",
		},
		"closing brace inside a word": {
			in:   "a b}c;",
			want: "1 a [\"b}c\"]\n",
		},
		"lua block with braces in strings and comments": {
			in: "content_by_lua_block {\n  local s = \"}\" -- }\n  local t = [[ } ]] --[==[ } ]==]\n  if x then ngx.say('{') end\n}\nreturn 204;",
			want: "1 content_by_lua_block [\"\\n  local s = \\\"}\\\" -- }\\n  local t = [[ } ]] --[==[ } ]==]\\n  if x then ngx.say('{') end\\n\"]\n" +
				"6 return [\"204\"]\n",
		},
		"upstream server is a simple directive": {
			in:   "upstream u { server 127.0.0.1:1 weight=2; keepalive 4; }",
			want: "1 upstream [\"u\"]\n  1 server [\"127.0.0.1:1\" \"weight=2\"]\n  1 keepalive [\"4\"]\n",
		},
		"map lines are data": {
			in:   "map $a $b {\n default 0;\n \"~^x{2}\" 1;\n}",
			want: "1 map [\"$a\" \"$b\"]\n  2 default [\"0\"]\n  3 ~^x{2} [\"1\"]\n",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg, err := parseMain("/x/nginx.conf", []byte(tc.in), dumpSource{}, Options{})
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got := render(cfg); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestLuaErrors(t *testing.T) {
	for in, want := range map[string]string{
		"content_by_lua_block {\n ngx.say('}')\n":         "unexpected end of file, expecting terminating characters for lua code block in /x/nginx.conf:3",
		"content_by_lua_block {\n ngx.say([==[ }\n]] }\n": `Lua code block missing the closing long bracket "]==]", the inlined Lua code may be too long in /x/nginx.conf:2`,
		"access_by_lua_block { --[[ } }":                  `Lua code block missing the closing long bracket "]]", the inlined Lua code may be too long in /x/nginx.conf:1`,
	} {
		_, err := parseMain("/x/nginx.conf", []byte(in), dumpSource{}, Options{})
		if err == nil || err.Error() != want {
			t.Errorf("%q: err = %v\nwant %s", in, err, want)
		}
	}
}

func TestIncludes(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"nginx.conf":          "events {}\nhttp {\n  include conf.d/*.conf;\n  include empty/*.conf;\n  server {\n    include snippets/tls.conf;\n  }\n}\n",
		"conf.d/b.conf":       "server { listen 8443; }\n",
		"conf.d/a.conf":       "log_format x '$a';\n",
		"conf.d/.hidden.conf": "this is not included;\n",
		"conf.d/c.txt":        "nor this;\n",
		"snippets/tls.conf":   "\n\nssl_verify_depth 2;\n",
	})
	cfg, err := Load(filepath.Join(dir, "nginx.conf"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := `1 events []
2 http []
  3 include ["conf.d/*.conf"]
  a.conf:1 log_format ["x" "$a"]
  b.conf:1 server []
    1 listen ["8443"]
  4 include ["empty/*.conf"]
  5 server []
    6 include ["snippets/tls.conf"]
    tls.conf:3 ssl_verify_depth ["2"]
`
	if got := render(cfg); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	var files []string
	for _, f := range cfg.Files {
		files = append(files, strings.TrimPrefix(f.Path, dir+"/"))
	}
	if got := strings.Join(files, " "); got != "nginx.conf conf.d/a.conf conf.d/b.conf snippets/tls.conf" {
		t.Errorf("files = %s", got)
	}
	depth := cfg.Find("ssl_verify_depth")[0]
	if depth.Parent.Name != "server" || depth.IncludedFrom.Name != "include" || depth.IncludedFrom.Line != 6 {
		t.Errorf("included directive: parent %v, included from %v", depth.Parent, depth.IncludedFrom)
	}
	var visited []string
	cfg.Walk(func(d *Directive) bool {
		visited = append(visited, d.Name)
		return d.Name != "server" // skip server bodies
	})
	if got := strings.Join(visited, " "); got != "events http include log_format server include server" {
		t.Errorf("Walk visited %s", got)
	}
	if inc := cfg.Find("include")[0]; fmt.Sprint(cfg.Includes(inc)) != "[1 2]" {
		t.Errorf("include indexes = %v", cfg.Includes(inc))
	}
}

func TestIncludeLoop(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"nginx.conf": "http {\n  include a.conf;\n}\n",
		"a.conf":     "include b.conf;\n",
		"b.conf":     "# loops\ninclude a.conf;\n",
	})
	_, err := Load(filepath.Join(dir, "nginx.conf"), Options{})
	want := fmt.Sprintf("include loop: %[1]s/a.conf -> %[1]s/b.conf -> %[1]s/a.conf in %[1]s/b.conf:2", dir)
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
}

func TestIncludeSameFileTwice(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"nginx.conf": "http {\n server { include s.conf; }\n server { include s.conf; }\n}\n",
		"s.conf":     "listen 1;\n",
	})
	cfg, err := Load(filepath.Join(dir, "nginx.conf"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(cfg.Files); n != 2 {
		t.Errorf("files = %d, want 2", n)
	}
	srv := cfg.HTTPServers()
	if len(srv) != 2 || len(srv[0].Listens) != 1 || len(srv[1].Listens) != 1 || srv[1].Listens[0].Directive.Parent != srv[1].Directive {
		t.Errorf("each server must get its own copy of the included directives")
	}
}

func TestLoadMissingMain(t *testing.T) {
	_, err := Load("/nonexistent/nginx.conf", Options{})
	if err == nil || err.Error() != `open() "/nonexistent/nginx.conf" failed (2: No such file or directory)` {
		t.Errorf("err = %v", err)
	}
}

func TestParseDump(t *testing.T) {
	dump := "nginx: the configuration file /etc/nginx/nginx.conf syntax is ok\n" +
		"# configuration file /etc/nginx/nginx.conf:\n" +
		"http {\n  include /etc/nginx/conf.d/*.conf;\n  include snippets/x.conf;\n}\n\n" +
		"# configuration file /etc/nginx/conf.d/a.conf:\n" +
		"server {\n\n  listen 443 ssl;\n}\n" + // a file without a trailing LF
		"# configuration file /etc/nginx/snippets/x.conf:\n" +
		"error_log /var/log/nginx/e.log info;\n\n"
	cfg, err := ParseDump(strings.NewReader(dump))
	if err != nil {
		t.Fatal(err)
	}
	want := `1 http []
  2 include ["/etc/nginx/conf.d/*.conf"]
  a.conf:1 server []
    3 listen ["443" "ssl"]
  3 include ["snippets/x.conf"]
  x.conf:1 error_log ["/var/log/nginx/e.log" "info"]
`
	if got := render(cfg); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if cfg.Main != "/etc/nginx/nginx.conf" || cfg.ConfPrefix != "/etc/nginx" {
		t.Errorf("main %q prefix %q", cfg.Main, cfg.ConfPrefix)
	}
	if _, err := ParseDump(strings.NewReader("worker_processes 1;\n")); err == nil {
		t.Error("want an error for input without a configuration file header")
	}
}

// badConfigs are broken configurations with the error nginx reports for each. File
// names in want are relative to the test directory.
var badConfigs = map[string]struct {
	files     map[string]string
	want      string // message
	wantFile  string
	wantLine  int
	nginxSkip string // why the real nginx cannot be compared, if it cannot
}{
	"missing semicolon before a block": {
		files:    map[string]string{"nginx.conf": "events {}\nhttp {\n  server {\n    listen 80\n    location / { return 200; }\n  }\n}\n"},
		want:     `directive "listen" is not terminated by ";"`,
		wantFile: "nginx.conf", wantLine: 5,
	},
	"unclosed block in an included file": {
		files: map[string]string{
			"nginx.conf": "events {}\nhttp {\n  include broken.inc;\n}\n",
			"broken.inc": "server {\n  listen 8080;\n  location / {\n    return 200;\n  }\n",
		},
		want:     `unexpected end of file, expecting "}"`,
		wantFile: "broken.inc", wantLine: 6,
	},
	"extra closing brace": {
		files:    map[string]string{"nginx.conf": "events {}\nhttp {\n}\n}\n"},
		want:     `unexpected "}"`,
		wantFile: "nginx.conf", wantLine: 4,
	},
	"closing brace after words": {
		files:    map[string]string{"nginx.conf": "events {}\nhttp {\n  server { listen 8080 }\n}\n"},
		want:     `unexpected "}"`,
		wantFile: "nginx.conf", wantLine: 3,
	},
	"end of file inside a directive": {
		files:    map[string]string{"nginx.conf": "events {}\nworker_processes 1"},
		want:     `unexpected end of file, expecting ";" or "}"`,
		wantFile: "nginx.conf", wantLine: 2,
	},
	"unterminated quote": {
		files:    map[string]string{"nginx.conf": "events {}\nhttp {\n  server {\n    return 200 \"oops;\n  }\n}\n"},
		want:     `unexpected end of file, expecting ";" or "}"`,
		wantFile: "nginx.conf", wantLine: 7,
	},
	"character right after a closing quote": {
		files:    map[string]string{"nginx.conf": "events {}\nhttp {\n  server {\n    return 200 \"a\"b;\n  }\n}\n"},
		want:     `unexpected "b"`,
		wantFile: "nginx.conf", wantLine: 4,
	},
	"lone semicolon": {
		files:    map[string]string{"nginx.conf": "events {}\n\n;\n"},
		want:     `unexpected ";"`,
		wantFile: "nginx.conf", wantLine: 3,
	},
	"lone opening brace": {
		files:    map[string]string{"nginx.conf": "events {}\nhttp {\n  {\n}\n"},
		want:     `unexpected "{"`,
		wantFile: "nginx.conf", wantLine: 3,
	},
	"server without a block": {
		files:    map[string]string{"nginx.conf": "events {}\nhttp {\n  server;\n}\n"},
		want:     `directive "server" has no opening "{"`,
		wantFile: "nginx.conf", wantLine: 3,
	},
	"location without a block": {
		files:    map[string]string{"nginx.conf": "events {}\nhttp {\n  server {\n    location /x;\n  }\n}\n"},
		want:     `directive "location" has no opening "{"`,
		wantFile: "nginx.conf", wantLine: 4,
	},
	"ssl_verify_client followed by a block": {
		files:    map[string]string{"nginx.conf": "events {}\nhttp {\n  server {\n    ssl_verify_client on\n    {\n    }\n  }\n}\n"},
		want:     `directive "ssl_verify_client" is not terminated by ";"`,
		wantFile: "nginx.conf", wantLine: 5,
	},
	"brace inside map": {
		files:    map[string]string{"nginx.conf": "events {}\nhttp {\n  map $host $x {\n    default {\n  }\n}\n"},
		want:     `unexpected "{"`,
		wantFile: "nginx.conf", wantLine: 4,
	},
	"missing include file": {
		files:    map[string]string{"nginx.conf": "events {}\nhttp {\n  include\n    missing.conf;\n}\n"},
		want:     `open() "DIR/missing.conf" failed (2: No such file or directory)`,
		wantFile: "nginx.conf", wantLine: 4,
	},
	"include with two files": {
		files:    map[string]string{"nginx.conf": "events {}\nhttp {\n  include a.conf b.conf;\n}\n"},
		want:     `invalid number of arguments in "include" directive`,
		wantFile: "nginx.conf", wantLine: 3,
	},
	"error in the second file of a glob": {
		files: map[string]string{
			"nginx.conf":    "events {}\nhttp {\n  include conf.d/*.conf;\n}\n",
			"conf.d/a.conf": "server { listen 8080; }\n",
			"conf.d/b.conf": "server {\n  listen 8081\n  location / {}\n}\n",
		},
		want:     `directive "listen" is not terminated by ";"`,
		wantFile: "conf.d/b.conf", wantLine: 3,
	},
	"comment longer than nginx's buffer": {
		files:    map[string]string{"nginx.conf": "events {}\n# " + strings.Repeat("0", 5000) + "\nhttp {}\n"},
		want:     `too long parameter "# 00000000..." started`,
		wantFile: "nginx.conf", wantLine: 2,
	},
	"unterminated quote in a large file": {
		files:    map[string]string{"nginx.conf": "events {}\nhttp {\n  server {\n    return 200 \"" + strings.Repeat("x\n", 2100) + "  }\n}\n"},
		want:     `too long parameter, probably missing terminating """ character`,
		wantFile: "nginx.conf", wantLine: 4,
	},
	"unterminated single quote in a large file": {
		files:    map[string]string{"nginx.conf": "events {}\nhttp {\n  log_format x '" + strings.Repeat("y", 4200) + "\n}\n"},
		want:     `too long parameter, probably missing terminating "'" character`,
		wantFile: "nginx.conf", wantLine: 3,
	},
	"include loop": {
		files: map[string]string{
			"nginx.conf": "events {}\nhttp {\n  include a.conf;\n}\n",
			"a.conf":     "include b.conf;\n",
			"b.conf":     "\ninclude a.conf;\n",
		},
		want:     `include loop: DIR/a.conf -> DIR/b.conf -> DIR/a.conf`,
		wantFile: "b.conf", wantLine: 2,
		nginxSkip: "nginx 1.22.1 segfaults on an include loop",
	},
}

func TestErrors(t *testing.T) {
	for name, tc := range badConfigs {
		t.Run(name, func(t *testing.T) {
			dir := writeTree(t, tc.files)
			cfg, err := Load(filepath.Join(dir, "nginx.conf"), Options{})
			want := Error{File: filepath.Join(dir, tc.wantFile), Line: tc.wantLine, Msg: strings.ReplaceAll(tc.want, "DIR", dir)}
			if err == nil {
				t.Fatalf("no error, want %v", want)
			}
			if err != want {
				t.Errorf("err  %v\nwant %v", err, want)
			}
			if cfg == nil || len(cfg.Errors) == 0 || cfg.Errors[0] != want {
				t.Errorf("Config.Errors = %v", cfg.Errors)
			}
		})
	}
}
