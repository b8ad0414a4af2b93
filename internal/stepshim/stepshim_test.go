package stepshim

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestSandbox runs commands through the shims: sudo runs its arguments, systemctl records
// the units started, `nginx -s reload` is recorded (and nginx otherwise runs the binary
// given), a placeholder's value with a quote stays one word, and a failing command stops
// the step with its output.
func TestSandbox(t *testing.T) {
	dir := t.TempDir()
	fakeNginx := filepath.Join(dir, "real-nginx")
	if err := os.WriteFile(fakeNginx, []byte("#!/bin/sh\necho real \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := New(t, fakeNginx)
	out := filepath.Join(dir, "it's out")
	err := s.Run([]string{
		"sudo sh -c 'echo hi >\"$1\"' sh '<out>'",
		"sudo systemctl restart nginx.service", "systemctl reload upstream", "systemctl is-active upstream",
		"nginx -t >>'<out>'",
		"sudo nginx -s reload",
	}, map[string]string{"<out>": out})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil || string(data) != "hi\nreal -t\n" {
		t.Fatalf("output file %q, %v; want the sudo'd echo then the real nginx", data, err)
	}
	if got := s.Units(); !slices.Equal(got, []string{"nginx", "upstream"}) {
		t.Errorf("units %q, want nginx upstream", got)
	}
	if s.Units() != nil {
		t.Error("units are reported once")
	}
	if !s.Reloaded() || s.Reloaded() {
		t.Error("the reload is reported once")
	}
	err = s.Run([]string{"echo before; false", "echo never >'<out>'"}, map[string]string{"<out>": out})
	if err == nil || !strings.Contains(err.Error(), "before") {
		t.Errorf("failing command: %v, want its output", err)
	}
	if data, _ := os.ReadFile(out); strings.Contains(string(data), "never") {
		t.Error("a command after a failing one ran")
	}
}

// TestSandboxWithoutNginx leaves nginx out of the shims when no binary is given.
func TestSandboxWithoutNginx(t *testing.T) {
	s := New(t, "")
	bin := strings.SplitN(s.Path, string(os.PathListSeparator), 2)[0]
	if _, err := os.Stat(filepath.Join(bin, "nginx")); err == nil {
		t.Error("an nginx shim was written without a binary")
	}
	if s.Reloaded() {
		t.Error("reloaded before any step")
	}
}

// TestReloadWithoutTest: a reload or restart of NGINX needs an nginx -t of the same
// configuration before it whose failure stops the step.
func TestReloadWithoutTest(t *testing.T) {
	for _, c := range []struct {
		commands []string
		bad      string // the command reported, "" for none
	}{
		{[]string{"sudo nginx -t && sudo nginx -s reload"}, ""},
		{[]string{"sudo nginx -t", "sudo nginx -s reload"}, ""},
		{[]string{"sudo nginx -s reload"}, "sudo nginx -s reload"},
		{[]string{"sudo nginx -s reload && sudo nginx -t"}, "sudo nginx -s reload && sudo nginx -t"},
		{[]string{"sudo nginx -t; sudo nginx -s reload"}, "sudo nginx -t; sudo nginx -s reload"},
		{[]string{"sudo nginx -t || true", "sudo nginx -s reload"}, "sudo nginx -s reload"},
		{[]string{"sudo nginx -t -p '/srv/' -c '/srv/n.conf' && sudo nginx -s reload -p '/srv/' -c '/srv/n.conf'"}, ""},
		{[]string{"sudo nginx -p '/srv/' -t -c '/srv/n.conf'", "sudo nginx -c '/srv/n.conf' -p '/srv/' -s reload"}, ""},
		{[]string{"sudo nginx -t && sudo nginx -s reload -c '/srv/n.conf'"}, "sudo nginx -t && sudo nginx -s reload -c '/srv/n.conf'"},
		{[]string{"sudo nginx -t -c '/a.conf'", "sudo nginx -c '/b.conf' -s reload"}, "sudo nginx -c '/b.conf' -s reload"},
		{[]string{"sudo systemctl reload '<upstream-service>'"}, "sudo systemctl reload '<upstream-service>'"},
		{[]string{"sudo nginx -t", "sudo systemctl reload '<upstream-service>'"}, ""},
		{[]string{"sudo nginx -t -c '<upstream-nginx-conf>'", "sudo systemctl reload 'nginx.service'"}, ""},
		{[]string{"sudo systemctl restart nginx"}, "sudo systemctl restart nginx"},
		{[]string{"sudo systemctl restart nginx.service"}, "sudo systemctl restart nginx.service"},
		{[]string{"sudo systemctl restart nginx-agent", "sudo systemctl restart '<upstream-service>'", "sudo systemctl reload nms"}, ""},
		{[]string{"sudo systemctl start nginx", "nginx-meshctl deploy --mtls-mode strict"}, ""},
	} {
		got, bad := ReloadWithoutTest(c.commands)
		if got != c.bad || bad != (c.bad != "") {
			t.Errorf("ReloadWithoutTest(%q) = %q, %v; want %q", c.commands, got, bad, c.bad)
		}
	}
}
