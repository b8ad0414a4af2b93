package diagnostics

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/logparse"
)

// expiredLine is a real NGINX 1.22.1 line (testdata/logs/nginx-error-real.log) with the
// client changed.
const expiredLine = `2026/06/01 11:55:00 [info] 665#665: *1 client SSL certificate verify error: (10:certificate has expired) while reading client request headers, client: 10.0.0.5, server: nim.test.local, request: "POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0", host: "127.0.0.1:35051"`

// logsWith returns a one-hour log report of testNow holding the events built from lines.
func logsWith(t *testing.T, lines ...string) *logparse.Report {
	t.Helper()
	var events []logparse.Event
	p := logparse.Parser{Location: time.UTC}
	for _, l := range lines {
		ev, _, st := p.Parse(l)
		if st != logparse.LineClassified {
			t.Fatalf("not classified: %s", l)
		}
		events = append(events, ev)
	}
	return &logparse.Report{
		From: testNow.Add(-time.Hour), To: testNow,
		Files: []logparse.FileReport{{File: logparse.File{Path: "/var/log/nginx/error.log", Type: logparse.TypeNginxError,
			Origin: "error_log at /etc/nginx/nginx.conf:5", Level: "info"}, Read: []string{"/var/log/nginx/error.log"},
			Lines: 100, Classified: len(events)}},
		Summaries: logparse.Aggregate(events),
	}
}

// healthyLogs is a one-hour report of a log that holds no event.
func healthyLogs() *logparse.Report {
	return &logparse.Report{From: testNow.Add(-time.Hour), To: testNow, Files: []logparse.FileReport{{
		File: logparse.File{Path: "/var/log/nginx/error.log", Type: logparse.TypeNginxError, Origin: "error_log at /etc/nginx/nginx.conf:5"},
		Read: []string{"/var/log/nginx/error.log"}, Lines: 12, Unclassified: 12}}}
}

// at rewrites the time of an NGINX error line.
func at(line string, t time.Time) string { return t.Format("2006/01/02 15:04:05") + line[19:] }

// TestJoinLogs covers every way a check's verdict and its events combine.
func TestJoinLogs(t *testing.T) {
	many := make([]string, 0, 37)
	for i := range 37 {
		l := at(expiredLine, testNow.Add(-time.Duration(50-i)*time.Minute))
		if i%5 == 4 {
			l = strings.Replace(l, "10.0.0.5", "10.0.0.6", 1)
		}
		many = append(many, l)
	}
	tests := map[string]struct {
		own     Result
		noAgent bool
		lines   []string
		want    Severity
		summary string // substring
	}{
		"failing check keeps its verdict and gains the lines": {
			own: Fail("the agent certificate expired 3 days ago"), lines: many,
			want: SeverityFail, summary: "the agent certificate expired 3 days ago",
		},
		"skipped check: the logs are the finding": {
			own: OK("unused"), noAgent: true, lines: many,
			want: SeverityFail, summary: "NGINX rejected 37 agent connections from 10.0.0.5, 10.0.0.6 in the last hour: certificate has expired",
		},
		"passing check with a recent event warns": {
			own: OK("the agent certificate is valid until 2027-01-01"), lines: []string{at(expiredLine, testNow.Add(-2*time.Minute))},
			want: SeverityWarn, summary: "the last at 11:58:00",
		},
		"passing check with old events is info": {
			own: OK("the agent certificate is valid until 2027-01-01"), lines: []string{at(expiredLine, testNow.Add(-45*time.Minute))},
			want: SeverityInfo, summary: "earlier, NGINX rejected 1 agent connection from 10.0.0.5",
		},
		"info check: the logs are the finding": {
			own: Info("cannot tell from here"), lines: many[:1],
			want: SeverityFail, summary: "NGINX rejected 1 agent connection from 10.0.0.5 in the last hour",
		},
		"no events: the check's own verdict": {
			own:  OK("the agent certificate is valid until 2027-01-01"),
			want: SeverityOK, summary: "valid until 2027-01-01",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := Catalog{{
				ID: "agent-cert-expired", Category: CategoryAgentCert, Title: "agent certificate is not expired",
				Needs:    []FactKind{FactAgentConfig},
				Evaluate: func(*Facts) Result { return tc.own },
				LogKinds: []logparse.Kind{logparse.KindAgentCertExpired},
			}}.assembled()
			f := healthyFacts(newPKI(t))
			if tc.noAgent {
				f.Agent, f.Errors[FactAgentConfig] = nil, "no agent configuration found"
			}
			f.Logs = logsWith(t, tc.lines...)
			if len(tc.lines) == 0 {
				f.Logs = healthyLogs()
			}
			ch, _ := c.Lookup("agent-cert-expired")
			if len(ch.Needs) != 0 || !slices.Contains(ch.Wants, FactLogs) || !slices.Contains(ch.Wants, FactAgentConfig) {
				t.Fatalf("needs %v wants %v", ch.Needs, ch.Wants)
			}
			fd := ch.run(f)
			if fd.Severity != tc.want || !strings.Contains(fd.Summary, tc.summary) {
				t.Fatalf("got %s %q\nwant %s containing %q", fd.Severity, fd.Summary, tc.want, tc.summary)
			}
			if len(tc.lines) == 0 {
				return
			}
			var quoted []string
			var text string
			for _, e := range fd.Evidence {
				quoted = append(quoted, e.Quote...)
				if len(e.Quote) > 0 {
					text = e.Text
				}
			}
			if len(quoted) != min(3, len(tc.lines)) || quoted[0] != tc.lines[len(tc.lines)-1] {
				t.Errorf("quoted %q", quoted)
			}
			if !strings.Contains(text, "X509 error 10 (certificate has expired)") || !strings.Contains(text, "10.0.0.5 (") {
				t.Errorf("evidence %q", text)
			}
		})
	}
	// A skipped check without events keeps its skip reason.
	c := Catalog{{ID: "agent-cert-expired", Category: CategoryAgentCert, Title: "t", Needs: []FactKind{FactAgentConfig},
		Evaluate: func(*Facts) Result { return OK("x") }, LogKinds: []logparse.Kind{logparse.KindAgentCertExpired}}}.assembled()
	f := &Facts{Now: testNow, Logs: healthyLogs(), Errors: map[FactKind]string{FactAgentConfig: "no agent configuration found"}}
	if fd := c[0].run(f); fd.Severity != SeveritySkip || fd.Summary != "skipped: no agent-config facts: no agent configuration found" {
		t.Errorf("got %s %q", fd.Severity, fd.Summary)
	}
}

// TestLogOnlyChecks: kinds no check covers get their own check, which passes without events.
func TestLogOnlyChecks(t *testing.T) {
	c := DefaultCatalog()
	noCert := `2026/06/01 11:59:00 [info] 666#666: *1 client sent no required SSL certificate while reading client request headers, client: 10.0.0.7, server: nim.test.local, request: "POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0", host: "127.0.0.1:45577"`
	alert := `2026/06/01 11:59:30 [info] 779#779: *1 SSL_do_handshake() failed (SSL: error:0A000412:SSL routines::sslv3 alert bad certificate:SSL alert number 42) while SSL handshaking, client: 10.0.0.8, server: 127.0.0.1:42249`
	for id, line := range map[string]string{"agent-cert-not-sent": noCert, "server-cert-rejected-by-agent": alert} {
		ch, ok := c.Lookup(id)
		if !ok || ch.Category != CategoryLogs {
			t.Fatalf("%s: %v %s", id, ok, ch.Category)
		}
		f := &Facts{Now: testNow, Logs: healthyLogs(), Errors: map[FactKind]string{}}
		if fd := ch.run(f); fd.Severity != SeverityOK || fd.Summary != "no such event in the last hour" {
			t.Errorf("%s without events: %s %q", id, fd.Severity, fd.Summary)
		}
		f.Logs = logsWith(t, line)
		fd := ch.run(f)
		if fd.Severity != SeverityFail || len(fd.Fix) == 0 || len(fd.Evidence) != 1 || fd.Evidence[0].Quote[0] != line {
			t.Errorf("%s with an event: %+v", id, fd)
		}
		t.Logf("%s: %s", id, fd.Summary)
	}
}

func TestLogsRead(t *testing.T) {
	ch, _ := DefaultCatalog().Lookup("logs-read")
	f := &Facts{Now: testNow, Logs: healthyLogs(), Errors: map[FactKind]string{}}
	if fd := ch.run(f); fd.Severity != SeverityOK || fd.Summary != "read 1 log: 12 lines, 0 events in the last hour" {
		t.Errorf("got %s %q", fd.Severity, fd.Summary)
	}
	denied := "cannot read /var/log/nginx/access.log: permission denied (run as root or add your user to the adm group)"
	f.Logs.Files = append(f.Logs.Files,
		logparse.FileReport{File: logparse.File{Path: "/var/log/nginx/access.log", Origin: "access_log at /etc/nginx/nginx.conf:9"}, Skipped: denied},
		logparse.FileReport{File: logparse.File{Path: "/var/log/nginx-agent/agent.log", Origin: logparse.OriginDefault}, Skipped: "/var/log/nginx-agent/agent.log does not exist"})
	fd := ch.run(f)
	if fd.Severity != SeverityInfo || !strings.Contains(fd.Summary, denied) || len(fd.Evidence) != 2 {
		t.Errorf("got %s %q %v", fd.Severity, fd.Summary, fd.Evidence)
	}
	f.Logs.Files = f.Logs.Files[1:]
	if fd := ch.run(f); fd.Severity != SeveritySkip || fd.Summary != "skipped: "+denied {
		t.Errorf("got %s %q", fd.Severity, fd.Summary)
	}
	// A file the user named with --logs that cannot be read leads the summary, ahead of
	// the files found in the configuration: it is the one they asked about.
	f.Logs.Files = append(f.Logs.Files, logparse.FileReport{File: logparse.File{Path: "/tmp/x.log", Origin: "--logs"}, Skipped: "/tmp/x.log does not exist"})
	if fd := ch.run(f); !strings.HasPrefix(fd.Summary, "skipped: /tmp/x.log does not exist") || !strings.Contains(fd.Summary, "and 1 more") {
		t.Errorf("with an unreadable --logs file: got %s %q", fd.Severity, fd.Summary)
	}
	// --no-logs: the log checks say so, the others judge without the logs.
	f = healthyFacts(newPKI(t))
	f.Errors[FactLogs] = "not read (--no-logs)"
	if fd := ch.run(f); fd.Severity != SeveritySkip || fd.Summary != "skipped: no logs facts: not read (--no-logs)" {
		t.Errorf("got %s %q", fd.Severity, fd.Summary)
	}
	exp, _ := DefaultCatalog().Lookup("agent-cert-expired")
	if fd := exp.run(f); fd.Severity != SeverityOK {
		t.Errorf("agent-cert-expired without logs: %s %q", fd.Severity, fd.Summary)
	}
}

// TestJoinLogsBareAccess: a passing check with a recent access-log 400 that gives no reason
// (NIM's grpc_json format, which cannot show mtls-doctor's own request apart) stays info;
// with NGINX's reason ($ssl_client_verify) it warns.
func TestJoinLogsBareAccess(t *testing.T) {
	recent := testNow.Add(-2 * time.Minute).Format(time.RFC3339)
	bare := `{"timestamp":"` + recent + `","client":"127.0.0.1","uri":"/f5.nginx.agent.sdk.Commander/CommandChannel","http-status":400,"grpc-status":,"upstream":"""rx-bytes":120,"tx-bytes":400}`
	reasoned := `127.0.0.1 [` + testNow.Add(-2*time.Minute).Format("02/Jan/2006:15:04:05 -0700") +
		`] "POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0" 400 verify=FAILED:certificate revoked`
	withVerify, err := logparse.CompileFormat("v", `$remote_addr [$time_local] "$request" $status verify=$ssl_client_verify`, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		line   string
		format *logparse.Format
		want   Severity
	}{
		{bare, logparse.GRPCJSON, SeverityInfo},
		{reasoned, withVerify, SeverityWarn},
	} {
		p := logparse.Parser{Type: logparse.TypeNginxAccess, Formats: []*logparse.Format{tc.format}, Location: time.UTC}
		ev, _, st := p.Parse(tc.line)
		if st != logparse.LineClassified {
			t.Fatalf("not classified: %s", tc.line)
		}
		f := healthyFacts(newPKI(t))
		f.Logs = &logparse.Report{From: testNow.Add(-time.Hour), To: testNow, Summaries: logparse.Aggregate([]logparse.Event{ev})}
		r := joinLogs(OK("NGINX accepted the agent certificate"), f, Check{ID: string(ev.Kind), LogKinds: []logparse.Kind{ev.Kind}})
		if r.Severity != tc.want {
			t.Errorf("%s: %s %q, want %s", tc.line, r.Severity, r.Summary, tc.want)
		}
	}
}

// TestEveryLogKindClaimed: every event kind logparse defines backs exactly one check of the
// catalog, and every kind a check claims exists, so renaming a check keeps its evidence.
func TestEveryLogKindClaimed(t *testing.T) {
	claimedBy := map[logparse.Kind]string{}
	for _, ch := range DefaultCatalog() {
		for _, k := range ch.LogKinds {
			if !slices.Contains(logparse.Kinds, k) {
				t.Errorf("%s claims %q, which logparse does not define", ch.ID, k)
			}
			if other, dup := claimedBy[k]; dup {
				t.Errorf("%q is claimed by %s and %s", k, other, ch.ID)
			}
			claimedBy[k] = ch.ID
		}
	}
	for _, k := range logparse.Kinds {
		if _, ok := claimedBy[k]; !ok {
			t.Errorf("no check claims log kind %q", k)
		}
	}
}
