package logparse

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The lines NGINX writes for the probe's request without a certificate and for an agent's,
// as a real nginx 1.22 wrote them at info (cmd/mtls-doctor's real-NGINX suites).
const (
	agentNoCertLine = `2026/11/30 21:53:00 [info] 8536#8536: *2 client sent no required SSL certificate while reading client request headers, client: 127.0.0.1, server: nim.test.local, request: "POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0", host: "nim.test.local"`
	probeNoCertLine = `2026/11/30 21:53:00 [info] 8536#8536: *3 client sent no required SSL certificate while reading client request headers, client: 127.0.0.1, server: nim.test.local, request: "POST /f5.nginx.agent.sdk.Commander/CommandChannel?mtls-doctor-probe=no-cert HTTP/2.0", host: "nim.test.local"`
)

// TestOwnProbeLines: every log the scan reads tells the probe's requests from an agent's
// wherever the format writes the query or the user agent; the agent's line stays an event.
func TestOwnProbeLines(t *testing.T) {
	uriOnly, err := CompileFormat("uri_only", `$remote_addr [$time_local] "$request_uri" $status verify=$ssl_client_verify`, "")
	if err != nil {
		t.Fatal(err)
	}
	uaOnly, err := CompileFormat("ua_only", `$remote_addr [$time_local] $uri $status "$http_user_agent" verify=$ssl_client_verify`, "")
	if err != nil {
		t.Fatal(err)
	}
	argsJSON, err := CompileFormat("args_json", `{"time":"$time_iso8601","client":"$remote_addr","uri":"$uri","args":"$args","status":$status}`, "json")
	if err != nil {
		t.Fatal(err)
	}
	const path = "/f5.nginx.agent.sdk.Commander/CommandChannel"
	for _, tc := range []struct {
		name        string
		parser      Parser
		agent, mine string
		kind        Kind // of the agent's line
	}{
		{"error log", Parser{Type: TypeNginxError}, agentNoCertLine, probeNoCertLine, KindAgentCertNotSent},
		{"combined, query", Parser{Type: TypeNginxAccess},
			`127.0.0.1 - - [30/Nov/2026:21:53:00 +0000] "POST ` + path + ` HTTP/2.0" 400 255 "-" "nginx-agent/v2.46.7 grpc-go/1.79.3"`,
			`127.0.0.1 - - [30/Nov/2026:21:53:00 +0000] "POST ` + path + `?mtls-doctor-probe=no-cert HTTP/2.0" 400 255 "-" "mtls-doctor-probe"`,
			KindAgentCertRejected},
		{"combined, user agent of the request with the certificate", Parser{Type: TypeNginxAccess},
			`127.0.0.1 - - [30/Nov/2026:21:53:00 +0000] "POST ` + path + ` HTTP/2.0" 400 255 "-" "nginx-agent/v2.46.7 grpc-go/1.79.3"`,
			`127.0.0.1 - - [30/Nov/2026:21:53:00 +0000] "POST ` + path + ` HTTP/2.0" 400 255 "-" "mtls-doctor-probe"`,
			KindAgentCertRejected},
		{"main_ext", Parser{Type: TypeNginxAccess, Formats: []*Format{MainExt}},
			`127.0.0.1 - - [30/Nov/2026:21:53:00 +0000] "POST ` + path + ` HTTP/2.0" 400 255 "-" "h2" "grpc-go/1.79.3" "-" "nim.test.local" sn="nim.test.local" rt=0.000 ua="-" us="-" ut="-" ul="-" cs=- 0a1b`,
			`127.0.0.1 - - [30/Nov/2026:21:53:00 +0000] "POST ` + path + `?mtls-doctor-probe=no-cert HTTP/2.0" 400 255 "-" "h2" "mtls-doctor-probe" "-" "nim.test.local" sn="nim.test.local" rt=0.000 ua="-" us="-" ut="-" ul="-" cs=- 0a1c`,
			KindAgentCertRejected},
		{"$request_uri only", Parser{Type: TypeNginxAccess, Formats: []*Format{uriOnly}},
			`10.0.0.5 [30/Nov/2026:21:53:00 +0000] "` + path + `" 400 verify=NONE`,
			`127.0.0.1 [30/Nov/2026:21:53:00 +0000] "` + path + `?mtls-doctor-probe=no-cert" 400 verify=NONE`,
			KindAgentCertNotSent},
		{"$http_user_agent only", Parser{Type: TypeNginxAccess, Formats: []*Format{uaOnly}},
			`10.0.0.5 [30/Nov/2026:21:53:00 +0000] ` + path + ` 400 "grpc-go/1.79.3" verify=NONE`,
			`127.0.0.1 [30/Nov/2026:21:53:00 +0000] ` + path + ` 400 "mtls-doctor-probe" verify=NONE`,
			KindAgentCertNotSent},
		{"json with $args", Parser{Type: TypeNginxAccess, Formats: []*Format{argsJSON}},
			`{"time":"2026-11-30T21:53:00+00:00","client":"10.0.0.5","uri":"` + path + `","args":"","status":400}`,
			`{"time":"2026-11-30T21:53:00+00:00","client":"127.0.0.1","uri":"` + path + `","args":"mtls-doctor-probe=no-cert","status":400}`,
			KindAgentCertRejected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.parser
			p.Location = time.UTC
			if ev, _, st := p.Parse(tc.agent); st != LineClassified || ev.Kind != tc.kind {
				t.Fatalf("agent's line: %v %q, want classified %s", st, ev.Kind, tc.kind)
			}
			ev, ts, st := p.Parse(tc.mine)
			if st != LineOwnProbe || ev.Kind != "" || ts.IsZero() {
				t.Errorf("probe's line: %v %q at %v, want LineOwnProbe with its time", st, ev.Kind, ts)
			}
			if !OwnProbe(tc.mine) || OwnProbe(tc.agent) {
				t.Errorf("OwnProbe: probe's %v, agent's %v", OwnProbe(tc.mine), OwnProbe(tc.agent))
			}
		})
	}
	// The agent's own log never carries the mark.
	agentLog := `time="2026-11-30T21:53:00Z" level=error msg="Failed to connect: rpc error: code = Unavailable"`
	if OwnProbe(agentLog) {
		t.Error("an agent log line is taken for the probe's")
	}
}

// TestScanSkipsOwnProbe: a history scan over a log holding two earlier runs' probe lines
// and one agent's rejection counts the probe's lines apart and summarises only the agent's.
func TestScanSkipsOwnProbe(t *testing.T) {
	dir := t.TempDir()
	errPath := filepath.Join(dir, "error.log")
	at := func(line string, d time.Duration) string {
		return strings.Replace(line, "2026/11/30 21:53:00", scanNow.Add(-d).Format("2006/01/02 15:04:05"), 1)
	}
	writeLog(t, errPath, []string{
		at(probeNoCertLine, 30*time.Minute),
		at(agentNoCertLine, 20*time.Minute),
		at(probeNoCertLine, 10*time.Minute),
	}, scanNow)
	accPath := filepath.Join(dir, "access.log")
	acc := func(d time.Duration, query, ua string) string {
		return `127.0.0.1 - - [` + scanNow.Add(-d).Format("02/Jan/2006:15:04:05 -0700") +
			`] "POST /f5.nginx.agent.sdk.Commander/CommandChannel` + query + ` HTTP/2.0" 400 255 "-" "` + ua + `"`
	}
	writeLog(t, accPath, []string{
		acc(30*time.Minute, "?"+OwnProbeQuery, OwnProbeUserAgent),
		acc(30*time.Minute, "", OwnProbeUserAgent),
		acc(10*time.Minute, "?"+OwnProbeQuery, OwnProbeUserAgent),
	}, scanNow)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep := Scan(ctx, []File{{Path: errPath, Type: TypeNginxError}, {Path: accPath, Type: TypeNginxAccess}},
		Options{Now: scanNow, Since: time.Hour, Location: time.UTC, Workers: 2})
	if e, a := rep.Files[0], rep.Files[1]; e.OwnProbe != 2 || e.Classified != 1 || e.Lines != 3 || a.OwnProbe != 3 || a.Classified != 0 {
		t.Errorf("error log: %d own, %d classified of %d; access log: %d own, %d classified; want 2, 1 of 3; 3, 0",
			e.OwnProbe, e.Classified, e.Lines, a.OwnProbe, a.Classified)
	}
	if len(rep.Summaries) != 1 || rep.Summaries[0].Kind != KindAgentCertNotSent || rep.Summaries[0].Count != 1 {
		t.Errorf("summaries %+v, want the agent's one agent-cert-not-sent", rep.Summaries)
	}
}
