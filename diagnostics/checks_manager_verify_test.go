package diagnostics

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/internal/nginxtest"
	"github.com/mtls-doctor/mtls-doctor/internal/pki"
)

// verifyCase is one client chain against one NGINX server configuration.
type verifyCase struct {
	name string
	// sent is the agent's cert file (leaf first); clientCA is ssl_client_certificate,
	// trusted is ssl_trusted_certificate (nil leaves a directive out).
	sent, clientCA, trusted []*pki.Cert
	mode                    string // ssl_verify_client; "" means on
	depth                   int    // ssl_verify_depth; 0 leaves NGINX's default (1)
	explicitDepth           bool   // write "ssl_verify_depth 0"
	crl                     [][]byte
	// want is the predicted line ("" = accepted); checked against the model alone, and
	// against NGINX in TestPredictionMatchesNginx.
	want string
}

// verifyWorld is a PKI for the prediction tests: root → inter → leaf as NIM's
// make_certs.sh lays it out, and the odd certificates the cases need.
type verifyWorld struct {
	g                                   *pki.Generator
	root, inter, inter2, leaf, deepLeaf *pki.Cert
}

// gen issues certificates and fails the test on error.
type gen struct {
	t testing.TB
	g *pki.Generator
}

func (g gen) root(cn string) *pki.Cert { return g.issue(nil, pki.Spec{CommonName: cn, IsCA: true}) }

func (g gen) issue(parent *pki.Cert, spec pki.Spec) *pki.Cert {
	g.t.Helper()
	c, err := g.g.Issue(parent, spec)
	if err != nil {
		g.t.Fatal(err)
	}
	return c
}

func newVerifyWorld(t testing.TB, now time.Time) *verifyWorld {
	g := gen{t, pki.New(now)}
	w := &verifyWorld{g: g.g}
	w.root = g.root("nms-ca")
	w.inter = g.issue(w.root, pki.Spec{CommonName: "nms-int-ca", IsCA: true})
	w.inter2 = g.issue(w.inter, pki.Spec{CommonName: "nms-int-ca-2", IsCA: true})
	w.leaf = g.issue(w.inter, w.agentSpec())
	w.deepLeaf = g.issue(w.inter2, w.agentSpec())
	return w
}

func (w *verifyWorld) agentSpec() pki.Spec {
	return pki.Spec{CommonName: "agent-1.example.com", EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
}

func (w *verifyWorld) crl(t testing.TB, issuer *pki.Cert, revoked ...*pki.Cert) []byte {
	t.Helper()
	der, err := w.g.CRL(issuer, revoked...)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// verifyCases are the chains whose verdict the model must predict as NGINX gives it.
func verifyCases(t testing.TB, w *verifyWorld) []verifyCase {
	g := gen{t, w.g}
	issue := g.issue
	agent := w.agentSpec()
	expired, notYet := agent, agent
	expired.From, expired.Until = -400*24*time.Hour, -24*time.Hour
	notYet.From, notYet.Until = 48*time.Hour, 400*24*time.Hour
	serverOnly := pki.Spec{CommonName: "agent-1.example.com", EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	anyEKU := pki.Spec{CommonName: "agent-1.example.com", EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	twin := g.root("nms-ca")
	notCA := issue(w.root, pki.Spec{CommonName: "not-a-ca"})
	pathRoot := issue(nil, pki.Spec{CommonName: "path-root", IsCA: true, MaxPathLen: -1})
	pathInter := issue(pathRoot, pki.Spec{CommonName: "path-int", IsCA: true})
	serverEKUInter := issue(w.root, pki.Spec{CommonName: "server-only-int", IsCA: true, EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	expiredInterSpec := pki.Spec{CommonName: "expired-int", IsCA: true, From: -400 * 24 * time.Hour, Until: -24 * time.Hour}
	expiredInter := issue(w.root, expiredInterSpec)
	self := issue(nil, agent)
	old := pki.New(w.g.Now.Add(-30 * 24 * time.Hour))
	staleCRL, err := old.CRL(w.root)
	if err != nil {
		t.Fatal(err)
	}
	return []verifyCase{
		{name: "root-issued", sent: []*pki.Cert{issue(w.root, agent)}, clientCA: []*pki.Cert{w.root}},
		{name: "one-intermediate-sent", sent: []*pki.Cert{w.leaf, w.inter}, clientCA: []*pki.Cert{w.root}},
		{name: "intermediate-in-ca-file", sent: []*pki.Cert{w.leaf}, clientCA: []*pki.Cert{w.inter, w.root}},
		{name: "intermediate-nowhere", sent: []*pki.Cert{w.leaf}, clientCA: []*pki.Cert{w.root},
			want: "client sent no required SSL certificate"},
		{name: "root-missing", sent: []*pki.Cert{w.leaf}, clientCA: []*pki.Cert{w.inter},
			want: "client SSL certificate verify error: (2:unable to get issuer certificate)"},
		{name: "depth-1-two-intermediates-sent", sent: []*pki.Cert{w.deepLeaf, w.inter2, w.inter}, clientCA: []*pki.Cert{w.root},
			want: "client SSL certificate verify error: (20:unable to get local issuer certificate)"},
		{name: "depth-2-two-intermediates-sent", sent: []*pki.Cert{w.deepLeaf, w.inter2, w.inter}, clientCA: []*pki.Cert{w.root}, depth: 2},
		{name: "depth-1-two-intermediates-stored", sent: []*pki.Cert{w.deepLeaf}, clientCA: []*pki.Cert{w.inter2, w.inter, w.root},
			want: "client SSL certificate verify error: (2:unable to get issuer certificate)"},
		{name: "depth-2-two-intermediates-stored", sent: []*pki.Cert{w.deepLeaf}, clientCA: []*pki.Cert{w.inter2, w.inter, w.root}, depth: 2},
		{name: "depth-0-root-issued", sent: []*pki.Cert{issue(w.root, agent)}, clientCA: []*pki.Cert{w.root}, explicitDepth: true},
		{name: "depth-0-one-intermediate", sent: []*pki.Cert{w.leaf, w.inter}, clientCA: []*pki.Cert{w.root}, explicitDepth: true,
			want: "client SSL certificate verify error: (20:unable to get local issuer certificate)"},
		{name: "leaf-expired", sent: []*pki.Cert{issue(w.root, expired)}, clientCA: []*pki.Cert{w.root},
			want: "client SSL certificate verify error: (10:certificate has expired)"},
		{name: "leaf-not-yet-valid", sent: []*pki.Cert{issue(w.root, notYet)}, clientCA: []*pki.Cert{w.root},
			want: "client SSL certificate verify error: (9:certificate is not yet valid)"},
		{name: "intermediate-expired", sent: []*pki.Cert{issue(expiredInter, agent), expiredInter}, clientCA: []*pki.Cert{w.root},
			want: "client SSL certificate verify error: (10:certificate has expired)"},
		{name: "leaf-serverauth-only", sent: []*pki.Cert{issue(w.root, serverOnly)}, clientCA: []*pki.Cert{w.root},
			want: "client SSL certificate verify error: (26:unsuitable certificate purpose)"},
		{name: "leaf-any-eku", sent: []*pki.Cert{issue(w.root, anyEKU)}, clientCA: []*pki.Cert{w.root},
			want: "client SSL certificate verify error: (26:unsuitable certificate purpose)"},
		{name: "intermediate-serverauth-only", sent: []*pki.Cert{issue(serverEKUInter, agent), serverEKUInter}, clientCA: []*pki.Cert{w.root},
			want: "client SSL certificate verify error: (26:unsuitable certificate purpose)"},
		{name: "issuer-not-a-ca", sent: []*pki.Cert{issue(notCA, agent), notCA}, clientCA: []*pki.Cert{w.root},
			want: "client SSL certificate verify error: (32:key usage does not include certificate signing)"},
		{name: "path-length-exceeded", sent: []*pki.Cert{issue(pathInter, agent), pathInter}, clientCA: []*pki.Cert{pathRoot},
			want: "client SSL certificate verify error: (25:path length constraint exceeded)"},
		{name: "leaf-rsa-1024", sent: []*pki.Cert{issue(w.root, pki.Spec{CommonName: "agent-1.example.com", Key: pki.RSA, Bits: 1024,
			EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})}, clientCA: []*pki.Cert{w.root},
			want: "client SSL certificate verify error: (66:EE certificate key too weak)"},
		{name: "leaf-sha1", sent: []*pki.Cert{issue(w.root, pki.Spec{CommonName: "agent-1.example.com", SignatureAlgorithm: x509.ECDSAWithSHA1,
			EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})}, clientCA: []*pki.Cert{w.root},
			want: "client SSL certificate verify error: (68:CA signature digest algorithm too weak)"},
		{name: "recreated-ca", sent: []*pki.Cert{issue(twin, agent)}, clientCA: []*pki.Cert{w.root},
			want: "client SSL certificate verify error: (21:unable to verify the first certificate)"},
		{name: "other-ca", sent: []*pki.Cert{issue(g.root("other-ca"), agent)}, clientCA: []*pki.Cert{w.root},
			want: "client sent no required SSL certificate"},
		{name: "optional-no-ca-other-ca", mode: "optional_no_ca", sent: []*pki.Cert{issue(g.root("other-ca"), agent)},
			trusted: []*pki.Cert{w.root}},
		{name: "optional-no-ca-expired", mode: "optional_no_ca", sent: []*pki.Cert{issue(w.root, expired)},
			trusted: []*pki.Cert{w.root}, want: "client SSL certificate verify error: (10:certificate has expired)"},
		{name: "optional-no-ca-self-signed", mode: "optional_no_ca", sent: []*pki.Cert{self}, trusted: []*pki.Cert{w.root}},
		{name: "optional-other-ca", mode: "optional", sent: []*pki.Cert{issue(g.root("other-ca"), agent)},
			clientCA: []*pki.Cert{w.root}},
		{name: "crl-revoked", sent: []*pki.Cert{w.leaf, w.inter}, clientCA: []*pki.Cert{w.root},
			crl:  [][]byte{w.crl(t, w.inter, w.leaf), w.crl(t, w.root)},
			want: "client SSL certificate verify error: (23:certificate revoked)"},
		{name: "crl-good", sent: []*pki.Cert{w.leaf, w.inter}, clientCA: []*pki.Cert{w.root},
			crl: [][]byte{w.crl(t, w.inter), w.crl(t, w.root)}},
		{name: "crl-missing-for-intermediate", sent: []*pki.Cert{w.leaf, w.inter}, clientCA: []*pki.Cert{w.root},
			crl:  [][]byte{w.crl(t, w.root)},
			want: "client SSL certificate verify error: (3:unable to get certificate CRL)"},
		{name: "crl-expired", sent: []*pki.Cert{issue(w.root, agent)}, clientCA: []*pki.Cert{w.root},
			crl:  [][]byte{staleCRL},
			want: "client SSL certificate verify error: (12:CRL has expired)"},
	}
}

func certsOf(cs []*pki.Cert) []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range cs {
		out = append(out, c.Cert)
	}
	return out
}

func parseCRLs(t testing.TB, ders [][]byte) []*x509.RevocationList {
	var out []*x509.RevocationList
	for _, d := range ders {
		rl, err := x509.ParseRevocationList(d)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rl)
	}
	return out
}

// predict runs the model on a case.
func (c verifyCase) predict(t testing.TB, now time.Time) nginxVerdict {
	mode := c.mode
	if mode == "" {
		mode = "on"
	}
	depth := 1
	if c.depth > 0 || c.explicitDepth {
		depth = c.depth
	}
	var advertised [][]byte
	for _, ca := range c.clientCA {
		advertised = append(advertised, ca.Cert.RawSubject)
	}
	store := append(certsOf(c.clientCA), certsOf(c.trusted)...)
	return predictNginx(certsOf(c.sent), mode, store, advertised, len(c.crl) > 0, parseCRLs(t, c.crl), depth, now)
}

func TestPredictNginxModel(t *testing.T) {
	now := time.Now()
	w := newVerifyWorld(t, now)
	for _, c := range verifyCases(t, w) {
		t.Run(c.name, func(t *testing.T) {
			v := c.predict(t, now)
			if got := v.LogLine(); got != c.want {
				t.Errorf("predicted %q, want %q (errors %v)", got, c.want, v.Verify.Errors)
			}
		})
	}
}

var (
	verifyLineRE = regexp.MustCompile(`\[info\] .*?: \*\d+ (client SSL certificate verify error: \(\d+:[^)]*\)|client sent no required SSL certificate) while reading client request headers, client: [^,]+, server: ([^,]+),`)
	accessRE     = regexp.MustCompile(`host="([^"]*)" ssl=\S* verify=(.*) dn="`)
)

// TestPredictionMatchesNginx is the model's differential test: every case gets its own
// server on one real NGINX; a Go TLS client (Go chooses the certificate as the agent does)
// makes one request, and the line NGINX logs (or its silence and $ssl_client_verify) must
// be the prediction.
func TestPredictionMatchesNginx(t *testing.T) {
	nginxtest.Require(t)
	now := time.Now()
	w := newVerifyWorld(t, now)
	cases := verifyCases(t, w)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	srv := gen{t, w.g}.issue(w.inter, pki.Spec{CommonName: "nim.example.com", DNSNames: []string{"nim.example.com"},
		EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	srvKey, err := srv.KeyPEM(pki.PKCS8)
	if err != nil {
		t.Fatal(err)
	}
	certPath := write("server.pem", pki.CertsPEM(srv, w.inter))
	keyPath := write("server.key", srvKey)

	var conf strings.Builder
	ports := make([]int, len(cases))
	for i, c := range cases {
		ports[i] = nginxtest.FreePort(t)
		s := nginxtest.Server{Port: ports[i], SSL: true, ServerName: fmt.Sprintf("case%d", i), Cert: certPath, Key: keyPath,
			VerifyClient: c.mode, VerifyDepth: c.depth}
		if s.VerifyClient == "" {
			s.VerifyClient = "on"
		}
		if c.clientCA != nil {
			s.ClientCA = write(fmt.Sprintf("client-ca-%d.pem", i), pki.CertsPEM(c.clientCA...))
		}
		extra := "return 200 \"ok\\n\";\n"
		if c.trusted != nil {
			extra += fmt.Sprintf("ssl_trusted_certificate %s;\n", write(fmt.Sprintf("trusted-%d.pem", i), pki.CertsPEM(c.trusted...)))
		}
		if c.explicitDepth {
			extra += "ssl_verify_depth 0;\n"
		}
		if len(c.crl) > 0 {
			var pemCRLs []byte
			for _, d := range c.crl {
				pemCRLs = append(pemCRLs, pki.CRLPEM(d)...)
			}
			s.CRL = write(fmt.Sprintf("crl-%d.pem", i), pemCRLs)
		}
		s.Extra = extra
		conf.WriteString(s.Block())
	}
	inst := nginxtest.Start(t, dir, nginxtest.Config{Dir: dir, ServerBlock: conf.String()}.String())

	for i, c := range cases {
		chain := tls.Certificate{PrivateKey: c.sent[0].Key}
		for _, x := range c.sent {
			chain.Certificate = append(chain.Certificate, x.Cert.Raw)
		}
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{chain}}}
		client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d/", ports[i]), nil)
		req.Host = fmt.Sprintf("case%d", i)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		tr.CloseIdleConnections()
	}
	// Every request has been answered; wait for the last access log line.
	if _, ok := inst.WaitAccessLog(fmt.Sprintf(`host="case%d"`, len(cases)-1), 3*time.Second); !ok {
		t.Fatalf("NGINX did not log the last request:\n%s", inst.AccessLog())
	}
	logged := map[string]string{}
	for _, m := range verifyLineRE.FindAllStringSubmatch(inst.ErrorLog(), -1) {
		logged[m[2]] = m[1]
	}
	verified := map[string]string{}
	for _, m := range accessRE.FindAllStringSubmatch(inst.AccessLog(), -1) {
		verified[m[1]] = m[2]
	}
	for i, c := range cases {
		name := fmt.Sprintf("case%d", i)
		v := c.predict(t, time.Now())
		if got, want := logged[name], v.LogLine(); got != want {
			t.Errorf("%s: NGINX logged %q, the model predicts %q (model errors %v)", c.name, got, want, v.Verify.Errors)
		}
		// $ssl_client_verify shows the result even where optional_no_ca lets it pass.
		wantVerify := "NONE"
		if v.Sent {
			wantVerify = "SUCCESS"
			if e, failed := v.Verify.Last(); failed {
				wantVerify = "FAILED:" + e.Text()
			}
		}
		if v.Outcome == outcomeVerifyError || v.Outcome == outcomeNoCert {
			continue // a 495/496 is logged before $ssl_client_verify is useful
		}
		if got := verified[name]; got != wantVerify {
			t.Errorf("%s: $ssl_client_verify is %q, the model predicts %q", c.name, got, wantVerify)
		}
		t.Logf("%s: %s / %s", c.name, orNone(logged[name]), verified[name])
	}
	if t.Failed() {
		t.Logf("error.log:\n%s", inst.ErrorLog())
	}
}

func orNone(s string) string {
	if s == "" {
		return "(accepted)"
	}
	return s
}
