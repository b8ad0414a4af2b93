package probes

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// memFiles is a ReadFile over an in-memory tree, failing like os.ReadFile for paths it lacks.
func memFiles(files map[string]string) func(string) ([]byte, error) {
	return func(p string) ([]byte, error) {
		s, ok := files[p]
		if !ok {
			return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
		}
		return []byte(s), nil
	}
}

// testdataConf is a checked-in configuration file.
func testdataConf(name string) string { return filepath.Join("testdata", "agentconfig", name) }

// fileAt is a setting read from path at line.
func fileAt(value, path string, line int) Setting {
	return Setting{Value: value, Source: Source{Kind: SourceFile, Name: path, Line: line}}
}

func dflt(value string) Setting { return Setting{Value: value, Source: Source{Kind: SourceDefault}} }

func envSet(value, name string) Setting {
	return Setting{Value: value, Source: Source{Kind: SourceEnv, Name: name}}
}

func flagSet(value, name string) Setting {
	return Setting{Value: value, Source: Source{Kind: SourceFlag, Name: name}}
}

// checkSettings compares the connection settings of got with want.
func checkSettings(t *testing.T, got, want AgentConfig) {
	t.Helper()
	for _, f := range []struct {
		name      string
		got, want Setting
	}{
		{"Host", got.Host, want.Host},
		{"Port", got.Port, want.Port},
		{"ServerName", got.ServerName, want.ServerName},
		{"TLSEnabled", got.TLSEnabled, want.TLSEnabled},
		{"Cert", got.Cert, want.Cert},
		{"Key", got.Key, want.Key},
		{"CA", got.CA, want.CA},
		{"SkipVerify", got.SkipVerify, want.SkipVerify},
		{"LogPath", got.LogPath, want.LogPath},
	} {
		if f.got != f.want {
			t.Errorf("%s = %+v, want %+v", f.name, f.got, f.want)
		}
	}
	if got.TokenSet != want.TokenSet {
		t.Errorf("TokenSet = %v, want %v", got.TokenSet, want.TokenSet)
	}
	if got.Format != want.Format {
		t.Errorf("Format = %q, want %q", got.Format, want.Format)
	}
	if !slices.Equal(got.MixedKeys, want.MixedKeys) {
		t.Errorf("MixedKeys = %q, want %q", got.MixedKeys, want.MixedKeys)
	}
	if got.WorkDir != want.WorkDir {
		t.Errorf("WorkDir = %q, want %q", got.WorkDir, want.WorkDir)
	}
}

func TestLoadAgentConfigFormats(t *testing.T) {
	tests := []struct {
		file string
		want func(p string) AgentConfig
	}{
		{"v2-nms.conf", func(p string) AgentConfig {
			return AgentConfig{Format: FormatV2,
				Host: fileAt("nginx-manager.example.com", p, 13), Port: fileAt("443", p, 14),
				ServerName: fileAt("nginx-manager.example.com", p, 17), TLSEnabled: fileAt("true", p, 20),
				SkipVerify: fileAt("false", p, 21), Cert: fileAt("/etc/nms/certs/agent.crt", p, 22),
				Key: fileAt("/etc/nms/certs/agent.key", p, 23), CA: fileAt("/etc/nms/certs/ca.pem", p, 24),
				LogPath: fileAt("/var/log/nginx-agent/", p, 29)}
		}},
		{"v2-postinstall.conf", func(p string) AgentConfig {
			return AgentConfig{Format: FormatV2,
				Host: fileAt("127.0.0.1", p, 13), Port: fileAt("54789", p, 14), ServerName: dflt(""),
				TLSEnabled: fileAt("false", p, 22), SkipVerify: fileAt("true", p, 25),
				Cert: dflt(""), Key: dflt(""), CA: dflt(""), LogPath: fileAt("/var/log/nginx-agent/", p, 30)}
		}},
		{"nim1.conf", func(p string) AgentConfig {
			return AgentConfig{Format: FormatNIM1,
				Host: fileAt("nginx-manager.example.com", p, 8), Port: fileAt("10443", p, 8), ServerName: dflt(""),
				TLSEnabled: fileAt("true", p, 13), SkipVerify: dflt("false"),
				Cert: fileAt("/etc/ssl/nginx-manager/agent.crt", p, 15), Key: fileAt("/etc/ssl/nginx-manager/agent.key", p, 17),
				CA: fileAt("/etc/ssl/nginx-manager/ca.pem", p, 19), LogPath: fileAt("/var/log/nginx-agent/", p, 24)}
		}},
		{"v3.conf", func(p string) AgentConfig {
			// Only skip_verify: false is under command.tls, and it alone turns TLS on.
			return AgentConfig{Format: FormatV3,
				Host: fileAt("agent.connect.nginx.com", p, 21), Port: fileAt("443", p, 22), ServerName: dflt(""),
				TLSEnabled: fileAt("true", p, 26), SkipVerify: fileAt("false", p, 26),
				Cert: dflt(""), Key: dflt(""), CA: dflt(""), TokenSet: true, LogPath: fileAt("/var/log/nginx-agent/", p, 11)}
		}},
		{"v3-mtls.conf", func(p string) AgentConfig {
			return AgentConfig{Format: FormatV3,
				Host: fileAt("nim.example.com", p, 3), Port: fileAt("8443", p, 4),
				ServerName: fileAt("nim.example.com", p, 12), TLSEnabled: fileAt("true", p, 9), SkipVerify: dflt("false"),
				Cert: fileAt("/etc/nginx-agent/agent.crt", p, 9), Key: fileAt("/etc/nginx-agent/agent.key", p, 10),
				CA: fileAt("/etc/nginx-agent/ca.pem", p, 11), TokenSet: true, LogPath: dflt("")}
		}},
		{"v3-leftover-v2.conf", func(p string) AgentConfig {
			// The v2 tls: block is not read by v3 (its cert is not taken) and is reported.
			return AgentConfig{Format: FormatV3, MixedKeys: []string{"tls (line 13)"},
				Host: fileAt("nim.example.com", p, 7), Port: fileAt("443", p, 8), ServerName: dflt(""),
				TLSEnabled: fileAt("true", p, 10), SkipVerify: dflt("false"),
				Cert: dflt(""), Key: dflt(""), CA: fileAt("/etc/nginx-agent/ca.pem", p, 10),
				LogPath: fileAt("/var/log/nginx-agent/", p, 3)}
		}},
		{"v2-with-command.conf", func(p string) AgentConfig {
			return AgentConfig{Format: FormatV2, MixedKeys: []string{"command (line 9)"},
				Host: fileAt("nim.example.com", p, 2), Port: fileAt("443", p, 3), ServerName: dflt(""),
				TLSEnabled: fileAt("true", p, 5), SkipVerify: dflt("false"),
				Cert: fileAt("/etc/nms/certs/agent.crt", p, 6), Key: fileAt("/etc/nms/certs/agent.key", p, 7),
				CA: dflt(""), LogPath: dflt("")}
		}},
		{"v2-case.conf", func(p string) AgentConfig {
			// Keys in any case, "True" and 1 as booleans, relative paths against WorkDir.
			return AgentConfig{Format: FormatV2, WorkDir: "/var/lib/nginx-agent",
				Host: fileAt("nim.example.com", p, 2), Port: fileAt("8443", p, 3),
				ServerName: fileAt("nim.example.com", p, 4), TLSEnabled: fileAt("true", p, 6),
				Cert: written(fileAt("/var/lib/nginx-agent/agent.crt", p, 7), "agent.crt"),
				Key:  written(fileAt("/var/lib/nginx-agent/private/agent.key", p, 8), "private/agent.key"),
				CA:   fileAt("/etc/nms/certs/ca.pem", p, 9), SkipVerify: fileAt("true", p, 10), LogPath: dflt("")}
		}},
		{"v2-anchors.conf", func(p string) AgentConfig {
			// tls: merges the anchored defaults; its own cert wins over the merged one.
			return AgentConfig{Format: FormatV2,
				Host: fileAt("nim.example.com", p, 6), Port: fileAt("443", p, 7),
				ServerName: fileAt("nim.example.com", p, 8), TLSEnabled: fileAt("true", p, 2), SkipVerify: dflt("false"),
				Cert: fileAt("/etc/nms/certs/agent.crt", p, 11), Key: fileAt("/etc/nms/certs/agent.key", p, 12),
				CA: fileAt("/etc/nms/certs/ca.pem", p, 3), LogPath: dflt("")}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			p := testdataConf(tt.file)
			got := LoadAgentConfig(AgentConfigOptions{Path: p, DynamicPaths: []string{}, WorkDir: "/var/lib/nginx-agent"})
			if got.Error != nil {
				t.Fatalf("Error = %+v", got.Error)
			}
			if got.Path != p || !slices.Equal(got.Searched, []string{p}) {
				t.Errorf("Path = %q, Searched = %q; want %q", got.Path, got.Searched, p)
			}
			checkSettings(t, got, tt.want(p))
			if len(got.Env) != 0 || got.DynamicPath != "" {
				t.Errorf("Env = %+v, DynamicPath = %q; want none", got.Env, got.DynamicPath)
			}
		})
	}
}

func TestLoadAgentConfigNeverKeepsToken(t *testing.T) {
	p := testdataConf("v3.conf")
	got := LoadAgentConfig(AgentConfigOptions{Path: p, DynamicPaths: []string{},
		Env: []string{"NGINX_AGENT_COMMAND_AUTH_TOKEN=env-secret-token-value"}})
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"not-a-real-token-0123456789", "env-secret-token-value"} {
		if strings.Contains(string(b)+fmt.Sprintf("%#v", got), secret) {
			t.Errorf("the token %q leaked into the result: %s", secret, b)
		}
	}
	if !got.TokenSet {
		t.Error("TokenSet = false, want true")
	}
}

func TestLoadAgentConfigSearch(t *testing.T) {
	v2 := "server:\n  host: nim.example.com\n  grpcPort: 443\n"
	t.Run("first existing file in order", func(t *testing.T) {
		files := map[string]string{"/etc/nginx-agent/nginx-agent.conf": v2, "/nginx-agent.conf": v2}
		got := LoadAgentConfig(AgentConfigOptions{ReadFile: memFiles(files), DynamicPaths: []string{}})
		if got.Path != "/etc/nginx-agent/nginx-agent.conf" {
			t.Errorf("Path = %q", got.Path)
		}
		want := []string{"/etc/nginx-manager/nginx-agent.conf", "/etc/nginx-agent/nginx-agent.conf"}
		if !slices.Equal(got.Searched, want) {
			t.Errorf("Searched = %q, want %q", got.Searched, want)
		}
		if got.Host != fileAt("nim.example.com", got.Path, 2) {
			t.Errorf("Host = %+v", got.Host)
		}
	})
	t.Run("working directory last", func(t *testing.T) {
		files := map[string]string{"/opt/agent/nginx-agent.conf": v2}
		got := LoadAgentConfig(AgentConfigOptions{ReadFile: memFiles(files), DynamicPaths: []string{}, WorkDir: "/opt/agent"})
		want := []string{"/etc/nginx-manager/nginx-agent.conf", "/etc/nginx-agent/nginx-agent.conf",
			"/usr/local/etc/nginx-agent/nginx-agent.conf", "/opt/agent/nginx-agent.conf"}
		if got.Path != "/opt/agent/nginx-agent.conf" || !slices.Equal(got.Searched, want) {
			t.Errorf("Path = %q, Searched = %q; want the last of %q", got.Path, got.Searched, want)
		}
	})
	t.Run("nothing found", func(t *testing.T) {
		got := LoadAgentConfig(AgentConfigOptions{ReadFile: memFiles(nil), DynamicPaths: []string{}})
		want := []string{"/etc/nginx-manager/nginx-agent.conf", "/etc/nginx-agent/nginx-agent.conf",
			"/usr/local/etc/nginx-agent/nginx-agent.conf", "/nginx-agent.conf"}
		if got.Path != "" || got.Error != nil || !slices.Equal(got.Searched, want) {
			t.Errorf("Path = %q, Error = %+v, Searched = %q; want no path, no error, searched %q", got.Path, got.Error, got.Searched, want)
		}
		if got.Format != FormatUnknown || got.Host.IsSet() || got.TLSEnabled != dflt("false") || got.Address() != "" {
			t.Errorf("with nothing found: Format %q, Host %+v, TLSEnabled %+v, Address %q", got.Format, got.Host, got.TLSEnabled, got.Address())
		}
	})
	t.Run("real files on disk", func(t *testing.T) {
		dir := t.TempDir()
		a, b := filepath.Join(dir, "a", "nginx-agent.conf"), filepath.Join(dir, "b", "nginx-agent.conf")
		if err := os.MkdirAll(filepath.Dir(b), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(b, []byte(v2), 0o644); err != nil {
			t.Fatal(err)
		}
		got := LoadAgentConfig(AgentConfigOptions{SearchPaths: []string{a, b}, DynamicPaths: []string{}})
		if got.Path != b || got.Error != nil || got.Address() != "nim.example.com:443" {
			t.Errorf("Path = %q, Error = %+v, Address = %q", got.Path, got.Error, got.Address())
		}
	})
	t.Run("explicit path missing", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "nope.conf")
		got := LoadAgentConfig(AgentConfigOptions{Path: p, DynamicPaths: []string{}})
		if got.Path != "" || got.Error != nil || !slices.Equal(got.Searched, []string{p}) {
			t.Errorf("Path = %q, Error = %+v, Searched = %q", got.Path, got.Error, got.Searched)
		}
	})
	t.Run("unreadable file stops the search", func(t *testing.T) {
		read := func(p string) ([]byte, error) {
			if p == "/etc/nginx-agent/nginx-agent.conf" {
				return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrPermission}
			}
			return memFiles(map[string]string{"/usr/local/etc/nginx-agent/nginx-agent.conf": v2})(p)
		}
		got := LoadAgentConfig(AgentConfigOptions{ReadFile: read, DynamicPaths: []string{}})
		want := ConfigError{Path: "/etc/nginx-agent/nginx-agent.conf", Message: "permission denied"}
		if got.Path != want.Path || got.Error == nil || *got.Error != want {
			t.Errorf("Path = %q, Error = %+v; want %+v", got.Path, got.Error, want)
		}
		if got.Host.IsSet() {
			t.Errorf("Host = %+v from a file after the unreadable one", got.Host)
		}
	})
}

func TestLoadAgentConfigPermissionDeniedOnDisk(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads any file; the injected-ReadFile test covers this case")
	}
	p := filepath.Join(t.TempDir(), "nginx-agent.conf")
	if err := os.WriteFile(p, []byte("server:\n  host: x\n"), 0o000); err != nil {
		t.Fatal(err)
	}
	got := LoadAgentConfig(AgentConfigOptions{Path: p, DynamicPaths: []string{}})
	if got.Error == nil || got.Error.Message != "permission denied" || got.Path != p {
		t.Errorf("Path = %q, Error = %+v; want permission denied", got.Path, got.Error)
	}
}

func TestLoadAgentConfigErrors(t *testing.T) {
	tests := []struct {
		name, file, content string
		line, col           int
		msg                 string
		reindent            *Reindent // the repair the loader should find; nil for none
	}{
		{name: "tab", file: "bad-tab.conf", line: 3, col: 1, msg: "found character '\t' that cannot start any token"},
		// goccy points at the plain scalar the over-indented line continues.
		{name: "indent", file: "bad-indent.conf", line: 5, col: 11, msg: "mapping value is not allowed in this context",
			reindent: &Reindent{Line: 6, Indent: 2}},
		// Moving a duplicate key under the one before would parse, but change what it means.
		{name: "duplicate key", file: "bad-duplicate.conf", line: 6, col: 1, msg: `mapping key "tls" already defined at [4:1]`},
		{name: "top-level sequence", content: "# agent\n- server: nim.example.com\n", line: 2, col: 1,
			msg: "sequence was used where mapping is expected"},
		{name: "top-level scalar", content: "nim.example.com:443\n", line: 1, col: 1,
			msg: "string was used where mapping is expected"},
		{name: "list item off its column", content: "tags:\n  - web\n - db\n", line: 3, col: 2,
			msg: "value is not allowed in this context", reindent: &Reindent{Line: 3, Indent: 2}},
		{name: "unclosed flow", content: "tls: {cert: /a.crt\n", line: 1, col: 6, msg: "could not find flow mapping end token '}'"},
		{name: "deep flow nesting", content: "server: " + strings.Repeat("[", 100) + strings.Repeat("]", 100) + "\n", line: 1, col: 73,
			msg: "flow collections nested deeper than 64 levels"},
		{name: "too many tokens", content: manyKeys(5000), line: 2731, col: 10, msg: "too many YAML tokens (more than 8192)"},
		{name: "too many lines", content: "# header\n\n" + manyKeys(9000), line: 8195, col: 1, msg: "too many YAML tokens (more than 8192)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := "/etc/nginx-agent/nginx-agent.conf"
			o := AgentConfigOptions{Path: p, DynamicPaths: []string{}, ReadFile: memFiles(map[string]string{p: tt.content})}
			if tt.file != "" {
				p = testdataConf(tt.file)
				o = AgentConfigOptions{Path: p, DynamicPaths: []string{}}
			}
			got := LoadAgentConfig(o)
			want := ConfigError{Path: p, Line: tt.line, Column: tt.col, Message: tt.msg}
			if got.Error == nil {
				t.Fatalf("Error = nil, want %+v", want)
			}
			gotErr := *got.Error
			gotErr.Reindent = nil
			if gotErr != want {
				t.Fatalf("Error = %+v, want %+v", got.Error, want)
			}
			if r := got.Error.Reindent; (r == nil) != (tt.reindent == nil) || r != nil && *r != *tt.reindent {
				t.Errorf("Reindent = %+v, want %+v", r, tt.reindent)
			}
			if got.Path != p || got.Host.IsSet() || got.TLSEnabled != dflt("false") {
				t.Errorf("Path = %q, Host = %+v, TLSEnabled = %+v", got.Path, got.Host, got.TLSEnabled)
			}
		})
	}
}

// manyKeys is a valid file with n top-level keys, three tokens each.
func manyKeys(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "key%04d: v\n", i)
	}
	return b.String()
}

func TestLoadAgentConfigValues(t *testing.T) {
	p := "/etc/nginx-agent/nginx-agent.conf"
	tests := []struct {
		name, content string
		port, tls     string
		skip          string
	}{
		{"hex port is a number", "server:\n  host: h\n  grpcPort: 0x1bb\n", "443", "false", "false"},
		{"quoted port", "server:\n  host: h\n  grpcPort: \"8443\"\n", "8443", "false", "false"},
		{"bad port is kept for the checks", "server:\n  host: h\n  grpcPort: 443x\n", "443x", "false", "false"},
		{"out-of-range port is kept", "server:\n  host: h\n  grpcPort: 70000\n", "70000", "false", "false"},
		{"yes is not a boolean to the agent", "server: {host: h, grpcPort: 1}\ntls:\n  enable: yes\n  skip_verify: on\n", "1", "false", "false"},
		{"integers as booleans", "server: {host: h, grpcPort: 1}\ntls:\n  enable: 1\n  skip_verify: 0\n", "1", "true", "false"},
		{"TRUE", "server: {host: h, grpcPort: 1}\ntls:\n  enable: TRUE\n  skip_verify: T\n", "1", "true", "true"},
		{"null port is unset", "server:\n  host: h\n  grpcPort:\n", "", "false", "false"},
		{"mapping where a scalar belongs is unset", "server:\n  host: h\n  grpcPort: {a: 1}\n", "", "false", "false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := LoadAgentConfig(AgentConfigOptions{Path: p, DynamicPaths: []string{}, ReadFile: memFiles(map[string]string{p: tt.content})})
			if got.Error != nil {
				t.Fatalf("Error = %+v", got.Error)
			}
			if got.Port.Value != tt.port || got.TLSEnabled.Value != tt.tls || got.SkipVerify.Value != tt.skip {
				t.Errorf("Port %q, TLSEnabled %q, SkipVerify %q; want %q, %q, %q",
					got.Port.Value, got.TLSEnabled.Value, got.SkipVerify.Value, tt.port, tt.tls, tt.skip)
			}
		})
	}
}

// TestLoadAgentConfigTypeErrors: a list or a map where the agent reads one value is named
// with its key, what it is and its line, unless a later source sets the value; null is not.
func TestLoadAgentConfigTypeErrors(t *testing.T) {
	p, dyn := "/etc/nginx-agent/nginx-agent.conf", "/var/lib/nginx-agent/agent-dynamic.conf"
	at := func(key, typ string, line int) TypeError {
		return TypeError{Key: key, Type: typ, Source: Source{Kind: SourceFile, Name: p, Line: line}}
	}
	tests := []struct {
		name, content, dynamic string
		env                    []string
		want                   []TypeError
	}{
		{"flow list port", "server:\n  host: h\n  grpcPort: [1,2]\n", "", nil,
			[]TypeError{at("server.grpcPort", "a list", 3)}},
		{"block list and map", "server:\n  host:\n    - a\n    - b\ntls:\n  cert: {path: /a.crt}\n", "", nil,
			[]TypeError{at("server.host", "a list", 2), at("tls.cert", "a map", 6)}},
		{"alias to a list", "ports: &p [1, 2]\nserver:\n  host: h\n  grpcPort: *p\n", "", nil,
			[]TypeError{at("server.grpcPort", "a list", 4)}},
		{"v3 port", "command:\n  server:\n    host: h\n    port: [443]\n", "", nil,
			[]TypeError{at("command.server.port", "a list", 4)}},
		{"null is only unset", "server:\n  host: h\n  grpcPort:\n", "", nil, nil},
		{"the environment sets it", "server:\n  host: h\n  grpcPort: [1,2]\n", "", []string{"NGINX_AGENT_SERVER_GRPCPORT=443"}, nil},
		{"the dynamic file sets it", "server:\n  host: h\n  grpcPort: [1,2]\n", "server:\n  grpcPort: 443\n", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{p: tt.content}
			if tt.dynamic != "" {
				files[dyn] = tt.dynamic
			}
			got := LoadAgentConfig(AgentConfigOptions{Path: p, DynamicPaths: []string{dyn}, Env: tt.env, ReadFile: memFiles(files)})
			if got.Error != nil {
				t.Fatalf("Error = %+v", got.Error)
			}
			if !slices.Equal(got.TypeErrors, tt.want) {
				t.Errorf("TypeErrors = %+v, want %+v", got.TypeErrors, tt.want)
			}
		})
	}
}

func TestLoadAgentConfigDynamic(t *testing.T) {
	main := "/etc/nginx-agent/nginx-agent.conf"
	dynNew, dynOld := "/var/lib/nginx-agent/agent-dynamic.conf", "/etc/nginx-agent/agent-dynamic.conf"
	v2, err := os.ReadFile(testdataConf("v2-nms.conf"))
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := os.ReadFile(testdataConf("dynamic-v2.conf"))
	if err != nil {
		t.Fatal(err)
	}
	dynAt := func(v, path string, line int) Setting {
		return Setting{Value: v, Source: Source{Kind: SourceDynamicFile, Name: path, Line: line}}
	}

	t.Run("merged over the main file at the v2.26+ path", func(t *testing.T) {
		got := LoadAgentConfig(AgentConfigOptions{Path: main,
			ReadFile: memFiles(map[string]string{main: string(v2), dynNew: string(dyn), dynOld: "server: {host: old.example.com}\n"})})
		if got.DynamicPath != dynNew || got.Error != nil {
			t.Fatalf("DynamicPath = %q, Error = %+v", got.DynamicPath, got.Error)
		}
		if got.Host != dynAt("nim-dr.example.com", dynNew, 22) || got.CA != dynAt("/etc/nms/certs/ca-dr.pem", dynNew, 24) {
			t.Errorf("Host = %+v, CA = %+v; want the dynamic file's", got.Host, got.CA)
		}
		if got.Port != fileAt("443", main, 14) || got.Cert != fileAt("/etc/nms/certs/agent.crt", main, 22) {
			t.Errorf("Port = %+v, Cert = %+v; want the main file's", got.Port, got.Cert)
		}
	})
	t.Run("the pre-v2.26 path", func(t *testing.T) {
		got := LoadAgentConfig(AgentConfigOptions{Path: main,
			ReadFile: memFiles(map[string]string{main: string(v2), dynOld: "server: {host: old.example.com}\n"})})
		if got.DynamicPath != dynOld || got.Host != dynAt("old.example.com", dynOld, 1) {
			t.Errorf("DynamicPath = %q, Host = %+v", got.DynamicPath, got.Host)
		}
	})
	t.Run("environment names the file", func(t *testing.T) {
		got := LoadAgentConfig(AgentConfigOptions{Path: main, WorkDir: "/srv",
			Env:      []string{"NGINX_AGENT_DYNAMIC_CONFIG_PATH=dyn.conf"},
			ReadFile: memFiles(map[string]string{main: string(v2), dynNew: string(dyn), "/srv/dyn.conf": "tls: {enable: false}\n"})})
		if got.DynamicPath != "/srv/dyn.conf" || got.TLSEnabled != dynAt("false", "/srv/dyn.conf", 1) {
			t.Errorf("DynamicPath = %q, TLSEnabled = %+v", got.DynamicPath, got.TLSEnabled)
		}
		if len(got.Env) != 1 || got.Env[0] != (EnvOverride{Name: "NGINX_AGENT_DYNAMIC_CONFIG_PATH", Key: "dynamic_config_path"}) {
			t.Errorf("Env = %+v", got.Env)
		}
	})
	t.Run("main file names the file", func(t *testing.T) {
		conf := string(v2) + "dynamic_config_path: /opt/agent/dynamic.conf\n"
		got := LoadAgentConfig(AgentConfigOptions{Path: main,
			ReadFile: memFiles(map[string]string{main: conf, dynNew: string(dyn), "/opt/agent/dynamic.conf": "tls: {skip_verify: true}\n"})})
		if got.DynamicPath != "/opt/agent/dynamic.conf" || got.SkipVerify.Value != "true" || got.Host.Value != "nginx-manager.example.com" {
			t.Errorf("DynamicPath = %q, SkipVerify = %+v, Host = %+v", got.DynamicPath, got.SkipVerify, got.Host)
		}
	})
	t.Run("not read for agent v3", func(t *testing.T) {
		v3 := "command:\n  server: {host: one.example.com, port: 443}\n"
		got := LoadAgentConfig(AgentConfigOptions{Path: main, ReadFile: memFiles(map[string]string{main: v3, dynNew: string(dyn)})})
		if got.DynamicPath != "" || got.Host.Value != "one.example.com" {
			t.Errorf("DynamicPath = %q, Host = %+v", got.DynamicPath, got.Host)
		}
	})
	t.Run("YAML error in the dynamic file", func(t *testing.T) {
		got := LoadAgentConfig(AgentConfigOptions{Path: main,
			ReadFile: memFiles(map[string]string{main: string(v2), dynNew: "tags:\n  - web\n - db\n"})})
		want := ConfigError{Path: dynNew, Line: 3, Column: 2, Message: "value is not allowed in this context", Reindent: &Reindent{Line: 3, Indent: 2}}
		if got.Error == nil || got.Error.Reindent == nil || *got.Error.Reindent != *want.Reindent ||
			got.Error.Line != want.Line || got.Error.Message != want.Message || got.Host.Value != "nginx-manager.example.com" {
			t.Errorf("Error = %+v, want %+v; Host = %+v", got.Error, want, got.Host)
		}
	})
	t.Run("dynamic file settles an unknown format", func(t *testing.T) {
		got := LoadAgentConfig(AgentConfigOptions{Path: main,
			ReadFile: memFiles(map[string]string{main: "log:\n  level: info\n", dynNew: string(dyn)})})
		if got.Format != FormatV2 || got.Host.Value != "nim-dr.example.com" {
			t.Errorf("Format = %q, Host = %+v", got.Format, got.Host)
		}
	})
}

func TestLoadAgentConfigEnv(t *testing.T) {
	main := "/etc/nginx-agent/nginx-agent.conf"
	v2, err := os.ReadFile(testdataConf("v2-nms.conf"))
	if err != nil {
		t.Fatal(err)
	}
	v3, err := os.ReadFile(testdataConf("v3-mtls.conf"))
	if err != nil {
		t.Fatal(err)
	}
	dynNew := "/var/lib/nginx-agent/agent-dynamic.conf"
	tests := []struct {
		name  string
		conf  string
		env   []string
		check func(t *testing.T, c AgentConfig)
	}{
		{"NGINX_AGENT_ beats the file and the dynamic file", string(v2),
			[]string{"NGINX_AGENT_SERVER_HOST=env.example.com", "NGINX_AGENT_TLS_CERT=/env/agent.crt", "PATH=/usr/bin"},
			func(t *testing.T, c AgentConfig) {
				if c.Host != envSet("env.example.com", "NGINX_AGENT_SERVER_HOST") || c.Cert != envSet("/env/agent.crt", "NGINX_AGENT_TLS_CERT") {
					t.Errorf("Host = %+v, Cert = %+v", c.Host, c.Cert)
				}
				want := []EnvOverride{{Name: "NGINX_AGENT_SERVER_HOST", Key: "server.host"}, {Name: "NGINX_AGENT_TLS_CERT", Key: "tls.cert"}}
				if !slices.Equal(c.Env, want) {
					t.Errorf("Env = %+v, want %+v", c.Env, want)
				}
			}},
		{"NMS_ alone is applied and deprecated", string(v2),
			[]string{"NMS_SERVER_GRPCPORT=10443", "NMS_TLS_SKIP_VERIFY=true"},
			func(t *testing.T, c AgentConfig) {
				if c.Port != envSet("10443", "NMS_SERVER_GRPCPORT") || c.SkipVerify != envSet("true", "NMS_TLS_SKIP_VERIFY") {
					t.Errorf("Port = %+v, SkipVerify = %+v", c.Port, c.SkipVerify)
				}
				want := []EnvOverride{{Name: "NMS_SERVER_GRPCPORT", Key: "server.grpcPort", Deprecated: true},
					{Name: "NMS_TLS_SKIP_VERIFY", Key: "tls.skip_verify", Deprecated: true}}
				if !slices.Equal(c.Env, want) {
					t.Errorf("Env = %+v, want %+v", c.Env, want)
				}
			}},
		{"NGINX_AGENT_ beats NMS_", string(v2),
			[]string{"NMS_TLS_CA=/old/ca.pem", "NGINX_AGENT_TLS_CA=/new/ca.pem"},
			func(t *testing.T, c AgentConfig) {
				if c.CA != envSet("/new/ca.pem", "NGINX_AGENT_TLS_CA") || len(c.Env) != 1 {
					t.Errorf("CA = %+v, Env = %+v", c.CA, c.Env)
				}
			}},
		{"empty values are unset", string(v2),
			[]string{"NGINX_AGENT_TLS_ENABLE=", "NGINX_AGENT_SERVER_COMMAND"},
			func(t *testing.T, c AgentConfig) {
				if c.TLSEnabled.Source.Kind != SourceFile || c.ServerName.Source.Kind != SourceFile || len(c.Env) != 0 {
					t.Errorf("TLSEnabled = %+v, ServerName = %+v, Env = %+v", c.TLSEnabled, c.ServerName, c.Env)
				}
			}},
		{"TLS off from the environment", string(v2),
			[]string{"NGINX_AGENT_TLS_ENABLE=false", "NGINX_AGENT_SERVER_TOKEN=abc"},
			func(t *testing.T, c AgentConfig) {
				if c.TLSEnabled != envSet("false", "NGINX_AGENT_TLS_ENABLE") || !c.TokenSet {
					t.Errorf("TLSEnabled = %+v, TokenSet = %v", c.TLSEnabled, c.TokenSet)
				}
			}},
		{"relative path from the environment resolves against WorkDir", string(v2),
			[]string{"NGINX_AGENT_TLS_KEY=keys/agent.key"},
			func(t *testing.T, c AgentConfig) {
				if c.Key != written(envSet("/keys/agent.key", "NGINX_AGENT_TLS_KEY"), "keys/agent.key") || c.WorkDir != "/" {
					t.Errorf("Key = %+v, WorkDir = %q", c.Key, c.WorkDir)
				}
			}},
		{"v3 variables for a v3 file", string(v3),
			[]string{"NGINX_AGENT_COMMAND_SERVER_PORT=443", "NGINX_AGENT_COMMAND_TLS_SERVER_NAME=one.example.com",
				"NGINX_AGENT_TLS_CERT=/v2/agent.crt", "NMS_SERVER_HOST=old.example.com"},
			func(t *testing.T, c AgentConfig) {
				if c.Port != envSet("443", "NGINX_AGENT_COMMAND_SERVER_PORT") ||
					c.ServerName != envSet("one.example.com", "NGINX_AGENT_COMMAND_TLS_SERVER_NAME") {
					t.Errorf("Port = %+v, ServerName = %+v", c.Port, c.ServerName)
				}
				// v2 names mean nothing to agent v3.
				if c.Cert.Value != "/etc/nginx-agent/agent.crt" || c.Host.Value != "nim.example.com" {
					t.Errorf("Cert = %+v, Host = %+v; v2 variables applied to v3", c.Cert, c.Host)
				}
				want := []EnvOverride{{Name: "NGINX_AGENT_COMMAND_SERVER_PORT", Key: "command.server.port"},
					{Name: "NGINX_AGENT_COMMAND_TLS_SERVER_NAME", Key: "command.tls.server_name"}}
				if !slices.Equal(c.Env, want) {
					t.Errorf("Env = %+v, want %+v", c.Env, want)
				}
			}},
		{"v3 TLS turned on by the environment", "command:\n  server:\n    host: one.example.com\n    port: 443\n",
			[]string{"NGINX_AGENT_COMMAND_TLS_CA=/etc/ssl/ca.pem"},
			func(t *testing.T, c AgentConfig) {
				if c.TLSEnabled != envSet("true", "NGINX_AGENT_COMMAND_TLS_CA") {
					t.Errorf("TLSEnabled = %+v", c.TLSEnabled)
				}
			}},
		{"v3 without TLS keys is plaintext", "command:\n  server:\n    host: one.example.com\n    port: 443\n", nil,
			func(t *testing.T, c AgentConfig) {
				if c.TLSEnabled != dflt("false") || c.GRPCPath() != PathV3CreateConnection {
					t.Errorf("TLSEnabled = %+v, GRPCPath = %q", c.TLSEnabled, c.GRPCPath())
				}
			}},
		{"no file: v3 variables make it v3", "",
			[]string{"NGINX_AGENT_COMMAND_SERVER_HOST=one.example.com", "NGINX_AGENT_COMMAND_SERVER_PORT=443"},
			func(t *testing.T, c AgentConfig) {
				if c.Format != FormatV3 || c.Address() != "one.example.com:443" || c.TLSEnabled.Value != "false" {
					t.Errorf("Format = %q, Address = %q, TLSEnabled = %+v", c.Format, c.Address(), c.TLSEnabled)
				}
			}},
		{"no file: v2 variables make it v2", "",
			[]string{"NMS_SERVER_HOST=nim.example.com", "NMS_SERVER_GRPCPORT=443", "NGINX_AGENT_LOG_PATH=/tmp/agent"},
			func(t *testing.T, c AgentConfig) {
				if c.Format != FormatV2 || c.Address() != "nim.example.com:443" || c.LogPath.Value != "/tmp/agent" {
					t.Errorf("Format = %q, Address = %q, LogPath = %+v", c.Format, c.Address(), c.LogPath)
				}
			}},
		{"NIM 1.x reads no documented variables", "server: nim.example.com:10000\n",
			[]string{"NGINX_AGENT_SERVER_HOST=env.example.com"},
			func(t *testing.T, c AgentConfig) {
				if c.Format != FormatNIM1 || c.Host.Value != "nim.example.com" || len(c.Env) != 0 {
					t.Errorf("Format = %q, Host = %+v, Env = %+v", c.Format, c.Host, c.Env)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{dynNew: "server:\n  host: dynamic.example.com\n"}
			if tt.conf != "" {
				files[main] = tt.conf
			}
			got := LoadAgentConfig(AgentConfigOptions{SearchPaths: []string{main}, Env: tt.env, ReadFile: memFiles(files)})
			if got.Error != nil {
				t.Fatalf("Error = %+v", got.Error)
			}
			tt.check(t, got)
		})
	}
}

func TestLoadAgentConfigFlags(t *testing.T) {
	main := "/etc/nginx-agent/nginx-agent.conf"
	v2, err := os.ReadFile(testdataConf("v2-nms.conf"))
	if err != nil {
		t.Fatal(err)
	}
	all := AgentOverrides{Server: "10.0.0.5:8443", ServerName: "nim.internal", Cert: "agent.crt", Key: "/k/agent.key", CA: "/k/ca.pem"}

	t.Run("flags beat file and environment", func(t *testing.T) {
		got := LoadAgentConfig(AgentConfigOptions{Path: main, DynamicPaths: []string{}, Overrides: all,
			Env:      []string{"NGINX_AGENT_SERVER_HOST=env.example.com", "NGINX_AGENT_TLS_CERT=/env.crt"},
			ReadFile: memFiles(map[string]string{main: string(v2)})})
		want := AgentConfig{Format: FormatV2,
			Host: flagSet("10.0.0.5", "--server"), Port: flagSet("8443", "--server"),
			ServerName: flagSet("nim.internal", "--server-name"), TLSEnabled: fileAt("true", main, 20),
			// A flag path is mtls-doctor's own: relative to where it runs, not the agent's WorkDir.
			Cert: flagSet("agent.crt", "--cert"), Key: flagSet("/k/agent.key", "--key"), CA: flagSet("/k/ca.pem", "--ca"),
			SkipVerify: fileAt("false", main, 21), LogPath: fileAt("/var/log/nginx-agent/", main, 29)}
		checkSettings(t, got, want)
		if len(got.Env) != 2 {
			t.Errorf("Env = %+v; the overridden variables are still reported", got.Env)
		}
	})
	t.Run("flags alone", func(t *testing.T) {
		got := LoadAgentConfig(AgentConfigOptions{ReadFile: memFiles(nil), DynamicPaths: []string{},
			Overrides: AgentOverrides{Server: "nim.example.com:443", Cert: "/a.crt", Key: "/a.key"}})
		if got.Path != "" || got.Format != FormatV2 || got.Address() != "nim.example.com:443" {
			t.Errorf("Path = %q, Format = %q, Address = %q", got.Path, got.Format, got.Address())
		}
		if got.TLSEnabled != flagSet("true", "--server") || got.GRPCPath() != PathV2CommandChannel {
			t.Errorf("TLSEnabled = %+v, GRPCPath = %q", got.TLSEnabled, got.GRPCPath())
		}
	})
	t.Run("--server without a port", func(t *testing.T) {
		got := LoadAgentConfig(AgentConfigOptions{ReadFile: memFiles(nil), DynamicPaths: []string{},
			Overrides: AgentOverrides{Server: "nim.example.com"}})
		if got.Host != flagSet("nim.example.com", "--server") || got.Port != flagSet("", "--server") || got.Address() != "" {
			t.Errorf("Host = %+v, Port = %+v, Address = %q", got.Host, got.Port, got.Address())
		}
	})
	t.Run("IPv6 --server", func(t *testing.T) {
		got := LoadAgentConfig(AgentConfigOptions{ReadFile: memFiles(nil), DynamicPaths: []string{},
			Overrides: AgentOverrides{Server: "[::1]:443"}})
		if got.Host.Value != "::1" || got.Port.Value != "443" || got.Address() != "[::1]:443" {
			t.Errorf("Host = %+v, Port = %+v, Address = %q", got.Host, got.Port, got.Address())
		}
	})
	t.Run("a cert flag turns TLS on when the file leaves it unset", func(t *testing.T) {
		got := LoadAgentConfig(AgentConfigOptions{Path: main, DynamicPaths: []string{},
			Overrides: AgentOverrides{Cert: "/a.crt"},
			ReadFile:  memFiles(map[string]string{main: "server: {host: h, grpcPort: 443}\n"})})
		if got.TLSEnabled != flagSet("true", "--cert") {
			t.Errorf("TLSEnabled = %+v", got.TLSEnabled)
		}
	})
	t.Run("--server alone keeps the file's plaintext", func(t *testing.T) {
		got := LoadAgentConfig(AgentConfigOptions{Path: main, DynamicPaths: []string{},
			Overrides: AgentOverrides{Server: "h:80"},
			ReadFile:  memFiles(map[string]string{main: "server: {host: h, grpcPort: 443}\n"})})
		if got.TLSEnabled != dflt("false") {
			t.Errorf("TLSEnabled = %+v", got.TLSEnabled)
		}
	})
	t.Run("flags on a v3 file", func(t *testing.T) {
		got := LoadAgentConfig(AgentConfigOptions{Path: main, DynamicPaths: []string{},
			Overrides: AgentOverrides{ServerName: "one.example.com"},
			ReadFile:  memFiles(map[string]string{main: "command:\n  server: {host: h, port: 443}\n"})})
		if got.Format != FormatV3 || got.TLSEnabled != flagSet("true", "--server-name") {
			t.Errorf("Format = %q, TLSEnabled = %+v", got.Format, got.TLSEnabled)
		}
	})
}

func TestLoadAgentConfigRelativePaths(t *testing.T) {
	main := "/etc/nginx-agent/nginx-agent.conf"
	conf := "server: {host: h, grpcPort: 443}\ntls:\n  enable: true\n  cert: certs/agent.crt\n  key: ./agent.key\n  ca: /etc/ssl/ca.pem\n"
	got := LoadAgentConfig(AgentConfigOptions{Path: main, DynamicPaths: []string{}, ReadFile: memFiles(map[string]string{main: conf})})
	if got.Cert.Value != "/certs/agent.crt" || got.Key.Value != "/agent.key" || got.CA.Value != "/etc/ssl/ca.pem" || got.WorkDir != "/" {
		t.Errorf("Cert %q, Key %q, CA %q, WorkDir %q", got.Cert.Value, got.Key.Value, got.CA.Value, got.WorkDir)
	}
	got = LoadAgentConfig(AgentConfigOptions{Path: main, DynamicPaths: []string{}, WorkDir: "/opt/agent", ReadFile: memFiles(map[string]string{main: conf})})
	if got.Cert.Value != "/opt/agent/certs/agent.crt" || got.WorkDir != "/opt/agent" {
		t.Errorf("Cert %q, WorkDir %q", got.Cert.Value, got.WorkDir)
	}
	abs := "server: {host: h, grpcPort: 443}\ntls: {enable: true, cert: /a.crt}\n"
	got = LoadAgentConfig(AgentConfigOptions{Path: main, DynamicPaths: []string{}, WorkDir: "/opt/agent", ReadFile: memFiles(map[string]string{main: abs})})
	if got.WorkDir != "" {
		t.Errorf("WorkDir = %q with no relative path", got.WorkDir)
	}
}

func TestLoadAgentConfigEmptyFiles(t *testing.T) {
	main := "/etc/nginx-agent/nginx-agent.conf"
	for _, conf := range []string{"", "# only a comment\n", "---\n", "~\n", "---\n...\n"} {
		got := LoadAgentConfig(AgentConfigOptions{Path: main, DynamicPaths: []string{}, ReadFile: memFiles(map[string]string{main: conf})})
		if got.Error != nil || got.Path != main || got.Format != FormatUnknown || got.Host.IsSet() {
			t.Errorf("%q: Error %+v, Path %q, Format %q, Host %+v", conf, got.Error, got.Path, got.Format, got.Host)
		}
	}
}

// written is s with the relative path it was written as.
func written(s Setting, as string) Setting {
	s.Written = as
	return s
}
