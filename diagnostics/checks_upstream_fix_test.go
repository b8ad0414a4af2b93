package diagnostics

import (
	"strings"
	"testing"

	"github.com/mtls-doctor/mtls-doctor/probes"
)

// TestUpstreamRejectedSteps: the steps of a refused client certificate follow how the
// upstream refused it. An NGINX upstream's 400 is read in its error log, then the
// certificate is reissued with a new key (a revocation); a service that aborts with an
// alert is read in its journal, its allow-list gets the front's subject and the service
// restarts; a 403 after a verified handshake goes straight to the allow-list, with nginx
// -t and a reload. Every step but the reissue runs on the upstream's host.
func TestUpstreamRejectedSteps(t *testing.T) {
	type want struct {
		host  Host
		title string // the title starts with this
		cmd   string // a command holds this
	}
	cases := []struct {
		name   string
		mutate func(p *probes.UpstreamProbe)
		want   []want
	}{
		{name: "NGINX 400", mutate: func(p *probes.UpstreamProbe) {
			p.HTTP = &probes.HTTPObservation{Status: 400, BodyTitle: "400 The SSL certificate error"}
		}, want: []want{
			{HostUpstream, "Read the upstream's reason in its error log", "'client SSL certificate verify error|client sent no required SSL certificate' '<upstream-error-log>'"},
			{"", "If it says the certificate is revoked", "openssl genpkey"},
		}},
		{name: "alert 42", mutate: func(p *probes.UpstreamProbe) {
			p.HTTP = nil
			p.TLS.Error = &probes.ProbeError{Kind: probes.ErrTLSAlert, Alert: 42, Message: "remote error: tls: bad certificate"}
		}, want: []want{
			{HostUpstream, "Read the upstream's reason in its service's log", "journalctl -u '<upstream-service>'"},
			{HostUpstream, "Add NGINX's certificate subject", "sudo systemctl restart '<upstream-service>'"},
			{"", "If it says the certificate is revoked", "openssl genpkey"},
		}},
		{name: "403", mutate: func(p *probes.UpstreamProbe) {
			p.HTTP = &probes.HTTPObservation{Status: 403, BodyTitle: "403 Forbidden"}
		}, want: []want{
			{HostUpstream, "Add NGINX's certificate subject", "sudo nginx -t"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := upstreamHost(t)
			tc.mutate(f.Upstreams.Links[0].Probes[0])
			fd := runID(t, f, "upstream-client-cert-rejected")
			if fd.Severity < SeverityWarn {
				t.Fatalf("%s %q, want a problem", fd.Severity, fd.Summary)
			}
			if len(fd.Fix) != len(tc.want) {
				t.Fatalf("%d steps, want %d: %+v", len(fd.Fix), len(tc.want), fd.Fix)
			}
			for i, w := range tc.want {
				st := fd.Fix[i]
				if st.Host != w.host || !strings.HasPrefix(st.Title, w.title) || st.Manual != "" ||
					!strings.Contains(strings.Join(st.Commands, "\n"), w.cmd) {
					t.Errorf("step %d: host %q %q manual %q %q, want host %q %q… holding %q", i+1, st.Host, st.Title, st.Manual, st.Commands, w.host, w.title, w.cmd)
				}
			}
			for _, st := range fd.Fix {
				if strings.HasPrefix(st.Title, "Add NGINX's") && !strings.Contains(strings.Join(st.Commands, "\n"), "grep -qxF CN=front-proxy '<upstream-allow-list-path>'") {
					t.Errorf("the allow-list step does not add the certificate's subject: %q", st.Commands)
				}
			}
		})
	}
}

// TestUpstreamNotTLSSteps: a plaintext upstream gets the front's TLS port first, then
// TLS on the upstream's listen of the port the front uses; never http://.
func TestUpstreamNotTLSSteps(t *testing.T) {
	f, _ := upstreamHost(t)
	p := f.Upstreams.Links[0].Probes[0]
	p.HTTP = nil
	p.TLS = &probes.TLSObservation{Error: &probes.ProbeError{Kind: probes.ErrNotTLS, Message: "first record does not look like a TLS handshake"}}
	fd := runID(t, f, "upstream-not-tls")
	if fd.Severity != SeverityFail || len(fd.Fix) != 2 {
		t.Fatalf("%s %q, %d steps", fd.Severity, fd.Summary, len(fd.Fix))
	}
	if fd.Fix[0].Host != "" || !strings.Contains(fd.Fix[0].Diff, "proxy_pass <upstream-url>;") {
		t.Errorf("step 1: %+v", fd.Fix[0])
	}
	up := strings.Join(fd.Fix[1].Commands, "\n")
	if fd.Fix[1].Host != HostUpstream || !strings.Contains(up, ")?8443") || !strings.Contains(up, "s/;/ ssl;/") ||
		!strings.Contains(up, `ssl_certificate "<upstream-cert-path>";`) {
		t.Errorf("step 2: %s %q", fd.Fix[1].Host, fd.Fix[1].Commands)
	}
	for _, st := range fd.Fix {
		if strings.Contains(strings.Join(st.Commands, "\n")+st.Diff, "http://") {
			t.Errorf("%q switches the link to plaintext", st.Title)
		}
	}
}
