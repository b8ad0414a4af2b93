package logparse

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"hash"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/classify.golden from the current classifier")

// The golden file records what every line of a fixed corpus becomes (status, time and
// event, for each kind of Parser) and what Scan makes of it, as the classifier did before
// the scan's fast paths were written: any shortcut that changes one line's fate changes
// a digest. Regenerate it with -update only for a deliberate change of behaviour.
const goldenPath = "testdata/classify.golden"

// equivalenceFormats are access formats of every shape the fast paths treat apart: time
// and status in different orders, a grpc status, JSON escaping, adjacent variables, a
// format without time.
var equivalenceFormats = []*Format{
	benchMTLSFormat,
	mustCompile("iso", `$remote_addr [$time_iso8601] "$request" $status "$http_user_agent"`, "default"),
	mustCompile("msec", `$msec $remote_addr "$request" $status $grpc_status`, "default"),
	mustCompile("status_first", `$status $time_local|$remote_addr|$request_uri|$ssl_client_verify`, "none"),
	mustCompile("adjacent", `$remote_addr$remote_user [$time_local] $request_method $uri$is_args$args $status`, "default"),
	mustCompile("notime", `$remote_addr "$request" $status`, "default"),
	Combined, MainExt, GRPCJSON,
}

// equivalenceCorpus is the real error log, the fuzz seeds, and 30,000 generated lines
// that mix every log kind, status, verify result and format, some cut short or with a
// byte changed.
func equivalenceCorpus(t testing.TB) []string {
	lines := append(realLines(t), seedLines...)
	r := rand.New(rand.NewPCG(14, 2026))
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	real := realLines(t)
	base := time.Date(2026, 11, 22, 15, 0, 0, 0, time.UTC)
	for i := range 30000 {
		at := base.Add(time.Duration(i/3) * time.Second)
		status := pick("200", "200", "200", "204", "400", "400", "404", "421", "495", "496", "497", "499", "502", "503", "-", "2000", "40")
		verify := pick("SUCCESS", "NONE", "FAILED:certificate has expired", "FAILED:unable to get local issuer certificate", "FAILED:certificate is not yet valid", "-")
		uri := pick("/f5.nginx.agent.sdk.Commander/CommandChannel", "/mpi.v1.CommandService/Subscribe", "/ui/index.html", "/api/x?"+OwnProbeQuery, "/")
		req := pick("POST "+uri+" HTTP/2.0", "GET "+uri+" HTTP/1.1", "PRI * HTTP/2.0", "-", `GET /a\x22b" HTTP/1.1`)
		ua := pick("nginx-agent/v2.46.7 grpc-go/1.79.3", "Mozilla/5.0 (X11; Linux x86_64)", OwnProbeUserAgent, "-")
		zone := pick("+0000", "+0100", "-0530")
		grpc := pick("0", "16", "-", "14")
		addr := fmt.Sprintf("10.%d.%d.%d", r.IntN(3), r.IntN(5), r.IntN(250))
		var l string
		switch r.IntN(12) {
		case 0, 1, 2:
			l = at.Format("2006/01/02 15:04:05") + real[r.IntN(len(real))][19:]
		case 3:
			l = fmt.Sprintf(`%s - - [%s %s] "%s" %s 255 "-" "%s" verify=%s sdn="CN=agent-%d,O=Example" alpn=h2 sni=nim.example.com rt=0.004`,
				addr, at.Format("02/Jan/2006:15:04:05"), zone, req, status, ua, verify, r.IntN(9))
		case 4:
			l = fmt.Sprintf(`%s - - [%s %s] "%s" %s 255 "-" "%s"`, addr, at.Format("02/Jan/2006:15:04:05"), zone, req, status, ua)
		case 5:
			l = fmt.Sprintf(`{"timestamp":"%s","client":"%s","uri":"%s","http-status":%s,"grpc-status":%s,"upstream":"""rx-bytes":320,"tx-bytes":411}`,
				at.Format(time.RFC3339), addr, uri, status, pick(grpc, ""))
		case 6:
			l = fmt.Sprintf(`%d.%03d %s "%s" %s %s`, at.Unix(), r.IntN(1000), addr, req, status, grpc)
		case 7:
			l = fmt.Sprintf(`%s [%s] "%s" %s "%s"`, addr, at.Format(time.RFC3339), req, status, ua)
		case 8:
			l = fmt.Sprintf(`%s %s %s|%s|%s|%s`, status, at.Format("02/Jan/2006:15:04:05"), zone, addr, uri, verify)
		case 9:
			l = fmt.Sprintf(`%s- [%s %s] %s %s %s`, addr, at.Format("02/Jan/2006:15:04:05"), zone, pick("GET", "POST"), uri, status)
		case 10:
			l = pick(seedLines...)
		case 11:
			l = fmt.Sprintf(`%s "%s" %s`, addr, req, status)
		}
		switch r.IntN(10) {
		case 0: // cut short
			l = l[:r.IntN(len(l)+1)]
		case 1: // one byte changed
			if len(l) > 0 {
				b := []byte(l)
				b[r.IntN(len(b))] = pick(" ", "\"", "[", "]", "\\", "-", "4", "x", "\xff")[0]
				l = string(b)
			}
		}
		lines = append(lines, l)
	}
	return lines
}

// recordParse writes what each Parser makes of each line to h.
func recordParse(h hash.Hash, lines []string, p Parser) {
	for _, l := range lines {
		ev, t, st := p.Parse(l)
		if st != LineClassified {
			ev = Event{} // Parse promises an event only for the lines it classifies
		}
		fmt.Fprintf(h, "%d %d %s|%s %s %q %q %d %q %d %q %q\n", st, t.UnixNano(), t.Format(time.RFC3339Nano),
			ev.Kind, ev.Source, ev.Client, ev.Server, ev.X509Code, ev.X509Text, ev.Status, ev.Detail, ev.Line)
	}
}

func TestClassificationUnchanged(t *testing.T) {
	lines := equivalenceCorpus(t)
	var out strings.Builder
	fmt.Fprintf(&out, "# %d lines; regenerate with go test ./logparse -run TestClassificationUnchanged -update\n", len(lines))
	parsers := []struct {
		name string
		p    Parser
	}{
		{"auto", Parser{Type: TypeAuto, Formats: equivalenceFormats, Location: time.UTC}},
		{"auto-default-formats", Parser{Type: TypeAuto, Location: time.UTC}},
		{"access", Parser{Type: TypeNginxAccess, Formats: equivalenceFormats, Location: time.UTC}},
		{"error", Parser{Type: TypeNginxError, Location: time.UTC}},
		{"agent", Parser{Type: TypeAgent}},
	}
	for _, c := range parsers {
		h := sha256.New()
		recordParse(h, lines, c.p)
		fmt.Fprintf(&out, "parse %s %x\n", c.name, h.Sum(nil))
	}
	for _, fm := range equivalenceFormats {
		h := sha256.New()
		for _, l := range lines {
			e, ok := fm.Parse(l, time.UTC)
			fmt.Fprintf(h, "%v %+v\n", ok, e)
		}
		fmt.Fprintf(&out, "format %s %x\n", fm.Name, h.Sum(nil))
	}

	// The same lines through Scan, whole (no window, so no early stop) and with Parsers
	// whose result does not depend on where the blocks split the file: a Parser tries
	// first the access format that matched last, so a line that fits several formats may
	// be read by another one when the blocks (or workers) split the file elsewhere.
	// Which event of a group gives its example, detail and X509 text depends on the order
	// the blocks are read in too, so the scan records counts.
	dir := t.TempDir()
	path := filepath.Join(dir, "mixed.log")
	now := time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC)
	writeLog(t, path, lines, now)
	scans := []struct {
		name string
		file File
	}{
		{"auto-one-format", File{Path: path, Type: TypeAuto, Formats: []*Format{benchMTLSFormat}}},
		{"access-one-format", File{Path: path, Type: TypeNginxAccess, Formats: []*Format{GRPCJSON}}},
		{"error", File{Path: path, Type: TypeNginxError}},
		{"agent", File{Path: path, Type: TypeAgent}},
	}
	for _, c := range scans {
		for _, workers := range []int{1, 3} {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			rep := Scan(ctx, []File{c.file}, Options{Now: now, Location: time.UTC, Workers: workers})
			cancel()
			f := rep.Files[0]
			counts := fmt.Sprintf("scan %s: %d lines, %d classified, %d unclassified, %d own probe, %d unparsed, %v..%v\n",
				c.name, f.Lines, f.Classified, f.Unclassified, f.OwnProbe, f.Unparsed, f.Oldest.UTC(), f.Newest.UTC())
			for _, sm := range rep.Summaries {
				counts += fmt.Sprintf("  %s %s %d: %d, %v..%v, %d clients %v\n", sm.Kind, sm.Source, sm.X509Code,
					sm.Count, sm.FirstSeen.UTC(), sm.LastSeen.UTC(), sm.ClientsTotal, sm.Clients[:min(3, len(sm.Clients))])
			}
			if workers == 1 {
				out.WriteString(counts)
			} else if !strings.Contains(out.String(), counts) {
				t.Errorf("%s: the scan with %d workers differs from the one with 1:\n%s", c.name, workers, counts)
			}
		}
	}

	if *updateGolden {
		if err := os.WriteFile(goldenPath, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got := out.String(); got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := range max(len(gl), len(wl)) {
			g, w := "", ""
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Errorf("classification changed at line %d of %s:\n got  %s\n want %s", i+1, goldenPath, g, w)
			}
		}
	}
}
