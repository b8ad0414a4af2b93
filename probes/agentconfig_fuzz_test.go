package probes

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoadAgentConfig feeds arbitrary bytes to LoadAgentConfig as both nginx-agent.conf and
// agent-dynamic.conf: it must not panic, must stay within the size and token limits, and
// every setting it reports must point at a line of the file it came from.
func FuzzLoadAgentConfig(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "agentconfig", "*.conf"))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"",
		"~",
		"server: nim.example.com:443\n", // NIM 1.x
		"server: [::1]:443\ntls: {enable: true}\n", // NIM 1.x, IPv6
		"server: {host: h, grpcPort: 0x1bb}\n",     // hex port
		"command: {server: {host: h, port: 443}, tls: {skip_verify: false}}\n",
		"a: &a {<<: *a}\ntls: *a\n",                         // merge loop
		"tls:\n  <<: [*x, *y]\n",                            // aliases to nothing
		"x: &x\n  - 1\ntls:\n  <<: *x\n",                    // merge of a sequence
		"? server\n: {host: h}\n",                           // explicit key
		"!!map {server: !!str h}\n",                         // tags
		"server:\n  host: |\n    multi\n    line\n",         // literal block
		"--- \nserver: {host: a}\n---\nserver: {host: b}\n", // two documents
		"server: {host: a}\n\tgrpcPort: 1\n",                // tab
		billionLaughs() + "server: {host: *i}\n",
		"server: " + strings.Repeat("[", 70) + strings.Repeat("]", 70) + "\n",
		"\xff\xfe\x00s\x00e\x00r\x00v\x00e\x00r\x00:", // UTF-16 bytes
	} {
		f.Add([]byte(s))
	}
	const main, dyn = "/etc/nginx-agent/nginx-agent.conf", "/var/lib/nginx-agent/agent-dynamic.conf"
	f.Fuzz(func(t *testing.T, data []byte) {
		read := func(p string) ([]byte, error) { return data, nil }
		c := LoadAgentConfig(AgentConfigOptions{
			SearchPaths:  []string{main},
			DynamicPaths: []string{dyn},
			ReadFile:     read,
			Env:          []string{"NMS_TLS_CA=ca.pem"},
		})
		if c.Path != main {
			t.Fatalf("Path = %q, want %q", c.Path, main)
		}
		switch c.Format {
		case FormatUnknown, FormatNIM1, FormatV2, FormatV3:
		default:
			t.Fatalf("Format = %q", c.Format)
		}
		lines := bytes.Count(data, []byte("\n")) + bytes.Count(data, []byte("\r")) + 1
		if e := c.Error; e != nil {
			if (e.Path != main && e.Path != dyn) || e.Message == "" || e.Line < 0 || e.Line > lines || e.Column < 0 {
				t.Fatalf("Error = %+v (the input has %d lines)", e, lines)
			}
			if r := e.Reindent; r != nil {
				// The repair offered must be one: the file parses once the line is moved.
				ls := strings.Split(string(data), "\n")
				if r.Line < 1 || r.Line > len(ls) || r.Indent < 0 {
					t.Fatalf("Reindent = %+v (the input has %d lines)", r, len(ls))
				}
				ls[r.Line-1] = strings.Repeat(" ", r.Indent) + strings.TrimLeft(ls[r.Line-1], " ")
				if _, err := parseAgentYAMLOnce(e.Path, []byte(strings.Join(ls, "\n"))); err != nil {
					t.Fatalf("Reindent = %+v leaves %+v", r, err)
				}
			}
		}
		for name, s := range map[string]Setting{"Host": c.Host, "Port": c.Port, "ServerName": c.ServerName,
			"TLSEnabled": c.TLSEnabled, "Cert": c.Cert, "Key": c.Key, "CA": c.CA, "SkipVerify": c.SkipVerify, "LogPath": c.LogPath} {
			switch s.Source.Kind {
			case SourceFile, SourceDynamicFile:
				if (s.Source.Name != main && s.Source.Name != dyn) || s.Source.Line < 1 || s.Source.Line > lines {
					t.Fatalf("%s = %+v (the input has %d lines)", name, s, lines)
				}
			case SourceDefault, SourceEnv:
			default:
				t.Fatalf("%s has source %+v", name, s.Source)
			}
		}
		for name, v := range map[string]string{"TLSEnabled": c.TLSEnabled.Value, "SkipVerify": c.SkipVerify.Value} {
			if v != "true" && v != "false" {
				t.Fatalf("%s = %q, want true or false", name, v)
			}
		}
		for _, p := range []string{c.Cert.Value, c.Key.Value, c.CA.Value} {
			if p != "" && !filepath.IsAbs(p) {
				t.Fatalf("TLS path %q was not resolved", p)
			}
		}
		if c.Address() != "" && (c.Host.Value == "" || c.Port.Value == "") {
			t.Fatalf("Address %q without host and port", c.Address())
		}
	})
}

// BenchmarkLoadAgentConfig measures a real configuration and the worst inputs the limits
// let through (or turn away): the most tokens allowed, the deepest nesting, 1 MiB of keys.
func BenchmarkLoadAgentConfig(b *testing.B) {
	docs, err := os.ReadFile(filepath.Join("testdata", "agentconfig", "v2-nms.conf"))
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		data []byte
	}{
		{"docs-v2", docs},
		{"max-tokens", []byte(manyKeys(maxAgentConfigTokens/3 - 1))},
		// A mapping inside a list item is not split: go-yaml's quadratic parse, bounded by
		// the token limit.
		{"max-tokens-list-item", []byte("servers:\n-" + strings.TrimPrefix(keysYAML("  ", "k", maxAgentConfigTokens/3-2), " "))},
		{"max-flow-depth", []byte("server: " + strings.Repeat("[", maxAgentConfigDepth) + strings.Repeat("]", maxAgentConfigDepth) + "\n")},
		{"1MiB-keys", []byte(manyKeys(maxAgentConfigBytes / 12))},
		{"1MiB-comments", []byte(strings.Repeat("# comment\n", maxAgentConfigBytes/10))},
		{"billion-laughs", []byte(billionLaughs() + "server: {host: *i}\n")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			o := AgentConfigOptions{Path: "/m", DynamicPaths: []string{},
				ReadFile: func(string) ([]byte, error) { return bc.data, nil }}
			b.SetBytes(int64(len(bc.data)))
			b.ReportAllocs()
			for b.Loop() {
				LoadAgentConfig(o)
			}
		})
	}
}

// BenchmarkLoadAgentConfigSize reads agent configurations of growing numbers of entries,
// up to the token limit, in three shapes: keys at the top level, keys of one nested
// mapping (v3's labels) and items of one list (v3's allowed_directories). ns/entry and
// B/op divided by the entries stay flat: large block mappings are parsed in pieces
// (parseYAMLTokens), since go-yaml's own parser is quadratic in a mapping's keys.
func BenchmarkLoadAgentConfigSize(b *testing.B) {
	for _, shape := range []string{"top", "nested", "list"} {
		for _, n := range []int{100, 1000, (maxAgentConfigTokens - 20) / 3} {
			data := yamlShape(shape, n)
			b.Run(fmt.Sprintf("%s/entries=%d", shape, n), func(b *testing.B) {
				o := AgentConfigOptions{Path: "/m", DynamicPaths: []string{},
					ReadFile: func(string) ([]byte, error) { return data, nil }}
				b.SetBytes(int64(len(data)))
				b.ReportAllocs()
				for b.Loop() {
					if c := LoadAgentConfig(o); c.Error != nil {
						b.Fatal(c.Error)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/entry")
			})
		}
	}
}
