package tui

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/mesh"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

func TestWrap(t *testing.T) {
	cases := []struct {
		in    string
		width int
		want  []string
	}{
		{"openssl x509 -in /etc/a.crt -noout -dates", 20, []string{"openssl x509 -in", "/etc/a.crt -noout", "-dates"}},
		{"abcdefghij", 4, []string{"abcd", "efgh", "ij"}},
		{"ab abcdefghij", 4, []string{"ab", "abcd", "efgh", "ij"}},
		{"one\ntwo three", 20, []string{"one", "two three"}},
		{"", 10, []string{""}},
		{"日本語のテキスト", 5, []string{"日本", "語の", "テキ", "スト"}},
		{"xyz", 0, []string{"xy", "z"}},
	}
	for _, c := range cases {
		got := wrap(c.in, c.width)
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("wrap(%q, %d) = %q, want %q", c.in, c.width, got, c.want)
		}
		for _, l := range got {
			if w := ansi.StringWidth(l); w > max(c.width, 1) && c.width > 1 {
				t.Errorf("wrap(%q, %d): line %q is %d wide", c.in, c.width, l, w)
			}
		}
	}
}

// FuzzWrap checks that no input makes a line wider than asked or loses a word's text.
func FuzzWrap(f *testing.F) {
	for _, s := range []string{"openssl x509 -in /etc/a.crt", "a  b\tc", "\x1b[31mred\x1b[0m", "日本語", "\n\n", strings.Repeat("x", 300)} {
		f.Add(s, 10)
	}
	f.Fuzz(func(t *testing.T, s string, width int) {
		width = width%200 + 2
		if width < 2 {
			width = 2
		}
		lines := wrap(s, width)
		for _, l := range lines {
			if w := ansi.StringWidth(l); w > width {
				t.Fatalf("line %q is %d wide, max %d", l, w, width)
			}
		}
		joined := strings.Join(strings.Fields(strings.Join(lines, "")), "")
		want := strings.Join(strings.Fields(s), "")
		if ansi.Strip(want) == want && !strings.ContainsFunc(want, func(r rune) bool { return r < 0x20 || r == 0x7f || r >= 0x80 }) && joined != want {
			t.Fatalf("text changed: %q -> %q", want, joined)
		}
	})
}

// TestHostLinesManagerOnly: on a host where NGINX serves the agents and there is no agent
// configuration, the host facts say so and name the agent-facing servers at file:line.
func TestHostLinesManagerOnly(t *testing.T) {
	m := New(Options{NoColor: true})
	srv := &nginxconf.Server{Directive: &nginxconf.Directive{File: "/etc/nginx/conf.d/nms-http.conf", Line: 14},
		Listens: []nginxconf.Listen{{Port: 443, SSL: true}, {Addr: "::1", Port: 8443}}, ServerNames: []string{"nim.example.com"}}
	m.host = &diagnostics.Facts{Nginx: &probes.NginxFacts{Main: "/etc/nginx/nginx.conf", Version: "1.22.1",
		Servers: []*probes.NginxServer{{Server: srv}}}}
	got := ansi.Strip(strings.Join(m.hostLines(120), "\n"))
	for _, want := range []string{"manager host (NGINX serves the agents)", "/etc/nginx/nginx.conf (NGINX 1.22.1)",
		"nim.example.com listen 443, [::1]:8443 /etc/nginx/conf.d/nms-http.conf:14"} {
		if !strings.Contains(got, want) {
			t.Errorf("host facts lack %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "agent configuration was not read") {
		t.Errorf("a manager host is described as missing its agent configuration:\n%s", got)
	}
}

// TestHostLinesMesh: with the mesh catalog (`mtls-doctor mesh`), the header describes
// the mesh inputs being judged, not a missing agent configuration — while they are read,
// once read, and when they could not be.
func TestHostLinesMesh(t *testing.T) {
	values := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(values, []byte("mtls:\n  mode: strict\n  spireServerKeyManager: memory\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, values string
		want         []string
	}{
		{"read", values, []string{"NGINX Service Mesh: the mTLS inputs, read offline", "Inputs values " + values}},
		{"unreadable", values + ".missing", []string{"Inputs values " + values + ".missing"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := &diagnostics.Engine{Catalog: diagnostics.MeshCatalog(), Now: func() time.Time { return testNow },
				Gatherer: diagnostics.GathererFunc(func(_ context.Context, _ diagnostics.FactKind, f *diagnostics.Facts) error {
					mf, err := mesh.Load(mesh.Options{Values: c.values})
					f.Mesh = mf
					return err
				})}
			m := New(Options{Engine: e, NoColor: true, Title: "NGINX Service Mesh"})
			defer m.stop()
			m.run = &engineRun{} // a run under way, before the inputs are read
			if got := ansi.Strip(strings.Join(m.hostLines(120), "\n")); !strings.Contains(got, "reading the NGINX Service Mesh inputs") {
				t.Errorf("while running: %q", got)
			}
			m.run = nil
			m.host = e.Run(context.Background(), nil, nil, nil).Facts
			got := ansi.Strip(strings.Join(m.hostLines(120), "\n")) + "\n" + ansi.Strip(strings.Join(m.hostSummary(120), "\n"))
			for _, want := range c.want {
				if !strings.Contains(got, want) {
					t.Errorf("host facts lack %q:\n%s", want, got)
				}
			}
			if strings.Contains(got, "agent") {
				t.Errorf("the mesh header talks about an agent:\n%s", got)
			}
		})
	}
}
