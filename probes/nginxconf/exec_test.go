package nginxconf

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/internal/nginxtest"
	"github.com/mtls-doctor/mtls-doctor/internal/pki"
)

// nginxArgs keep nginx away from /var and /run: everything lives under dir.
func nginxArgs(dir string, flag string) []string {
	return []string{flag, "-p", dir + "/", "-c", filepath.Join(dir, "nginx.conf"),
		"-g", "pid " + dir + "/nginx.pid; error_log " + dir + "/err.log;"}
}

// TestErrorsMatchNginx runs `nginx -t` on every bad fixture and requires our first
// error to be nginx's, word for word, with the same file and line.
func TestErrorsMatchNginx(t *testing.T) {
	bin := nginxtest.Require(t)
	for name, tc := range badConfigs {
		t.Run(name, func(t *testing.T) {
			if tc.nginxSkip != "" {
				t.Skip(tc.nginxSkip)
			}
			dir := writeTree(t, tc.files)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, stderr, err := run(ctx, bin, nginxArgs(dir, "-t")...)
			if err == nil {
				t.Fatalf("nginx accepted the configuration:\n%s", stderr)
			}
			want, ok := ParseEmerg(stderr)
			if !ok {
				t.Fatalf("no [emerg] line in nginx output:\n%s", stderr)
			}
			_, got := Load(filepath.Join(dir, "nginx.conf"), Options{})
			if got == nil || got.Error() != want.Error() {
				t.Errorf("ours  %v\nnginx %v", got, want)
			}
		})
	}
}

// TestDumpMatchesLoad builds a configuration tree, has the real nginx dump it with
// -T, and requires ParseDump of the dump to equal Load of the tree, positions too.
func TestDumpMatchesLoad(t *testing.T) {
	bin := nginxtest.Require(t)
	dir := writeTree(t, map[string]string{
		"nginx.conf": `events { worker_connections 64; }
http {
    log_format mtls escape=json '{"verify":"$ssl_client_verify",'
                                '"dn":"$ssl_client_s_dn"}';
    include conf.d/*.conf;
    ssl_verify_depth 2;
}
`,
		"conf.d/agents.conf": `# agents' gRPC endpoint
server {
    listen 127.0.0.1:18443 ssl http2;
    server_name "manager.example.com" *.example.org;
    ssl_certificate     certs/server.pem;
    ssl_certificate_key certs/server.key;
    ssl_client_certificate certs/ca.pem;
    ssl_verify_client on;
    include snippets/errors.conf;
    access_log logs/agents.log mtls;

    location /f5.nginx.agent.sdk.Commander {
        if ($ssl_client_verify != "SUCCESS") { return 403; }
        grpc_pass grpc://127.0.0.1:10000;
    }
    location ~ "^/mpi\.v1\.[A-Za-z]{1,40}/" {
        grpc_pass grpc://127.0.0.1:10001;
    }
    location @grpc_unauthenticated {
        add_header grpc-status 16;
        add_header grpc-message 'client certificate: ${ssl_client_verify}';
        return 204;
    }
}`, // no trailing newline: nginx adds one in the dump
		"conf.d/plain.conf":    "server {\n    listen 127.0.0.1:18080;\n    include snippets/errors.conf;\n    return 200 \"ok;{}\";\n}\n",
		"snippets/errors.conf": "error_page 495 496 = @grpc_unauthenticated;\n",
	})
	writeCert(t, dir)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stdout, stderr, err := run(ctx, bin, nginxArgs(dir, "-T")...)
	if err != nil {
		t.Fatalf("nginx -T: %v\n%s", err, stderr)
	}
	fromDump, err := ParseDump(strings.NewReader(string(stdout)))
	if err != nil {
		t.Fatalf("ParseDump: %v", err)
	}
	fromFiles, err := Load(filepath.Join(dir, "nginx.conf"), Options{})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if a, b := render(fromDump), render(fromFiles); a != b {
		t.Errorf("nginx -T parse differs from Load:\n%s\nvs\n%s", a, b)
	}
	if a, b := files(fromDump), files(fromFiles); a != b {
		t.Errorf("files: dump %s, load %s", a, b)
	}
	var lines []string
	fromDump.Walk(func(d *Directive) bool {
		lines = append(lines, strings.TrimPrefix(d.Pos(), dir+"/")+" "+d.Name)
		return true
	})
	got := strings.Join(lines, "\n")
	for _, want := range []string{"conf.d/agents.conf:3 listen", "conf.d/agents.conf:13 if", "conf.d/agents.conf:19 location", "snippets/errors.conf:1 error_page", "nginx.conf:6 ssl_verify_depth"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	srv := fromDump.HTTPServers()
	if len(srv) != 2 || srv[0].SSL.VerifyDepth.Value != "2" || srv[0].SSL.ClientCertificate.Path != dir+"/certs/ca.pem" {
		t.Errorf("servers from the dump: %+v", srv)
	}
}

func files(c *Config) string {
	var s []string
	for _, f := range c.Files {
		s = append(s, f.Path)
	}
	return strings.Join(s, " ")
}

// writeCert writes a self-signed certificate and key as certs/{server.pem,server.key,ca.pem}.
func writeCert(t *testing.T, dir string) {
	t.Helper()
	c, err := pki.New(time.Now()).SelfSigned(pki.Spec{CommonName: "test CA", IsCA: true,
		DNSNames: []string{"manager.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pki.CertsPEM(c)
	keyPEM, err := c.KeyPEM(pki.PKCS8)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "certs"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"server.pem": certPEM, "ca.pem": certPEM, "server.key": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, "certs", name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestBinaryHelpers(t *testing.T) {
	bin := nginxtest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := exec.LookPath("nginx"); err == nil {
		v, err := VersionFromBinary(ctx)
		if err != nil || !VersionAtLeast(v, "1.0") {
			t.Errorf("VersionFromBinary = %q, %v", v, err)
		}
	}
	b, err := Build(ctx, bin)
	if err != nil || b.Version == "" || b.Prefix == "" {
		t.Errorf("Build = %+v, %v", b, err)
	}
	dir := writeTree(t, map[string]string{"nginx.conf": "events {}\nhttp {\n  server {\n    listen 80\n  }\n}\n"})
	// Test and Dump take the config path only, so they use nginx's own pid and log
	// paths; these must not be touched here, hence only the failing case, which
	// nginx rejects while parsing, before opening any log.
	err = Test(ctx, bin, filepath.Join(dir, "nginx.conf"))
	want := Error{File: filepath.Join(dir, "nginx.conf"), Line: 5, Msg: `unexpected "}"`}
	if err != want {
		t.Errorf("Test = %v, want %v", err, want)
	}
	if _, err := Dump(ctx, bin, filepath.Join(dir, "nginx.conf")); err != want {
		t.Errorf("Dump = %v, want %v", err, want)
	}
}

func TestParseVersionAndBuild(t *testing.T) {
	for in, want := range map[string]string{
		"nginx version: nginx/1.22.1\n":                     "1.22.1",
		"nginx version: nginx/1.25.3 (nginx-plus-r31-p1)\n": "1.25.3",
		"nginx version: openresty/1.21.4.3\n":               "1.21.4.3",
	} {
		if got, err := ParseVersion(in); got != want || err != nil {
			t.Errorf("ParseVersion(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseVersion("bash: nginx: command not found"); err == nil {
		t.Error("want an error without a version")
	}
	b, err := ParseBuild("nginx version: nginx/1.22.1\nconfigure arguments: --with-cc-opt='-g -O2' --prefix=/usr/share/nginx --conf-path=/etc/nginx/nginx.conf --error-log-path=stderr --http-log-path=/var/log/nginx/access.log --pid-path=/run/nginx.pid\n")
	if err != nil || b != (BuildInfo{Version: "1.22.1", Prefix: "/usr/share/nginx", ConfPath: "/etc/nginx/nginx.conf", ErrorLogPath: "stderr", AccessLogPath: "/var/log/nginx/access.log", PIDPath: "/run/nginx.pid"}) {
		t.Errorf("ParseBuild = %+v, %v", b, err)
	}
	for _, c := range []struct {
		v, min string
		want   bool
	}{{"1.22.1", "1.25.1", false}, {"1.25.1", "1.25.1", true}, {"1.27.2", "1.25.1", true}, {"1.3", "1.25.1", false}, {"2", "1.25.1", true}, {"x", "1", false}} {
		if got := VersionAtLeast(c.v, c.min); got != c.want {
			t.Errorf("VersionAtLeast(%s, %s) = %v", c.v, c.min, got)
		}
	}
}
