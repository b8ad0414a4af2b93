package nginxtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Bounds on the lab's waits: how long Launch waits for every listener to accept, how
// long Stop lets NGINX quit gracefully before killing it, and how long a log wait lasts
// by default.
const (
	StartTimeout = 10 * time.Second
	stopGrace    = 2 * time.Second
	pollEvery    = 10 * time.Millisecond
)

// File names inside an instance's directory. Config.String writes exactly these paths,
// and Launch passes ErrorLogName to `nginx -e` so start-up errors land there too.
const (
	ConfName      = "nginx.conf"
	ErrorLogName  = "error.log"
	AccessLogName = "access.log"
	PidName       = "nginx.pid"
	tempDirName   = "tmp"
)

// Binary returns the nginx binary: /usr/sbin/nginx (where Debian installs it, often not
// in a non-root PATH) or else "nginx" from PATH.
func Binary() (string, error) {
	if fi, err := os.Stat("/usr/sbin/nginx"); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
		return "/usr/sbin/nginx", nil
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	return "", errors.New("nginx binary not found in /usr/sbin or PATH")
}

// Require returns the nginx binary for a test that needs it. Without one the test is
// skipped with a hint, except under CI=true, where a missing nginx is a failure: CI
// installs it, so its absence means the suite would silently test nothing.
func Require(t testing.TB) string {
	t.Helper()
	bin, err := Binary()
	return required(t, "nginx", bin, err)
}

// RequireOpenSSL returns the openssl binary for a test that runs it (to make keys and
// bundles as users do), skipped without it as Require is, and failed under CI=true.
func RequireOpenSSL(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("openssl")
	return required(t, "openssl", bin, err)
}

// required is the verdict of Require and RequireOpenSSL on the lookup of tool.
func required(t testing.TB, tool, bin string, err error) string {
	t.Helper()
	if err == nil {
		return bin
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required under CI=true: %v (apt-get install %s)", tool, err, tool)
	}
	t.Skipf("%s not installed: apt-get install %s", tool, tool)
	return ""
}

// handedOut remembers the ports FreePort returned in this process, so two parallel tests
// never get the same one even if the kernel offers it twice.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// FreePort returns a TCP port on 127.0.0.1 on which nothing listens at the moment of the
// call. It is not reserved: another process could take it, so use it soon. A port is
// never returned twice in one process.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := freePort()
	if err != nil {
		t.Fatalf("nginxtest: free port: %v", err)
	}
	return p
}

func freePort() (int, error) {
	handedOut.Lock()
	defer handedOut.Unlock()
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !handedOut.ports[p] {
			handedOut.ports[p] = true
			return p, nil
		}
	}
	return 0, errors.New("no unused loopback port after 50 tries")
}

// Config renders a complete nginx.conf for an instance directory. Every path NGINX would
// otherwise take from its build (pid, logs, temp paths) is set inside Dir; the error log
// is at info level, where NGINX reports client-certificate rejections.
type Config struct {
	// Dir is the instance directory (absolute); it becomes NGINX's prefix.
	Dir string
	// ServerBlock is either the body of one server{} block, or a whole http-level
	// snippet holding one or more server{} blocks (and upstreams, maps, ...). A snippet
	// with a line starting with "server {" is taken as http-level; anything else is
	// wrapped in server { }.
	ServerBlock string
	// ErrorLogLevel is the error_log level; "" means info.
	ErrorLogLevel string
	// Main is written at the top of the file, in the main context (load_module, env, ...).
	Main string
	// Stream is the body of a stream{} block; "" writes none. The stream module is
	// loaded first when this NGINX builds it as a dynamic module (StreamModule).
	Stream string
}

var serverLine = regexp.MustCompile(`(?m)^\s*server\s*\{`)

// String returns the nginx.conf text.
func (c Config) String() string {
	dir := c.Dir
	level := c.ErrorLogLevel
	if level == "" {
		level = "info"
	}
	body := c.ServerBlock
	if !serverLine.MatchString(body) {
		body = "server {\n" + indent(body, "    ") + "}\n"
	}
	tmp := filepath.Join(dir, tempDirName)
	var b strings.Builder
	fmt.Fprintf(&b, "# nginx.conf written by nginxtest: everything stays in %s\n", dir)
	fmt.Fprintf(&b, "pid %s;\n", filepath.Join(dir, PidName))
	if c.Stream != "" && !strings.Contains(c.Main, "ngx_stream_module") {
		if load := StreamModule(); load != "" {
			b.WriteString(load + "\n")
		}
	}
	if c.Main != "" {
		b.WriteString(strings.TrimRight(c.Main, "\n") + "\n")
	}
	fmt.Fprintf(&b, "error_log %s %s;\n", filepath.Join(dir, ErrorLogName), level)
	b.WriteString("events {\n    worker_connections 256;\n}\n")
	b.WriteString("http {\n")
	b.WriteString("    default_type application/octet-stream;\n")
	b.WriteString(`    log_format lab '$remote_addr [$time_local] "$request" $status $body_bytes_sent ` +
		`host="$host" ssl=$ssl_protocol/$ssl_cipher verify=$ssl_client_verify dn="$ssl_client_s_dn"';` + "\n")
	fmt.Fprintf(&b, "    access_log %s lab;\n", filepath.Join(dir, AccessLogName))
	for _, p := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&b, "    %s_temp_path %s;\n", p, filepath.Join(tmp, p))
	}
	b.WriteString(indent(body, "    "))
	b.WriteString("}\n")
	if c.Stream != "" {
		b.WriteString("stream {\n")
		b.WriteString(indent(c.Stream, "    "))
		b.WriteString("}\n")
	}
	return b.String()
}

// streamModulePath is where Debian's libnginx-mod-stream installs the module.
const streamModulePath = "/usr/lib/nginx/modules/ngx_stream_module.so"

var streamModule = sync.OnceValue(func() string {
	bin, err := Binary()
	if err != nil {
		return ""
	}
	out, _ := exec.Command(bin, "-V").CombinedOutput()
	if !strings.Contains(string(out), "--with-stream=dynamic") {
		return "" // built in (or absent: nginx -t then says so)
	}
	return "load_module " + streamModulePath + ";"
})

// StreamModule returns the load_module line this NGINX needs before a stream{} block:
// Debian builds the stream module dynamically (package libnginx-mod-stream), the
// nginx.org packages build it in. "" means no line is needed.
func StreamModule() string { return streamModule() }

func indent(s, prefix string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		if strings.TrimSpace(line) == "" {
			b.WriteString("\n")
			continue
		}
		b.WriteString(prefix)
		b.WriteString(strings.TrimRight(line, "\n"))
		b.WriteString("\n")
	}
	return b.String()
}

// AgentLocations are the gRPC service prefixes of NGINX Agent v2 (Commander,
// MetricsService) and v3 (mpi.v1.*), proxied by Server.Block to its Backend.
var AgentLocations = []string{
	"/f5.nginx.agent.sdk.Commander",
	"/f5.nginx.agent.sdk.MetricsService",
	"/mpi.v1.",
}

// Server describes one server{} block that terminates the agent's TLS the way a
// management plane's NGINX does. Empty fields leave the directive out, so NGINX's own
// default applies (ssl_verify_depth 1, ssl_verify_client off, ...).
type Server struct {
	// Port is the 127.0.0.1 port to listen on.
	Port int
	// SSL and HTTP2 add the listen parameters `ssl` and `http2` (NGINX 1.22 syntax).
	SSL, HTTP2 bool
	// ServerName is server_name; "" means "_".
	ServerName string
	// Cert and Key are ssl_certificate and ssl_certificate_key.
	Cert, Key string
	// ClientCA is ssl_client_certificate: the CAs that verify the agent, whose subjects
	// NGINX sends in the CertificateRequest.
	ClientCA string
	// VerifyClient is ssl_verify_client: on, optional, optional_no_ca or off.
	VerifyClient string
	// VerifyDepth is ssl_verify_depth; 0 leaves NGINX's default of 1.
	VerifyDepth int
	// CRL is ssl_crl.
	CRL string
	// Protocols and Ciphers are ssl_protocols and ssl_ciphers.
	Protocols, Ciphers string
	// Backend is the HOST:PORT the agent locations grpc_pass to; "" omits the locations.
	Backend string
	// Extra is appended verbatim inside the server block.
	Extra string
}

// Block returns the server{} block.
func (s Server) Block() string {
	var b strings.Builder
	listen := fmt.Sprintf("127.0.0.1:%d", s.Port)
	if s.SSL {
		listen += " ssl"
	}
	if s.HTTP2 {
		listen += " http2"
	}
	name := s.ServerName
	if name == "" {
		name = "_"
	}
	b.WriteString("server {\n")
	fmt.Fprintf(&b, "    listen %s;\n", listen)
	fmt.Fprintf(&b, "    server_name %s;\n", name)
	directive := func(name, value string) {
		if value != "" {
			fmt.Fprintf(&b, "    %s %s;\n", name, value)
		}
	}
	directive("ssl_certificate", s.Cert)
	directive("ssl_certificate_key", s.Key)
	directive("ssl_protocols", s.Protocols)
	directive("ssl_ciphers", s.Ciphers)
	directive("ssl_client_certificate", s.ClientCA)
	directive("ssl_verify_client", s.VerifyClient)
	if s.VerifyDepth > 0 {
		directive("ssl_verify_depth", fmt.Sprint(s.VerifyDepth))
	}
	directive("ssl_crl", s.CRL)
	if s.Backend != "" {
		for _, loc := range AgentLocations {
			fmt.Fprintf(&b, "    location %s {\n        grpc_pass grpc://%s;\n    }\n", loc, s.Backend)
		}
	}
	if s.Extra != "" {
		b.WriteString(indent(s.Extra, "    "))
	}
	b.WriteString("}\n")
	return b.String()
}

// Instance is one running lab NGINX.
type Instance struct {
	dir   string
	addrs []string
	cmd   *exec.Cmd
	done  chan struct{} // closed when the process has exited
	err   error         // the exit status, valid after done
	out   *lockedBuffer // nginx's own stdout and stderr

	stopOnce sync.Once
	stopErr  error
}

// Start writes nginxConf to dir/nginx.conf, starts NGINX on it in the foreground as a
// single process, waits (at most StartTimeout) until it listens on every address, and
// registers a cleanup that stops it. A failure to start fails the test with NGINX's own
// messages.
func Start(t testing.TB, dir, nginxConf string) *Instance {
	t.Helper()
	Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	inst, err := Launch(ctx, dir, nginxConf)
	if err != nil {
		t.Fatalf("nginxtest: %v", err)
	}
	t.Cleanup(func() {
		if err := inst.Stop(); err != nil {
			t.Logf("nginxtest: stop: %v", err)
		}
	})
	return inst
}

var listenRE = regexp.MustCompile(`(?:^|[\s{;])listen\s+([^\s;]+)`)

// Launch is Start without testing.TB: it returns an error instead of failing a test and
// leaves stopping to the caller (Stop). ctx bounds the wait for the listeners; it is not
// tied to the process's lifetime.
func Launch(ctx context.Context, dir, nginxConf string) (*Instance, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	var addrs []string
	for _, m := range listenRE.FindAllStringSubmatch(nginxConf, -1) {
		host, _, err := net.SplitHostPort(m[1])
		if err != nil || (host != "127.0.0.1" && host != "::1") {
			return nil, fmt.Errorf("listen %s: the lab listens only on 127.0.0.1:PORT or [::1]:PORT", m[1])
		}
		addrs = append(addrs, m[1])
	}
	if len(addrs) == 0 {
		return nil, errors.New("the configuration has no listen directive")
	}
	for _, p := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		if err := os.MkdirAll(filepath.Join(dir, tempDirName, p), 0o755); err != nil {
			return nil, err
		}
	}
	confPath := filepath.Join(dir, ConfName)
	if err := os.WriteFile(confPath, []byte(nginxConf), 0o644); err != nil {
		return nil, err
	}
	inst := &Instance{dir: dir, addrs: addrs, done: make(chan struct{}), out: &lockedBuffer{}}
	inst.cmd = exec.Command(bin,
		"-p", dir+string(filepath.Separator),
		"-c", confPath,
		"-e", filepath.Join(dir, ErrorLogName),
		"-g", "daemon off; master_process off;")
	inst.cmd.Dir = dir
	inst.cmd.Stdout, inst.cmd.Stderr = inst.out, inst.out
	inst.cmd.SysProcAttr = sysProcAttr()
	if err := inst.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		inst.err = inst.cmd.Wait()
		close(inst.done)
	}()
	usesPidFile := strings.Contains(nginxConf, "pid "+filepath.Join(dir, PidName)+";")
	if err := inst.waitListening(ctx, usesPidFile); err != nil {
		inst.Stop()
		return nil, fmt.Errorf("%w\n--- nginx output:\n%s--- %s:\n%s", err, inst.out.String(),
			filepath.Join(dir, ErrorLogName), tail(inst.ErrorLog(), 20))
	}
	return inst, nil
}

// waitListening waits until NGINX listens, the process exits or ctx ends. NGINX writes
// its pid file only after it has bound and opened every listening socket, so when the
// configuration names dir/nginx.pid (Config does) the pid file is the signal, and no
// probe connection leaves a "client closed connection while SSL handshaking" line in the
// error log. Other configurations are polled by connecting to each listen address.
func (i *Instance) waitListening(ctx context.Context, usesPidFile bool) error {
	pending := append([]string(nil), i.addrs...)
	pidPath := filepath.Join(i.dir, PidName)
	want := strconv.Itoa(i.cmd.Process.Pid)
	for {
		if usesPidFile {
			if b, err := os.ReadFile(pidPath); err == nil && strings.TrimSpace(string(b)) == want {
				return nil
			}
		} else {
			for len(pending) > 0 {
				c, err := net.DialTimeout("tcp", pending[0], 200*time.Millisecond)
				if err != nil {
					break
				}
				c.Close()
				pending = pending[1:]
			}
			if len(pending) == 0 {
				return nil
			}
		}
		select {
		case <-i.done:
			return fmt.Errorf("nginx exited during start-up (%v)", i.err)
		case <-ctx.Done():
			return fmt.Errorf("nginx not listening on %s: %w", strings.Join(i.addrs, ", "), ctx.Err())
		case <-time.After(pollEvery):
		}
	}
}

// Stop asks NGINX to quit gracefully (SIGQUIT), kills it if it has not exited within a
// short grace period, and waits for it. It is safe to call more than once.
func (i *Instance) Stop() error {
	i.stopOnce.Do(func() {
		select {
		case <-i.done:
			return
		default:
		}
		_ = i.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-i.done:
			return
		case <-time.After(stopGrace):
		}
		_ = i.cmd.Process.Kill()
		select {
		case <-i.done:
			i.stopErr = fmt.Errorf("nginx did not quit within %s and was killed", stopGrace)
		case <-time.After(stopGrace):
			i.stopErr = errors.New("nginx did not exit after SIGKILL")
		}
	})
	return i.stopErr
}

// Dir is the instance directory.
func (i *Instance) Dir() string { return i.dir }

// Addr is the first listen address, e.g. "127.0.0.1:40123".
func (i *Instance) Addr() string { return i.addrs[0] }

// Addrs are all listen addresses, in configuration order.
func (i *Instance) Addrs() []string { return append([]string(nil), i.addrs...) }

// ErrorLogPath is the error log's path (dir/error.log).
func (i *Instance) ErrorLogPath() string { return filepath.Join(i.dir, ErrorLogName) }

// AccessLogPath is the access log's path (dir/access.log).
func (i *Instance) AccessLogPath() string { return filepath.Join(i.dir, AccessLogName) }

// ErrorLog returns what NGINX has written to its error log so far ("" if nothing).
func (i *Instance) ErrorLog() string { return readFile(i.ErrorLogPath()) }

// AccessLog returns what NGINX has written to its access log so far ("" if nothing).
func (i *Instance) AccessLog() string { return readFile(i.AccessLogPath()) }

// Output is what NGINX printed on its stdout and stderr.
func (i *Instance) Output() string { return i.out.String() }

// WaitErrorLog waits at most d for a line of the error log that contains substr, and
// returns that line. NGINX writes a request's log lines as it handles the request, which
// may be just after the client has its answer, hence the wait.
func (i *Instance) WaitErrorLog(substr string, d time.Duration) (string, bool) {
	return waitLine(i.ErrorLogPath(), substr, d)
}

// WaitAccessLog is WaitErrorLog for the access log.
func (i *Instance) WaitAccessLog(substr string, d time.Duration) (string, bool) {
	return waitLine(i.AccessLogPath(), substr, d)
}

func waitLine(path, substr string, d time.Duration) (string, bool) {
	deadline := time.Now().Add(d)
	for {
		for line := range strings.Lines(readFile(path)) {
			if strings.Contains(line, substr) {
				return strings.TrimRight(line, "\n"), true
			}
		}
		if time.Now().After(deadline) {
			return "", false
		}
		time.Sleep(pollEvery)
	}
}

func readFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return string(b)
}

func tail(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "")
}

// lockedBuffer is a bytes.Buffer safe for the process's writers and a concurrent reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
