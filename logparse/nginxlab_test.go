package logparse_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/logparse"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxlab"
)

// The test imports probes only in tests: logparse itself imports nothing of ours.

type testCert struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func issue(t *testing.T, tmpl *x509.Certificate, parent *testCert) *testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl.SerialNumber = serial
	signer, parentCert := key, tmpl
	if parent != nil {
		signer, parentCert = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCert{c, key}
}

func writePEM(t *testing.T, path string, c *testCert) {
	t.Helper()
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw})
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if c.key != nil && strings.HasSuffix(path, ".crt") {
		der, err := x509.MarshalECPrivateKey(c.key)
		if err != nil {
			t.Fatal(err)
		}
		key := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
		if err := os.WriteFile(strings.TrimSuffix(path, ".crt")+".key", key, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRealNginxLines starts a real NGINX with ssl_verify_client on, connects as an agent
// would (Go crypto/tls, ALPN h2, a gRPC POST) once with an expired client certificate and
// once with none, and classifies the lines NGINX wrote to its error and access logs.
func TestRealNginxLines(t *testing.T) {
	nginxlab.Require(t)
	dir := t.TempDir()
	now := time.Now()
	root := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "nms-ca"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(48 * time.Hour)}, nil)
	server := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "nim.test.local"}, DNSNames: []string{"nim.test.local"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)}, root)
	expired := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "agent-1"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		KeyUsage: x509.KeyUsageDigitalSignature, NotBefore: now.Add(-30 * time.Hour), NotAfter: now.Add(-6 * time.Hour)}, root)
	writePEM(t, filepath.Join(dir, "ca.pem"), &testCert{cert: root.cert})
	writePEM(t, filepath.Join(dir, "server.crt"), server)

	backend := nginxlab.StartBackend(t)
	srv := nginxlab.Server{Port: nginxlab.FreePort(t), SSL: true, HTTP2: true, ServerName: "nim.test.local",
		Cert: filepath.Join(dir, "server.crt"), Key: filepath.Join(dir, "server.key"),
		ClientCA: filepath.Join(dir, "ca.pem"), VerifyClient: "on", Backend: backend.Addr()}
	labDir := filepath.Join(dir, "lab")
	if err := os.Mkdir(labDir, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := nginxlab.Config{Dir: labDir, ServerBlock: srv.Block()}.String()
	inst := nginxlab.Start(t, labDir, conf)

	pool := x509.NewCertPool()
	pool.AddCert(root.cert)
	post := func(cert *testCert) int {
		t.Helper()
		cfg := &tls.Config{RootCAs: pool, ServerName: "nim.test.local", NextProtos: []string{"h2"}}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{{Certificate: [][]byte{cert.cert.Raw}, PrivateKey: cert.key}}
		}
		var protos http.Protocols
		protos.SetHTTP2(true)
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, Protocols: &protos}}
		defer client.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+inst.Addr()+"/f5.nginx.agent.sdk.Commander/CommandChannel", strings.NewReader("\x00\x00\x00\x00\x00"))
		req.Header.Set("Content-Type", "application/grpc")
		req.Header.Set("TE", "trailers")
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
