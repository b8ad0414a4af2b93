package nginxtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/internal/grpcstub"
	"github.com/mtls-doctor/mtls-doctor/internal/pki"
)

func TestConfigStaysInsideDir(t *testing.T) {
	dir := "/tmp/lab-x"
	conf := Config{Dir: dir, ServerBlock: "listen 127.0.0.1:1234;\nreturn 200;\n"}.String()
	for _, bad := range []string{"/etc/nginx", "/var/log", "/var/lib", "/run/", " 80;"} {
		if strings.Contains(conf, bad) {
			t.Errorf("config mentions %q:\n%s", bad, conf)
		}
	}
	for _, want := range []string{
		"pid /tmp/lab-x/nginx.pid;",
		"error_log /tmp/lab-x/error.log info;",
		"access_log /tmp/lab-x/access.log lab;",
		"client_body_temp_path /tmp/lab-x/tmp/client_body;",
		"proxy_temp_path /tmp/lab-x/tmp/proxy;",
		"fastcgi_temp_path /tmp/lab-x/tmp/fastcgi;",
		"uwsgi_temp_path /tmp/lab-x/tmp/uwsgi;",
		"scgi_temp_path /tmp/lab-x/tmp/scgi;",
		"        listen 127.0.0.1:1234;", // a bare body is wrapped in server { }
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("config lacks %q:\n%s", want, conf)
		}
	}
}

func TestConfigKeepsHTTPLevelSnippet(t *testing.T) {
	snippet := "upstream u { server 127.0.0.1:9; }\nserver {\n    listen 127.0.0.1:1;\n}\n"
	conf := Config{Dir: "/d", ServerBlock: snippet, ErrorLogLevel: "debug"}.String()
	if strings.Count(conf, "server {") != 1 || !strings.Contains(conf, "    upstream u") {
		t.Errorf("snippet not kept at http level:\n%s", conf)
	}
	if !strings.Contains(conf, "error_log /d/error.log debug;") {
		t.Errorf("level not applied:\n%s", conf)
	}
}

func TestServerBlock(t *testing.T) {
	got := Server{Port: 8443, SSL: true, HTTP2: true, ServerName: "nim.test.local",
		Cert: "/c.pem", Key: "/k.pem", ClientCA: "/ca.pem", VerifyClient: "on", VerifyDepth: 2,
		CRL: "/crl.pem", Protocols: "TLSv1.2", Backend: "127.0.0.1:9000"}.Block()
	for _, want := range []string{
		"listen 127.0.0.1:8443 ssl http2;",
		"server_name nim.test.local;",
		"ssl_certificate /c.pem;",
		"ssl_certificate_key /k.pem;",
		"ssl_client_certificate /ca.pem;",
		"ssl_verify_client on;",
		"ssl_verify_depth 2;",
		"ssl_crl /crl.pem;",
		"ssl_protocols TLSv1.2;",
		"location /f5.nginx.agent.sdk.Commander {\n        grpc_pass grpc://127.0.0.1:9000;",
		"location /f5.nginx.agent.sdk.MetricsService {",
		"location /mpi.v1. {",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("block lacks %q:\n%s", want, got)
		}
	}
	plain := Server{Port: 1}.Block()
	if strings.Contains(plain, "ssl") || strings.Contains(plain, "location") {
		t.Errorf("plain block has TLS or locations:\n%s", plain)
	}
}

func TestLaunchRefusesNonLoopback(t *testing.T) {
	for _, listen := range []string{"80", "0.0.0.0:8443", "*:8443", "10.0.0.1:443"} {
		_, err := Launch(context.Background(), t.TempDir(), "events {}\nhttp { server { listen "+listen+"; } }\n")
		if err == nil || !strings.Contains(err.Error(), "127.0.0.1") {
			t.Errorf("listen %s: err = %v, want a loopback-only refusal", listen, err)
		}
	}
}

func TestFreePortNeverRepeats(t *testing.T) {
	seen := map[int]bool{}
	for range 20 {
		p := FreePort(t)
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
}

func TestStartFailureShowsNginxMessage(t *testing.T) {
	Require(t)
	dir := t.TempDir()
	conf := Config{Dir: dir, ServerBlock: fmt.Sprintf("listen 127.0.0.1:%d ssl;\n", FreePort(t))}.String()
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	_, err := Launch(ctx, dir, conf)
	if err == nil || !strings.Contains(err.Error(), `no "ssl_certificate" is defined`) {
		t.Fatalf("err = %v, want nginx's emerg about ssl_certificate", err)
	}
}

func TestPlainHTTPAndStop(t *testing.T) {
	Require(t)
	dir := t.TempDir()
	port := FreePort(t)
	inst := Start(t, dir, Config{Dir: dir, ServerBlock: fmt.Sprintf(
		"listen 127.0.0.1:%d;\nlocation / { return 200 \"hello\\n\"; }\n", port)}.String())
	if inst.Addr() != fmt.Sprintf("127.0.0.1:%d", port) {
		t.Fatalf("Addr = %s", inst.Addr())
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + inst.Addr() + "/x")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "hello\n" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if line, ok := inst.WaitAccessLog(`"GET /x HTTP/1.1" 200`, 5*time.Second); !ok {
		t.Errorf("access log lacks the request:\n%s", inst.AccessLog())
	} else {
		t.Logf("access log: %s", line)
	}
	if err := inst.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := inst.Stop(); err != nil { // idempotent
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", inst.Addr(), time.Second); err == nil {
		c.Close()
		t.Fatal("still listening after Stop")
	}
	if _, err := os.Stat(filepath.Join(dir, PidName)); err == nil {
		t.Logf("pid file left behind (nginx removes it on a clean quit)")
	}
}

func TestMTLSThroughToBackend(t *testing.T) {
	Require(t)
	dir := t.TempDir()
	p := newTestPKI(t, dir)
	agent := issue(t, p.ca, pki.Spec{CommonName: "agent", EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})

	backend := StartBackend(t)
	srv := Server{Port: FreePort(t), SSL: true, HTTP2: true, ServerName: "nim.test.local",
		Cert: p.cert, Key: p.key, ClientCA: p.caFile, VerifyClient: "on", Backend: backend.Addr()}
	inst := Start(t, dir, Config{Dir: dir, ServerBlock: srv.Block()}.String())

	roots := x509.NewCertPool()
	roots.AddCert(p.ca.Cert)
	post := func(withCert bool) (*http.Response, string) {
		cfg := &tls.Config{RootCAs: roots, ServerName: "nim.test.local", NextProtos: []string{"h2"}}
		if withCert {
			cfg.Certificates = []tls.Certificate{{Certificate: [][]byte{agent.Cert.Raw}, PrivateKey: agent.Key}}
		}
		var protocols http.Protocols
		protocols.SetHTTP2(true)
		tr := &http.Transport{TLSClientConfig: cfg, Protocols: &protocols, ForceAttemptHTTP2: true}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
		req, _ := grpcstub.NewRequest(context.Background(), "https://"+inst.Addr()+"/f5.nginx.agent.sdk.Commander/CommandChannel")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(body)
	}

	resp, _ := post(true)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/grpc" ||
		resp.Trailer.Get("Grpc-Status") != "0" || resp.ProtoMajor != 2 {
		t.Fatalf("with cert: %s %d %v trailer %v\n%s", resp.Proto, resp.StatusCode, resp.Header, resp.Trailer, inst.ErrorLog())
	}
	if backend.Requests() != 1 {
		t.Errorf("backend saw %d requests, want 1", backend.Requests())
	}

	resp, body := post(false)
	if resp.StatusCode != 400 || !strings.Contains(body, "<title>400 No required SSL certificate was sent</title>") {
		t.Fatalf("without cert: %d %q", resp.StatusCode, body)
	}
	line, ok := inst.WaitErrorLog("client sent no required SSL certificate", 5*time.Second)
	if !ok || !strings.Contains(line, "[info]") || !strings.Contains(line, "while reading client request headers") {
		t.Fatalf("error log lacks the 496 line:\n%s", inst.ErrorLog())
	}
	t.Logf("error log: %s", line)
}

// issue signs spec with parent (nil: self-signed), its validity placed around now.
func issue(t *testing.T, parent *pki.Cert, spec pki.Spec) *pki.Cert {
	t.Helper()
	c, err := pki.New(time.Now()).Issue(parent, spec)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testPKI is a CA and a server certificate for nim.test.local, written as PEM files.
type testPKI struct {
	ca, server        *pki.Cert
	caFile, cert, key string
}

func newTestPKI(t *testing.T, dir string) *testPKI {
	t.Helper()
	p := &testPKI{caFile: filepath.Join(dir, "ca.pem"), cert: filepath.Join(dir, "server.crt"), key: filepath.Join(dir, "server.key")}
	p.ca = issue(t, nil, pki.Spec{CommonName: "lab-ca", IsCA: true})
	p.server = issue(t, p.ca, pki.Spec{CommonName: "nim.test.local", DNSNames: []string{"nim.test.local"},
		EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	for _, err := range []error{pki.WriteCerts(p.caFile, p.ca), pki.WriteCerts(p.cert, p.server), pki.WriteKey(p.key, p.server)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// TestNginxHandshakeLogLines pins what Debian's NGINX logs for failures the agent causes
// during the handshake or before TLS, which the scenario suite's probe (it verifies the
// server only after the handshake) does not provoke: the agent rejecting the server
// certificate, a client offering only ALPN h2 to a listener without http2, and plain
// HTTP on the TLS port.
func TestNginxHandshakeLogLines(t *testing.T) {
	Require(t)
	dir := t.TempDir()
	p := newTestPKI(t, dir)
	h2 := Server{Port: FreePort(t), SSL: true, HTTP2: true, ServerName: "nim.test.local",
		Cert: p.cert, Key: p.key, ClientCA: p.caFile, VerifyClient: "on"}
	noH2 := h2
	noH2.Port, noH2.HTTP2 = FreePort(t), false
	inst := Start(t, dir, Config{Dir: dir, ServerBlock: h2.Block() + noH2.Block()}.String())
	addrs := inst.Addrs()

	dial := func(addr string, cfg *tls.Config) error {
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 3 * time.Second}, Config: cfg}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
		}
		return err
	}
	wrongRoots := x509.NewCertPool()
	wrongRoots.AddCert(issue(t, nil, pki.Spec{CommonName: "other-ca", IsCA: true}).Cert)

	cases := []struct {
		name      string
		do        func() error
		clientErr string
		logLine   string
	}{
		{
			name: "agent rejects the server certificate",
			do: func() error {
				return dial(addrs[0], &tls.Config{ServerName: "nim.test.local", RootCAs: wrongRoots, NextProtos: []string{"h2"}})
			},
			clientErr: "certificate signed by unknown authority",
			logLine:   "alert bad certificate:SSL alert number 42) while SSL handshaking",
		},
		{
			name: "ALPN h2 only, listener without http2",
			do: func() error {
				return dial(addrs[1], &tls.Config{ServerName: "nim.test.local", InsecureSkipVerify: true, NextProtos: []string{"h2"}})
			},
			clientErr: "remote error: tls: no application protocol",
			logLine:   "no application protocol) while SSL handshaking",
		},
		{
			name: "plain HTTP to the TLS port",
			do: func() error {
				resp, err := (&http.Client{Timeout: 3 * time.Second}).Get("http://" + addrs[0] + "/f5.nginx.agent.sdk.Commander/CommandChannel")
				if err != nil {
					return err
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				return fmt.Errorf("%d %s", resp.StatusCode, body)
			},
			clientErr: "400 The plain HTTP request was sent to HTTPS port",
			logLine:   "client sent plain HTTP request to HTTPS port while reading client request headers",
		},
	}
	for _, c := range cases {
		err := c.do()
		if err == nil || !strings.Contains(err.Error(), c.clientErr) {
			t.Errorf("%s: client error %v, want %q", c.name, err, c.clientErr)
		}
		line, ok := inst.WaitErrorLog(c.logLine, 5*time.Second)
		if !ok || !strings.Contains(line, "[info]") {
			t.Errorf("%s: no [info] line with %q:\n%s", c.name, c.logLine, inst.ErrorLog())
			continue
		}
		t.Logf("%s: %s", c.name, line)
	}
}
