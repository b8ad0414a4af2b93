package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/logparse"
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
