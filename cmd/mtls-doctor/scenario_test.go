package main

import (
	"crypto/x509"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/internal/nginxtest"
	"github.com/mtls-doctor/mtls-doctor/internal/pki"
)

// scenario is one setup of the real-NGINX suite: the healthy lab with one thing broken,
// the finding that must name it, and the line NGINX must have written about it.
type scenario struct {
	name string
	// setup breaks the healthy lab (nil: healthy).
	setup func(t *testing.T, l *lab)
	// want is the finding that must have severity wantSeverity ("" for the healthy lab,
	// which must have no fail or warn at all).
	want, wantSeverity string
	// also are IDs that are as right as want where the agent's host cannot tell more
	// (revocation); the test passes on any of them and notes which.
	also []string
	// wantExit is the process exit code: 0 ok, 2 any failure.
	wantExit int
	// nginxLog is "[level]|text": NGINX must log a line containing both.
	nginxLog string
}

// scenarios are the real-NGINX setups: each breaks exactly one thing the issue lists.
var scenarios = []scenario{
	{
		name: "healthy", wantExit: exitOK,
	},
	{
		name: "no-client-cert", want: "agent-cert-not-configured", wantSeverity: "fail", wantExit: exitFailure,
		setup: func(t *testing.T, l *lab) { l.conf.cert, l.conf.key = "", "" },
		// NGINX 496: logged at info, sent as 400 "No required SSL certificate was sent".
		nginxLog: "[info]|client sent no required SSL certificate while reading client request headers",
	},
	{
		name: "agent-cert-from-other-ca", want: "agent-cert-unknown-ca", wantSeverity: "fail", wantExit: exitFailure,
		setup: func(t *testing.T, l *lab) {
			other := newRoot(t, "other-ca")
			agent := issue(t, other, leafSpec("agent-01.test.local", x509.ExtKeyUsageClientAuth))
			l.conf.cert = writeCerts(t, l.path("agent-other.crt"), agent)
			l.conf.key = writeKey(t, l.path("agent-other.key"), agent)
		},
		// Go withholds a certificate no advertised CA issued, so NGINX sees none at all.
		nginxLog: "[info]|client sent no required SSL certificate while reading client request headers",
	},
	{
		name: "agent-cert-expired", want: "agent-cert-expired", wantSeverity: "fail", wantExit: exitFailure,
		setup: func(t *testing.T, l *lab) {
			l.useAgent(t, issue(t, l.root, expiredSpec("agent-01.test.local", x509.ExtKeyUsageClientAuth)))
		},
		nginxLog: "[info]|client SSL certificate verify error: (10:certificate has expired) while reading client request headers",
	},
	{
		name: "agent-cert-not-yet-valid", want: "agent-cert-not-yet-valid", wantSeverity: "fail", wantExit: exitFailure,
		setup: func(t *testing.T, l *lab) {
			spec := leafSpec("agent-01.test.local", x509.ExtKeyUsageClientAuth)
			spec.From, spec.Until = 48*time.Hour, 400*24*time.Hour
			l.useAgent(t, issue(t, l.root, spec))
		},
		nginxLog: "[info]|client SSL certificate verify error: (9:certificate is not yet valid) while reading client request headers",
	},
	{
		name: "agent-cert-serverauth-only", want: "agent-cert-wrong-purpose", wantSeverity: "fail", wantExit: exitFailure,
		setup: func(t *testing.T, l *lab) {
			l.useAgent(t, issue(t, l.root, leafSpec("agent-01.test.local", x509.ExtKeyUsageServerAuth)))
		},
		nginxLog: "[info]|client SSL certificate verify error: (26:unsuitable certificate purpose) while reading client request headers",
	},
	{
		// Only the manager's CRL or log can tell a revocation apart; from the agent's host
		// the tool sees 400 "The SSL certificate error" after a good handshake.
		name: "agent-cert-revoked", want: "agent-cert-revoked", also: []string{"agent-cert-rejected"},
		wantSeverity: "fail", wantExit: exitFailure,
		setup: func(t *testing.T, l *lab) {
			crl := l.path("ca.crl")
			writeFile(t, crl, crlPEM(t, l.root, l.agent), 0o644)
			l.srv.CRL = crl
		},
		nginxLog: "[info]|client SSL certificate verify error: (23:certificate revoked) while reading client request headers",
	},
	{
		name: "agent-cert-from-recreated-ca", want: "agent-cert-rejected", wantSeverity: "fail", wantExit: exitFailure,
		setup: func(t *testing.T, l *lab) {
			// A CA made again with the same name: Go sends the agent's certificate (its
			// issuer DN is advertised), NGINX cannot verify it.
			twin := newRoot(t, "nms-ca")
			l.useAgent(t, issue(t, twin, leafSpec("agent-01.test.local", x509.ExtKeyUsageClientAuth)))
		},
		nginxLog: "[info]|client SSL certificate verify error: (21:unable to verify the first certificate) while reading client request headers",
	},
	{
		name: "server-san-mismatch", want: "server-name-mismatch", wantSeverity: "fail", wantExit: exitFailure,
		setup: func(t *testing.T, l *lab) { l.conf.command = "nim-other.test.local" },
	},
	{
		name: "server-cert-cn-only", want: "server-cert-cn-only", wantSeverity: "fail", wantExit: exitFailure,
		setup: func(t *testing.T, l *lab) {
			srv := issue(t, l.inter, leafSpec(labName, x509.ExtKeyUsageServerAuth))
			l.srv.Cert = writeCerts(t, l.path("server-cn-only.pem"), srv, l.inter)
			l.srv.Key = writeKey(t, l.path("server-cn-only.key"), srv)
		},
	},
	{
		name: "server-chain-incomplete", want: "server-chain-incomplete", wantSeverity: "fail", wantExit: exitFailure,
		setup: func(t *testing.T, l *lab) {
			l.srv.Cert = l.serverLeaf // no intermediate served
			l.conf.ca = l.rootPEM     // and the agent trusts the root alone
		},
	},
	{
		name: "agent-trusts-wrong-ca", want: "server-cert-untrusted", wantSeverity: "fail", wantExit: exitFailure,
		setup: func(t *testing.T, l *lab) {
			l.conf.ca = writeCerts(t, l.path("other-ca.pem"), newRoot(t, "other-ca"))
		},
	},
	{
		name: "agent-key-mismatch", want: "agent-key-mismatch", wantSeverity: "fail", wantExit: exitFailure,
		setup: func(t *testing.T, l *lab) {
			other := issue(t, l.root, leafSpec("agent-02.test.local", x509.ExtKeyUsageClientAuth))
			l.conf.key = writeKey(t, l.path("agent-other.key"), other)
		},
		// The agent cannot load the pair, so it offers no certificate at all.
		nginxLog: "[info]|client sent no required SSL certificate while reading client request headers",
	},
	{
		// OpenSSL 3 has no TLS 1.1 cipher at its default security level: without
		// SECLEVEL=0 NGINX starts but answers every TLS 1.1 hello with "internal error".
		name: "tls-version-mismatch", want: "tls-version-mismatch", wantSeverity: "fail", wantExit: exitFailure,
		setup: func(t *testing.T, l *lab) {
			l.srv.Protocols, l.srv.Ciphers = "TLSv1.1", "DEFAULT@SECLEVEL=0"
		},
		nginxLog: "[info]|unsupported protocol",
	},
	{
		name: "plaintext-agent-to-tls-port", want: "agent-tls-disabled", wantSeverity: "fail", wantExit: exitFailure,
		setup: func(t *testing.T, l *lab) { l.conf.tlsEnable = false },
		// The h2c preface "PRI * HTTP/2.0" read as an HTTP/1 request line; answered with 400.
		nginxLog: `[info]|client sent invalid request while reading client request line, client: 127.0.0.1, server: nim.test.local, request: "PRI * HTTP/2.0"`,
	},
	{
		name: "tls-agent-to-plaintext-port", want: "endpoint-not-tls", wantSeverity: "fail", wantExit: exitFailure,
		setup: func(t *testing.T, l *lab) {
			l.srv = nginxtest.Server{Port: l.srv.Port, HTTP2: true, ServerName: labName, Backend: l.backend.Addr()}
		},
		nginxLog: "[info]|invalid connection preface while processing HTTP/2 connection",
	},
	{
		name: "closed-port", want: "endpoint-refused", wantSeverity: "fail", wantExit: exitFailure,
		setup: func(t *testing.T, l *lab) { l.noNginx = true },
	},
	{
		name: "listener-without-http2", want: "alpn-h2-missing", wantSeverity: "fail", wantExit: exitFailure,
		setup: func(t *testing.T, l *lab) { l.srv.HTTP2 = false },
	},
	{
		name: "grpc-backend-down", want: "grpc-backend-unavailable", wantSeverity: "fail", wantExit: exitFailure,
		setup: func(t *testing.T, l *lab) {
			l.srv.Backend = fmt.Sprintf("127.0.0.1:%d", nginxtest.FreePort(t))
		},
		nginxLog: "[error]|connect() failed (111: Connection refused) while connecting to upstream",
	},
	{
		// Leaf under two intermediates; the agent sends both, NGINX trusts the root alone
		// and checks to its default ssl_verify_depth of 1.
		name: "verify-depth-exceeded", want: "client-verify-depth", wantSeverity: "fail", wantExit: exitFailure,
		setup: func(t *testing.T, l *lab) {
			a := issue(t, l.root, caSpec("nms-agent-int-a"))
			b := issue(t, a, caSpec("nms-agent-int-b"))
			leaf := issue(t, b, leafSpec("agent-01.test.local", x509.ExtKeyUsageClientAuth))
			l.conf.cert = writeCerts(t, l.path("agent-deep.crt"), leaf, b, a)
			l.conf.key = writeKey(t, l.path("agent-deep.key"), leaf)
			l.srv.ClientCA = l.rootPEM
		},
		// Measured with Debian's nginx 1.22.1 and OpenSSL 3.0: code 20, not 22 "certificate
		// chain too long" nor 2 "unable to get issuer certificate".
		nginxLog: "[info]|client SSL certificate verify error: (20:unable to get local issuer certificate) while reading client request headers",
	},
}

// useAgent replaces the agent's certificate and key files.
func (l *lab) useAgent(t *testing.T, c *pki.Cert) {
	t.Helper()
	l.conf.cert = writeCerts(t, l.path("agent-alt.crt"), c)
	l.conf.key = writeKey(t, l.path("agent-alt.key"), c)
}

// TestScenariosRealNginx runs `mtls-doctor --check -o json` in-process against a real
// NGINX on 127.0.0.1 for the healthy lab and for each broken setup, and asserts the exit
// code, the finding that names the fault, and what NGINX logged.
func TestScenariosRealNginx(t *testing.T) {
	nginxtest.Require(t)
	if len(scenarios) < 16 {
		t.Fatalf("%d scenarios, want at least 15 broken setups and the healthy one", len(scenarios))
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			l := newLab(t)
			if sc.setup != nil {
				sc.setup(t, l)
			}
			cfg := l.start(t)
			res := check(t, cfg)
			t.Logf("RESULT %s: exit=%d fail=%v warn=%v", sc.name, res.exit, res.bySeverity("fail"), res.bySeverity("warn"))

			if sc.want == "" {
				assertHealthy(t, l, res)
			} else {
				assertFinding(t, sc, res)
			}
			if sc.nginxLog != "" {
				assertNginxLog(t, l, sc.nginxLog)
			}
			logConnectionLines(t, l)
		})
	}
}

func assertHealthy(t *testing.T, l *lab, res checkResult) {
	t.Helper()
	if res.exit != exitOK || res.report.Status != "ok" {
		t.Errorf("healthy lab: exit %d, status %q; want 0, ok. Findings:\n%s", res.exit, res.report.Status, res.excerpt())
	}
	if bad := append(res.bySeverity("fail"), res.bySeverity("warn")...); len(bad) > 0 {
		t.Errorf("healthy lab reports %v:\n%s", bad, res.excerpt())
	}
	if l.backend.Requests() == 0 {
		t.Errorf("the probe's gRPC request never reached the backend behind NGINX")
	}
	if line, ok := l.nginx.WaitAccessLog(`"POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0" 200`, 3*time.Second); ok {
		t.Logf("nginx access: %s", line)
	} else {
		t.Errorf("NGINX did not log the agent's request with 200:\n%s", l.nginx.AccessLog())
	}
}

func assertFinding(t *testing.T, sc scenario, res checkResult) {
	t.Helper()
	if res.exit != sc.wantExit {
		t.Errorf("exit %d, want %d", res.exit, sc.wantExit)
	}
	ids := append([]string{sc.want}, sc.also...)
	for _, id := range ids {
		if f, ok := res.find(id); ok && f.Severity == sc.wantSeverity {
			if id != sc.want {
				t.Logf("NOTE %s: reported as %s (%s), not the more specific %s", sc.name, id, f.Severity, sc.want)
			}
			return
		}
	}
	got := "absent"
	if f, ok := res.find(sc.want); ok {
		got = fmt.Sprintf("%s: %s", f.Severity, f.Summary)
	}
	t.Errorf("want %s with severity %s (%s); got %s.\nfail/warn findings:\n%s",
		strings.Join(ids, " or "), sc.wantSeverity, sc.name, got, res.excerpt())
}

// assertNginxLog waits for NGINX's line; want is "[level]|text", both parts required.
func assertNginxLog(t *testing.T, l *lab, want string) {
	t.Helper()
	if l.nginx == nil {
		return
	}
	level, text, _ := strings.Cut(want, "|")
	line, ok := l.nginx.WaitErrorLog(text, 3*time.Second)
	if !ok {
		t.Errorf("NGINX's error log lacks %q:\n%s", text, l.nginx.ErrorLog())
		return
	}
	if !strings.Contains(line, level) {
		t.Errorf("NGINX logged %q at another level than %s", line, level)
	}
	t.Logf("nginx error.log: %s", line)
}

// logConnectionLines records what NGINX said about each connection (lines with "*N"),
// the raw material of the log classifier's fixtures.
func logConnectionLines(t *testing.T, l *lab) {
	t.Helper()
	if l.nginx == nil {
		return
	}
	for line := range strings.Lines(l.nginx.ErrorLog()) {
		if strings.Contains(line, "#") && strings.Contains(line, ": *") {
			t.Logf("nginx: %s", strings.TrimSpace(line))
		}
	}
}

// TestScenarioCatalogIDs keeps the suite honest: every ID it expects is in the catalog.
func TestScenarioCatalogIDs(t *testing.T) {
	known := map[string]bool{}
	for _, c := range diagnostics.DefaultCatalog() {
		known[c.ID] = true
	}
	for _, sc := range scenarios {
		for _, id := range append([]string{sc.want}, sc.also...) {
			if id != "" && !known[id] {
				t.Errorf("scenario %s expects %s, which the catalog does not have", sc.name, id)
			}
		}
	}
	names := map[string]bool{}
	for _, sc := range scenarios {
		if names[sc.name] {
			t.Errorf("duplicate scenario %s", sc.name)
		}
		names[sc.name] = true
	}
}
