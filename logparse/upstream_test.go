package logparse

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func upstreamRealLines(t testing.TB, name string) []string {
	t.Helper()
	data, err := os.ReadFile("../testdata/logs/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

// TestClassifyRealUpstreamLines classifies every line of the real front/upstream fixture
// (testdata/logs/nginx-upstream-real.md says which setup wrote each): each is an upstream
// kind, attributed to the upstream server, never to an agent.
func TestClassifyRealUpstreamLines(t *testing.T) {
	want := []struct {
		substr, detail string
		kind           Kind
		code           int
		fromUpstream   bool // the upstream NGINX's own line: Upstream is the Host the front sent
	}{
		{"client sent no required SSL certificate", "", KindUpstreamClientCertNotConfigured, 0, true},
		{"client SSL certificate verify error: (10:certificate has expired)", "", KindUpstreamClientCertExpired, 10, true},
		{"(21:unable to verify the first certificate) while SSL handshaking to upstream", "", KindUpstreamCertUntrusted, 21, false},
		{`does not match "127.0.0.1"`, `upstream SSL certificate does not match "127.0.0.1"`, KindUpstreamNameMismatch, 0, false},
		{"connect() failed (111: Connection refused)", "connect() failed (111: Connection refused)", KindUpstreamUnreachable, 0, false},
		{"wrong version number", "wrong version number", KindUpstreamNotTLS, 0, false},
		{"peer closed connection in SSL handshake", "", KindUpstreamTLSHandshakeFailed, 0, false},
		{"SSL alert number 40)", "alert handshake failure (SSL alert number 40)", KindUpstreamTLSHandshakeFailed, 0, false},
		{"SSL alert number 70)", "alert protocol version (SSL alert number 70)", KindUpstreamTLSVersionMismatch, 0, false},
		{"SSL alert number 116)", "alert certificate required (SSL alert number 116)", KindUpstreamClientCertNotConfigured, 0, false},
		{"SSL alert number 48)", "alert unknown ca (SSL alert number 48)", KindUpstreamClientCertUnknownCA, 0, false},
		{"upstream SSL certificate verify error: (10:certificate has expired)", "", KindUpstreamCertExpired, 10, false},
		{"(23:certificate revoked) while SSL handshaking to upstream", "", KindUpstreamCertRevoked, 23, false},
		{"SSL alert number 45)", "alert certificate expired (SSL alert number 45)", KindUpstreamClientCertExpired, 0, false},
	}
	seen := map[string]bool{}
	p := Parser{Type: TypeNginxError, Location: time.UTC}
	for _, line := range upstreamRealLines(t, "nginx-upstream-real.log") {
		e, _ := ParseErrorLine(line, time.UTC)
		ev, _, st := p.Parse(line)
		i := slices.IndexFunc(want, func(w struct {
			substr, detail string
			kind           Kind
			code           int
			fromUpstream   bool
		}) bool {
			return strings.Contains(line, w.substr)
		})
		if i < 0 {
			t.Errorf("fixture line without an expectation: %s", line)
			continue
		}
		w := want[i]
		seen[w.substr] = true
		if st != LineClassified || ev.Kind != w.kind || ev.X509Code != w.code {
			t.Errorf("%s:\n got %v %s code %d, want %s code %d", line, st, ev.Kind, ev.X509Code, w.kind, w.code)
			continue
		}
		if w.detail != "" && ev.Detail != w.detail {
			t.Errorf("%s: detail %q, want %q", line, ev.Detail, w.detail)
		}
		wantUp := UpstreamPeer(e.Upstream)
		if w.fromUpstream {
			wantUp = e.Host
		}
		if ev.Upstream == "" || ev.Upstream != wantUp || !strings.HasPrefix(ev.Upstream, "127.0.0.1:") {
			t.Errorf("%s: upstream %q, want %q", line, ev.Upstream, wantUp)
		}
		if !IsUpstreamKind(ev.Kind) || ev.Line != line {
			t.Errorf("event %+v", ev)
		}
	}
	for _, w := range want {
		if !seen[w.substr] {
			t.Errorf("no fixture line holds %q", w.substr)
		}
	}
}

// upstreamFormat is the front's log_format of the fixture: $upstream_status and
// $upstream_addr after the client's status.
const upstreamFormat = `$remote_addr [$time_local] "$request" $status upstream=$upstream_addr upstream_status=$upstream_status`

func TestClassifyUpstreamAccess(t *testing.T) {
	f, err := CompileFormat("upstream", upstreamFormat, "")
	if err != nil {
		t.Fatal(err)
	}
	p := Parser{Type: TypeNginxAccess, Formats: []*Format{f}, Location: time.UTC}
	real := upstreamRealLines(t, "nginx-upstream-access-real.log")
	tests := []struct {
		line     string
		kind     Kind // "" = not classified
		upstream string
	}{
		{real[0], "", ""}, // 200 from the upstream
		{real[1], KindUpstreamClientCertRejected, "127.0.0.1:43421"},
		{real[2], KindUpstreamClientCertRejected, "127.0.0.1:46741"},
		{`10.0.0.5 [05/Dec/2026:07:56:05 +0000] "GET /api HTTP/1.1" 502 upstream=10.0.0.1:443, 10.0.0.2:443 upstream_status=502, 403`,
			KindUpstreamClientCertRejected, "10.0.0.2:443"},
		{`10.0.0.5 [05/Dec/2026:07:56:05 +0000] "GET /api HTTP/1.1" 403 upstream=10.0.0.1:443 : 10.0.0.3:443 upstream_status=200 : 496`,
			KindUpstreamClientCertRejected, "10.0.0.3:443"},
		{`10.0.0.5 [05/Dec/2026:07:56:05 +0000] "GET /api HTTP/1.1" 502 upstream=10.0.0.1:443 upstream_status=502`, "", ""},
		{`10.0.0.5 [05/Dec/2026:07:56:05 +0000] "GET /api HTTP/1.1" 400 upstream=- upstream_status=-`, "", ""},
		// An agent's path stays the agent's.
		{`10.0.0.5 [05/Dec/2026:07:56:05 +0000] "POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0" 400 upstream=10.0.0.1:443 upstream_status=400`,
			KindAgentCertRejected, ""},
	}
	for _, tc := range tests {
		ev, _, st := p.Parse(tc.line)
		if tc.kind == "" {
			if st == LineClassified {
				t.Errorf("%s: classified %s", tc.line, ev.Kind)
			}
			continue
		}
		if st != LineClassified || ev.Kind != tc.kind || ev.Upstream != tc.upstream {
			t.Errorf("%s:\n got %v %s upstream %q, want %s %q", tc.line, st, ev.Kind, ev.Upstream, tc.kind, tc.upstream)
		}
	}
}

// TestUpstreamKindsSummarisedPerUpstream: two upstreams failing the same way give two
// summaries, so each link gets its own evidence.
func TestUpstreamKindsSummarisedPerUpstream(t *testing.T) {
	line := upstreamRealLines(t, "nginx-upstream-real.log")[4] // connect() failed
	var events []Event
	p := Parser{Type: TypeNginxError, Location: time.UTC}
	for _, port := range []string{"1111", "2222", "2222"} {
		e, _, _ := p.Parse(strings.Replace(line, `upstream: "https://127.0.0.1:`, `upstream: "https://10.9.9.9:`+port+`#`, 1))
		events = append(events, e)
	}
	sums := Aggregate(events)
	if len(sums) != 2 || sums[0].Upstream == sums[1].Upstream || sums[0].Count+sums[1].Count != 3 {
		t.Fatalf("summaries %+v", sums)
	}
	for _, s := range sums {
		if !strings.HasPrefix(s.Upstream, "10.9.9.9:") || s.Kind != KindUpstreamUnreachable {
			t.Errorf("summary %+v", s)
		}
	}
}

func TestClassifyUpstreamEdges(t *testing.T) {
	const head = `2026/12/05 07:56:05 [error] 1#1: *1 `
	tests := map[string]struct {
		line string
		kind Kind
	}{
		"plaintext upstream is not a TLS link":                        {head + `connect() failed (111: Connection refused) while connecting to upstream, client: 10.0.0.5, server: _, request: "GET / HTTP/1.1", upstream: "http://10.0.0.9:80/", host: "a"`, ""},
		"grpcs re-encrypt to the agents' backend is an upstream link": {head + `connect() failed (111: Connection refused) while connecting to upstream, client: 10.0.0.5, server: _, request: "POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0", upstream: "grpcs://10.0.0.9:443", host: "a"`, KindUpstreamUnreachable},
		"alert 112 unrecognized name":                                 {head + `SSL_do_handshake() failed (SSL: error:0A000458:SSL routines::tlsv1 unrecognized name:SSL alert number 112) while SSL handshaking to upstream, client: 10.0.0.5, server: _, request: "GET / HTTP/1.1", upstream: "https://10.0.0.9:443/", host: "a"`, KindUpstreamSNIMissing},
		"alert 42 bad certificate":                                    {head + `SSL_do_handshake() failed (SSL: error:0A000412:SSL routines::ssl/tls alert bad certificate:SSL alert number 42) while SSL handshaking to upstream, client: 10.0.0.5, server: _, request: "GET / HTTP/1.1", upstream: "https://10.0.0.9:443/", host: "a"`, KindUpstreamClientCertRejected},
		"chain too long":                                              {head + `upstream SSL certificate verify error: (22:certificate chain too long) while SSL handshaking to upstream, client: 10.0.0.5, server: _, request: "GET / HTTP/1.1", upstream: "https://10.0.0.9:443/", host: "a"`, KindUpstreamVerifyDepth},
		"no shared cipher":                                            {head + `SSL_do_handshake() failed (SSL: error:0A0000C1:SSL routines::no shared cipher) while SSL handshaking to upstream, client: 10.0.0.5, server: _, request: "GET / HTTP/1.1", upstream: "https://10.0.0.9:443/", host: "a"`, KindUpstreamTLSHandshakeFailed},
		"timed out connecting":                                        {head + `upstream timed out (110: Connection timed out) while connecting to upstream, client: 10.0.0.5, server: _, request: "GET / HTTP/1.1", upstream: "https://10.0.0.9:443/", host: "a"`, KindUpstreamUnreachable},
		"agent handshake is not an upstream's":                        {head + `SSL_do_handshake() failed (SSL: error:0A000412:SSL routines::sslv3 alert bad certificate:SSL alert number 42) while SSL handshaking, client: 10.0.0.5, server: 0.0.0.0:443`, KindServerCertRejectedByAgent},
		"agent verify error stays the agent's":                        {`2026/12/05 07:56:05 [info] 1#1: *1 client SSL certificate verify error: (10:certificate has expired) while reading client request headers, client: 10.0.0.5, server: nim, request: "POST /mpi.v1.CommandService/Subscribe HTTP/2.0", host: "nim"`, KindAgentCertExpired},
		"verify error without a request stays the agent's":            {`2026/12/05 07:56:05 [info] 1#1: *1 client SSL certificate verify error: (20:unable to get local issuer certificate) while reading client request headers, client: 10.0.0.5, server: nim`, KindAgentCertRejected},
		"upstream's view, unknown CA":                                 {`2026/12/05 07:56:05 [info] 1#1: *1 client SSL certificate verify error: (20:unable to get local issuer certificate) while reading client request headers, client: 10.0.0.5, server: api, request: "GET /v1 HTTP/1.0", host: "backend"`, KindUpstreamClientCertUnknownCA},
	}
	for name, tc := range tests {
		var p Parser
		ev, _, st := p.Parse(tc.line)
		if tc.kind == "" {
			if st == LineClassified {
				t.Errorf("%s: classified %s", name, ev.Kind)
			}
			continue
		}
		if st != LineClassified || ev.Kind != tc.kind {
			t.Errorf("%s: %v %s, want %s", name, st, ev.Kind, tc.kind)
		}
	}
}

// FuzzClassifyUpstream: any line, as an error or an access line, classifies without a
// panic, an upstream kind always names its upstream, and never one longer than the line.
func FuzzClassifyUpstream(f *testing.F) {
	for _, s := range upstreamRealLines(f, "nginx-upstream-real.log") {
		f.Add(s)
	}
	for _, s := range upstreamRealLines(f, "nginx-upstream-access-real.log") {
		f.Add(s)
	}
	format, err := CompileFormat("upstream", upstreamFormat, "")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line string) {
		for _, p := range []*Parser{
			{Type: TypeNginxError, Location: time.UTC},
			{Type: TypeNginxAccess, Formats: []*Format{format}, Location: time.UTC},
		} {
			ev, _, st := p.Parse(line)
			if st != LineClassified || !IsUpstreamKind(ev.Kind) {
				continue
			}
			if len(ev.Upstream) > len(line) || !slices.Contains(Kinds, ev.Kind) {
				t.Errorf("event %+v from %q", ev, line)
			}
		}
		UpstreamPeer(line)
		lastListed(line)
	})
}
