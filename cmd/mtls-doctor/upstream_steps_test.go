package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mtls-doctor/mtls-doctor/internal/nginxtest"
)

// upstreamStepsUnfixable are the real-NGINX upstream scenarios whose fault the steps shown
// cannot undo on the front's host, with why. The list only shrinks.
var upstreamStepsUnfixable = map[string]string{
	// The front passes the agents' gRPC paths too, so it is judged as an agents' server:
	// nginx-client-ca-missing's step needs the agents' CA (<agents-ca-path>), which these
	// links do not have.
	"grpcs-with-proxy-ssl-directives":     "the front is also judged as an agents' server; the agents' CA its step needs does not exist here",
	"nim1-grpcs-reencrypt-name-is-the-ip": "the front is also judged as an agents' server; the agents' CA its step needs does not exist here",
	"upstream-down":                       "starting the upstream is a service action the sandbox's systemctl shim does not perform",
	"upstream-plaintext":                  "the upstream has no TLS port to point proxy_pass at (<upstream-url> has no value here)",
	"upstream-handshake-failure-alert":    "the upstream refuses every handshake; the step shows the alert, the fix is the upstream's",
	"upstream-cert-expired":               "the upstream's certificate is renewed on the upstream's host (a manual step)",
	"upstream-cert-revoked":               "the upstream's certificate is replaced on the upstream's host (a manual step)",
	// Without the upstream's log (--no-logs) its refusal has no named cause: the step reads
	// that log on the upstream's host.
	"client-cert-revoked-by-upstream": "the refusal's cause is in the upstream's log, read on its host (a manual step)",
	"go-upstream-dn-allow-list":       "the upstream's allow-list is changed on the upstream's host (a manual step)",
	// Scenarios added with the stream work; their steps are not yet run by this test.
	"client-chain-without-intermediate":         "the test does not fill <intermediate-ca-path> with the suite's intermediate yet",
	"upstream-chain-without-upper-intermediate": "the step repoints the trusted CA; the missing upper intermediate is not appended yet",
}

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
		unfixable: upstreamStepsUnfixable, unfixableName: "upstreamStepsUnfixable",
		walk: fixUpstreamScenario,
	}.run(t)
}

// fixUpstreamScenario starts sc's link and walks its steps.
func fixUpstreamScenario(t *testing.T, sc upScenario) stepRow {
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
	}
	args := []string{"--nginx-config", u.frontConf, "--nginx-prefix", filepath.Dir(u.frontConf) + "/", "--no-logs", "--timeout", "3s"}
	front := stepHost{sandbox: newSandbox(t), after: func(t *testing.T, reloaded bool, _ []string) {
		if reloaded {
			u.restartFront(t)
		}
	}}
	return stepWalk{
		check:  func() checkResult { return checkJSON(t, nil, args...) },
		inputs: inputs,
		hosts:  map[string]stepHost{"": front},
	}.run(t)
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
