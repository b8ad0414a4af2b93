package diagnostics

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/mtls-doctor/mtls-doctor/internal/opensslverdict"
	"github.com/mtls-doctor/mtls-doctor/logparse"
	"github.com/mtls-doctor/mtls-doctor/probes"
)

func judgeVerifyOff(f *Facts, l *probes.UpstreamLinkFacts) Result {
	if !l.TLS {
		return Skip("")
	}
	if verifyOn(l) {
		return OK("%s on", l.SSL.Verify.Name).With(upSettingNote(l.SSL.Verify, ""))
	}
	return Warn("NGINX does not verify %s (%s is off): any certificate is accepted", l.Target(), l.SSL.Verify.Name).
		Because(CauseVerifyOff).With(upSettingNote(l.SSL.Verify, ""), passNote(l))
}

func judgeTrustedCA(f *Facts, l *probes.UpstreamLinkFacts) Result {
	if !verifyOn(l) {
		return Skip("")
	}
	ts := l.SSL.TrustedCertificate
	switch {
	case ts.Default():
		return Fail("%s is on without %s: nginx -t fails (\"no %s for %s\")", l.SSL.Verify.Name, ts.Name, ts.Name, l.SSL.Verify.Name).
			Because(CauseNoCAFile).With(upSettingNote(l.SSL.Verify, ""))
	case l.TrustedCA == nil:
		return Skip("")
	case !l.TrustedCA.Exists:
		return Fail("%s %s does not exist", ts.Name, l.TrustedCA.Path).Because(CauseFileMissing).With(upSettingNote(ts, ""))
	case l.TrustedCA.ReadError != "":
		return Fail("%s %s cannot be read: %s", ts.Name, l.TrustedCA.Path, l.TrustedCA.ReadError).Because(CauseUnreadable).With(upSettingNote(ts, ""))
	case len(l.TrustedCA.Certs) == 0:
		return Fail("%s %s holds no certificate", ts.Name, l.TrustedCA.Path).Because(CauseNoCACert).With(upSettingNote(ts, ""))
	}
	return OK("%s %s holds %s", ts.Name, l.TrustedCA.Path, Plural(len(l.TrustedCA.Certs), "certificate"))
}

// verifyFailure is the probe whose verdict carries one of codes (nil: none).
func verifyFailure(l *probes.UpstreamLinkFacts, codes ...int) *probes.UpstreamProbe {
	for _, p := range verdicts(l) {
		for _, c := range codes {
			if p.Verify.Trusted && p.Verify.Code == c {
				return p
			}
		}
	}
	return nil
}

// verdictResult turns a failing verdict into the finding: a failure when NGINX verifies,
// a note of what turning verify on would do when it does not.
func verdictResult(l *probes.UpstreamLinkFacts, p *probes.UpstreamProbe, code string, format string, a ...any) Result {
	text := fmt.Sprintf(format, a...)
	ev := []Evidence{Note("", "NGINX's verdict on %s: (%d:%s)", p.Server.Address, p.Verify.Code, p.Verify.Text), upSettingNote(l.SSL.TrustedCertificate, "")}
	if !verifyOn(l) {
		return Info("%s; %s is off, so NGINX accepts it today (it would fail with verify on)", text, l.SSL.Verify.Name).With(ev...)
	}
	r := Fail("%s: NGINX refuses the upstream and answers 502", text).Because(code).With(ev...)
	r.Cause.OpenSSL = p.Verify.Code
	return r
}

var untrustedCodes = []int{2, 18, 19, 20, 21, 24, 26, 27, 28, 79}

func judgeUpstreamUntrusted(f *Facts, l *probes.UpstreamLinkFacts) Result {
	if len(verdicts(l)) == 0 {
		return notProbed(f, l)
	}
	if dp, _ := depthFailure(f, l); dp != nil {
		return OK("the upstream's certificate chains to %s within a larger verify depth (see upstream-verify-depth)", l.SSL.TrustedCertificate.Value)
	}
	if p := verifyFailure(l, untrustedCodes...); p != nil && !upstreamChainGap(l, p) {
		return verdictResult(l, p, CauseUntrusted, "%s's certificate does not chain to %s (%d:%s)", p.Server.Address,
			firstNonEmpty(l.SSL.TrustedCertificate.Value, "a trusted CA"), p.Verify.Code, p.Verify.Text)
	}
	if !l.SSL.TrustedCertificate.Default() {
		return OK("the upstream's certificate chains to %s", l.SSL.TrustedCertificate.Value)
	}
	return Skip("")
}

// upstreamChainGap reports whether the chain p received stops at an intermediate that
// the link's trusted CA file does not hold while the received chain does name one: the
// upstream sends an incomplete chain (it sends some CA certificates, not the one needed).
func upstreamChainGap(l *probes.UpstreamLinkFacts, p *probes.UpstreamProbe) bool {
	if p.TLS == nil || len(p.TLS.PeerChain) < 2 || l.TrustedCA == nil {
		return false
	}
	chain := WalkChain(p.TLS.PeerChain[0], p.TLS.PeerChain[1:], l.TrustedCA.Certs)
	last := chain.Last()
	return !selfSigned(last) && last != p.TLS.PeerChain[0]
}

// chainGapExplains reports whether a logged "upstream SSL certificate verify error" is an
// incomplete chain from the upstream (upstreamChainGap on the probe's chain) rather than an
// untrusted one: OpenSSL numbers both 20 or 21.
func chainGapExplains(f *Facts, links []*probes.UpstreamLinkFacts, s logparse.Summary) bool {
	if s.Kind != logparse.KindUpstreamCertUntrusted || depthExplains(f, links, s) {
		return false
	}
	l := linkOfUpstream(links, s.Upstream)
	if l == nil {
		return false
	}
	for _, p := range verdicts(l) {
		if p.Verify.Trusted && p.Verify.Code != 0 && upstreamChainGap(l, p) {
			return true
		}
	}
	return false
}

func judgeUpstreamChain(f *Facts, l *probes.UpstreamLinkFacts) Result {
	for _, p := range verdicts(l) {
		if p.Verify.Trusted && p.Verify.Code != 0 && upstreamChainGap(l, p) {
			last := WalkChain(p.TLS.PeerChain[0], p.TLS.PeerChain[1:], l.TrustedCA.Certs).Last()
			return verdictResult(l, p, CauseIntermediateMissing, "%s sends a chain that stops at %s, whose issuer %s is neither sent nor trusted",
				p.Server.Address, certName(last), last.Issuer.String())
		}
	}
	if len(verdicts(l)) == 0 {
		return notProbed(f, l)
	}
	return OK("the upstream sends a chain NGINX can complete")
}

func judgeUpstreamName(f *Facts, l *probes.UpstreamLinkFacts) Result {
	for _, p := range verdicts(l) {
		v := p.Verify
		if v.Name == "" || v.NameMatched || len(p.TLS.PeerChain) == 0 {
			continue
		}
		leaf := p.TLS.PeerChain[0]
		text := fmt.Sprintf("%s's certificate (%s) does not match %q", p.Server.Address, sanText(leaf), v.Name)
		if isIP(v.Name) {
			text += ": NGINX matches DNS names only, never IP addresses"
		}
		ev := []Evidence{upSettingNote(l.SSL.Name, "the name verified"), passNote(l)}
		if !verifyOn(l) {
			return Info("%s; %s is off, so NGINX accepts it today", text, l.SSL.Verify.Name).With(ev...)
		}
		return Fail("%s: NGINX logs \"upstream SSL certificate does not match\" and answers 502", text).Because(CauseNameMismatch).With(ev...)
	}
	if len(verdicts(l)) == 0 {
		return notProbed(f, l)
	}
	return OK("the upstream's certificate matches %q", l.SSLName)
}

func isIP(s string) bool {
	return strings.Trim(s, "0123456789.:abcdefABCDEF[]") == "" && strings.ContainsAny(s, ".:")
}

func judgeUpstreamSNI(f *Facts, l *probes.UpstreamLinkFacts) Result {
	if !l.TLS {
		return Skip("")
	}
	if l.SNI != "" {
		return OK("NGINX sends SNI %q", l.SNI)
	}
	for _, p := range linkProbes(l) {
		if probeAlert(p) == 112 {
			return Fail("%s refused a handshake without SNI (alert 112 unrecognized_name); %s is off", p.Server.Address,
				l.SSL.ServerName.Name).Because(CauseUnrecognizedName).With(upSettingNote(l.SSL.ServerName, ""))
		}
	}
	for _, p := range linkProbes(l) {
		if acceptedVariation(p, probes.VariationSNI) != nil {
			return Skip("skipped: %s refuses a handshake without SNI with alert 40, which upstream-tls-handshake-failed names", p.Server.Address)
		}
	}
	for _, p := range verdicts(l) {
		if p.Verify.Name != "" && !p.Verify.NameMatched && !isIP(p.Verify.Name) {
			return Warn("NGINX sends no SNI (%s is off) and %s answered with a certificate for other names: it may choose by SNI",
				l.SSL.ServerName.Name, p.Server.Address).Because(CauseOtherServerSelected).With(upSettingNote(l.SSL.ServerName, ""))
		}
	}
	return OK("NGINX sends no SNI (%s off) and the upstream did not need one", l.SSL.ServerName.Name)
}

func judgeUpstreamExpired(f *Facts, l *probes.UpstreamLinkFacts) Result {
	if p := verifyFailure(l, 9, 10); p != nil {
		return verdictResult(l, p, CauseExpired, "%s's certificate %s (%d:%s)", p.Server.Address, certName(p.TLS.PeerChain[0]), p.Verify.Code, p.Verify.Text)
	}
	leaf, p := peerLeaf(l)
	if leaf == nil {
		return notProbed(f, l)
	}
	switch lifeOf(leaf, f.Now) {
	case lifeExpired:
		r := Fail("%s's certificate expired %s", p.Server.Address, stamp(leaf.NotAfter)).Because(CauseExpired)
		if !verifyOn(l) {
			return Info("%s's certificate expired %s; %s is off, so NGINX accepts it today", p.Server.Address, stamp(leaf.NotAfter), l.SSL.Verify.Name)
		}
		return r
	}
	return OK("%s's certificate is valid until %s", p.Server.Address, stamp(leaf.NotAfter))
}

func judgeUpstreamVerifyCode(codes ...int) func(f *Facts, l *probes.UpstreamLinkFacts) Result {
	return func(f *Facts, l *probes.UpstreamLinkFacts) Result {
		if len(verdicts(l)) == 0 {
			return notProbed(f, l)
		}
		if p := verifyFailure(l, codes...); p != nil {
			return verdictResult(l, p, CauseRevoked, "%s's certificate fails (%d:%s)", p.Server.Address, p.Verify.Code, p.Verify.Text)
		}
		return OK("NGINX's verification of the upstream does not fail for this reason")
	}
}

// depthFailure is the probe whose chain fails verification at the link's
// *_ssl_verify_depth but passes with a larger one (OpenSSL then logs 22, or 20/2 when the
// chain it may build stops short of the trusted root), and the depth that would pass.
func depthFailure(f *Facts, l *probes.UpstreamLinkFacts) (*probes.UpstreamProbe, int) {
	if l.TrustedCA == nil || len(l.TrustedCA.Certs) == 0 {
		return nil, 0
	}
	depth := atoiOr(l.SSL.VerifyDepth.Value, 1)
	for _, p := range verdicts(l) {
		if p.Verify.Code == 0 || p.TLS == nil || len(p.TLS.PeerChain) == 0 {
			continue
		}
		at := func(d int) bool {
			ov := opensslverdict.Verify{Sent: p.TLS.PeerChain, Trusted: l.TrustedCA.Certs, Depth: d, Now: f.Now, ServerChain: true}
			if l.CRL != nil {
				ov.CRLCheck, ov.CRLs = true, l.CRL.CRLs
			}
			_, failed := ov.Run().Last()
			return !failed
		}
		if at(depth) {
			continue // the failure is not the chain's length at this depth
		}
		for d := depth + 1; d <= depth+4; d++ {
			if at(d) {
				return p, d
			}
		}
	}
	return nil, 0
}

// depthExplains reports whether a logged "unable to get (local) issuer certificate" for an
// upstream is the verify depth's doing: the probe's chain verifies with a larger depth
// (OpenSSL numbers it 20 or 2, not 22, when the depth cuts the chain short).
func depthExplains(f *Facts, links []*probes.UpstreamLinkFacts, s logparse.Summary) bool {
	if s.Kind != logparse.KindUpstreamCertUntrusted {
		return false
	}
	l := linkOfUpstream(links, s.Upstream)
	if l == nil {
		return false
	}
	p, _ := depthFailure(f, l)
	return p != nil
}

func judgeUpstreamDepth(f *Facts, l *probes.UpstreamLinkFacts) Result {
	if len(verdicts(l)) == 0 {
		return notProbed(f, l)
	}
	if p, d := depthFailure(f, l); p != nil {
		r := verdictResult(l, p, CauseVerifyDepth, "%s's chain needs %s %d (it is %s): OpenSSL stops at (%d:%s)", p.Server.Address,
			l.SSL.VerifyDepth.Name, d, firstNonEmpty(l.SSL.VerifyDepth.Value, "1"), p.Verify.Code, p.Verify.Text)
		return r.With(upSettingNote(l.SSL.VerifyDepth, ""))
	}
	return OK("%s %s admits the upstream's chain", l.SSL.VerifyDepth.Name, firstNonEmpty(l.SSL.VerifyDepth.Value, "1"))
}

// isSelfIssued is used where a chain walk needs to know a root without a signature check.
func isSelfIssued(c *x509.Certificate) bool { return bytes.Equal(c.RawIssuer, c.RawSubject) }
