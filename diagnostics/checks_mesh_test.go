package diagnostics

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/mtls-doctor/mtls-doctor/internal/pki"
	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/mesh"
)

// meshNow pins the clock of the mesh corpus.
var meshNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// meshLab writes a mesh case's files into a temporary directory: CA material made with
// internal/pki at test time, and the YAML/JSON inputs.
type meshLab struct {
	t    *testing.T
	dir  string
	gen  *pki.Generator
	opts mesh.Options
}

func newMeshLab(t *testing.T) *meshLab {
	dir := t.TempDir()
	return &meshLab{t: t, dir: dir, gen: pki.New(meshNow), opts: mesh.Options{Dir: dir}}
}

func (l *meshLab) issue(parent *pki.Cert, spec pki.Spec) *pki.Cert {
	l.t.Helper()
	c, err := l.gen.Issue(parent, spec)
	if err != nil {
		l.t.Fatal(err)
	}
	return c
}

// root is a self-signed CA; pathlen 0 leaves it unset.
func (l *meshLab) root(pathlen int) *pki.Cert {
	return l.issue(nil, pki.Spec{CommonName: "Mesh Root CA", IsCA: true, MaxPathLen: pathlen,
		From: -1000 * 24 * time.Hour, Until: 3650 * 24 * time.Hour})
}

// intermediate is the upstream CA as the document's production example has it.
func (l *meshLab) intermediate(root *pki.Cert, spec pki.Spec) *pki.Cert {
	if spec.CommonName == "" {
		spec.CommonName = "Mesh Intermediate CA"
	}
	return l.issue(root, spec)
}

func (l *meshLab) write(name string, data []byte) string {
	l.t.Helper()
	if err := os.WriteFile(filepath.Join(l.dir, name), data, 0o600); err != nil {
		l.t.Fatal(err)
	}
	return name
}

func (l *meshLab) certs(name string, cs ...*pki.Cert) string {
	return l.write(name, pki.CertsPEM(cs...))
}

func (l *meshLab) key(name string, c *pki.Cert) string {
	l.t.Helper()
	data, err := c.KeyPEM(pki.PKCS8)
	if err != nil {
		l.t.Fatal(err)
	}
	return l.write(name, data)
}

// upstream writes the upstream authority configuration.
func (l *meshLab) upstream(yaml string) {
	l.opts.UpstreamCAConf = filepath.Join(l.dir, l.write("upstream.yaml", []byte(yaml)))
}

func (l *meshLab) values(yaml string) {
	l.opts.Values = filepath.Join(l.dir, l.write("values.yaml", []byte(yaml)))
}

func (l *meshLab) meshConfig(text string) {
	l.opts.MeshConfig = filepath.Join(l.dir, l.write("meshconfig", []byte(text)))
}

func (l *meshLab) manifest(yaml string) {
	name := "app" + string(rune('0'+len(l.opts.Manifests))) + ".yaml"
	l.opts.Manifests = append(l.opts.Manifests, filepath.Join(l.dir, l.write(name, []byte(yaml))))
}

// disk writes a disk upstream authority: cert and key of ca, and a bundle when given.
func (l *meshLab) disk(ca *pki.Cert, bundle ...*pki.Cert) {
	conf := "apiVersion: v1\nupstreamAuthority: disk\nconfig:\n  cert_file_path: " + l.certs("ca.crt", ca) +
		"\n  key_file_path: " + l.key("ca.key", ca) + "\n"
	if len(bundle) > 0 {
		conf += "  bundle_file_path: " + l.certs("bundle.crt", bundle...) + "\n"
	}
	l.upstream(conf)
}

// production is the healthy production setup of the issue: an intermediate with the root
// as bundle, strict, the memory key manager.
func (l *meshLab) production() (root, inter *pki.Cert) {
	root = l.root(0)
	inter = l.intermediate(root, pki.Spec{IsCA: true, MaxPathLen: 1})
	l.disk(inter, root)
	l.values("mtls:\n  mode: strict\n  spireServerKeyManager: memory\n")
	return root, inter
}

func (l *meshLab) run() map[string]Finding {
	l.t.Helper()
	e := &Engine{Catalog: MeshCatalog(), Now: func() time.Time { return meshNow },
		Gatherer: GathererFunc(func(_ context.Context, kind FactKind, f *Facts) error {
			m, err := mesh.Load(l.opts)
			f.Mesh = m
			return err
		})}
	out := map[string]Finding{}
	for _, fd := range e.Run(context.Background(), nil, nil, nil).Findings {
		out[fd.ID] = fd
	}
	return out
}

type meshCase struct {
	setup func(l *meshLab)
	// want maps finding IDs to their expected severity; every other mesh check must be
	// neither warn nor fail (unless listed).
	want map[string]Severity
}

var (
	sevOK   = SeverityOK
	sevSkip = SeveritySkip
	sevInfo = SeverityInfo
	sevWarn = SeverityWarn
	sevFail = SeverityFail
)

func meshCorpus() map[string]meshCase {
	return map[string]meshCase{
		// The document's own minimal examples are healthy.
		"doc disk minimal (self-signed root)": {func(l *meshLab) { l.disk(l.root(0)) },
			map[string]Severity{"mesh-upstream-conf-invalid": sevOK, "mesh-ca-bundle-incomplete": sevOK, "mesh-ca-pathlen": sevOK,
				"mesh-ca-not-a-ca": sevOK, "mesh-ca-key-mismatch": sevOK}},
		"doc aws_pca minimal": {func(l *meshLab) {
			l.upstream("apiVersion: \"v1\"\nupstreamAuthority: \"aws_pca\"\nconfig:\n    region: \"us-west-2\"\n" +
				"    certificate_authority_arn: \"arn:aws:acm-pca::123456789012:certificate-authority/test\"\n")
		}, map[string]Severity{"mesh-upstream-conf-invalid": sevOK, "mesh-ca-pathlen": sevSkip}},
		"doc awssecret minimal": {func(l *meshLab) {
			l.upstream("apiVersion: \"v1\"\nupstreamAuthority: \"awssecret\"\nconfig:\n    region: \"us-west-2\"\n" +
				"    cert_file_arn: \"arn:aws:acm-pca::123456789012:certificate-authority/test\"\n" +
				"    key_file_arn: \"arn:aws:acm-pca::123456789012:certificate-authority/test-key\"\n")
		}, map[string]Severity{"mesh-upstream-conf-invalid": sevOK, "mesh-upstream-conf-ignored-key": sevOK}},
		"doc cert-manager minimal": {func(l *meshLab) {
			l.upstream("apiVersion: \"v1\"\nupstreamAuthority: \"cert-manager\"\nconfig:\n  namespace: \"my-cert-namespace\"\n  issuer_name: \"my-spire-issuer-name\"\n")
		}, map[string]Severity{"mesh-upstream-conf-invalid": sevOK, "mesh-upstream-conf-ignored-key": sevOK}},
		"doc production disk (intermediate + root bundle, strict, memory)": {func(l *meshLab) { l.production() },
			map[string]Severity{"mesh-upstream-conf-invalid": sevOK, "mesh-ca-file-format": sevOK, "mesh-ca-key-mismatch": sevOK,
				"mesh-ca-not-a-ca": sevOK, "mesh-ca-pathlen": sevOK, "mesh-ca-bundle-incomplete": sevOK, "mesh-ca-expired": sevOK,
				"mesh-ca-expiring": sevOK, "mesh-ca-weak": sevOK, "mesh-mtls-off": sevOK, "mesh-mtls-permissive": sevOK,
				"mesh-key-manager-memory": sevOK, "mesh-log-level-hides-mtls": sevInfo, "mesh-setting-invalid": sevOK}},
		"vault token auth": {func(l *meshLab) {
			l.upstream("apiVersion: v1\nupstreamAuthority: vault\nconfig:\n  vault_addr: https://vault.example:8200\n" +
				"  namespace: mesh\n  ca_cert_path: " + l.certs("vault-ca.crt", l.root(0)) + "\n  token_auth:\n    token: s.secret\n")
		}, map[string]Severity{"mesh-upstream-conf-invalid": sevOK, "mesh-ca-file-format": sevOK}},

		// The upstream authority configuration.
		"apiVersion v2": {func(l *meshLab) {
			l.upstream("apiVersion: v2\nupstreamAuthority: cert-manager\nconfig:\n  namespace: a\n  issuer_name: b\n")
		}, map[string]Severity{"mesh-upstream-conf-invalid": sevFail}},
		"unknown top-level key": {func(l *meshLab) {
			l.upstream("apiVersion: v1\nupstreamAuthority: cert-manager\nkind: x\nconfig:\n  namespace: a\n  issuer_name: b\n")
		}, map[string]Severity{"mesh-upstream-conf-invalid": sevFail}},
		"disk without key_file_path": {func(l *meshLab) {
			l.upstream("apiVersion: v1\nupstreamAuthority: disk\nconfig:\n  cert_file_path: " + l.certs("ca.crt", l.root(0)) + "\n")
		}, map[string]Severity{"mesh-upstream-conf-invalid": sevFail}},
		"authority name does not fit config": {func(l *meshLab) {
			l.upstream("apiVersion: v1\nupstreamAuthority: disk\nconfig:\n  region: us-west-2\n" +
				"  certificate_authority_arn: arn:aws:acm-pca::1:certificate-authority/x\n")
		}, map[string]Severity{"mesh-upstream-conf-invalid": sevFail}},
		"malformed ARN": {func(l *meshLab) {
			l.upstream("apiVersion: v1\nupstreamAuthority: aws_pca\nconfig:\n  region: us-west-2\n  certificate_authority_arn: my-ca\n")
		}, map[string]Severity{"mesh-upstream-conf-invalid": sevFail}},
		"YAML syntax error": {func(l *meshLab) { l.upstream("apiVersion: v1\nconfig:\n  a: [b\n") },
			map[string]Severity{"mesh-upstream-conf-invalid": sevFail}},
		"vault with two auth methods": {func(l *meshLab) {
			l.upstream("apiVersion: v1\nupstreamAuthority: vault\nconfig:\n  vault_addr: https://v:8200\n  namespace: m\n" +
				"  ca_cert_path: " + l.certs("v.crt", l.root(0)) + "\n  token_auth:\n    token: t\n  approle_auth:\n    approle_id: a\n    approle_secret_id: s\n")
		}, map[string]Severity{"mesh-upstream-conf-invalid": sevFail}},
		"vault pki_mount_point is dropped": {func(l *meshLab) {
			l.upstream("apiVersion: v1\nupstreamAuthority: vault\nconfig:\n  vault_addr: https://v:8200\n  namespace: m\n" +
				"  pki_mount_point: mesh-pki\n  ca_cert_path: " + l.certs("v.crt", l.root(0)) + "\n  token_auth:\n    token: t\n")
		}, map[string]Severity{"mesh-upstream-conf-invalid": sevOK, "mesh-upstream-conf-ignored-key": sevWarn}},
		"cert-manager extra key is dropped": {func(l *meshLab) {
			l.upstream("apiVersion: v1\nupstreamAuthority: cert-manager\nconfig:\n  namespace: a\n  issuer_name: b\n  issuer_namespace: c\n")
		}, map[string]Severity{"mesh-upstream-conf-invalid": sevOK, "mesh-upstream-conf-ignored-key": sevWarn}},

		// The CA files.
		"chain in the cert file": {func(l *meshLab) {
			root := l.root(0)
			inter := l.intermediate(root, pki.Spec{IsCA: true, MaxPathLen: 1})
			l.upstream("apiVersion: v1\nupstreamAuthority: disk\nconfig:\n  cert_file_path: " + l.certs("ca.crt", inter, root) +
				"\n  key_file_path: " + l.key("ca.key", inter) + "\n  bundle_file_path: " + l.certs("b.crt", root) + "\n")
		}, map[string]Severity{"mesh-ca-file-format": sevFail, "mesh-ca-bundle-incomplete": sevOK}},
		"openssl ecparam -genkey key": {func(l *meshLab) {
			root := l.root(0)
			key, err := root.KeyPEM(pki.SEC1)
			if err != nil {
				l.t.Fatal(err)
			}
			params := "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
			l.upstream("apiVersion: v1\nupstreamAuthority: disk\nconfig:\n  cert_file_path: " + l.certs("ca.crt", root) +
				"\n  key_file_path: " + l.write("ca.key", append([]byte(params), key...)) + "\n")
		}, map[string]Severity{"mesh-ca-file-format": sevFail, "mesh-ca-key-mismatch": sevOK}},
		"encrypted key": {func(l *meshLab) {
			root := l.issue(nil, pki.Spec{CommonName: "RSA root", IsCA: true, Key: pki.RSA})
			der, err := root.KeyPEM(pki.PKCS1)
			if err != nil {
				l.t.Fatal(err)
			}
			b, _ := pem.Decode(der)
			//lint:ignore SA1019 the legacy encrypted PEM is what old openssl genrsa -aes256 wrote
			enc, err := x509.EncryptPEMBlock(rand.Reader, b.Type, b.Bytes, []byte("secret"), x509.PEMCipherAES256) //nolint:staticcheck
			if err != nil {
				l.t.Fatal(err)
			}
			l.upstream("apiVersion: v1\nupstreamAuthority: disk\nconfig:\n  cert_file_path: " + l.certs("ca.crt", root) +
				"\n  key_file_path: " + l.write("ca.key", pem.EncodeToMemory(enc)) + "\n")
		}, map[string]Severity{"mesh-ca-file-format": sevFail, "mesh-ca-key-mismatch": sevSkip}},
		"DER certificate file": {func(l *meshLab) {
			root := l.root(0)
			l.upstream("apiVersion: v1\nupstreamAuthority: disk\nconfig:\n  cert_file_path: " + l.write("ca.der", root.Cert.Raw) +
				"\n  key_file_path: " + l.key("ca.key", root) + "\n")
		}, map[string]Severity{"mesh-ca-file-format": sevFail}},
		"missing relative cert file": {func(l *meshLab) {
			l.upstream("apiVersion: v1\nupstreamAuthority: disk\nconfig:\n  cert_file_path: certs/nope.crt\n  key_file_path: nope.key\n")
		}, map[string]Severity{"mesh-ca-file-format": sevFail, "mesh-ca-pathlen": sevSkip}},
		"key of another CA": {func(l *meshLab) {
			root, other := l.root(0), l.root(0)
			l.upstream("apiVersion: v1\nupstreamAuthority: disk\nconfig:\n  cert_file_path: " + l.certs("ca.crt", root) +
				"\n  key_file_path: " + l.key("ca.key", other) + "\n")
		}, map[string]Severity{"mesh-ca-key-mismatch": sevFail}},

		// The CA certificates.
		"upstream CA is not a CA": {func(l *meshLab) {
			root := l.root(0)
			l.disk(l.intermediate(root, pki.Spec{KeyUsage: x509.KeyUsageDigitalSignature}), root)
		}, map[string]Severity{"mesh-ca-not-a-ca": sevFail}},
		"upstream CA without keyCertSign": {func(l *meshLab) {
			root := l.root(0)
			l.disk(l.intermediate(root, pki.Spec{IsCA: true, KeyUsage: x509.KeyUsageCRLSign}), root)
		}, map[string]Severity{"mesh-ca-not-a-ca": sevFail, "mesh-ca-pathlen": sevOK}},
		"upstream CA limited to clientAuth": {func(l *meshLab) {
			root := l.root(0)
			l.disk(l.intermediate(root, pki.Spec{IsCA: true, EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}), root)
		}, map[string]Severity{"mesh-ca-not-a-ca": sevFail}},
		"intermediate pathlen 0": {func(l *meshLab) {
			root := l.root(0)
			l.disk(l.intermediate(root, pki.Spec{IsCA: true, MaxPathLen: -1}), root)
		}, map[string]Severity{"mesh-ca-pathlen": sevFail, "mesh-ca-not-a-ca": sevOK}},
		"root pathlen 1 above an intermediate": {func(l *meshLab) {
			root := l.root(1)
			l.disk(l.intermediate(root, pki.Spec{IsCA: true, MaxPathLen: 1}), root)
		}, map[string]Severity{"mesh-ca-pathlen": sevFail}},
		"root pathlen 2, intermediate pathlen 1": {func(l *meshLab) {
			root := l.root(2)
			l.disk(l.intermediate(root, pki.Spec{IsCA: true, MaxPathLen: 1}), root)
		}, map[string]Severity{"mesh-ca-pathlen": sevOK}},
		"self-signed upstream CA with pathlen 0": {func(l *meshLab) { l.disk(l.root(-1)) },
			map[string]Severity{"mesh-ca-pathlen": sevFail}},
		"root name constraints exclude the trust domain": {func(l *meshLab) {
			root := constrainedRoot(l, "other.example")
			l.disk(l.intermediate(root, pki.Spec{IsCA: true, MaxPathLen: 1}), root)
		}, map[string]Severity{"mesh-ca-pathlen": sevFail}},
		"intermediate without a bundle": {func(l *meshLab) {
			l.disk(l.intermediate(l.root(0), pki.Spec{IsCA: true, MaxPathLen: 1}))
		}, map[string]Severity{"mesh-ca-bundle-incomplete": sevFail, "mesh-ca-pathlen": sevSkip}},
		"bundle of another root": {func(l *meshLab) {
			l.disk(l.intermediate(l.root(0), pki.Spec{IsCA: true, MaxPathLen: 1}), l.root(0))
		}, map[string]Severity{"mesh-ca-bundle-incomplete": sevFail}},
		"bundle without the root": {func(l *meshLab) {
			root := l.root(0)
			mid := l.intermediate(root, pki.Spec{CommonName: "Policy CA", IsCA: true, MaxPathLen: 2})
			l.disk(l.intermediate(mid, pki.Spec{IsCA: true, MaxPathLen: 1}), mid)
		}, map[string]Severity{"mesh-ca-bundle-incomplete": sevFail}},
		"expired intermediate": {func(l *meshLab) {
			root := l.root(0)
			l.disk(l.intermediate(root, pki.Spec{IsCA: true, From: -400 * 24 * time.Hour, Until: -24 * time.Hour}), root)
		}, map[string]Severity{"mesh-ca-expired": sevFail, "mesh-ca-pathlen": sevOK, "mesh-ca-bundle-incomplete": sevOK}},
		"intermediate not yet valid": {func(l *meshLab) {
			root := l.root(0)
			l.disk(l.intermediate(root, pki.Spec{IsCA: true, From: 24 * time.Hour, Until: 400 * 24 * time.Hour}), root)
		}, map[string]Severity{"mesh-ca-not-yet-valid": sevFail}},
		"intermediate expiring in 10 days": {func(l *meshLab) {
			root := l.root(0)
			l.disk(l.intermediate(root, pki.Spec{IsCA: true, From: -300 * 24 * time.Hour, Until: 10 * 24 * time.Hour}), root)
		}, map[string]Severity{"mesh-ca-expiring": sevWarn, "mesh-ca-expired": sevOK}},
		"RSA 1024 intermediate": {func(l *meshLab) {
			root := l.root(0)
			l.disk(l.intermediate(root, pki.Spec{IsCA: true, Key: pki.RSA, Bits: 1024}), root)
		}, map[string]Severity{"mesh-ca-weak": sevFail}},
		"SHA-1 signed intermediate": {func(l *meshLab) {
			root := l.issue(nil, pki.Spec{CommonName: "RSA root", IsCA: true, Key: pki.RSA})
			l.disk(l.intermediate(root, pki.Spec{IsCA: true, SignatureAlgorithm: x509.SHA1WithRSA}), root)
		}, map[string]Severity{"mesh-ca-bundle-incomplete": sevSkip, "mesh-ca-weak": sevFail}},

		// The mesh settings.
		"mode off": {func(l *meshLab) { l.values("mtls:\n  mode: \"off\"\n") },
			map[string]Severity{"mesh-mtls-off": sevFail, "mesh-mtls-permissive": sevSkip}},
		"mode permissive by default": {func(l *meshLab) { l.values("mtls:\n  caTTL: 720h\n") },
			map[string]Severity{"mesh-mtls-permissive": sevWarn, "mesh-mtls-off": sevOK, "mesh-setting-invalid": sevOK}},
		"unquoted off is a YAML 1.1 boolean": {func(l *meshLab) { l.values("mtls:\n  mode: off\n") },
			map[string]Severity{"mesh-setting-invalid": sevFail, "mesh-mtls-off": sevSkip}},
		"caTTL under 24h": {func(l *meshLab) { l.values("mtls:\n  mode: strict\n  caTTL: 12h\n") },
			map[string]Severity{"mesh-setting-invalid": sevFail}},
		"svidTTL 0h": {func(l *meshLab) { l.values("mtls:\n  mode: strict\n  svidTTL: 0h\n") },
			map[string]Severity{"mesh-setting-invalid": sevFail}},
		"caKeyType rsa-1024": {func(l *meshLab) { l.values("mtls:\n  mode: strict\n  caKeyType: rsa-1024\n") },
			map[string]Severity{"mesh-setting-invalid": sevFail}},
		"MeshConfig resource strict": {func(l *meshLab) {
			l.meshConfig("apiVersion: nsm.nginx.com/v1alpha2\nkind: MeshConfig\nmetadata:\n  name: nginx-mesh-config\n  namespace: nginx-mesh\n" +
				"spec:\n  meshConfigClassName: nginx-mesh\n  nginxErrorLogLevel: info\n  mtls:\n    mode: strict\n    caTTL: 720h\n    svidTTL: 1h\n")
		}, map[string]Severity{"mesh-mtls-permissive": sevOK, "mesh-setting-invalid": sevOK, "mesh-log-level-hides-mtls": sevOK}},
		"MeshConfig of another version": {func(l *meshLab) {
			l.meshConfig("apiVersion: nsm.nginx.com/v1alpha1\nkind: MeshConfig\nspec:\n  mtls:\n    mode: strict\n")
		}, map[string]Severity{"mesh-mtls-permissive": sevWarn, "mesh-setting-invalid": sevFail}},
		"nginx-meshctl config with UDP": {func(l *meshLab) {
			l.meshConfig(`{"mtls": {"mode": "strict", "caTTL": "720h", "svidTTL": "1h", "caKeyType": "ec-p256", "trustDomain": "example.org"},` +
				"\n" + `"nginxErrorLogLevel": "warn", "enableUDP": true}`)
		}, map[string]Severity{"mesh-udp-plaintext": sevWarn, "mesh-log-level-hides-mtls": sevInfo, "mesh-mtls-permissive": sevOK}},
		"memory key manager without upstream CA": {func(l *meshLab) {
			l.values("mtls:\n  mode: strict\n  spireServerKeyManager: memory\n")
		}, map[string]Severity{"mesh-key-manager-memory": sevWarn}},
		"memory key manager with upstream CA in values": {func(l *meshLab) {
			root := l.root(0)
			key, _ := root.KeyPEM(pki.PKCS8)
			l.values("mtls:\n  mode: strict\n  spireServerKeyManager: memory\n  upstreamAuthority:\n    disk:\n      cert: |\n" +
				indent(string(pki.CertsPEM(root)), 8) + "      key: |\n" + indent(string(key), 8))
		}, map[string]Severity{"mesh-key-manager-memory": sevOK, "mesh-ca-pathlen": sevOK, "mesh-ca-key-mismatch": sevOK}},

		// Annotations.
		"annotation with an invalid value": {func(l *meshLab) {
			l.values("mtls:\n  mode: permissive\n")
			l.manifest(deployment("reviews", "strictt"))
		}, map[string]Severity{"mesh-mtls-permissive": sevWarn, "mesh-annotation-invalid": sevWarn, "mesh-annotation-disables-mtls": sevOK}},
		"permissive annotation under strict": {func(l *meshLab) {
			l.values("mtls:\n  mode: strict\n")
			l.manifest(deployment("reviews", "\"permissive\""))
		}, map[string]Severity{"mesh-annotation-invalid": sevWarn}},
		"off annotation under permissive (kind: List)": {func(l *meshLab) {
			l.values("mtls:\n  mode: permissive\n")
			l.manifest("apiVersion: v1\nkind: List\nitems:\n- " + strings.ReplaceAll(deployment("ratings", "\"strict\""), "\n", "\n  ") +
				"\n- " + strings.ReplaceAll(deployment("reviews", "\"off\""), "\n", "\n  "))
		}, map[string]Severity{"mesh-mtls-permissive": sevWarn, "mesh-annotation-disables-mtls": sevWarn, "mesh-annotation-invalid": sevOK}},
		"annotation on the deployment, not the pod template": {func(l *meshLab) {
			l.values("mtls:\n  mode: permissive\n")
			l.manifest("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  annotations:\n    config.nsm.nginx.com/mtls-mode: \"strict\"\n" +
				"spec:\n  template:\n    metadata:\n      labels:\n        app: web\n")
		}, map[string]Severity{"mesh-mtls-permissive": sevWarn, "mesh-annotation-invalid": sevWarn}},
		"unquoted off annotation in a multi-document manifest": {func(l *meshLab) {
			l.values("mtls:\n  mode: permissive\n")
			l.manifest(deployment("a", "\"strict\"") + "\n---\n" + deployment("b", "off"))
		}, map[string]Severity{"mesh-mtls-permissive": sevWarn, "mesh-annotation-invalid": sevWarn, "mesh-annotation-disables-mtls": sevOK}},
		"strict annotations under strict": {func(l *meshLab) {
			l.values("mtls:\n  mode: strict\n")
			l.manifest(deployment("a", "strict") + "\n---\n" + deployment("b", "STRICT"))
		}, map[string]Severity{"mesh-annotation-invalid": sevOK, "mesh-annotation-disables-mtls": sevOK}},
	}
}

func deployment(name, mode string) string {
	return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " + name + "\n  namespace: shop\nspec:\n  template:\n" +
		"    metadata:\n      annotations:\n        config.nsm.nginx.com/mtls-mode: " + mode + "\n    spec:\n      containers:\n      - name: app\n        image: app\n"
}

func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n"+pad) + "\n"
}

// constrainedRoot is a root whose name constraints permit SPIFFE IDs of another domain.
func constrainedRoot(l *meshLab, permitted string) *pki.Cert {
	l.t.Helper()
	key, err := pki.NewKey(pki.ECDSAP256, 0)
	if err != nil {
		l.t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Constrained Root"},
		NotBefore: meshNow.Add(-time.Hour), NotAfter: meshNow.Add(3650 * 24 * time.Hour),
		BasicConstraintsValid: true, IsCA: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		PermittedURIDomains: []string{permitted}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		l.t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		l.t.Fatal(err)
	}
	return &pki.Cert{Cert: c, Key: key}
}

// TestMeshCorpus runs every case and asserts each listed finding's severity, and that no
// other finding warns or fails.
func TestMeshCorpus(t *testing.T) {
	corpus := meshCorpus()
	if len(corpus) < 30 {
		t.Fatalf("the corpus has %d cases, want at least 30", len(corpus))
	}
	for name, tc := range corpus {
		t.Run(name, func(t *testing.T) {
			l := newMeshLab(t)
			tc.setup(l)
			got := l.run()
			for id, want := range tc.want {
				fd, ok := got[id]
				if !ok {
					t.Errorf("%s: no such finding", id)
					continue
				}
				if fd.Severity != want {
					t.Errorf("%s: got %s %q, want %s", id, fd.Severity, fd.Summary, want)
				}
			}
			for id, fd := range got {
				if _, listed := tc.want[id]; !listed && fd.Problem() {
					t.Errorf("%s: unexpected %s %q", id, fd.Severity, fd.Summary)
				}
				if strings.Contains(fd.Summary, "internal error") {
					t.Errorf("%s: %s", id, fd.Summary)
				}
				if fd.Problem() && len(fd.Fix) == 0 {
					t.Errorf("%s: %s without a playbook", id, fd.Severity)
				}
				if fd.Problem() && fd.Cause.Code == "" {
					t.Errorf("%s: %s without a cause code: %q", id, fd.Severity, fd.Summary)
				}
			}
		})
	}
}

// meshIDs are the public finding IDs of the mesh command (issue 12).
var meshIDs = []string{
	"mesh-upstream-conf-invalid", "mesh-upstream-conf-ignored-key", "mesh-ca-file-format", "mesh-ca-key-mismatch",
	"mesh-ca-not-a-ca", "mesh-ca-pathlen", "mesh-ca-bundle-incomplete", "mesh-ca-expired", "mesh-ca-not-yet-valid",
	"mesh-ca-expiring", "mesh-ca-weak", "mesh-mtls-off", "mesh-mtls-permissive", "mesh-setting-invalid",
	"mesh-annotation-invalid", "mesh-annotation-disables-mtls", "mesh-key-manager-memory", "mesh-udp-plaintext",
	"mesh-log-level-hides-mtls",
}

func TestMeshCatalogIsValid(t *testing.T) {
	c := MeshCatalog()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(c) != len(meshIDs) {
		t.Errorf("the mesh catalog has %d checks, the issue names %d", len(c), len(meshIDs))
	}
	for _, id := range meshIDs {
		if _, ok := c.Lookup(id); !ok {
			t.Errorf("issue ID %s is missing from the mesh catalog", id)
		}
		if _, ok := DefaultCatalog().Lookup(id); ok {
			t.Errorf("%s is in the agent-side catalog too", id)
		}
	}
	for _, ch := range c {
		if ch.Category != CategoryMesh || !kebab.MatchString(ch.ID) || !strings.HasPrefix(ch.ID, "mesh-") {
			t.Errorf("%s: want a kebab-case mesh-* ID in category mesh, got %s", ch.ID, ch.Category)
		}
		if r := []rune(ch.Title)[0]; !unicode.IsLower(r) || strings.HasSuffix(ch.Title, ".") {
			t.Errorf("%s: title %q must start in lower case and not end with a period", ch.ID, ch.Title)
		}
		if n := strings.Count(ch.Why, ". ") + 1; ch.Why == "" || n > 4 {
			t.Errorf("%s: Why should be two to four sentences, got %q", ch.ID, ch.Why)
		}
		if ch.Fix == nil {
			t.Errorf("%s: no playbook", ch.ID)
		}
		// Playbooks print without a mesh (explain) and never panic.
		for _, st := range ch.Fix(&Facts{Now: meshNow, Thresholds: DefaultThresholds()}, Result{}) {
			if st.Title == "" || len(st.Verify) == 0 {
				t.Errorf("%s: step %+v needs a title and the checks that verify it", ch.ID, st)
			}
		}
	}
}

// FuzzMeshInputs feeds one text as every mesh input (upstream authority configuration,
// mesh config, values, manifest): no check may panic or report an internal error, and
// nothing unprintable may reach a summary or evidence.
func FuzzMeshInputs(f *testing.F) {
	for _, s := range []string{
		"apiVersion: v1\nupstreamAuthority: vault\nconfig:\n  token_auth: {token: x}\n  pki_mount_point: p\n",
		"apiVersion: nsm.nginx.com/v1alpha2\nkind: MeshConfig\nspec:\n  mtls: {mode: strict, caTTL: 12h}\n",
		`{"mtls": {"mode": "off"}, "enableUDP": true, "nginxErrorLogLevel": 3}`,
		"kind: List\nitems:\n- kind: CronJob\n  spec: {jobTemplate: {spec: {template: {metadata: {annotations: {config.nsm.nginx.com/mtls-mode: off}}}}}}\n",
		"mtls:\n  mode: \"\\x1b[31m\"\n  upstreamAuthority: {disk: {cert: x}}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		read := func(name string) *mesh.Input {
			in := &mesh.Input{Path: name}
			in.Docs, in.Error = probes.ParseDocuments(name, data)
			return in
		}
		facts := &Facts{Now: meshNow, Thresholds: DefaultThresholds(), Mesh: &mesh.Facts{Dir: "/nonexistent",
			Upstream: read("upstream.yaml"), MeshConfig: read("meshconfig"), Values: read("values.yaml"),
			Manifests: []*mesh.Input{read("app.yaml")}}}
		for _, ch := range MeshCatalog() {
			fd := ch.run(facts)
			if strings.Contains(fd.Summary, "internal error") {
				t.Fatalf("%s: %s", ch.ID, fd.Summary)
			}
			texts := []string{fd.Summary}
			for _, e := range fd.Evidence {
				texts = append(texts, e.Text, e.Location)
				texts = append(texts, e.Quote...)
			}
			// The fix steps edit the fuzzed files (yamlEdit): they must build without a
			// panic and carry no control character to the terminal either.
			for _, st := range fd.Fix {
				texts = append(texts, st.Title, st.Diff)
				texts = append(texts, st.Commands...)
			}
			for _, s := range texts {
				if strings.ContainsAny(s, "\x1b\r\x00\a\b") {
					t.Fatalf("%s: control character in %q", ch.ID, s)
				}
			}
		}
	})
}

// TestMeshCertLives: the upstream CA and its root are reported for perfdata and JSON.
func TestMeshCertLives(t *testing.T) {
	l := newMeshLab(t)
	l.production()
	m, err := mesh.Load(l.opts)
	if err != nil {
		t.Fatal(err)
	}
	lives := CertLives(&Facts{Now: meshNow, Mesh: m})
	if len(lives) != 2 || lives[0].Role != "mesh-upstream" || lives[1].Role != "mesh-ca" ||
		!strings.Contains(lives[1].Subject, "Mesh Root CA") || lives[0].DaysLeft != 365 {
		t.Fatalf("got %+v, want the intermediate (365 days left) then the root", lives)
	}
}

// TestMeshRootRenewal: a root whose dates alone are wrong is renewed with its own key —
// run from the bundle file when the root is in one, by hand when it is PEM text in the Helm
// values — and a root that is also weak still needs a new root.
func TestMeshRootRenewal(t *testing.T) {
	expired := pki.Spec{CommonName: "Old Root", IsCA: true, From: -800 * 24 * time.Hour, Until: -time.Hour}
	for name, c := range map[string]struct {
		setup         func(l *meshLab)
		title, manual string
		commands      []string
		notInCommands string
	}{
		"bundle file": {setup: func(l *meshLab) {
			root := l.issue(nil, expired)
			l.disk(l.intermediate(root, pki.Spec{IsCA: true, MaxPathLen: 1}), l.root(0), root)
		}, title: "Renew the root CN=Old Root with its own key",
			commands: []string{"-signkey '<root-key-path>' -days 800 -sha256", "openssl verify -no_check_time -CAfile", "n == 2 {print}", "nginx-meshctl deploy"}},
		"Helm values": {setup: func(l *meshLab) {
			root := l.issue(nil, expired)
			inter := l.intermediate(root, pki.Spec{IsCA: true, MaxPathLen: 1})
			key, _ := inter.KeyPEM(pki.PKCS8)
			l.values("mtls:\n  mode: strict\n  upstreamAuthority:\n    disk:\n      cert: |\n" + indent(string(pki.CertsPEM(inter)), 8) +
				"      key: |\n" + indent(string(key), 8) + "      bundle: |\n" + indent(string(pki.CertsPEM(root)), 8))
		}, title: "Renew the root CN=Old Root with its own key", manual: "not alone in a PEM bundle file",
			commands: []string{"openssl x509 -in '<root-cert-path>' -signkey '<root-key-path>'"}},
		"expired and weak": {setup: func(l *meshLab) {
			weak := expired
			weak.Key, weak.Bits = pki.RSA, 1024
			root := l.issue(nil, weak)
			l.disk(l.intermediate(root, pki.Spec{IsCA: true, MaxPathLen: 1}), root)
		}, title: "Replace the root CN=Old Root", manual: "a new root changes the mesh's trust", notInCommands: "-signkey"},
	} {
		t.Run(name, func(t *testing.T) {
			l := newMeshLab(t)
			c.setup(l)
			fd := l.run()["mesh-ca-expired"]
			if fd.Severity != SeverityFail || len(fd.Fix) != 1 {
				t.Fatalf("mesh-ca-expired %s %q with %d steps, want a failure with one step", fd.Severity, fd.Summary, len(fd.Fix))
			}
			st := fd.Fix[0]
			all := strings.Join(st.Commands, "\n")
			if st.Title != c.title || !strings.Contains(st.Manual, c.manual) || (c.manual == "") != (st.Manual == "") {
				t.Errorf("step %q (manual %q), want %q (manual %q)", st.Title, st.Manual, c.title, c.manual)
			}
			for _, want := range c.commands {
				if !strings.Contains(all, want) {
					t.Errorf("commands lack %q:\n%s", want, all)
				}
			}
			if c.notInCommands != "" && strings.Contains(all, c.notInCommands) {
				t.Errorf("commands hold %q:\n%s", c.notInCommands, all)
			}
			checkStepRules(t, fd.ID, 0, st, judgedPaths(nil))
		})
	}
}
