package logparse

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

var scanNow = time.Date(2026, 11, 22, 16, 0, 0, 0, time.UTC)

// errorLine writes a real-format NGINX line at t: a verify error from client, or a
// start-up notice when client is "".
func errorLine(t time.Time, client string, code int, text string) string {
	if client == "" {
		return t.Format("2006/01/02 15:04:05") + " [notice] 1#1: using the \"epoll\" event method"
	}
	return fmt.Sprintf(`%s [info] 661#661: *1 client SSL certificate verify error: (%d:%s) while reading client request headers, client: %s, server: nim.test.local, request: "POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0", host: "127.0.0.1:42897"`,
		t.Format("2006/01/02 15:04:05"), code, text, client)
}

// expiredLines is n verify errors of one client, a second apart, the last one a second
// before scanNow.
func expiredLines(n int) []string {
	lines := make([]string, 0, n)
	for s := range n {
		lines = append(lines, errorLine(scanNow.Add(-time.Duration(n-s)*time.Second), "10.0.0.9", 10, "certificate has expired"))
	}
	return lines
}

// writeLog writes lines (newline-terminated) to path, gzipped when path ends in .gz, and
// sets its modification time to mtime.
func writeLog(t *testing.T, path string, lines []string, mtime time.Time) {
	t.Helper()
	data := []byte(strings.Join(lines, "\n") + "\n")
	if strings.HasSuffix(path, ".gz") {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(data)
		zw.Close()
		data = b.Bytes()
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// TestScanWindowAcrossRotation spreads one event a minute over five hours across
// error.log.2.gz (oldest), error.log.1 and error.log, and scans the last 90 minutes.
func TestScanWindowAcrossRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "error.log")
	start := scanNow.Add(-5 * time.Hour)
	var all []string
	var wantCount int
	clients := map[string]int{}
	for m := range 300 {
		ts := start.Add(time.Duration(m) * time.Minute)
		client := fmt.Sprintf("10.0.0.%d", m%4+1)
		code, text := 10, "certificate has expired"
		if m%10 == 0 {
			code, text = 20, "unable to get local issuer certificate"
		}
		all = append(all, errorLine(ts, client, code, text), errorLine(ts, "", 0, ""))
		if !ts.Before(scanNow.Add(-90*time.Minute)) && code == 10 {
			wantCount++
			clients[client]++
		}
	}
	// 2.gz: hours 0-2, .1: hours 2-4 (window starts inside it), live: the last hour.
	writeLog(t, path+".2.gz", all[:240], start.Add(2*time.Hour))
	writeLog(t, path+".1", all[240:480], start.Add(4*time.Hour))
	writeLog(t, path, all[480:], scanNow)
	writeLog(t, path+".bak", all, scanNow) // not a rotation name: ignored

	rep := Scan(context.Background(), []File{{Path: path, Type: TypeNginxError}}, Options{Now: scanNow, Since: 90 * time.Minute, Location: time.UTC, Workers: 3})
	fr := rep.Files[0]
	if fr.Skipped != "" || fr.Err != "" {
		t.Fatalf("skipped %q err %q", fr.Skipped, fr.Err)
	}
	if want := []string{path, path + ".1"}; !equalStrings(fr.Read, want) {
		t.Errorf("read %v, want %v (the .gz is older than the window)", fr.Read, want)
	}
	if fr.Lines != 2*90 || fr.Classified != 90 || fr.Unclassified != 90 || fr.Unparsed != 0 {
		t.Errorf("counts %+v", fr)
	}
	var got *Summary
	for i, s := range rep.Summaries {
		if s.Kind == KindAgentCertExpired {
			got = &rep.Summaries[i]
		}
	}
	if got == nil || got.Count != wantCount {
		t.Fatalf("summaries %+v, want %d expired", rep.Summaries, wantCount)
	}
	if !got.FirstSeen.Equal(scanNow.Add(-89*time.Minute)) || !got.LastSeen.Equal(scanNow.Add(-time.Minute)) {
		t.Errorf("first %v last %v", got.FirstSeen, got.LastSeen)
	}
	if got.X509Code != 10 || got.X509Text != "certificate has expired" || got.Source != SourceNginxError {
		t.Errorf("summary %+v", got)
	}
	if len(got.Clients) != 4 || got.Clients[0].Count < got.Clients[3].Count {
		t.Errorf("clients %+v", got.Clients)
	}
	for _, c := range got.Clients {
		if clients[c.Client] != c.Count {
			t.Errorf("client %s: %d, want %d", c.Client, c.Count, clients[c.Client])
		}
	}
	if len(got.Examples) != 3 || !strings.HasPrefix(got.Examples[0], scanNow.Add(-time.Minute).Format("2006/01/02 15:04")) {
		t.Errorf("examples %q", got.Examples)
	}

	// A 4-hour window reaches into the .gz, whose lines are read forwards.
	rep = Scan(context.Background(), []File{{Path: path, Type: TypeNginxError}}, Options{Now: scanNow, Since: 4 * time.Hour, Location: time.UTC})
	if fr := rep.Files[0]; len(fr.Read) != 3 || fr.Lines != 2*240 {
		t.Errorf("4h: read %v, %d lines", fr.Read, fr.Lines)
	}
	// No window: everything.
	rep = Scan(context.Background(), []File{{Path: path, Type: TypeNginxError}}, Options{Location: time.UTC})
	if fr := rep.Files[0]; fr.Lines != len(all) {
		t.Errorf("whole: %d lines, want %d", fr.Lines, len(all))
	}
}

// TestScanStopsEarly shows the backward read stops at the window: a big file whose
// window is its last lines is read only in its last blocks.
func TestScanStopsEarly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "error.log")
	lines := expiredLines(100_000)
	writeLog(t, path, lines, scanNow)
	st, _ := os.Stat(path)
	rep := Scan(context.Background(), []File{{Path: path, Type: TypeNginxError}}, Options{Now: scanNow, Since: time.Hour, Location: time.UTC})
	fr := rep.Files[0]
	if fr.Classified != 3600 {
		t.Errorf("%d events, want 3600", fr.Classified)
	}
	// The window and its slack (a line a second), and at most a few blocks more.
	var window int64
	for _, l := range lines[len(lines)-int((time.Hour+Slack)/time.Second):] {
		window += int64(len(l) + 1)
	}
	if fr.Bytes > window+3*blockSize || fr.Bytes >= st.Size() {
		t.Errorf("read %d of %d bytes (window %d)", fr.Bytes, st.Size(), window)
	}
}

// TestScanOddFiles: CRLF, no final newline, a 3 MiB line, binary junk, a missing file and
// a directory.
func TestScanOddFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "error.log")
	huge := errorLine(scanNow.Add(-time.Minute), "10.0.0.1", 10, "certificate has expired") + strings.Repeat("x", 3<<20)
	data := "\x00\x01\xff garbage\r\n" + huge + "\r\n" + errorLine(scanNow.Add(-30*time.Second), "10.0.0.2", 10, "certificate has expired")
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(path, scanNow, scanNow)
	files := []File{
		{Path: path, Type: TypeNginxError},
		{Path: filepath.Join(dir, "missing.log"), Type: TypeNginxError},
		{Path: dir, Type: TypeAgent},
	}
	rep := Scan(context.Background(), files, Options{Now: scanNow, Since: time.Hour, Location: time.UTC})
	fr := rep.Files[0]
	if fr.Classified != 2 || fr.Unparsed != 1 || fr.Cut != 1 {
		t.Errorf("counts %+v", fr)
	}
	if len(rep.Summaries) != 1 || rep.Summaries[0].Count != 2 || len(rep.Summaries[0].Examples[1]) > MaxLineBytes+4 {
		t.Errorf("summaries %+v", rep.Summaries)
	}
	if !strings.Contains(rep.Files[1].Skipped, "does not exist") || !strings.Contains(rep.Files[2].Skipped, "not a regular file") {
		t.Errorf("skips %q %q", rep.Files[1].Skipped, rep.Files[2].Skipped)
	}
}

func TestScanUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads every file")
	}
	path := filepath.Join(t.TempDir(), "error.log")
	writeLog(t, path, []string{"x"}, scanNow)
	os.Chmod(path, 0)
	rep := Scan(context.Background(), []File{{Path: path}}, Options{Now: scanNow, Since: time.Hour})
	if s := rep.Files[0].Skipped; !strings.Contains(s, "permission denied (run as root") {
		t.Errorf("skipped %q", s)
	}
}

// TestUnreadableHint checks the advice names the file's group.
func TestUnreadableHint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "error.log")
	writeLog(t, path, []string{"x"}, scanNow)
	got := unreadable(path, os.ErrPermission)
	if !strings.Contains(got, "permission denied (run as root or add your user to the ") {
		t.Errorf("%q", got)
	}
}

func TestScanCancelled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "error.log")
	writeLog(t, path, []string{errorLine(scanNow, "10.0.0.1", 10, "certificate has expired")}, scanNow)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep := Scan(ctx, []File{{Path: path, Type: TypeNginxError}}, Options{Now: scanNow, Since: time.Hour})
	if rep.Files[0].Err != "cancelled" {
		t.Errorf("err %q", rep.Files[0].Err)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestScanClientCountsAcrossBlocks spreads many clients over many blocks: the counts
// must be exact although the parsed text lives in buffers that are reused.
func TestScanClientCountsAcrossBlocks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "error.log")
	want := map[string]int{}
	var lines []string
	for i := range 60_000 {
		client := fmt.Sprintf("10.%d.0.%d", i%3, i%97)
		if i%11 == 0 {
			client = "10.9.9.9" // runs of one client, then a change
		}
		want[client]++
		lines = append(lines, errorLine(scanNow.Add(-time.Duration(60_000-i)*time.Millisecond*50), client, 10, "certificate has expired"))
	}
	writeLog(t, path, lines, scanNow)
	rep := Scan(context.Background(), []File{{Path: path, Type: TypeNginxError}}, Options{Now: scanNow, Since: time.Hour, Location: time.UTC, Workers: 4})
	if len(rep.Summaries) != 1 {
		t.Fatalf("summaries %+v", rep.Summaries)
	}
	s := rep.Summaries[0]
	if s.Count != len(lines) || len(s.Clients) != len(want) {
		t.Fatalf("%d events, %d clients; want %d, %d", s.Count, len(s.Clients), len(lines), len(want))
	}
	for _, c := range s.Clients {
		if want[c.Client] != c.Count {
			t.Errorf("%s: %d, want %d", c.Client, c.Count, want[c.Client])
		}
	}
}

// TestScanSmallFilesSmallBuffers: a scan of small logs (the usual --check) makes buffers
// no larger than the files, so it allocates kilobytes, not the 2 MiB a block buffer for
// a large file takes (4 MiB would start the garbage collector in a short run); and a
// large file read after a small one, through the same recycled buffers, still has all
// its lines counted.
func TestScanSmallFilesSmallBuffers(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "error.log")
	lines := expiredLines(20)
	writeLog(t, small, lines, scanNow)
	files := []File{{Path: small, Type: TypeNginxError}, {Path: small, Type: TypeNginxError}}
	o := Options{Now: scanNow, Location: time.UTC, Workers: 2}

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	rep := Scan(context.Background(), files, o)
	runtime.ReadMemStats(&after)
	if got := rep.Files[0].Classified + rep.Files[1].Classified; got != 40 {
		t.Fatalf("%d events in two small files, want 40", got)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 256<<10 {
		t.Errorf("a scan of two %d-byte files allocated %d KiB, want under 256 KiB", len(strings.Join(lines, "\n")), alloc>>10)
	}

	large := filepath.Join(dir, "error.log.big")
	writeLog(t, large, expiredLines(40_000), scanNow)
	o.Workers = 1
	rep = Scan(context.Background(), []File{{Path: small, Type: TypeNginxError}, {Path: large, Type: TypeNginxError}, {Path: small, Type: TypeNginxError}}, o)
	for i, want := range []int{20, 40_000, 20} {
		if got := rep.Files[i].Classified; got != want || rep.Files[i].Err != "" {
			t.Errorf("file %d: %d events (err %q), want %d", i, got, rep.Files[i].Err, want)
		}
	}
}
