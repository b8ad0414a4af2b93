package diagnostics

import (
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Building blocks of executable fix steps: every command is POSIX sh, every path and name
// from the host goes through shellQuote, an edit backs its file up first and is done by a
// command (never an editor), and whatever the tool cannot know is a named placeholder the
// step declares as an Input.

// inputPrompts says what the user must put in place of each placeholder a command may
// hold. A placeholder is always written inside a shell-quoted word ('<ca-key-path>'), so
// that whatever replaces it stays one word.
var inputPrompts = map[string]string{
	"<manager-host>":         "the management plane's host name, one its server certificate names",
	"<ca-cert-path>":         "path of the CA certificate that issues the agents' certificates",
	"<ca-key-path>":          "path of the private key of the CA that issues the agents' certificates",
	"<server-ca-cert-path>":  "path of the CA certificate that issued the manager's server certificate",
	"<server-ca-key-path>":   "path of the private key of the CA that issued the manager's server certificate",
	"<manager-ca-path>":      "path of a PEM file with the CA (and intermediate) certificates that issued the manager's server certificate",
	"<agents-ca-path>":       "path of a PEM file with the CA (and intermediate) certificates that issued the agents' certificates",
	"<intermediate-path>":    "path of a PEM file with the intermediate CA certificate(s) that issued the certificate, in order",
	"<intermediate-ca-path>": "path of the intermediate CA certificate the chain lacks",
	"<manager-nginx-conf>":   "the manager's NGINX configuration file that holds the server block agents connect to",
	"<server-cert-path>":     "the manager's ssl_certificate file (the server certificate NGINX serves to agents)",
	"<server-key-path>":      "the manager's ssl_certificate_key file",
	"<client-ca-path>":       "the manager's ssl_client_certificate file (the CAs NGINX trusts for agents)",
	"<crl-path>":             "the manager's ssl_crl file",
	"<new-crl-path>":         "path of a current CRL (PEM) from the CA that lacks one, as it publishes or generates it",
	"<agent-cert-path>":      "path of the agent's certificate to judge",
	"<manager-ip>":           "the manager's IP address, as this host reaches it",
	"<manager-port>":         "the port the manager's NGINX takes agents on with TLS (443 on NGINX Instance Manager 2.x)",
	"<manager-error-log>":    "the error_log file of the manager's NGINX server that agents connect to",
	"<agent-name>":           "the agent's name for its certificate's subject (CN), e.g. its host name",
	"<agent-key-path>":       "path of the agent's private key",
	"<agent-config-path>":    "path of the configuration file the agent reads (nginx-agent.conf), as the listing shows it",
	"<backend-address>":      "host:port of the manager's gRPC service that NGINX passes agents to",
	"<nginx-conf-path>":      "the NGINX configuration file whose locations pass requests to the upstream",
	"<upstream-host>":        "the upstream's host name or address, as NGINX reaches it",
	"<upstream-port>":        "the upstream's TLS port",
	"<upstream-url>":         "the upstream's TLS URL, e.g. https://backend:8443",
	"<upstream-error-log>":   "the error_log file of the upstream's NGINX, on the upstream's host",
	// The upstream's own files and service, on its host: not in the configuration judged.
	"<upstream-cert-path>":           "path, on the upstream's host, of the certificate file it serves (ssl_certificate)",
	"<upstream-key-path>":            "path, on the upstream's host, of that certificate's key (ssl_certificate_key)",
	"<upstream-service>":             "the systemd unit of the upstream's service",
	"<upstream-server-ca-cert-path>": "path of the certificate of the CA that issued the upstream's certificate",
	"<upstream-server-ca-key-path>":  "path of the private key of the CA that issued the upstream's certificate",
	"<upstream-dns-name>":            "a DNS name listed in the upstream certificate's subjectAltName",
	"<upstream-nginx-conf>":          "path, on the upstream's host, of its NGINX configuration file with the server block NGINX passes to",
	"<upstream-client-ca-path>":      "path, on the upstream's host, of the CA file it verifies client certificates with (ssl_client_certificate)",
	"<proxy-client-ca-path>":         "path, on the upstream's host, of a copy of the certificate of the CA that issued NGINX's client certificate",
	"<upstream-allow-list-path>":     "path, on the upstream's host, of its allow-list of client certificate subjects, one DN a line",
	// NGINX Service Mesh (`mtls-doctor mesh`).
	"<upstream-ca-conf>":    "the upstream authority configuration file given to nginx-meshctl deploy --mtls-upstream-ca-conf",
	"<mesh-ca-cert-path>":   "path of the mesh's upstream CA certificate (PEM), the one SPIRE signs its own CA with",
	"<mesh-ca-key-path>":    "path of the private key of the mesh's upstream CA certificate (PEM, unencrypted)",
	"<mesh-ca-name>":        "the mesh's upstream CA's subject common name",
	"<mesh-bundle-path>":    "path of the bundle file (PEM) with the certificates above the mesh's upstream CA, up to the root",
	"<root-cert-path>":      "path of the certificate (PEM) of the CA that issued the mesh's upstream CA: the root, or the CA between them",
	"<root-key-path>":       "path of the private key of the CA that issued the mesh's upstream CA",
	"<key-passphrase-file>": "path of a file that holds the passphrase of the encrypted key (read once, never shown)",
	"<helm-release>":        "the Helm release the mesh was installed as (helm list --namespace nginx-mesh shows it)",
	"<mtls-mode>":           "the mesh's mTLS mode, strict or permissive, as nginx-meshctl config shows it",
	"<name>":                "the workload's name",
	"<namespace>":           "the workload's namespace",
}

// placeholderPattern matches a named placeholder such as <ca-key-path>; compiled on first use,
// not at init.
var placeholderPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`<[a-z][a-z0-9-]*>`) })

// declareInputs completes each step's Inputs with the placeholders its text and commands hold, in
// the order they first appear; a placeholder the step already declares keeps its prompt. A
// file only the user can name is one of those Inputs and not among the step's Changes, the
// files judged that an apply backs up (an apply never runs a step with a placeholder left).
func declareInputs(steps []Step) []Step {
	for i := range steps {
		st := &steps[i]
		if slices.ContainsFunc(st.Changes, placeholderPattern().MatchString) {
			st.Changes = slices.DeleteFunc(slices.Clone(st.Changes), placeholderPattern().MatchString)
		}
		for _, c := range append([]string{st.Title, st.Why, st.File, st.Diff}, st.Commands...) {
			for _, name := range placeholderPattern().FindAllString(c, -1) {
				if slices.ContainsFunc(st.Inputs, func(in Input) bool { return in.Name == name }) {
					continue
				}
				prompt, ok := inputPrompts[name]
				if !ok {
					continue // not a placeholder of ours (the test over every playbook says so)
				}
				st.Inputs = append(st.Inputs, Input{Name: name, Prompt: prompt})
			}
		}
	}
	return steps
}

// playbook is ch's fix steps for f and r, with their Inputs declared.
func (ch Check) playbook(f *Facts, r Result) []Step {
	if ch.Fix == nil {
		return nil
	}
	return declareInputs(ch.Fix(f, r))
}

// backupCommand copies file to file.bak keeping its mode, owner and times, so that an edit
// can be undone by copying it back.
func backupCommand(file string) string {
	return "sudo " + localBackupCommand(file)
}

// localBackupCommand is backupCommand for a file the user owns, such as the mesh's files on
// the machine it is administered from: no sudo.
func localBackupCommand(file string) string {
	return "cp -p " + shellQuote(file) + " " + shellQuote(file+".bak")
}

// backupIfExistsCommand is backupCommand for a file the step may be the first to write.
func backupIfExistsCommand(file string) string {
	return ifExists(file, backupCommand(file))
}

// ifExists runs command only when file exists.
func ifExists(file, command string) string {
	return "[ ! -e " + shellQuote(file) + " ] || " + command
}

// sedCommand edits file in place with the sed expressions (GNU sed, as on every Linux the
// agent runs on). Expressions address lines of the file as it is before the edit, so
// several edits of one file go in one command.
func sedCommand(file string, exprs ...string) string {
	c := "sudo sed -i"
	for _, e := range exprs {
		c += " -e " + shellQuote(e)
	}
	return c + " " + shellQuote(file)
}

// sedText escapes s for the replacement side of a sed s command delimited by |, and for
// the text of an a, i or c command: backslash, ampersand and the delimiter.
func sedText(s string) string {
	return strings.NewReplacer(`\`, `\\`, `&`, `\&`, `|`, `\|`).Replace(s)
}

// appendLinesCommand appends lines to file (as root), creating it when missing.
func appendLinesCommand(file string, lines ...string) string {
	var q []string
	for _, l := range lines {
		q = append(q, shellQuote(l))
	}
	return "printf '%s\\n' " + strings.Join(q, " ") + " | sudo tee -a " + shellQuote(file) + " >/dev/null"
}

// writeLinesCommand replaces file's content with lines (as root), keeping the file's mode
// and owner when it exists.
func writeLinesCommand(file string, lines ...string) string {
	return strings.Replace(appendLinesCommand(file, lines...), "sudo tee -a ", "sudo tee ", 1)
}

// on sets host on the steps that name none.
func on(host Host, steps ...Step) []Step {
	for i := range steps {
		if steps[i].Host == "" {
			steps[i].Host = host
		}
	}
	return steps
}
