package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/internal/nginxtest"
	"github.com/mtls-doctor/mtls-doctor/internal/pki"
	"github.com/mtls-doctor/mtls-doctor/internal/playbook"
)

// snapshot reads every regular file under dir except NGINX's own logs, pid and temp
// files and the journal: the files a step may touch.
func snapshot(t *testing.T, dir, journal string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (p == journal || d.Name() == "temp") {
			return filepath.SkipDir
		}
		switch filepath.Ext(p) {
		case ".log", ".pid":
			return nil
		}
		if d.Type().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[p] = data
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestApplyRealNginx applies steps against a real NGINX in a temporary prefix, as `a`
// does on a host: a step whose edit makes `nginx -t` fail leaves every file byte for byte
// as it was and NGINX is not reloaded; a step that passes is kept, and `mtls-doctor undo`
// restores the files it changed.
func TestApplyRealNginx(t *testing.T) {
	bin := nginxtest.Require(t)
	dir := t.TempDir()
	g := pki.New(time.Now())
	root, err := g.Root("apply-test-ca")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := g.Issue(root, pki.Spec{CommonName: "nim.test.local", DNSNames: []string{"nim.test.local"},
		EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	if err != nil {
		t.Fatal(err)
	}
	key, err := srv.KeyPEM(pki.PKCS8)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath, caPath := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key"), filepath.Join(dir, "client-ca.pem")
	for p, data := range map[string][]byte{certPath: pki.CertsPEM(srv), keyPath: key, caPath: pki.CertsPEM(root)} {
		if err := pki.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	backend := nginxtest.StartBackend(t)
	server := nginxtest.Server{Port: nginxtest.FreePort(t), SSL: true, HTTP2: true, ServerName: "nim.test.local",
		Cert: certPath, Key: keyPath, ClientCA: caPath, VerifyClient: "on", Backend: backend.Addr()}
	inst := nginxtest.Start(t, dir, nginxtest.Config{Dir: dir, ServerBlock: server.Block()}.String())
	conf := filepath.Join(inst.Dir(), nginxtest.ConfName)
	q := diagnostics.ShellQuote
	prefixArgs := " -p " + q(dir+"/") + " -c " + q(conf) + " -e " + q(filepath.Join(dir, "nginx-t.log"))
	journal := filepath.Join(dir, "journal")
	a := &playbook.Applier{Env: playbook.Env{Dir: dir}, JournalRoot: journal, NginxTest: q(bin) + " -t" + prefixArgs}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	before := snapshot(t, dir, journal)
	bad := diagnostics.Step{Title: "Raise ssl_verify_depth", Changes: []string{conf}, Commands: []string{
		"sed -i 's|ssl_verify_client on;|ssl_verify_client on; ssl_verify_depth two;|' " + q(conf),
		"printf 'not a certificate\\n' >" + q(caPath),
		"printf 'x\\n' >created-by-step",
		q(bin) + prefixArgs + " -s reload",
	}}
	out, err := a.Apply(ctx, bad, "nginx-verify-depth", nil, nil)
	if !errors.Is(err, playbook.ErrNginxTest) || !out.RolledBack {
		t.Fatalf("Apply of a step nginx -t rejects = %v (rolled back %v); want ErrNginxTest and a rollback", err, out.RolledBack)
	}
	after := snapshot(t, dir, journal)
	for p, data := range before {
		if !bytes.Equal(after[p], data) {
			t.Errorf("%s changed although nginx -t failed", p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s was left behind by the rolled-back step", p)
		}
	}
	if strings.Contains(inst.ErrorLog(), "reconfiguring") {
		t.Error("NGINX was reloaded although nginx -t failed")
	}

	good := diagnostics.Step{Title: "Raise ssl_verify_depth to 2", Changes: []string{conf}, Commands: []string{
		"sed -i 's|ssl_verify_client on;|ssl_verify_client on; ssl_verify_depth 2;|' " + q(conf),
		q(bin) + prefixArgs + " -s reload",
	}}
	if out, err := a.Apply(ctx, good, "nginx-verify-depth", nil, nil); err != nil || out.RolledBack {
		t.Fatalf("Apply of a good step: %v\n%+v", err, out.Results)
	}
	if data, _ := os.ReadFile(conf); !strings.Contains(string(data), "ssl_verify_depth 2;") {
		t.Fatalf("the good step's edit is not in %s", conf)
	}
	if _, ok := inst.WaitErrorLog("reconfiguring", 10*time.Second); !ok {
		t.Errorf("NGINX did not reload after the good step:\n%s", inst.ErrorLog())
	}

	code, stdout, stderr := runUndo(t, journal)
	if code != undoRestored || !strings.Contains(stdout, `Undid "Raise ssl_verify_depth to 2"`) || !strings.Contains(stdout, conf) {
		t.Fatalf("undo: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if data, _ := os.ReadFile(conf); !bytes.Equal(data, before[conf]) {
		t.Errorf("undo did not restore %s:\n%s", conf, data)
	}
	if code, stdout, _ := runUndo(t, journal); code != undoNothing || !strings.Contains(stdout, "Nothing to undo") {
		t.Errorf("second undo: exit %d, want %d\n%s", code, undoNothing, stdout)
	}
}

func runUndo(t *testing.T, journal string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"undo", "--journal", journal}, environ{}, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}
