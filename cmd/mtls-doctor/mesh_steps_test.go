package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/internal/pki"
	"github.com/mtls-doctor/mtls-doctor/internal/stepshim"
)

// meshLab is one mesh scenario's files: a root and an upstream CA (intermediate) under
// dir, and the inputs a user would type for the placeholders.
type meshLab struct {
	dir         string
	gen         *pki.Generator
	root, inter *pki.Cert
	svid        *pki.Cert // a workload's certificate under inter, where a scenario issues one
	rootPEM     string
	args        []string
	stdin       string
	// live, when set, is the live MeshConfig (JSON) the cluster shims patch and
	// `nginx-meshctl config` prints: each check reads the settings from it on stdin.
	live   string
	inputs map[string]string
}

func newMeshLab(t *testing.T) *meshLab {
	t.Helper()
	l := &meshLab{dir: t.TempDir(), gen: pki.New(time.Now())}
	var err error
	if l.root, err = l.gen.Issue(nil, pki.Spec{CommonName: "Mesh Root CA", IsCA: true, Until: 3650 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	l.rootPEM = writeCerts(t, l.path("rootCA.crt"), l.root)
	l.inputs = map[string]string{"<root-cert-path>": l.rootPEM, "<root-key-path>": writeKey(t, l.path("rootCA.key"), l.root),
		"<mtls-mode>": "strict", "<helm-release>": "nsm"}
	return l
}

func (l *meshLab) path(name string) string { return filepath.Join(l.dir, name) }

// upstreamCA issues the upstream CA from the root with spec (CA, "Mesh Intermediate CA"
// unless spec says), writes it and its key, and an upstream authority configuration
// naming them and the root as bundle, given with --upstream-ca-conf.
func (l *meshLab) upstreamCA(t *testing.T, spec pki.Spec) {
	t.Helper()
	if spec.CommonName == "" {
		spec.CommonName = "Mesh Intermediate CA"
	}
	var err error
	if l.inter, err = l.gen.Issue(l.root, spec); err != nil {
		t.Fatal(err)
	}
	cert := writeCerts(t, l.path("intermediateCA.crt"), l.inter)
	key := writeKey(t, l.path("intermediateCA.key"), l.inter)
	l.inputs["<mesh-ca-cert-path>"], l.inputs["<mesh-ca-key-path>"] = cert, key
	l.conf(t, "apiVersion: v1\nupstreamAuthority: disk\nconfig:\n  cert_file_path: "+cert+"\n  key_file_path: "+key+
		"\n  bundle_file_path: "+l.rootPEM+"\n")
}

// conf writes the upstream authority configuration and names it with --upstream-ca-conf.
func (l *meshLab) conf(t *testing.T, text string) {
	t.Helper()
	writeFile(t, l.path("upstream.yaml"), []byte(text), 0o600)
	l.args = append(l.args, "--upstream-ca-conf", l.path("upstream.yaml"))
	l.inputs["<upstream-ca-conf>"] = l.path("upstream.yaml")
}

// file writes name and gives it with flag.
func (l *meshLab) file(t *testing.T, flag, name, text string) {
	t.Helper()
	writeFile(t, l.path(name), []byte(text), 0o600)
	l.args = append(l.args, flag, l.path(name))
}

// meshScenario breaks the mesh's files one way; want are findings that warn or fail.
type meshScenario struct {
	name  string
	setup func(t *testing.T, l *meshLab)
	want  []string
	// calls are what the steps must have asked of kubectl, helm or nginx-meshctl (a
	// substring of a recorded command line, {dir} the lab's directory).
	calls []string
	// after checks what the steps left in the files.
	after func(t *testing.T, l *meshLab)
}

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: frontend
  namespace: shop
spec:
  selector:
    matchLabels:
      app: frontend
  template:
    metadata:
      labels:
        app: frontend
      annotations:
        config.nsm.nginx.com/mtls-mode: %s
    spec:
      containers:
        - name: frontend
          image: nginx
`

var meshScenarios = []meshScenario{
	{name: "intermediate-pathlen-0", want: []string{"mesh-ca-pathlen"},
		setup: func(t *testing.T, l *meshLab) { l.upstreamCA(t, pki.Spec{IsCA: true, MaxPathLen: -1}) },
		calls: []string{"nginx-meshctl remove -y", "nginx-meshctl deploy --mtls-mode strict --mtls-upstream-ca-conf {dir}/upstream.yaml"},
		after: func(t *testing.T, l *meshLab) {
			// The reissued CA keeps its subject and its key, and has pathlen:1.
			c := readCert(t, l.path("intermediateCA.crt"))
			if c.Subject.String() != l.inter.Cert.Subject.String() || !bytes.Equal(c.RawSubjectPublicKeyInfo, l.inter.Cert.RawSubjectPublicKeyInfo) {
				t.Errorf("reissued CA %s (key kept: %v), want subject %s and the same key", c.Subject,
					bytes.Equal(c.RawSubjectPublicKeyInfo, l.inter.Cert.RawSubjectPublicKeyInfo), l.inter.Cert.Subject)
			}
			if c.MaxPathLen != 1 || !c.IsCA {
				t.Errorf("reissued CA: CA %v pathlen %d, want CA pathlen:1", c.IsCA, c.MaxPathLen)
			}
			if _, err := os.Stat(l.path("intermediateCA.crt.bak")); err != nil {
				t.Errorf("no backup of the CA: %v", err)
			}
		}},
	{name: "intermediate-not-a-ca", want: []string{"mesh-ca-not-a-ca"},
		setup: func(t *testing.T, l *meshLab) {
			l.upstreamCA(t, pki.Spec{EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		}},
	{name: "intermediate-expired", want: []string{"mesh-ca-expired"},
		setup: func(t *testing.T, l *meshLab) {
			l.upstreamCA(t, pki.Spec{IsCA: true, MaxPathLen: 1, From: -400 * 24 * time.Hour, Until: -24 * time.Hour})
		}},
	{name: "intermediate-not-yet-valid", want: []string{"mesh-ca-not-yet-valid"},
		setup: func(t *testing.T, l *meshLab) {
			l.upstreamCA(t, pki.Spec{IsCA: true, MaxPathLen: 1, From: 48 * time.Hour, Until: 400 * 24 * time.Hour})
		}},
	{name: "intermediate-expiring", want: []string{"mesh-ca-expiring"},
		setup: func(t *testing.T, l *meshLab) {
			l.upstreamCA(t, pki.Spec{IsCA: true, MaxPathLen: 1, From: -355 * 24 * time.Hour, Until: 10 * 24 * time.Hour})
		}},
	{name: "intermediate-rsa-1024", want: []string{"mesh-ca-weak"},
		setup: func(t *testing.T, l *meshLab) {
			l.upstreamCA(t, pki.Spec{IsCA: true, MaxPathLen: 1, Key: pki.RSA, Bits: 1024})
		},
		after: func(t *testing.T, l *meshLab) {
			// A weak key is replaced by one of the same type.
			if c := readCert(t, l.path("intermediateCA.crt")); c.PublicKeyAlgorithm != x509.RSA {
				t.Errorf("the new key is %s, want RSA like the old one", c.PublicKeyAlgorithm)
			}
		}},
	{name: "key-of-another-ca", want: []string{"mesh-ca-key-mismatch"},
		setup: func(t *testing.T, l *meshLab) {
			l.upstreamCA(t, pki.Spec{IsCA: true, MaxPathLen: 1})
			right := writeKey(t, l.path("right.key"), l.inter)
			other, err := l.gen.Issue(l.root, pki.Spec{CommonName: "Other CA", IsCA: true})
			if err != nil {
				t.Fatal(err)
			}
			writeKey(t, l.path("intermediateCA.key"), other)
			l.inputs["<mesh-ca-key-path>"] = right
		}},
	{name: "chain-in-cert-file", want: []string{"mesh-ca-file-format"},
		setup: func(t *testing.T, l *meshLab) {
			l.upstreamCA(t, pki.Spec{IsCA: true, MaxPathLen: 1})
			writeCerts(t, l.path("intermediateCA.crt"), l.inter, l.root)
		}},
	{name: "key-with-ec-parameters", want: []string{"mesh-ca-file-format"},
		setup: func(t *testing.T, l *meshLab) {
			l.upstreamCA(t, pki.Spec{IsCA: true, MaxPathLen: 1})
			sec1, err := l.inter.KeyPEM(pki.SEC1)
			if err != nil {
				t.Fatal(err)
			}
			// What `openssl ecparam -genkey -name prime256v1` writes: the curve, then the key.
			params := "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
			writeFile(t, l.path("intermediateCA.key"), append([]byte(params), sec1...), 0o600)
		}},
	{name: "encrypted-key", want: []string{"mesh-ca-file-format"},
		setup: func(t *testing.T, l *meshLab) {
			l.upstreamCA(t, pki.Spec{IsCA: true, MaxPathLen: 1})
			pass := l.path("passphrase")
			writeFile(t, pass, []byte("s3cret\n"), 0o600)
			out, err := exec.Command("openssl", "pkey", "-in", l.path("intermediateCA.key"), "-aes256", "-passout", "file:"+pass,
				"-out", l.path("encrypted.key")).CombinedOutput()
			if err != nil {
				t.Fatalf("openssl: %v: %s", err, out)
			}
			if err := os.Rename(l.path("encrypted.key"), l.path("intermediateCA.key")); err != nil {
				t.Fatal(err)
			}
			l.inputs["<key-passphrase-file>"] = pass
		}},
	{name: "der-cert", want: []string{"mesh-ca-file-format"},
		setup: func(t *testing.T, l *meshLab) {
			l.upstreamCA(t, pki.Spec{IsCA: true, MaxPathLen: 1})
			writeFile(t, l.path("intermediateCA.crt"), l.inter.Cert.Raw, 0o644)
		}},
	{name: "no-bundle", want: []string{"mesh-ca-bundle-incomplete"},
		setup: func(t *testing.T, l *meshLab) {
			l.upstreamCA(t, pki.Spec{IsCA: true, MaxPathLen: 1})
			l.args = nil
			l.conf(t, "apiVersion: v1\nupstreamAuthority: disk\nconfig:\n  cert_file_path: "+l.path("intermediateCA.crt")+
				"\n  key_file_path: "+l.path("intermediateCA.key")+"\n")
		}},
	{name: "bundle-of-another-root", want: []string{"mesh-ca-bundle-incomplete"},
		setup: func(t *testing.T, l *meshLab) {
			l.upstreamCA(t, pki.Spec{IsCA: true, MaxPathLen: 1})
			other, err := l.gen.Issue(nil, pki.Spec{CommonName: "Other Root", IsCA: true})
			if err != nil {
				t.Fatal(err)
			}
			writeCerts(t, l.rootPEM, other)
			l.inputs["<root-cert-path>"] = writeCerts(t, l.path("the-root.crt"), l.root)
		}},
	{name: "self-signed-pathlen-0", want: []string{"mesh-ca-pathlen"},
		setup: func(t *testing.T, l *meshLab) {
			ca, err := l.gen.Issue(nil, pki.Spec{CommonName: "Mesh CA", IsCA: true, MaxPathLen: -1, Until: 3650 * 24 * time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			l.conf(t, "apiVersion: v1\nupstreamAuthority: disk\nconfig:\n  cert_file_path: "+writeCerts(t, l.path("ca.crt"), ca)+
				"\n  key_file_path: "+writeKey(t, l.path("ca.key"), ca)+"\n")
		}},
	{name: "root-expired", want: []string{"mesh-ca-expired"},
		setup: func(t *testing.T, l *meshLab) {
			var err error
			if l.root, err = l.gen.Issue(nil, pki.Spec{CommonName: "Old Root", IsCA: true, From: -800 * 24 * time.Hour, Until: -time.Hour}); err != nil {
				t.Fatal(err)
			}
			writeCerts(t, l.rootPEM, l.root)
			l.inputs["<root-key-path>"] = writeKey(t, l.path("rootCA.key"), l.root)
			l.upstreamCA(t, pki.Spec{IsCA: true, MaxPathLen: 1, From: -24 * time.Hour})
			// A workload's SVID, issued before the renewal, must verify after it unchanged.
			if l.svid, err = l.gen.Issue(l.inter, pki.Spec{CommonName: "frontend", EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}); err != nil {
				t.Fatal(err)
			}
		},
		calls: []string{"nginx-meshctl remove -y", "nginx-meshctl deploy --mtls-mode strict --mtls-upstream-ca-conf {dir}/upstream.yaml"},
		after: func(t *testing.T, l *meshLab) {
			// The root was signed again with its own key: the same subject (byte for
			// byte), key, key identifier and extensions, a new serial and new dates, and
			// the upstream CA and the SVID below it verify against it as they are.
			old, renewed := l.root.Cert, readCert(t, l.rootPEM)
			if !bytes.Equal(renewed.RawSubject, old.RawSubject) || !bytes.Equal(renewed.RawSubjectPublicKeyInfo, old.RawSubjectPublicKeyInfo) ||
				!bytes.Equal(renewed.SubjectKeyId, old.SubjectKeyId) || len(old.SubjectKeyId) == 0 {
				t.Errorf("renewed root %s (SKI %x), want subject %s, SKI %x and the same key", renewed.Subject, renewed.SubjectKeyId, old.Subject, old.SubjectKeyId)
			}
			if !renewed.IsCA || renewed.KeyUsage != old.KeyUsage || renewed.MaxPathLen != old.MaxPathLen || renewed.SerialNumber.Cmp(old.SerialNumber) == 0 {
				t.Errorf("renewed root: CA %v, key usage %v, pathlen %d, serial %v; want CA, %v, %d and a new serial",
					renewed.IsCA, renewed.KeyUsage, renewed.MaxPathLen, renewed.SerialNumber, old.KeyUsage, old.MaxPathLen)
			}
			if !renewed.NotAfter.After(time.Now().Add(700 * 24 * time.Hour)) {
				t.Errorf("renewed root expires %s, want the old lifetime (800 days) from now", renewed.NotAfter)
			}
			roots, inters := x509.NewCertPool(), x509.NewCertPool()
			roots.AddCert(renewed)
			inters.AddCert(readCert(t, l.path("intermediateCA.crt")))
			if _, err := l.svid.Cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
				t.Errorf("the SVID issued before the renewal does not verify against the renewed root: %v", err)
			}
		}},
	{name: "upstream-conf-v2-missing-files", want: []string{"mesh-upstream-conf-invalid"},
		setup: func(t *testing.T, l *meshLab) {
			l.upstreamCA(t, pki.Spec{IsCA: true, MaxPathLen: 1})
			l.args = nil
			l.conf(t, "apiVersion: v2\nupstreamAuthority: disk\nconfig:\n  cert_file_path: a\n  key_file_path: b\n")
		}},
	{name: "upstream-conf-unknown-keys", want: []string{"mesh-upstream-conf-invalid"},
		setup: func(t *testing.T, l *meshLab) {
			l.upstreamCA(t, pki.Spec{IsCA: true, MaxPathLen: 1})
			l.args = nil
			l.conf(t, "apiVersion: v1\nupstreamAuthority: disk\nkind: Upstream\nconfig:\n  cert_file_path: "+l.path("intermediateCA.crt")+
				"\n  key_file_path: "+l.path("intermediateCA.key")+"\n  bundle_file_path: "+l.rootPEM+"\n  region: eu\n")
		}},
	{name: "cert-manager-ignored-key", want: []string{"mesh-upstream-conf-ignored-key"},
		setup: func(t *testing.T, l *meshLab) {
			l.conf(t, "apiVersion: v1\nupstreamAuthority: cert-manager\nconfig:\n  namespace: cert-manager\n  issuer_name: mesh-ca\n  issuer_kinds: ClusterIssuer\n")
		}},
	{name: "values-permissive", want: []string{"mesh-mtls-permissive"},
		setup: func(t *testing.T, l *meshLab) {
			l.file(t, "--values", "values.yaml", "# deploy settings\nmtls:\n  mode: permissive\n  spireServerKeyManager: disk\n")
		},
		calls: []string{"helm upgrade nsm nginx-stable/nginx-service-mesh --namespace nginx-mesh -f {dir}/values.yaml --dry-run",
			"helm upgrade nsm nginx-stable/nginx-service-mesh --namespace nginx-mesh -f {dir}/values.yaml"},
		after: func(t *testing.T, l *meshLab) {
			// The edit changes the one line: the comment and the other setting stay.
			want := "# deploy settings\nmtls:\n  mode: strict\n  spireServerKeyManager: disk\n"
			if got, _ := os.ReadFile(l.path("values.yaml")); string(got) != want {
				t.Errorf("values.yaml after the step:\n%s\nwant:\n%s", got, want)
			}
		}},
	{name: "values-mode-default", want: []string{"mesh-mtls-permissive"},
		setup: func(t *testing.T, l *meshLab) {
			l.file(t, "--values", "values.yaml", "mtls:\n  caTTL: 720h\nnginxErrorLogLevel: info\n")
		}},
	{name: "values-no-mtls-section", want: []string{"mesh-mtls-permissive"},
		setup: func(t *testing.T, l *meshLab) { l.file(t, "--values", "values.yaml", "nginxErrorLogLevel: info\n") }},
	{name: "values-mtls-off", want: []string{"mesh-mtls-off"},
		setup: func(t *testing.T, l *meshLab) { l.file(t, "--values", "values.yaml", "mtls:\n  mode: \"off\"\n") }},
	{name: "values-unquoted-off", want: []string{"mesh-setting-invalid"},
		setup: func(t *testing.T, l *meshLab) { l.file(t, "--values", "values.yaml", "mtls:\n  mode: off\n") }},
	{name: "values-memory-key-manager", want: []string{"mesh-key-manager-memory"},
		setup: func(t *testing.T, l *meshLab) {
			l.file(t, "--values", "values.yaml", "mtls:\n  mode: strict\n  spireServerKeyManager: memory\n")
		}},
	{name: "values-udp", want: []string{"mesh-udp-plaintext"},
		setup: func(t *testing.T, l *meshLab) {
			l.file(t, "--values", "values.yaml", "mtls:\n  mode: strict\nenableUDP: true\n")
		}},
	{name: "meshconfig-resource-permissive", want: []string{"mesh-mtls-permissive"},
		setup: func(t *testing.T, l *meshLab) {
			l.file(t, "--mesh-config", "meshconfig.yaml", "apiVersion: nsm.nginx.com/v1alpha2\nkind: MeshConfig\nmetadata:\n"+
				"  name: nginx-mesh-config\n  namespace: nginx-mesh\nspec:\n  mtls:\n    mode: permissive\n    caTTL: 720h\n")
		},
		calls: []string{"kubectl apply --dry-run=server -f {dir}/meshconfig.yaml", "kubectl apply -f {dir}/meshconfig.yaml"}},
	{name: "meshctl-config-from-stdin", want: []string{"mesh-mtls-permissive"},
		setup: func(t *testing.T, l *meshLab) {
			// `nginx-meshctl config | mtls-doctor mesh --check --mesh-config -`: the live
			// MeshConfig's settings on stdin, read again by each check.
			l.live = l.path("live-meshconfig.json")
			writeFile(t, l.live, []byte(`{"apiVersion": "nsm.nginx.com/v1alpha2", "kind": "MeshConfig", `+
				`"metadata": {"name": "nginx-mesh-config", "namespace": "nginx-mesh"}, `+
				`"spec": {"mtls": {"mode": "permissive", "caTTL": "720h", "svidTTL": "1h", "caKeyType": "ec-p256"}, "nginxErrorLogLevel": "info"}}`), 0o600)
			l.args = append(l.args, "--mesh-config", "-")
		},
		calls: []string{`kubectl patch meshconfig nginx-mesh-config -n nginx-mesh --type merge -p {"spec":{"mtls":{"mode":"strict"}}} --dry-run=server`,
			`kubectl patch meshconfig nginx-mesh-config -n nginx-mesh --type merge -p {"spec":{"mtls":{"mode":"strict"}}}`},
		after: func(t *testing.T, l *meshLab) {
			// The patch changed the one setting; the others stay as they were.
			if want := `"mtls":{"caKeyType":"ec-p256","caTTL":"720h","mode":"strict","svidTTL":"1h"},"nginxErrorLogLevel":"info"`; !strings.Contains(compactJSON(t, l.stdin), want) {
				t.Errorf("live settings after the step:\n%s\nwant %s", l.stdin, want)
			}
		}},
	{name: "several-at-once", want: []string{"mesh-mtls-permissive", "mesh-udp-plaintext", "mesh-annotation-disables-mtls", "mesh-ca-pathlen"},
		setup: func(t *testing.T, l *meshLab) {
			l.upstreamCA(t, pki.Spec{IsCA: true, MaxPathLen: -1})
			l.file(t, "--values", "values.yaml", "mtls:\n  mode: permissive\nenableUDP: true\n")
			l.file(t, "-f", "frontend.yaml", strings.Replace(deployment, "%s", `"off"`, 1))
			delete(l.inputs, "<mtls-mode>") // the values say it
		}},
	{name: "annotation-off", want: []string{"mesh-annotation-disables-mtls"},
		setup: func(t *testing.T, l *meshLab) {
			l.file(t, "-f", "frontend.yaml", strings.Replace(deployment, "%s", `"off"`, 1))
		},
		calls: []string{"kubectl apply --dry-run=server -f {dir}/frontend.yaml", "kubectl apply -f {dir}/frontend.yaml"}},
	{name: "annotation-not-strict-under-strict", want: []string{"mesh-annotation-invalid"},
		setup: func(t *testing.T, l *meshLab) {
			l.file(t, "--values", "values.yaml", "mtls:\n  mode: strict\n")
			l.file(t, "-f", "frontend.yaml", strings.Replace(deployment, "%s", "permissive", 1))
		}},
	{name: "annotation-unknown-value", want: []string{"mesh-annotation-invalid"},
		setup: func(t *testing.T, l *meshLab) {
			l.file(t, "-f", "frontend.yaml", strings.Replace(deployment, "%s", "mutual", 1))
		}},
	{name: "annotation-on-workload-metadata", want: []string{"mesh-annotation-invalid"},
		setup: func(t *testing.T, l *meshLab) {
			text := strings.Replace(deployment, "      annotations:\n        config.nsm.nginx.com/mtls-mode: %s\n", "", 1)
			text = strings.Replace(text, "  namespace: shop\n", "  namespace: shop\n  annotations:\n    config.nsm.nginx.com/mtls-mode: strict\n", 1)
			l.file(t, "-f", "frontend.yaml", text)
		},
		after: func(t *testing.T, l *meshLab) {
			got, _ := os.ReadFile(l.path("frontend.yaml"))
			if want := "    metadata:\n      annotations:\n        config.nsm.nginx.com/mtls-mode: \"strict\"\n      labels:\n"; !strings.Contains(string(got), want) ||
				strings.Count(string(got), "mtls-mode") != 1 {
				t.Errorf("the annotation was not moved to the pod template:\n%s", got)
			}
		}},
	{name: "bare-pod-off", want: []string{"mesh-annotation-disables-mtls"},
		setup: func(t *testing.T, l *meshLab) {
			l.file(t, "-f", "pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: debug\n  annotations:\n"+
				"    config.nsm.nginx.com/mtls-mode: \"off\"\nspec:\n  containers:\n    - name: debug\n      image: busybox\n")
		},
		calls: []string{"kubectl replace --force -f {dir}/pod.yaml"}},
}

// meshCheck runs `mtls-doctor mesh --check -o json` over the lab's files and holds the
// report to the published schema.
func meshCheck(t *testing.T, l *meshLab) checkResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, append([]string{"mesh", "--check", "-o", "json"}, l.args...), environ{}, strings.NewReader(l.stdin), &stdout, &stderr)
	res := checkResult{exit: code, stdout: stdout.String(), stderr: stderr.String()}
	if err := json.Unmarshal(stdout.Bytes(), &res.report); err != nil {
		t.Fatalf("exit %d, stdout is not the JSON report (%v)\n%s\n%s", code, err, res.stdout, res.stderr)
	}
	validateJSON(t, "checkReport", stdout.Bytes())
	return res
}

// TestMeshStepsFix breaks the mesh's files one way per scenario, runs `mtls-doctor mesh
// --check -o json`, executes the failing and warning findings' steps verbatim with
// /bin/sh where the cluster is administered — kubectl, helm and nginx-meshctl shims that
// record their arguments and succeed, placeholders filled with the lab's files — and
// checks the same files again until nothing is left. It prints "scenario | steps | re-check".
func TestMeshStepsFix(t *testing.T) {
	stepSuite[meshScenario]{
		title: "mesh", scenarios: meshScenarios, name: func(s meshScenario) string { return s.name },
		walk: func(t *testing.T, sc meshScenario) stepRow {
			l := newMeshLab(t)
			sc.setup(t, l)
			sb, calls := stepshim.NewCluster(t, l.live)
			check := func() checkResult {
				if l.live != "" {
					l.stdin = liveSettings(t, sb)
				}
				return meshCheck(t, l)
			}
			first := check()
			for _, id := range sc.want {
				if f, _ := first.find(id); f.Severity != "warn" && f.Severity != "fail" {
					t.Fatalf("the scenario does not break what it says: %s is %s %q", id, f.Severity, f.Summary)
				}
			}
			for _, f := range first.report.Findings {
				for _, st := range f.Fix {
					if st.Host != string(diagnostics.HostCluster) {
						t.Errorf("%s step %q: host %q, want cluster", f.ID, st.Title, st.Host)
					}
				}
			}
			row := stepWalk{
				check:  check,
				inputs: l.inputs,
				hosts:  map[string]stepHost{"": {sandbox: sb}},
			}.run(t)
			recorded := calls()
			for _, want := range sc.calls {
				want = strings.ReplaceAll(want, "{dir}", l.dir)
				if !strings.Contains(recorded, want+"\n") {
					t.Errorf("the steps did not run %q; they ran:\n%s", want, recorded)
				}
			}
			if sc.after != nil {
				sc.after(t, l)
			}
			return row
		},
	}.run(t)
}

// liveSettings is what `nginx-meshctl config` prints in the sandbox: the live MeshConfig's
// settings.
func liveSettings(t *testing.T, sb *stepshim.Sandbox) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "config.json")
	if err := sb.Run([]string{"nginx-meshctl config >'<out>'"}, map[string]string{"<out>": out}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// compactJSON is text without insignificant space, its object keys sorted.
func compactJSON(t *testing.T, text string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		t.Fatalf("%v:\n%s", err, text)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s holds no PEM block", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestJSONSchemaMeshHost: the schema takes the mesh's steps' host, cluster, and still
// refuses a host it does not name.
func TestJSONSchemaMeshHost(t *testing.T) {
	l := newMeshLab(t)
	l.upstreamCA(t, pki.Spec{IsCA: true, MaxPathLen: -1})
	res := meshCheck(t, l) // validates against the schema
	if !strings.Contains(res.stdout, `"host": "cluster"`) {
		t.Fatalf("no step runs on the cluster host:\n%.2000s", res.stdout)
	}
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(strings.ReplaceAll(res.stdout, `"host": "cluster"`, `"host": "kubernetes"`)))
	if err != nil {
		t.Fatal(err)
	}
	if schemaFor(t, "").Validate(inst) == nil {
		t.Error("the schema accepted the host kubernetes")
	}
}

// TestMeshRootRenewalRefusesAnotherKey: given a key that is not the root's, the renewal
// stops before it replaces the bundle (openssl x509 -signkey would otherwise put that
// key's public half in the root and break every certificate below it).
func TestMeshRootRenewalRefusesAnotherKey(t *testing.T) {
	var sc meshScenario
	for _, s := range meshScenarios {
		if s.name == "root-expired" {
			sc = s
		}
	}
	l := newMeshLab(t)
	sc.setup(t, l)
	before, err := os.ReadFile(l.rootPEM)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := meshCheck(t, l).find("mesh-ca-expired")
	if len(f.Fix) != 1 || !strings.HasPrefix(f.Fix[0].Title, "Renew the root") {
		t.Fatalf("mesh-ca-expired steps %+v, want the root's renewal", f.Fix)
	}
	l.inputs["<root-key-path>"] = l.inputs["<mesh-ca-key-path>"] // the upstream CA's key, not the root's
	sb, calls := stepshim.NewCluster(t, "")
	if err := sb.Run(f.Fix[0].Commands, l.inputs); err == nil || !strings.Contains(err.Error(), "openssl verify") {
		t.Fatalf("the renewal with another key did not stop at its verification: %v", err)
	}
	if after, _ := os.ReadFile(l.rootPEM); !bytes.Equal(after, before) {
		t.Error("the bundle changed although the renewal stopped")
	}
	if c := calls(); c != "" {
		t.Errorf("the mesh was redeployed although the renewal stopped:\n%s", c)
	}
}
