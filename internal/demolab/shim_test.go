package demolab

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets this test binary act as the lab's shims (InstallShims runs it).
func TestMain(m *testing.M) {
	if code, ok := RunShim(os.Args[1:], os.Stdout, os.Stderr); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// editConf rewrites the lab's nginx.conf with old replaced by new.
func editConf(t *testing.T, l *Lab, old, new string) {
	t.Helper()
	data, err := os.ReadFile(l.NginxConfPath())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(old)) {
		t.Fatalf("nginx.conf has no %q:\n%s", old, data)
	}
	if err := os.WriteFile(l.NginxConfPath(), bytes.Replace(data, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReloadReadsTheFiles edits the lab's nginx.conf as a step would: nothing changes
// until nginx -s reload, after which the endpoint does what the file says.
func TestReloadReadsTheFiles(t *testing.T) {
	l := startLab(t, "alpn-h2-missing")
	if got := dialAsAgent(t, l, true); got.handshakeErr == nil {
		t.Fatal("the agent's handshake succeeded with a listener without http2")
	}
	editConf(t, l, " ssl;", " ssl http2;")
	if got := dialAsAgent(t, l, true); got.handshakeErr == nil {
		t.Fatal("the edit took effect before a reload")
	}
	if r := l.shim("nginx", []string{"-t", "-c", l.NginxConfPath()}); r.Code != 0 || !strings.Contains(r.Stderr, "test is successful") {
		t.Fatalf("nginx -t: %+v", r)
	}
	if r := l.shim("nginx", []string{"-s", "reload"}); r.Code != 0 {
		t.Fatalf("nginx -s reload: %+v", r)
	}
	checkAgent(t, l, dialAsAgent(t, l, true), grpcOK)
}

// TestNginxTestRejectsBrokenFiles: nginx -t fails on a key that is not one, a reload then
// keeps the old configuration and logs NGINX's [emerg] line.
func TestNginxTestRejectsBrokenFiles(t *testing.T) {
	l := startLab(t, "healthy")
	key := filepath.Join(l.Dir, managerDir, "server.key")
	good, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := l.shim("nginx", []string{"-t"})
	if r.Code != 1 || !strings.Contains(r.Stderr, "nginx: [emerg] cannot load certificate") || !strings.Contains(r.Stderr, "test failed") {
		t.Fatalf("nginx -t on a broken key: %+v", r)
	}
	if r := l.shim("nginx", []string{"-s", "reload"}); r.Code != 0 {
		t.Fatalf("nginx -s reload: %+v", r)
	}
	checkAgent(t, l, dialAsAgent(t, l, true), grpcOK)
	if _, ok := waitLog(t, l.ErrorLogPath(), "[emerg]"); !ok {
		t.Error("the rejected reload was not logged")
	}
	if err := os.WriteFile(key, good, 0o600); err != nil {
		t.Fatal(err)
	}
	editConf(t, l, "ssl_verify_client      on;", "ssl_verify_client      maybe;")
	if r := l.shim("nginx", []string{"-t"}); r.Code != 1 || !strings.Contains(r.Stderr, `invalid value "maybe"`) {
		t.Fatalf("nginx -t on ssl_verify_client maybe: %+v", r)
	}
}

// TestSystemctlStartsWhatIsDown: systemctl start nginx brings up the refused endpoint;
// systemctl restart nms brings up the gRPC services behind it.
func TestSystemctlStartsWhatIsDown(t *testing.T) {
	l := startLab(t, "endpoint-refused")
	if r := l.shim("systemctl", []string{"is-active", "nginx"}); r.Code != 3 || r.Stdout != "inactive\n" {
		t.Fatalf("is-active of a stopped nginx: %+v", r)
	}
	if r := l.shim("nginx", []string{"-s", "reload"}); r.Code != 1 {
		t.Fatalf("reload of a stopped nginx: %+v", r)
	}
	if r := l.shim("systemctl", []string{"start", "nginx"}); r.Code != 0 {
		t.Fatalf("systemctl start nginx: %+v", r)
	}
	checkAgent(t, l, dialAsAgent(t, l, true), grpcOK)

	b := startLab(t, "grpc-backend-unavailable")
	if got := dialAsAgent(t, b, true); got.status != 502 {
		t.Fatalf("backend down: status %d", got.status)
	}
	if r := b.shim("systemctl", []string{"restart", "nms"}); r.Code != 0 {
		t.Fatalf("systemctl restart nms: %+v", r)
	}
	checkAgent(t, b, dialAsAgent(t, b, true), grpcOK)
	if r := b.shim("systemctl", []string{"restart", "no-such-unit"}); r.Code == 0 {
		t.Fatalf("an unknown unit restarted: %+v", r)
	}
}

// TestShimsOnPath runs the installed shims as a step's commands do: sh finds them first
// on PATH, sudo runs its arguments, nginx talks to the lab.
func TestShimsOnPath(t *testing.T) {
	l := startLab(t, "healthy")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := l.InstallShims(exe); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", "sudo -u root nginx -t -c \"$1\" && sudo systemctl reload nginx && sudoedit /x", "sh", l.NginxConfPath())
	cmd.Env = append(os.Environ(), "PATH="+l.BinDir()+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "test is successful") || !strings.Contains(string(out), "sudoedit: the demo lab") {
		t.Fatalf("shims: %v\n%s", err, out)
	}
	for name, want := range l.Inputs() {
		if strings.HasSuffix(name, "-path>") && name != "<crl-path>" {
			if _, err := os.Stat(want); err != nil {
				t.Errorf("input %s: %v", name, err)
			}
		}
	}
}

// BenchmarkShimNginxTest times `nginx -t` through the lab's shim as a step runs it: sh,
// the shim script, this binary as the client, and the lab parsing nginx.conf and loading
// its certificate, key and client CA files.
func BenchmarkShimNginxTest(b *testing.B) {
	l := startLab(b, "healthy")
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	if err := l.InstallShims(exe); err != nil {
		b.Fatal(err)
	}
	env := append(os.Environ(), "PATH="+l.BinDir()+":"+os.Getenv("PATH"))
	for b.Loop() {
		cmd := exec.Command("/bin/sh", "-c", "nginx -t -q")
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
	}
}

// BenchmarkLoadManager times what the lab does for nginx -t and a reload, in process.
func BenchmarkLoadManager(b *testing.B) {
	l := startLab(b, "healthy")
	for b.Loop() {
		l.mu.Lock()
		_, err := l.loadConf(l.NginxConfPath())
		l.mu.Unlock()
		if err != nil {
			b.Fatal(err)
		}
	}
}
