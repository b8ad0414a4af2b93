package diagnostics

import (
	"crypto/x509"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// Playbooks of the upstream checks. A step edits the location that passes (the link's own
// block, so other links that inherit the same server or http setting are not changed),
// reissues the client certificate keeping its subject and names, or says what to change on
// the upstream; every NGINX edit ends with nginx -t and a reload of the NGINX judged.

// Placeholders only the user can fill.
var (
	inputUpstreamCACert = Input{Name: "<upstream-ca-cert-path>", Prompt: "path of the certificate of the CA the upstream trusts for client certificates"}
	inputUpstreamCAKey  = Input{Name: "<upstream-ca-key-path>", Prompt: "path of that CA's private key"}
	inputUpstreamCA     = Input{Name: "<upstream-server-ca-path>", Prompt: "path of the CA certificate (and intermediates) that issued the upstream's server certificate"}
)

// linkSetting is one directive a step sets in the link's location, and its value.
type linkSetting struct {
	setting nginxconf.UpstreamSetting
	value   string
}

// linkDirectiveStep sets directive name to value in the link's location: it replaces the
// location's own directive, or adds one after the pass directive (overriding what the
// location inherits).
func linkDirectiveStep(f *Facts, l *probes.UpstreamLinkFacts, s nginxconf.UpstreamSetting, value, title, why string, verify ...string) Step {
	return linkDirectivesStep(f, l, title, why, verify, linkSetting{s, value})
}

// linkDirectivesStep sets several directives in the link's location in one step, tested
// and reloaded once: NGINX refuses a certificate without its key (and the reverse), so
// such a pair is never set in two steps.
func linkDirectivesStep(f *Facts, l *probes.UpstreamLinkFacts, title, why string, verify []string, settings ...linkSetting) Step {
	var edits []nginxEdit
	var texts []string
	for _, ls := range settings {
		text := ls.setting.Name + " " + ls.value + ";"
		texts = append(texts, text)
		switch {
		case ls.setting.Directive != nil && !ls.setting.Inherited:
			edits = append(edits, nginxEdit{ls.setting.Directive.File, replaceDiff(ls.setting.Directive, text)})
		case l.Pass != nil:
			edits = append(edits, nginxEdit{l.Pass.File, insertAfterDiff(l.Pass, text)})
		}
	}
	if len(edits) < len(settings) {
		return Step{Title: title, Why: why + " Add to the location: " + strings.Join(texts, " "),
			Commands: []string{reloadNginxFor(f)}, Verify: verify,
			Manual: "the location that passes to the upstream was not read, so the lines to change are not known"}
	}
	return upstreamEditStep(f, title, why, verify, edits...)
}

// upstreamEditStep is an edit of the NGINX configuration judged (the front's, which need
// not serve agents): each file backed up and edited by sed on the lines read, then nginx -t
// and a reload with the judged -p/-c. A diff sed cannot apply leaves the step manual.
func upstreamEditStep(f *Facts, title, why string, verify []string, edits ...nginxEdit) Step {
	st := Step{Title: title, Why: why, File: edits[0].file, Verify: verify}
	var diffs, files []string
	exprs := map[string][]string{}
	runnable := true
	for _, e := range edits {
		diffs = append(diffs, e.diff)
		x, ok := diffSed(e.diff)
		runnable = runnable && ok && e.file != ""
		if !slices.Contains(files, e.file) {
			files = append(files, e.file)
		}
		exprs[e.file] = append(exprs[e.file], x...)
	}
	st.Diff = strings.Join(diffs, "\n")
	st.Changes = files
	if !runnable {
		st.Commands = []string{reloadNginxFor(f)}
		st.Manual = "make the edit shown by hand, then run the command"
		return st
	}
	for _, file := range files {
		st.Commands = append(st.Commands, backupCommand(file), sedCommand(file, exprs[file]...))
	}
	st.Commands = append(st.Commands, reloadNginxFor(f))
	return st
}

// nginxValue writes a directive argument as nginx reads it: bare when it holds no space,
// quote, semicolon, brace or '#', else in double quotes with \ and " escaped
// (src/core/ngx_conf_file.c, ngx_conf_read_token).
func nginxValue(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n\"';{}#\\$") {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// explainStep is the playbook of a check shown without a link (mtls-doctor explain): the
// configuration is not known, so the step checks the one the user names.
func explainStep(title, why string, verify ...string) []Step {
	return []Step{{Title: title, Why: why, Verify: verify,
		Commands: []string{"mtls-doctor --check --nginx-config " + shellQuote("<nginx-conf-path>")}}}
}

func fixUpClientCertNotConfigured(f *Facts, l *probes.UpstreamLinkFacts, r Result) []Step {
	if l == nil {
		return explainStep("Give the location a client certificate with its module's own directives",
			"proxy_pass uses proxy_ssl_certificate and proxy_ssl_certificate_key, grpc_pass grpc_ssl_*, uwsgi_pass uwsgi_ssl_*.",
			"upstream-client-cert-not-configured")
	}
	certPath, keyPath := "<proxy-client-cert-path>", "<proxy-client-key-path>"
	if foreign, ok := foreignCert(l); ok && foreign.Path != "" {
		certPath = foreign.Path
		for _, s := range l.Foreign {
			if s.Name == foreign.Name+"_key" && s.Path != "" {
				keyPath = s.Path
			}
		}
	}
	st := linkDirectivesStep(f, l, "Set "+l.SSL.Certificate.Name+" and "+l.SSL.CertificateKey.Name,
		"The upstream requires a client certificate issued by a CA it trusts; name the certificate and its key in the location.",
		[]string{"upstream-client-cert-not-configured", "upstream-client-key-mismatch"},
		linkSetting{l.SSL.Certificate, nginxValue(certPath)}, linkSetting{l.SSL.CertificateKey, nginxValue(keyPath)})
	if certPath[0] == '<' {
		st.Inputs = []Input{
			{Name: "<proxy-client-cert-path>", Prompt: "path of the client certificate (PEM) NGINX presents to the upstream"},
			{Name: "<proxy-client-key-path>", Prompt: "path of its private key"},
		}
	}
	return []Step{st}
}

func fixUpClientFiles(f *Facts, l *probes.UpstreamLinkFacts, r Result) []Step {
	if l == nil {
		return explainStep("Point the directives at readable PEM files, leaf first", "nginx -t says which file it cannot load.",
			"upstream-client-cert-file-invalid")
	}
	switch r.Cause.Code {
	case CauseDirectiveMissing:
		if l.SSL.Certificate.Default() {
			return []Step{withInputs(linkDirectiveStep(f, l, l.SSL.Certificate, "<proxy-client-cert-path>", "Set "+l.SSL.Certificate.Name,
				l.SSL.CertificateKey.Name+" is set: name the certificate it belongs to.", "upstream-client-cert-file-invalid"),
				Input{Name: "<proxy-client-cert-path>", Prompt: "path of the certificate of " + l.SSL.CertificateKey.Value})}
		}
		return []Step{withInputs(linkDirectiveStep(f, l, l.SSL.CertificateKey, "<proxy-client-key-path>", "Set "+l.SSL.CertificateKey.Name,
			"NGINX needs the key of "+l.SSL.Certificate.Value+".", "upstream-client-cert-file-invalid"),
			Input{Name: "<proxy-client-key-path>", Prompt: "path of the private key of " + l.SSL.Certificate.Value})}
	case CauseSwapped:
		// One step: NGINX refuses either directive changed alone.
		return []Step{linkDirectivesStep(f, l, "Swap the certificate and key paths",
			"The certificate directive names the key file and the key directive the certificate.",
			[]string{"upstream-client-cert-file-invalid", "upstream-client-key-mismatch"},
			linkSetting{l.SSL.Certificate, nginxValue(l.SSL.CertificateKey.Path)},
			linkSetting{l.SSL.CertificateKey, nginxValue(l.SSL.Certificate.Path)})}
	case CauseChainOrder:
		p := l.SSL.Certificate.Path
		return []Step{{
			Title: "Put the leaf certificate first in " + p,
			Why:   "NGINX presents the first certificate of the file as its own and the rest as the chain.",
			Commands: []string{
				"sudo cp -p " + shellQuote(p) + " " + shellQuote(p+".bak"),
				"openssl crl2pkcs7 -nocrl -certfile " + shellQuote(p) + " | openssl pkcs7 -print_certs -noout",
				reloadNginxFor(f),
			},
			Changes: []string{p}, Verify: []string{"upstream-client-cert-file-invalid"},
			Manual: "reorder the certificates by hand: the leaf, then its issuer, then that issuer's issuer",
		}}
	case CauseFileMissing:
		// The file named is not there: point the directive at the one that is, which only
		// the user knows.
		setting, input := l.SSL.Certificate, Input{Name: "<proxy-client-cert-path>", Prompt: "path of the client certificate (PEM) NGINX presents to the upstream"}
		if strings.HasPrefix(r.Summary, l.SSL.CertificateKey.Name+" ") {
			setting, input = l.SSL.CertificateKey, Input{Name: "<proxy-client-key-path>", Prompt: "path of the private key of " + l.SSL.Certificate.Value}
		}
		return []Step{withInputs(linkDirectiveStep(f, l, setting, input.Name, "Point "+setting.Name+" at the file that exists",
			setting.Value+" does not exist, so nginx -t refuses the configuration.", "upstream-client-cert-file-invalid"), input)}
	}
	path := l.SSL.Certificate.Path
	if l.Key != nil && l.Key.Path != "" && strings.Contains(r.Summary, l.Key.Path) {
		path = l.SSL.CertificateKey.Path
	}
	return []Step{{
		Title:    "Check what " + path + " holds",
		Why:      "NGINX reads PEM: the certificate file starts with -----BEGIN CERTIFICATE-----, the key file with a PRIVATE KEY block.",
		Commands: []string{pemCheckCommand(probes.RoleCert, path), reloadNginxFor(f)},
		Verify:   []string{"upstream-client-cert-file-invalid"},
	}}
}

func withInputs(s Step, in ...Input) Step {
	s.Inputs = append(s.Inputs, in...)
	return s
}

// fixUpClientReissue reissues the link's client certificate keeping its subject and names
// (openssl x509 -x509toreq -copy_extensions copyall), with clientAuth, signed by the CA the
// upstream trusts; a weak or mismatched key gets a new one.
func fixUpClientReissue(verify string) func(f *Facts, l *probes.UpstreamLinkFacts, r Result) []Step {
	return func(f *Facts, l *probes.UpstreamLinkFacts, r Result) []Step {
		if l == nil || l.SSL.Certificate.Path == "" || l.SSL.CertificateKey.Path == "" {
			return explainStep("Reissue NGINX's upstream client certificate with clientAuth from the CA the upstream trusts",
				"Keep its subject and names; sign it where the CA's key is.", verify)
		}
		// A weak key is replaced, and so is a revoked certificate's (a CA revokes for a
		// compromised key); any other keeps the key the configuration names, which then
		// matches the new certificate.
		newKey := verify == "upstream-client-cert-weak-key" || verify == "upstream-client-cert-revoked"
		return []Step{reissueClientStep(f, l, verify, newKey)}
	}
}

func reissueClientStep(f *Facts, l *probes.UpstreamLinkFacts, verify string, newKey bool) Step {
	r := reissuance{
		cert: l.SSL.Certificate.Path, key: l.SSL.CertificateKey.Path, leaf: clientLeaf(l),
		subjectPlaceholder: "<proxy-client-name>", caCert: "<upstream-ca-cert-path>", caKey: "<upstream-ca-key-path>",
		eku:    "clientAuth",
		newKey: newKey,
		// Intermediates after the leaf stay, unless they are another CA's.
		keepChain: verify != "upstream-client-cert-unknown-ca",
		after:     []string{reloadNginxFor(f)},
	}
	why := "Signed by the CA the upstream trusts for client certificates, with clientAuth."
	switch {
	case r.newKey && verify == "upstream-client-cert-weak-key":
		why += " The old key is too weak for OpenSSL, so a new P-256 key replaces it."
	case r.newKey:
		why += " A CA revokes a certificate when its key may be known to others, so a new P-256 key replaces it."
	}
	st := r.step("Reissue "+r.cert+" from the CA the upstream trusts", why, verify)
	st.Inputs = []Input{inputUpstreamCACert, inputUpstreamCAKey}
	return st
}

func fixUpClientKeyEncrypted(f *Facts, l *probes.UpstreamLinkFacts, r Result) []Step {
	if l == nil {
		return explainStep("Name a password file that decrypts the key", "One passphrase a line; NGINX tries each in turn.", "upstream-client-key-encrypted")
	}
	pw := l.SSL.PasswordFile.Path
	if pw == "" {
		pw = l.SSL.CertificateKey.Path + ".pass"
	}
	return []Step{
		{
			Title: "Write the key's passphrase to " + pw,
			Why:   "NGINX reads the passphrase from a file only root can read.",
			Commands: []string{
				"sudo sh -c 'umask 077; printf \"%s\\n\" \"$1\" >\"$2\"' sh <key-passphrase> " + shellQuote(pw),
				"sudo openssl pkey -in " + shellQuote(l.SSL.CertificateKey.Path) + " -passin file:" + shellQuote(pw) + " -noout",
			},
			Inputs:  []Input{{Name: "<key-passphrase>", Prompt: "the passphrase of " + l.SSL.CertificateKey.Path}},
			Changes: []string{pw}, Verify: []string{"upstream-client-key-encrypted"},
		},
		linkDirectiveStep(f, l, l.SSL.PasswordFile, nginxValue(pw), "Set "+l.SSL.PasswordFile.Name,
			"So NGINX can decrypt the key.", "upstream-client-key-encrypted"),
	}
}

func fixUpClientUnknownCA(f *Facts, l *probes.UpstreamLinkFacts, r Result) []Step {
	steps := fixUpClientReissue("upstream-client-cert-unknown-ca")(f, l, r)
	if l == nil {
		return steps
	}
	issuer := "the CA that issued " + l.SSL.Certificate.Value
	if leaf := clientLeaf(l); leaf != nil {
		issuer = "the CA " + leaf.Issuer.String() + ", which issued " + l.SSL.Certificate.Value
	}
	cmds := []string{
		backupCommand("<upstream-client-ca-path>"),
		"sudo sh -c 'cat \"$1\" >>\"$2\"' sh '<proxy-client-ca-path>' '<upstream-client-ca-path>'",
	}
	return append(steps, Step{
		Title: "Or add the issuing CA to the CA file the upstream verifies clients with, on the upstream's host",
		Why: "The upstream's client CA file (ssl_client_certificate on an NGINX upstream) must hold " + issuer +
			"; copy that CA's certificate to the upstream's host first. The file keeps the CAs it trusts now.",
		Commands: append(cmds, upstreamReload(l)...),
		Host:     HostUpstream, Verify: []string{"upstream-client-cert-unknown-ca"},
	})
}

func fixUpClientChain(f *Facts, l *probes.UpstreamLinkFacts, r Result) []Step {
	if l == nil || l.SSL.Certificate.Path == "" {
		return explainStep("Append the intermediate to the client certificate file", "NGINX sends the whole file.", "upstream-client-chain-incomplete")
	}
	p := l.SSL.Certificate.Path
	return []Step{{
		Title: "Append the intermediate CA to " + p,
		Why:   "NGINX sends every certificate of the file after the leaf.",
		Commands: []string{
			"sudo cp -p " + shellQuote(p) + " " + shellQuote(p+".bak"),
			"sudo sh -c 'cat \"$1\" >>\"$2\"' sh <intermediate-ca-path> " + shellQuote(p),
			reloadNginxFor(f),
		},
		Inputs:  []Input{{Name: "<intermediate-ca-path>", Prompt: "path of the intermediate CA certificate that issued " + p}},
		Changes: []string{p}, Verify: []string{"upstream-client-chain-incomplete"},
	}}
}

// fixUpClientRejected: the upstream refused NGINX's certificate for a reason the front
// cannot see. Its log, on its host, names the reason; the steps after it fix the reasons
// only the upstream knows: a certificate it revoked (a new one, with a new key) and an
// allow-list of subjects.
func fixUpClientRejected(f *Facts, l *probes.UpstreamLinkFacts, r Result) []Step {
	verify := []string{"upstream-client-cert-rejected"}
	forbidden := l != nil && slices.ContainsFunc(linkProbes(l), func(p *probes.UpstreamProbe) bool {
		status, _ := probeStatus(p)
		return status == 403 && p.TLS != nil && p.TLS.ClientCertSent
	})
	var steps []Step
	switch {
	case forbidden:
		// A 403 after a verified handshake is the upstream's own rule, not a verify error:
		// there is no reason in its error log to read.
	case upstreamAlerted(l):
		steps = append(steps, Step{
			Title: "Read the upstream's reason in its service's log, on the upstream's host",
			Why: "The upstream aborted the handshake with an alert and says why in its own log: a Go service logs " +
				"\"http: TLS handshake error from\" and the reason (net/http), such as a subject its allow-list refuses or a revoked certificate.",
			Commands: []string{"sudo journalctl -u '<upstream-service>' --since -1h --no-pager | grep -iE 'handshake|certificate' | tail -n 5"},
			Host:     HostUpstream, Verify: verify,
		})
	default:
		steps = append(steps, Step{
			Title: "Read the upstream's reason in its error log, on the upstream's host",
			Why: "An upstream NGINX logs \"client SSL certificate verify error: (N:reason)\" at [info] (set its error_log to info " +
				"if nothing shows): (23:certificate revoked) is fixed by the next step; (22:certificate chain too long) by its " +
				"ssl_verify_depth; (3:unable to get certificate CRL) by a CRL for every CA in its ssl_crl.",
			Commands: []string{"sudo grep -E 'client SSL certificate verify error|client sent no required SSL certificate' '<upstream-error-log>' | tail -n 5"},
			Host:     HostUpstream, Verify: verify,
		})
	}
	if l == nil || l.SSL.Certificate.Path == "" || l.SSL.CertificateKey.Path == "" {
		return steps
	}
	if forbidden || upstreamAlerted(l) {
		steps = append(steps, allowSubjectStep(l, verify))
	}
	if !forbidden {
		st := reissueClientStep(f, l, "upstream-client-cert-rejected", true)
		st.Title = "If it says the certificate is revoked: reissue " + l.SSL.Certificate.Path + " with a new key"
		st.Why = "Undoing a revocation needs the CA's own records; a new certificate, with a serial the CRL does not list, " +
			"replaces the revoked one. " + st.Why
		steps = append(steps, st)
	}
	return steps
}

// allowSubjectStep adds NGINX's certificate subject to the upstream's allow-list, on the
// upstream's host: a file of one DN a line, backed up, the line added once, then the
// upstream reloaded (NGINX) or restarted (a service that reads it when it starts).
func allowSubjectStep(l *probes.UpstreamLinkFacts, verify []string) Step {
	st := Step{
		Title: "Add NGINX's certificate subject to the upstream's allow-list, on the upstream's host",
		Why: "The upstream accepts only the subjects its list names; the list holds one subject DN a line in RFC 2253 form, as " +
			"NGINX's $ssl_client_s_dn writes it (another format, such as an NGINX map, takes the same DN in its own syntax).",
		Host: HostUpstream, Verify: verify,
	}
	leaf := clientLeaf(l)
	if leaf == nil {
		st.Manual = "the client certificate could not be read, so its subject is not known"
		return st
	}
	dn := leaf.Subject.String()
	if dn == "" {
		st.Manual = "the client certificate's subject is empty, so a list of subjects cannot name it (the upstream must match its SANs)"
		return st
	}
	st.Commands = []string{
		backupCommand("<upstream-allow-list-path>"),
		"sudo grep -qxF " + shellQuote(dn) + " '<upstream-allow-list-path>' || " + appendLinesCommand("<upstream-allow-list-path>", dn),
	}
	if upstreamAlerted(l) {
		st.Why += " The service reads the list when it starts, so it is restarted."
	}
	st.Commands = append(st.Commands, upstreamReload(l)...)
	return st
}

// upstreamAlerted reports whether the upstream aborted a probe's handshake with an alert,
// as a Go, Java or Envoy service does where an NGINX upstream answers 400.
func upstreamAlerted(l *probes.UpstreamLinkFacts) bool {
	return l != nil && slices.ContainsFunc(linkProbes(l), func(p *probes.UpstreamProbe) bool { return probeAlert(p) != 0 })
}

// upstreamReload makes the upstream's service use what a step changed on its host: an
// NGINX upstream tests its configuration and reloads; a service that aborts handshakes
// with an alert (not NGINX) is restarted, as most read their files only when they start.
func upstreamReload(l *probes.UpstreamLinkFacts) []string {
	if upstreamAlerted(l) {
		return []string{"sudo systemctl restart '<upstream-service>'"}
	}
	return []string{"sudo nginx -t", "sudo systemctl reload '<upstream-service>'"}
}

func fixUpVerifyOff(f *Facts, l *probes.UpstreamLinkFacts, r Result) []Step {
	if l == nil {
		return explainStep("Turn on *_ssl_verify with a trusted CA file", "NGINX then verifies the upstream's chain and name.", "upstream-verify-off")
	}
	return []Step{
		withInputs(linkDirectiveStep(f, l, l.SSL.TrustedCertificate, "<upstream-server-ca-path>", "Set "+l.SSL.TrustedCertificate.Name,
			"The CA that issued the upstream's certificate.", "upstream-trusted-ca-missing"), inputUpstreamCA),
		linkDirectiveStep(f, l, l.SSL.Verify, "on", "Set "+l.SSL.Verify.Name+" on",
			"NGINX then refuses an upstream whose chain or name does not verify (502).", "upstream-verify-off", "upstream-cert-untrusted", "upstream-name-mismatch"),
	}
}

func fixUpstreamTrust(f *Facts, l *probes.UpstreamLinkFacts, r Result) []Step {
	if l == nil {
		return explainStep("Trust the CA that issued the upstream's certificate, and have the upstream send its intermediates",
			"*_ssl_trusted_certificate must hold the root (and any intermediate the upstream does not send).", "upstream-cert-untrusted")
	}
	return []Step{
		withInputs(linkDirectiveStep(f, l, l.SSL.TrustedCertificate, "<upstream-server-ca-path>", "Point "+l.SSL.TrustedCertificate.Name+" at the upstream's CA",
			"The file must hold the CA that issued the upstream's certificate; for an upstream that does not send its intermediate, that too.",
			"upstream-cert-untrusted", "upstream-chain-incomplete"), inputUpstreamCA),
		upstreamSendsIntermediateStep(l, Input{Name: "<intermediate-ca-path>", Prompt: inputPrompts["<intermediate-ca-path>"]}),
	}
}

// upstreamSendsIntermediateStep appends the intermediate to the certificate file the
// upstream serves, on its host: an NGINX upstream sends every certificate of its
// ssl_certificate file after the leaf.
func upstreamSendsIntermediateStep(l *probes.UpstreamLinkFacts, intermediate Input) Step {
	return Step{
		Title: "Or have the upstream send the intermediate, on the upstream's host",
		Why:   "An upstream NGINX sends every certificate of its ssl_certificate file after the leaf; the file keeps its leaf first.",
		Commands: append([]string{
			backupCommand("<upstream-cert-path>"),
			"sudo sh -c 'cat \"$1\" >>\"$2\"' sh '<intermediate-ca-path>' '<upstream-cert-path>'",
		}, upstreamReload(l)...),
		Host: HostUpstream, Inputs: []Input{intermediate}, Verify: []string{"upstream-chain-incomplete"},
	}
}

// fixUpstreamChain completes the chain an upstream sends short: first, on the front
// (its configuration, tested and reloaded), the missing intermediate is appended to the
// trusted CA file NGINX completes chains from; or the upstream sends it, on its own host.
// The intermediate is neither sent nor in the files judged, so its file is the user's.
func fixUpstreamChain(f *Facts, l *probes.UpstreamLinkFacts, r Result) []Step {
	if l == nil || l.SSL.TrustedCertificate.Path == "" {
		return fixUpstreamTrust(f, l, r)
	}
	missing := "the intermediate that issued the last certificate the upstream sends"
	for _, p := range verdicts(l) {
		if len(p.TLS.PeerChain) > 0 && upstreamChainGap(l, p) {
			missing = "the intermediate " + WalkChain(p.TLS.PeerChain[0], p.TLS.PeerChain[1:], l.TrustedCA.Certs).Last().Issuer.String()
			break
		}
	}
	trusted := l.SSL.TrustedCertificate.Path
	input := Input{Name: "<intermediate-ca-path>", Prompt: "path of the certificate of " + missing}
	return []Step{
		{
			Title: "Append the missing intermediate to " + trusted,
			Why: "NGINX completes the upstream's chain from " + l.SSL.TrustedCertificate.Name + "; with " + missing +
				" there, the chain reaches the trusted root. The file keeps what it trusts now.",
			Commands: []string{
				backupCommand(trusted),
				"sudo sh -c 'cat \"$1\" >>\"$2\"' sh '<intermediate-ca-path>' " + shellQuote(trusted),
				reloadNginxFor(f),
			},
			Inputs: []Input{input}, Changes: []string{trusted}, Verify: []string{"upstream-chain-incomplete"},
		},
		upstreamSendsIntermediateStep(l, input),
	}
}

// targetAddr is the first server's address, for s_client.
func targetAddr(l *probes.UpstreamLinkFacts) string {
	if len(l.Servers) > 0 {
		return l.Servers[0].Address
	}
	return l.Target()
}

func fixUpstreamName(f *Facts, l *probes.UpstreamLinkFacts, r Result) []Step {
	if l == nil {
		return explainStep("Set *_ssl_name to a DNS name in the upstream's certificate", "NGINX matches DNS names only.", "upstream-name-mismatch")
	}
	return []Step{withInputs(linkDirectiveStep(f, l, l.SSL.Name, "<upstream-dns-name>", "Set "+l.SSL.Name.Name+" to a DNS name of the upstream's certificate",
		"NGINX verifies this name (and sends it as SNI with "+l.SSL.ServerName.Name+" on) against the certificate's DNS names.",
		"upstream-name-mismatch"), Input{Name: "<upstream-dns-name>", Prompt: "a DNS name listed in the upstream certificate's subjectAltName"})}
}

func fixUpstreamSNI(f *Facts, l *probes.UpstreamLinkFacts, r Result) []Step {
	if l == nil {
		return explainStep("Turn on *_ssl_server_name", "NGINX then sends *_ssl_name as SNI.", "upstream-sni-missing")
	}
	return []Step{linkDirectiveStep(f, l, l.SSL.ServerName, "on", "Set "+l.SSL.ServerName.Name+" on",
		"NGINX then sends "+firstNonEmpty(l.SSLName, "the upstream's name")+" as SNI, so the upstream picks the right server.",
		"upstream-sni-missing", "upstream-name-mismatch")}
}

func fixUpstreamServerSide(verify string) func(f *Facts, l *probes.UpstreamLinkFacts, r Result) []Step {
	return func(f *Facts, l *probes.UpstreamLinkFacts, r Result) []Step {
		if st, ok := renewLocalUpstream(f, l, verify); ok {
			return []Step{st}
		}
		return []Step{renewRemoteUpstream(l, verify)}
	}
}

// renewRemoteUpstream reissues the upstream's certificate on the upstream's host: the
// subject, names and usages of the certificate it sent (read from the probe's handshake),
// its key kept, signed by its CA; then its service reloads. Its files are placeholders.
func renewRemoteUpstream(l *probes.UpstreamLinkFacts, verify string) Step {
	var leaf *x509.Certificate
	addr := upstreamAddrPlaceholder
	if l != nil {
		addr = targetAddr(l)
		leaf = sentLeaf(l)
	}
	r := reissuance{host: HostUpstream, cert: "<upstream-cert-path>", key: "<upstream-key-path>", leaf: leaf,
		subjectPlaceholder: "<upstream-dns-name>", caCert: "<upstream-server-ca-cert-path>", caKey: "<upstream-server-ca-key-path>",
		eku: "serverAuth", keepChain: true, after: upstreamReload(l)}
	st := r.step("Renew the upstream's certificate on the upstream's host",
		"The certificate the upstream at "+addr+" serves is what NGINX refuses; it is renewed where it is served.", verify)
	return st
}

// sentLeaf is the certificate the link's first probed server sent; nil when none was seen.
func sentLeaf(l *probes.UpstreamLinkFacts) *x509.Certificate {
	for _, p := range l.Probes {
		if p != nil && p.TLS != nil && len(p.TLS.PeerChain) > 0 {
			return p.TLS.PeerChain[0]
		}
	}
	return nil
}

// renewLocalUpstream reissues the certificate of an upstream that this NGINX itself
// terminates (a server block of the configuration judged): same key, subject, names and
// usages, serverAuth, signed by the CA the front trusts for it; then nginx -t and a reload.
func renewLocalUpstream(f *Facts, l *probes.UpstreamLinkFacts, verify string) (Step, bool) {
	if l == nil || len(l.Local) == 0 || l.Local[0].Server == nil {
		return Step{}, false
	}
	srv := l.Local[0].Server
	if len(srv.Certs) == 0 || len(srv.Keys) == 0 || srv.Certs[0] == nil || srv.Keys[0] == nil ||
		srv.Certs[0].Path == "" || srv.Keys[0].Path == "" {
		return Step{}, false
	}
	var leaf *x509.Certificate
	if len(srv.Certs[0].Certs) > 0 {
		leaf = srv.Certs[0].Certs[0]
	}
	r := reissuance{cert: srv.Certs[0].Path, key: srv.Keys[0].Path, leaf: leaf,
		subjectPlaceholder: "<upstream-dns-name>", caCert: "<upstream-server-ca-cert-path>", caKey: "<upstream-server-ca-key-path>",
		eku: "serverAuth", keepChain: true, after: []string{reloadNginxFor(f)}}
	st := r.step("Renew the upstream's certificate "+r.cert,
		"The upstream is a server block of this NGINX ("+srv.Pos()+"), so its certificate is renewed here.", verify)
	return st, true
}

func fixUpVerifyDepth(f *Facts, l *probes.UpstreamLinkFacts, r Result) []Step {
	if l == nil {
		return explainStep("Raise *_ssl_verify_depth", "Depth 1 (the default) admits one intermediate.", "upstream-verify-depth")
	}
	depth := "2"
	if _, d := depthFailure(f, l); d > 0 {
		depth = strconv.Itoa(d)
	}
	return []Step{linkDirectiveStep(f, l, l.SSL.VerifyDepth, depth, "Set "+l.SSL.VerifyDepth.Name+" "+depth,
		"Depth N admits N intermediates between the upstream's certificate and the trusted root.", "upstream-verify-depth")}
}

func fixUpTLSVersion(f *Facts, l *probes.UpstreamLinkFacts, r Result) []Step {
	if l == nil {
		return explainStep("Offer the upstream's TLS versions", "E.g. proxy_ssl_protocols TLSv1.2 TLSv1.3;", "upstream-tls-version-mismatch")
	}
	return []Step{linkDirectiveStep(f, l, l.SSL.Protocols, "TLSv1.2 TLSv1.3", "Set "+l.SSL.Protocols.Name+" TLSv1.2 TLSv1.3",
		"NGINX before 1.23.4 leaves TLSv1.3 out of its default; a TLS 1.3-only upstream needs it named.", "upstream-tls-version-mismatch")}
}

// fixUpHandshake: the upstream aborted the handshake with an alert no other check names
// (40 handshake_failure, 80 internal_error, …). When the probe's variations found what it
// accepts, the fix offers that: SNI (fixUpRequiresSNI) or the cipher suites it accepts
// (fixUpNoSharedCipher). Otherwise its reason is in its own configuration, which the front
// cannot read: the steps show the alert from this host and the upstream's log on its
// host, and the change is the user's.
func fixUpHandshake(f *Facts, l *probes.UpstreamLinkFacts, r Result) []Step {
	if l != nil {
		switch r.Cause.Code {
		case CauseSNIRequired:
			return fixUpRequiresSNI(f, l)
		case CauseNoSharedCipher:
			if st := fixUpNoSharedCipher(f, l); st != nil {
				return st
			}
		}
	}
	addr := upstreamAddrPlaceholder
	if l != nil {
		addr = targetAddr(l)
	}
	verify := []string{"upstream-tls-handshake-failed"}
	// s_client exits 1 when the handshake fails, which is what it is run to show.
	sclient := "openssl s_client -connect " + shellQuote(addr)
	if l != nil && l.SSLName != "" {
		sclient += " -servername " + shellQuote(l.SSLName)
	}
	return []Step{
		{
			Title:    "See the alert from this host",
			Why:      "openssl shows the handshake up to the alert: the versions and ciphers offered, and the alert the upstream sent.",
			Commands: []string{sclient + " -state </dev/null 2>&1 | grep -E 'SSL_connect|alert|Cipher|Protocol' || true"},
			Verify:   verify,
		},
		{
			Title: "Read the upstream NGINX's reason in its error log, on the upstream's host",
			Why: "An upstream NGINX logs \"SSL_do_handshake() failed (SSL: … reason)\" at [info] (set its error_log to info if " +
				"nothing shows): \"no shared cipher\" names its ssl_ciphers, \"unsupported protocol\" its ssl_protocols.",
			Commands: []string{"sudo grep -F 'SSL_do_handshake() failed' '<upstream-error-log>' | tail -n 5"},
			Host:     HostUpstream, Verify: verify,
		},
		{
			Title:    "Or read another upstream's reason in its service's log, on the upstream's host",
			Why:      "A Go service logs \"http: TLS handshake error from\" and the reason (net/http); Java and Envoy log the handshake failure too.",
			Commands: []string{"sudo journalctl -u '<upstream-service>' --since -1h --no-pager | grep -iE 'handshake|ssl|tls' | tail -n 5"},
			Host:     HostUpstream, Verify: verify,
		},
		{
			Title: "Change the upstream's TLS settings to accept what NGINX offers, on the upstream's host",
			Why: "The alert is the upstream's own choice: it refused both NGINX and the probe, which offer what " +
				firstNonEmpty(protocolsName(l), "*_ssl_protocols") + " and " + firstNonEmpty(ciphersName(l), "*_ssl_ciphers") +
				" allow, and every variation the probe tried (a server name, TLS 1.3, each other TLS 1.2 suite). Its " +
				"configuration is on its host, and its log (the steps before) names the setting: widen it there, or narrow " +
				"what NGINX offers to what it accepts.",
			Host: HostUpstream, Verify: verify,
			Manual: "the upstream's TLS configuration is not judged from this host, so the setting to change is not known here",
		},
	}
}

// ciphersName is the link's *_ssl_ciphers directive name, "" without a link.
func ciphersName(l *probes.UpstreamLinkFacts) string {
	if l == nil {
		return ""
	}
	return l.SSL.Ciphers.Name
}

// fixUpRequiresSNI: the upstream completed the handshake when the probe sent the name
// NGINX verifies as SNI, so NGINX sends it.
func fixUpRequiresSNI(f *Facts, l *probes.UpstreamLinkFacts) []Step {
	return []Step{linkDirectiveStep(f, l, l.SSL.ServerName, "on", "Set "+l.SSL.ServerName.Name+" on",
		"The upstream refuses a ClientHello without a server name, and completed the handshake when "+l.SSLName+
			" was sent; NGINX sends it (its "+l.SSL.Name.Name+", by default the "+l.Module.Directive()+" host) with "+
			l.SSL.ServerName.Name+" on.",
		"upstream-tls-handshake-failed", "upstream-sni-missing")}
}

// fixUpNoSharedCipher: the upstream accepted, under TLS 1.2, suites the link's
// *_ssl_ciphers leaves out. Safe first: the front adds them to its list (keeping what it
// offers now); or, on the upstream's host, an NGINX upstream adds what NGINX offers to its
// ssl_ciphers. nil when no suite was accepted.
func fixUpNoSharedCipher(f *Facts, l *probes.UpstreamLinkFacts) []Step {
	var accepted, offered []string
	for _, p := range linkProbes(l) {
		if names := acceptedCiphers(p); len(names) > 0 {
			accepted, offered = names, p.Ciphers
			break
		}
	}
	if len(accepted) == 0 {
		return nil
	}
	verify := []string{"upstream-tls-handshake-failed"}
	list := strings.Join(accepted, ":")
	value := list
	if v := strings.TrimSpace(l.SSL.Ciphers.Value); v != "" {
		value = v + ":" + list
	}
	steps := []Step{linkDirectiveStep(f, l, l.SSL.Ciphers, nginxValue(value), "Add "+joinNames(accepted, 3)+" to "+l.SSL.Ciphers.Name,
		"The upstream accepts "+joinNames(accepted, 3)+" under TLS 1.2 and refuses every suite "+l.SSL.Ciphers.Name+
			" offers now; the list keeps what it offers and adds "+plural(len(accepted), "it", "them")+".", verify...)}
	if len(offered) == 0 {
		return steps
	}
	// An NGINX upstream's ssl_ciphers line, unquoted or quoted: the suites NGINX offers are
	// added at its end, inside the quotes. Lines that name no ssl_ciphers are left alone,
	// and the step stops first when there is none (OpenSSL's default would already accept them).
	line := `^\([[:space:]]*ssl_ciphers[[:space:]]\{1,\}["']\{0,1\}[^;"']*\)\(["']\{0,1\}\)[[:space:]]*;`
	conf := "<upstream-nginx-conf>"
	return append(steps, Step{
		Title: "Or add the suites NGINX offers to the upstream's ssl_ciphers, on the upstream's host",
		Why: "On an NGINX upstream, ssl_ciphers lists the TLS 1.2 suites it accepts; adding " + joinNames(offered, 3) +
			" (what " + l.SSL.Ciphers.Name + " offers) lets NGINX's ClientHello through. Its other clients keep what they use.",
		Commands: []string{
			"sudo grep -Eq '^[[:space:]]*ssl_ciphers[[:space:]]' " + shellQuote(conf),
			backupCommand(conf),
			sedCommand(conf, "s|"+line+"|\\1:"+sedText(strings.Join(offered, ":"))+"\\2;|"),
			"sudo nginx -t",
			"sudo systemctl reload " + shellQuote("<upstream-service>"),
		},
		Host: HostUpstream, Verify: verify,
	})
}

// plural is one when n is 1, else many.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// protocolsName is the link's *_ssl_protocols directive name, "" without a link.
func protocolsName(l *probes.UpstreamLinkFacts) string {
	if l == nil {
		return ""
	}
	return l.SSL.Protocols.Name
}

// fixUpNotTLS: the upstream answers in plaintext. Safe first: point the front at the
// upstream's TLS port, when it has one; else make the upstream serve TLS on the port the
// front uses. Switching the front to plaintext (http://) is not offered: it would send
// the requests unencrypted and drop the client certificate that authenticates NGINX.
func fixUpNotTLS(f *Facts, l *probes.UpstreamLinkFacts, r Result) []Step {
	if l == nil || l.Pass == nil {
		return explainStep("Use the upstream's TLS port", "https:// needs a TLS listener.", "upstream-not-tls")
	}
	verify := []string{"upstream-not-tls"}
	front := withInputs(upstreamEditStep(f,
		"Point "+l.Module.Directive()+" at the upstream's TLS port",
		"The server at "+targetAddr(l)+" answers in plaintext; the upstream may serve TLS on another port.", verify,
		nginxEdit{l.Pass.File, replaceDiff(l.Pass, l.Module.Directive()+" <upstream-url>;")}),
		Input{Name: "<upstream-url>", Prompt: inputPrompts["<upstream-url>"]})
	return []Step{front, upstreamServeTLSStep(l, portPart(targetAddr(l)), verify)}
}

// upstreamServeTLSStep makes an NGINX upstream serve TLS on port, on its host: the
// listen line of that port gets `ssl`, and the certificate and key follow it; then nginx
// -t and a reload. The configuration file and the certificate are the user's to name.
func upstreamServeTLSStep(l *probes.UpstreamLinkFacts, port string, verify []string) Step {
	// A listen of the port (any address), not yet ssl: "listen 8080;", "listen 10.0.0.2:8080 default_server;".
	listen := `^[[:space:]]*listen[[:space:]]\+\([^;[:space:]]*:\)\?` + port + `\([[:space:]][^;]*\)\?;`
	listenERE := `^[[:space:]]*listen[[:space:]]+([^;[:space:]]*:)?` + port + `([[:space:]][^;]*)?;`
	conf := "'<upstream-nginx-conf>'"
	why := "NGINX verifies the upstream's certificate against " + firstNonEmpty(l.SSL.TrustedCertificate.Value, "its trusted CA file")
	if l.SSLName != "" {
		why += " for the name " + l.SSLName
	}
	return Step{
		Title: "Or make the upstream serve TLS on port " + port + ", on the upstream's host",
		Why: "On an NGINX upstream, the server block that listens on " + port + " gets `ssl` and a certificate and key. " + why +
			", so the certificate must be issued for it. Its other clients then need https:// too.",
		Commands: append([]string{
			// Stop here when the file has no such listen line: the edit would change nothing.
			"sudo grep -Eq " + shellQuote(listenERE) + " " + conf,
			backupCommand("<upstream-nginx-conf>"),
			"sudo sed -i -e " + shellQuote("/"+listen+"/{") + " -e 's/;/ ssl;/'" +
				" -e 'a\\    ssl_certificate \"<upstream-cert-path>\";'" +
				" -e 'a\\    ssl_certificate_key \"<upstream-key-path>\";' -e '}' " + conf,
		}, upstreamReload(l)...),
		Host: HostUpstream, Verify: verify,
	}
}

func fixUpUnreachable(f *Facts, l *probes.UpstreamLinkFacts, r Result) []Step {
	addr := upstreamAddrPlaceholder
	if l != nil {
		addr = targetAddr(l)
	}
	check := Step{
		Title: "Check that the upstream listens and is reachable from this host",
		Why:   "NGINX cannot open a TCP connection; start the upstream or fix the address. openssl connects as NGINX does.",
		Commands: []string{"openssl s_client -connect " + shellQuote(net.JoinHostPort(hostPart(addr), portPart(addr))) +
			" -brief </dev/null"},
		Verify: []string{"upstream-unreachable"},
	}
	if l == nil || !loopbackHost(hostPart(addr)) {
		return []Step{check}
	}
	// An upstream on this host is a service to start.
	return []Step{{
		Title:    "Start the upstream service on this host",
		Why:      "Nothing listens at " + addr + ", an address of this host: the service behind it is stopped.",
		Commands: []string{"sudo systemctl start " + shellQuote("<upstream-service>"), "systemctl is-active " + shellQuote("<upstream-service>")},
		Inputs:   []Input{{Name: "<upstream-service>", Prompt: "the systemd unit of the service that listens at " + addr}},
		Verify:   []string{"upstream-unreachable"},
	}, check}
}

// loopbackHost reports whether host is this host's loopback: "localhost" or a loopback IP.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// upstreamAddrPlaceholder is the upstream's address when no link was read (explain).
const upstreamAddrPlaceholder = "<upstream-host>:<upstream-port>"

func hostPart(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

func portPart(addr string) string {
	if _, p, err := net.SplitHostPort(addr); err == nil {
		return p
	}
	return "443"
}
