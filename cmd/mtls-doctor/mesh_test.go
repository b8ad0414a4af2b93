package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/probes/pki"
)

// runMesh runs `mtls-doctor mesh --check -o json ARGS` and decodes the report.
func runMesh(t *testing.T, stdin io.Reader, args ...string) (int, diagnostics.JSONReport, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, append([]string{"mesh", "--check", "-o", "json"}, args...), environ{}, stdin, &stdout, &stderr)
	var rep diagnostics.JSONReport
	if code != exitCannot {
		if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
			t.Fatalf("exit %d, output is not JSON: %v\n%s\n%s", code, err, stdout.String(), stderr.String())
		}
	}
	return code, rep, stderr.String()
}

// meshFiles writes the issue's healthy production setup: an intermediate with pathlen:1
// signed by a root, the root as bundle, and its upstream authority configuration.
func meshFiles(t *testing.T, interSpec pki.Spec) (dir, conf string) {
	t.Helper()
	dir = t.TempDir()
	gen := pki.New(time.Now())
	root, err := gen.Issue(nil, pki.Spec{CommonName: "Mesh Root CA", IsCA: true, Until: 3650 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	interSpec.CommonName, interSpec.IsCA = "Mesh Intermediate CA", true
	inter, err := gen.Issue(root, interSpec)
	if err != nil {
		t.Fatal(err)
	}
	for name, write := range map[string]func(string) error{
		"intermediateCA.crt": func(p string) error { return pki.WriteCerts(p, inter) },
		"intermediateCA.key": func(p string) error { return pki.WriteKey(p, inter) },
		"rootCA.crt":         func(p string) error { return pki.WriteCerts(p, root) },
	} {
		if err := write(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	conf = filepath.Join(dir, "upstream.yaml")
	writeFile(t, conf, []byte("apiVersion: \"v1\"\nupstreamAuthority: \"disk\"\nconfig:\n"+
		"    cert_file_path: \""+filepath.Join(dir, "intermediateCA.crt")+"\"\n"+
		"    key_file_path: \""+filepath.Join(dir, "intermediateCA.key")+"\"\n"+
		"    bundle_file_path: \""+filepath.Join(dir, "rootCA.crt")+"\"\n"), 0o600)
	return dir, conf
}

func jsonFinding(rep diagnostics.JSONReport, id string) (diagnostics.JSONFinding, bool) {
	for _, f := range rep.Findings {
		if f.ID == id {
			return f, true
		}
	}
	return diagnostics.JSONFinding{}, false
}

func TestMeshCheckExitCodes(t *testing.T) {
	dir, conf := meshFiles(t, pki.Spec{MaxPathLen: 1})
	strictMemory := filepath.Join(dir, "values.yaml")
	writeFile(t, strictMemory, []byte("mtls:\n  mode: strict\n  spireServerKeyManager: memory\n"), 0o600)

	t.Run("healthy production setup exits 0", func(t *testing.T) {
		code, rep, stderr := runMesh(t, nil, "--upstream-ca-conf", conf, "--values", strictMemory)
		if code != exitOK || rep.Status != "ok" {
			t.Fatalf("exit %d status %s, want 0 ok (%s)", code, rep.Status, stderr)
		}
		if len(rep.Findings) != len(diagnostics.MeshCatalog()) {
			t.Errorf("%d findings, want one per mesh check (%d)", len(rep.Findings), len(diagnostics.MeshCatalog()))
		}
		for _, f := range rep.Findings {
			if !strings.HasPrefix(f.ID, "mesh-") || f.Category != "mesh" {
				t.Errorf("%s (%s) is not a mesh finding", f.ID, f.Category)
			}
			if f.Severity == "warn" || f.Severity == "fail" {
				t.Errorf("%s: %s %q", f.ID, f.Severity, f.Summary)
			}
		}
		if f, _ := jsonFinding(rep, "mesh-ca-pathlen"); f.Severity != "ok" {
			t.Errorf("mesh-ca-pathlen: %s %q, want ok", f.Severity, f.Summary)
		}
	})

	t.Run("relative paths resolve against the working directory", func(t *testing.T) {
		rel := filepath.Join(dir, "relative.yaml")
		writeFile(t, rel, []byte("apiVersion: v1\nupstreamAuthority: disk\nconfig:\n  cert_file_path: intermediateCA.crt\n"+
			"  key_file_path: intermediateCA.key\n  bundle_file_path: rootCA.crt\n"), 0o600)
		t.Chdir(dir)
		code, rep, _ := runMesh(t, nil, "--upstream-ca-conf", rel, "--values", strictMemory)
		if code != exitOK {
			f, _ := jsonFinding(rep, "mesh-ca-file-format")
			t.Fatalf("exit %d, want 0: %s %q", code, f.Severity, f.Summary)
		}
	})

	t.Run("permissive from stdin exits 1", func(t *testing.T) {
		cfg := `{"mtls": {"mode": "permissive", "caTTL": "720h", "svidTTL": "1h", "caKeyType": "ec-p256"}, "nginxErrorLogLevel": "info"}`
		code, rep, _ := runMesh(t, strings.NewReader(cfg), "--mesh-config", "-")
		if f, _ := jsonFinding(rep, "mesh-mtls-permissive"); code != exitWarning || f.Severity != "warn" {
			t.Fatalf("exit %d, mesh-mtls-permissive %s, want 1 and warn", code, f.Severity)
		}
	})

	t.Run("intermediate pathlen 0 exits 2", func(t *testing.T) {
		_, conf := meshFiles(t, pki.Spec{MaxPathLen: -1})
		code, rep, _ := runMesh(t, nil, "--upstream-ca-conf", conf, "--values", strictMemory)
		f, _ := jsonFinding(rep, "mesh-ca-pathlen")
		if code != exitFailure || f.Severity != "fail" {
			t.Fatalf("exit %d, mesh-ca-pathlen %s %q, want 2 and fail", code, f.Severity, f.Summary)
		}
		if len(f.Fix) == 0 || !strings.Contains(strings.Join(f.Fix[0].Commands, "\n"), "pathlen:1") {
			t.Errorf("the playbook does not reissue with pathlen:1: %+v", f.Fix)
		}
		if len(f.Evidence) == 0 {
			t.Error("no evidence")
		}
	})

	t.Run("no input exits 3", func(t *testing.T) {
		code, _, stderr := runMesh(t, nil)
		if code != exitCannot || !strings.Contains(stderr, "at least one input") {
			t.Fatalf("exit %d %q, want 3 and a message naming the inputs", code, stderr)
		}
	})

	t.Run("text output names the finding and its location", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.yaml")
		writeFile(t, bad, []byte("apiVersion: v2\nupstreamAuthority: disk\nconfig:\n  cert_file_path: a\n  key_file_path: b\n"), 0o600)
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"mesh", "--check", "--upstream-ca-conf", bad}, environ{}, strings.NewReader(""), &stdout, &stderr)
		if code != exitFailure || !strings.Contains(stdout.String(), "mesh-upstream-conf-invalid") ||
			!strings.Contains(stdout.String(), bad+":1:") {
			t.Fatalf("exit %d, output lacks the finding or bad.yaml:1:\n%s", code, stdout.String())
		}
	})
}
