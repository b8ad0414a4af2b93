package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/internal/nginxtest"
	"github.com/mtls-doctor/mtls-doctor/internal/pki"
)

// labName is the management plane's name: in the server certificate's SANs, NGINX's
// server_name and the agent's server.command.
const labName = "nim.test.local"

// issue signs spec with parent (nil: self-signed), its validity placed around now. Keys
// are ECDSA P-256: quick to make, and what NGINX and Go both take without fuss.
func issue(t testing.TB, parent *pki.Cert, spec pki.Spec) *pki.Cert {
	t.Helper()
	c, err := pki.New(time.Now()).Issue(parent, spec)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newRoot makes a self-signed root CA.
func newRoot(t testing.TB, cn string) *pki.Cert { return issue(t, nil, caSpec(cn)) }

// leafSpec is an end-entity certificate named cn with the given purposes.
func leafSpec(cn string, eku ...x509.ExtKeyUsage) pki.Spec {
	return pki.Spec{CommonName: cn, EKU: eku}
}

// caSpec is a CA named cn.
func caSpec(cn string) pki.Spec { return pki.Spec{CommonName: cn, IsCA: true} }

// expiredSpec is leafSpec valid from 400 days ago until yesterday.
func expiredSpec(cn string, eku ...x509.ExtKeyUsage) pki.Spec {
	s := leafSpec(cn, eku...)
	s.From, s.Until = -400*24*time.Hour, -24*time.Hour
	return s
}

// crlPEM returns a PEM CRL signed by issuer that revokes the given certificates.
func crlPEM(t testing.TB, issuer *pki.Cert, revoked ...*pki.Cert) []byte {
	t.Helper()
	der, err := pki.New(time.Now()).CRL(issuer, revoked...)
	if err != nil {
		t.Fatal(err)
	}
	return pki.CRLPEM(der)
}

// writeCerts writes the certificates, in order, as one PEM file and returns its path.
func writeCerts(t testing.TB, path string, certs ...*pki.Cert) string {
	t.Helper()
	writeFile(t, path, pki.CertsPEM(certs...), 0o644)
	return path
}

// writeKey writes c's key as PKCS#8 PEM with mode 0600 and returns its path.
func writeKey(t testing.TB, path string, c *pki.Cert) string {
	t.Helper()
	if err := pki.WriteKey(path, c); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeFile(t testing.TB, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := pki.WriteFile(path, data, mode); err != nil {
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

	root, inter, server, agent *pki.Cert

	// Files the defaults point at.
	rootPEM     string // the root alone
	caPEM       string // intermediate + root: the agent's tls.ca and NGINX's ssl_client_certificate
	serverChain string // server leaf + intermediate: ssl_certificate
	serverLeaf  string // server leaf alone
	serverKey   string
	agentCert   string
	agentKey    string

	backend *nginxtest.Backend
	srv     nginxtest.Server
	conf    agentConf
	// noNginx leaves NGINX stopped, so the agent's port is closed.
	noNginx bool

	nginx *nginxtest.Instance
}

// newLab builds the healthy lab: every scenario starts from it and breaks one thing.
func newLab(t *testing.T) *lab {
	t.Helper()
	dir := t.TempDir()
	l := &lab{dir: dir}
	l.root = newRoot(t, "nms-ca")
	l.inter = issue(t, l.root, caSpec("nms-int-ca"))
	l.server = issue(t, l.inter, pki.Spec{CommonName: labName, DNSNames: []string{labName},
		IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	l.agent = issue(t, l.root, leafSpec("agent-01.test.local", x509.ExtKeyUsageClientAuth))

	l.rootPEM = writeCerts(t, l.path("root.pem"), l.root)
	l.caPEM = writeCerts(t, l.path("ca.pem"), l.inter, l.root)
	l.serverChain = writeCerts(t, l.path("server-chain.pem"), l.server, l.inter)
	l.serverLeaf = writeCerts(t, l.path("server.crt"), l.server)
	l.serverKey = writeKey(t, l.path("server.key"), l.server)
	l.agentCert = writeCerts(t, l.path("agent.crt"), l.agent)
	l.agentKey = writeKey(t, l.path("agent.key"), l.agent)

	l.backend = nginxtest.StartBackend(t)
	l.srv = nginxtest.Server{
		Port: nginxtest.FreePort(t), SSL: true, HTTP2: true, ServerName: labName,
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
		l.nginx = nginxtest.Start(t, ngx, nginxtest.Config{Dir: ngx, ServerBlock: l.srv.Block()}.String())
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

// check runs `mtls-doctor --check -o json` in-process on the agent configuration.
func check(t *testing.T, agentConfig string) checkResult {
	t.Helper()
	return checkJSON(t, nil, "--agent-config", agentConfig, "--timeout", "2s")
}

// checkJSON runs `mtls-doctor --check -o json ARGS` in-process with stdin (nil: empty),
// bounded by a deadline well above the per-step --timeout, and decodes the report.
func checkJSON(t *testing.T, stdin io.Reader, args ...string) checkResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var stdout, stderr bytes.Buffer
	code := run(ctx, append([]string{"--check", "-o", "json"}, args...), environ{}, stdin, &stdout, &stderr)
	res := checkResult{exit: code, stdout: stdout.String(), stderr: stderr.String()}
	if err := json.Unmarshal(stdout.Bytes(), &res.report); err != nil {
		t.Fatalf("exit %d, stdout is not the JSON report (%v)\nstdout:\n%s\nstderr:\n%s", code, err, res.stdout, res.stderr)
	}
	return res
}
