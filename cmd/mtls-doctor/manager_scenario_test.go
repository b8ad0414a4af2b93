package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/internal/nginxtest"
	"github.com/mtls-doctor/mtls-doctor/internal/pki"
	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// The manager-side suite: `mtls-doctor --check -o json --nginx-config PATH --cert AGENT.crt`
// run on the manager's real NGINX configuration. For each broken setup NGINX is started
// (or nginx -t shows it refuses the configuration), a real Go client makes the agent's
// gRPC request with the agent's certificate, and the test asserts the manager-side finding
// with the file:line it names and, for verification cases, that the offline prediction is
// the very line NGINX wrote.

// mgrLab is the manager host: a PKI laid out as the NGINX docs' make_certs.sh lays it out,
// NGINX's agent server block and the agent certificate handed to --cert.
type mgrLab struct {
	dir                        string
	root, inter, server, agent *pki.Cert
	rootPEM, caPEM             string
	srv                        nginxtest.Server
	level                      string // error_log level ("" = info)
	agentCert, agentKey        string
	// agentsCA is the PEM file of the CA that issued the agent's certificate when that is
	// not the lab's root (the one a fix that trusts the agents' CA adds).
	agentsCA       string
	backend        *nginxtest.Backend
	conf, confPath string
	nginx          *nginxtest.Instance
}

// grpcErrors is the server-level mapping of NGINX's own errors.grpc_conf for 495/496.
const grpcErrors = `error_page 495 496 = @grpc_unauthenticated;
location @grpc_unauthenticated {
    default_type application/grpc;
    add_header grpc-status 16;
    add_header grpc-message "client certificate rejected";
    return 200;
}
`

func newMgrLab(t *testing.T) *mgrLab {
	t.Helper()
	l := &mgrLab{dir: t.TempDir()}
	l.root = newRoot(t, "nms-ca")
	l.inter = issue(t, l.root, caSpec("nms-int-ca"))
	l.server = issue(t, l.inter, pki.Spec{CommonName: labName, DNSNames: []string{labName},
		EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	l.rootPEM = writeCerts(t, l.path("root.pem"), l.root)
	l.caPEM = writeCerts(t, l.path("ca.pem"), l.inter, l.root)
	l.useAgent(t, issue(t, l.root, leafSpec("agent-01.test.local", x509.ExtKeyUsageClientAuth)))
	l.backend = nginxtest.StartBackend(t)
	l.srv = nginxtest.Server{
		Port: nginxtest.FreePort(t), SSL: true, HTTP2: true, ServerName: labName,
		Cert: writeCerts(t, l.path("server-chain.pem"), l.server, l.inter), Key: writeKey(t, l.path("server.key"), l.server),
		Protocols: "TLSv1.2 TLSv1.3", ClientCA: l.rootPEM, VerifyClient: "on",
		Backend: l.backend.Addr(), Extra: grpcErrors,
	}
	return l
}

func (l *mgrLab) path(name string) string { return filepath.Join(l.dir, name) }

// useAgent makes chain (leaf first) the agent's certificate file.
func (l *mgrLab) useAgent(t *testing.T, chain ...*pki.Cert) {
	t.Helper()
	l.agent = chain[0]
	l.agentCert = writeCerts(t, l.path(fmt.Sprintf("agent-%d.crt", time.Now().UnixNano())), chain...)
	l.agentKey = writeKey(t, l.agentCert+".key", chain[0])
}

// write renders nginx.conf into the instance directory.
func (l *mgrLab) write(t *testing.T) {
	t.Helper()
	ngx := l.path("nginx")
	if err := os.MkdirAll(ngx, 0o755); err != nil {
		t.Fatal(err)
	}
	// The temp paths nginxtest.Config names; nginx -t and -T create nothing themselves.
	for _, p := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		if err := os.MkdirAll(filepath.Join(ngx, "tmp", p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	l.conf = nginxtest.Config{Dir: ngx, ServerBlock: l.srv.Block(), ErrorLogLevel: l.level}.String()
	l.confPath = filepath.Join(ngx, nginxtest.ConfName)
	writeFile(t, l.confPath, []byte(l.conf), 0o644)
}

// lineOf is the file:line of the first configuration line containing text.
func (l *mgrLab) lineOf(t *testing.T, text string) string {
	t.Helper()
	for i, line := range strings.Split(l.conf, "\n") {
		if strings.Contains(line, text) {
			return fmt.Sprintf("%s:%d", l.confPath, i+1)
		}
	}
	t.Fatalf("the configuration has no line with %q:\n%s", text, l.conf)
	return ""
}

// mgrScenario is one manager-side setup.
type mgrScenario struct {
	name  string
	setup func(t *testing.T, l *mgrLab)
	// want is the finding with severity sev; at is a configuration line whose file:line the
	// finding must name (in its summary or evidence).
	want, sev, at string
	// rejected is what nginx -t must say; NGINX is then not started.
	rejected string
	// verify: the finding predicts NGINX's log line, and the real request must make NGINX
	// write exactly that line.
	verify bool
	// client checks the real agent request (nil: none beyond verify).
	client func(t *testing.T, l *mgrLab, rep *probes.EndpointReport)
}

var mgrScenarios = []mgrScenario{
	{name: "healthy"},
	{
		name: "chain-exceeds-verify-depth", want: "client-verify-depth", sev: "fail", verify: true,
		at: "server {",
		setup: func(t *testing.T, l *mgrLab) {
			a := issue(t, l.root, caSpec("nms-agent-int-a"))
			b := issue(t, a, caSpec("nms-agent-int-b"))
			l.useAgent(t, issue(t, b, leafSpec("agent-01.test.local", x509.ExtKeyUsageClientAuth)), b, a)
		},
	},
	{
		name: "agent-from-other-ca", want: "agent-cert-unknown-ca", sev: "fail", verify: true,
		at: "ssl_client_certificate",
		setup: func(t *testing.T, l *mgrLab) {
			other := newRoot(t, "other-ca")
			l.agentsCA = writeCerts(t, l.path("agents-ca.pem"), other)
			l.useAgent(t, issue(t, other, leafSpec("agent-01.test.local", x509.ExtKeyUsageClientAuth)))
		},
	},
	{
		name: "agent-from-recreated-ca", want: "agent-cert-unknown-ca", sev: "fail", verify: true,
		setup: func(t *testing.T, l *mgrLab) {
			other := newRoot(t, "nms-ca")
			l.agentsCA = writeCerts(t, l.path("agents-ca.pem"), other)
			l.useAgent(t, issue(t, other, leafSpec("agent-01.test.local", x509.ExtKeyUsageClientAuth)))
		},
	},
	{
		// --cert is judged by the agent-certificate checks' own rules: the cause has its
		// own ID, and agent-cert-rejected names it with NGINX's predicted line.
		name: "agent-cert-expired", want: "agent-cert-expired", sev: "fail", verify: true,
		setup: func(t *testing.T, l *mgrLab) {
			l.useAgent(t, issue(t, l.root, expiredSpec("agent-01.test.local", x509.ExtKeyUsageClientAuth)))
		},
	},
	{
		name: "agent-cert-not-yet-valid", want: "agent-cert-not-yet-valid", sev: "fail", verify: true,
		setup: func(t *testing.T, l *mgrLab) {
			spec := leafSpec("agent-01.test.local", x509.ExtKeyUsageClientAuth)
			spec.From, spec.Until = 48*time.Hour, 400*24*time.Hour
			l.useAgent(t, issue(t, l.root, spec))
		},
	},
	{
		name: "agent-cert-serverauth-only", want: "agent-cert-wrong-purpose", sev: "fail", verify: true,
		setup: func(t *testing.T, l *mgrLab) {
			l.useAgent(t, issue(t, l.root, leafSpec("agent-01.test.local", x509.ExtKeyUsageServerAuth)))
		},
	},
	{
		name: "agent-cert-rsa-1024", want: "agent-cert-weak-key", sev: "fail", verify: true,
		setup: func(t *testing.T, l *mgrLab) {
			spec := leafSpec("agent-01.test.local", x509.ExtKeyUsageClientAuth)
			spec.Key, spec.Bits = pki.RSA, 1024
			l.useAgent(t, issue(t, l.root, spec))
		},
	},
	{
		name: "agent-cert-revoked", want: "agent-cert-revoked", sev: "fail", verify: true, at: "ssl_crl",
		setup: func(t *testing.T, l *mgrLab) {
			l.srv.CRL = l.path("crl.pem")
			writeFile(t, l.srv.CRL, crlPEM(t, l.root, l.agent), 0o644)
		},
	},
	{
		name: "crl-expired", want: "crl-expired", sev: "fail", verify: true, at: "ssl_crl",
		setup: func(t *testing.T, l *mgrLab) {
			der, err := pki.New(time.Now().Add(-30 * 24 * time.Hour)).CRL(l.root)
			if err != nil {
				t.Fatal(err)
			}
			l.srv.CRL = l.path("crl.pem")
			writeFile(t, l.srv.CRL, pki.CRLPEM(der), 0o644)
		},
	},
	{
		name: "crl-missing-for-intermediate", want: "crl-missing", sev: "fail", verify: true, at: "ssl_crl",
		setup: func(t *testing.T, l *mgrLab) {
			l.useAgent(t, issue(t, l.inter, leafSpec("agent-01.test.local", x509.ExtKeyUsageClientAuth)), l.inter)
			l.srv.CRL = l.path("crl.pem")
			writeFile(t, l.srv.CRL, crlPEM(t, l.root), 0o644)
		},
	},
	{
		name: "listener-without-http2", want: "nginx-http2-missing", sev: "fail", at: "listen 127.0.0.1",
		setup: func(t *testing.T, l *mgrLab) { l.srv.HTTP2 = false },
		client: func(t *testing.T, l *mgrLab, rep *probes.EndpointReport) {
			// NGINX 1.21.4+ aborts the handshake, as nginx-http2-missing says agents will see.
			if tlsObs := rep.Agent.TLS; tlsObs.ALPN != "" || tlsObs.Error == nil || !strings.Contains(tlsObs.Error.Message, "no application protocol") {
				t.Errorf("the real client negotiated ALPN %q (error %v), want none and a failure", tlsObs.ALPN, tlsObs.Error)
			} else {
				t.Logf("real client: %s", tlsObs.Error.Message)
			}
		},
	},
	{
		name: "verify-optional-unenforced", want: "client-auth-not-required", sev: "warn", at: "ssl_verify_client optional",
		setup: func(t *testing.T, l *mgrLab) { l.srv.VerifyClient = "optional" },
		client: func(t *testing.T, l *mgrLab, rep *probes.EndpointReport) {
			if h := rep.NoCert.HTTP; h == nil || h.ContentType != "application/grpc" {
				t.Errorf("a request without a certificate should reach the gRPC backend; got %+v", h)
			}
		},
	},
	{
		name: "optional-no-ca", want: "nginx-ssl-verify-optional-no-ca", sev: "warn", at: "ssl_verify_client optional_no_ca",
		setup: func(t *testing.T, l *mgrLab) {
			l.srv.VerifyClient = "optional_no_ca"
			l.useAgent(t, issue(t, newRoot(t, "other-ca"), leafSpec("intruder", x509.ExtKeyUsageClientAuth)))
			l.srv.Extra += "ssl_trusted_certificate " + l.rootPEM + ";\n"
			l.srv.ClientCA = ""
		},
		client: func(t *testing.T, l *mgrLab, rep *probes.EndpointReport) {
			if h := rep.Agent.HTTP; h == nil || h.ContentType != "application/grpc" || l.backend.Requests() == 0 {
				t.Errorf("a certificate from an unknown CA should reach the gRPC backend; got %+v", h)
			}
		},
	},
	{
		name: "error-page-inside-location", want: "nginx-error-page-in-location", sev: "warn", at: "error_page 495 496 = @grpc_unauthenticated",
		setup: func(t *testing.T, l *mgrLab) {
			l.srv.Extra = strings.Replace(grpcErrors, "error_page 495 496 = @grpc_unauthenticated;\n", "", 1) +
				"location /f5.nginx.agent.sdk.Commander/ {\n    error_page 495 496 = @grpc_unauthenticated;\n    grpc_pass grpc://" + l.backend.Addr() + ";\n}\n"
			l.useAgent(t, issue(t, l.root, expiredSpec("agent-01.test.local", x509.ExtKeyUsageClientAuth)))
		},
		client: func(t *testing.T, l *mgrLab, rep *probes.EndpointReport) {
			if h := rep.Agent.HTTP; h == nil || h.Status != 400 || h.ContentType != "text/html" {
				t.Errorf("the location's error_page must not fire: want NGINX's HTML 400, got %+v", h)
			}
		},
	},
	{
		name: "error-log-at-notice", want: "nginx-log-level-hides-mtls", sev: "warn", at: "error_log ",
		setup: func(t *testing.T, l *mgrLab) {
			l.level = "notice"
			l.useAgent(t, issue(t, l.root, expiredSpec("agent-01.test.local", x509.ExtKeyUsageClientAuth)))
		},
		client: func(t *testing.T, l *mgrLab, rep *probes.EndpointReport) {
			time.Sleep(200 * time.Millisecond) // NGINX writes a request's lines as it handles it
			if strings.Contains(l.nginx.ErrorLog(), "client SSL certificate verify error") {
				t.Errorf("NGINX logged the [info] line at level notice:\n%s", l.nginx.ErrorLog())
			}
		},
	},
	{
		name: "grpc-errors-unmapped", want: "nginx-grpc-errors-unmapped", sev: "warn", at: "server {",
		setup: func(t *testing.T, l *mgrLab) {
			l.srv.Extra = ""
			other := newRoot(t, "nms-ca")
			l.agentsCA = writeCerts(t, l.path("agents-ca.pem"), other)
			l.useAgent(t, issue(t, other, leafSpec("agent-01.test.local", x509.ExtKeyUsageClientAuth)))
		},
		client: func(t *testing.T, l *mgrLab, rep *probes.EndpointReport) {
			if h := rep.Agent.HTTP; h == nil || h.Status != 400 || h.ContentType != "text/html" {
				t.Errorf("want NGINX's HTML 400 for the rejected agent, got %+v", h)
			}
		},
	},
	{
		name: "tls-1.1-still-on", want: "nginx-tls-protocols", sev: "warn", at: "ssl_protocols",
		setup: func(t *testing.T, l *mgrLab) { l.srv.Protocols = "TLSv1.1 TLSv1.2" },
	},
	{
		name: "server-name-not-in-certificate", want: "server-name-mismatch", sev: "fail",
		setup: func(t *testing.T, l *mgrLab) { l.srv.ServerName = "nim-other.test.local" },
		client: func(t *testing.T, l *mgrLab, rep *probes.EndpointReport) {
			leaf := rep.Agent.TLS.PeerChain[0]
			if err := leaf.VerifyHostname("nim-other.test.local"); err == nil {
				t.Errorf("the served certificate unexpectedly covers the server_name")
			}
		},
	},
	{
		name: "leaf-served-alone", want: "server-chain-incomplete", sev: "warn",
		setup: func(t *testing.T, l *mgrLab) { l.srv.Cert = writeCerts(t, l.path("server-leaf.pem"), l.server) },
		client: func(t *testing.T, l *mgrLab, rep *probes.EndpointReport) {
			if n := len(rep.Agent.TLS.PeerChain); n != 1 {
				t.Errorf("NGINX served %d certificates, want the leaf alone", n)
			}
		},
	},
	{
		name: "http2-on-before-1.25.1", want: "nginx-config-invalid", sev: "fail", at: "http2 on",
		rejected: `unknown directive "http2"`,
		setup: func(t *testing.T, l *mgrLab) {
			l.srv.HTTP2 = false
			l.srv.Extra += "http2 on;\n"
		},
	},
	{
		name: "key-does-not-match", want: "nginx-config-invalid", sev: "fail", rejected: "key values mismatch",
		setup: func(t *testing.T, l *mgrLab) {
			l.srv.Key = writeKey(t, l.path("other.key"), issue(t, l.root, leafSpec("x")))
		},
	},
	{
		name: "client-ca-file-missing", want: "nginx-config-invalid", sev: "fail", rejected: "ca-gone.pem",
		setup: func(t *testing.T, l *mgrLab) { l.srv.ClientCA = l.path("ca-gone.pem") },
	},
	{
		name: "no-agent-locations", want: "nginx-agent-server-missing", sev: "fail",
		setup: func(t *testing.T, l *mgrLab) {
			l.srv.Backend = ""
			l.srv.Extra += "location / {\n    return 404;\n}\n"
		},
	},
}

// checkManager runs `mtls-doctor --check -o json --nginx-config PATH --cert AGENT.crt`
// in-process, with no agent configuration.
func checkManager(t *testing.T, l *mgrLab) checkResult {
	t.Helper()
	return checkJSON(t, nil, "--nginx-config", l.confPath, "--cert", l.agentCert, "--timeout", "2s")
}

// nginxVerdictRE finds NGINX's client-certificate verdict in a log line or a finding.
var nginxVerdictRE = regexp.MustCompile(`client SSL certificate verify error: \(\d+:[^)]*\)|client sent no required SSL certificate`)

// findingText is everything a finding says, for searching.
func findingText(f diagnostics.JSONFinding) string {
	parts := []string{f.Summary}
	for _, e := range f.Evidence {
		parts = append(parts, e.Text, e.Location)
		parts = append(parts, e.Quote...)
	}
	return strings.Join(parts, "\n")
}

func TestManagerScenariosRealNginx(t *testing.T) {
	bin := nginxtest.Require(t)
	if len(mgrScenarios) < 11 {
		t.Fatalf("%d scenarios, want at least 10 broken setups and the healthy one", len(mgrScenarios))
	}
	for _, sc := range mgrScenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			l := newMgrLab(t)
			if sc.setup != nil {
				sc.setup(t, l)
			}
			l.write(t)
			if sc.rejected != "" {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				err := nginxconf.Test(ctx, bin, l.confPath)
				if err == nil || !strings.Contains(err.Error(), sc.rejected) {
					t.Fatalf("nginx -t: got %v, want an error with %q", err, sc.rejected)
				}
				t.Logf("nginx -t: %v", err)
			} else {
				l.nginx = nginxtest.Start(t, filepath.Dir(l.confPath), l.conf)
			}

			res := checkManager(t, l)
			t.Logf("RESULT %s: exit=%d fail=%v warn=%v", sc.name, res.exit, res.bySeverity("fail"), res.bySeverity("warn"))
			if sc.want == "" {
				assertManagerHealthy(t, l, res)
			} else {
				assertManagerFinding(t, l, sc, res)
			}
			if sc.rejected != "" {
				f, _ := res.find("nginx-config-invalid")
				if !strings.Contains(findingText(f), sc.rejected) {
					t.Errorf("nginx-config-invalid does not carry nginx -t's words %q:\n%s", sc.rejected, findingText(f))
				}
				return
			}
			rep := agentRequest(t, l)
			if sc.verify {
				assertPredictionLogged(t, l, sc, res)
			}
			if sc.client != nil {
				sc.client(t, l, rep)
			}
		})
	}
}

// agentRequest is the agent's first call made by a real Go client with the agent's
// certificate (and a second attempt without one), as the probe makes it.
func agentRequest(t *testing.T, l *mgrLab) *probes.EndpointReport {
	t.Helper()
	cert, err := probes.LoadClientCertificate(l.agentCert, l.agentKey)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep := probes.ProbeEndpoint(ctx, probes.EndpointOptions{Address: l.nginx.Addr(), ServerName: labName,
		Path: probes.PathV2CommandChannel, ClientCert: cert, Timeout: 2 * time.Second})
	if rep.Agent == nil || rep.Agent.TLS == nil {
		t.Fatalf("the agent's request reached no TLS handshake: %+v", rep)
	}
	return rep
}

func assertManagerHealthy(t *testing.T, l *mgrLab, res checkResult) {
	t.Helper()
	if tg := res.report.Target; tg == nil || tg.NginxConfig != l.confPath {
		t.Errorf("JSON target %+v, want nginx_config %s", tg, l.confPath)
	}
	roles := map[string]int{}
	for _, c := range res.report.Certificates {
		roles[c.Role]++
	}
	if roles["server"] != 1 || roles["agent"] != 1 {
		t.Errorf("certificates by role %v, want the served one (role server) and the --cert one", roles)
	}
	if res.exit != exitOK {
		t.Errorf("healthy manager: exit %d, want 0:\n%s", res.exit, res.excerpt())
	}
	for _, f := range res.report.Findings {
		if f.Category == string(diagnostics.CategoryManager) && f.Severity != "ok" && !strings.HasPrefix(f.Summary, "skipped: no ssl_crl") {
			t.Errorf("healthy manager: %s is %s: %s", f.ID, f.Severity, f.Summary)
		}
	}
	if f, _ := res.find("agent-cert-rejected"); f.Severity != "ok" {
		t.Errorf("healthy manager: agent-cert-rejected is %s: %s", f.Severity, f.Summary)
	}
}

func assertManagerFinding(t *testing.T, l *mgrLab, sc mgrScenario, res checkResult) {
	t.Helper()
	f, ok := res.find(sc.want)
	if !ok || f.Severity != sc.sev {
		t.Fatalf("want %s %s; got %+v\nfail/warn findings:\n%s", sc.want, sc.sev, f, res.excerpt())
	}
	wantExit := exitWarning
	if len(res.bySeverity("fail")) > 0 {
		wantExit = exitFailure
	}
	if res.exit != wantExit {
		t.Errorf("exit %d, want %d", res.exit, wantExit)
	}
	if sc.at != "" {
		pos := l.lineOf(t, sc.at)
		if !strings.Contains(findingText(f), pos) {
			t.Errorf("%s does not name %s (the line with %q):\n%s", sc.want, pos, sc.at, findingText(f))
		}
	}
	if f.Severity == "fail" || f.Severity == "warn" {
		if len(f.Fix) == 0 {
			t.Errorf("%s has no playbook", sc.want)
		}
	}
	// No agent-side check may fail or warn: there is no agent configuration here.
	for _, x := range res.report.Findings {
		if x.Category == string(diagnostics.CategoryAgentConfig) && x.Severity != "skip" {
			t.Errorf("agent-side %s is %s on a manager-only run: %s", x.ID, x.Severity, x.Summary)
		}
	}
}

// assertPredictionLogged requires the finding's predicted NGINX line to be the line NGINX
// wrote for the agent's request.
func assertPredictionLogged(t *testing.T, l *mgrLab, sc mgrScenario, res checkResult) {
	t.Helper()
	f, _ := res.find(sc.want)
	predicted := nginxVerdictRE.FindString(findingText(f))
	if predicted == "" {
		rejected, _ := res.find("agent-cert-rejected")
		predicted = nginxVerdictRE.FindString(findingText(rejected))
	}
	if predicted == "" {
		t.Fatalf("%s predicts no NGINX line:\n%s", sc.want, findingText(f))
	}
	// The probe makes two requests at once, the agent's and one without a certificate
	// (NGINX: "client sent no required SSL certificate"), in either order. The agent's
	// verdict is the other line, or a second such line when the agent sent nothing.
	const noCert = "client sent no required SSL certificate"
	var verdicts []string
	deadline := time.Now().Add(3 * time.Second)
	for len(verdicts) < 2 && time.Now().Before(deadline) {
		verdicts = verdicts[:0]
		for _, line := range strings.Split(l.nginx.ErrorLog(), "\n") {
			if strings.Contains(line, "while reading client request headers") {
				verdicts = append(verdicts, nginxVerdictRE.FindString(line))
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(verdicts) < 2 {
		t.Fatalf("NGINX logged %d client-certificate verdicts, want 2 (agent and no certificate):\n%s", len(verdicts), l.nginx.ErrorLog())
	}
	agentVerdict := verdicts[0]
	if agentVerdict == noCert {
		agentVerdict = verdicts[1]
	}
	if agentVerdict != predicted {
		t.Errorf("NGINX logged %q for the agent, the finding predicted %q\nnginx:\n%s", agentVerdict, predicted, l.nginx.ErrorLog())
	} else {
		t.Logf("predicted and logged: %s", agentVerdict)
	}
}

// TestManagerScenarioCatalogIDs: every ID the suite expects is in the catalog.
func TestManagerScenarioCatalogIDs(t *testing.T) {
	c := diagnostics.DefaultCatalog()
	for _, sc := range mgrScenarios {
		if _, ok := c.Lookup(sc.want); sc.want != "" && !ok {
			t.Errorf("scenario %s expects %s, which the catalog does not have", sc.name, sc.want)
		}
	}
}

// TestManagerFromNginxDump is the support engineer's path: `nginx -T` output collected on
// the manager and fed to --nginx-config - on standard input. Findings point into the
// original files, and the certificate files, absent here, are not reported missing.
func TestManagerFromNginxDump(t *testing.T) {
	bin := nginxtest.Require(t)
	l := newMgrLab(t)
	l.srv.VerifyClient = "optional"
	l.srv.Protocols = "TLSv1.1 TLSv1.2"
	l.write(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dump, err := nginxconf.Dump(ctx, bin, l.confPath)
	if err != nil {
		t.Fatal(err)
	}
	var stdin bytes.Buffer
	if _, err := stdin.ReadFrom(dump); err != nil {
		t.Fatal(err)
	}
	// The files the configuration names stay on the manager.
	for _, p := range []string{l.srv.Cert, l.srv.Key, l.srv.ClientCA} {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	res := checkJSON(t, &stdin, "--nginx-config", "-")
	for id, line := range map[string]string{"client-auth-not-required": "ssl_verify_client optional", "nginx-tls-protocols": "ssl_protocols"} {
		f, ok := res.find(id)
		if !ok || f.Severity != "warn" || !strings.Contains(findingText(f), l.lineOf(t, line)) {
			t.Errorf("%s: got %+v, want a warning naming %s", id, f, l.lineOf(t, line))
		}
	}
	for _, id := range []string{"nginx-config-invalid", "nginx-client-ca-missing"} {
		if f, _ := res.find(id); f.Severity == "fail" {
			t.Errorf("%s fails on files that are only absent from this host: %s", id, f.Summary)
		}
	}
	if res.exit != exitWarning {
		t.Errorf("exit %d, want 1:\n%s", res.exit, res.excerpt())
	}
}

// TestBothSidesRealNginx runs the agent-side lab with --nginx-config as well: the agent's
// probe sees NGINX's 400, and the configuration explains it; the prediction in the
// evidence is the line NGINX logs.
func TestBothSidesRealNginx(t *testing.T) {
	nginxtest.Require(t)
	l := newLab(t)
	a := issue(t, l.root, caSpec("nms-agent-int-a"))
	b := issue(t, a, caSpec("nms-agent-int-b"))
	leaf := issue(t, b, leafSpec("agent-01.test.local", x509.ExtKeyUsageClientAuth))
	l.conf.cert = writeCerts(t, l.path("agent-deep.crt"), leaf, b, a)
	l.conf.key = writeKey(t, l.path("agent-deep.key"), leaf)
	l.srv.ClientCA = l.rootPEM
	cfg := l.start(t)
	confPath := filepath.Join(l.dir, "nginx", nginxtest.ConfName)

	res := checkJSON(t, nil, "--agent-config", cfg, "--nginx-config", confPath, "--timeout", "2s")
	f, _ := res.find("client-verify-depth")
	text := findingText(f)
	if f.Severity != "fail" || !strings.Contains(text, "needs ssl_verify_depth 2") {
		t.Fatalf("client-verify-depth: %s %q\n%s", f.Severity, f.Summary, res.excerpt())
	}
	// Both halves failed: one leads, the other is evidence.
	if !strings.Contains(text, "the NGINX configuration says (fail)") && !strings.Contains(text, "the probe from the agent's side says (fail)") {
		t.Errorf("the finding does not show both sides:\n%s", text)
	}
	predicted := nginxVerdictRE.FindString(text)
	line, ok := l.nginx.WaitErrorLog("client SSL certificate verify error", 3*time.Second)
	if !ok || predicted == "" || nginxVerdictRE.FindString(line) != predicted {
		t.Errorf("predicted %q, NGINX logged %q", predicted, line)
	}
	if res.exit != exitFailure {
		t.Errorf("exit %d, want 2", res.exit)
	}
}
