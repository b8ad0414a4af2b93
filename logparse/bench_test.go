package logparse

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// benchLines are the lines each parse benchmark cycles through, per format.
var benchLines = map[string]struct {
	p     Parser
	lines []string
}{
	"nginx-error": {Parser{Type: TypeNginxError, Location: time.UTC}, nil}, // filled from the real fixture
	"combined": {Parser{Type: TypeNginxAccess, Formats: []*Format{Combined}}, []string{
		`10.0.0.5 - - [22/Nov/2026:16:05:53 +0000] "POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0" 400 255 "-" "nginx-agent/v2.46.7 grpc-go/1.79.3"`,
		`10.0.0.9 - - [22/Nov/2026:16:05:54 +0000] "GET /ui/index.html HTTP/1.1" 200 5120 "https://nim.example.com/" "Mozilla/5.0 (X11; Linux x86_64)"`,
	}},
	"grpc_json": {Parser{Type: TypeNginxAccess, Formats: []*Format{GRPCJSON}}, []string{
		`{"timestamp":"2026-11-22T16:05:53+00:00","client":"10.0.0.7","uri":"/mpi.v1.CommandService/CreateConnection","http-status":200,"grpc-status":16,"upstream":"""rx-bytes":320,"tx-bytes":411}`,
		`{"timestamp":"2026-11-22T16:05:53+00:00","client":"10.0.0.7","uri":"/mpi.v1.CommandService/Subscribe","http-status":200,"grpc-status":0,"upstream":"unix:/x""rx-bytes":320,"tx-bytes":411}`,
	}},
	"custom-mtls": {Parser{Type: TypeNginxAccess, Formats: []*Format{benchMTLSFormat}}, []string{
		`10.0.0.5 - - [22/Nov/2026:16:05:53 +0000] "POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0" 200 255 "-" "nginx-agent/v2.46.7 grpc-go/1.79.3" verify=SUCCESS sdn="CN=agent-17,O=Example" alpn=h2 sni=nim.example.com rt=0.004`,
		`10.0.0.6 - - [22/Nov/2026:16:05:54 +0000] "POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0" 400 255 "-" "nginx-agent/v2.46.7 grpc-go/1.79.3" verify=FAILED:certificate has expired sdn="CN=agent-18,O=Example" alpn=h2 sni=nim.example.com rt=0.000`,
		`10.0.0.9 - - [22/Nov/2026:16:05:54 +0000] "GET /ui/index.html HTTP/1.1" 200 5120 "https://nim.example.com/" "Mozilla/5.0 (X11; Linux x86_64)" verify=NONE sdn="-" alpn=http/1.1 sni=nim.example.com rt=0.012`,
	}},
	"agent-v2": {Parser{Type: TypeAgent}, []string{
		`time="2025-01-15T10:00:00Z" level=error msg="Unable to create command channel: rpc error: code = Unavailable desc = connection error: desc = \"transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority\""`,
		`time="2025-01-15T10:00:00Z" level=info msg="Commander retrying to connect to nim.example.com:443"`,
	}},
	"agent-v3-text": {Parser{Type: TypeAgent}, []string{
		`time=2025-06-01T10:00:01.123Z level=ERROR msg="Failed to create connection" error="rpc error: code = Unavailable desc = connection error: desc = \"transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time 2025-06-01T10:00:01Z is after 2025-05-31T00:00:00Z\"" correlation_id=4f0c server_type=command`,
		`time=2025-05-16T17:30:28.179Z level=INFO msg="Starting NGINX Agent" version=v3.0.0 commit=908d737d`,
	}},
	"agent-v3-json": {Parser{Type: TypeAgent}, []string{
		`{"time":"2025-06-01T10:00:01.123Z","level":"ERROR","msg":"Failed to create connection","error":"rpc error: code = Unavailable desc = connection error: desc = \"transport: authentication handshake failed: tls: first record does not look like a TLS handshake\""}`,
		`{"time":"2025-06-01T10:00:01.123Z","level":"INFO","msg":"Agent connected"}`,
	}},
}

// benchMTLSFormat is a custom access format of the kind an mTLS front end logs: the
// client certificate's verdict and subject, ALPN and SNI after the combined fields.
var benchMTLSFormat = mustCompile("mtls", CombinedFormat+` verify=$ssl_client_verify sdn="$ssl_client_s_dn" alpn=$ssl_alpn_protocol sni=$ssl_server_name rt=$request_time`, "default")

// BenchmarkParseClassify measures parse+classify per line format.
func BenchmarkParseClassify(b *testing.B) {
	for _, name := range []string{"nginx-error", "combined", "custom-mtls", "grpc_json", "agent-v2", "agent-v3-text", "agent-v3-json",
		"auto/nginx-error", "auto/custom-mtls", "auto/grpc_json"} {
		auto := strings.HasPrefix(name, "auto/")
		c := benchLines[strings.TrimPrefix(name, "auto/")]
		if c.lines == nil {
			c.lines = realLines(b)
		}
		b.Run(name, func(b *testing.B) {
			p := c.p
			if auto {
				p.Type = TypeAuto // as for files named on the command line
			}
			var bytes int64
			for _, l := range c.lines {
				bytes += int64(len(l))
			}
			b.SetBytes(bytes / int64(len(c.lines)))
			i := 0
			var ev Event
			for b.Loop() {
				p.parse(c.lines[i%len(c.lines)], &ev)
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}

// BenchmarkScan builds a synthetic NGINX error log of MTLS_BENCH_LOG_MB megabytes
// (default 1024) from the real lines, stamped inside the last hour, and scans it whole
// with Scan: MB/s, and peak heap and RSS while scanning. MTLS_BENCH_LOG_FILE scans a
// given file instead, over the hour before now.
func BenchmarkScan(b *testing.B) {
	size := int64(1024)
	if v, err := strconv.Atoi(os.Getenv("MTLS_BENCH_LOG_MB")); err == nil && v > 0 {
		size = int64(v)
	}
	now := time.Date(2026, 11, 22, 17, 0, 0, 0, time.Local)
	path := filepath.Join(b.TempDir(), "error.log")
	var written int64
	files := []File{{Path: path, Type: TypeNginxError}}
	if p := os.Getenv("MTLS_BENCH_LOG_FILE"); p != "" {
		// A log built elsewhere (bench/logs.sh), read as `mtls-doctor logs FILE` does.
		st, err := os.Stat(p)
		if err != nil {
			b.Fatal(err)
		}
		now, written, files = time.Now(), st.Size(), []File{{Path: p, Type: TypeAuto}}
	} else {
		written = writeSyntheticLog(b, path, size<<20, now, realLines(b))
	}
	b.SetBytes(written)
	// Sample the Go heap without stopping the world (runtime/metrics, not ReadMemStats).
	var peakHeap atomic.Uint64
	stop := make(chan struct{})
	go func() {
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peakHeap.Load() {
				peakHeap.Store(v)
			}
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	var events int
	for b.Loop() {
		rep := Scan(context.Background(), files, Options{Now: now, Since: time.Hour, Location: time.Local})
		events = rep.Files[0].Classified
	}
	close(stop)
	b.ReportMetric(float64(events), "events")
	b.ReportMetric(float64(peakHeap.Load())/(1<<20), "peak-heap-MB")
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		b.ReportMetric(float64(ru.Maxrss)/1024, "maxrss-MB")
	}
}

// writeSyntheticLog writes about size bytes of lines cycled from lines, restamped over the
// hour before now, through a small buffer (the benchmark's own memory stays flat).
func writeSyntheticLog(b *testing.B, path string, size int64, now time.Time, lines []string) int64 {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var n int64
	start := now.Add(-59 * time.Minute)
	for i := 0; n < size; i++ {
		ts := start.Add(time.Duration(i%3540) * time.Second).Format("2006/01/02 15:04:05")
		l := lines[i%len(lines)]
		m, _ := fmt.Fprintf(w, "%s%s\n", ts, strings.TrimPrefix(l, l[:19]))
		n += int64(m)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	os.Chtimes(path, now, now)
	return n
}

// BenchmarkScanSmallFiles is the usual --check on a host: an empty error log, a short
// access log and no agent log. Its bytes/op is what every run pays for the log facts.
func BenchmarkScanSmallFiles(b *testing.B) {
	dir := b.TempDir()
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	errLog, accessLog := filepath.Join(dir, "error.log"), filepath.Join(dir, "access.log")
	var access strings.Builder
	for i := range 20 {
		fmt.Fprintf(&access, "10.0.0.%d - - [30/Nov/2026:11:%02d:00 +0000] \"GET / HTTP/1.1\" 200 612 \"-\" \"curl/7.88.1\"\n", i, 30+i)
	}
	for path, data := range map[string]string{errLog: "", accessLog: access.String()} {
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	files := []File{{Path: errLog, Type: TypeNginxError}, {Path: accessLog, Type: TypeNginxAccess},
		{Path: filepath.Join(dir, "agent.log"), Type: TypeAgent}}
	b.ReportAllocs()
	for b.Loop() {
		Scan(context.Background(), files, Options{Now: now, Since: time.Hour, Location: time.UTC})
	}
}

// The scan's matcher (named fields only) and Parse agree on the benchmark lines of every
// access format, which exercise each named field.
func TestMatchAgreesWithParse(t *testing.T) {
	for _, name := range []string{"combined", "custom-mtls", "grpc_json"} {
		c := benchLines[name]
		for _, line := range c.lines {
			for _, fm := range append(c.p.Formats, DefaultFormats...) {
				e, ok := fm.Parse(line, time.UTC)
				sameAsScan(t, fm, line, e, ok)
			}
		}
	}
}
