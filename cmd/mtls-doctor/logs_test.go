package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/logparse"
)

const realErrorLog = "../../testdata/logs/nginx-error-real.log"

func runLogs(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, append([]string{"logs"}, args...), environ{vars: []string{"TZ=UTC"}}, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// TestLogsCustomFormat: a FILE in a log_format the --nginx-config defines is read in it
// (auto-detected per line, beside an error-log line), as bench/logs.sh times it.
func TestLogsCustomFormat(t *testing.T) {
	dir := t.TempDir()
	conf, access := filepath.Join(dir, "nginx.conf"), filepath.Join(dir, "access.log")
	format := `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" ` +
		`verify=$ssl_client_verify sdn="$ssl_client_s_dn" proto=$ssl_protocol alpn=$ssl_alpn_protocol sni=$ssl_server_name rt=$request_time`
	if err := os.WriteFile(conf, []byte("events {}\nhttp {\n    log_format mtls '"+format+"';\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ts := time.Now().UTC().Add(-time.Minute).Format("02/Jan/2006:15:04:05 +0000")
	const cmd = `"POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0"`
	lines := []string{
		`10.0.0.1 - - [` + ts + `] ` + cmd + ` 200 120 "-" "nginx-agent/v2.46.7 grpc-go/1.79.3" verify=SUCCESS sdn="CN=agent-1,O=Example" proto=TLSv1.3 alpn=h2 sni=nim.example.com rt=0.004`,
		`10.0.9.1 - - [` + ts + `] ` + cmd + ` 400 255 "-" "nginx-agent/v2.46.7 grpc-go/1.79.3" verify=FAILED:certificate has expired sdn="CN=agent-old,O=Example" proto=TLSv1.3 alpn=h2 sni=nim.example.com rt=0.000`,
		`10.0.9.2 - - [` + ts + `] ` + cmd + ` 400 255 "-" "nginx-agent/v2.46.7 grpc-go/1.79.3" verify=NONE sdn="-" proto=TLSv1.3 alpn=h2 sni=nim.example.com rt=0.000`,
	}
	if err := os.WriteFile(access, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runLogs(t, "-o", "json", "--nginx-config", conf, access)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got logsJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	kinds := map[string]int{}
	for _, e := range got.Events {
		kinds[e.Kind] += e.Count
	}
	if len(kinds) != 2 || kinds["agent-cert-expired"] != 1 || kinds["agent-cert-not-sent"] != 1 {
		t.Errorf("events %v, want one agent-cert-expired and one agent-cert-not-sent:\n%s", kinds, out)
	}
	// Without the configuration no format the tool knows reads the rejections (combined
	// ends before verify=): no events.
	if _, out, _ := runLogs(t, "-o", "json", access); strings.Contains(out, "agent-cert-expired") {
		t.Errorf("without --nginx-config: %s", out)
	}
}

// TestLogsJSON checks the documented JSON shape on the real NGINX lines.
func TestLogsJSON(t *testing.T) {
	code, out, errOut := runLogs(t, "--since", "0", "-o", "json", realErrorLog)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(raw) != 2 || raw["version"] != float64(1) {
		t.Fatalf("top level %v", raw)
	}
	events := raw["events"].([]any)
	wantKeys := []string{"clients", "count", "example", "first_seen", "kind", "last_seen", "source", "x509_code"}
	found := false
	for _, e := range events {
		ev := e.(map[string]any)
		var keys []string
		for k := range ev {
			keys = append(keys, k)
		}
		if len(keys) != len(wantKeys) {
			t.Errorf("event keys %v, want %v", keys, wantKeys)
		}
		for _, k := range wantKeys {
			if _, ok := ev[k]; !ok {
				t.Errorf("event without %q: %v", k, ev)
			}
		}
		if ev["kind"] == "agent-cert-expired" {
			found = true
			if ev["x509_code"] != float64(10) || ev["source"] != "nginx-error" || ev["count"] != float64(1) ||
				ev["first_seen"] != "2026-11-22T16:05:53Z" || !strings.Contains(ev["example"].(string), "(10:certificate has expired)") {
				t.Errorf("expired event %v", ev)
			}
			if cl := ev["clients"].([]any); len(cl) != 1 || cl[0] != "127.0.0.1" {
				t.Errorf("clients %v", cl)
			}
		}
	}
	if !found || len(events) != 12 {
		t.Errorf("%d events (want 12), agent-cert-expired found: %v", len(events), found)
	}
}

func TestLogsText(t *testing.T) {
	code, out, _ := runLogs(t, "--since", "0", realErrorLog)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"23 lines, 13 events", "agent-cert-expired", "X509 10: certificate has expired",
		"server-cert-rejected-by-agent", "SSL alert number 42", "Top failing clients:", "127.0.0.1", "mtls-doctor explain"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Piped, the sample lines are whole: the newest expired-certificate line as NGINX wrote it.
	raw, err := os.ReadFile(realErrorLog)
	if err != nil {
		t.Fatal(err)
	}
	var newest string
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.Contains(l, "certificate has expired") {
			newest = l
		}
	}
	if newest == "" || !strings.Contains(out, newest) {
		t.Errorf("the sample line is not printed whole (want %q):\n%s", newest, out)
	}
	if strings.Contains(out, "…") {
		t.Errorf("piped output is clipped:\n%s", out)
	}
}

// TestLogsOlderThanWindow: a window with no events says how many came before it, how old
// the newest is and which --since reaches it; with that --since they are counted.
func TestLogsOlderThanWindow(t *testing.T) {
	now := time.Now().UTC()
	path := filepath.Join(t.TempDir(), "error.log")
	var b strings.Builder
	for _, ago := range []time.Duration{80 * time.Hour, 75 * time.Hour, 3*24*time.Hour + time.Hour} {
		fmt.Fprintf(&b, "%s [info] 7#7: *1 client sent no required SSL certificate while reading client request headers, client: 10.0.0.9, server: nim\n",
			now.Add(-ago).Format("2006/01/02 15:04:05"))
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runLogs(t, path)
	want := "No mTLS events in the last 1h: 3 events before the window; newest 3 days ago"
	if code != 0 || !strings.Contains(out, want) || !strings.Contains(out, "use --since 96h") {
		t.Fatalf("exit %d, want %q and --since 96h:\n%s%s", code, want, out, errOut)
	}
	if code, out, _ = runLogs(t, "--since", "96h", path); code != 0 || !strings.Contains(out, "3 events") || strings.Contains(out, "No mTLS events") {
		t.Errorf("--since 96h does not reach the events: exit %d\n%s", code, out)
	}
}

// TestLogsWindow: only the lines of the last --since count.
func TestLogsWindow(t *testing.T) {
	now := time.Now().UTC()
	path := filepath.Join(t.TempDir(), "error.log")
	var b strings.Builder
	for _, ago := range []time.Duration{3 * time.Hour, 2 * time.Hour, 20 * time.Minute, time.Minute} {
		fmt.Fprintf(&b, "%s [info] 7#7: *1 client sent no required SSL certificate while reading client request headers, client: 10.0.0.%d, server: nim\n",
			now.Add(-ago).Format("2006/01/02 15:04:05"), int(ago/time.Minute)%250)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runLogs(t, "-o", "json", path) // default --since 1h
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep logsJSON
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Events) != 1 || rep.Events[0].Kind != "agent-cert-not-sent" || rep.Events[0].Count != 2 || len(rep.Events[0].Clients) != 2 {
		t.Errorf("events %+v", rep.Events)
	}
	code, out, _ = runLogs(t, "-o", "json", "--since", "150m", path)
	if code != 0 || !strings.Contains(out, `"count": 3`) {
		t.Errorf("150m: exit %d\n%s", code, out)
	}
}

func TestLogsUnreadable(t *testing.T) {
	code, _, errOut := runLogs(t, filepath.Join(t.TempDir(), "nope.log"))
	if code != exitCannot || !strings.Contains(errOut, "does not exist") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runLogs(t, "-o", "xml", realErrorLog)
	if code != exitCannot || !strings.Contains(errOut, "unknown output format") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

// TestLogsFollowNotRegular: --follow refuses what the one-shot read refuses. The tail reads
// a line until its newline, so following /dev/zero grew without bound until the OOM
// killer ended the process; a directory stands in for it here.
func TestLogsFollowNotRegular(t *testing.T) {
	dir := t.TempDir()
	start := time.Now()
	code, _, errOut := runLogs(t, "--follow", dir)
	if code != exitCannot || !strings.Contains(errOut, dir+" is not a regular file") || time.Since(start) > 10*time.Second {
		t.Errorf("logs --follow DIR: exit %d after %s, stderr %q", code, time.Since(start), errOut)
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLogsFollow streams classified events as lines are appended, says when the file is
// rotated, keeps streaming from the new file, then stops on cancel; in JSON and in text.
func TestLogsFollow(t *testing.T) {
	lines, err := os.ReadFile(realErrorLog)
	if err != nil {
		t.Fatal(err)
	}
	const events = 13 // classified lines in realErrorLog
	for _, output := range []string{"json", "text"} {
		t.Run(output, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "error.log")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { f.Close() }()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var stdout, stderr syncBuffer
			done := make(chan int)
			go func() {
				done <- run(ctx, []string{"logs", "--follow", "-o", output, path}, environ{vars: []string{"TZ=UTC"}}, strings.NewReader(""), &stdout, &stderr)
			}()
			outLines := func() []string {
				s := strings.TrimSpace(stdout.String())
				if s == "" {
					return nil
				}
				return strings.Split(s, "\n")
			}
			waitLines := func(n int, write func()) {
				t.Helper()
				deadline := time.Now().Add(15 * time.Second)
				for len(outLines()) < n {
					if time.Now().After(deadline) {
						t.Fatalf("%d lines after 15s, want %d:\n%s\nstderr: %s", len(outLines()), n, stdout.String(), stderr.String())
					}
					if write != nil {
						write()
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
			// The follower starts at the end of the file, once the command has started, so
			// a copy written before that (or while it took the file's size) is not seen,
			// or only in part: write copies, one in flight at most, until lines come out,
			// then count from where the output settles.
			var lastWrite time.Time
			waitLines(1, func() {
				if len(outLines()) == 0 && time.Since(lastWrite) > time.Second {
					f.Write(lines)
					lastWrite = time.Now()
				}
			})
			primed := waitSettled(t, func() int { return len(outLines()) })
			// Rotation: rename, the writer goes on in the renamed file, then a new file.
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			f.Write(lines)
			f.Close()
			if f, err = os.Create(path); err != nil {
				t.Fatal(err)
			}
			f.Write(lines)
			waitLines(primed+2*events+1, nil)
			cancel()
			select {
			case code := <-done:
				if code != 0 {
					t.Errorf("exit %d: %s", code, stderr.String())
				}
			case <-time.After(10 * time.Second):
				t.Fatal("logs --follow did not stop after cancel")
			}
			got := outLines()
			if len(got) != primed+2*events+1 {
				t.Fatalf("%d lines, want %d:\n%s", len(got), primed+2*events+1, stdout.String())
			}
			var kinds []string
			notices := 0
			for _, l := range got {
				if output == "text" {
					if strings.Contains(l, " notice ") {
						notices++
						if !strings.Contains(l, path+" rotated: reading the old file until it is idle") {
							t.Errorf("notice line %q", l)
						}
						continue
					}
					kinds = append(kinds, strings.Fields(l)[1])
					continue
				}
				var n followNoticeJSON
				if json.Unmarshal([]byte(l), &n) == nil && n.Notice != "" {
					validateJSON(t, "logNotice", []byte(l))
					notices++
					if n.Notice != "rotated" || n.File != path || n.Time.IsZero() || n.Detail == "" {
						t.Errorf("notice %+v", n)
					}
					continue
				}
				var ev followJSON
				if err := json.Unmarshal([]byte(l), &ev); err != nil {
					t.Fatalf("%v: %q", err, l)
				}
				validateJSON(t, "logLine", []byte(l))
				kinds = append(kinds, ev.Kind)
			}
			if notices != 1 || len(kinds) != primed+2*events || kinds[len(kinds)-1] != "agent-tls-disabled" {
				t.Errorf("%d notices, %d events %v", notices, len(kinds), kinds)
			}
		})
	}
}

func TestCheckLogFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--check", "--since", "-5m"}, environ{}, strings.NewReader(""), &stdout, &stderr)
	if code != exitCannot || !strings.Contains(stderr.String(), "--since must be positive") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}

// TestFollowable: the assistant's Logs screen follows through the same gate; a device
// or a directory is refused, a regular or not-yet-existing file passes.
func TestFollowable(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		path string
		ok   bool
	}{{"/dev/zero", false}, {dir, false}, {realErrorLog, true}, {filepath.Join(dir, "later.log"), true}} {
		if err := followable([]logparse.File{{Path: tc.path}}); (err == nil) != tc.ok {
			t.Errorf("followable(%s) = %v, want ok %v", tc.path, err, tc.ok)
		}
	}
}

// waitSettled waits until count has not changed for half a second (at most 15 s) and
// returns it.
func waitSettled(t *testing.T, count func() int) int {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	n, since := count(), time.Now()
	for time.Since(since) < 500*time.Millisecond {
		if time.Now().After(deadline) {
			t.Fatalf("output still growing after 15s (%d lines)", n)
		}
		time.Sleep(50 * time.Millisecond)
		if m := count(); m != n {
			n, since = m, time.Now()
		}
	}
	return n
}

// TestLogsUpstreamGroups: the events of each upstream are summed apart, so two groups of
// one kind must say whose they are, in the text and in the JSON (real NGINX 1.22 lines:
// two upstreams refusing the TLS version).
func TestLogsUpstreamGroups(t *testing.T) {
	const log = "../../testdata/logs/nginx-upstream-real.log"
	code, out, _ := runLogs(t, "--since", "0", log)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, up := range []string{"127.0.0.1:43027", "127.0.0.1:43287"} {
		if !strings.Contains(out, "upstream-tls-version-mismatch  nginx-error      1") ||
			!strings.Contains(out, "      upstream: "+up+"\n") {
			t.Errorf("the text does not name upstream %s under its own group:\n%s", up, out)
		}
	}
	code, out, _ = runLogs(t, "--since", "0", "-o", "json", log)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var doc logsJSON
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range doc.Events {
		if e.Kind == "upstream-tls-version-mismatch" {
			seen[e.Upstream] = true
		}
		if strings.HasPrefix(e.Kind, "upstream-") == (e.Upstream == "") {
			t.Errorf("event %s has upstream %q", e.Kind, e.Upstream)
		}
	}
	if !seen["127.0.0.1:43027"] || !seen["127.0.0.1:43287"] || len(seen) != 2 {
		t.Errorf("upstream-tls-version-mismatch groups name upstreams %v", seen)
	}
}
