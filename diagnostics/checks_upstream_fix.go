package diagnostics

import (
	"fmt"
	"net"
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

// linkDirectiveStep sets directive name to value in the link's location: it replaces the
// location's own directive, or adds one after the pass directive (overriding what the
// location inherits).
func linkDirectiveStep(f *Facts, l *probes.UpstreamLinkFacts, s nginxconf.UpstreamSetting, value, title, why string, verify ...string) Step {
	text := s.Name + " " + value + ";"
	switch {
	case s.Directive != nil && !s.Inherited:
		return nginxStep(f, title, why, s.Directive.File, replaceDiff(s.Directive, text), verify...)
	case l.Pass != nil:
		return nginxStep(f, title, why, l.Pass.File, insertAfterDiff(l.Pass, text), verify...)
	}
	return Step{Title: title, Why: why + " Add to the location: " + text, Commands: []string{reloadNginxFor(f)}, Verify: verify}
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
	why := "The upstream requires a client certificate issued by a CA it trusts; name the certificate and its key in the location."
	steps := []Step{
		linkDirectiveStep(f, l, l.SSL.Certificate, nginxValue(certPath), "Set "+l.SSL.Certificate.Name, why, "upstream-client-cert-not-configured"),
		linkDirectiveStep(f, l, l.SSL.CertificateKey, nginxValue(keyPath), "Set "+l.SSL.CertificateKey.Name,
			"The key of that certificate.", "upstream-client-cert-not-configured", "upstream-client-key-mismatch"),
	}
	for i := range steps {
		if certPath[0] == '<' {
			steps[i].Inputs = []Input{
				{Name: "<proxy-client-cert-path>", Prompt: "path of the client certificate (PEM) NGINX presents to the upstream"},
				{Name: "<proxy-client-key-path>", Prompt: "path of its private key"},
			}
		}
	}
	return steps
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
		return []Step{
			linkDirectiveStep(f, l, l.SSL.Certificate, nginxValue(l.SSL.CertificateKey.Path), "Swap the certificate and key paths",
				"The certificate directive names the key file and the key directive the certificate.", "upstream-client-cert-file-invalid"),
			linkDirectiveStep(f, l, l.SSL.CertificateKey, nginxValue(l.SSL.Certificate.Path), "…and the key directive",
				"", "upstream-client-cert-file-invalid", "upstream-client-key-mismatch"),
		}
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
		return []Step{reissueClientStep(f, l, verify)}
	}
}

func reissueClientStep(f *Facts, l *probes.UpstreamLinkFacts, verify string) Step {
	cert, key := l.SSL.Certificate.Path, l.SSL.CertificateKey.Path
	signKey := key
	var cmds []string
	why := "Keeps the certificate's subject and subjectAltName, sets extendedKeyUsage=clientAuth, and signs it with the CA the upstream trusts."
	newKey := verify == "upstream-client-cert-weak-key"
	if newKey {
		signKey = key + ".new"
		cmds = append(cmds, "sudo openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "+shellQuote(signKey))
		why += " The old key is too weak, so a new P-256 key replaces it."
	}
	cmds = append(cmds,
		"sudo openssl x509 -x509toreq -in "+shellQuote(cert)+" -signkey "+shellQuote(signKey)+" -copy_extensions copyall -out upstream-client.csr",
		"printf 'extendedKeyUsage=clientAuth\\nkeyUsage=critical,digitalSignature\\n' >upstream-client-ext.cnf",
		"openssl x509 -req -in upstream-client.csr -CA <upstream-ca-cert-path> -CAkey <upstream-ca-key-path> -CAcreateserial "+
			"-days 365 -sha256 -copy_extensions copyall -extfile upstream-client-ext.cnf -out upstream-client.crt",
		"sudo cp -p "+shellQuote(cert)+" "+shellQuote(cert+".bak"),
		"sudo install -m 0644 upstream-client.crt "+shellQuote(cert),
	)
	changes := []string{cert}
	if newKey {
		cmds = append(cmds, "sudo cp -p "+shellQuote(key)+" "+shellQuote(key+".bak"), "sudo install -m 0600 "+shellQuote(signKey)+" "+shellQuote(key))
		changes = append(changes, key)
	}
	cmds = append(cmds, showCert(cert), reloadNginxFor(f))
	return Step{
		Title: "Reissue " + cert + " from the CA the upstream trusts", Why: why,
		Commands: cmds, Changes: changes, Verify: []string{verify},
		Inputs: []Input{inputUpstreamCACert, inputUpstreamCAKey},
	}
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
	if l != nil {
		steps = append(steps, Step{
			Title:    "Or add the issuing CA to the upstream's ssl_client_certificate",
			Why:      "On the upstream's host: the CA file it verifies clients with must hold the CA that issued " + l.SSL.Certificate.Value + ".",
			Commands: []string{"openssl x509 -in " + shellQuote(l.SSL.Certificate.Path) + " -noout -issuer"},
			Verify:   []string{"upstream-client-cert-unknown-ca"},
			Manual:   "the upstream's configuration is on its own host",
		})
	}
	return steps
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

func fixUpClientRejected(f *Facts, l *probes.UpstreamLinkFacts, r Result) []Step {
	return []Step{{
		Title: "Read the upstream's reason in its error log",
		Why: "An upstream NGINX logs \"client SSL certificate verify error: (N:reason)\" at [info]: the reason names the fix " +
			"(its ssl_verify_depth, ssl_crl, ssl_client_certificate, or an allow-list on $ssl_client_s_dn).",
		Commands: []string{"sudo grep -E 'client SSL certificate verify error|client sent no required SSL certificate' " + shellQuote("<upstream-error-log>") + " | tail -n 5"},
		Verify:   []string{"upstream-client-cert-rejected"},
		Manual:   "run it on the upstream's host",
	}}
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
		{
			Title:    "Or have the upstream send its intermediates",
			Why:      "On an NGINX upstream, ssl_certificate must hold the leaf followed by its intermediates.",
			Commands: []string{"openssl s_client -connect " + shellQuote(targetAddr(l)) + " -showcerts </dev/null"},
			Verify:   []string{"upstream-chain-incomplete"},
			Manual:   "the upstream's certificate file is on its own host",
		},
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
		addr := upstreamAddrPlaceholder
		if l != nil {
			addr = targetAddr(l)
		}
		return []Step{{
			Title:    "Renew the upstream's certificate on the upstream's host",
			Why:      "The certificate the upstream serves is what NGINX refuses; renewing it is the upstream owner's step.",
			Commands: []string{"openssl s_client -connect " + shellQuote(addr) + " </dev/null 2>/dev/null | openssl x509 -noout -subject -dates"},
			Verify:   []string{verify}, Manual: "the upstream's certificate is on its own host",
		}}
	}
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

func fixUpHandshake(f *Facts, l *probes.UpstreamLinkFacts, r Result) []Step {
	addr := upstreamAddrPlaceholder
	if l != nil {
		addr = targetAddr(l)
	}
	return []Step{{
		Title:    "See where the handshake fails",
		Why:      fmt.Sprintf("openssl shows the alert and the offered ciphers; align %s with what the upstream accepts.", "*_ssl_ciphers"),
		Commands: []string{"openssl s_client -connect " + shellQuote(addr) + " -state </dev/null"},
		Verify:   []string{"upstream-tls-handshake-failed"},
	}}
}

func fixUpNotTLS(f *Facts, l *probes.UpstreamLinkFacts, r Result) []Step {
	if l == nil || l.Pass == nil {
		return explainStep("Use the upstream's TLS port, or a plaintext scheme", "https:// needs a TLS listener.", "upstream-not-tls")
	}
	return []Step{withInputs(nginxStep(f,
		"Point "+l.Module.Directive()+" at the upstream's TLS port, or use "+l.Module.Directive()+" without TLS",
		"The server at "+targetAddr(l)+" answers in plaintext.",
		l.Pass.File, replaceDiff(l.Pass, l.Module.Directive()+" <upstream-url>;"), "upstream-not-tls"),
		Input{Name: "<upstream-url>", Prompt: inputPrompts["<upstream-url>"]})}
}

func fixUpUnreachable(f *Facts, l *probes.UpstreamLinkFacts, r Result) []Step {
	addr := upstreamAddrPlaceholder
	if l != nil {
		addr = targetAddr(l)
	}
	return []Step{{
		Title:    "Check that the upstream listens and is reachable from this host",
		Why:      "NGINX cannot open a TCP connection; start the upstream or fix the address.",
		Commands: []string{"nc -zv -w 3 " + shellQuote(hostPart(addr)) + " " + shellQuote(portPart(addr))},
		Verify:   []string{"upstream-unreachable"},
	}}
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
