package gather

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/probes"
)

// TestGatherUpstreams: the upstream links come from the NGINX configuration gathered
// before them, probed unless Offline.
func TestGatherUpstreams(t *testing.T) {
	up := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html><title>upstream here</title></html>"))
	}))
	defer up.Close()
	addr := strings.TrimPrefix(up.URL, "https://")
	conf := writeConf(t, "nginx.conf", "events {}\nhttp { server { listen 80; location / { proxy_pass https://"+addr+"; } } }\n")
	quiet := probes.NginxOptions{NoBinary: true, NIMFiles: []string{}, NIM1Paths: []string{}, Config: conf}

	for _, offline := range []bool{false, true} {
		c := New(Options{Nginx: quiet, Offline: offline, Timeout: 3 * time.Second})
		f := &diagnostics.Facts{Errors: map[diagnostics.FactKind]string{}}
		ctx := context.Background()
		if err := c.Gather(ctx, diagnostics.FactNginx, f); err != nil {
			t.Fatal(err)
		}
		if err := c.Gather(ctx, diagnostics.FactUpstream, f); err != nil {
			t.Fatal(err)
		}
		if !f.Has(diagnostics.FactUpstream) || len(f.Upstreams.Links) != 1 {
			t.Fatalf("offline %v: upstream facts %+v", offline, f.Upstreams)
		}
		l := f.Upstreams.Links[0]
		if offline {
			if !f.Upstreams.Offline || len(l.Probes) != 0 {
				t.Errorf("offline run probed: %+v", l.Probes)
			}
			continue
		}
		if f.Upstreams.Offline || len(l.Probes) != 1 || l.Probes[0].HTTP == nil || l.Probes[0].HTTP.BodyTitle != "upstream here" {
			t.Errorf("probe: %+v", l.Probes)
		}
	}

	c := New(Options{Nginx: probes.NginxOptions{Off: true}})
	f := &diagnostics.Facts{Errors: map[diagnostics.FactKind]string{}}
	_ = c.Gather(context.Background(), diagnostics.FactNginx, f)
	if err := c.Gather(context.Background(), diagnostics.FactUpstream, f); err == nil || f.Upstreams != nil {
		t.Errorf("no configuration: err %v facts %+v", err, f.Upstreams)
	}
}

// TestUpstreamFactsJSON: the facts marshal (the report and --check -o json may carry
// them) and hold no key material or passphrase.
func TestUpstreamFactsJSON(t *testing.T) {
	dir := t.TempDir()
	pass := writeConf(t, "pass", "hunter2-secret\n")
	conf := writeConf(t, "nginx.conf", "events {}\nhttp { server { location / { proxy_pass https://127.0.0.1:9; proxy_ssl_certificate "+
		dir+"/c.pem; proxy_ssl_certificate_key "+dir+"/k.pem; proxy_ssl_password_file "+pass+"; } } }\n")
	c := New(Options{Nginx: probes.NginxOptions{NoBinary: true, NIMFiles: []string{}, NIM1Paths: []string{}, Config: conf}, Offline: true})
	f := &diagnostics.Facts{Errors: map[diagnostics.FactKind]string{}}
	_ = c.Gather(context.Background(), diagnostics.FactNginx, f)
	if err := c.Gather(context.Background(), diagnostics.FactUpstream, f); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(f.Upstreams)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"passphrases":1`) || strings.Contains(string(b), "hunter2") {
		t.Errorf("json: %s", b)
	}
}
