package logparse_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/internal/grpcstub"
	"github.com/mtls-doctor/mtls-doctor/internal/nginxtest"
	"github.com/mtls-doctor/mtls-doctor/internal/pki"
	"github.com/mtls-doctor/mtls-doctor/logparse"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// The test imports probes only in tests: logparse itself imports nothing of ours.

// issue signs spec with parent (nil: self-signed), its validity placed around now.
func issue(t *testing.T, parent *pki.Cert, spec pki.Spec) *pki.Cert {
	t.Helper()
	c, err := pki.New(time.Now()).Issue(parent, spec)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRealNginxLines starts a real NGINX with ssl_verify_client on, connects as an agent
// would (Go crypto/tls, ALPN h2, a gRPC POST) once with an expired client certificate and
// once with none, and classifies the lines NGINX wrote to its error and access logs.
func TestRealNginxLines(t *testing.T) {
	nginxtest.Require(t)
	dir := t.TempDir()
	root := issue(t, nil, pki.Spec{CommonName: "nms-ca", IsCA: true})
	server := issue(t, root, pki.Spec{CommonName: "nim.test.local", DNSNames: []string{"nim.test.local"},
		IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	expired := issue(t, root, pki.Spec{CommonName: "agent-1", EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		From: -30 * time.Hour, Until: -6 * time.Hour})
	for _, err := range []error{pki.WriteCerts(filepath.Join(dir, "ca.pem"), root),
		pki.WriteCerts(filepath.Join(dir, "server.crt"), server), pki.WriteKey(filepath.Join(dir, "server.key"), server)} {
		if err != nil {
			t.Fatal(err)
		}
	}

	backend := nginxtest.StartBackend(t)
	srv := nginxtest.Server{Port: nginxtest.FreePort(t), SSL: true, HTTP2: true, ServerName: "nim.test.local",
		Cert: filepath.Join(dir, "server.crt"), Key: filepath.Join(dir, "server.key"),
		ClientCA: filepath.Join(dir, "ca.pem"), VerifyClient: "on", Backend: backend.Addr()}
	labDir := filepath.Join(dir, "lab")
	if err := os.Mkdir(labDir, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := nginxtest.Config{Dir: labDir, ServerBlock: srv.Block()}.String()
	inst := nginxtest.Start(t, labDir, conf)

	pool := x509.NewCertPool()
	pool.AddCert(root.Cert)
	post := func(cert *pki.Cert) int {
		t.Helper()
		cfg := &tls.Config{RootCAs: pool, ServerName: "nim.test.local", NextProtos: []string{"h2"}}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{{Certificate: [][]byte{cert.Cert.Raw}, PrivateKey: cert.Key}}
		}
		var protos http.Protocols
		protos.SetHTTP2(true)
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, Protocols: &protos}}
		defer client.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := grpcstub.NewRequest(ctx, "https://"+inst.Addr()+"/f5.nginx.agent.sdk.Commander/CommandChannel")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("POST: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(expired); code != http.StatusBadRequest {
		t.Fatalf("expired cert: HTTP %d, want 400", code)
	}
	if code := post(nil); code != http.StatusBadRequest {
		t.Fatalf("no cert: HTTP %d, want 400", code)
	}
	for _, want := range []string{"(10:certificate has expired)", "client sent no required SSL certificate"} {
		if _, ok := inst.WaitErrorLog(want, 5*time.Second); !ok {
			t.Fatalf("error.log lacks %q:\n%s", want, inst.ErrorLog())
		}
	}
	if _, ok := inst.WaitAccessLog("verify=NONE", 5*time.Second); !ok {
		t.Fatalf("access.log:\n%s", inst.AccessLog())
	}

	// The access log's format, as the NGINX configuration defines it.
	cfg, err := nginxconf.Load(filepath.Join(labDir, "nginx.conf"), nginxconf.Options{Prefix: labDir})
	if err != nil {
		t.Fatal(err)
	}
	lf, ok := cfg.LogFormat("lab")
	if !ok {
		t.Fatal("no log_format lab")
	}
	format, err := logparse.CompileFormat(lf.Name, lf.Format, lf.Escape)
	if err != nil {
		t.Fatal(err)
	}

	rep := logparse.Scan(context.Background(), []logparse.File{
		{Path: inst.ErrorLogPath(), Type: logparse.TypeNginxError},
		{Path: inst.AccessLogPath(), Type: logparse.TypeNginxAccess, Formats: []*logparse.Format{format}},
	}, logparse.Options{Now: time.Now().Add(time.Second), Since: 10 * time.Minute, Location: time.Local})
	type key struct {
		kind   logparse.Kind
		source logparse.Source
	}
	got := map[key]logparse.Summary{}
	for _, s := range rep.Summaries {
		got[key{s.Kind, s.Source}] = s
		t.Logf("%s %s code %d x%d: %s", s.Source, s.Kind, s.X509Code, s.Count, s.Examples[0])
	}
	for _, k := range []key{
		{logparse.KindAgentCertExpired, logparse.SourceNginxError},
		{logparse.KindAgentCertNotSent, logparse.SourceNginxError},
		{logparse.KindAgentCertExpired, logparse.SourceNginxAccess},
		{logparse.KindAgentCertNotSent, logparse.SourceNginxAccess},
	} {
		s, ok := got[k]
		if !ok || s.Count != 1 || len(s.Clients) != 1 || s.Clients[0].Client != "127.0.0.1" {
			t.Errorf("%v: %+v", k, s)
			continue
		}
		if k.kind == logparse.KindAgentCertExpired && (s.X509Code != 10 || s.X509Text != "certificate has expired") {
			t.Errorf("%v: code %d %q", k, s.X509Code, s.X509Text)
		}
		if d := time.Since(s.LastSeen); d < -2*time.Second || d > time.Minute {
			t.Errorf("%v: last seen %v (time zone?)", k, s.LastSeen)
		}
	}
	if len(got) != 4 {
		t.Errorf("%d kinds, want 4:\n%s\n%s", len(got), inst.ErrorLog(), inst.AccessLog())
	}
	for _, fr := range rep.Files {
		if fr.Skipped != "" || fr.Unparsed != 0 {
			t.Errorf("%s: skipped %q, %d unparsed lines", fr.Path, fr.Skipped, fr.Unparsed)
		}
	}
}
