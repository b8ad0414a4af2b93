package main

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/logparse"
	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxlab"
)

// TestHealthyBothSidesRepeated is the cron or Nagios check on a healthy host that runs both
// the agent and the NGINX it reports to, with NGINX's error_log at info: every run's probe
// makes NGINX log a request without a certificate, and the next run reads it. Two runs in
// a row must both exit 0 with no failure or warning, the logs must have been read, and
// the probe's lines must be counted as its own.
func TestHealthyBothSidesRepeated(t *testing.T) {
	nginxlab.Require(t)
	l := newLab(t)
	// The manager's side as the manager suite's healthy NGINX has it.
	l.srv.Protocols, l.srv.Extra = "TLSv1.2 TLSv1.3", grpcErrors
	cfg := l.start(t)
	confPath := filepath.Join(l.dir, "nginx", nginxlab.ConfName)
	for run := 1; run <= 2; run++ {
		res := checkJSON(t, nil, "--agent-config", cfg, "--nginx-config", confPath, "--timeout", "2s")
		t.Logf("run %d: exit=%d fail=%v warn=%v", run, res.exit, res.bySeverity("fail"), res.bySeverity("warn"))
		if res.exit != exitOK {
			t.Errorf("run %d: exit %d, want 0:\n%s", run, res.exit, res.excerpt())
		}
		for _, f := range res.report.Findings {
			if f.Severity == "fail" || f.Severity == "warn" {
				t.Errorf("run %d: %s is %s: %s", run, f.ID, f.Severity, f.Summary)
			}
		}
		read, _ := res.find("logs-read")
		if read.Severity != "ok" || !strings.Contains(findingText(read), l.nginx.Dir()) {
			t.Errorf("run %d: logs-read %s %q does not name NGINX's logs:\n%s", run, read.Severity, read.Summary, findingText(read))
		}
		// NGINX's line for the first run's probe without a certificate, which the second
		// run read and set aside.
		line, ok := l.nginx.WaitErrorLog(logparse.OwnProbeQuery, 3*time.Second)
		if !ok || !strings.Contains(line, "[info]") || !strings.Contains(line, "client sent no required SSL certificate") {
			t.Fatalf("NGINX did not log the probe's request without a certificate at info:\n%s", l.nginx.ErrorLog())
		}
		if run == 2 && !strings.Contains(findingText(read), "about mtls-doctor's own probe (not counted)") {
			t.Errorf("run 2: logs-read does not count the first run's probe lines apart:\n%s", findingText(read))
		}
	}
	if f, _ := checkJSON(t, nil, "--agent-config", cfg, "--nginx-config", confPath, "--timeout", "2s").find("agent-cert-not-sent"); f.Severity != "ok" {
		t.Errorf("agent-cert-not-sent after two runs: %s %s", f.Severity, f.Summary)
	}
}

// TestPlainProxyNotAManager: a real NGINX that is an ordinary TLS reverse proxy, named with
// --nginx-config on a host without NGINX Instance Manager or an agent, serves no agents and
// is not broken for it: nginx-agent-server-missing is info and the run does not fail. With
// --server pointing at its port the user says agents should reach it, and it fails.
func TestPlainProxyNotAManager(t *testing.T) {
	nginxlab.Require(t)
	l := newMgrLab(t)
	l.srv.Backend, l.srv.ClientCA, l.srv.VerifyClient, l.srv.ServerName = "", "", "", "www.test.local"
	l.srv.Extra = "location / {\n    proxy_pass http://" + l.backend.Addr() + ";\n}\n"
	l.write(t)
	l.nginx = nginxlab.Start(t, filepath.Dir(l.confPath), l.conf)

	res := checkJSON(t, nil, "--nginx-config", l.confPath, "--timeout", "2s")
	f, _ := res.find("nginx-agent-server-missing")
	t.Logf("plain proxy: exit=%d fail=%v warn=%v; %s: %s", res.exit, res.bySeverity("fail"), res.bySeverity("warn"), f.Severity, f.Summary)
	if f.Severity != "info" || !strings.Contains(f.Summary, "serves no agents") {
		t.Errorf("nginx-agent-server-missing on a plain proxy: %s %q, want info", f.Severity, f.Summary)
	}
	if fails := res.bySeverity("fail"); len(fails) > 0 || res.exit > exitWarning {
		t.Errorf("plain proxy: exit %d, failures %v; want 0 or 1 and none:\n%s", res.exit, fails, res.excerpt())
	}

	res = checkJSON(t, nil, "--nginx-config", l.confPath, "--server", l.nginx.Addr(), "--timeout", "2s")
	f, _ = res.find("nginx-agent-server-missing")
	if f.Severity != "fail" || !strings.Contains(findingText(f), l.nginx.Addr()) || res.exit != exitFailure {
		t.Errorf("with --server %s: %s %q (exit %d), want a failure naming the address:\n%s",
			l.nginx.Addr(), f.Severity, f.Summary, res.exit, findingText(f))
	}
}

// TestChainFromNginxCAFile: the agent's certificate is issued by an intermediate and its
// cert file holds only the leaf, but NGINX's ssl_client_certificate holds the intermediate
// (and advertises it), and the default ssl_verify_depth 1 allows it: NGINX accepts the
// agent and the request reaches the backend. agent-chain-incomplete warns, naming NGINX's
// CA file as what supplies the intermediate, and nothing fails — on the agent side alone
// and with both sides.
func TestChainFromNginxCAFile(t *testing.T) {
	nginxlab.Require(t)
	l := newLab(t)
	l.srv.Protocols, l.srv.Extra = "TLSv1.2 TLSv1.3", grpcErrors
	leaf := issue(t, l.inter, leafSpec("agent-01.test.local", x509.ExtKeyUsageClientAuth))
	l.conf.cert = writeCerts(t, l.path("agent-leaf-only.crt"), leaf)
	l.conf.key = writeKey(t, l.path("agent-leaf-only.key"), leaf)
	cfg := l.start(t)
	confPath := filepath.Join(l.dir, "nginx", nginxlab.ConfName)
	for _, args := range [][]string{
		{"--agent-config", cfg, "--timeout", "2s"},
		{"--agent-config", cfg, "--nginx-config", confPath, "--timeout", "2s"},
	} {
		res := checkJSON(t, nil, args...)
		f, _ := res.find("agent-chain-incomplete")
		t.Logf("%v: exit=%d fail=%v warn=%v; agent-chain-incomplete %s: %s", args, res.exit, res.bySeverity("fail"), res.bySeverity("warn"), f.Severity, f.Summary)
		if f.Severity != "warn" || !strings.Contains(f.Summary, "ssl_client_certificate") {
			t.Errorf("agent-chain-incomplete: %s %q, want a warning naming ssl_client_certificate", f.Severity, f.Summary)
		}
		if fails := res.bySeverity("fail"); len(fails) > 0 || res.exit != exitWarning {
			t.Errorf("exit %d, failures %v; want 1 and none:\n%s", res.exit, fails, res.excerpt())
		}
	}
	if line, ok := l.nginx.WaitAccessLog(`"POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0" 200`, 3*time.Second); !ok ||
		!strings.Contains(line, "verify=SUCCESS") {
		t.Errorf("NGINX did not accept the agent's leaf-only certificate:\n%s", l.nginx.AccessLog())
	} else {
		t.Logf("nginx access: %s", line)
	}
	if l.backend.Requests() == 0 {
		t.Error("the agent's request never reached the backend")
	}
}

// TestRelativeTLSPathsNextToConfig: the agent's configuration names its certificate, key
// and CA relative ("agent.crt"), and they sit next to the configuration, not in "/" where
// a systemd agent without WorkingDirectory= looks. The run judges those files (the
// certificate checks pass instead of being skipped), warns which directory it assumed and
// why, and the probe with them reaches the backend through a real NGINX.
func TestRelativeTLSPathsNextToConfig(t *testing.T) {
	nginxlab.Require(t)
	l := newLab(t)
	l.conf.cert, l.conf.key, l.conf.ca = filepath.Base(l.agentCert), filepath.Base(l.agentKey), filepath.Base(l.caPEM)
	cfg := l.start(t)
	res := check(t, cfg)
	f, _ := res.find("agent-tls-path-relative")
	t.Logf("exit=%d fail=%v warn=%v; %s: %s", res.exit, res.bySeverity("fail"), res.bySeverity("warn"), f.Severity, f.Summary)
	if f.Severity != "warn" || !strings.Contains(f.Summary, "the configuration file's directory") ||
		!strings.Contains(f.Summary, l.agentCert) || !strings.Contains(f.Summary, "working directory") {
		t.Errorf("agent-tls-path-relative: %s %q, want a warning naming %s and the directory assumed", f.Severity, f.Summary, l.agentCert)
	}
	for _, id := range []string{"agent-cert-expired", "agent-key-mismatch", "agent-cert-rejected", "server-cert-untrusted"} {
		if g, _ := res.find(id); g.Severity != "ok" {
			t.Errorf("%s is %s (%s), want ok: the files were there to judge", id, g.Severity, g.Summary)
		}
	}
	if fails := res.bySeverity("fail"); len(fails) > 0 || res.exit != exitWarning {
		t.Errorf("exit %d, failures %v; want 1 and none:\n%s", res.exit, fails, res.excerpt())
	}
	if line, ok := l.nginx.WaitAccessLog(`"POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0" 200`, 3*time.Second); !ok {
		t.Errorf("NGINX did not accept the probe with the assumed files:\n%s", l.nginx.AccessLog())
	} else {
		t.Logf("nginx access: %s", line)
	}
}

// TestLiveVerdictNamesTheCause: on the agent's host with NGINX's error log at hand
// (--logs), the reason NGINX logged for mtls-doctor's own request names the finding in
// the same run: a revocation (ssl_crl, invisible from the agent's files) fails
// agent-cert-revoked, an expired certificate agent-cert-expired, a CA recreated under
// the same name (21) agent-cert-unknown-ca; agent-cert-rejected then says NGINX's reason
// and which ID carries it.
func TestLiveVerdictNamesTheCause(t *testing.T) {
	nginxlab.Require(t)
	for _, tc := range []struct {
		name, want, logged string
		setup              func(t *testing.T, l *lab)
	}{
		{"revoked", "agent-cert-revoked", "(23:certificate revoked)", func(t *testing.T, l *lab) {
			l.srv.CRL = l.path("ca.crl")
			writeFile(t, l.srv.CRL, crlPEM(t, l.root, l.agent), 0o644)
		}},
		{"expired", "agent-cert-expired", "(10:certificate has expired)", func(t *testing.T, l *lab) {
			l.useAgent(t, issue(t, l.root, expiredSpec("agent-01.test.local", x509.ExtKeyUsageClientAuth)))
		}},
		{"recreated-ca", "agent-cert-unknown-ca", "(21:unable to verify the first certificate)", func(t *testing.T, l *lab) {
			l.useAgent(t, issue(t, newRoot(t, "nms-ca"), leafSpec("agent-01.test.local", x509.ExtKeyUsageClientAuth)))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := newLab(t)
			tc.setup(t, l)
			cfg := l.start(t)
			res := checkJSON(t, nil, "--agent-config", cfg, "--logs", l.nginx.ErrorLogPath(), "--timeout", "2s")
			t.Logf("exit=%d fail=%v warn=%v", res.exit, res.bySeverity("fail"), res.bySeverity("warn"))
			line, ok := l.nginx.WaitErrorLog(tc.logged, 3*time.Second)
			if !ok || !strings.Contains(line, "[info]") {
				t.Fatalf("NGINX did not log %s at info:\n%s", tc.logged, l.nginx.ErrorLog())
			}
			f, _ := res.find(tc.want)
			if f.Severity != "fail" || !strings.Contains(findingText(f), tc.logged) {
				t.Errorf("%s: %s %q, want a failure quoting NGINX's %s:\n%s", tc.want, f.Severity, f.Summary, tc.logged, findingText(f))
			}
			rej, _ := res.find("agent-cert-rejected")
			if rej.Severity == "fail" || !strings.Contains(rej.Summary, tc.logged) || !strings.Contains(rej.Summary, "reported as "+tc.want) {
				t.Errorf("agent-cert-rejected: %s %q, want NGINX's reason and a pointer to %s", rej.Severity, rej.Summary, tc.want)
			}
			if res.exit != exitFailure {
				t.Errorf("exit %d, want 2", res.exit)
			}
		})
	}
}

// TestManagerGivenKeyAndCA: on a manager-only run against a real NGINX, --key and --ca
// beside --cert are judged with the agent's own checks. A key of another certificate
// fails agent-key-mismatch (Go's key-pair load refuses the same pair), a passphrase-
// protected key fails agent-key-encrypted, and --ca is the agents' trust for the
// certificate NGINX serves: the root that issued it passes server-cert-untrusted, another
// root fails it (a real handshake with that root fails too).
func TestManagerGivenKeyAndCA(t *testing.T) {
	nginxlab.Require(t)
	l := newMgrLab(t)
	l.write(t)
	l.nginx = nginxlab.Start(t, filepath.Dir(l.confPath), l.conf)
	other := issue(t, l.root, leafSpec("agent-02.test.local", x509.ExtKeyUsageClientAuth))
	otherKey := writeKey(t, l.path("agent-02.key"), other)
	strangeCA := writeCerts(t, l.path("strange-ca.pem"), newRoot(t, "strange-ca"))
	encryptedKey := l.path("agent-encrypted.key")
	if bin, err := exec.LookPath("openssl"); err == nil {
		if out, err := exec.Command(bin, "pkey", "-in", l.agentKey, "-aes256", "-passout", "pass:secret", "-out", encryptedKey).CombinedOutput(); err != nil {
			t.Fatalf("openssl pkey -aes256: %v\n%s", err, out)
		}
	} else if os.Getenv("CI") == "true" {
		t.Fatal("openssl is required under CI=true")
	} else {
		encryptedKey = ""
	}
	if _, err := probes.LoadClientCertificate(l.agentCert, otherKey); err == nil || !strings.Contains(err.Error(), "private key does not match public key") {
		t.Fatalf("Go loaded the mismatched pair: %v", err)
	}

	for _, tc := range []struct {
		name     string
		args     []string
		want     map[string]string // finding ID → severity
		text     map[string]string // finding ID → what it must say
		wantExit int
	}{
		{"healthy", []string{"--key", l.agentKey, "--ca", l.rootPEM},
			map[string]string{"agent-key-mismatch": "ok", "agent-key-encrypted": "ok", "agent-cert-file-unreadable": "ok", "server-cert-untrusted": "ok"},
			map[string]string{"server-cert-untrusted": "--ca " + l.rootPEM}, exitOK},
		{"key of another certificate", []string{"--key", otherKey},
			map[string]string{"agent-key-mismatch": "fail", "agent-cert-file-unreadable": "ok"},
			map[string]string{"agent-key-mismatch": "key " + otherKey}, exitFailure},
		{"encrypted key", []string{"--key", encryptedKey},
			map[string]string{"agent-key-encrypted": "fail", "agent-key-mismatch": "skip"},
			map[string]string{"agent-key-encrypted": "is encrypted with a passphrase"}, exitFailure},
		{"--ca of another root", []string{"--key", l.agentKey, "--ca", strangeCA},
			map[string]string{"server-cert-untrusted": "fail", "agent-key-mismatch": "ok"},
			map[string]string{"server-cert-untrusted": "the agent's CA file " + strangeCA}, exitFailure},
		{"--cert not there", []string{"--key", l.agentKey},
			map[string]string{"agent-cert-file-unreadable": "fail", "agent-cert-expired": "skip"},
			map[string]string{"agent-cert-file-unreadable": "does not exist"}, exitFailure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "encrypted key" && encryptedKey == "" {
				t.Skip("needs openssl to write an encrypted key")
			}
			cert := l.agentCert
			if tc.name == "--cert not there" {
				cert = l.path("gone.crt")
			}
			args := append([]string{"--nginx-config", l.confPath, "--cert", cert, "--timeout", "2s"}, tc.args...)
			res := checkJSON(t, nil, args...)
			t.Logf("exit=%d fail=%v warn=%v", res.exit, res.bySeverity("fail"), res.bySeverity("warn"))
			for id, sev := range tc.want {
				f, ok := res.find(id)
				if !ok || f.Severity != sev {
					t.Errorf("%s: %s %q, want %s", id, f.Severity, f.Summary, sev)
				}
				if want := tc.text[id]; want != "" && !strings.Contains(findingText(f), want) {
					t.Errorf("%s: %q does not say %q", id, f.Summary, want)
				}
			}
			if res.exit != tc.wantExit {
				t.Errorf("exit %d, want %d:\n%s", res.exit, tc.wantExit, res.excerpt())
			}
		})
	}

	// What server-cert-untrusted says for the other root is what a real client sees.
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(strangeCA)
	if err != nil || !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("read %s: %v", strangeCA, err)
	}
	dialer := &net.Dialer{Timeout: 2 * time.Second}
	conn, err := tls.DialWithDialer(dialer, "tcp", l.nginx.Addr(), &tls.Config{ServerName: labName, RootCAs: pool})
	if err == nil {
		conn.Close()
		t.Fatal("a handshake trusting only strange-ca succeeded")
	}
	if !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("handshake with --ca of another root: %v", err)
	}
}

// TestNoCertCauseNamesItsID: the agent's certificate is issued by a CA NGINX does not
// list, so Go sends none and NGINX answers 496 ("client sent no required SSL
// certificate", mapped to grpc-status 16 by NIM's error page). agent-cert-unknown-ca fails;
// agent-cert-rejected is info naming it — on the agent side, on the manager side (--cert,
// predicted) and with both sides.
func TestNoCertCauseNamesItsID(t *testing.T) {
	nginxlab.Require(t)
	l := newLab(t)
	l.srv.Protocols, l.srv.Extra = "TLSv1.2 TLSv1.3", grpcErrors
	l.useAgent(t, issue(t, newRoot(t, "other-ca"), leafSpec("agent-01.test.local", x509.ExtKeyUsageClientAuth)))
	cfg := l.start(t)
	confPath := filepath.Join(l.dir, "nginx", nginxlab.ConfName)
	for _, args := range [][]string{
		{"--agent-config", cfg, "--timeout", "2s"},
		{"--nginx-config", confPath, "--cert", l.conf.cert, "--key", l.conf.key, "--timeout", "2s"},
		{"--agent-config", cfg, "--nginx-config", confPath, "--timeout", "2s"},
	} {
		res := checkJSON(t, nil, args...)
		t.Logf("%v: exit=%d fail=%v warn=%v", args, res.exit, res.bySeverity("fail"), res.bySeverity("warn"))
		if f, _ := res.find("agent-cert-unknown-ca"); f.Severity != "fail" || !strings.Contains(f.Summary, "CN=other-ca") {
			t.Errorf("%v: agent-cert-unknown-ca %s %q, want a failure naming CN=other-ca", args, f.Severity, f.Summary)
		}
		rej, _ := res.find("agent-cert-rejected")
		// The probe sees the 496 as the error page's grpc-status 16; the prediction names 496.
		if rej.Severity != "info" || !strings.Contains(rej.Summary, "496") && !strings.Contains(rej.Summary, "grpc-status 16") ||
			!strings.Contains(rej.Summary, "the cause is reported as agent-cert-unknown-ca") {
			t.Errorf("%v: agent-cert-rejected %s %q, want info naming agent-cert-unknown-ca", args, rej.Severity, rej.Summary)
		}
		if res.exit != exitFailure {
			t.Errorf("%v: exit %d, want 2", args, res.exit)
		}
	}
	// The probe's request with the agent's certificate reached NGINX without one: no
	// verify result, the 496 mapped to grpc-status 16 by the error page (HTTP 200).
	if line, ok := l.nginx.WaitAccessLog(`"POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0" 200`, 3*time.Second); !ok ||
		!strings.Contains(line, "verify=NONE") {
		t.Errorf("NGINX did not see the agent's request without a certificate:\n%s", l.nginx.AccessLog())
	} else {
		t.Logf("nginx access: %s", line)
	}
	if _, ok := l.nginx.WaitErrorLog("client sent no required SSL certificate", 3*time.Second); !ok {
		t.Errorf("NGINX did not log the 496:\n%s", l.nginx.ErrorLog())
	}
	if n := l.backend.Requests(); n != 0 {
		t.Errorf("%d requests reached the backend", n)
	}
}
