package diagnostics

import (
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/mtls-doctor/mtls-doctor/logparse"
	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

func certConfigured(l *probes.UpstreamLinkFacts) bool { return !l.SSL.Certificate.Default() }

// foreignCert is a client certificate directive of another pass module in effect here.
func foreignCert(l *probes.UpstreamLinkFacts) (nginxconf.UpstreamSetting, bool) {
	for _, s := range l.Foreign {
		if strings.HasSuffix(s.Name, "_ssl_certificate") {
			return s, true
		}
	}
	return nginxconf.UpstreamSetting{}, false
}

func judgeClientCertNotConfigured(f *Facts, l *probes.UpstreamLinkFacts) Result {
	if !l.TLS {
		return Skip("")
	}
	foreign, hasForeign := foreignCert(l)
	var required *probes.UpstreamProbe
	for _, p := range linkProbes(l) {
		if requiresCert(p) && !(p.TLS != nil && p.TLS.ClientCertSent) {
			required = p
			break
		}
	}
	switch {
	case certConfigured(l) && required != nil && l.Cert != nil && len(l.Cert.Certs) > 0 && !issuerAdvertised(l, certRequestedProbe(l)):
		return Skip("") // sent none because its issuer is not advertised: upstream-client-cert-unknown-ca
	case !certConfigured(l) && required != nil:
		r := Fail("%s requires a client certificate and %s sends none", required.Server.Address, l.Module.Directive()).
			Because(CauseNotConfigured).With(Note("", "probe: %s", probeLine(required)), passNote(l))
		if hasForeign {
			r = r.With(upSettingNote(foreign, fmt.Sprintf("does nothing under %s; %s is the directive", l.Module.Directive(),
				sslDirective(l, "certificate"))))
			r.Summary += fmt.Sprintf(" (%s does nothing under %s)", foreign.Name, l.Module.Directive())
			r = r.Because(CauseForeignDirective)
		}
		r.Cause.Alert = probeAlert(required)
		return r
	case !certConfigured(l):
		if lv, ok := upstreamLocalVerdict(f, l); ok && lv.noCert {
			r := lv.result(CauseNotConfigured).With(passNote(l))
			if hasForeign {
				r = r.With(upSettingNote(foreign, fmt.Sprintf("does nothing under %s", l.Module.Directive()))).Because(CauseForeignDirective)
			}
			return r
		}
		if hasForeign {
			return Warn("%s does nothing under %s: the link sends no client certificate", foreign.Name, l.Module.Directive()).
				Because(CauseForeignDirective).With(upSettingNote(foreign, ""), passNote(l))
		}
	}
	switch {
	case certConfigured(l):
		return OK("%s presents %s", l.Target(), l.SSL.Certificate.Value).With(upSettingNote(l.SSL.Certificate, ""))
	case len(linkProbes(l)) == 0:
		return Info("no client certificate is configured for %s (not probed, so whether it requires one is unknown)", l.Target())
	}
	return OK("no client certificate is configured, and %s did not ask for one", l.Target())
}

func judgeClientFiles(f *Facts, l *probes.UpstreamLinkFacts) Result {
	if !certConfigured(l) {
		if !l.SSL.CertificateKey.Default() {
			return Warn("%s is set without %s", l.SSL.CertificateKey.Name, l.SSL.Certificate.Name).Because(CauseDirectiveMissing).
				With(upSettingNote(l.SSL.CertificateKey, ""))
		}
		return Skip("")
	}
	if l.SSL.CertificateKey.Default() {
		return Fail("%s is set without %s: nginx -t refuses it", l.SSL.Certificate.Name, l.SSL.CertificateKey.Name).
			Because(CauseDirectiveMissing).With(upSettingNote(l.SSL.Certificate, ""))
	}
	for _, ff := range []*probes.FileFacts{l.Cert, l.Key} {
		if ff == nil {
			continue
		}
		setting := l.SSL.Certificate
		if ff.Role == probes.RoleKey {
			setting = l.SSL.CertificateKey
		}
		bad := func(code, format string, a ...any) Result {
			return Fail(format, a...).Because(code).With(upSettingNote(setting, ""))
		}
		switch {
		case ff.NotPath != "":
			return bad(CauseFileFormat, "%s holds %s, not a path", setting.Name, ff.NotPath)
		case !ff.Exists:
			return bad(CauseFileMissing, "%s %s does not exist", setting.Name, ff.Path)
		case ff.ReadError != "":
			return bad(CauseUnreadable, "%s %s cannot be read: %s", setting.Name, ff.Path, ff.ReadError)
		case ff.Encoding == "pkcs12" || ff.Encoding == "der":
			return bad(CauseFileFormat, "%s %s is %s; NGINX reads PEM", setting.Name, ff.Path, strings.ToUpper(ff.Encoding))
		}
		types := blockTypes(ff)
		switch ff.Role {
		case probes.RoleCert:
			if len(ff.Certs) == 0 {
				if strings.Contains(types, "PRIVATE KEY") || ff.Key != nil {
					return bad(CauseSwapped, "%s %s holds a private key, not a certificate (certificate and key swapped?)", setting.Name, ff.Path)
				}
				return bad(CauseFileFormat, "%s %s holds no certificate%s", setting.Name, ff.Path, blocksSuffix(ff, types))
			}
			if leaf := ff.Certs[0]; leaf.IsCA && len(ff.Certs) > 1 && !ff.Certs[1].IsCA {
				return bad(CauseChainOrder, "%s %s starts with the CA %s: the leaf %s must come first", setting.Name, ff.Path,
					certName(leaf), certName(ff.Certs[1]))
			}
		case probes.RoleKey:
			if ff.Key == nil && !encrypted(ff) {
				if len(ff.Certs) > 0 || strings.Contains(types, "CERTIFICATE") {
					return bad(CauseSwapped, "%s %s holds a certificate, not a private key (certificate and key swapped?)", setting.Name, ff.Path)
				}
				return bad(CauseFileFormat, "%s %s holds no usable private key%s", setting.Name, ff.Path, blocksSuffix(ff, types))
			}
		}
	}
	return OK("%s and %s load", l.SSL.Certificate.Value, l.SSL.CertificateKey.Value)
}

// linkKey is the public half of the link's key: from the key file, or decrypted.
func linkKey(l *probes.UpstreamLinkFacts) *probes.KeyFacts {
	switch {
	case l.Key != nil && l.Key.Key != nil:
		return l.Key.Key
	case l.KeyUnlock != nil && l.KeyUnlock.Key != nil:
		return l.KeyUnlock.Key
	}
	return nil
}

func judgeClientKeyMismatch(f *Facts, l *probes.UpstreamLinkFacts) Result {
	leaf, key := clientLeaf(l), linkKey(l)
	if leaf == nil || key == nil {
		return Skip("")
	}
	if !publicKeysEqual(leaf.PublicKey, key.Public) {
		return Fail("%s does not belong to %s (%s): NGINX refuses it with \"key values mismatch\"", l.SSL.CertificateKey.Value,
			l.SSL.Certificate.Value, certName(leaf)).Because(CauseKeyMismatch).
			With(upSettingNote(l.SSL.Certificate, KeyDescription(leaf.PublicKey)), upSettingNote(l.SSL.CertificateKey, key.Algorithm))
	}
	return OK("%s matches %s", l.SSL.CertificateKey.Value, l.SSL.Certificate.Value)
}

func judgeClientKeyEncrypted(f *Facts, l *probes.UpstreamLinkFacts) Result {
	if l.Key == nil {
		return Skip("")
	}
	if !encrypted(l.Key) {
		return OK("%s is not encrypted", l.SSL.CertificateKey.Value)
	}
	u := l.KeyUnlock
	switch {
	case l.SSL.PasswordFile.Default():
		return Fail("%s is encrypted and no %s is set: nginx -t cannot load it", l.SSL.CertificateKey.Value, l.SSL.PasswordFile.Name).
			Because(CauseKeyEncrypted).With(upSettingNote(l.SSL.CertificateKey, "encrypted"))
	case l.PasswordFile != nil && !l.PasswordFile.Exists:
		return Fail("%s %s does not exist", l.SSL.PasswordFile.Name, l.PasswordFile.Path).Because(CauseFileMissing).
			With(upSettingNote(l.SSL.PasswordFile, ""))
	case l.PasswordFile != nil && l.PasswordFile.ReadError != "":
		return Fail("%s %s cannot be read: %s", l.SSL.PasswordFile.Name, l.PasswordFile.Path, l.PasswordFile.ReadError).
			Because(CauseUnreadable).With(upSettingNote(l.SSL.PasswordFile, ""))
	case u != nil && u.Unsupported:
		return Warn("%s is encrypted in a way mtls-doctor cannot try; NGINX may still decrypt it with %s", l.SSL.CertificateKey.Value,
			l.SSL.PasswordFile.Value).Because(CauseKeyEncrypted).With(Note("", "%s", u.Error))
	case u != nil && u.Line == 0:
		n := 0
		if l.PasswordFile != nil {
			n = l.PasswordFile.Passphrases
		}
		return Fail("none of the %s in %s decrypts %s", Plural(n, "passphrase"), l.SSL.PasswordFile.Value, l.SSL.CertificateKey.Value).
			Because(CauseKeyEncrypted).With(upSettingNote(l.SSL.PasswordFile, ""), Note("", "%s", firstNonEmpty(u.Error, "no passphrase matched")))
	case u != nil:
		return OK("line %d of %s decrypts %s", u.Line, l.SSL.PasswordFile.Value, l.SSL.CertificateKey.Value)
	}
	return Skip("")
}

func judgeClientWeak(f *Facts, l *probes.UpstreamLinkFacts) Result {
	if l.Cert == nil || len(l.Cert.Certs) == 0 {
		return Skip("")
	}
	var weak []string
	for _, c := range l.Cert.Certs {
		weak = append(weak, CertWeaknesses(c)...)
	}
	if len(weak) > 0 {
		return Fail("%s: OpenSSL refuses it (ee key too small / ca md too weak)", weak[0]).Because(CauseWeakKey).
			With(upSettingNote(l.SSL.Certificate, strings.Join(weak, "; ")))
	}
	return OK("%s: %s", certName(l.Cert.Certs[0]), KeyDescription(l.Cert.Certs[0].PublicKey))
}

func judgeClientLife(want lifeState) func(f *Facts, l *probes.UpstreamLinkFacts) Result {
	return withClientLeaf(func(f *Facts, l *probes.UpstreamLinkFacts, leaf *x509.Certificate) Result {
		switch lifeOf(leaf, f.Now) {
		case want:
			if want == lifeExpired {
				return Fail("%s expired %s (%s ago)", certName(leaf), stamp(leaf.NotAfter), HumanDuration(f.Now.Sub(leaf.NotAfter))).
					Because(CauseExpired).With(upSettingNote(l.SSL.Certificate, ""))
			}
			return Fail("%s is not valid until %s (in %s)", certName(leaf), stamp(leaf.NotBefore), HumanDuration(leaf.NotBefore.Sub(f.Now))).
				Because(CauseNotYetValid).With(upSettingNote(l.SSL.Certificate, ""))
		case lifeValid:
			return OK("%s is valid from %s to %s", certName(leaf), stamp(leaf.NotBefore), stamp(leaf.NotAfter))
		}
		return Skip("")
	})
}

// withClientLeaf is a judge of the link's client certificate: fn gets its leaf, and a
// link that presents none does not apply.
func withClientLeaf(fn func(f *Facts, l *probes.UpstreamLinkFacts, leaf *x509.Certificate) Result) func(f *Facts, l *probes.UpstreamLinkFacts) Result {
	return func(f *Facts, l *probes.UpstreamLinkFacts) Result {
		leaf := clientLeaf(l)
		if leaf == nil {
			return Skip("")
		}
		return fn(f, l, leaf)
	}
}

func judgeClientExpiring(f *Facts, l *probes.UpstreamLinkFacts, leaf *x509.Certificate) Result {
	sev, msg := expiry(leaf, f.Now, f.Thresholds)
	switch sev {
	case SeveritySkip:
		return Skip("")
	case SeverityOK:
		return OK("%s %s", certName(leaf), msg)
	}
	return Warn("%s %s", certName(leaf), msg).Because(CauseExpiring).With(upSettingNote(l.SSL.Certificate, ""))
}

func judgeClientPurpose(f *Facts, l *probes.UpstreamLinkFacts, leaf *x509.Certificate) Result {
	var probs []string
	if !EKUAllows(leaf, x509.ExtKeyUsageClientAuth) {
		probs = append(probs, fmt.Sprintf("%s has extended key usage %s, without clientAuth", certName(leaf), ekuList(leaf)))
	}
	if leaf.KeyUsage != 0 && leaf.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageKeyAgreement) == 0 {
		probs = append(probs, fmt.Sprintf("%s has a key usage without digitalSignature", certName(leaf)))
	}
	if len(probs) > 0 {
		return Fail("%s: the upstream refuses it with (26:unsuitable certificate purpose)", probs[0]).Because(CauseWrongPurpose).
			With(upSettingNote(l.SSL.Certificate, strings.Join(probs, "; ")))
	}
	return OK("%s allows client authentication", certName(leaf))
}

func judgeClientUnknownCA(f *Facts, l *probes.UpstreamLinkFacts, leaf *x509.Certificate) Result {
	for _, p := range linkProbes(l) {
		if probeAlert(p) == 48 {
			return Fail("%s refused %s with alert 48 unknown_ca", p.Server.Address, certName(leaf)).Because(CauseUntrusted).
				With(Note("", "probe: %s", probeLine(p)), upSettingNote(l.SSL.Certificate, "issued by "+dnString(leaf.Issuer.String())))
		}
	}
	if lv, ok := upstreamLocalVerdict(f, l); ok {
		switch lv.code() {
		case 18, 19, 20, 21:
			return lv.result(CauseUntrusted)
		}
	}
	p := certRequestedProbe(l)
	if p == nil {
		return notProbedOK(f, l, "the upstream did not ask for a client certificate")
	}
	if !issuerAdvertised(l, p) && localIssuer(l, leaf) == nil {
		return Fail("%s accepts client certificates from %s; %s was issued by %s", p.Server.Address, advertisedNames(p),
			certName(leaf), dnString(leaf.Issuer.String())).Because(CauseUntrusted).
			With(upSettingNote(l.SSL.Certificate, ""), Note("", "probe: %s", probeLine(p)))
	}
	return OK("%s was issued by a CA %s names (%s)", certName(leaf), p.Server.Address, advertisedNames(p))
}

// notProbedOK is the verdict of a probe-based rule when no probe shows the upstream's view.
func notProbedOK(f *Facts, l *probes.UpstreamLinkFacts, what string) Result {
	if len(linkProbes(l)) == 0 {
		return notProbed(f, l)
	}
	return OK("%s", what)
}

func dnString(s string) string { return s }

func judgeClientChain(f *Facts, l *probes.UpstreamLinkFacts) Result {
	leaf := clientLeaf(l)
	if leaf == nil || selfSigned(leaf) {
		return Skip("")
	}
	p := certRequestedProbe(l)
	if p == nil || issuerAdvertised(l, p) {
		return notProbedOK(f, l, "the certificate chains to a CA the upstream names")
	}
	// The leaf's issuer is not advertised; an intermediate the front has (in its trusted
	// CA file) whose own issuer is advertised is the one the file lacks.
	if inter := localIssuer(l, leaf); inter != nil && !selfSigned(inter) && acceptableMatch([]*x509.Certificate{inter}, p.TLS.AcceptableCAs) {
		return Fail("%s holds %s without its issuer %s, which %s needs to reach a CA it names", l.SSL.Certificate.Value,
			certName(leaf), certName(inter), p.Server.Address).Because(CauseIntermediateMissing).With(upSettingNote(l.SSL.Certificate, ""))
	}
	return Skip("")
}

// clientChainExplains reports whether an upstream's "client SSL certificate verify error"
// for an unknown issuer is the front's client certificate file lacking its intermediate
// (judgeClientChain fails for a link to that upstream): OpenSSL numbers it 20 or 21 like
// a certificate from another CA.
func clientChainExplains(f *Facts, links []*probes.UpstreamLinkFacts, s logparse.Summary) bool {
	if s.Kind != logparse.KindUpstreamClientCertUnknownCA {
		return false
	}
	for _, l := range links {
		if judgeClientChain(f, l).Severity == SeverityFail && (s.Upstream == "" || linkOfUpstream([]*probes.UpstreamLinkFacts{l}, s.Upstream) != nil) {
			return true
		}
	}
	return false
}

// judgeNoProbeEvidence is the verdict of a rule only the upstream's logs or alert can
// show (revocation by the upstream's CRL).
func judgeNoProbeEvidence(f *Facts, l *probes.UpstreamLinkFacts) Result {
	if !certConfigured(l) {
		return Skip("")
	}
	if lv, ok := upstreamLocalVerdict(f, l); ok && lv.code() == 23 {
		return lv.result(CauseRevoked)
	}
	for _, p := range linkProbes(l) {
		if probeAlert(p) == 44 {
			return Fail("%s refused the client certificate with alert 44 certificate_revoked", p.Server.Address).Because(CauseRevoked).
				With(Note("", "probe: %s", probeLine(p)))
		}
	}
	return notProbedOK(f, l, "the upstream did not refuse the client certificate as revoked")
}

func judgeClientRejected(f *Facts, l *probes.UpstreamLinkFacts) Result {
	if !certConfigured(l) {
		return Skip("")
	}
	if lv, ok := upstreamLocalVerdict(f, l); ok {
		switch lv.code() {
		case 0, 9, 10, 18, 19, 20, 21, 23, 26: // fine, or named by a more specific check
		default:
			return lv.result(CauseRejected)
		}
	}
	if id := explainedRejection(f, l); id != "" {
		for _, p := range linkProbes(l) {
			if _, title := probeStatus(p); strings.Contains(title, titleCertError) || certAlerts[probeAlert(p)] {
				return Info("%s refuses NGINX's client certificate; %s names why", p.Server.Address, id)
			}
		}
	}
	for _, p := range linkProbes(l) {
		status, title := probeStatus(p)
		switch a := probeAlert(p); {
		case a == 42 || a == 43 || a == 46 || a == 49:
			r := Fail("%s refused NGINX's client certificate with alert %d %s", p.Server.Address, a, probes.AlertName(a)).Because(CauseRejected).
				With(Note("", "probe: %s", probeLine(p)))
			r.Cause.Alert = a
			return r
		case strings.Contains(title, titleCertError) || status == 495:
			return Fail("%s refused NGINX's client certificate: %d %q (its error log says why, at [info])", p.Server.Address, status, title).
				Because(CauseRejected).With(Note("", "probe: %s", probeLine(p)))
		case status == 403 && p.TLS != nil && p.TLS.ClientCertSent:
			return Warn("%s answered 403 to a request with NGINX's client certificate (a DN allow-list?)", p.Server.Address).
				Because(CauseRejected).With(Note("", "probe: %s", probeLine(p)))
		}
	}
	if len(linkProbes(l)) == 0 {
		return notProbed(f, l)
	}
	return OK("the upstream accepted the client certificate")
}

// specificClientKinds are the logged reasons a more specific check than
// upstream-client-cert-rejected names.
var specificClientKinds = []logparse.Kind{
	logparse.KindUpstreamClientCertNotConfigured, logparse.KindUpstreamClientCertUnknownCA,
	logparse.KindUpstreamClientCertExpired, logparse.KindUpstreamClientCertNotYetValid,
	logparse.KindUpstreamClientCertWrongPurpose, logparse.KindUpstreamClientCertRevoked,
}

// explainedRejection names the check that already says why the upstream refuses the
// link's certificate, from the certificate itself or the upstream's logged reason; ""
// when none does.
func explainedRejection(f *Facts, l *probes.UpstreamLinkFacts) string {
	if leaf := clientLeaf(l); leaf != nil {
		switch {
		case lifeOf(leaf, f.Now) == lifeExpired:
			return "upstream-client-cert-expired"
		case lifeOf(leaf, f.Now) == lifeNotYet:
			return "upstream-client-cert-not-yet-valid"
		case !EKUAllows(leaf, x509.ExtKeyUsageClientAuth):
			return "upstream-client-cert-wrong-purpose"
		}
		if p := certRequestedProbe(l); p != nil && !issuerAdvertised(l, p) {
			return "upstream-client-cert-unknown-ca"
		}
	}
	for _, s := range upstreamSummaries(f, specificClientKinds) {
		if linkOfUpstream(upstreamLinks(f), s.Upstream) == l {
			return string(s.Kind)
		}
	}
	return ""
}
