package logparse

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseErrorLine(t *testing.T) {
	tests := map[string]struct {
		line string
		want ErrorEntry
	}{
		"verify error (openssl/openssl#14036)": {
			line: `2021/01/29 15:42:39 [info] 1256#0: *1 client SSL certificate verify error: (10:certificate has expired) while reading client request headers, client: 10.10.10.50, server: localhost, request: "POST /... HTTP/1.1", host: "10.10.10.52:10443"`,
			want: ErrorEntry{
				Time: time.Date(2021, 1, 29, 15, 42, 39, 0, time.UTC), Level: "info", PID: 1256, TID: 0, Conn: 1,
				Message: "client SSL certificate verify error: (10:certificate has expired)",
				Action:  "reading client request headers", Client: "10.10.10.50", Server: "localhost",
				Request: "POST /... HTTP/1.1", Host: "10.10.10.52:10443",
			},
		},
		"upstream (lab)": {
			line: `2026/11/22 16:05:53 [error] 669#669: *1 connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: nim.test.local, request: "POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0", upstream: "grpc://127.0.0.1:35545", host: "127.0.0.1:37421"`,
			want: ErrorEntry{
				Time: time.Date(2026, 11, 22, 16, 5, 53, 0, time.UTC), Level: "error", PID: 669, TID: 669, Conn: 1,
				Message: "connect() failed (111: Connection refused)", Action: "connecting to upstream",
				Client: "127.0.0.1", Server: "nim.test.local",
				Request:  "POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0",
				Upstream: "grpc://127.0.0.1:35545", Host: "127.0.0.1:37421",
			},
		},
		"handshake, listen address as server (lab)": {
			line: `2026/11/22 16:06:16 [info] 779#779: *1 SSL_do_handshake() failed (SSL: error:0A000412:SSL routines::sslv3 alert bad certificate:SSL alert number 42) while SSL handshaking, client: 127.0.0.1, server: 127.0.0.1:42249`,
			want: ErrorEntry{
				Time: time.Date(2026, 11, 22, 16, 6, 16, 0, time.UTC), Level: "info", PID: 779, TID: 779, Conn: 1,
				Message: "SSL_do_handshake() failed (SSL: error:0A000412:SSL routines::sslv3 alert bad certificate:SSL alert number 42)",
				Action:  "SSL handshaking", Client: "127.0.0.1", Server: "127.0.0.1:42249",
			},
		},
		"no connection (lab)": {
			line: `2026/11/22 15:57:18 [notice] 27987#27987: signal 3 (SIGQUIT) received from 27981, shutting down`,
			want: ErrorEntry{
				Time: time.Date(2026, 11, 22, 15, 57, 18, 0, time.UTC), Level: "notice", PID: 27987, TID: 27987,
				Message: "signal 3 (SIGQUIT) received from 27981, shutting down",
			},
		},
		"request holding a field separator": {
			line: `2026/11/22 16:05:53 [info] 672#672: *1 client sent invalid request while reading client request line, client: 127.0.0.1, server: a, request: "GET /x, host: y HTTP/1.1", host: "h"`,
			want: ErrorEntry{
				Time: time.Date(2026, 11, 22, 16, 5, 53, 0, time.UTC), Level: "info", PID: 672, TID: 672, Conn: 1,
				Message: "client sent invalid request", Action: "reading client request line",
				Client: "127.0.0.1", Server: "a", Request: "GET /x, host: y HTTP/1.1", Host: "h",
			},
		},
		"truncated inside the request": {
			line: `2026/11/22 16:05:53 [info] 1#1: *9 client sent no required SSL certificate while reading client request headers, client: 10.0.0.5, server: _, request: "POST /f5.nginx.ag`,
			want: ErrorEntry{
				Time: time.Date(2026, 11, 22, 16, 5, 53, 0, time.UTC), Level: "info", PID: 1, TID: 1, Conn: 9,
				Message: "client sent no required SSL certificate", Action: "reading client request headers",
				Client: "10.0.0.5", Server: "_", Request: "POST /f5.nginx.ag",
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := ParseErrorLine(tc.line, time.UTC)
			if !ok {
				t.Fatal("not parsed")
			}
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "2026/11/22", "2026/13/22 16:05:53 [info] 1#1: x", "2026/11/22 16:05:53 [loud] 1#1: x",
		"2026/11/22 16:05:53 [info] x#1: y", "time=\"2025\" level=info msg=x", "\xff\xfe"} {
		if _, ok := ParseErrorLine(bad, time.UTC); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestParseAccessFormats(t *testing.T) {
	tests := map[string]struct {
		f    *Format
		line string
		want AccessEntry // Vars not compared
	}{
		"combined": {
			f:    Combined,
			line: `10.0.0.5 - - [22/Nov/2026:16:05:53 +0100] "POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0" 400 255 "-" "nginx-agent/v2.46.7 grpc-go/1.79.3"`,
			want: AccessEntry{
				Time:       time.Date(2026, 11, 22, 15, 5, 53, 0, time.UTC),
				RemoteAddr: "10.0.0.5", Request: "POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0",
				URI: "/f5.nginx.agent.sdk.Commander/CommandChannel", Status: 400,
				UserAgent: "nginx-agent/v2.46.7 grpc-go/1.79.3",
			},
		},
		"combined, escaped quote in the request": {
			f:    Combined,
			line: `10.0.0.5 - bob [22/Nov/2026:16:05:53 +0000] "GET /a\x22b HTTP/1.1" 200 1 "-" "curl/8"`,
			want: AccessEntry{
				Time:       time.Date(2026, 11, 22, 16, 5, 53, 0, time.UTC),
				RemoteAddr: "10.0.0.5", Request: `GET /a"b HTTP/1.1`, URI: `/a"b`, Status: 200, UserAgent: "curl/8",
			},
		},
		"main_ext": {
			f: MainExt,
			line: `10.0.0.5 - - [22/Nov/2026:16:05:53 +0000] "POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0" 502 150 "-" "h2" ` +
				`"nginx-agent/v2.46.7 grpc-go/1.79.3" "-" "nim.example.com" sn="nginx-manager.example.com" rt=0.001 ` +
				`ua="127.0.0.1:10000" us="502" ut="0.000" ul="0" cs=- 0f3a`,
			want: AccessEntry{
				Time:       time.Date(2026, 11, 22, 16, 5, 53, 0, time.UTC),
				RemoteAddr: "10.0.0.5", Request: "POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0",
				URI: "/f5.nginx.agent.sdk.Commander/CommandChannel", Status: 502, Host: "nim.example.com",
				UserAgent: "nginx-agent/v2.46.7 grpc-go/1.79.3", UpstreamStatus: "502", UpstreamAddr: "127.0.0.1:10000",
			},
		},
		"grpc_json with an empty grpc-status": {
			f: GRPCJSON,
			line: `{"timestamp":"2026-11-22T16:05:53+00:00","client":"10.0.0.5","uri":"/f5.nginx.agent.sdk.Commander/CommandChannel",` +
				`"http-status":400,"grpc-status":,"upstream":"""rx-bytes":320,"tx-bytes":411}`,
			want: AccessEntry{
				Time:       time.Date(2026, 11, 22, 16, 5, 53, 0, time.UTC),
				RemoteAddr: "10.0.0.5", URI: "/f5.nginx.agent.sdk.Commander/CommandChannel", Status: 400,
			},
		},
		"grpc_json with grpc-status 16": {
			f: GRPCJSON,
			line: `{"timestamp":"2026-11-22T16:05:53+00:00","client":"10.0.0.7","uri":"/mpi.v1.CommandService/CreateConnection",` +
				`"http-status":200,"grpc-status":16,"upstream":"unix:/var/run/nms/am.sock""rx-bytes":320,"tx-bytes":411}`,
			want: AccessEntry{
				Time:       time.Date(2026, 11, 22, 16, 5, 53, 0, time.UTC),
				RemoteAddr: "10.0.0.7", URI: "/mpi.v1.CommandService/CreateConnection", Status: 200, GRPCStatus: "16",
				UpstreamAddr: "unix:/var/run/nms/am.sock",
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := tc.f.Parse(tc.line, time.UTC)
			if !ok {
				t.Fatal("not parsed")
			}
			if !got.Time.Equal(tc.want.Time) {
				t.Errorf("time %v, want %v", got.Time, tc.want.Time)
			}
			got.Time, tc.want.Time, got.Vars = time.Time{}, time.Time{}, nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestCompileFormat(t *testing.T) {
	// The nginxtest format, with the verify variables.
	lab, err := CompileFormat("lab", `$remote_addr [$time_local] "$request" $status $body_bytes_sent `+
		`host="$host" ssl=$ssl_protocol/$ssl_cipher verify=$ssl_client_verify dn="$ssl_client_s_dn"`, "")
	if err != nil {
		t.Fatal(err)
	}
	line := `127.0.0.1 [22/Nov/2026:16:05:53 +0000] "POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0" 400 255 ` +
		`host="127.0.0.1:35051" ssl=TLSv1.3/TLS_AES_128_GCM_SHA256 verify=FAILED:certificate has expired dn="CN=agent"`
	e, ok := lab.Parse(line, time.UTC)
	if !ok {
		t.Fatal("not parsed")
	}
	if e.SSLClientVerify != "FAILED:certificate has expired" || e.SSLClientSDN != "CN=agent" || e.Status != 400 {
		t.Errorf("got %+v", e)
	}
	if v, ok := e.Var("ssl_cipher"); !ok || v != "TLS_AES_128_GCM_SHA256" {
		t.Errorf("ssl_cipher = %q %v", v, ok)
	}
	// ${var} and a "$" that starts no variable.
	f, err := CompileFormat("x", `${remote_addr}x$ $status`, "none")
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := f.Parse("1.2.3.4x$ 200", nil); !ok || e.RemoteAddr != "1.2.3.4" || e.Status != 200 {
		t.Errorf("got %+v %v", e, ok)
	}
	for _, bad := range [][2]string{{"", "default"}, {"$a", "xml"}, {"${a", ""}} {
		if _, err := CompileFormat("bad", bad[0], bad[1]); err == nil {
			t.Errorf("CompileFormat(%q, %q) did not fail", bad[0], bad[1])
		}
	}
	// Lines of another shape do not parse, and a cut-short line parses as partial.
	for _, s := range []string{"hello", `2026/11/22 16:05:53 [info] 1#1: x`, `{"timestamp":1}`} {
		if e, ok := Combined.Parse(s, nil); ok {
			t.Errorf("combined parsed %q: %+v", s, e)
		}
	}
	e, ok = Combined.Parse(`10.0.0.5 - - [22/Nov/2026:16:05:53 +0000] "POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0" 40`, nil)
	if !ok || !e.Partial || e.RemoteAddr != "10.0.0.5" {
		t.Errorf("partial: %+v %v", e, ok)
	}
}

func TestParseAgentLine(t *testing.T) {
	tests := map[string]struct {
		line string
		want AgentEntry // Attrs compared by count
		n    int
	}{
		"v2 logrus": {
			line: `time="2025-01-15T10:00:00Z" level=error msg="Unable to create command channel: rpc error: code = Unavailable desc = connection error: desc = \"transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority\""`,
			want: AgentEntry{Time: time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC), Level: "error", Format: AgentLogrus,
				Msg: `Unable to create command channel: rpc error: code = Unavailable desc = connection error: desc = "transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority"`},
		},
		"v2 logrus warning (nginx/agent#1343)": {
			line: `time="2025-10-15T15:30:14Z" level=warning msg="NGINX Error log stderr is not readable or is disabled. ..."`,
			want: AgentEntry{Time: time.Date(2025, 10, 15, 15, 30, 14, 0, time.UTC), Level: "warn", Format: AgentLogrus,
				Msg: "NGINX Error log stderr is not readable or is disabled. ..."},
		},
		"v3 slog text": {
			line: `time=2025-06-01T10:00:01.123Z level=ERROR msg="Failed to create connection" error="rpc error: code = Unavailable desc = connection error: desc = \"transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time 2025-06-01T10:00:01Z is after 2025-05-31T00:00:00Z\"" correlation_id=4f0c server_type=command`,
			want: AgentEntry{Time: time.Date(2025, 6, 1, 10, 0, 1, 123e6, time.UTC), Level: "error", Format: AgentSlogText,
				Msg:   "Failed to create connection",
				Error: `rpc error: code = Unavailable desc = connection error: desc = "transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time 2025-06-01T10:00:01Z is after 2025-05-31T00:00:00Z"`},
			n: 2,
		},
		"v3 slog text (nginx/agent PR #1079)": {
			line: `time=2025-05-16T17:30:28.179Z level=INFO msg="Starting NGINX Agent" version=v3.0.0 commit=908d737d`,
			want: AgentEntry{Time: time.Date(2025, 5, 16, 17, 30, 28, 179e6, time.UTC), Level: "info", Format: AgentSlogText,
				Msg: "Starting NGINX Agent"},
			n: 2,
		},
		"v3 slog JSON": {
			line: `{"time":"2025-06-01T10:00:01.123Z","level":"WARN","msg":"Failed to create gRPC connection for command server","error":"grpc: no transport security set","server_type":"command"}`,
			want: AgentEntry{Time: time.Date(2025, 6, 1, 10, 0, 1, 123e6, time.UTC), Level: "warn", Format: AgentSlogJSON,
				Msg: "Failed to create gRPC connection for command server", Error: "grpc: no transport security set"},
			n: 1,
		},
		"logrus on a terminal": {
			line: `INFO[0000] Commander initializing`,
			want: AgentEntry{Level: "info", Format: AgentLogrusTTY, Msg: "Commander initializing"},
		},
		"truncated inside msg": {
			line: `time="2025-01-15T10:00:00Z" level=error msg="Unable to create command channel: rpc error: code = Unav`,
			want: AgentEntry{Time: time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC), Level: "error", Format: AgentLogrus,
				Msg: "Unable to create command channel: rpc error: code = Unav"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := ParseAgentLine(tc.line)
			if !ok {
				t.Fatal("not parsed")
			}
			if len(got.Attrs) != tc.n {
				t.Errorf("%d attrs %v, want %d", len(got.Attrs), got.Attrs, tc.n)
			}
			if !got.Time.Equal(tc.want.Time) {
				t.Errorf("time %v, want %v", got.Time, tc.want.Time)
			}
			got.Attrs, got.Time, tc.want.Time = nil, time.Time{}, time.Time{}
			if got.Level != tc.want.Level || got.Msg != tc.want.Msg || got.Error != tc.want.Error || got.Format != tc.want.Format {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "hello", "{", `{"msg":"no level"}`, "time=x msg=y", "   at main.go:12", strings.Repeat("\xff", 9)} {
		if e, ok := ParseAgentLine(bad); ok {
			t.Errorf("%q parsed: %+v", bad, e)
		}
	}
}
