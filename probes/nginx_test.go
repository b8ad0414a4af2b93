package probes

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/internal/pki"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// writeTree writes files (relative names) under a temp dir and returns it.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(body, "DIR", dir)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// agentServerConf is NGINX Instance Manager's agent server (nms-http.conf) included from
// a main file, with its error snippet included at server level.
var agentServerConf = map[string]string{
	"nginx.conf": `events {}
http {
    include conf.d/*.conf;
}
`,
	"conf.d/nms-http.conf": `server {
    listen 443 ssl;
    http2 on;
    server_name _;
    ssl_certificate DIR/certs/server.pem;
    ssl_certificate_key DIR/certs/server.key;
    ssl_client_certificate certs/ca.pem;
    ssl_verify_client optional;
    ssl_crl DIR/certs/crl.pem;
    include DIR/nms/errors-grpc.server_conf;
    location /f5.nginx.agent.sdk.MetricsService {
        grpc_pass grpc://ingestion-grpc-service;
    }
    location /f5.nginx.agent.sdk.Commander {
        grpc_pass grpc://dpm-grpc-service;
    }
    location / {
        root /usr/share/nms/ui;
    }
}
server {
    listen 80;
    location / { return 301 https://$host$request_uri; }
}
`,
	"nms/errors-grpc.server_conf": "error_page 495 496 = @grpc_unauthenticated;\n",
}

func TestLoadNginxFindsAgentServers(t *testing.T) {
	dir := writeTree(t, agentServerConf)
	n := LoadNginx(context.Background(), NginxOptions{Config: filepath.Join(dir, "nginx.conf"), NoBinary: true, NIMFiles: []string{}})
	if n.ReadError != "" || len(n.Errors) > 0 {
		t.Fatalf("read error %q, errors %v", n.ReadError, n.Errors)
	}
	if !n.Explicit || n.Source != NginxFile || !n.Manager() {
		t.Fatalf("explicit %v, source %q, manager %v", n.Explicit, n.Source, n.Manager())
	}
	if len(n.Files) != 3 {
		t.Errorf("files %v, want main, nms-http.conf and the snippet", n.Files)
	}
	if len(n.HTTPServers) != 2 || len(n.Servers) != 1 {
		t.Fatalf("%d servers, %d agent-facing; want 2 and 1", len(n.HTTPServers), len(n.Servers))
	}
	s := n.Servers[0]
	if got := s.Pos(); got != filepath.Join(dir, "conf.d/nms-http.conf")+":1" {
		t.Errorf("server at %s", got)
	}
	want := map[string]string{
		PathV2CommandChannel:   "grpc://dpm-grpc-service",
		PathV2MetricsStream:    "grpc://ingestion-grpc-service",
		PathV3CreateConnection: "", // falls to location / of the UI
	}
	for _, r := range s.Routes {
		if r.GRPCPass != want[r.Path] {
			t.Errorf("%s: grpc_pass %q, want %q", r.Path, r.GRPCPass, want[r.Path])
		}
	}
	// ssl_client_certificate is relative: nginx resolves it against the conf prefix.
	if s.ClientCA == nil || s.ClientCA.Path != filepath.Join(dir, "certs/ca.pem") || s.ClientCA.Exists {
		t.Errorf("client CA facts %+v, want the missing %s", s.ClientCA, filepath.Join(dir, "certs/ca.pem"))
	}
	if s.CRL == nil || s.CRL.Exists {
		t.Errorf("CRL facts %+v, want a missing file", s.CRL)
	}
	if len(s.ErrorPages) != 1 || !s.ErrorPages[0].Maps(496) {
		t.Errorf("server-level error pages from the snippet: %+v", s.ErrorPages)
	}
	if n.Test != nil || n.Version != "" {
		t.Errorf("NoBinary ran nginx: test %+v, version %q", n.Test, n.Version)
	}
}

func TestLoadNginxDiscovery(t *testing.T) {
	dir := writeTree(t, agentServerConf)
	missing := filepath.Join(dir, "none/nginx.conf")
	nim1 := filepath.Join(dir, "nginx-manager.conf")
	if err := os.WriteFile(nim1, []byte("bind_address: 0.0.0.0\ngrpc_port: 10443\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	n := LoadNginx(context.Background(), NginxOptions{NoBinary: true, Search: []string{missing, filepath.Join(dir, "nginx.conf")},
		NIMFiles: []string{filepath.Join(dir, "conf.d/nms-http.conf"), filepath.Join(dir, "nms/absent.conf")}, NIM1Paths: []string{nim1}})
	if n.Explicit || n.Main != filepath.Join(dir, "nginx.conf") || len(n.Searched) != 2 {
		t.Errorf("explicit %v, main %q, searched %v", n.Explicit, n.Main, n.Searched)
	}
	if len(n.NIMFiles) != 1 || !n.NIMFiles[0].Included {
		t.Errorf("NIM files %+v, want nms-http.conf found and included", n.NIMFiles)
	}
	if n.NIM1 == nil || n.NIM1.GRPCPort.Value != "10443" || n.NIM1.GRPCPort.Source.Line != 2 {
		t.Errorf("NIM 1.x config %+v", n.NIM1)
	}

	none := LoadNginx(context.Background(), NginxOptions{NoBinary: true, Search: []string{missing}, NIMFiles: []string{}, NIM1Paths: []string{}})
	if none.Config != nil || none.Manager() || none.ReadError != "" {
		t.Errorf("nothing to find: %+v", none)
	}
	off := LoadNginx(context.Background(), NginxOptions{Off: true, Search: []string{filepath.Join(dir, "nginx.conf")}, NIM1Paths: []string{nim1}})
	if off.Config != nil || off.Manager() || off.Binary != "" || len(off.Searched) != 0 {
		t.Errorf("Off still looked: %+v", off)
	}
}

// TestLoadNginxAgentPort: a server on the agents' port that passes anything to gRPC is
// agent-facing even when its locations are not named after the agent services.
func TestLoadNginxAgentPort(t *testing.T) {
	dir := writeTree(t, map[string]string{"nginx.conf": `events {}
http {
    server {
        listen 10443 ssl;
        location /api/ { grpc_pass grpc://127.0.0.1:10000; }
    }
}
`})
	for port, want := range map[int]int{0: 0, 10443: 1, 443: 0} {
		n := LoadNginx(context.Background(), NginxOptions{Config: filepath.Join(dir, "nginx.conf"), NoBinary: true, AgentPort: port, NIMFiles: []string{}})
		if len(n.Servers) != want {
			t.Errorf("agent port %d: %d agent servers, want %d", port, len(n.Servers), want)
		}
	}
}

func TestLoadNginxDump(t *testing.T) {
	dump := `nginx: the configuration file /etc/nginx/nginx.conf syntax is ok
# configuration file /etc/nginx/nginx.conf:
events {}
http {
    include /etc/nginx/conf.d/*.conf;
}

# configuration file /etc/nginx/conf.d/agents.conf:
server {
    listen 443 ssl http2;
    ssl_certificate /nonexistent/server.pem;
    location / { grpc_pass grpc://127.0.0.1:10000; }
}
`
	for name, opts := range map[string]NginxOptions{
		"stdin": {Config: StdinName, Stdin: strings.NewReader(dump)},
		"file":  {Config: writeFile(t, "dump.txt", dump)},
	} {
		t.Run(name, func(t *testing.T) {
			opts.NoBinary, opts.NIMFiles = true, []string{}
			n := LoadNginx(context.Background(), opts)
			if n.Source != NginxDump || n.Main != "/etc/nginx/nginx.conf" || !n.Manager() {
				t.Fatalf("source %q, main %q, manager %v, read error %q", n.Source, n.Main, n.Manager(), n.ReadError)
			}
			s := n.Servers[0]
			if s.Pos() != "/etc/nginx/conf.d/agents.conf:1" || s.SSL.Certificates[0].Directive.Line != 3 {
				t.Errorf("positions must point into the original files: server %s, ssl_certificate line %d", s.Pos(), s.SSL.Certificates[0].Directive.Line)
			}
			if len(s.Certs) != 1 || s.Certs[0].Exists {
				t.Errorf("cert facts %+v", s.Certs)
			}
		})
	}
	n := LoadNginx(context.Background(), NginxOptions{Config: StdinName, Stdin: strings.NewReader("events {}\n"), NoBinary: true, NIMFiles: []string{}})
	if n.ReadError == "" || n.Manager() {
		t.Errorf("plain text on stdin: read error %q", n.ReadError)
	}
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadNginxReadErrors(t *testing.T) {
	n := LoadNginx(context.Background(), NginxOptions{Config: "/nonexistent/nginx.conf", NoBinary: true, NIMFiles: []string{}})
	if !n.Explicit || n.ReadError == "" || n.Config != nil {
		t.Errorf("missing file: %+v", n)
	}
	dir := writeTree(t, map[string]string{"nginx.conf": "http {\n    server {\n        listen 443 ssl\n    }\n"})
	n = LoadNginx(context.Background(), NginxOptions{Config: filepath.Join(dir, "nginx.conf"), NoBinary: true, NIMFiles: []string{}})
	if len(n.Errors) == 0 || n.Errors[0].Line == 0 {
		t.Errorf("syntax error without position: %+v", n.Errors)
	}
}

// TestLoadNginxRunsNginx uses the real binary: its version, and nginx -t on a
// configuration that serves agents.
func TestLoadNginxRunsNginx(t *testing.T) {
	bin, err := nginxconf.Binary()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	dir := writeTree(t, map[string]string{"nginx.conf": `pid DIR/nginx.pid;
error_log DIR/error.log;
events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:1 ssl;
        ssl_certificate DIR/missing.pem;
        ssl_certificate_key DIR/missing.key;
        location / { grpc_pass grpc://127.0.0.1:10000; }
    }
}
`})
	n := LoadNginx(context.Background(), NginxOptions{Config: filepath.Join(dir, "nginx.conf"), Binary: bin, NIMFiles: []string{}})
	if n.Version == "" || n.Binary != bin {
		t.Errorf("version %q (%s), binary %q", n.Version, n.VersionError, n.Binary)
	}
	if n.Test == nil || n.Test.OK || n.Test.Error == nil || !strings.Contains(n.Test.Error.Msg, "missing.pem") {
		t.Errorf("nginx -t verdict %+v, want a failure naming missing.pem", n.Test)
	}
}

// TestLoadNginxDiscoveryAsksBinaryOnlyForAgents: discovery reads the first main file
// without running nginx when it passes nothing to gRPC (no server there can serve
// agents); one with grpc_pass is read with the binary's build (version, log paths) and
// judged by `nginx -t`, reusing the parse.
func TestLoadNginxDiscoveryAsksBinaryOnlyForAgents(t *testing.T) {
	bin, err := nginxconf.Binary()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	plain := writeTree(t, map[string]string{"nginx.conf": "events {}\nhttp {\n    server { listen 127.0.0.1:1; }\n}\n"})
	n := LoadNginx(context.Background(), NginxOptions{Binary: bin, Search: []string{filepath.Join(plain, "nginx.conf")},
		NIMFiles: []string{}, NIM1Paths: []string{}})
	if n.Config == nil || n.Source != NginxFile || len(n.HTTPServers) != 1 || len(n.Servers) != 0 {
		t.Fatalf("plain configuration: source %q, %d http servers, %d agent servers, read error %q", n.Source, len(n.HTTPServers), len(n.Servers), n.ReadError)
	}
	if n.Binary != "" || n.Version != "" || n.VersionError != "" || n.Test != nil {
		t.Errorf("nginx was run for a configuration without grpc_pass: binary %q version %q (%s), test %+v", n.Binary, n.Version, n.VersionError, n.Test)
	}

	// A front that passes to an upstream over TLS is judged with the version and nginx -t.
	proxy := writeTree(t, map[string]string{"nginx.conf": "events {}\nhttp {\n    server {\n        listen 127.0.0.1:1;\n" +
		"        location / { proxy_pass https://127.0.0.1:8443; }\n    }\n}\n"})
	n = LoadNginx(context.Background(), NginxOptions{Binary: bin, Search: []string{filepath.Join(proxy, "nginx.conf")},
		NIMFiles: []string{}, NIM1Paths: []string{}})
	if n.Binary != bin || n.Version == "" {
		t.Errorf("TLS upstream front: binary %q version %q (%s): nginx -V should have run", n.Binary, n.Version, n.VersionError)
	}

	agents := writeTree(t, agentServerConf)
	main := filepath.Join(agents, "nginx.conf")
	n = LoadNginx(context.Background(), NginxOptions{Binary: bin, Search: []string{main}, NIMFiles: []string{}, NIM1Paths: []string{}})
	if n.Config == nil || n.Main != main || len(n.Servers) != 1 {
		t.Fatalf("agent configuration: main %q, %d agent servers, read error %q", n.Main, len(n.Servers), n.ReadError)
	}
	if n.Binary != bin || n.Version == "" || n.Test == nil {
		t.Errorf("agent configuration: binary %q version %q (%s), test %+v: nginx -V and -t should have run", n.Binary, n.Version, n.VersionError, n.Test)
	}
	// The parse made before the build answered takes the build's prefix and log paths:
	// this main context has no error_log, so the compiled-in one applies.
	build, err := nginxconf.Build(context.Background(), bin)
	if err != nil {
		t.Fatal(err)
	}
	if n.Config.Prefix != build.Prefix {
		t.Errorf("prefix %q, want the build's %q", n.Config.Prefix, build.Prefix)
	}
	if logs := n.Config.ErrorLogs(); len(logs) == 0 || build.ErrorLogPath != "" && logs[0].Target != build.ErrorLogPath {
		t.Errorf("error logs %+v, want the compiled-in %q first", logs, build.ErrorLogPath)
	}
}

// TestLoadNginxTestsUpstreamTLS: a front that only passes to upstreams over TLS is
// tested with nginx -t too, which judges the proxy's TLS settings as NGINX loads them.
func TestLoadNginxTestsUpstreamTLS(t *testing.T) {
	bin, err := nginxconf.Binary()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	dir := writeTree(t, map[string]string{"nginx.conf": `pid DIR/nginx.pid;
error_log DIR/error.log;
events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:1;
        location / { proxy_pass https://127.0.0.1:8443; proxy_ssl_verify on; }
    }
}
`})
	n := LoadNginx(context.Background(), NginxOptions{Config: filepath.Join(dir, "nginx.conf"), Binary: bin, NIMFiles: []string{}})
	if n.Manager() {
		t.Error("a front without agent servers taken for a manager")
	}
	if n.Test == nil || n.Test.Error == nil || n.Test.Error.Msg != "no proxy_ssl_trusted_certificate for proxy_ssl_verify" {
		t.Errorf("nginx -t verdict %+v, want NGINX's upstream verify error", n.Test)
	}
}

func TestParseNIMManagerConfig(t *testing.T) {
	for name, tc := range map[string]struct {
		data    string
		check   func(c *NIMManagerConfig) bool
		errLine int
	}{
		"docs example": {data: "# nginx-manager.conf\nbind_address: 0.0.0.0\ngrpc_port: 10000\ngateway_port: 11000\nserver_name: nginx-manager.example.com\n" +
			"cert: /etc/ssl/nginx-manager/nginx-manager.crt\nkey: /etc/ssl/nginx-manager/nginx-manager.key\nlog:\n  level: info\n  path: /var/log/nginx-manager/\n",
			check: func(c *NIMManagerConfig) bool {
				return c.BindAddress.Value == "0.0.0.0" && c.ServerName.Value == "nginx-manager.example.com" &&
					c.Cert.Source.Line == 6 && c.Key.Value == "/etc/ssl/nginx-manager/nginx-manager.key" && c.Error == nil
			}},
		"defaults": {data: "log:\n  level: debug\n", check: func(c *NIMManagerConfig) bool {
			return c.BindAddress.Value == NIM1DefaultBindAddress && !c.BindAddress.IsSet() && c.GRPCPort.Value == NIM1DefaultGRPCPort
		}},
		"keys any case, quoted": {data: "GRPC_PORT: \"10443\"\nServer_Name: 'nim.local'\n", check: func(c *NIMManagerConfig) bool {
			return c.GRPCPort.Value == "10443" && c.ServerName.Value == "nim.local" && c.ServerName.Source.Line == 2
		}},
		"not a mapping":   {data: "- a\n- b\n", check: func(c *NIMManagerConfig) bool { return c.Error == nil && !c.Cert.IsSet() }},
		"nested value":    {data: "cert:\n  path: /x\n", check: func(c *NIMManagerConfig) bool { return c.Cert.Value == "" }},
		"yaml error":      {data: "bind_address: 0.0.0.0\ngrpc_port: [10000\n", errLine: 2},
		"bad indentation": {data: "bind_address: 0.0.0.0\n  grpc_port: 1\n", errLine: 1}, // where go-yaml (and viper) place it
	} {
		t.Run(name, func(t *testing.T) {
			c := ParseNIMManagerConfig("/etc/nginx-manager/nginx-manager.conf", []byte(tc.data))
			if tc.errLine > 0 {
				if c.Error == nil || c.Error.Line != tc.errLine {
					t.Fatalf("error %+v, want one at line %d", c.Error, tc.errLine)
				}
				return
			}
			if !tc.check(c) {
				t.Errorf("unexpected facts: %+v (error %+v)", c, c.Error)
			}
		})
	}
	c := LoadNIMManagerConfig("/nonexistent/nginx-manager.conf")
	if c.Error == nil || c.Error.Message != "no such file" {
		t.Errorf("missing file: %+v", c.Error)
	}
}

// FuzzParseNIMManagerConfig: any input gives facts or an error with a position, never a
// panic or a hang.
func FuzzParseNIMManagerConfig(f *testing.F) {
	for _, seed := range []string{
		"bind_address: 0.0.0.0\ngrpc_port: 10000\ncert: /a\nkey: /b\n",
		"log:\n  level: info\n  path: /var/log/nginx-manager/\n",
		"grpc_port: [1\n",
		"a: &x [1, 2]\nb: *x\n",       // anchors and aliases are not expanded
		"---\ncert: a\n---\nkey: b\n", // several documents
		"\t- : :\n",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := ParseNIMManagerConfig("/f.conf", data)
		if c.Error != nil && c.Error.Line < 0 {
			t.Errorf("negative line %d", c.Error.Line)
		}
		for _, s := range []Setting{c.BindAddress, c.GRPCPort, c.GatewayPort, c.ServerName, c.Cert, c.Key} {
			if s.IsSet() && (s.Source.Name != "/f.conf" || s.Source.Line < 0) {
				t.Errorf("setting without a sane source: %+v", s)
			}
		}
	})
}

// testCRL is an empty DER CRL from a fresh root.
func testCRL(t testing.TB) []byte {
	t.Helper()
	der, err := pki.New(time.Now()).CRL(tpIssue(t, nil, pki.Spec{CommonName: "ca", IsCA: true}))
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestParseCRLs(t *testing.T) {
	der := testCRL(t)
	block := string(pki.CRLPEM(der))
	for name, tc := range map[string]struct {
		data    string
		n       int
		errPart string
	}{
		"two PEM":      {data: block + block, n: 2},
		"DER":          {data: string(der), n: 1},
		"certificate":  {data: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", errPart: "line 1: CERTIFICATE: not an X509 CRL block"},
		"garbage":      {data: "hello", errPart: "neither PEM nor a DER CRL"},
		"empty":        {data: "\n", errPart: "empty file"},
		"broken block": {data: block + "-----BEGIN X509 CRL-----\n!!!\n", n: 1, errPart: "malformed PEM block"},
	} {
		t.Run(name, func(t *testing.T) {
			crls, errText := ParseCRLs([]byte(tc.data))
			if len(crls) != tc.n || !strings.Contains(errText, tc.errPart) {
				t.Errorf("got %d CRLs, error %q; want %d and %q", len(crls), errText, tc.n, tc.errPart)
			}
		})
	}
}

func FuzzParseCRLs(f *testing.F) {
	der := testCRL(f)
	f.Add(pki.CRLPEM(der))
	f.Add(der)
	f.Add([]byte("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n-----BEGIN X509 CRL-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		crls, _ := ParseCRLs(data)
		for _, c := range crls {
			if c == nil {
				t.Fatal("nil CRL")
			}
		}
	})
}

// TestLoadNginxPrefix: --nginx-prefix is where relative log paths resolve, as nginx -p.
func TestLoadNginxPrefix(t *testing.T) {
	dir := writeTree(t, map[string]string{"conf/nginx.conf": `error_log logs/error.log info;
events {}
http {
    server {
        listen 443 ssl;
        location /mpi.v1. { grpc_pass grpc://127.0.0.1:10000; }
    }
}
`})
	main := filepath.Join(dir, "conf/nginx.conf")
	for prefix, want := range map[string]string{"": filepath.Join(dir, "conf/logs/error.log"), "/srv/nginx/": "/srv/nginx/logs/error.log"} {
		n := LoadNginx(context.Background(), NginxOptions{Config: main, Prefix: prefix, NoBinary: true, NIMFiles: []string{}})
		if len(n.Servers) != 1 {
			t.Fatalf("prefix %q: %d agent servers", prefix, len(n.Servers))
		}
		if got := n.Servers[0].ErrorLogs[0].Path; got != want {
			t.Errorf("prefix %q: error log %s, want %s", prefix, got, want)
		}
	}
}

// TestLoadNginxUnreadableMain: a --nginx-config that opens but does not read as a file (a
// directory) is a ReadError; the facts used to name it as Main with neither a Config nor
// an error, and the nginx checks dereferenced the missing Config.
func TestLoadNginxUnreadableMain(t *testing.T) {
	dir := t.TempDir()
	n := LoadNginx(context.Background(), NginxOptions{Config: dir, NoBinary: true, NIMFiles: []string{}})
	if n.Config != nil || n.ReadError == "" {
		t.Errorf("--nginx-config DIR: Config %v, ReadError %q; want a ReadError", n.Config, n.ReadError)
	}
}
