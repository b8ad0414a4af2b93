package mesh

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/probes/pki"
)

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	root, err := pki.New(time.Now()).Root("Mesh Root CA")
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteCerts(filepath.Join(dir, "ca.crt"), root); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "ua.yaml")
	write := func(path, text string) {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(conf, "apiVersion: v1\nupstreamAuthority: disk\nconfig:\n  cert_file_path: ca.crt\n  key_file_path: missing.key\n")
	values := filepath.Join(dir, "values.yaml")
	write(values, "mtls:\n  upstreamAuthority:\n    disk:\n      bundle: |\n"+
		"        "+strings.ReplaceAll(strings.TrimSpace(string(pki.CertsPEM(root))), "\n", "\n        ")+"\n")

	f, err := Load(Options{UpstreamCAConf: conf, Values: values, MeshConfig: "-", Dir: dir,
		Stdin: strings.NewReader(`{"mtls": {"mode": "strict"}}`)})
	if err != nil {
		t.Fatal(err)
	}
	if f.MeshConfig.Path != StdinName || f.MeshConfig.Error != nil || len(f.MeshConfig.Docs) != 1 {
		t.Errorf("stdin: got %+v", f.MeshConfig)
	}
	byKey := map[string]CAFile{}
	for _, cf := range f.CAFiles {
		byKey[cf.Key] = cf
	}
	cert := byKey["config.cert_file_path"]
	if cert.Role != RoleUpstreamCert || cert.File == nil || len(cert.File.Certs) != 1 ||
		cert.File.Path != filepath.Join(dir, "ca.crt") || cert.Line != 4 || cert.Column != 19 {
		t.Errorf("a relative cert_file_path must resolve against Dir: %+v", cert)
	}
	if key := byKey["config.key_file_path"]; key.File == nil || key.File.Exists {
		t.Errorf("missing key: got %+v", key.File)
	}
	if b := byKey["mtls.upstreamAuthority.disk.bundle"]; b.Role != RoleBundle || b.File == nil || len(b.File.Certs) != 1 || b.Written != "" {
		t.Errorf("inline bundle in values: got %+v", b)
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(Options{}); err == nil || !strings.Contains(err.Error(), "no mesh input") {
		t.Errorf("no input: got %v", err)
	}
	f, err := Load(Options{MeshConfig: "-", Stdin: strings.NewReader(strings.Repeat("a", maxStdinBytes+1)),
		Manifests: []string{t.TempDir(), filepath.Join(t.TempDir(), "nope.yaml")}})
	if err != nil {
		t.Fatal(err)
	}
	if f.MeshConfig.Error == nil || !strings.Contains(f.MeshConfig.Error.Message, "too large") {
		t.Errorf("oversized stdin: got %+v", f.MeshConfig.Error)
	}
	for _, m := range f.Manifests {
		if m.Error == nil || len(m.Docs) != 0 {
			t.Errorf("%s: want a read error, got %+v", m.Path, m)
		}
	}
}
