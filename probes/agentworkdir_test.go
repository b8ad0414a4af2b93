package probes

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startFakeAgent runs a copy of /bin/sh named nginx-agent in dir, with args after the
// script, so that /proc shows a process "nginx-agent" working in dir. It is killed when
// the test ends.
func startFakeAgent(t *testing.T, dir string, args ...string) *exec.Cmd {
	t.Helper()
	sh, err := os.ReadFile("/bin/sh")
	if err != nil {
		t.Skip("no /bin/sh to copy:", err)
	}
	bin := filepath.Join(t.TempDir(), agentProcName)
	if err := os.WriteFile(bin, sh, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	// "; :" keeps the shell itself running (dash execs a lone last command).
	cmd := exec.CommandContext(ctx, bin, append([]string{"-c", "sleep 20; :"}, args...)...)
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	// /proc shows the new name once exec has happened.
	comm := filepath.Join("/proc", strconv.Itoa(cmd.Process.Pid), "comm")
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if b, err := os.ReadFile(comm); err == nil && strings.TrimSpace(string(b)) == agentProcName {
			return cmd
		}
	}
	t.Fatalf("%s never showed %s", comm, agentProcName)
	return nil
}

// TestFindAgentWorkDirRunning: a running nginx-agent's working directory is the agent's,
// when its command line names the configuration or names none and the configuration is
// one the agent finds itself; another configuration's agent is not.
func TestFindAgentWorkDirRunning(t *testing.T) {
	if _, err := os.Stat("/proc/self/cwd"); err != nil {
		t.Skip("no procfs:", err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "nginx-agent.conf")
	cmd := startFakeAgent(t, dir, conf)
	pid := strconv.Itoa(cmd.Process.Pid)
	none := WorkDirOptions{Units: []string{}}

	got := FindAgentWorkDir(conf, none)
	if got.Dir != dir || !strings.Contains(got.Why, "pid "+pid) {
		t.Errorf("named configuration: %+v, want %s from pid %s", got, dir, pid)
	}
	if got := FindAgentWorkDir("/etc/other/nginx-agent.conf", none); got.Dir != "/" {
		t.Errorf("another configuration: %+v, want /", got)
	}

	bare := t.TempDir()
	cmd = startFakeAgent(t, bare)
	got = FindAgentWorkDir("/etc/nginx-agent/nginx-agent.conf", none)
	if got.Dir != bare || !strings.Contains(got.Why, "pid "+strconv.Itoa(cmd.Process.Pid)) {
		t.Errorf("agent without a named configuration, default path: %+v, want %s", got, bare)
	}
}

// TestFindAgentWorkDirUnit: without a running agent, WorkingDirectory= from the unit and
// its drop-ins (the last wins, an empty one resets), else "/".
func TestFindAgentWorkDirUnit(t *testing.T) {
	dir := t.TempDir()
	unit := filepath.Join(dir, "nginx-agent.service")
	vendor := filepath.Join(dir, "vendor-nginx-agent.service")
	dropIn := filepath.Join(dir, "nginx-agent.service.d", "10-dir.conf")
	if err := os.MkdirAll(filepath.Dir(dropIn), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(unit, "[Unit]\nDescription=NGINX Agent\nWorkingDirectory=/wrong-section\n\n[Service]\nExecStart=/usr/bin/nginx-agent\nWorkingDirectory=-/var/lib/nginx-agent\n")
	write(vendor, "[Service]\nWorkingDirectory=/not-used\n")
	noProc := t.TempDir()
	got := FindAgentWorkDir("", WorkDirOptions{ProcRoot: noProc, Units: []string{filepath.Join(dir, "absent.service"), unit, vendor}})
	if got.Dir != "/var/lib/nginx-agent" || got.Why != "WorkingDirectory= in "+unit+":7" {
		t.Errorf("unit: %+v", got)
	}
	write(dropIn, "[Service]\nWorkingDirectory=/opt/agent\n")
	if got := FindAgentWorkDir("", WorkDirOptions{ProcRoot: noProc, Units: []string{unit, dropIn}}); got.Dir != "/opt/agent" {
		t.Errorf("drop-in: %+v, want /opt/agent", got)
	}
	write(dropIn, "[Service]\nWorkingDirectory=\n")
	if got := FindAgentWorkDir("", WorkDirOptions{ProcRoot: noProc, Units: []string{unit, dropIn}}); got.Dir != "/" || !strings.Contains(got.Why, "default") {
		t.Errorf("reset by a drop-in: %+v, want /", got)
	}
}

// TestRelativePathAssumed: a relative TLS path missing in the agent's working directory
// but present next to the configuration file (or in the current directory) is judged
// there and recorded as assumed; one present in the working directory is not.
func TestRelativePathAssumed(t *testing.T) {
	confDir, cwd, work := t.TempDir(), t.TempDir(), t.TempDir()
	conf := filepath.Join(confDir, "nginx-agent.conf")
	body := "server:\n  host: nim.example.com\n  grpcPort: 443\ntls:\n  enable: true\n  cert: agent.crt\n  key: agent.key\n  ca: ca.pem\n"
	for p, data := range map[string]string{conf: body, filepath.Join(confDir, "agent.crt"): "x",
		filepath.Join(cwd, "agent.key"): "x", filepath.Join(work, "ca.pem"): "x"} {
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got := LoadAgentConfig(AgentConfigOptions{Path: conf, DynamicPaths: []string{}, CurrentDir: cwd,
		FindWorkDir: func(path string) AgentWorkDir {
			if path != conf {
				t.Errorf("FindWorkDir(%q), want %q", path, conf)
			}
			return AgentWorkDir{Dir: work, Why: "test"}
		}})
	if got.Cert.Value != filepath.Join(confDir, "agent.crt") || got.Key.Value != filepath.Join(cwd, "agent.key") ||
		got.CA.Value != filepath.Join(work, "ca.pem") || got.WorkDir != work || got.WorkDirWhy != "test" {
		t.Fatalf("cert %q key %q ca %q workdir %q (%q)", got.Cert.Value, got.Key.Value, got.CA.Value, got.WorkDir, got.WorkDirWhy)
	}
	if len(got.Assumed) != 2 {
		t.Fatalf("assumed %+v, want cert and key", got.Assumed)
	}
	a := got.Assumed[0]
	if a.Setting != "tls.cert" || a.Written != "agent.crt" || a.Missing != filepath.Join(work, "agent.crt") ||
		a.Dir != confDir || a.Why != "the configuration file's directory" {
		t.Errorf("cert assumed %+v", a)
	}
	if b := got.Assumed[1]; b.Setting != "tls.key" || b.Dir != cwd || b.Why != "mtls-doctor's current directory" {
		t.Errorf("key assumed %+v", b)
	}
}

// TestWorkDirLookedForOnlyWhenNeeded: finding the agent's working directory walks /proc,
// so a configuration with absolute TLS paths never asks, and one with relative paths asks
// once.
func TestWorkDirLookedForOnlyWhenNeeded(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		paths string
		calls int
	}{
		{"  cert: /etc/nms/agent.crt\n  key: /etc/nms/agent.key\n  ca: /etc/nms/ca.pem\n", 0},
		{"  cert: agent.crt\n  key: agent.key\n  ca: /etc/nms/ca.pem\n", 1},
	} {
		conf := filepath.Join(dir, "nginx-agent.conf")
		body := "server:\n  host: nim.example.com\n  grpcPort: 443\ntls:\n  enable: true\n" + tc.paths
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		calls := 0
		got := LoadAgentConfig(AgentConfigOptions{Path: conf, DynamicPaths: []string{}, CurrentDir: dir,
			FindWorkDir: func(string) AgentWorkDir { calls++; return AgentWorkDir{Dir: "/var/lib/nginx-agent", Why: "test"} }})
		if calls != tc.calls || got.Host.Value != "nim.example.com" {
			t.Errorf("%q: FindWorkDir called %d times (want %d), host %q", tc.paths, calls, tc.calls, got.Host.Value)
		}
		if tc.calls == 1 && got.Cert.Value != "/var/lib/nginx-agent/agent.crt" {
			t.Errorf("relative cert resolved to %q", got.Cert.Value)
		}
	}
}

// FuzzUnitWorkDir: any unit file gives an absolute directory or none, never a panic.
func FuzzUnitWorkDir(f *testing.F) {
	f.Add("[Service]\nWorkingDirectory=/var/lib/nginx-agent\n")
	f.Add("[Service]\nWorkingDirectory=-~\nWorkingDirectory=\n")
	f.Add("[Unit]\nWorkingDirectory=/x\n[Service]\nWorkingDirectory=relative\n")
	f.Fuzz(func(t *testing.T, unit string) {
		p := filepath.Join(t.TempDir(), "nginx-agent.service")
		if err := os.WriteFile(p, []byte(unit), 0o644); err != nil {
			t.Fatal(err)
		}
		if d, ok := unitWorkDir([]string{p}); ok && (!filepath.IsAbs(d.Dir) || d.Why == "") {
			t.Errorf("unit %q gave %+v", unit, d)
		}
		args := [][]byte{[]byte("nginx-agent")}
		for _, a := range strings.Fields(unit) {
			args = append(args, []byte(a))
		}
		_ = readsConfig(args, unit)
	})
}
