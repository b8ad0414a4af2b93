package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/internal/nginxtest"
)

// playbookUnfixable are the real-NGINX scenarios whose fault the steps shown cannot undo
// in the sandbox, with why. The list only shrinks.
var playbookUnfixable = map[string]string{}

// TestPlaybookStepsFixRealNginx breaks the real-NGINX lab one way per scenario, runs
// mtls-doctor over both the agent's configuration and NGINX's (this host is both), then
// executes the failing findings' steps verbatim with /bin/sh — placeholders filled with
// the lab's files, sudo and systemctl as shims — and checks again, until no failure or
// warning is left. Manual steps are not run. It prints "scenario | steps run | re-check".
func TestPlaybookStepsFixRealNginx(t *testing.T) {
	nginxtest.Require(t)
	type row struct{ name, ran, result string }
	rows := make(chan row, len(scenarios))
	t.Run("scenarios", func(t *testing.T) {
		for _, sc := range scenarios {
			if sc.want == "" {
				continue
			}
			t.Run(sc.name, func(t *testing.T) {
				t.Parallel()
				ran, result, ok := fixScenario(t, sc)
				rows <- row{sc.name, ran, result}
				why, unfixable := playbookUnfixable[sc.name]
				switch {
				case ok && unfixable:
					t.Errorf("%s now passes after its steps: remove it from playbookUnfixable (%s)", sc.name, why)
				case !ok && !unfixable:
					t.Errorf("%s: after running its steps: %s", sc.name, result)
				}
			})
		}
	})
	close(rows)
	passed, total := 0, 0
	var b strings.Builder
	fmt.Fprintf(&b, "%-32s | %-5s | %s\n", "scenario", "steps", "re-check")
	for r := range rows {
		total++
		if r.result == "pass" {
			passed++
		}
		fmt.Fprintf(&b, "%-32s | %-5s | %s\n", r.name, r.ran, r.result)
	}
	t.Logf("playbook execution, %d/%d scenarios pass:\n%s", passed, total, b.String())
}

// fixScenario runs one scenario's walk; ran counts the steps executed (and manual ones
// skipped), result is "pass" or what is left.
func fixScenario(t *testing.T, sc scenario) (ran, result string, ok bool) {
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
	path, reloadMark, unitsMark := sandboxPath(t)
	steps, manual := 0, 0
	done := map[string]bool{}
	// One step at a time, then a re-check, as the walkthrough goes: a later step is built
	// from facts that include what the earlier ones changed.
	for round := 0; round < 16; round++ {
		res := checkJSON(t, nil, args...)
		bad := append(res.bySeverity("fail"), res.bySeverity("warn")...)
		if len(bad) == 0 {
			return fmt.Sprintf("%d+%dm", steps, manual), "pass", true
		}
		progressed := false
		for _, fd := range res.report.Findings {
			if fd.Severity != "fail" && fd.Severity != "warn" {
				continue
			}
			for _, st := range fd.Fix {
				key := fd.ID + "|" + st.Title
				if done[key] {
					continue
				}
				done[key] = true
				if st.Manual != "" {
					manual++
					continue
				}
				err := runSandboxStep(st, path, inputs)
				if _, statErr := os.Stat(reloadMark); statErr == nil {
					os.Remove(reloadMark)
					restartLabNginx(t, l, ngx)
				}
				startLabUnits(t, l, ngx, unitsMark)
				if err != nil {
					t.Logf("%s: step %q: %v", fd.ID, st.Title, err)
					continue
				}
				t.Logf("ran %s: %q", fd.ID, st.Title)
				steps++
				progressed = true
				break
			}
			if progressed {
				break
			}
		}
		if !progressed {
			t.Logf("left after %d rounds:\n%s", round, res.excerpt())
			if l.nginx != nil && os.Getenv("PLAYBOOK_DEBUG") != "" {
				conf, _ := os.ReadFile(filepath.Join(ngx, nginxtest.ConfName))
				t.Logf("nginx.conf:\n%s\nerror.log:\n%s\noutput:\n%s", conf, l.nginx.ErrorLog(), l.nginx.Output())
			}
			return fmt.Sprintf("%d+%dm", steps, manual), "left: " + strings.Join(bad, ", "), false
		}
	}
	res := checkJSON(t, nil, args...)
	bad := append(res.bySeverity("fail"), res.bySeverity("warn")...)
	if len(bad) == 0 {
		return fmt.Sprintf("%d+%dm", steps, manual), "pass", true
	}
	return fmt.Sprintf("%d+%dm", steps, manual), "left: " + strings.Join(bad, ", "), false
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

// startLabUnits is what systemd would do for the `systemctl start|restart` the steps ran
// (the shim lists the units in mark): nginx starts the lab's NGINX when it is stopped, on
// the configuration the lab writes; nms, the manager's gRPC services, starts a backend
// where NGINX's grpc_pass points when nothing listens there.
func startLabUnits(t *testing.T, l *lab, ngx, mark string) {
	t.Helper()
	data, err := os.ReadFile(mark)
	if err != nil {
		return // no unit was started
	}
	os.Remove(mark)
	for _, unit := range strings.Fields(string(data)) {
		switch strings.TrimSuffix(unit, ".service") {
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

// sandboxPath is PATH with shims first: sudo runs its arguments as the test's user,
// systemctl records the units it is asked to start or restart (startLabUnits starts
// them), journalctl does nothing, and nginx is the real binary except that
// `nginx -s reload` leaves the mark file for the test to restart the lab's NGINX.
func sandboxPath(t *testing.T) (path, reloadMark, unitsMark string) {
	t.Helper()
	bin := t.TempDir()
	reloadMark = filepath.Join(bin, "reload-requested")
	unitsMark = filepath.Join(bin, "units-started")
	real, err := nginxtest.Binary()
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"nginx": "#!/bin/sh\ncase \" $* \" in *\" -s reload \"*) : >" + shellWordForTest(reloadMark) + "; exit 0;; esac\nexec " +
			shellWordForTest(real) + " \"$@\"\n",
		"sudo":        "#!/bin/sh\nexec \"$@\"\n",
		"systemctl":   "#!/bin/sh\ncase \"$1\" in start|restart) shift; printf '%s\\n' \"$@\" >>" + shellWordForTest(unitsMark) + ";; esac\nexit 0\n",
		"journalctl":  "#!/bin/sh\nexit 0\n",
		"timedatectl": "#!/bin/sh\nexit 0\n",
	} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return bin + string(os.PathListSeparator) + os.Getenv("PATH"), reloadMark, unitsMark
}

// shellWordForTest single-quotes s for the shims.
func shellWordForTest(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// runSandboxStep runs each command of st with /bin/sh -c, placeholders filled (each sits
// inside a single-quoted word, so a value's own quote is escaped).
func runSandboxStep(st diagnostics.JSONStep, path string, inputs map[string]string) error {
	for _, c := range st.Commands {
		for name, v := range inputs {
			c = strings.ReplaceAll(c, name, strings.ReplaceAll(v, "'", `'\''`))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", c)
		cmd.Env = append(os.Environ(), "PATH="+path)
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			return fmt.Errorf("%q: %v: %s", c, err, out)
		}
	}
	return nil
}

// playbookManagerUnfixable are the manager-side scenarios (mgrScenarios) whose fault the
// steps shown cannot undo in the sandbox, with why. The list only shrinks.
var playbookManagerUnfixable = map[string]string{}

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
// prints "scenario | steps run | re-check".
func TestPlaybookStepsFixManagerNginx(t *testing.T) {
	nginxtest.Require(t)
	type row struct{ name, ran, result string }
	rows := make(chan row, len(mgrScenarios))
	t.Run("scenarios", func(t *testing.T) {
		for _, sc := range mgrScenarios {
			if sc.want == "" {
				continue
			}
			t.Run(sc.name, func(t *testing.T) {
				t.Parallel()
				ran, result, ok := fixManagerScenario(t, sc)
				rows <- row{sc.name, ran, result}
				why, unfixable := playbookManagerUnfixable[sc.name]
				switch {
				case ok && unfixable:
					t.Errorf("%s now passes after its steps: remove it from playbookManagerUnfixable (%s)", sc.name, why)
				case !ok && !unfixable:
					t.Errorf("%s: after running its steps: %s", sc.name, result)
				}
			})
		}
	})
	close(rows)
	passed, total := 0, 0
	var b strings.Builder
	fmt.Fprintf(&b, "%-32s | %-5s | %s\n", "scenario", "steps", "re-check")
	for r := range rows {
		total++
		if r.result == "pass" {
			passed++
		}
		fmt.Fprintf(&b, "%-32s | %-5s | %s\n", r.name, r.ran, r.result)
	}
	t.Logf("manager playbook execution, %d/%d scenarios pass:\n%s", passed, total, b.String())
}

// fixManagerScenario walks one manager-side scenario's steps as fixScenario does.
func fixManagerScenario(t *testing.T, sc mgrScenario) (ran, result string, ok bool) {
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
	path, reloadMark, _ := sandboxPath(t)
	steps, manual := 0, 0
	done := map[string]bool{}
	check := func() checkResult { return checkManager(t, l) }
	left := playbookManagerLeft[sc.name]
	// passed: nothing fails or warns but the findings that must stay failing, and they do.
	passed := func(res checkResult) (bool, []string) {
		bad := append(res.bySeverity("fail"), res.bySeverity("warn")...)
		var other []string
		for _, id := range bad {
			if !slices.Contains(left, id) {
				other = append(other, id)
			}
		}
		for _, id := range left {
			if f, _ := res.find(id); f.Severity != "fail" {
				other = append(other, id+" (not failing)")
			}
		}
		return len(other) == 0, other
	}
	for round := 0; round < 16; round++ {
		res := check()
		if ok, _ := passed(res); ok {
			return fmt.Sprintf("%d+%dm", steps, manual), "pass", true
		}
		bad := append(res.bySeverity("fail"), res.bySeverity("warn")...)
		progressed := false
		for _, fd := range res.report.Findings {
			if fd.Severity != "fail" && fd.Severity != "warn" {
				continue
			}
			for _, st := range fd.Fix {
				key := fd.ID + "|" + st.Title
				if done[key] {
					continue
				}
				done[key] = true
				if st.Manual != "" {
					t.Logf("%s: manual step %q: %s; commands %q", fd.ID, st.Title, st.Manual, st.Commands)
					manual++
					continue
				}
				err := runSandboxStep(st, path, inputs)
				if _, statErr := os.Stat(reloadMark); statErr == nil {
					os.Remove(reloadMark)
					conf, rerr := os.ReadFile(l.confPath)
					if rerr != nil {
						t.Fatal(rerr)
					}
					if l.nginx != nil {
						if serr := l.nginx.Stop(); serr != nil {
							t.Logf("stopping the lab's NGINX: %v", serr)
						}
					}
					l.nginx = nginxtest.Start(t, ngx, string(conf))
				}
				if err != nil {
					t.Logf("%s: step %q: %v", fd.ID, st.Title, err)
					continue
				}
				t.Logf("ran %s: %q", fd.ID, st.Title)
				steps++
				progressed = true
				break
			}
			if progressed {
				break
			}
		}
		if !progressed {
			t.Logf("left after %d rounds:\n%s", round, res.excerpt())
			return fmt.Sprintf("%d+%dm", steps, manual), "left: " + strings.Join(bad, ", "), false
		}
	}
	res := check()
	ok, other := passed(res)
	if ok {
		return fmt.Sprintf("%d+%dm", steps, manual), "pass", true
	}
	return fmt.Sprintf("%d+%dm", steps, manual), "left: " + strings.Join(other, ", "), false
}
