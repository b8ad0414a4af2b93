package logparse

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// seedLines are real and fact-sheet lines of every format, the fuzzers' starting points.
var seedLines = []string{
	// Real NGINX 1.22.1 lines (testdata/logs/nginx-error-real.log).
	`2026/11/22 16:05:53 [info] 665#665: *1 client SSL certificate verify error: (10:certificate has expired) while reading client request headers, client: 127.0.0.1, server: nim.test.local, request: "POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0", host: "127.0.0.1:35051"`,
	`2026/11/22 16:05:53 [error] 669#669: *1 connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: nim.test.local, request: "POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0", upstream: "grpc://127.0.0.1:35545", host: "127.0.0.1:37421"`,
	`2026/11/22 16:06:16 [info] 779#779: *1 SSL_do_handshake() failed (SSL: error:0A000412:SSL routines::sslv3 alert bad certificate:SSL alert number 42) while SSL handshaking, client: 127.0.0.1, server: 127.0.0.1:42249`,
	`2026/11/22 15:57:18 [notice] 27987#27987: signal 3 (SIGQUIT) received from 27981, shutting down`,
	// Access logs.
	`10.0.0.5 - - [22/Nov/2026:16:05:53 +0100] "POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0" 400 255 "-" "nginx-agent/v2.46.7 grpc-go/1.79.3"`,
	`{"timestamp":"2026-11-22T16:05:53+00:00","client":"10.0.0.5","uri":"/f5.nginx.agent.sdk.Commander/CommandChannel","http-status":400,"grpc-status":,"upstream":"""rx-bytes":320,"tx-bytes":411}`,
	`10.0.0.5 - - [22/Nov/2026:16:05:53 +0000] "POST /x HTTP/2.0" 502 150 "-" "h2" "ua" "-" "h" sn="s" rt=0.001 ua="a" us="502" ut="0.000" ul="0" cs=- 0f3a`,
	// Agent v2 and v3.
	`time="2025-01-15T10:00:00Z" level=error msg="Unable to create command channel: rpc error: code = Unavailable desc = connection error: desc = \"transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority\""`,
	`time=2025-06-01T10:00:01.123Z level=ERROR msg="Failed to create connection" error="rpc error: code = Unavailable" correlation_id=4f0c server_type=command`,
	`{"time":"2025-06-01T10:00:01.123Z","level":"WARN","msg":"m","error":"e","server_type":"command"}`,
	`INFO[0000] Commander initializing`,
	// Odd input.
	"", "\xff\xfe\xfd", `"\`, `time="\`, `{"level":1}`, "2026/11/22 16:05:53 [info] 1#1: *",
}

// realLines returns the lines of the real NGINX error log fixture.
func realLines(t testing.TB) []string {
	t.Helper()
	data, err := os.ReadFile("../testdata/logs/nginx-error-real.log")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

func FuzzParseErrorLine(f *testing.F) {
	for _, s := range append(seedLines, realLines(f)...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		e, ok := ParseErrorLine(line, time.UTC)
		if !ok {
			return
		}
		if LevelRank(e.Level) < 0 {
			t.Errorf("level %q", e.Level)
		}
		for _, field := range []string{e.Message, e.Action, e.Client, e.Server, e.Request, e.Upstream, e.Host} {
			if !strings.Contains(line, field) {
				t.Errorf("field %q is not part of the line", field)
			}
		}
		ev, ok := ClassifyError(&e)
		if ok && ev.Kind == "" {
			t.Error("classified without a kind")
		}
		// The Parser's shortcut (no field split unless the message may classify) must
		// agree with the full parse.
		p := Parser{Type: TypeNginxError, Location: time.UTC}
		pev, pt, st := p.Parse(line)
		if (st == LineClassified) != ok || !pt.Equal(e.Time) ||
			ok && (pev.Kind != ev.Kind || pev.X509Code != ev.X509Code || pev.Client != ev.Client || pev.Detail != ev.Detail) {
			t.Errorf("parser %v %+v, full parse %v %+v", st, pev, ok, ev)
		}
	})
}

func FuzzParseAccessLine(f *testing.F) {
	for _, s := range seedLines {
		f.Add(s, CombinedFormat)
	}
	f.Add(`a "b" c`, `$x "$y" $z`)
	for _, fm := range equivalenceFormats {
		f.Add(`10.0.0.5 - - [22/Nov/2026:16:05:53 +0000] "GET / HTTP/1.1" 200 1 "-" "ua" verify=NONE sdn="-" alpn=h2 sni=a rt=0.1`, fm.Text)
		f.Add(`200 22/Nov/2026:16:05:53 +0000|10.0.0.5|/|NONE`, fm.Text)
		f.Add(`1795450000.123 10.0.0.5 "POST /a HTTP/2.0" 200 16`, fm.Text)
	}
	f.Add(`{"a":"\"","b":}`, `{"a":"$a","b":$b}`)
	f.Fuzz(func(t *testing.T, line, format string) {
		for _, fm := range DefaultFormats {
			if e, ok := fm.Parse(line, time.UTC); ok {
				ClassifyAccess(&e)
			}
		}
		for _, esc := range []string{"default", "json", "none"} {
			fm, err := CompileFormat("fuzz", format, esc)
			if err != nil {
				continue
			}
			e, ok := fm.Parse(line, time.UTC)
			if ok && len(e.Vars) > len(fm.segs) {
				t.Errorf("%d vars from %d segments", len(e.Vars), len(fm.segs))
			}
			sameAsScan(t, fm, line, e, ok)
		}
	})
}

// sameAsScan checks that the scan's match, which copies only the named fields and may
// stop early on a line that can be no event, judges every line as Parse does: the same
// time for every line Parse accepts, the same event for every line it classifies, and
// no event from a line Parse refuses.
func sameAsScan(t *testing.T, fm *Format, line string, want AccessEntry, wantOK bool) {
	t.Helper()
	var got AccessEntry
	ok := fm.match(line, time.UTC, &got, false, nil)
	// The scan's first look decides only lines that match accepts as no event, with the
	// same time.
	var times accessTimes
	quick := AccessEntry{Request: "stale", Status: 400, Vars: []Var{{"x", "y"}}} // scanLine may get any entry
	qok, ruledOut := fm.scanLine(line, time.UTC, &quick, &times)
	gotEv0, gotClass0 := ClassifyAccess(&got)
	switch {
	case qok != ok:
		t.Errorf("format %q line %q: scanLine %v, match %v", fm.Text, line, qok, ok)
	case ok && ruledOut && (gotClass0 || !quick.Time.Equal(got.Time) || quick.Time.Location() != got.Time.Location()):
		t.Errorf("format %q line %q: scanLine ruled it out at %v, match %+v", fm.Text, line, quick.Time, got)
	case ok && !ruledOut:
		if ev, class := ClassifyAccess(&quick); class != gotClass0 || !reflect.DeepEqual(ev, gotEv0) || !quick.Time.Equal(got.Time) {
			t.Errorf("format %q line %q: scanLine %v %+v, match %v %+v", fm.Text, line, class, ev, gotClass0, gotEv0)
		}
	}
	gotEv, gotClass := ClassifyAccess(&got)
	if !wantOK {
		if ok && gotClass {
			t.Errorf("format %q line %q: match classified %+v, Parse refused the line", fm.Text, line, gotEv)
		}
		return
	}
	wantEv, wantClass := ClassifyAccess(&want)
	switch {
	case !ok:
		t.Errorf("format %q line %q: match refused the line, Parse accepted it", fm.Text, line)
	case !got.Time.Equal(want.Time):
		t.Errorf("format %q line %q: match time %v, Parse %v", fm.Text, line, got.Time, want.Time)
	case gotClass != wantClass || gotClass && !reflect.DeepEqual(gotEv, wantEv):
		t.Errorf("format %q line %q: match classified %v %+v, Parse %v %+v", fm.Text, line, gotClass, gotEv, wantClass, wantEv)
	}
}

func FuzzParseAgentLine(f *testing.F) {
	for _, s := range seedLines {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		e, ok := ParseAgentLine(line)
		if !ok {
			return
		}
		if e.Level != strings.ToLower(e.Level) {
			t.Errorf("level %q not lower case", e.Level)
		}
		ClassifyAgent(&e)
	})
}

func FuzzParser(f *testing.F) {
	for _, s := range seedLines {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		var p Parser
		ev, _, st := p.Parse(line)
		if st == LineClassified && (ev.Kind == "" || !utf8.ValidString(ev.Line) || len(ev.Line) > MaxLineBytes+len(" …")) {
			t.Errorf("bad event %+v", ev)
		}
	})
}

// TestHostileLines feeds every parser a 1 MB line, invalid UTF-8 and every prefix of real
// lines (a line cut anywhere): nothing panics, and a cut error-log line that still holds
// its header still parses.
func TestHostileLines(t *testing.T) {
	huge := strings.Repeat("A", 1<<20)
	cut := strings.Index(seedLines[0], `request: "`) + len(`request: "`)
	hugeErr := seedLines[0][:cut] + huge + ` HTTP/2.0", host: "x"`
	hugeAccess := `10.0.0.5 - - [22/Nov/2026:16:05:53 +0100] "POST /` + huge + ` HTTP/2.0" 400 255 "-" "x"`
	lines := []string{huge, hugeErr, hugeAccess, `time="x" level=error msg="` + huge, "{" + huge, "\x00\xff" + huge}
	for _, s := range seedLines {
		for i := range len(s) {
			lines = append(lines, s[:i], s[:i]+"\xff")
		}
	}
	for _, s := range lines {
		var p Parser
		ev, _, st := p.Parse(s)
		if st == LineClassified && len(ev.Line) > MaxLineBytes+len(" …") {
			t.Errorf("event line of %d bytes", len(ev.Line))
		}
		ParseAgentLine(s)
		for _, f := range DefaultFormats {
			f.Parse(s, nil)
		}
	}
	if e, ok := ParseErrorLine(hugeErr, nil); !ok || e.Level != "info" || e.Host != "x" {
		t.Errorf("1 MB error line: %v %+v", ok, e.Level)
	}
	if e, ok := Combined.Parse(hugeAccess, nil); !ok || e.Status != 400 || len(e.URI) < 1<<20 {
		t.Errorf("1 MB access line: %v status %d", ok, e.Status)
	}
	var p Parser
	// The huge request is no agent's path: the upstream's view of a front NGINX.
	if ev, _, st := p.Parse(hugeErr); st != LineClassified || ev.Kind != KindUpstreamClientCertExpired {
		t.Errorf("1 MB classified line: %v %v", st, ev.Kind)
	}
	// A cut error line keeps its header ("… PID#TID: ").
	real := seedLines[0]
	for i := strings.Index(real, ": ") + 2; i < len(real); i++ {
		if _, ok := ParseErrorLine(real[:i], nil); !ok {
			t.Errorf("prefix %q does not parse", real[:i])
		}
	}
}
