package probes

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The hardened YAML reader's limits and alias handling, through the agent's loader.

func TestLoadAgentConfigFileLimits(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.conf")
	if err := os.WriteFile(big, []byte("# "+strings.Repeat("x", maxAgentConfigBytes)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A directory that holds nginx-agent.conf names it: likely the file meant.
	withConf := filepath.Join(dir, "agent")
	if err := os.MkdirAll(withConf, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(withConf, "nginx-agent.conf"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path, msg  string
		notRegular bool
		inside     string
	}{
		{big, "file too large: more than 1048576 bytes", false, ""},
		{dir, "is a directory", true, ""},
		{withConf, "is a directory", true, filepath.Join(withConf, "nginx-agent.conf")},
		{"/dev/zero", "not a regular file", true, ""},
	} {
		got := LoadAgentConfig(AgentConfigOptions{Path: tt.path, DynamicPaths: []string{}})
		want := ConfigError{Path: tt.path, Message: tt.msg, NotRegular: tt.notRegular, Inside: tt.inside}
		if got.Error == nil || *got.Error != want || got.Path != tt.path || !got.PathGiven {
			t.Errorf("%s: Path = %q, Error = %+v; want %+v", tt.path, got.Path, got.Error, want)
		}
	}
	// An injected reader that returns too much is held to the same limit.
	p := "/etc/nginx-agent/nginx-agent.conf"
	huge := "server: {host: nim.example.com}\n" + strings.Repeat("#", maxAgentConfigBytes)
	got := LoadAgentConfig(AgentConfigOptions{Path: p, DynamicPaths: []string{}, ReadFile: memFiles(map[string]string{p: huge})})
	if got.Error == nil || !strings.HasPrefix(got.Error.Message, "file too large") || got.Host.IsSet() {
		t.Errorf("Error = %+v, Host = %+v; want file too large and nothing read", got.Error, got.Host)
	}
}

// billionLaughs is the classic YAML bomb: expanded, the last alias is 9^9 strings.
func billionLaughs() string {
	var b strings.Builder
	b.WriteString("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n")
	for c := 'b'; c <= 'i'; c++ {
		fmt.Fprintf(&b, "%c: &%c [", c, c)
		for i := range 9 {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, "*%c", c-1)
		}
		b.WriteString("]\n")
	}
	return b.String()
}

func TestLoadAgentConfigAliases(t *testing.T) {
	p := "/etc/nginx-agent/nginx-agent.conf"
	tests := []struct {
		name, content string
		want          func(AgentConfig) string // "" when fine
	}{
		{"billion laughs under the keys the agent reads",
			billionLaughs() + "server:\n  host: *i\n  grpcPort: 443\ntls: *i\n",
			func(c AgentConfig) string {
				if c.Error != nil || c.Host.IsSet() || c.Port.Value != "443" || c.Format != FormatV2 {
					return fmt.Sprintf("Error %+v, Host %+v, Port %+v, Format %q", c.Error, c.Host, c.Port, c.Format)
				}
				return ""
			}},
		{"merge loop",
			"base: &base\n  enable: true\n  <<: *base\ntls:\n  <<: *base\n  cert: /a.crt\nserver:\n  host: h\n",
			func(c AgentConfig) string {
				if c.TLSEnabled != fileAt("true", p, 2) || c.Cert.Value != "/a.crt" {
					return fmt.Sprintf("TLSEnabled %+v, Cert %+v", c.TLSEnabled, c.Cert)
				}
				return ""
			}},
		{"alias before its anchor is unset",
			"server:\n  host: *later\n  grpcPort: &later 443\n",
			func(c AgentConfig) string {
				if c.Host.IsSet() || c.Port.Value != "443" {
					return fmt.Sprintf("Host %+v, Port %+v", c.Host, c.Port)
				}
				return ""
			}},
		{"redefined anchor: the latest earlier one counts",
			"x: &h first.example.com\ny: &h second.example.com\nserver:\n  host: *h\n",
			func(c AgentConfig) string {
				if c.Host != fileAt("second.example.com", p, 4) {
					return fmt.Sprintf("Host %+v", c.Host)
				}
				return ""
			}},
		{"merge list: earlier maps win",
			"a: &a {cert: /a.crt}\nb: &b {cert: /b.crt, key: /b.key}\ntls:\n  <<: [*a, *b]\n",
			func(c AgentConfig) string {
				if c.Cert != fileAt("/a.crt", p, 1) || c.Key != fileAt("/b.key", p, 2) {
					return fmt.Sprintf("Cert %+v, Key %+v", c.Cert, c.Key)
				}
				return ""
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := LoadAgentConfig(AgentConfigOptions{Path: p, DynamicPaths: []string{}, ReadFile: memFiles(map[string]string{p: tt.content})})
			if msg := tt.want(got); msg != "" {
				t.Error(msg)
			}
		})
	}
}
