package logparse

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestClassifyRealNginxLines classifies every line of the real NGINX 1.22.1 fixture
// (testdata/logs/nginx-error-real.md says which setup wrote each).
func TestClassifyRealNginxLines(t *testing.T) {
	want := map[string]struct {
		kind Kind
		code int
		text string
	}{
		"(23:certificate revoked)":                     {KindAgentCertRevoked, 23, "certificate revoked"},
		"(21:unable to verify the first certificate)":  {KindAgentCertRejected, 21, "unable to verify the first certificate"},
		"(26:unsuitable certificate purpose)":          {KindAgentCertWrongPurpose, 26, "unsuitable certificate purpose"},
		"(9:certificate is not yet valid)":             {KindAgentCertNotYetValid, 9, "certificate is not yet valid"},
		"(10:certificate has expired)":                 {KindAgentCertExpired, 10, "certificate has expired"},
		"(20:unable to get local issuer certificate)":  {KindAgentCertRejected, 20, "unable to get local issuer certificate"},
		"client sent no required SSL certificate":      {kind: KindAgentCertNotSent},
		"connect() failed (111: Connection refused)":   {kind: KindGRPCBackendUnavailable},
		`request: "PRI * HTTP/2.0"`:                    {kind: KindAgentTLSDisabled},
		"unsupported protocol":                         {kind: KindTLSVersionMismatch},
		"SSL alert number 42":                          {kind: KindServerCertRejectedByAgent},
		"no application protocol":                      {kind: KindALPNH2Missing},
		"client sent plain HTTP request to HTTPS port": {kind: KindAgentTLSDisabled},
	}
	var p Parser
	p.Type = TypeNginxError
	seen := map[string]bool{}
	for _, line := range realLines(t) {
		ev, ts, st := p.Parse(line)
		if st == LineUnparsed || ts.IsZero() {
			t.Errorf("unparsed: %s", line)
			continue
		}
		var key string
		for k := range want {
			if strings.Contains(line, k) {
				key = k
			}
		}
		if key == "" {
			if st == LineClassified {
				t.Errorf("classified %s: %s", ev.Kind, line)
			}
			continue
		}
		seen[key] = true
		w := want[key]
		if st != LineClassified || ev.Kind != w.kind || ev.X509Code != w.code || ev.X509Text != w.text {
			t.Errorf("%s:\n got %v %s code %d %q, want %s code %d %q", line, st, ev.Kind, ev.X509Code, ev.X509Text, w.kind, w.code, w.text)
		}
		if ev.Client != "127.0.0.1" || ev.Line != line || ev.Source != SourceNginxError {
			t.Errorf("event %+v", ev)
		}
	}
	for k := range want {
		if !seen[k] {
			t.Errorf("no fixture line holds %q", k)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := map[string]struct {
		typ    Type
		line   string
		kind   Kind // "" = not classified
		code   int
		client string
		detail string
	}{
		// NGINX error log: fact-sheet lines and the other OpenSSL spellings of the alert.
		"openssl 1.1.1 alert": {TypeNginxError,
			`2025/01/15 10:00:00 [info] 2345#2345: *3 SSL_do_handshake() failed (SSL: error:14094412:SSL routines:ssl3_read_bytes:sslv3 alert bad certificate:SSL alert number 42) while SSL handshaking, client: 10.0.0.5, server: 0.0.0.0:443`,
			KindServerCertRejectedByAgent, 0, "10.0.0.5", "SSL alert number 42"},
		"unknown ca alert": {TypeNginxError,
			`2025/01/15 10:00:00 [info] 2345#2345: *3 SSL_do_handshake() failed (SSL: error:0A000418:SSL routines::tlsv1 alert unknown ca:SSL alert number 48) while SSL handshaking, client: 10.0.0.5, server: 0.0.0.0:443`,
			KindServerCertRejectedByAgent, 0, "10.0.0.5", "SSL alert number 48"},
		"unrecognized name alert is not classified": {TypeNginxError,
			`2025/01/15 10:00:00 [info] 2345#2345: *3 SSL_do_handshake() failed (SSL: error:0A000458:SSL routines::tlsv1 unrecognized name:SSL alert number 112) while SSL handshaking, client: 10.0.0.5, server: 0.0.0.0:443`,
			"", 0, "", ""},
		"CRL expired": {TypeNginxError,
			`2025/01/15 10:00:00 [info] 2345#2345: *17 client SSL certificate verify error: (12:CRL has expired) while reading client request headers, client: 10.0.0.5, server: _, request: "POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0", host: "nim.example.com"`,
			KindCRLExpired, 12, "10.0.0.5", "(12:CRL has expired)"},
		"chain too long": {TypeNginxError,
			`2025/01/15 10:00:00 [info] 2345#2345: *17 client SSL certificate verify error: (22:certificate chain too long) while reading client request headers, client: 10.0.0.5, server: _`,
			KindClientVerifyDepth, 22, "10.0.0.5", "(22:certificate chain too long)"},
		"not yet valid, newest OpenSSL text": {TypeNginxError,
			`2025/01/15 10:00:00 [info] 1#1: *1 client SSL certificate verify error: (9:certificate is not yet valid or the system clock is incorrect) while reading client request headers, client: 10.0.0.5, server: _`,
			KindAgentCertNotYetValid, 9, "10.0.0.5", ""},
		"OCSP form without code": {TypeNginxError,
			`2025/01/15 10:00:00 [info] 1#1: *1 client SSL certificate verify error: certificate status request failed while reading client request headers, client: 10.0.0.5, server: _`,
			KindAgentCertRejected, 0, "10.0.0.5", ""},
		"misdirected": {TypeNginxError,
			`2025/01/15 10:00:00 [info] 1#1: *1 client attempted to request the server name different from the one that was negotiated while reading client request headers, client: 10.0.0.5, server: a, request: "POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0", host: "b"`,
			KindMisdirectedRequest, 0, "10.0.0.5", ""},
		"invalid version PRI": {TypeNginxError,
			`2025/01/15 10:00:00 [info] 1#1: *1 client sent invalid version while reading client request line, client: 10.0.0.5, server: _, request: "PRI * HTTP/2.0"`,
			KindAgentTLSDisabled, 0, "10.0.0.5", ""},
		"upstream to an HTTP backend is not the agent's": {TypeNginxError,
			`2025/01/15 10:00:00 [error] 1#1: *1 connect() failed (111: Connection refused) while connecting to upstream, client: 10.0.0.5, server: _, request: "GET /ui HTTP/1.1", upstream: "http://127.0.0.1:8080/ui", host: "nim"`,
			"", 0, "", ""},
		"peer closed is not classified": {TypeNginxError,
			`2025/01/15 10:00:00 [info] 1#1: *1 peer closed connection in SSL handshake (104: Connection reset by peer) while SSL handshaking, client: 10.0.0.5, server: 0.0.0.0:443`,
			"", 0, "", ""},

		// Access logs.
		"combined 400 on the agent path": {TypeNginxAccess,
			`10.0.0.5 - - [15/Jan/2025:10:00:00 +0000] "POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0" 400 255 "-" "nginx-agent/v2.46.7 grpc-go/1.79.3"`,
			KindAgentCertRejected, 0, "10.0.0.5", ""},
		"combined 400 elsewhere is not classified": {TypeNginxAccess,
			`10.0.0.5 - - [15/Jan/2025:10:00:00 +0000] "GET /ui HTTP/1.1" 400 255 "-" "curl"`, "", 0, "", ""},
		"combined PRI": {TypeNginxAccess,
			`10.0.0.5 - - [15/Jan/2025:10:00:00 +0000] "PRI * HTTP/2.0" 400 150 "-" "-"`, KindAgentTLSDisabled, 0, "10.0.0.5", ""},
		"combined 496 kept by error_page": {TypeNginxAccess,
			`10.0.0.6 - - [15/Jan/2025:10:00:00 +0000] "POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0" 496 0 "-" "-"`,
			KindAgentCertNotSent, 0, "10.0.0.6", ""},
		"combined 497": {TypeNginxAccess,
			`10.0.0.6 - - [15/Jan/2025:10:00:00 +0000] "GET / HTTP/1.1" 497 0 "-" "-"`, KindAgentTLSDisabled, 0, "10.0.0.6", ""},
		"combined 421": {TypeNginxAccess,
			`10.0.0.6 - - [15/Jan/2025:10:00:00 +0000] "POST /mpi.v1.CommandService/CreateConnection HTTP/2.0" 421 0 "-" "-"`,
			KindMisdirectedRequest, 0, "10.0.0.6", ""},
		"main_ext 502": {TypeNginxAccess,
			`10.0.0.5 - - [22/Nov/2026:16:05:53 +0000] "POST /f5.nginx.agent.sdk.MetricsService/Stream HTTP/2.0" 502 150 "-" "h2" "ua" "-" "nim" sn="nim" rt=0.001 ua="127.0.0.1:10000" us="502" ut="0.000" ul="0" cs=- 0f3a`,
			KindGRPCBackendUnavailable, 0, "10.0.0.5", ""},
		"grpc_json 200 with grpc-status 16": {TypeNginxAccess,
			`{"timestamp":"2026-11-22T16:05:53+00:00","client":"10.0.0.7","uri":"/mpi.v1.CommandService/CreateConnection","http-status":200,"grpc-status":16,"upstream":"""rx-bytes":320,"tx-bytes":411}`,
			KindAgentCertRejected, 0, "10.0.0.7", "grpc-status 16 (Unauthenticated)"},
		"grpc_json healthy": {TypeNginxAccess,
			`{"timestamp":"2026-11-22T16:05:53+00:00","client":"10.0.0.7","uri":"/mpi.v1.CommandService/CreateConnection","http-status":200,"grpc-status":0,"upstream":"unix:/x""rx-bytes":320,"tx-bytes":411}`,
			"", 0, "", ""},

		// Agent v2 and v3, from their format strings (nginx/agent v2 sdk/client/commander.go,
		// v3 internal/grpc/grpc.go) with Go crypto/x509 and grpc-go error texts.
		"v2 unknown authority": {TypeAgent,
			`time="2025-01-15T10:00:00Z" level=error msg="Unable to create command channel: rpc error: code = Unavailable desc = connection error: desc = \"transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority\""`,
			KindServerCertUntrusted, 0, "", "x509: certificate signed by unknown authority"},
		"v2 IP SANs": {TypeAgent,
			`time="2025-01-15T10:00:00Z" level=warning msg="Unable to create metrics channel: rpc error: code = Unavailable desc = connection error: desc = \"transport: authentication handshake failed: tls: failed to verify certificate: x509: cannot validate certificate for 10.1.1.4 because it doesn't contain any IP SANs\""`,
			KindServerNameMismatch, 0, "", "x509: cannot validate certificate for 10.1.1.4 because it doesn't contain any IP SANs"},
		"v2 name mismatch": {TypeAgent,
			`time="2025-01-15T10:00:00Z" level=error msg="Unable to create command channel: rpc error: code = Unavailable desc = connection error: desc = \"transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate is valid for nginx-manager.example.com, localhost, not nim.internal\""`,
			KindServerNameMismatch, 0, "", ""},
		"v2 CN only": {TypeAgent,
			`time="2025-01-15T10:00:00Z" level=error msg="Unable to create command channel: rpc error: code = Unavailable desc = connection error: desc = \"transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate relies on legacy Common Name field, use SANs instead\""`,
			KindServerCertCNOnly, 0, "", ""},
		"v2 400 text/html": {TypeAgent,
			`time="2025-01-15T10:00:00Z" level=error msg="Commander Channel Recv: error communicating with nim.example.com:443, code=Internal, message=unexpected HTTP status code received from server: 400 (Bad Request); transport: received unexpected content-type \"text/html\""`,
			KindAgentCertRejected, 0, "", ""},
		"v2 Unauthenticated": {TypeAgent,
			`time="2025-01-15T10:00:00Z" level=error msg="Commander Channel Recv: error communicating with nim.example.com:443, code=Unauthenticated, message=401. Unauthorized."`,
			KindAgentCertRejected, 0, "", ""},
		"v2 key mismatch": {TypeAgent,
			`time="2025-01-15T10:00:00Z" level=fatal msg="Failed to load secure metric gRPC dial options: failed to configure tls: could not load X509 keypair: tls: private key does not match public key"`,
			KindAgentKeyMismatch, 0, "", ""},
		"v2 plaintext to TLS": {TypeAgent,
			`time="2025-01-15T10:00:00Z" level=error msg="Unable to create command channel: rpc error: code = Unavailable desc = connection error: desc = \"error reading server preface: http2: frame too large\""`,
			KindAgentTLSDisabled, 0, "", ""},
		"v2 refused": {TypeAgent,
			`time="2025-01-15T10:00:00Z" level=error msg="Unable to create command channel: rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial tcp 10.0.0.5:443: connect: connection refused\""`,
			KindEndpointRefused, 0, "", ""},
		"v2 DNS": {TypeAgent,
			`time="2025-01-15T10:00:00Z" level=error msg="Unable to create command channel: rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial tcp: lookup nim.example.com on 127.0.0.53:53: no such host\""`,
			KindEndpointDNS, 0, "", ""},
		"v3 expired server cert": {TypeAgent,
			`time=2025-06-01T10:00:01.123Z level=ERROR msg="Failed to create connection" error="rpc error: code = Unavailable desc = connection error: desc = \"transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time 2025-06-01T10:00:01Z is after 2025-05-31T00:00:00Z\"" correlation_id=4f0c server_type=command`,
			KindServerCertExpired, 0, "", "x509: certificate has expired or is not yet valid: current time 2025-06-01T10:00:01Z is after 2025-05-31T00:00:00Z"},
		"v3 not yet valid": {TypeAgent,
			`time=2025-06-01T10:00:01.123Z level=ERROR msg="Failed to create connection" error="rpc error: code = Unavailable desc = connection error: desc = \"transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time 2025-06-01T10:00:01Z is before 2025-07-01T00:00:00Z\""`,
			KindServerCertNotYetValid, 0, "", ""},
		"v3 missing cert file": {TypeAgent,
			`time=2025-06-01T10:00:01.123Z level=ERROR msg="Unable to add transport credentials to gRPC dial, failed to parse configuration" error="invalid client cert while building transport credentials: load X509 keypair: open /etc/nginx-agent/agent.crt: no such file or directory"`,
			KindAgentCertFileUnreadable, 0, "", ""},
		"v3 ALPN": {TypeAgent,
			`time=2025-06-01T10:00:01.123Z level=ERROR msg="Failed to create connection" error="rpc error: code = Unavailable desc = connection error: desc = \"transport: authentication handshake failed: credentials: cannot check peer: missing selected ALPN property. If you upgraded from a grpc-go version earlier than 1.67, your TLS connections may have stopped working due to ALPN enforcement. For more details, see: https://github.com/grpc/grpc-go/issues/434\""`,
			KindALPNH2Missing, 0, "", ""},
		"v3 not TLS": {TypeAgent,
			`{"time":"2025-06-01T10:00:01.123Z","level":"ERROR","msg":"Failed to create connection","error":"rpc error: code = Unavailable desc = connection error: desc = \"transport: authentication handshake failed: tls: first record does not look like a TLS handshake\""}`,
			KindEndpointNotTLS, 0, "", ""},
		"v3 Unauthenticated": {TypeAgent,
			`time=2025-06-01T10:00:01.123Z level=ERROR msg="Unable to create connection" error="rpc error: code = Unauthenticated desc = missing authorization"`,
			KindAgentCertRejected, 0, "", ""},
		"v3 no transport security is not guessed at": {TypeAgent,
			`time=2025-06-01T10:00:01.123Z level=WARN msg="Failed to create gRPC connection for command server" error="grpc: no transport security set (use grpc.WithTransportCredentials(insecure.NewCredentials()) explicitly or set credentials)" server_type=command`,
			"", 0, "", ""},
		"v3 start-up": {TypeAgent,
			`time=2025-05-16T17:30:28.179Z level=INFO msg="Starting NGINX Agent" version=v3.0.0 commit=908d737d`, "", 0, "", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			for _, typ := range []Type{tc.typ, TypeAuto} {
				p := Parser{Type: typ}
				ev, ts, st := p.Parse(tc.line)
				if st == LineUnparsed || ts.IsZero() {
					t.Fatalf("%q: unparsed", typ)
				}
				if tc.kind == "" {
					if st == LineClassified {
						t.Errorf("%q: classified as %s", typ, ev.Kind)
					}
					continue
				}
				if st != LineClassified || ev.Kind != tc.kind || ev.X509Code != tc.code || ev.Client != tc.client {
					t.Errorf("%q: got %v %s code %d client %q, want %s code %d client %q", typ, st, ev.Kind, ev.X509Code, ev.Client, tc.kind, tc.code, tc.client)
				}
				if tc.detail != "" && ev.Detail != tc.detail {
					t.Errorf("%q: detail %q, want %q", typ, ev.Detail, tc.detail)
				}
				if ev.Source != Source(tc.typ) {
					t.Errorf("source %s, want %s", ev.Source, tc.typ)
				}
			}
		})
	}
}

// TestAccessVerifyReason reads $ssl_client_verify from a format that logs it.
func TestAccessVerifyReason(t *testing.T) {
	f, err := CompileFormat("lab", `$remote_addr [$time_local] "$request" $status verify=$ssl_client_verify`, "")
	if err != nil {
		t.Fatal(err)
	}
	p := Parser{Type: TypeNginxAccess, Formats: []*Format{f}}
	for line, want := range map[string]struct {
		kind Kind
		code int
	}{
		`10.0.0.5 [15/Jan/2025:10:00:00 +0000] "POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0" 400 verify=FAILED:certificate has expired`:                {KindAgentCertExpired, 10},
		`10.0.0.5 [15/Jan/2025:10:00:00 +0000] "POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0" 400 verify=FAILED:unable to get local issuer certificate`: {KindAgentCertRejected, 20},
		`10.0.0.5 [15/Jan/2025:10:00:00 +0000] "POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0" 400 verify=NONE`:                                          {KindAgentCertNotSent, 0},
		`10.0.0.5 [15/Jan/2025:10:00:00 +0000] "POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0" 200 verify=SUCCESS`:                                       {"", 0},
	} {
		ev, _, st := p.Parse(line)
		if want.kind == "" {
			if st != LineUnclassified {
				t.Errorf("%s: %v %s", line, st, ev.Kind)
			}
			continue
		}
		if st != LineClassified || ev.Kind != want.kind || ev.X509Code != want.code {
			t.Errorf("%s: got %v %s %d, want %s %d", line, st, ev.Kind, ev.X509Code, want.kind, want.code)
		}
	}
}

// TestKindsListsEveryKind: every Kind constant the package declares is in Kinds once, so a
// kind added as a constant is also displayed, summarised in order and checked to be
// claimed by a diagnostics check.
func TestKindsListsEveryKind(t *testing.T) {
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	declared := map[Kind]bool{}
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Kind" {
					continue
				}
				for _, v := range vs.Values {
					if lit, ok := v.(*ast.BasicLit); ok {
						s, _ := strconv.Unquote(lit.Value)
						declared[Kind(s)] = true
					}
				}
			}
		}
	}
	if len(declared) < 20 {
		t.Fatalf("found only %d Kind constants: the parse missed them", len(declared))
	}
	listed := map[Kind]int{}
	for _, k := range Kinds {
		listed[k]++
	}
	for k := range declared {
		if listed[k] != 1 {
			t.Errorf("kind %q is listed %d times in Kinds, want once", k, listed[k])
		}
	}
	for k := range listed {
		if !declared[k] {
			t.Errorf("Kinds lists %q, which no constant declares", k)
		}
	}
}
