package probes

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mtls-doctor/mtls-doctor/internal/pki"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// TestMatchingKeys: for an ssl_certificate_key holding another certificate's key, the key
// that does belong to the certificate is found beside it (by public key, not by name);
// none is named when it is elsewhere, and nothing is looked for when the pair matches.
func TestMatchingKeys(t *testing.T) {
	dir := t.TempDir()
	server := tpIssue(t, nil, pki.Spec{CommonName: "nim.test.local"})
	other := tpIssue(t, nil, pki.Spec{CommonName: "other"})
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cert := write("server.pem", pki.CertsPEM(server))
	wrong := write("server.key", tpKeyPEM(t, other, pki.PKCS8))
	write("a-notes.txt", []byte("not a key"))
	right := write("zz renamed.key", tpKeyPEM(t, server, pki.SEC1))
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(right, filepath.Join(dir, "b-link.key")); err != nil {
		t.Fatal(err)
	}
	load := func(key string) *NginxServer {
		conf := "events {}\nhttp { server { listen 443 ssl; ssl_certificate " + cert + "; ssl_certificate_key \"" + key +
			"\"; location /f5.nginx.agent.sdk.Commander { grpc_pass grpc://127.0.0.1:1; } } }\n"
		cfg, err := nginxconf.Parse(filepath.Join(dir, "nginx.conf"), []byte(conf), nginxconf.Options{})
		if err != nil {
			t.Fatal(err)
		}
		n := NewNginxFacts(cfg, NginxFile, 0)
		if len(n.Servers) != 1 {
			t.Fatalf("%d agent servers", len(n.Servers))
		}
		fileCache{}.load(n.Servers[0])
		return n.Servers[0]
	}
	if got := load(wrong).MatchingKeys; len(got) != 1 || got[0] != filepath.Join(dir, "b-link.key") {
		t.Errorf("MatchingKeys = %q, want the symlink to the right key (first by name)", got)
	}
	if got := load(right).MatchingKeys; got != nil {
		t.Errorf("MatchingKeys = %q for a matching pair, want nil", got)
	}
	for _, p := range []string{right, filepath.Join(dir, "b-link.key")} {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	got := load(wrong).MatchingKeys
	if len(got) != 1 || got[0] != "" {
		t.Errorf("MatchingKeys = %q with no right key beside, want one empty entry", got)
	}
	if strings.Contains(strings.Join(got, ""), "PRIVATE") {
		t.Errorf("key material in %q", got)
	}
}
