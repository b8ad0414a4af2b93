package diagnostics

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/mtls-doctor/mtls-doctor/internal/opensslverdict"
	"github.com/mtls-doctor/mtls-doctor/logparse"
	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// upstreamRules are the upstream checks in display order: the client certificate NGINX
// presents, then the upstream's certificate as NGINX verifies it, then the connection.
func upstreamRules() []upstreamRule {
	return []upstreamRule{
		{id: "upstream-client-cert-not-configured",
			title: "upstreams that require a client certificate get one from NGINX",
			why: "An upstream with ssl_verify_client on answers 400 \"No required SSL certificate was sent\" (a Go or " +
				"Envoy upstream aborts the handshake) when the location sends none. Only the module's own directives " +
				"count: proxy_ssl_certificate does nothing under grpc_pass.",
			kinds: []logparse.Kind{logparse.KindUpstreamClientCertNotConfigured},
			judge: judgeClientCertNotConfigured, fix: fixUpClientCertNotConfigured},
		{id: "upstream-client-cert-file-invalid", nginxT: true,
			title: "the client certificate and key files of upstream links load",
			why: "nginx -t refuses a *_ssl_certificate it cannot read or parse, a key directive that is missing, or a " +
				"certificate file whose first block is not the leaf; NGINX then keeps its old configuration.",
			judge: judgeClientFiles, fix: fixUpClientFiles},
		{id: "upstream-client-key-mismatch", nginxT: true,
			title: "the upstream client key matches its certificate",
			why:   "NGINX refuses a key that does not belong to the certificate (SSL_CTX_use_PrivateKey: key values mismatch).",
			judge: judgeClientKeyMismatch, fix: fixUpClientReissue("upstream-client-key-mismatch")},
		{id: "upstream-client-key-encrypted", nginxT: true,
			title: "an encrypted upstream client key has a working password file",
			why: "NGINX decrypts *_ssl_certificate_key with the passphrases of *_ssl_password_file, one a line; without " +
				"the file, or without the right line, nginx -t fails.",
			judge: judgeClientKeyEncrypted, fix: fixUpClientKeyEncrypted},
		{id: "upstream-client-cert-weak-key", nginxT: true,
			title: "the upstream client certificate meets OpenSSL's security level",
			why: "OpenSSL refuses a client certificate with an RSA key under 2048 bits (ee key too small) or a SHA-1 " +
				"signature (ca md too weak) when NGINX loads it.",
			judge: judgeClientWeak, fix: fixUpClientReissue("upstream-client-cert-weak-key")},
		{id: "upstream-client-cert-expired",
			title: "the upstream client certificate has not expired",
			why:   "An upstream NGINX answers 400 with \"client SSL certificate verify error: (10:certificate has expired)\"; Go upstreams send alert 45.",
			kinds: []logparse.Kind{logparse.KindUpstreamClientCertExpired},
			judge: judgeClientLife(lifeExpired), fix: fixUpClientReissue("upstream-client-cert-expired")},
		{id: "upstream-client-cert-not-yet-valid",
			title: "the upstream client certificate is already valid",
			why:   "A certificate whose notBefore is in the future is refused with (9:certificate is not yet valid); usually a clock is wrong.",
			kinds: []logparse.Kind{logparse.KindUpstreamClientCertNotYetValid},
			judge: judgeClientLife(lifeNotYet), fix: fixUpClientReissue("upstream-client-cert-not-yet-valid")},
		{id: "upstream-client-cert-expiring",
			title: "the upstream client certificate is not about to expire",
			why:   "When it expires every request of the link fails; renew it before then.",
			judge: judgeClientExpiring, fix: fixUpClientReissue("upstream-client-cert-expiring")},
		{id: "upstream-client-cert-wrong-purpose",
			title: "the upstream client certificate allows client authentication",
			why:   "OpenSSL refuses a client certificate whose extendedKeyUsage lacks clientAuth with (26:unsuitable certificate purpose).",
			kinds: []logparse.Kind{logparse.KindUpstreamClientCertWrongPurpose},
			judge: judgeClientPurpose, fix: fixUpClientReissue("upstream-client-cert-wrong-purpose")},
		{id: "upstream-client-cert-unknown-ca",
			title: "the upstream trusts the CA that issued NGINX's client certificate",
			why: "The upstream verifies the certificate against its own CA file and names those CAs in its " +
				"CertificateRequest; a certificate from another CA is refused ((20:unable to get local issuer certificate), alert 48).",
			kinds: []logparse.Kind{logparse.KindUpstreamClientCertUnknownCA},
			judge: judgeClientUnknownCA, fix: fixUpClientUnknownCA},
		{id: "upstream-client-chain-incomplete",
			title: "the upstream client certificate file holds the intermediates it needs",
			why: "NGINX sends the whole *_ssl_certificate file; when the certificate was issued by an intermediate the " +
				"upstream does not have, the file must hold that intermediate after the leaf.",
			judge: judgeClientChain, fix: fixUpClientChain},
		{id: "upstream-client-cert-revoked",
			title: "the upstream has not revoked NGINX's client certificate",
			why:   "An upstream with ssl_crl refuses a revoked certificate with (23:certificate revoked).",
			kinds: []logparse.Kind{logparse.KindUpstreamClientCertRevoked},
			judge: judgeNoProbeEvidence, fix: fixUpClientReissue("upstream-client-cert-revoked")},
		{id: "upstream-client-cert-rejected",
			title: "the upstream accepts NGINX's client certificate",
			why: "The upstream refused the certificate for a reason of its own (its verify depth, its CRL, its CA file, " +
				"a DN allow-list): an upstream NGINX answers 400 \"The SSL certificate error\" and logs the reason at [info].",
			kinds: []logparse.Kind{logparse.KindUpstreamClientCertRejected},
			judge: judgeClientRejected, fix: fixUpClientRejected},
		{id: "upstream-verify-off",
			title: "upstream links verify the upstream's certificate",
			why: "With *_ssl_verify off (the default) NGINX accepts any certificate from the upstream, so anyone on " +
				"the path can impersonate it and read the traffic and the client certificate's requests.",
			judge: judgeVerifyOff, fix: fixUpVerifyOff},
		{id: "upstream-trusted-ca-missing", nginxT: true,
			title: "a verifying upstream link names a trusted CA file that loads",
			why:   "nginx -t fails with \"no proxy_ssl_trusted_certificate for proxy_ssl_verify\" when verify is on without one.",
			judge: judgeTrustedCA, fix: fixUpVerifyOff},
		{id: "upstream-cert-untrusted",
			title: "the upstream's certificate chains to *_ssl_trusted_certificate",
			why:   "With verify on NGINX refuses the upstream (\"upstream SSL certificate verify error\") and answers 502.",
			kinds: []logparse.Kind{logparse.KindUpstreamCertUntrusted},
			backs: func(f *Facts, links []*probes.UpstreamLinkFacts, s logparse.Summary) bool {
				return s.Kind == logparse.KindUpstreamCertUntrusted && !depthExplains(f, links, s)
			},
			judge: judgeUpstreamUntrusted, fix: fixUpstreamTrust},
		{id: "upstream-chain-incomplete",
			title: "the upstream sends the intermediates of its certificate",
			why:   "OpenSSL builds the chain only from what the upstream sends and the trusted CA file; a missing intermediate fails verification.",
			judge: judgeUpstreamChain, fix: fixUpstreamTrust},
		{id: "upstream-name-mismatch",
			title: "the upstream's certificate matches the name NGINX verifies",
			why: "NGINX checks *_ssl_name (default: the proxy_pass host) against the certificate's DNS names only — " +
				"never its IP addresses — and answers 502 with \"upstream SSL certificate does not match\".",
			kinds: []logparse.Kind{logparse.KindUpstreamNameMismatch},
			judge: judgeUpstreamName, fix: fixUpstreamName},
		{id: "upstream-sni-missing",
			title: "upstreams that choose their server by name get SNI from NGINX",
			why: "*_ssl_server_name is off by default: NGINX sends no server name, and an upstream that picks its " +
				"server block, certificate or client CA by SNI answers with its default one (or alert 112).",
			kinds: []logparse.Kind{logparse.KindUpstreamSNIMissing},
			judge: judgeUpstreamSNI, fix: fixUpstreamSNI},
		{id: "upstream-cert-expired",
			title: "the upstream's certificate is within its validity period",
			why:   "With verify on NGINX refuses an expired upstream certificate with (10:certificate has expired) and answers 502.",
			kinds: []logparse.Kind{logparse.KindUpstreamCertExpired},
			judge: judgeUpstreamExpired, fix: fixUpstreamServerSide("upstream-cert-expired")},
		{id: "upstream-cert-revoked",
			title: "the upstream's certificate is not revoked by *_ssl_crl",
			why:   "With verify on and *_ssl_crl NGINX refuses a revoked upstream certificate with (23:certificate revoked).",
			kinds: []logparse.Kind{logparse.KindUpstreamCertRevoked},
			judge: judgeUpstreamVerifyCode(23, 12), fix: fixUpstreamServerSide("upstream-cert-revoked")},
		{id: "upstream-verify-depth",
			title: "the verify depth of upstream links admits the upstream's chain",
			why:   "*_ssl_verify_depth defaults to 1: a chain with two intermediates fails verification.",
			kinds: []logparse.Kind{logparse.KindUpstreamVerifyDepth},
			backs: func(f *Facts, links []*probes.UpstreamLinkFacts, s logparse.Summary) bool {
				return s.Kind == logparse.KindUpstreamVerifyDepth || depthExplains(f, links, s)
			},
			judge: judgeUpstreamDepth, fix: fixUpVerifyDepth},
		{id: "upstream-tls-version-mismatch",
			title: "upstream links share a TLS version with their upstream",
			why: "*_ssl_protocols limits what NGINX offers; before 1.23.4 TLSv1.3 is not in its default, so a TLS 1.3-only " +
				"upstream refuses NGINX with alert 70.",
			kinds: []logparse.Kind{logparse.KindUpstreamTLSVersionMismatch},
			judge: judgeTLSVersion, fix: fixUpTLSVersion},
		{id: "upstream-tls-handshake-failed",
			title: "the TLS handshake with the upstream completes",
			why:   "Any other handshake failure (no shared cipher, an alert from the upstream) makes NGINX answer 502.",
			kinds: []logparse.Kind{logparse.KindUpstreamTLSHandshakeFailed},
			judge: judgeHandshake, fix: fixUpHandshake},
		{id: "upstream-not-tls",
			title: "the upstream speaks TLS on the port NGINX uses",
			why:   "A plaintext upstream answers the ClientHello with HTTP, and NGINX logs \"wrong version number\" and answers 502.",
			kinds: []logparse.Kind{logparse.KindUpstreamNotTLS},
			judge: judgeNotTLS, fix: fixUpNotTLS},
		{id: "upstream-unreachable",
			title: "the upstream servers accept connections",
			why:   "connect() failed or timed out: NGINX answers 502 or 504 without a TLS handshake.",
			kinds: []logparse.Kind{logparse.KindUpstreamUnreachable},
			judge: judgeUnreachable, fix: fixUpUnreachable},
	}
}

// --- the client certificate

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
	return func(f *Facts, l *probes.UpstreamLinkFacts) Result {
		leaf := clientLeaf(l)
		if leaf == nil {
			return Skip("")
		}
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
	}
}

func judgeClientExpiring(f *Facts, l *probes.UpstreamLinkFacts) Result {
	leaf := clientLeaf(l)
	if leaf == nil {
		return Skip("")
	}
	sev, msg := expiry(leaf, f.Now, f.Thresholds)
	switch sev {
	case SeveritySkip:
		return Skip("")
	case SeverityOK:
		return OK("%s %s", certName(leaf), msg)
	}
	return Warn("%s %s", certName(leaf), msg).Because(CauseExpiring).With(upSettingNote(l.SSL.Certificate, ""))
}

func judgeClientPurpose(f *Facts, l *probes.UpstreamLinkFacts) Result {
	leaf := clientLeaf(l)
	if leaf == nil {
		return Skip("")
	}
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

func judgeClientUnknownCA(f *Facts, l *probes.UpstreamLinkFacts) Result {
	leaf := clientLeaf(l)
	if leaf == nil {
		return Skip("")
	}
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
			r := Fail("%s refused NGINX's client certificate with alert %d %s", p.Server.Address, a, alertName(a)).Because(CauseRejected).
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

// --- the upstream's certificate, as NGINX verifies it

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

// --- the connection

func handshakeFailures(l *probes.UpstreamLinkFacts, match func(p *probes.UpstreamProbe) bool) *probes.UpstreamProbe {
	for _, p := range linkProbes(l) {
		if p.TLS != nil && p.TLS.Error != nil && match(p) {
			return p
		}
	}
	return nil
}

func judgeTLSVersion(f *Facts, l *probes.UpstreamLinkFacts) Result {
	p := handshakeFailures(l, func(p *probes.UpstreamProbe) bool {
		return p.TLS.Error.Kind == probes.ErrTLSVersion || probeAlert(p) == 70
	})
	if p != nil {
		r := Fail("%s shares no TLS version with %s %s", p.Server.Address, l.SSL.Protocols.Name,
			firstNonEmpty(l.SSL.Protocols.Value, "(nginx's default)")).Because(CauseTLSVersion).
			With(Note("", "probe: %s", probeLine(p)), upSettingNote(l.SSL.Protocols, ""))
		r.Cause.Alert = probeAlert(p)
		return r
	}
	return connectionOK(f, l)
}

// connectionOK is the verdict of a connection rule that found nothing wrong.
func connectionOK(f *Facts, l *probes.UpstreamLinkFacts) Result {
	ps := linkProbes(l)
	if len(ps) == 0 {
		return notProbed(f, l)
	}
	for _, p := range ps {
		if handshakeDone(p) {
			return OK("NGINX's handshake with %s completes (%s)", p.Server.Address, tlsVersionName(p.TLS.Version))
		}
	}
	return Skip("skipped: the handshake failed for a reason another upstream-* check names")
}

// certAlerts are the alerts about the client certificate, which the client-cert checks name.
var certAlerts = map[int]bool{40: false, 42: true, 43: true, 44: true, 45: true, 46: true, 48: true, 49: true, 70: true, 112: true, 116: true}

func judgeHandshake(f *Facts, l *probes.UpstreamLinkFacts) Result {
	p := handshakeFailures(l, func(p *probes.UpstreamProbe) bool {
		switch p.TLS.Error.Kind {
		case probes.ErrTLSAlert:
			return !certAlerts[p.TLS.Error.Alert] && !requiresCert(p)
		case probes.ErrClosed, probes.ErrProtocol, probes.ErrOther:
			return true
		}
		return false
	})
	if p != nil {
		r := Fail("the TLS handshake with %s failed: %s", p.Server.Address, strings.TrimPrefix(probeLine(p), p.Server.Address+": ")).
			Because(CauseHandshakeFailed).With(upSettingNote(l.SSL.Ciphers, ""), upSettingNote(l.SSL.Protocols, ""))
		r.Cause.Alert = probeAlert(p)
		return r
	}
	return connectionOK(f, l)
}

func judgeNotTLS(f *Facts, l *probes.UpstreamLinkFacts) Result {
	if p := handshakeFailures(l, func(p *probes.UpstreamProbe) bool { return p.TLS.Error.Kind == probes.ErrNotTLS }); p != nil {
		return Fail("%s does not speak TLS: %s", p.Server.Address, p.TLS.Error.Message).Because(CauseNotTLS).With(passNote(l))
	}
	return connectionOK(f, l)
}

func judgeUnreachable(f *Facts, l *probes.UpstreamLinkFacts) Result {
	if !l.Judgeable() || len(l.Probes) == 0 {
		return notProbed(f, l)
	}
	var down []string
	var ev []Evidence
	for _, p := range l.Probes {
		if p != nil && p.TCPError != nil {
			down = append(down, p.Server.Address)
			ev = append(ev, Note("", "probe: %s", probeLine(p)))
		}
	}
	switch {
	case len(down) == len(l.Probes):
		return Fail("NGINX cannot connect to %s: %s", l.Target(), l.Probes[0].TCPError.Message).Because(CauseUnreachable).With(ev...)
	case len(down) > 0:
		return Warn("%s of %s %s cannot be reached: %s", Plural(len(down), "server"), l.Target(), "servers", joinNames(down, 3)).
			Because(CauseUnreachable).With(ev...)
	}
	return OK("%s accepts connections", joinNames(serverAddrs(l), 3))
}

func serverAddrs(l *probes.UpstreamLinkFacts) []string {
	var out []string
	for _, s := range l.Servers {
		out = append(out, s.Address)
	}
	return out
}

// isSelfIssued is used where a chain walk needs to know a root without a signature check.
func isSelfIssued(c *x509.Certificate) bool { return bytes.Equal(c.RawIssuer, c.RawSubject) }
