package main

import (
	"cmp"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/internal/nginxtest"
	"github.com/mtls-doctor/mtls-doctor/internal/stepshim"
)

// TestUpstreamStepsFixRealNginx runs the steps shown for the NGINX → upstream suite's
// faults verbatim with /bin/sh on the front's host — a real front NGINX that serves no
// agents, so every step must run without a manager — with the placeholders filled with
// the link's files (sudo a shim, `nginx -s reload` restarting the front on what the steps
// wrote), re-checking after each step until no failure or warning is left.
func TestUpstreamStepsFixRealNginx(t *testing.T) {
	nginxtest.Require(t)
	stepSuite[upScenario]{
		title:     "upstream",
		scenarios: slices.DeleteFunc(slices.Clone(upScenarios), func(sc upScenario) bool { return sc.want == "" }),
		name:      func(sc upScenario) string { return sc.name },
		walk:      fixUpstreamScenario,
	}.run(t)
}

// upstreamAlternatives are scenarios walked again with their first fix passed over, so
// that the alternative the playbook offers after it ("Or …", on the upstream's host) is
// run too: scenario → the titles (prefixes) of the steps passed over.
var upstreamAlternatives = map[string][]string{
	"client-cert-other-ca":                      {"Reissue "},
	"upstream-chain-without-upper-intermediate": {"Append the missing intermediate"},
	"upstream-handshake-failure-alert":          {"Add "},
}

// TestUpstreamAlternativeStepsFixRealNginx is TestUpstreamStepsFixRealNginx for the
// alternatives of upstreamAlternatives: the steps on the upstream's host must fix the
// link as well as the front's.
func TestUpstreamAlternativeStepsFixRealNginx(t *testing.T) {
	nginxtest.Require(t)
	stepSuite[upScenario]{
		title: "upstream alternatives",
		scenarios: slices.DeleteFunc(slices.Clone(upScenarios), func(sc upScenario) bool {
			_, ok := upstreamAlternatives[sc.name]
			return !ok
		}),
		name: func(sc upScenario) string { return sc.name },
		walk: func(t *testing.T, sc upScenario) stepRow {
			return walkUpstreamScenario(t, sc, upstreamAlternatives[sc.name])
		},
	}.run(t)
}

// fixUpstreamScenario starts sc's link and walks its steps.
func fixUpstreamScenario(t *testing.T, sc upScenario) stepRow {
	return walkUpstreamScenario(t, sc, nil)
}

// walkUpstreamScenario starts sc's link and walks its steps but those skip names.
func walkUpstreamScenario(t *testing.T, sc upScenario, skip []string) stepRow {
	u := newUpLab(t)
	if sc.setup != nil {
		sc.setup(t, u)
	}
	u.start(t)
	if u.front == nil {
		// A front nginx -t refused never started: give it the temporary directories a
		// running NGINX has, which nginx -t checks.
		for _, p := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
			mkdir(t, filepath.Join(filepath.Dir(u.frontConf), "tmp", p))
		}
	}
	caKey := writeKey(t, filepath.Join(u.dir, "upstream-ca.key"), u.pki.CA)
	inputs := map[string]string{
		"<upstream-ca-cert-path>": u.pki.CAFile, "<upstream-ca-key-path>": caKey,
		"<upstream-server-ca-path>": u.pki.CAFile, "<upstream-dns-name>": nginxtest.UpstreamName,
		"<proxy-client-cert-path>": u.pki.ClientCert, "<proxy-client-key-path>": u.pki.ClientKey,
		"<key-passphrase>": "s3cret",
		// A front that passes the agents' gRPC paths is judged as their server too (NIM
		// 1.x's re-encrypt topology): it verifies them against the agents' CA.
		"<agents-ca-path>": writeCerts(t, filepath.Join(u.dir, "agents-ca.pem"), newRoot(t, "agents CA")),
	}
	if u.interFile != "" {
		inputs["<intermediate-ca-path>"] = u.interFile
	}
	// The upstream's own files, as its owner knows them (steps for HostUpstream).
	maps.Copy(inputs, map[string]string{
		"<upstream-service>": upstreamUnit, "<upstream-cert-path>": u.pki.ServerCert, "<upstream-key-path>": u.pki.ServerKey,
		"<upstream-server-ca-cert-path>": u.pki.CAFile, "<upstream-server-ca-key-path>": caKey,
	})
	if u.upLog != "" {
		inputs["<upstream-error-log>"] = u.upLog
	}
	upDir := filepath.Join(u.dir, "upstream")
	if u.up != nil {
		// An NGINX upstream verifies clients with the link's CA file.
		inputs["<upstream-nginx-conf>"] = filepath.Join(upDir, nginxtest.ConfName)
		inputs["<upstream-client-ca-path>"] = u.pki.CAFile
	}
	inputs["<proxy-client-ca-path>"] = cmp.Or(u.clientCAFile, u.pki.CAFile)
	if u.allowList != "" {
		inputs["<upstream-allow-list-path>"] = u.allowList
	}
	args := []string{"--nginx-config", u.frontConf, "--nginx-prefix", filepath.Dir(u.frontConf) + "/", "--no-logs", "--timeout", "3s"}
	// The upstream runs on this machine too: its units, started or reloaded by a step on
	// either host, are carried out as systemd would.
	units := func(t *testing.T, units []string) {
		if slices.Contains(units, upstreamUnit) {
			u.restartUpstream(t)
		}
	}
	front := stepHost{sandbox: newSandbox(t), after: func(t *testing.T, reloaded bool, started []string) {
		if reloaded {
			u.restartFront(t)
		}
		units(t, started)
	}}
	// On the upstream's host, nginx is the upstream's own NGINX (its prefix and
	// configuration), as `nginx -t` there tests the configuration it runs.
	upstream := stepHost{sandbox: stepshim.New(t, upstreamNginx(t, upDir)), after: func(t *testing.T, reloaded bool, started []string) {
		if reloaded {
			started = append(started, upstreamUnit)
		}
		units(t, started)
	}}
	return stepWalk{
		check:  func() checkResult { return checkJSON(t, nil, args...) },
		inputs: inputs,
		hosts:  map[string]stepHost{"": front, string(diagnostics.HostUpstream): upstream},
		skip:   skip,
	}.run(t)
}

// upstreamNginx writes a wrapper that runs the real nginx with the upstream's prefix and
// configuration in dir, the nginx of the upstream's host.
func upstreamNginx(t *testing.T, dir string) string {
	t.Helper()
	real, err := nginxtest.Binary()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "nginx")
	writeFile(t, path, []byte("#!/bin/sh\nexec "+diagnostics.ShellQuote(real)+" -p "+diagnostics.ShellQuote(dir+"/")+
		" -c "+diagnostics.ShellQuote(filepath.Join(dir, nginxtest.ConfName))+" \"$@\"\n"), 0o755)
	return path
}

// restartFront is the sandbox's `nginx -s reload` of the front: its NGINX runs with
// master_process off, so it is started again on the configuration the steps wrote. A
// front that never started (nginx -t refused its configuration) starts now.
func (u *upLab) restartFront(t *testing.T) {
	t.Helper()
	conf, err := os.ReadFile(u.frontConf)
	if err != nil {
		t.Fatal(err)
	}
	if u.front != nil {
		if err := u.front.Stop(); err != nil {
			t.Logf("stopping the front: %v", err)
		}
	}
	u.front = nginxtest.Start(t, filepath.Dir(u.frontConf), string(conf))
}

// upstreamUnit is the upstream's systemd unit in the lab, the value a user gives for
// <upstream-service>.
const upstreamUnit = "upstream"

// restartUpstream is the sandbox's systemd starting, restarting or reloading the
// upstream's unit: an upstream NGINX starts again on its configuration (reading the files
// a step rewrote); where nothing listened (the upstream was down), the link's healthy
// upstream NGINX starts at the address the front passes to.
func (u *upLab) restartUpstream(t *testing.T) {
	t.Helper()
	dir := filepath.Join(u.dir, "upstream")
	switch {
	case u.goUp != nil:
		// The Go service starts again on its socket, reading its files anew.
		u.goUp.Restart(u.goConfig(t))
	case u.up != nil:
		conf, err := os.ReadFile(filepath.Join(dir, nginxtest.ConfName))
		if err != nil {
			t.Fatal(err)
		}
		if err := u.up.Stop(); err != nil {
			t.Logf("stopping the upstream: %v", err)
		}
		u.up = nginxtest.Start(t, dir, string(conf))
	case u.upstream == nil && u.goTLS == nil && u.alert == 0 && !u.plain:
		_, port, err := net.SplitHostPort(u.target)
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.Atoi(port)
		if err != nil {
			t.Fatal(err)
		}
		mkdir(t, dir)
		srv := u.pki.UpstreamServer(n)
		u.up = nginxtest.Start(t, dir, nginxtest.Config{Dir: dir, ServerBlock: srv.Block()}.String())
	default:
		t.Logf("the upstream's unit was started, but this upstream (a stand-in answering with an alert) does not restart")
	}
}

// TestUpstreamAlwaysAlertIsManual: an upstream that answers every ClientHello with alert
// 40, whatever is offered (the lab's stand-in), has no cause the front can see. The
// probe asks it once per change (SNI, TLS 1.3, each TLS 1.2 suite proxy_ssl_ciphers
// leaves out) and no more; the playbook ends with the manual step that says why.
func TestUpstreamAlwaysAlertIsManual(t *testing.T) {
	u := newUpLab(t)
	u.alert = 40
	// Every kind of variation applies: no SNI sent, TLS 1.3 and 15 of the 17 suites left out.
	u.ssl.ServerName, u.ssl.Protocols = "", "TLSv1.2"
	u.ssl.Ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384"
	u.start(t)
	before := u.alertUp.Conns()
	res := u.check(t)
	// The probe as NGINX, then SNI, TLS 1.3 and 15 suites.
	if n, want := u.alertUp.Conns()-before, 1+1+1+15; n != want {
		t.Errorf("the check connected %d times, want %d", n, want)
	}
	f, ok := res.find("upstream-tls-handshake-failed")
	if !ok || f.Severity != "fail" || f.Cause == nil || f.Cause.Code != diagnostics.CauseHandshakeFailed || f.Cause.Alert != 40 {
		t.Fatalf("want upstream-tls-handshake-failed fail (handshake-failed, alert 40), got %s %+v\n%s", f.Severity, f.Cause, res.excerpt())
	}
	if text := findingText(f); !strings.Contains(text, `SNI "upstream.test.local", TLS 1.3 only, 15 TLS 1.2 suites one at a time): it refused all 17`) {
		t.Errorf("the evidence does not say what was tried:\n%s", text)
	}
	last := f.Fix[len(f.Fix)-1]
	if last.Host != string(diagnostics.HostUpstream) || !strings.Contains(last.Manual, "not judged from this host") {
		t.Errorf("last step %q: host %q, manual %q", last.Title, last.Host, last.Manual)
	}
	for _, st := range f.Fix {
		if strings.Contains(strings.Join(st.Commands, "\n"), "ssl_ciphers") || strings.Contains(st.Title, "server_name") {
			t.Errorf("step %q changes what the upstream did not ask for", st.Title)
		}
	}
}
