package diagnostics

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mtls-doctor/mtls-doctor/internal/stepshim"
	"github.com/mtls-doctor/mtls-doctor/probes"
)

// runStep runs each command of st in a stepshim sandbox, as a user pasting them would.
func runStep(t *testing.T, st Step, inputs map[string]string) {
	t.Helper()
	if err := stepshim.New(t, "").Run(st.Commands, inputs); err != nil {
		t.Fatal(err)
	}
}

// loadAgent reads the agent configuration at path as mtls-doctor does.
func loadAgent(t *testing.T, path string) *probes.AgentConfig {
	t.Helper()
	a := probes.LoadAgentConfig(probes.AgentConfigOptions{Path: path, WorkDir: filepath.Dir(path), DynamicPaths: []string{}, Env: []string{}})
	if a.Error != nil {
		t.Fatalf("%s: %v", path, a.Error)
	}
	return &a
}

// TestEditStepRuns runs editStep's commands on real agent configuration files and reads
// them back: values on known lines are rewritten, missing keys join their siblings, a
// missing block is appended, and the file stays valid YAML with a backup beside it.
func TestEditStepRuns(t *testing.T) {
	cases := []struct {
		name, conf string
		edits      []edit
		want       map[agentKeyID]string
	}{
		{
			name: "v2 rewrite and insert",
			conf: "server:\n  host: 10.0.0.5\n  grpcPort: 443\ntls:\n  enable: true\n  cert: /old/agent.crt  # issued 2024\n  key: /old/agent.key\n",
			edits: []edit{{setServerName, "nim.example.com"}, {setCert, "/new dir/agent.crt"},
				{setCA, "/etc/ca's.pem"}, {setSkipVerify, "false"}},
			want: map[agentKeyID]string{setServerName: "nim.example.com", setCert: "/new dir/agent.crt", setCA: "/etc/ca's.pem",
				setSkipVerify: "false", setHost: "10.0.0.5", setKey: "/old/agent.key"},
		},
		{
			name:  "v2 block appended",
			conf:  "server:\n  host: nim.example.com\n  grpcPort: 443\n",
			edits: []edit{{setTLSEnable, "true"}, {setCert, "/a.crt"}, {setKey, "/a.key"}},
			want:  map[agentKeyID]string{setTLSEnable: "true", setCert: "/a.crt", setKey: "/a.key", setPort: "443"},
		},
		{
			name:  "v3 nested",
			conf:  "command:\n    server:\n        host: one.example.com\n        port: 443\n    tls:\n        cert: /a.crt\n",
			edits: []edit{{setServerName, "one.example.com"}, {setCA, "/ca.pem"}, {setCert, "/b.crt"}},
			want:  map[agentKeyID]string{setServerName: "one.example.com", setCA: "/ca.pem", setCert: "/b.crt", setHost: "one.example.com"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "nginx-agent.conf")
			if err := os.WriteFile(file, []byte(tc.conf), 0o640); err != nil {
				t.Fatal(err)
			}
			h := hostOf(&Facts{Agent: loadAgent(t, file)})
			st := h.editStep("edit", "", []string{"agent-config-invalid"}, tc.edits...)
			if st.Manual != "" {
				t.Fatalf("step is manual: %s", st.Manual)
			}
			runStep(t, st, nil)
			got := hostOf(&Facts{Agent: loadAgent(t, file)})
			for s, want := range tc.want {
				if v := got.current(s).Value; v != want {
					data, _ := os.ReadFile(file)
					t.Errorf("%s = %q, want %q; file:\n%s", got.keyName(s), v, want, data)
				}
			}
			if bak, err := os.ReadFile(file + ".bak"); err != nil || string(bak) != tc.conf {
				t.Errorf("backup: %v %q", err, bak)
			}
			if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o640 {
				t.Errorf("mode changed: %v %v", fi.Mode(), err)
			}
		})
	}
}

// writePEM writes c (and its key, when keyPath is set) as PEM files.
func writePEM(t *testing.T, c *testCert, certPath, keyPath string) {
	t.Helper()
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	if keyPath == "" {
		return
	}
	der, err := x509.MarshalPKCS8PrivateKey(c.key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestReissueRuns runs a reissue step with openssl on real files: the new certificate
// keeps the subject, every SAN (and gains the one added), the key and the usages, and
// adds the purpose it lacked; the intermediates after it in the file stay.
func TestReissueRuns(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("openssl is not installed")
		}
		t.Skip("openssl not installed")
	}
	dir := t.TempDir()
	ca := mkCert(t, certSpec{cn: "issuing-ca", ca: true}, nil)
	inter := mkCert(t, certSpec{cn: "inter-ca", ca: true}, ca)
	leaf := mkCert(t, certSpec{cn: "nim.example.com", dns: []string{"nim.example.com", "nim"}, ips: []string{"10.0.0.5"},
		eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, inter)
	certPath, keyPath := filepath.Join(dir, "server cert.pem"), filepath.Join(dir, "server.key")
	writePEM(t, leaf, certPath, keyPath)
	chain, _ := os.ReadFile(certPath)
	chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: inter.cert.Raw})...)
	if err := os.WriteFile(certPath, chain, 0o644); err != nil {
		t.Fatal(err)
	}
	caPath, caKey := filepath.Join(dir, "inter.pem"), filepath.Join(dir, "inter.key")
	writePEM(t, inter, caPath, caKey)

	r := reissuance{host: HostManager, cert: certPath, key: keyPath, leaf: leaf.cert, caCert: "<server-ca-cert-path>",
		caKey: "<server-ca-key-path>", eku: "serverAuth", addIP: []string{"127.0.0.1"}, keepChain: true}
	st := r.step("reissue", "", "server-name-mismatch")
	runStep(t, st, map[string]string{"<server-ca-cert-path>": caPath, "<server-ca-key-path>": caKey})

	data, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	var got []*x509.Certificate
	for b, rest := pem.Decode(data); b != nil; b, rest = pem.Decode(rest) {
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, c)
	}
	if len(got) != 2 || !got[1].Equal(inter.cert) {
		t.Fatalf("the file holds %d certificates, want the new leaf and the intermediate", len(got))
	}
	n := got[0]
	if n.Equal(leaf.cert) {
		t.Fatal("the certificate was not replaced")
	}
	if n.Subject.String() != leaf.cert.Subject.String() {
		t.Errorf("subject %q, want %q", n.Subject, leaf.cert.Subject)
	}
	if !slices.Equal(n.DNSNames, leaf.cert.DNSNames) {
		t.Errorf("DNS SANs %v, want %v kept", n.DNSNames, leaf.cert.DNSNames)
	}
	var ips []string
	for _, ip := range n.IPAddresses {
		ips = append(ips, ip.String())
	}
	if !slices.Equal(ips, []string{"10.0.0.5", "127.0.0.1"}) {
		t.Errorf("IP SANs %v, want the old one kept and 127.0.0.1 added", ips)
	}
	if !slices.Contains(n.ExtKeyUsage, x509.ExtKeyUsageServerAuth) || !slices.Contains(n.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		t.Errorf("EKU %v, want serverAuth added and clientAuth kept", n.ExtKeyUsage)
	}
	if !publicKeysEqual(n.PublicKey, leaf.cert.PublicKey) {
		t.Error("the key changed")
	}
	if err := n.CheckSignatureFrom(inter.cert); err != nil {
		t.Errorf("not signed by the CA named: %v", err)
	}
}
