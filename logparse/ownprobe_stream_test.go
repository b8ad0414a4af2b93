package logparse

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestScanSetsApartProbeStreamConnections: a stream{} server's log holds, for each
// connection, its first line with the client's port and later lines with the same
// process and "*N". The scan sets apart every line of a connection from one of
// OwnProbePorts, and of one from this run's ProbeClients when written since the run
// began; it counts an agent's connection, one from a probe client's address written
// before the run (the port was reused), and a connection that shares the probe's number
// in another process. The probe's first line and its rejection are far apart, in blocks
// that different workers read.
func TestScanSetsApartProbeStreamConnections(t *testing.T) {
	at := func(d time.Duration) string { return scanNow.Add(d).Format("2006/01/02 15:04:05") }
	first := func(d time.Duration, pid, conn, port int) string {
		return fmt.Sprintf("%s [info] %d#%d: *%d client 127.0.0.1:%d connected to 0.0.0.0:443", at(d), pid, pid, conn, port)
	}
	rejected := func(d time.Duration, pid, conn int) string {
		return fmt.Sprintf("%s [info] %d#%d: *%d client sent no required SSL certificate while SSL handshaking, client: 127.0.0.1, server: 0.0.0.0:443", at(d), pid, pid, conn)
	}
	lines := []string{
		first(-40*time.Minute, 7, 1, OwnProbePorts[3]), // an earlier run's probe
	}
	// Some 300 KiB of other connections between the probe's first line and its
	// rejection: five blocks.
	for i := range 2000 {
		lines = append(lines, fmt.Sprintf("%s [info] 7#7: *%d client 127.0.0.1:%d connected to 0.0.0.0:80 (padding padding padding padding padding padding)", at(-39*time.Minute), 100+i, 33000+i%1000))
	}
	lines = append(lines,
		rejected(-39*time.Minute, 7, 1),
		rejected(-38*time.Minute, 8, 1),     // the same number in another process: not the probe's
		first(-30*time.Minute, 7, 2, 51000), // an agent
		rejected(-30*time.Minute, 7, 2),
		first(-20*time.Minute, 7, 3, 52000), // an agent, from the port this run's probe used later
		rejected(-20*time.Minute, 7, 3),
		first(time.Second, 7, 4, 52000), // this run's probe, from a port the kernel picked
		rejected(time.Second, 7, 4),
	)
	path := filepath.Join(t.TempDir(), "error.log")
	writeLog(t, path, lines, scanNow.Add(time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, workers := range []int{1, 4} {
		rep := Scan(ctx, []File{{Path: path, Type: TypeNginxError}},
			Options{Now: scanNow, Since: time.Hour, Location: time.UTC, Workers: workers, ProbeClients: []string{"127.0.0.1:52000"}})
		fr := rep.Files[0]
		if fr.OwnProbe != 4 || fr.Classified != 3 {
			t.Errorf("%d workers: %d lines the probe's, %d classified; want 4 (two connections) and 3", workers, fr.OwnProbe, fr.Classified)
		}
		if len(rep.Summaries) != 1 || rep.Summaries[0].Kind != KindAgentCertNotSent || rep.Summaries[0].Count != 3 {
			t.Fatalf("%d workers: summaries %+v, want agent-cert-not-sent 3 times", workers, rep.Summaries)
		}
		s := rep.Summaries[0]
		if !s.LastSeen.Equal(scanNow.Add(-20*time.Minute)) || len(s.Examples) != 3 || strings.Contains(strings.Join(s.Examples, "\n"), "*4 ") {
			t.Errorf("%d workers: last seen %v, examples %q", workers, s.LastSeen, s.Examples)
		}
	}
}

// TestStreamProbeLinesFollowed: a Parser reading lines in order, as follow and the
// assistant's Logs screen do, marks every line of a connection from one of
// OwnProbePorts as the probe's, and only those.
func TestStreamProbeLinesFollowed(t *testing.T) {
	p := &Parser{Location: time.UTC}
	for _, tc := range []struct {
		line string
		want LineStatus
	}{
		{"2026/12/05 19:04:28 [info] 11865#11865: *1 client 127.0.0.1:42266 connected to 127.0.0.1:33655", LineUnclassified},
		{"2026/12/05 19:04:28 [info] 11865#11865: *2 client 127.0.0.1:42749 connected to 127.0.0.1:33655", LineOwnProbe},
		{"2026/12/05 19:04:28 [info] 11865#11865: *3 udp client [::1]:59243 connected to [::]:53", LineOwnProbe},
		{"2026/12/05 19:04:28 [info] 11865#11865: *2 client sent no required SSL certificate while SSL handshaking, client: 127.0.0.1, server: 127.0.0.1:33655", LineOwnProbe},
		{"2026/12/05 19:04:28 [crit] 11865#11865: *2 SSL_shutdown() failed (SSL: error:0A000123:SSL routines::application data after close notify) while SSL handshaking, client: 127.0.0.1, server: 127.0.0.1:33655", LineOwnProbe},
		{"2026/12/05 19:04:28 [info] 11865#11865: *1 client sent no required SSL certificate while SSL handshaking, client: 127.0.0.1, server: 127.0.0.1:33655", LineClassified},
		{"2026/12/05 19:04:28 [info] 11866#11866: *2 client sent no required SSL certificate while SSL handshaking, client: 127.0.0.1, server: 127.0.0.1:33655", LineClassified},
		{"2026/12/05 19:04:28 [info] 11865#11865: *5 client 127.0.0.1:427490 connected to 127.0.0.1:33655", LineUnclassified},
		{"2026/12/05 19:04:28 [info] 11865#11865: *6 client 127.0.0.1:42749x connected to 127.0.0.1:33655", LineUnclassified},
	} {
		if _, _, got := p.Parse(tc.line); got != tc.want {
			t.Errorf("%q: %v, want %v", tc.line, got, tc.want)
		}
	}
}

// TestOwnProbePort: exactly the listed ports.
func TestOwnProbePort(t *testing.T) {
	n := 0
	for port := range 1 << 16 {
		if OwnProbePort(port) {
			n++
		}
	}
	if n != len(OwnProbePorts) {
		t.Errorf("%d ports are the probe's, want the %d listed", n, len(OwnProbePorts))
	}
	for _, port := range OwnProbePorts {
		if !OwnProbePort(port) {
			t.Errorf("%d is listed but not the probe's", port)
		}
	}
}
