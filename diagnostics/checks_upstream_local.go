package diagnostics

import (
	"crypto/x509"

	"github.com/mtls-doctor/mtls-doctor/probes"
)

// The offline verdict: when the upstream is a server block of the same NGINX configuration
// (probes.LocalTerminator), NGINX's verdict on the front's client certificate is predicted
// with OpenSSL's rules from that block's ssl_verify_client, CA files, verify depth and CRL,
// as the manager side predicts it for an agent — without a probe. Unlike Go (the agent),
// OpenSSL as NGINX's client sends its certificate whatever CA names the upstream
// advertises, so the verdict is OpenSSL's on the chain sent.

// localVerdict is the predicted verdict of the upstream's own server block.
type localVerdict struct {
	server *probes.NginxServer
	v      nginxVerdict
	// noCert is true when the block requires a certificate and the link sends none.
	noCert bool
}

// upstreamLocalVerdict predicts the verdict of the first local terminator of l that asks
// for a client certificate; ok is false when there is none or its files are not readable.
func upstreamLocalVerdict(f *Facts, l *probes.UpstreamLinkFacts) (localVerdict, bool) {
	for _, lt := range l.Local {
		s := lt.Server
		if s == nil {
			continue
		}
		mode := s.SSL.VerifyClient.Value
		if mode != "on" && mode != "optional" && mode != "optional_no_ca" {
			continue
		}
		if _, ok := predictable(f, s); !ok {
			continue
		}
		if !certConfigured(l) {
			if mode == "on" {
				return localVerdict{server: s, noCert: true}, true
			}
			continue
		}
		if l.Cert == nil || len(l.Cert.Certs) == 0 {
			continue
		}
		var crls []*x509.RevocationList
		crlCheck := s.SSL.CRL.IsSet() && s.CRL != nil && s.CRL.Exists && s.CRL.ReadError == ""
		if crlCheck {
			crls = s.CRL.CRLs
		}
		// nil advertised names: OpenSSL sends the chain whatever the upstream asks for.
		v := predictNginx(l.Cert.Certs, mode, verifyStore(s), nil, crlCheck, crls, atoiOr(s.SSL.VerifyDepth.Value, 1), f.Now)
		return localVerdict{server: s, v: v}, true
	}
	return localVerdict{}, false
}

// code is OpenSSL's verify error of the prediction, 0 when the chain verifies.
func (lv localVerdict) code() int {
	if e, failed := lv.v.Verify.Last(); failed {
		return e.Code
	}
	return 0
}

// result is the finding for a predicted refusal: NGINX's own line, and where the
// upstream's block is.
func (lv localVerdict) result(code string) Result {
	line := lv.v.LogLine()
	if lv.noCert {
		line = "client sent no required SSL certificate"
	}
	r := Fail("the upstream's server block (%s, on this host) would refuse the front's request: %s", serverLabel(lv.server), line).
		Because(code).With(Quoted(lv.server.Pos(), "what the upstream's NGINX would log, predicted offline", line))
	r.Cause.OpenSSL = lv.code()
	return r
}
