package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxlab"
)

// labName is the management plane's name: in the server certificate's SANs, NGINX's
// server_name and the agent's server.command.
const labName = "nim.test.local"

// labCert is a certificate generated at test time with its key (ECDSA P-256: quick to
// make, and what NGINX and Go both take without fuss).
type labCert struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// certSpec says what to issue. Zero values give a one-year leaf valid from an hour ago.
type certSpec struct {
	subject   pkix.Name
	dns       []string
	ips       []net.IP
	ca        bool
	eku       []x509.ExtKeyUsage
	notBefore time.Time
	notAfter  time.Time
}

// newRoot makes a self-signed root CA.
func newRoot(t testing.TB, cn string) *labCert {
	t.Helper()
	return issue(t, nil, certSpec{subject: pkix.Name{Organization: []string{"mtls-doctor lab"}, CommonName: cn}, ca: true})
}

// issue signs spec with parent (nil: self-signed).
func (parent *labCert) issue(t testing.TB, spec certSpec) *labCert {
	t.Helper()
	return issue(t, parent, spec)
}

func issue(t testing.TB, parent *labCert, spec certSpec) *labCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if spec.notBefore.IsZero() {
		spec.notBefore = now.Add(-time.Hour)
	}
	if spec.notAfter.IsZero() {
		spec.notAfter = now.Add(365 * 24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               spec.subject,
		NotBefore:             spec.notBefore,
		NotAfter:              spec.notAfter,
		BasicConstraintsValid: true,
		IsCA:                  spec.ca,
		DNSNames:              spec.dns,
		IPAddresses:           spec.ips,
		ExtKeyUsage:           spec.eku,
	}
	if spec.ca {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	}
	signer, signerKey := tmpl, crypto.Signer(key)
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, key.Public(), signerKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &labCert{cert: c, key: key}
}

// leafSpec is an end-entity certificate named cn with the given purposes.
func leafSpec(cn string, eku ...x509.ExtKeyUsage) certSpec {
	return certSpec{subject: pkix.Name{Organization: []string{"mtls-doctor lab"}, CommonName: cn}, eku: eku}
}

// caSpec is an intermediate CA named cn.
func caSpec(cn string) certSpec {
	return certSpec{subject: pkix.Name{Organization: []string{"mtls-doctor lab"}, CommonName: cn}, ca: true}
}

// crlPEM returns a PEM CRL signed by c that revokes the given certificates.
func (c *labCert) crlPEM(t testing.TB, revoked ...*labCert) []byte {
	t.Helper()
	var entries []x509.RevocationListEntry
	for _, r := range revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: r.cert.SerialNumber,
			RevocationTime: time.Now().Add(-time.Hour)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    big.NewInt(1),
		ThisUpdate:                time.Now().Add(-time.Hour),
		NextUpdate:                time.Now().Add(7 * 24 * time.Hour),
		RevokedCertificateEntries: entries,
	}, c.cert, c.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

// writeCerts writes the certificates, in order, as one PEM file and returns its path.
func writeCerts(t testing.TB, path string, certs ...*labCert) string {
	t.Helper()
	var b bytes.Buffer
	for _, c := range certs {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw})
	}
	writeFile(t, path, b.Bytes(), 0o644)
	return path
}

// writeKey writes c's key as PKCS#8 PEM with mode 0600 and returns its path.
func writeKey(t testing.TB, path string, c *labCert) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(c.key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	return path
}

func writeFile(t testing.TB, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
}

// agentConf is the Agent v2 nginx-agent.conf a scenario writes.
type agentConf struct {
	host      string
	port      int
	command   string
	tlsEnable bool
	cert, key string
	ca        string
}

func (a agentConf) yaml() string {
	var b strings.Builder
	fmt.Fprintf(&b, "server:\n  host: %s\n  grpcPort: %d\n", a.host, a.port)
	if a.command != "" {
		fmt.Fprintf(&b, "  command: %s\n  metrics: %s\n", a.command, a.command)
	}
	fmt.Fprintf(&b, "tls:\n  enable: %t\n", a.tlsEnable)
	for _, kv := range [][2]string{{"cert", a.cert}, {"key", a.key}, {"ca", a.ca}} {
		if kv[1] != "" {
			fmt.Fprintf(&b, "  %s: %s\n", kv[0], kv[1])
		}
	}
	b.WriteString("  skip_verify: false\n")
	return b.String()
}

// lab is one scenario's world: a PKI laid out as the NGINX docs' make_certs.sh lays it out
// (root → intermediate → server; agent issued by the root), the manager's NGINX server
// block, and the agent's configuration. A scenario edits it, then calls start and check.
type lab struct {
	dir string

	root, inter, server, agent *labCert

	// Files the defaults point at.
	rootPEM     string // the root alone
	caPEM       string // intermediate + root: the agent's tls.ca and NGINX's ssl_client_certificate
	serverChain string // server leaf + intermediate: ssl_certificate
	serverLeaf  string // server leaf alone
	serverKey   string
	agentCert   string
	agentKey    string

	backend *nginxlab.Backend
	srv     nginxlab.Server
	conf    agentConf
	// noNginx leaves NGINX stopped, so the agent's port is closed.
	noNginx bool

	nginx *nginxlab.Instance
}

// newLab builds the healthy lab: every scenario starts from it and breaks one thing.
func newLab(t *testing.T) *lab {
	t.Helper()
	dir := t.TempDir()
	l := &lab{dir: dir}
	l.root = newRoot(t, "nms-ca")
	l.inter = l.root.issue(t, caSpec("nms-int-ca"))
	l.server = l.inter.issue(t, certSpec{
		subject: pkix.Name{Organization: []string{"mtls-doctor lab"}, CommonName: labName},
		dns:     []string{labName}, ips: []net.IP{net.IPv4(127, 0, 0, 1)},
		eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	l.agent = l.root.issue(t, leafSpec("agent-01.test.local", x509.ExtKeyUsageClientAuth))

	l.rootPEM = writeCerts(t, l.path("root.pem"), l.root)
	l.caPEM = writeCerts(t, l.path("ca.pem"), l.inter, l.root)
	l.serverChain = writeCerts(t, l.path("server-chain.pem"), l.server, l.inter)
	l.serverLeaf = writeCerts(t, l.path("server.crt"), l.server)
	l.serverKey = writeKey(t, l.path("server.key"), l.server)
	l.agentCert = writeCerts(t, l.path("agent.crt"), l.agent)
	l.agentKey = writeKey(t, l.path("agent.key"), l.agent)

	l.backend = nginxlab.StartBackend(t)
	l.srv = nginxlab.Server{
		Port: nginxlab.FreePort(t), SSL: true, HTTP2: true, ServerName: labName,
		Cert: l.serverChain, Key: l.serverKey, ClientCA: l.caPEM, VerifyClient: "on",
		Backend: l.backend.Addr(),
	}
	l.conf = agentConf{host: "127.0.0.1", command: labName, tlsEnable: true,
		cert: l.agentCert, key: l.agentKey, ca: l.caPEM}
	return l
}

// path is a file in the lab's directory.
func (l *lab) path(name string) string { return filepath.Join(l.dir, name) }

// start writes the agent configuration and starts NGINX (unless noNginx). The agent's
// port defaults to NGINX's.
func (l *lab) start(t *testing.T) string {
	t.Helper()
	if l.conf.port == 0 {
		l.conf.port = l.srv.Port
	}
	cfg := l.path("nginx-agent.conf")
	writeFile(t, cfg, []byte(l.conf.yaml()), 0o644)
	if !l.noNginx {
		ngx := filepath.Join(l.dir, "nginx")
		if err := os.Mkdir(ngx, 0o755); err != nil {
			t.Fatal(err)
		}
		l.nginx = nginxlab.Start(t, ngx, nginxlab.Config{Dir: ngx, ServerBlock: l.srv.Block()}.String())
	}
	return cfg
}

// checkResult is one `mtls-doctor --check -o json` run.
type checkResult struct {
	exit   int
	report diagnostics.JSONReport
	stdout string
	stderr string
}

// find returns the finding with the given ID.
func (r checkResult) find(id string) (diagnostics.JSONFinding, bool) {
	for _, f := range r.report.Findings {
		if f.ID == id {
			return f, true
		}
	}
	return diagnostics.JSONFinding{}, false
}

// bySeverity lists the IDs of the findings with severity sev, in report order.
func (r checkResult) bySeverity(sev string) []string {
	var ids []string
	for _, f := range r.report.Findings {
		if f.Severity == sev {
			ids = append(ids, f.ID)
		}
	}
	return ids
}

// excerpt is the JSON of the findings that are not ok or skipped, for failure messages.
func (r checkResult) excerpt() string {
	var keep []diagnostics.JSONFinding
	for _, f := range r.report.Findings {
		if f.Severity == "fail" || f.Severity == "warn" {
			f.Fix = nil
			keep = append(keep, f)
		}
	}
	b, _ := json.MarshalIndent(keep, "", "  ")
	return string(b)
}

// check runs the CLI in-process on the agent configuration, bounded by a deadline well
// above the per-step --timeout.
func check(t *testing.T, agentConfig string) checkResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"--check", "-o", "json", "--agent-config", agentConfig, "--timeout", "2s"},
		environ{}, strings.NewReader(""), &stdout, &stderr)
	res := checkResult{exit: code, stdout: stdout.String(), stderr: stderr.String()}
	if err := json.Unmarshal(stdout.Bytes(), &res.report); err != nil {
		t.Fatalf("exit %d, stdout is not the JSON report (%v)\nstdout:\n%s\nstderr:\n%s", code, err, res.stdout, res.stderr)
	}
	return res
}
