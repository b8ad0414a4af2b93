package probes

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// TestFindLocalTerminators: a link to a port this configuration serves with ssl is
// matched to the server block NGINX picks for its SNI (the default server without
// SNI), with the block its SSL name would pick when that differs.
func TestFindLocalTerminators(t *testing.T) {
	p := newUpstreamPKI(t)
	conf := fmt.Sprintf(`http {
  server {
    listen 127.0.0.1:8443 ssl default_server;
    server_name default.test;
    ssl_certificate %[1]s; ssl_certificate_key %[2]s;
    ssl_client_certificate %[3]s; ssl_verify_client on;
  }
  server {
    listen 127.0.0.1:8443 ssl;
    server_name upstream.test;
    ssl_certificate %[1]s; ssl_certificate_key %[2]s;
    ssl_client_certificate %[4]s; ssl_verify_client on; ssl_verify_depth 2;
  }
  server {
    listen 127.0.0.1:8080;
    location /nosni { proxy_pass https://127.0.0.1:8443; proxy_ssl_name upstream.test; }
    location /sni { proxy_pass https://localhost:8443; proxy_ssl_name upstream.test; proxy_ssl_server_name on; }
    location /plain { proxy_pass https://127.0.0.1:8080; }
    location /remote { proxy_pass https://10.9.9.9:8443; }
  }
}`, p.server, filepath.Join(p.dir, "server.key"), p.clientCA, p.serverCA)
	cfg, err := nginxconf.Parse("/front.conf", []byte(conf), nginxconf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	servers := cfg.HTTPServers()
	uf := LoadUpstreams(cfg, nil, "1.22.1")
	FindLocalTerminators(uf, servers, nil)
	byPath := map[string]*UpstreamLinkFacts{}
	for _, l := range uf.Links {
		byPath[l.Location.Path] = l
	}
	nosni := byPath["/nosni"].Local
	if len(nosni) != 1 || nosni[0].Address != "127.0.0.1:8443" || nosni[0].Server.Server != servers[0] {
		t.Fatalf("/nosni: %+v", nosni)
	}
	if nosni[0].ByName == nil || nosni[0].ByName.Server != servers[1] {
		t.Errorf("/nosni: the name picks the second block: %+v", nosni[0].ByName)
	}
	if ca := nosni[0].Server.ClientCA; ca == nil || ca.Path != p.clientCA || len(ca.Certs) != 1 {
		t.Errorf("/nosni: client CA facts %+v", ca)
	}
	sni := byPath["/sni"].Local
	if len(sni) != 1 || sni[0].Server.Server != servers[1] || sni[0].ByName != nil || sni[0].Server.SSL.VerifyDepth.Value != "2" {
		t.Errorf("/sni: %+v", sni)
	}
	// One block loaded once, shared by the links that reach it.
	if sni[0].Server != nosni[0].ByName {
		t.Error("the same block was loaded twice")
	}
	if _, err := json.Marshal(uf); err != nil {
		t.Errorf("facts with local terminators do not marshal: %v", err)
	}
	for _, path := range []string{"/plain", "/remote"} {
		if l := byPath[path].Local; len(l) != 0 {
			t.Errorf("%s: %+v", path, l)
		}
	}
}
