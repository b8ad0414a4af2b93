package diagnostics

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/probes"
)

// testNow is the pinned instant of every catalog test; certificates are dated around it.
var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// testCert is a generated certificate with its key.
type testCert struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// certSpec describes a certificate to generate. Zero values give a one-year ECDSA P-256
// leaf valid from 30 days before testNow.
type certSpec struct {
	cn        string
	ca        bool
	dns       []string
	ips       []string
	eku       []x509.ExtKeyUsage
	keyUsage  x509.KeyUsage
	notBefore time.Time
	notAfter  time.Time
	rsaBits   int
}

var serial int64

// mkCert issues spec from parent (self-signed when parent is nil).
func mkCert(t testing.TB, spec certSpec, parent *testCert) *testCert {
	t.Helper()
	var key crypto.Signer
	var err error
	if spec.rsaBits > 0 {
		key, err = rsa.GenerateKey(rand.Reader, spec.rsaBits)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	if spec.notBefore.IsZero() {
		spec.notBefore = testNow.AddDate(0, 0, -30)
	}
	if spec.notAfter.IsZero() {
		spec.notAfter = spec.notBefore.AddDate(1, 0, 0)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: spec.cn},
		NotBefore: spec.notBefore, NotAfter: spec.notAfter,
		DNSNames: spec.dns, ExtKeyUsage: spec.eku, KeyUsage: spec.keyUsage,
		BasicConstraintsValid: true, IsCA: spec.ca,
	}
	for _, ip := range spec.ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	if spec.ca {
		tmpl.KeyUsage |= x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	}
	issuer, signer := tmpl, key
	if parent != nil {
		issuer, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCert{cert: c, key: key}
}

// testPKI mirrors the seeds' make_certs.sh: root → intermediate → server; the agent's
// certificate is issued by the root.
type testPKI struct {
	root, inter, server, agent *testCert
}

func newPKI(t testing.TB) *testPKI {
	t.Helper()
	p := &testPKI{}
	p.root = mkCert(t, certSpec{cn: "nms-ca", ca: true, notAfter: testNow.AddDate(10, 0, 0)}, nil)
	p.inter = mkCert(t, certSpec{cn: "nms-int-ca", ca: true, notAfter: testNow.AddDate(5, 0, 0)}, p.root)
	p.server = mkCert(t, certSpec{cn: "nim.example.com", dns: []string{"nim.example.com", "localhost"},
		eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, p.inter)
	p.agent = mkCert(t, certSpec{cn: "agent-1.example.com",
		eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, keyUsage: x509.KeyUsageDigitalSignature}, p.root)
	return p
}

func fileSetting(v string, line int) probes.Setting {
	return probes.Setting{Value: v, Source: probes.Source{Kind: probes.SourceFile, Name: "/etc/nginx-agent/nginx-agent.conf", Line: line}}
}

// certFile describes a PEM file holding certs.
func certFile(role probes.FileRole, path string, certs ...*x509.Certificate) *probes.FileFacts {
	ff := &probes.FileFacts{Role: role, Path: path, Exists: true, Mode: 0o644, Encoding: "pem", Certs: certs}
	for i := range certs {
		ff.Blocks = append(ff.Blocks, probes.PEMBlock{Type: "CERTIFICATE", Line: 1 + 20*i})
	}
	return ff
}

func keyFile(path string, c *testCert) *probes.FileFacts {
	return &probes.FileFacts{Role: probes.RoleKey, Path: path, Exists: true, Mode: 0o600, Encoding: "pem",
		Blocks: []probes.PEMBlock{{Type: "PRIVATE KEY", Line: 1}},
		Key:    &probes.KeyFacts{Algorithm: "ECDSA", Bits: 256, Encoding: "PKCS#8", Public: c.key.Public()}}
}

func grpcOK() *probes.HTTPObservation {
	zero := 0
	return &probes.HTTPObservation{Status: 200, Proto: "HTTP/2.0", ContentType: "application/grpc", GRPCStatus: &zero, Date: testNow}
}

func nginx400(title string) *probes.HTTPObservation {
	return &probes.HTTPObservation{Status: 400, Proto: "HTTP/2.0", ContentType: "text/html", BodyTitle: "400 " + title, Date: testNow}
}

// healthyFacts is an agent v2 host whose every check passes against p.
func healthyFacts(p *testPKI) *Facts {
	tlsObs := func(sent bool) *probes.TLSObservation {
		return &probes.TLSObservation{Version: 0x0304, CipherSuite: 0x1301, ALPN: "h2",
			PeerChain: []*x509.Certificate{p.server.cert, p.inter.cert}, CertRequested: true,
			AcceptableCAs: [][]byte{p.root.cert.RawSubject}, ClientCertSent: sent, ClientChainLen: map[bool]int{true: 1}[sent]}
	}
	return &Facts{
		Now: testNow, Thresholds: DefaultThresholds(), Errors: map[FactKind]string{},
		Agent: &probes.AgentConfig{
			Path: "/etc/nginx-agent/nginx-agent.conf", Format: probes.FormatV2,
			Host: fileSetting("nim.example.com", 2), Port: fileSetting("443", 3),
			TLSEnabled: fileSetting("true", 5), Cert: fileSetting("/etc/nginx-agent/agent.crt", 6),
			Key: fileSetting("/etc/nginx-agent/agent.key", 7), CA: fileSetting("/etc/nginx-agent/ca.pem", 8),
			SkipVerify: fileSetting("false", 9),
		},
		Files: &probes.AgentFiles{
			Cert: certFile(probes.RoleCert, "/etc/nginx-agent/agent.crt", p.agent.cert),
			Key:  keyFile("/etc/nginx-agent/agent.key", p.agent),
			CA:   certFile(probes.RoleCA, "/etc/nginx-agent/ca.pem", p.root.cert),
		},
		Endpoint: &probes.EndpointReport{
			Address: "nim.example.com:443", ServerName: "nim.example.com", VerifyName: "nim.example.com",
			Authority: "nim.example.com", Path: probes.PathV2CommandChannel,
			DNSAddrs: []string{"10.0.0.5"}, TCPAddr: "10.0.0.5:443",
			Agent:  &probes.Attempt{WithClientCert: true, TLS: tlsObs(true), HTTP: grpcOK()},
			NoCert: &probes.Attempt{TLS: tlsObs(false), HTTP: nginx400(titleNoCert)},
		},
	}
}

// TestCertExpiry: what the Certificates screen shows is what the expiry checks say,
// short-lived certificates judged by the share of their lifetime left.
func TestCertExpiry(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	th := DefaultThresholds()
	cert := func(from, until time.Duration) *x509.Certificate {
		return &x509.Certificate{NotBefore: now.Add(from), NotAfter: now.Add(until)}
	}
	for _, c := range []struct {
		name string
		c    *x509.Certificate
		sev  Severity
		text string
	}{
		{"expired", cert(-48*time.Hour, -24*time.Hour), SeverityFail, "expired 2026-11-29 12:00:00 UTC (1 day ago)"},
		{"not yet valid", cert(2*time.Hour, 48*time.Hour), SeverityFail, "not valid until 2026-11-30 14:00:00 UTC (in 2 hours)"},
		{"a year left", cert(-time.Hour, 365*24*time.Hour), SeverityOK, "365 days left"},
		{"20 days left", cert(-300*24*time.Hour, 20*24*time.Hour), SeverityWarn, "20 days left"},
		// A 24-hour certificate with 12 hours left has half its life: fine on its own scale.
		{"short-lived, half left", cert(-12*time.Hour, 12*time.Hour), SeverityOK, "50% of its"},
		{"short-lived, 10% left", cert(-(21*time.Hour + 36*time.Minute), 144*time.Minute), SeverityWarn, "10% of its"},
	} {
		sev, text := CertExpiry(c.c, now, th)
		if sev != c.sev || !strings.Contains(text, c.text) {
			t.Errorf("%s: %s %q, want %s with %q", c.name, sev, text, c.sev, c.text)
		}
	}
}
