package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/internal/nginxtest"
	"github.com/mtls-doctor/mtls-doctor/internal/pki"
	"github.com/mtls-doctor/mtls-doctor/probes"
)

// The stream{} suite: NGINX Instance Manager 1.x's "stream context" topology, where a real
// NGINX stream server passes the agents' TCP straight through to nginx-manager's gRPC
// port, and a stream server that terminates the agents' TLS itself (listen … ssl,
// ssl_verify_client on) before passing plaintext gRPC to the management plane.
//
// nginx-manager 1.x is closed source; a real NGINX stands in for its TLS: it serves the
// certificate and key nginx-manager.conf names, speaks HTTP/2, asks for no client
// certificate (as nginx-manager does), and passes the agents' gRPC to a loopback backend.
// Each scenario runs `mtls-doctor --check -o json --nginx-config FRONT [--nim-config
// nginx-manager.conf] --cert AGENT` and makes the agent's real request through the hop.

// streamLab is one scenario's manager host.
type streamLab struct {
	dir                 string
	root, server, agent *pki.Cert
	rootPEM             string
	serverCert, serverK string
	agentCert, agentKey string
	backend             *nginxtest.Backend
	// nim is the stand-in for nginx-manager's own TLS (passthrough topology); nil for
	// the terminating topology, whose stream server passes plaintext to backend.
	nim     *nginxtest.Instance
	nimConf string
	// stream is the body of the front's stream server; port its listen port.
	stream   string
	port     int
	front    *nginxtest.Instance
	frontDir string
}

func newStreamLab(t *testing.T) *streamLab {
	t.Helper()
	nginxtest.Require(t)
	l := &streamLab{dir: t.TempDir()}
	l.root = newRoot(t, "nim-ca")
	l.server = issue(t, l.root, pki.Spec{CommonName: labName, DNSNames: []string{labName},
		EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	l.rootPEM = writeCerts(t, filepath.Join(l.dir, "ca.pem"), l.root)
	l.serverCert = writeCerts(t, filepath.Join(l.dir, "nginx-manager.crt"), l.server)
	l.serverK = writeKey(t, filepath.Join(l.dir, "nginx-manager.key"), l.server)
	l.useAgent(t, issue(t, l.root, leafSpec("agent-01.test.local", x509.ExtKeyUsageClientAuth)))
	l.backend = nginxtest.StartBackend(t)
	l.port = nginxtest.FreePort(t)
	return l
}

func (l *streamLab) useAgent(t *testing.T, chain ...*pki.Cert) {
	t.Helper()
	l.agent = chain[0]
	l.agentCert = writeCerts(t, filepath.Join(l.dir, fmt.Sprintf("agent-%d.crt", time.Now().UnixNano())), chain...)
	l.agentKey = writeKey(t, l.agentCert+".key", chain[0])
}

// passthrough is the NIM 1.x stream topology: nginx-manager serves TLS on a loopback port
// named by nginx-manager.conf, and the stream server passes TCP to it through an upstream
// block, as the NIM 1.x documentation's nginx-grpc-stream.conf does.
func (l *streamLab) passthrough(t *testing.T) {
	t.Helper()
	dir := filepath.Join(l.dir, "nginx-manager")
	mkdir(t, dir)
	srv := nginxtest.Server{Port: nginxtest.FreePort(t), SSL: true, HTTP2: true, ServerName: labName,
		Cert: l.serverCert, Key: l.serverK, Protocols: "TLSv1.2 TLSv1.3", Backend: l.backend.Addr()}
	l.nim = nginxtest.Start(t, dir, nginxtest.Config{Dir: dir, ServerBlock: srv.Block()}.String())
	l.nimConf = filepath.Join(l.dir, "nginx-manager.conf")
	writeFile(t, l.nimConf, []byte(fmt.Sprintf(`# nginx-manager.conf (NIM 1.x)
bind_address: 127.0.0.1
grpc_port: %d
gateway_port: 11000
server_name: %s
cert: %s
key: %s
`, srv.Port, labName, l.serverCert, l.serverK)), 0o644)
	l.stream = fmt.Sprintf(`upstream nginx-manager_stream_grpc_servers {
    server %s;
}
server {
    listen 127.0.0.1:%d;
    proxy_pass nginx-manager_stream_grpc_servers;
}
`, l.nim.Addr(), l.port)
}

// terminating is a stream server that terminates the agents' TLS and verifies their
// certificates, then passes plaintext HTTP/2 to nginx-manager's gRPC port, which NIM 1.x's
// offload topology leaves without TLS on 127.0.0.1 (nginx-manager.conf without cert and
// key; the backend stands in for it).
func (l *streamLab) terminating(t *testing.T, alpn string) {
	t.Helper()
	l.nimConf = filepath.Join(l.dir, "nginx-manager.conf")
	_, port, _ := strings.Cut(l.backend.Addr(), ":")
	writeFile(t, l.nimConf, []byte("bind_address: 127.0.0.1\ngrpc_port: "+port+"\n"), 0o644)
	l.stream = fmt.Sprintf(`server {
    listen 127.0.0.1:%d ssl;
    ssl_certificate        %s;
    ssl_certificate_key    %s;
    ssl_protocols          TLSv1.2 TLSv1.3;
    ssl_client_certificate %s;
    ssl_verify_client      on;
%s    proxy_pass %s;
}
`, l.port, l.serverCert, l.serverK, l.rootPEM, alpn, l.backend.Addr())
}

// start starts the front NGINX: its stream server, and an http server that serves no
// agents (the stream module needs no http{}, nginxtest writes one).
func (l *streamLab) start(t *testing.T) {
	t.Helper()
	l.frontDir = filepath.Join(l.dir, "front")
	mkdir(t, l.frontDir)
	web := nginxtest.Server{Port: nginxtest.FreePort(t), ServerName: "www.test.local", Extra: "location / { return 200; }\n"}
	l.front = nginxtest.Start(t, l.frontDir, nginxtest.Config{Dir: l.frontDir, ServerBlock: web.Block(), Stream: l.stream}.String())
}

// newBothSidesStreamLab starts a stream server that terminates the agents' TLS with
// ssl_alpn h2 and writes an agent configuration that dials it, both on this host; it
// returns the lab and the agent configuration's path.
func newBothSidesStreamLab(t *testing.T) (*streamLab, string) {
	t.Helper()
	l := newStreamLab(t)
	l.terminating(t, "    ssl_alpn h2;\n")
	l.start(t)
	cfg := filepath.Join(l.dir, "nginx-agent.conf")
	writeFile(t, cfg, []byte(agentConf{host: "127.0.0.1", port: l.port, command: labName, tlsEnable: true,
		cert: l.agentCert, key: l.agentKey, ca: l.rootPEM}.yaml()), 0o644)
	return l, cfg
}

// request is the agent's first call through the stream server, made by the probe the
// tool uses, with the agent's certificate.
func (l *streamLab) request(t *testing.T) *probes.EndpointReport {
	t.Helper()
	return agentCall(t, fmt.Sprintf("127.0.0.1:%d", l.port), l.agentCert, l.agentKey)
}

func (l *streamLab) check(t *testing.T) checkResult {
	t.Helper()
	args := []string{"--nginx-config", filepath.Join(l.frontDir, nginxtest.ConfName), "--cert", l.agentCert}
	if l.nimConf != "" {
		args = append(args, "--nim-config", l.nimConf)
	}
	return checkJSON(t, nil, args...)
}

// hopQuoted reports whether the finding's evidence says which hop terminates TLS.
func hopQuoted(text string, terminates bool) bool {
	if terminates {
		return strings.Contains(text, "terminates the agents' TLS, verifies the agents' certificates (ssl_verify_client on)")
	}
	return strings.Contains(text, "passes the agents' TCP through without terminating TLS") &&
		strings.Contains(text, "nginx-manager 1.x verifies no client certificate")
}

func TestStreamPassthroughHealthy(t *testing.T) {
	l := newStreamLab(t)
	l.passthrough(t)
	l.start(t)
	rep := l.request(t)
	if rep.Agent == nil || rep.Agent.TLS == nil || rep.Agent.TLS.Error != nil || rep.Agent.HTTP == nil || rep.Agent.HTTP.Status != 200 {
		t.Fatalf("the agent's request through the stream hop did not reach the management plane: %+v", rep.Agent)
	}
	if n := len(rep.Agent.TLS.PeerChain); n == 0 || rep.Agent.TLS.PeerChain[0].Subject.CommonName != labName {
		t.Errorf("the agent did not get nginx-manager's certificate through the hop")
	}
	res := l.check(t)
	// nginx-manager verifies no agent certificate: mutual TLS is not enforced, a warning.
	if res.exit != exitWarning {
		t.Errorf("exit %d, want 1:\n%s", res.exit, res.excerpt())
	}
	if fails := res.bySeverity("fail"); len(fails) > 0 {
		t.Errorf("healthy passthrough: failures:\n%s", res.excerpt())
	}
	f, _ := res.find("client-auth-not-required")
	if f.Severity != "warn" || !hopQuoted(findingText(f), false) {
		t.Errorf("client-auth-not-required %s does not say which hop terminates and which verifies:\n%s", f.Severity, findingText(f))
	}
	a, _ := res.find("nginx-agent-server-missing")
	if a.Severity != "ok" || !strings.Contains(findingText(a), l.nimConf) {
		t.Errorf("nginx-agent-server-missing %s:\n%s", a.Severity, findingText(a))
	}
	if s, _ := res.find("server-cert-expired"); s.Severity != "ok" {
		t.Errorf("nginx-manager's certificate is not judged through the hop: server-cert-expired %s %q", s.Severity, s.Summary)
	}
}

// The nginx-manager certificate behind the passthrough has expired: the finding is about
// nginx-manager.conf's certificate, and the agent's own request gets that certificate
// through the hop. A passthrough stream server logs nothing about TLS.
func TestStreamPassthroughExpiredManagerCert(t *testing.T) {
	l := newStreamLab(t)
	l.server = issue(t, l.root, pki.Spec{CommonName: labName, DNSNames: []string{labName},
		EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, From: -400 * 24 * time.Hour, Until: -24 * time.Hour})
	writeCerts(t, l.serverCert, l.server)
	writeKey(t, l.serverK, l.server)
	l.passthrough(t)
	l.start(t)
	rep := l.request(t)
	if rep.Agent == nil || rep.Agent.TLS == nil || len(rep.Agent.TLS.PeerChain) == 0 || rep.Agent.TLS.PeerChain[0].NotAfter.After(time.Now()) {
		t.Fatalf("the agent should get nginx-manager's expired certificate through the hop: %+v", rep.Agent)
	}
	res := l.check(t)
	if res.exit != exitFailure {
		t.Errorf("exit %d, want 2:\n%s", res.exit, res.excerpt())
	}
	f, _ := res.find("server-cert-expired")
	if f.Severity != "fail" || !strings.Contains(findingText(f), l.serverCert) {
		t.Fatalf("server-cert-expired %s, want fail naming %s:\n%s", f.Severity, l.serverCert, res.excerpt())
	}
	a, _ := res.find("client-auth-not-required")
	if !hopQuoted(findingText(a), false) {
		t.Errorf("client-auth-not-required does not name the hop:\n%s", findingText(a))
	}
}

func TestStreamTerminatorHealthy(t *testing.T) {
	l := newStreamLab(t)
	l.terminating(t, "    ssl_alpn h2;\n")
	l.start(t)
	// Checked before the request: the probe's second attempt, without a certificate, makes
	// the stream server log "client sent no required SSL certificate", and a stream line
	// has no request URI that marks it as the probe's.
	res := l.check(t)
	rep := l.request(t)
	if rep.Agent == nil || rep.Agent.HTTP == nil || rep.Agent.HTTP.Status != 200 || rep.Agent.TLS.ALPN != "h2" {
		t.Fatalf("the agent's request through the stream terminator did not reach the backend: %+v", rep.Agent)
	}
	if res.exit != exitOK {
		t.Errorf("exit %d, want 0:\n%s", res.exit, res.excerpt())
	}
	f, _ := res.find("nginx-agent-server-missing")
	if f.Severity != "ok" || !hopQuoted(findingText(f), true) {
		t.Errorf("nginx-agent-server-missing %s does not say the stream server terminates and verifies:\n%s", f.Severity, findingText(f))
	}
	for _, id := range []string{"client-auth-not-required", "agent-cert-rejected", "agent-cert-unknown-ca", "nginx-http2-missing", "nginx-client-ca-missing"} {
		if x, _ := res.find(id); x.Severity != "ok" {
			t.Errorf("%s is %s: %s", id, x.Severity, x.Summary)
		}
	}
}

// The agent's certificate comes from a CA the stream server does not trust: Go sends no
// certificate (its issuer is not among the CA names NGINX sends), and the stream server
// logs, at [info], the line the finding predicts — "while SSL handshaking", not "while
// reading client request headers" as an http server would.
func TestStreamTerminatorUnknownCA(t *testing.T) {
	l := newStreamLab(t)
	l.useAgent(t, issue(t, newRoot(t, "other-ca"), leafSpec("agent-01.test.local", x509.ExtKeyUsageClientAuth)))
	l.terminating(t, "    ssl_alpn h2;\n")
	l.start(t)
	l.request(t)
	line, ok := l.front.WaitErrorLog("client sent no required SSL certificate", 3*time.Second)
	if !ok || !strings.Contains(line, "[info]") || !strings.Contains(line, "while SSL handshaking") {
		t.Fatalf("NGINX logged %q:\n%s", line, l.front.ErrorLog())
	}
	res := l.check(t)
	if res.exit != exitFailure {
		t.Errorf("exit %d, want 2:\n%s", res.exit, res.excerpt())
	}
	f, _ := res.find("agent-cert-unknown-ca")
	if f.Severity != "fail" {
		t.Fatalf("agent-cert-unknown-ca %s:\n%s", f.Severity, res.excerpt())
	}
	rej, _ := res.find("agent-cert-rejected")
	text := findingText(f) + "\n" + findingText(rej)
	if !strings.Contains(text, "client sent no required SSL certificate while SSL handshaking") {
		t.Errorf("the findings do not predict the line the stream server logs:\n%s", text)
	}
	if !strings.Contains(text, "stream server closes the connection") {
		t.Errorf("the findings do not say what the agent gets from a stream server:\n%s", text)
	}
}

// A stream server terminates the agents' TLS without ssl_alpn: NGINX negotiates no
// protocol, which gRPC clients refuse.
func TestStreamTerminatorWithoutALPN(t *testing.T) {
	l := newStreamLab(t)
	l.terminating(t, "")
	l.start(t)
	rep := l.request(t)
	if rep.Agent == nil || rep.Agent.TLS == nil || rep.Agent.TLS.ALPN != "" {
		t.Fatalf("NGINX negotiated ALPN %q without ssl_alpn: %+v", rep.Agent.TLS.ALPN, rep.Agent)
	}
	res := l.check(t)
	if res.exit != exitFailure {
		t.Errorf("exit %d, want 2:\n%s", res.exit, res.excerpt())
	}
	f, _ := res.find("nginx-http2-missing")
	if f.Severity != "fail" || !strings.Contains(f.Summary, "no ssl_alpn") {
		t.Fatalf("nginx-http2-missing %s %q:\n%s", f.Severity, f.Summary, res.excerpt())
	}
	if len(f.Fix) == 0 || !strings.Contains(fmt.Sprint(f.Fix), "ssl_alpn h2;") {
		t.Errorf("the playbook does not add ssl_alpn h2: %+v", f.Fix)
	}
	if _, err := os.Stat(filepath.Join(l.frontDir, nginxtest.ConfName)); err != nil {
		t.Fatal(err)
	}
}

// Both sides on one host: the agent's configuration dials the stream server that
// terminates its TLS, and the NGINX configuration is read as well. The agent-side probe
// and the configuration agree: no failure, and the agent's server is the stream server.
func TestStreamTerminatorBothSides(t *testing.T) {
	l, cfg := newBothSidesStreamLab(t)
	res := checkJSON(t, nil, "--agent-config", cfg, "--nginx-config", filepath.Join(l.frontDir, nginxtest.ConfName),
		"--nim-config", l.nimConf, "--no-logs", "--timeout", "2s")
	if fails := res.bySeverity("fail"); len(fails) > 0 || res.exit == exitFailure {
		t.Errorf("exit %d, failures %v:\n%s", res.exit, fails, res.excerpt())
	}
	for _, id := range []string{"client-auth-not-required", "nginx-http2-missing", "agent-cert-rejected"} {
		if f, _ := res.find(id); f.Severity != "ok" {
			t.Errorf("%s is %s: %s", id, f.Severity, f.Summary)
		}
	}
}

// The stream server routes by the server name in the agents' ClientHello (ssl_preread and
// a map on $ssl_preread_server_name), as a host that shares its port with other TLS
// services does: the agents' name leads to nginx-manager, the default elsewhere.
func TestStreamPassthroughBySNIMap(t *testing.T) {
	l := newStreamLab(t)
	l.passthrough(t)
	l.stream = strings.Replace(l.stream, fmt.Sprintf(`server {
    listen 127.0.0.1:%d;
    proxy_pass nginx-manager_stream_grpc_servers;
}`, l.port), fmt.Sprintf(`map $ssl_preread_server_name $agents_backend {
    %s nginx-manager_stream_grpc_servers;
    default 127.0.0.1:%d;
}
server {
    listen 127.0.0.1:%d;
    ssl_preread on;
    proxy_pass $agents_backend;
}`, labName, nginxtest.FreePort(t), l.port), 1)
	if !strings.Contains(l.stream, "ssl_preread on") {
		t.Fatalf("stream block not rewritten:\n%s", l.stream)
	}
	l.start(t)
	rep := l.request(t)
	if rep.Agent == nil || rep.Agent.HTTP == nil || rep.Agent.HTTP.Status != 200 {
		t.Fatalf("the agent's request (SNI %s) did not reach nginx-manager through the map: %+v", labName, rep.Agent)
	}
	res := l.check(t)
	if res.exit != exitWarning {
		t.Errorf("exit %d, want 1:\n%s", res.exit, res.excerpt())
	}
	f, _ := res.find("client-auth-not-required")
	text := findingText(f)
	if f.Severity != "warn" || !hopQuoted(text, false) || !strings.Contains(text, "for server name "+labName) {
		t.Errorf("client-auth-not-required %s does not follow the map to nginx-manager:\n%s", f.Severity, text)
	}
}

// The stream server terminates the agents' TLS and re-encrypts (proxy_ssl on) towards
// nginx-manager, whose nginx-manager.conf sets no certificate: it serves plaintext, and
// every agent connection dies in NGINX's handshake with it.
func TestStreamReEncryptToPlaintextManager(t *testing.T) {
	l := newStreamLab(t)
	l.terminating(t, "    ssl_alpn h2;\n    proxy_ssl on;\n")
	l.start(t)
	rep := l.request(t)
	if rep.Agent != nil && rep.Agent.HTTP != nil && rep.Agent.HTTP.Status == 200 {
		t.Fatalf("the agent's call got through a TLS hop to a plaintext port: %+v", rep.Agent.HTTP)
	}
	// The backend, a Go HTTP/2 server like nginx-manager, drops the ClientHello. NGINX
	// names the phase "SSL handshaking to upstream" or, depending on when it reads the
	// reset, "proxying connection".
	line, ok := l.front.WaitErrorLog("peer closed connection in SSL handshake", 3*time.Second)
	if !ok || !strings.Contains(line, "[error]") ||
		!strings.Contains(line, "while SSL handshaking to upstream") && !strings.Contains(line, "while proxying connection") {
		t.Fatalf("NGINX logged %q:\n%s", line, l.front.ErrorLog())
	}
	res := l.check(t)
	if res.exit != exitFailure {
		t.Errorf("exit %d, want 2:\n%s", res.exit, res.excerpt())
	}
	f, _ := res.find("nginx-agent-server-missing")
	if f.Severity != "fail" || f.Cause == nil || f.Cause.Code != "not-tls" || !strings.Contains(f.Summary, `"peer closed connection in SSL handshake"`) {
		t.Fatalf("nginx-agent-server-missing %s %+v %q:\n%s", f.Severity, f.Cause, f.Summary, res.excerpt())
	}
	if !strings.Contains(fmt.Sprint(f.Fix), "proxy_ssl off;") {
		t.Errorf("the playbook does not turn proxy_ssl off: %+v", f.Fix)
	}
}

// The stream server terminates the agents' TLS and passes plaintext on, while
// nginx-manager serves TLS on its gRPC port (the stand-in NGINX with nginx-manager.conf's
// certificate): nginx-manager never gets a TLS handshake.
func TestStreamPlaintextToTLSManager(t *testing.T) {
	l := newStreamLab(t)
	l.terminatingToTLSManager(t, "")
	l.start(t)
	rep := l.request(t)
	if rep.Agent != nil && rep.Agent.HTTP != nil && rep.Agent.HTTP.Status == 200 {
		t.Fatalf("plaintext reached nginx-manager's TLS port: %+v", rep.Agent.HTTP)
	}
	res := l.check(t)
	if res.exit != exitFailure {
		t.Errorf("exit %d, want 2:\n%s", res.exit, res.excerpt())
	}
	f, _ := res.find("nginx-agent-server-missing")
	if f.Severity != "fail" || f.Cause == nil || f.Cause.Code != "tls-off" {
		t.Fatalf("nginx-agent-server-missing %s %+v %q:\n%s", f.Severity, f.Cause, f.Summary, res.excerpt())
	}
	if !strings.Contains(fmt.Sprint(f.Fix), "proxy_ssl on;") {
		t.Errorf("the playbook does not turn proxy_ssl on: %+v", f.Fix)
	}
}

// terminatingToTLSManager is a stream server that terminates the agents' TLS (with extra
// directives) in front of nginx-manager serving TLS itself (the stand-in NGINX with
// nginx-manager.conf's certificate): NIM 1.x's end-to-end encryption.
func (l *streamLab) terminatingToTLSManager(t *testing.T, extra string) {
	t.Helper()
	l.passthrough(t)
	nim := l.nim.Addr()
	l.terminating(t, "    ssl_alpn h2;\n"+extra)
	l.stream = strings.Replace(l.stream, "proxy_pass "+l.backend.Addr()+";", "proxy_pass "+nim+";", 1)
	// passthrough wrote nginx-manager.conf for the stand-in (TLS); terminating replaced it
	// with the plaintext one: write the TLS one again.
	_, port, _ := strings.Cut(nim, ":")
	writeFile(t, l.nimConf, []byte("bind_address: 127.0.0.1\ngrpc_port: "+port+"\nserver_name: "+labName+
		"\ncert: "+l.serverCert+"\nkey: "+l.serverK+"\n"), 0o644)
}

// The stream server re-encrypts to nginx-manager and verifies it, by the proxy_pass host
// 127.0.0.1 (proxy_ssl_name's default), which nginx-manager's certificate does not hold as
// a DNS name: NGINX refuses nginx-manager, and the finding predicts its line.
func TestStreamReEncryptNameMismatch(t *testing.T) {
	l := newStreamLab(t)
	l.terminatingToTLSManager(t, "    proxy_ssl on;\n    proxy_ssl_verify on;\n    proxy_ssl_trusted_certificate "+l.rootPEM+";\n")
	l.start(t)
	if rep := l.request(t); rep.Agent != nil && rep.Agent.HTTP != nil && rep.Agent.HTTP.Status == 200 {
		t.Fatalf("the agent's call got through a verification that must fail: %+v", rep.Agent.HTTP)
	}
	const logged = `upstream SSL certificate does not match "127.0.0.1"`
	line, ok := l.front.WaitErrorLog(logged, 3*time.Second)
	if !ok || !strings.Contains(line, "[error]") {
		t.Fatalf("NGINX logged %q:\n%s", line, l.front.ErrorLog())
	}
	res := l.check(t)
	if res.exit != exitFailure {
		t.Errorf("exit %d, want 2:\n%s", res.exit, res.excerpt())
	}
	// Agents see the stream server's certificate, not nginx-manager's (on 127.0.0.1
	// behind it): that one is judged as the stream server verifies it, not as agents would.
	if x, _ := res.find("server-chain-incomplete"); x.Severity != "ok" || strings.Contains(findingText(x), l.nimConf) {
		t.Errorf("nginx-manager's certificate behind a TLS-terminating stream server is judged as the agents' server certificate:\n%s", findingText(x))
	}
	f, _ := res.find("nginx-agent-server-missing")
	if f.Severity != "fail" || f.Cause == nil || f.Cause.Code != "name-mismatch" || !strings.Contains(f.Summary, logged) {
		t.Fatalf("nginx-agent-server-missing %s %+v %q:\n%s", f.Severity, f.Cause, f.Summary, res.excerpt())
	}
	if !strings.Contains(fmt.Sprint(f.Fix), "proxy_ssl_name "+labName+";") {
		t.Errorf("the playbook does not set proxy_ssl_name %s: %+v", labName, f.Fix)
	}
}

// End-to-end encryption, verified by name: nginx-agent-server-missing passes. But NGINX
// 1.22's stream proxy_ssl offers no ALPN (proxy_ssl_alpn came in 1.31.0), and a target
// that picks HTTP/2 by ALPN — the NGINX standing in for nginx-manager here — reads the
// agents' HTTP/2 preface as an HTTP/1.1 request line: nginx-http2-missing warns, and the
// stand-in logs the line the warning names.
func TestStreamReEncryptWithoutALPN(t *testing.T) {
	l := newStreamLab(t)
	l.terminatingToTLSManager(t, "    proxy_ssl on;\n    proxy_ssl_verify on;\n    proxy_ssl_trusted_certificate "+l.rootPEM+
		";\n    proxy_ssl_name "+labName+";\n    proxy_ssl_server_name on;\n")
	l.start(t)
	res := l.check(t)
	l.request(t)
	line, ok := l.nim.WaitErrorLog(`"PRI * HTTP/2.0"`, 3*time.Second)
	if !ok || !strings.Contains(line, "[info]") || !strings.Contains(line, "client sent invalid request") {
		t.Fatalf("the stand-in logged %q:\n%s", line, l.nim.ErrorLog())
	}
	if res.exit != exitWarning {
		t.Errorf("exit %d, want 1:\n%s", res.exit, res.excerpt())
	}
	a, _ := res.find("nginx-agent-server-missing")
	if a.Severity != "ok" || !strings.Contains(findingText(a), "re-encrypts (proxy_ssl on, verifying the target against "+l.rootPEM+")") {
		t.Errorf("nginx-agent-server-missing %s:\n%s", a.Severity, findingText(a))
	}
	f, _ := res.find("nginx-http2-missing")
	if f.Severity != "warn" || !strings.Contains(f.Summary, `"PRI * HTTP/2.0"`) || !strings.Contains(f.Summary, "NGINX 1.") {
		t.Fatalf("nginx-http2-missing %s %q:\n%s", f.Severity, f.Summary, res.excerpt())
	}
	if !strings.Contains(fmt.Sprint(f.Fix), "proxy_ssl_alpn h2;") {
		t.Errorf("the playbook does not offer proxy_ssl_alpn h2: %+v", f.Fix)
	}
}

// TestStreamTerminatorHealthyTwice: both sides on one host, logs read. The first run's
// own probe without a certificate makes the stream server log "client sent no required
// SSL certificate" (a stream line has no request URI to mark it with); the second run
// must not count that line as an agent's failure.
func TestStreamTerminatorHealthyTwice(t *testing.T) {
	l, cfg := newBothSidesStreamLab(t)
	check := func() checkResult {
		return checkJSON(t, nil, "--agent-config", cfg, "--nginx-config", filepath.Join(l.frontDir, nginxtest.ConfName),
			"--nim-config", l.nimConf, "--timeout", "2s")
	}
	first := check()
	if bad := append(first.bySeverity("fail"), first.bySeverity("warn")...); len(bad) > 0 {
		t.Fatalf("first run: %v:\n%s\nerror.log:\n%s", bad, first.excerpt(), l.front.ErrorLog())
	}
	if !strings.Contains(l.front.ErrorLog(), "client sent no required SSL certificate") {
		t.Fatalf("the probe without a certificate left no line in the stream server's log:\n%s", l.front.ErrorLog())
	}
	second := check()
	if bad := append(second.bySeverity("fail"), second.bySeverity("warn")...); len(bad) > 0 || second.exit != first.exit {
		t.Errorf("second run: exit %d (first %d), %v:\n%s\nerror.log:\n%s", second.exit, first.exit, bad, second.excerpt(), l.front.ErrorLog())
	}
}

// TestStreamTerminatorAgentWithoutCertCounted: on the same healthy stream host, a client
// without a certificate that is not mtls-doctor (a TLS client from a port its kernel
// picked, as an agent's) is rejected the same way as the probe's attempt without one.
// Its line must still count, once, in both of two runs, while the probe's lines of both
// runs are set apart.
func TestStreamTerminatorAgentWithoutCertCounted(t *testing.T) {
	l, cfg := newBothSidesStreamLab(t)

	port := agentWithoutCert(t, fmt.Sprintf("127.0.0.1:%d", l.port))
	connected, ok := l.front.WaitErrorLog(fmt.Sprintf("client 127.0.0.1:%d connected to", port), 3*time.Second)
	if !ok {
		t.Fatalf("NGINX logged no connection from port %d:\n%s", port, l.front.ErrorLog())
	}
	conn := connNumber(t, connected)
	if _, ok := l.front.WaitErrorLog(conn+" client sent no required SSL certificate", 3*time.Second); !ok {
		t.Fatalf("NGINX did not reject connection %s for its missing certificate:\n%s", conn, l.front.ErrorLog())
	}
	for run := 1; run <= 2; run++ {
		res := checkJSON(t, nil, "--agent-config", cfg, "--nginx-config", filepath.Join(l.frontDir, nginxtest.ConfName),
			"--nim-config", l.nimConf, "--timeout", "2s")
		f, _ := res.find("agent-cert-not-sent")
		t.Logf("run %d: exit=%d fail=%v warn=%v; agent-cert-not-sent %s: %s", run, res.exit, res.bySeverity("fail"), res.bySeverity("warn"), f.Severity, f.Summary)
		if f.Severity != "fail" || !strings.Contains(f.Summary, "1 agent connection from 127.0.0.1") {
			t.Errorf("run %d: agent-cert-not-sent %s %q, want a failure for the one agent connection:\n%s\nerror.log:\n%s",
				run, f.Severity, f.Summary, findingText(f), l.front.ErrorLog())
		}
		if text := findingText(f); strings.Count(text, "client sent no required SSL certificate") != 2 || !strings.Contains(text, conn+" client sent") {
			t.Errorf("run %d: the evidence is not the agent's one line (%s):\n%s", run, conn, text)
		}
		read, _ := res.find("logs-read")
		if !strings.Contains(findingText(read), "about mtls-doctor's own probe (not counted)") {
			t.Errorf("run %d: logs-read sets no probe lines apart:\n%s", run, findingText(read))
		}
	}
}

// agentWithoutCert completes a TLS handshake with addr offering no client certificate, as
// an agent without one does, from a port the kernel picks that is not one of the probe's,
// and returns that port.
func agentWithoutCert(t *testing.T, addr string) int {
	t.Helper()
	for range 10 {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", addr,
			&tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}}) // the server's certificate is not the point
		if err != nil {
			t.Fatal(err)
		}
		port := c.LocalAddr().(*net.TCPAddr).Port
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		_, _ = c.Write([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))
		_, _ = c.Read(make([]byte, 1))
		c.Close()
		if !slices.Contains(probes.ProbePorts[:], port) {
			return port
		}
	}
	t.Fatal("the kernel gave only the probe's ports")
	return 0
}

// connNumber is the "*N" of an NGINX error-log line.
func connNumber(t *testing.T, line string) string {
	t.Helper()
	_, after, ok := strings.Cut(line, ": *")
	n, _, ok2 := strings.Cut(after, " ")
	if !ok || !ok2 {
		t.Fatalf("no connection number in %q", line)
	}
	return "*" + n
}
