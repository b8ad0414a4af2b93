package diagnostics

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// manyServersConf is healthyConf's agent server n times over, each with its own name; the
// server numbered optional has ssl_verify_client optional.
func manyServersConf(n, optional int) string {
	start := strings.Index(healthyConf, "    server {")
	end := strings.LastIndex(healthyConf, "}")
	block := healthyConf[start:end]
	var b strings.Builder
	b.WriteString("events {}\nhttp {\n")
	for i := range n {
		s := strings.Replace(block, "server_name nim.example.com;", fmt.Sprintf("server_name nim%d.example.com;", i), 1)
		if i == optional {
			s = strings.Replace(s, "ssl_verify_client on;", "ssl_verify_client optional;", 1)
		}
		b.WriteString(s)
	}
	b.WriteString("}\n")
	return b.String()
}

// TestManyServersCounted: with many alike agent-facing servers a finding lists the worst
// server, at most maxAlike others per verdict, and counts the rest; a distinct problem
// stays listed.
func TestManyServersCounted(t *testing.T) {
	p := newPKI(t)
	f := healthyFacts(p)
	setConf(f, p, manyServersConf(10, 4))
	if len(f.Nginx.Servers) != 10 {
		t.Fatalf("%d agent servers, want 10", len(f.Nginx.Servers))
	}
	c := DefaultCatalog()
	for _, id := range []string{"client-auth-not-required", "server-cert-expired", "nginx-client-ca-missing"} {
		ch, ok := c.Lookup(id)
		if !ok {
			t.Fatalf("no check %s", id)
		}
		fd := ch.run(f)
		var texts []string
		for _, e := range fd.Evidence {
			texts = append(texts, e.Text)
		}
		all := strings.Join(texts, "\n")
		if n := strings.Count(all, "ok: "); n > maxAlike {
			t.Errorf("%s lists %d ok servers, want at most %d:\n%s", id, n, maxAlike, all)
		}
		if !strings.Contains(all, "more servers ok") {
			t.Errorf("%s does not count the other ok servers:\n%s", id, all)
		}
		if id == "client-auth-not-required" && (fd.Severity < SeverityWarn || !strings.Contains(fd.Summary, "nginx.conf:")) {
			t.Errorf("%s: %s %q, want the optional server as the worst", id, fd.Severity, fd.Summary)
		}
	}
	ch, _ := c.Lookup("nginx-agent-server-missing")
	fd := ch.run(f)
	if last := fd.Evidence[len(fd.Evidence)-1].Text; fd.Severity != SeverityOK || last != "and 7 more servers pass them on" ||
		len(fd.Evidence) != 1+maxAlike*len(f.Nginx.Servers[0].Routes) {
		t.Errorf("nginx-agent-server-missing: %s, %d evidence, last %q", fd.Severity, len(fd.Evidence), last)
	}
}

// TestOtherVerdicts: alike healthy verdicts are counted after maxAlike, alike problems
// after maxAlike too, and every distinct problem is listed.
func TestOtherVerdicts(t *testing.T) {
	var results []Result
	for range 7 {
		results = append(results, OK("fine"))
	}
	for range 5 {
		results = append(results, Fail("expired"))
	}
	results = append(results, Warn("no intermediate"))
	ev := otherVerdicts(nil, results, 7, func(i int) string { return fmt.Sprintf("nginx.conf:%d", i) }, "server")
	var got []string
	for _, e := range ev {
		got = append(got, e.Location+" "+e.Text)
	}
	want := []string{
		"nginx.conf:0 ok: fine", "nginx.conf:1 ok: fine", "nginx.conf:2 ok: fine",
		"nginx.conf:8 fail: expired", "nginx.conf:9 fail: expired", "nginx.conf:10 fail: expired",
		"nginx.conf:12 warn: no intermediate",
		" and 4 more servers ok", " and 1 more server alike (fail: expired)",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if s := moreServers(12345); s != "12,345 more servers" {
		t.Errorf("moreServers(12345) = %q", s)
	}
}

// TestServedCertJudgedOncePerFile: judging each served file once gives the findings that
// judging every server's directive does, for every served-certificate check.
func TestServedCertJudgedOncePerFile(t *testing.T) {
	p := newPKI(t)
	f := healthyFacts(p)
	setConf(f, p, manyServersConf(5, -1))
	for name, eval := range map[string]func(*Facts) Result{
		"untrusted": evalServerUntrusted, "cn-only": evalServerCNOnly, "placeholder": evalServerPlaceholder,
		"expired": evalServerExpired, "not-yet-valid": evalServerNotYet, "expiring": evalServerExpiring, "purpose": evalServerPurpose,
	} {
		calls := 0
		fn := func(sc servedCert) Result {
			calls++
			return eval(servedFacts(f, sc))
		}
		each := judgeServedCerts(f, fn, false)
		eachCalls := calls
		calls = 0
		once := judgeServedCerts(f, fn, true)
		if each.Severity != once.Severity || each.Summary != once.Summary || !reflect.DeepEqual(each.Evidence, once.Evidence) {
			t.Errorf("%s: each server %s %q %v, once per file %s %q %v", name, each.Severity, each.Summary, each.Evidence, once.Severity, once.Summary, once.Evidence)
		}
		if eachCalls != 5 || calls != 2 {
			t.Errorf("%s: %d judgements for every server (want 5), %d once per file (want 2: the file, then the worst's own)", name, eachCalls, calls)
		}
	}
}

// fleetEvidence runs check id on n agent-facing servers, each with its own server_name
// that the shared certificate does not cover, and returns the finding.
func fleetEvidence(tb testing.TB, n int) Finding {
	tb.Helper()
	p := newPKI(tb)
	f := healthyFacts(p)
	setConf(f, p, manyServersConf(n, -1))
	if len(f.Nginx.Servers) != n {
		tb.Fatalf("%d agent servers, want %d", len(f.Nginx.Servers), n)
	}
	ch, ok := DefaultCatalog().Lookup("server-name-mismatch")
	if !ok {
		tb.Fatal("no check server-name-mismatch")
	}
	return ch.run(f)
}

// TestFleetNameMismatchGrouped: 2,000 servers whose names differ (none the agents' name,
// so each fails because the agents' name selects another server) fail for the same cause:
// the finding lists maxAlike examples and one count, not 2,000 lines.
func TestFleetNameMismatchGrouped(t *testing.T) {
	const n = 2000
	fd := fleetEvidence(t, n)
	if fd.Severity != SeverityFail {
		t.Fatalf("server-name-mismatch: %s %q, want fail", fd.Severity, fd.Summary)
	}
	var texts []string
	examples := 0
	for _, e := range fd.Evidence {
		texts = append(texts, e.Location+" "+e.Text)
		if strings.HasPrefix(e.Text, "fail: ") && strings.Contains(e.Location, "nginx.conf:") {
			examples++
		}
	}
	all := strings.Join(texts, "\n")
	if examples != maxAlike {
		t.Errorf("%d example servers listed, want %d:\n%s", examples, maxAlike, all)
	}
	wantCount := fmt.Sprintf("and %s alike (fail: cause %s)", more(n-1-maxAlike, "server"), CauseOtherServerSelected)
	if !strings.Contains(all, wantCount) {
		t.Errorf("no count %q:\n%s", wantCount, all)
	}
	if len(fd.Evidence) > 20 {
		t.Errorf("%d evidence lines for %d alike servers, want at most 20:\n%s", len(fd.Evidence), n, all)
	}
}

// TestAlikeByCause: problems with the same Cause are counted together whatever their
// summaries say; without a Cause the summary decides; different causes stay apart.
func TestAlikeByCause(t *testing.T) {
	var results []Result
	for i := range 6 {
		results = append(results, Fail("name %d not covered", i).Because(CauseNameMismatch))
	}
	results = append(results, Fail("expired").Because(CauseExpired), Warn("plain"), Warn("plain"), Warn("other"))
	ev := otherVerdicts(nil, results, 0, func(i int) string { return fmt.Sprintf("nginx.conf:%d", i) }, "server")
	var got []string
	for _, e := range ev {
		got = append(got, e.Location+" "+e.Text)
	}
	want := []string{
		"nginx.conf:1 fail: name 1 not covered", "nginx.conf:2 fail: name 2 not covered", "nginx.conf:3 fail: name 3 not covered",
		"nginx.conf:6 fail: expired", "nginx.conf:7 warn: plain", "nginx.conf:8 warn: plain", "nginx.conf:9 warn: other",
		" and 2 more servers alike (fail: cause name-mismatch)",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// BenchmarkFleetNameMismatch runs server-name-mismatch on 10,000 servers with distinct
// names the certificate does not cover and reports the finding's evidence size (run with
// -benchtime=1x: each iteration judges the whole fleet).
func BenchmarkFleetNameMismatch(b *testing.B) {
	const n = 10000
	p := newPKI(b)
	f := healthyFacts(p)
	setConf(f, p, manyServersConf(n, -1))
	ch, _ := DefaultCatalog().Lookup("server-name-mismatch")
	var fd Finding
	for b.Loop() {
		fd = ch.run(f)
	}
	size := 0
	for _, e := range fd.Evidence {
		size += len(e.Location) + len(e.Text)
		for _, q := range e.Quote {
			size += len(q)
		}
	}
	b.ReportMetric(float64(size), "evidence-bytes")
	b.ReportMetric(float64(len(fd.Evidence)), "evidence-lines")
}
