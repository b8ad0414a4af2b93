package logparse

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The scan's shortcuts — the block-wide search for OwnProbeMark, the remembered
// access-log time, the remembered classification of an error line's text, the first-byte gate of mayClassifyError, the forward lastIndex and the
// "level" pre-check before an agent-JSON decode — must not change what any line becomes.

// TestScanAgreesWithParse: a scan of several blocks of error and custom-format access
// lines, with mtls-doctor's own probe only in the last block, counts every status and kind
// as Parse does line by line.
func TestScanAgreesWithParse(t *testing.T) {
	dir := t.TempDir()
	real := realLines(t)
	var errLines, accLines []string
	zones := []string{"+0000", "+0100", "-0530"}
	for i := range 24000 { // about 4.5 MB of each: five blocks
		at := scanNow.Add(-time.Duration(3000-i/8) * time.Second)
		l := real[i%len(real)]
		errLines = append(errLines, at.Format("2006/01/02 15:04:05")+l[19:])
		status := []string{"200", "200", "400", "502", "421", "200"}[i%6]
		verify := []string{"SUCCESS", "FAILED:certificate has expired", "NONE"}[i%3]
		query, ua := "", "nginx-agent/v2.46.7"
		if i >= 23900 && i%7 == 0 { // only the last block holds the probe's mark
			query, ua = "?"+OwnProbeQuery, OwnProbeUserAgent
		}
		zone := zones[i/5%len(zones)]
		accLines = append(accLines, fmt.Sprintf(`10.0.%d.%d - - [%s %s] "POST /f5.nginx.agent.sdk.Commander/CommandChannel%s HTTP/2.0" %s 255 "-" "%s" verify=%s sdn="CN=agent-%d,O=Example" alpn=h2 sni=nim.example.com rt=0.004`,
			i%7, i%11, at.Format("02/Jan/2006:15:04:05"), zone, query, status, ua, verify, i%13))
	}
	for i := 23950; i < len(errLines); i += 9 {
		errLines[i] = strings.Replace(errLines[i], `request: "POST /f5.nginx.agent.sdk.Commander/CommandChannel`,
			`request: "POST /f5.nginx.agent.sdk.Commander/CommandChannel?`+OwnProbeQuery, 1)
	}
	errPath, accPath := filepath.Join(dir, "error.log"), filepath.Join(dir, "access.log")
	writeLog(t, errPath, errLines, scanNow)
	writeLog(t, accPath, accLines, scanNow)
	files := []File{{Path: errPath, Type: TypeNginxError}, {Path: accPath, Type: TypeAuto, Formats: []*Format{benchMTLSFormat}}}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep := Scan(ctx, files, Options{Now: scanNow, Location: time.UTC, Workers: 2}) // whole files: the zones differ

	wantKinds := map[Kind]int{}
	for i, lines := range [][]string{errLines, accLines} {
		p := Parser{Type: files[i].Type, Formats: files[i].Formats, Location: time.UTC}
		var want FileReport
		for _, l := range lines {
			ev, _, st := p.Parse(l)
			switch st {
			case LineUnparsed:
				want.Unparsed++
				continue
			case LineClassified:
				want.Classified++
				wantKinds[ev.Kind]++
			case LineUnclassified:
				want.Unclassified++
			case LineOwnProbe:
				want.OwnProbe++
			}
			want.Lines++
		}
		got := rep.Files[i]
		if got.Lines != want.Lines || got.Classified != want.Classified || got.Unclassified != want.Unclassified ||
			got.OwnProbe != want.OwnProbe || got.Unparsed != want.Unparsed {
			t.Errorf("%s: scan %d lines (%d classified, %d unclassified, %d own probe, %d unparsed), Parse %d (%d, %d, %d, %d)",
				files[i].Path, got.Lines, got.Classified, got.Unclassified, got.OwnProbe, got.Unparsed,
				want.Lines, want.Classified, want.Unclassified, want.OwnProbe, want.Unparsed)
		}
		if want.OwnProbe == 0 || want.Classified == 0 {
			t.Errorf("%s: the input should hold own-probe and classified lines: %+v", files[i].Path, want)
		}
	}
	gotKinds := map[Kind]int{}
	for _, s := range rep.Summaries {
		gotKinds[s.Kind] += s.Count
	}
	if !reflect.DeepEqual(gotKinds, wantKinds) {
		t.Errorf("scan kinds %v, Parse %v", gotKinds, wantKinds)
	}
}

// Every message ClassifyError classifies passes mayClassifyError's first-byte gate.
func TestMayClassifyErrorGate(t *testing.T) {
	for _, p := range errorPrefixes {
		if _, ok := mayClassifyError(p); !ok {
			t.Errorf("prefix %q is refused by the gate", p)
		}
	}
	for _, m := range []string{"", "signal 3 (SIGQUIT) received", "exit", "*1 client"} {
		if _, ok := mayClassifyError(m); ok {
			t.Errorf("message %q may classify", m)
		}
	}
}

func FuzzLastIndex(f *testing.F) {
	f.Add("a while b while c", " while ", 1)
	f.Add("aaaa", "aa", 0)
	f.Add("whilewhile", "while", 4)
	f.Fuzz(func(t *testing.T, s, sep string, anchor int) {
		if sep == "" {
			return
		}
		anchor = (anchor%len(sep) + len(sep)) % len(sep)
		if got, want := lastIndex(s, sep, anchor), strings.LastIndex(s, sep); got != want {
			t.Errorf("lastIndex(%q, %q, %d) = %d, strings.LastIndex %d", s, sep, anchor, got, want)
		}
	})
}

func FuzzIndexLit(f *testing.F) {
	f.Add(`10.0.0.5 - - [22/Nov/2026:16:05:53 +0000] "GET / HTTP/1.1" 200`, `] "`, 0)
	f.Add(`a - b - c`, ` - `, 2)
	f.Add(`""x"`, `"x`, 1)
	f.Fuzz(func(t *testing.T, s, lit string, anchor int) {
		if lit == "" {
			return
		}
		want := strings.Index(s, lit)
		if got := indexLit(s, lit, anchorOf(lit)); got != want {
			t.Errorf("indexLit(%q, %q, anchorOf) = %d, strings.Index %d", s, lit, got, want)
		}
		anchor = (anchor%len(lit) + len(lit)) % len(lit)
		if got := indexLit(s, lit, anchor); got != want {
			t.Errorf("indexLit(%q, %q, %d) = %d, strings.Index %d", s, lit, anchor, got, want)
		}
	})
}

// shortcutFormats are access formats for each time variable the scan remembers.
var shortcutFormats = []*Format{
	benchMTLSFormat,
	mustCompile("iso", `$remote_addr [$time_iso8601] "$request" $status "$http_user_agent"`, "default"),
	mustCompile("msec", `$msec $remote_addr "$request" $status $grpc_status`, "default"),
	GRPCJSON,
}

// FuzzParserShortcuts: a Parser that read line1 and then line2 with the scan's shortcuts
// (the remembered time, the block-wide mark search) judges line2 as one that forgets
// them; and an agent-JSON line the pre-check refuses does not decode into an agent entry.
func FuzzParserShortcuts(f *testing.F) {
	for i, s := range seedLines {
		f.Add(s, seedLines[(i+1)%len(seedLines)])
	}
	f.Add(`10.0.0.5 [2026-11-22T16:05:53+00:00] "GET / HTTP/1.1" 400 "ua"`, `10.0.0.5 [2026-11-22T16:05:53+01:00] "GET / HTTP/1.1" 400 "ua"`)
	f.Add(`1795450000.123 10.0.0.5 "POST /a HTTP/2.0" 200 16`, `1795450000.123 10.0.0.6 "POST /a HTTP/2.0" 400 -`)
	f.Add(`{"\u006cevel":"error","msg":"m"}`, `{"level":"info"}`)
	f.Add(seedLines[0], strings.Replace(seedLines[0], "16:05:53 [info] 665#665: *1 ", "16:05:54 [info] 9#9: *77 ", 1))
	f.Fuzz(func(t *testing.T, line1, line2 string) {
		for _, typ := range []Type{TypeAuto, TypeNginxAccess, TypeNginxError} {
			fast := Parser{Type: typ, Formats: shortcutFormats, Location: time.UTC}
			slow := fast
			fast.markChecked = !strings.Contains(line1+"\n"+line2, OwnProbeMark)
			fast.Parse(line1)
			slow.Parse(line1)
			slow.accessTimes, slow.markChecked, slow.rests = accessTimes{}, false, nil
			fev, ft, fst := fast.Parse(line2)
			sev, st, sst := slow.Parse(line2)
			if fst != sst || !ft.Equal(st) || !reflect.DeepEqual(fev, sev) {
				t.Errorf("%s after %q: %q is %v %v %+v with the shortcuts, %v %v %+v without", typ, line1, line2, fst, ft, fev, sst, st, sev)
			}
		}
		var m map[string]any
		d := json.NewDecoder(strings.NewReader(line2))
		d.UseNumber()
		if d.Decode(&m) == nil {
			if _, ok := m["level"].(string); ok {
				if _, ok := parseAgentJSON(line2); !ok {
					t.Errorf("%q has a level but the pre-check refused it", line2)
				}
			}
		}
	})
}

func FuzzContainsMark(f *testing.F) {
	f.Add("x mtls-doctor-probe y")
	f.Add("bbmtls-doctor-probbe mtls-doctor-prob")
	f.Add("mtls-doctor-probe")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := containsMark([]byte(s)), strings.Contains(s, OwnProbeMark); got != want {
			t.Errorf("containsMark(%q) = %v, strings.Contains %v", s, got, want)
		}
	})
}

// TestRestCache: repeated error lines are classified from the cache, each as a fresh
// Parser classifies it, and a log whose lines never repeat stops using the cache.
func TestRestCache(t *testing.T) {
	real := realLines(t)
	p := Parser{Type: TypeNginxError, Location: time.UTC}
	for i := range 3000 {
		l := real[i%len(real)]
		ev, tm, st := p.Parse(l)
		fresh := Parser{Type: TypeNginxError, Location: time.UTC}
		wev, wtm, wst := fresh.Parse(l)
		if st != wst || !tm.Equal(wtm) || !reflect.DeepEqual(ev, wev) {
			t.Fatalf("line %d %q: cached %v %+v, fresh %v %+v", i, l, st, ev, wst, wev)
		}
	}
	if c := p.rests; c == nil || c.misses > 20 || c.hits < 1000 {
		t.Fatalf("cache: %d hits, %d misses: the repeated lines should hit", c.hits, c.misses)
	}
	p = Parser{Type: TypeNginxError, Location: time.UTC}
	for i := range 2000 {
		l := fmt.Sprintf("2026/11/22 16:05:53 [info] 1#1: *%d client sent no required SSL certificate while reading client request headers, client: 10.0.%d.%d, server: x", i, i/250, i%250)
		if ev, _, st := p.Parse(l); st != LineClassified || ev.Kind != KindAgentCertNotSent || ev.Client != fmt.Sprintf("10.0.%d.%d", i/250, i%250) {
			t.Fatalf("line %d: %v %+v", i, st, ev)
		}
	}
	if c := p.rests; c.misses > restCacheGrace+1 {
		t.Errorf("%d misses: the cache should have been left after %d", c.misses, restCacheGrace)
	}
}
