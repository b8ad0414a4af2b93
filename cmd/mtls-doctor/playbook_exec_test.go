package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/internal/nginxtest"
	"github.com/mtls-doctor/mtls-doctor/internal/stepshim"
)

// TestPlaybookStepsFixRealNginx breaks the real-NGINX lab one way per scenario, runs
// mtls-doctor over both the agent's configuration and NGINX's (this host is both), then
// executes the failing findings' steps verbatim with /bin/sh — placeholders filled with
// the lab's files, sudo and systemctl as shims — and checks again, until no failure or
// warning is left. Manual steps are not run. It prints "scenario | steps | re-check".
func TestPlaybookStepsFixRealNginx(t *testing.T) {
	nginxtest.Require(t)
	stepSuite[scenario]{
		title:     "playbook execution (agent and manager on one host)",
		scenarios: slices.DeleteFunc(slices.Clone(scenarios), func(sc scenario) bool { return sc.want == "" }),
		name:      func(sc scenario) string { return sc.name },
		walk:      fixScenario,
	}.run(t)
}

// fixScenario starts one scenario's lab and walks its steps.
func fixScenario(t *testing.T, sc scenario) stepRow {
	l := newLab(t)
	sc.setup(t, l)
	cfg := l.start(t)
	ngx := filepath.Join(l.dir, "nginx")
	keys := l.writeCAKeys(t)
	inputs := map[string]string{
		"<manager-host>": labName, "<manager-ip>": "127.0.0.1", "<manager-port>": fmt.Sprint(l.srv.Port),
		"<ca-cert-path>": l.rootPEM, "<ca-key-path>": keys.root,
		"<server-ca-cert-path>": keys.interPEM, "<server-ca-key-path>": keys.inter,
		"<manager-ca-path>": l.rootPEM, "<agents-ca-path>": l.rootPEM, "<intermediate-path>": keys.interPEM,
		"<manager-nginx-conf>": filepath.Join(ngx, nginxtest.ConfName), "<server-cert-path>": l.serverChain,
		"<server-key-path>": l.serverKey, "<client-ca-path>": l.srv.ClientCA,
		"<manager-error-log>": filepath.Join(ngx, nginxtest.ErrorLogName), "<backend-address>": l.backend.Addr(),
		"<agent-name>": "agent-01.test.local", "<agent-cert-path>": l.agentCert, "<agent-key-path>": l.agentKey,
	}
	args := []string{"--agent-config", cfg, "--timeout", "2s", "--no-logs"}
	if l.nginx != nil {
		args = append(args, "--nginx-config", filepath.Join(ngx, nginxtest.ConfName), "--nginx-prefix", ngx+"/")
	}
	host := stepHost{sandbox: newSandbox(t), after: func(t *testing.T, reloaded bool, units []string) {
		if reloaded {
			restartLabNginx(t, l, ngx)
		}
		startLabUnits(t, l, ngx, units)
	}}
	return stepWalk{
		check:  func() checkResult { return checkJSON(t, nil, args...) },
		inputs: inputs,
		hosts:  map[string]stepHost{"": host},
		stuck: func(checkResult) {
			if l.nginx != nil && os.Getenv("PLAYBOOK_DEBUG") != "" {
				conf, _ := os.ReadFile(filepath.Join(ngx, nginxtest.ConfName))
				t.Logf("nginx.conf:\n%s\nerror.log:\n%s\noutput:\n%s", conf, l.nginx.ErrorLog(), l.nginx.Output())
			}
		},
	}.run(t)
}

// restartLabNginx is the sandbox's `nginx -s reload`: the lab's NGINX runs with
// master_process off, which cannot reconfigure in place, so it is started again on the
// configuration the steps wrote (same directory, ports and files).
func restartLabNginx(t *testing.T, l *lab, ngx string) {
	t.Helper()
	if l.nginx == nil {
		return
	}
	conf, err := os.ReadFile(filepath.Join(ngx, nginxtest.ConfName))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.nginx.Stop(); err != nil {
		t.Logf("stopping the lab's NGINX: %v", err)
	}
	l.nginx = nginxtest.Start(t, ngx, string(conf))
}

// startLabUnits is what systemd would do for the `systemctl start|restart` the steps ran:
// nginx starts the lab's NGINX when it is stopped, on
// the configuration the lab writes; nms, the manager's gRPC services, starts a backend
// where NGINX's grpc_pass points when nothing listens there.
func startLabUnits(t *testing.T, l *lab, ngx string, units []string) {
	t.Helper()
	for _, unit := range units {
		switch unit {
		case "nginx":
			if l.nginx != nil {
				continue
			}
			if err := os.MkdirAll(ngx, 0o755); err != nil {
				t.Fatal(err)
			}
			l.nginx = nginxtest.Start(t, ngx, nginxtest.Config{Dir: ngx, ServerBlock: l.srv.Block()}.String())
		case "nms":
			if c, err := net.DialTimeout("tcp", l.srv.Backend, time.Second); err == nil {
				c.Close()
				continue
			}
			nginxtest.StartBackendOn(t, l.srv.Backend)
		}
	}
}

// caKeys are the lab's CA keys and intermediate certificate written where a step can read
// them (the placeholders <ca-key-path>, <server-ca-key-path>, <intermediate-path>).
type caKeys struct{ root, inter, interPEM string }

func (l *lab) writeCAKeys(t *testing.T) caKeys {
	t.Helper()
	return caKeys{
		root:     writeKey(t, l.path("root.key"), l.root),
		inter:    writeKey(t, l.path("inter.key"), l.inter),
		interPEM: writeCerts(t, l.path("inter.pem"), l.inter),
	}
}

// newSandbox is a step sandbox whose nginx is the real binary (a reload is left for the
// test to carry out).
func newSandbox(t *testing.T) *stepshim.Sandbox {
	t.Helper()
	real, err := nginxtest.Binary()
	if err != nil {
		t.Fatal(err)
	}
	return stepshim.New(t, real)
}

// playbookManagerLeft are findings that must still fail after the steps, with why: the
// certificate judged with --cert is an intruder's, which the fixed configuration refuses.
var playbookManagerLeft = map[string][]string{
	"optional-no-ca": {"agent-cert-unknown-ca"},
}

// TestPlaybookStepsFixManagerNginx is TestPlaybookStepsFixRealNginx for the manager-side
// suite: mtls-doctor judges the manager's real NGINX configuration and the agent
// certificate given with --cert, the failing and warning findings' steps run verbatim in
// the sandbox (a reload restarts the lab's NGINX, or starts it when nginx -t refused the
// configuration it began with), and the re-check must leave no failure or warning. It
// prints "scenario | steps | re-check".
func TestPlaybookStepsFixManagerNginx(t *testing.T) {
	nginxtest.Require(t)
	stepSuite[mgrScenario]{
		title:     "manager playbook execution",
		scenarios: slices.DeleteFunc(slices.Clone(mgrScenarios), func(sc mgrScenario) bool { return sc.want == "" }),
		name:      func(sc mgrScenario) string { return sc.name },
		walk:      fixManagerScenario,
	}.run(t)
}

// fixManagerScenario starts one manager-side scenario's NGINX and walks its steps.
func fixManagerScenario(t *testing.T, sc mgrScenario) stepRow {
	l := newMgrLab(t)
	if sc.setup != nil {
		sc.setup(t, l)
	}
	l.write(t)
	ngx := filepath.Dir(l.confPath)
	if sc.rejected == "" {
		l.nginx = nginxtest.Start(t, ngx, l.conf)
	}
	rootKey, interKey := writeKey(t, l.path("root.key"), l.root), writeKey(t, l.path("inter.key"), l.inter)
	interPEM := writeCerts(t, l.path("inter.pem"), l.inter)
	// A current CRL from each CA, as the CAs would publish them.
	agentsCA := l.rootPEM
	if l.agentsCA != "" {
		agentsCA = l.agentsCA
	}
	newCRL := l.path("new-crl.pem")
	writeFile(t, newCRL, append(crlPEM(t, l.root), crlPEM(t, l.inter)...), 0o644)
	inputs := map[string]string{
		"<manager-host>": labName, "<manager-ip>": "127.0.0.1", "<manager-port>": fmt.Sprint(l.srv.Port),
		"<ca-cert-path>": l.rootPEM, "<ca-key-path>": rootKey,
		"<server-ca-cert-path>": interPEM, "<server-ca-key-path>": interKey,
		"<manager-ca-path>": l.rootPEM, "<agents-ca-path>": agentsCA, "<intermediate-path>": interPEM,
		"<manager-nginx-conf>": l.confPath, "<server-cert-path>": l.srv.Cert, "<server-key-path>": l.path("server.key"),
		"<client-ca-path>": l.srv.ClientCA, "<crl-path>": l.srv.CRL, "<new-crl-path>": newCRL,
		"<manager-error-log>": filepath.Join(ngx, nginxtest.ErrorLogName), "<backend-address>": l.backend.Addr(),
		"<agent-name>": "agent-01.test.local", "<agent-cert-path>": l.agentCert, "<agent-key-path>": l.agentKey,
	}
	host := stepHost{sandbox: newSandbox(t), after: func(t *testing.T, reloaded bool, _ []string) {
		if !reloaded {
			return
		}
		conf, err := os.ReadFile(l.confPath)
		if err != nil {
			t.Fatal(err)
		}
		if l.nginx != nil {
			if err := l.nginx.Stop(); err != nil {
				t.Logf("stopping the lab's NGINX: %v", err)
			}
		}
		l.nginx = nginxtest.Start(t, ngx, string(conf))
	}}
	return stepWalk{
		check:  func() checkResult { return checkManager(t, l) },
		inputs: inputs,
		hosts:  map[string]stepHost{"": host},
		left:   playbookManagerLeft[sc.name],
	}.run(t)
}
