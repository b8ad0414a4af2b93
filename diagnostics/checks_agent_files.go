package diagnostics

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/mtls-doctor/mtls-doctor/logparse"
	"github.com/mtls-doctor/mtls-doctor/probes"
)

func agentFileChecks() []Check {
	return []Check{
		{
			ID: "agent-cert-not-configured", Category: CategoryAgentFiles,
			Title: "agent has a client certificate and key configured",
			Why: "Without a certificate the agent connects with none, and NGINX with ssl_verify_client on answers " +
				"every request with 400 \"No required SSL certificate was sent\". Setting only one of cert and key " +
				"stops the agent with \"cert and key must both be provided\".",
			Needs:    []FactKind{FactAgentConfig},
			Evaluate: evalCertNotConfigured,
			Fix:      fixCertNotConfigured,
		},
		{
			ID: "agent-cert-file-unreadable", Category: CategoryAgentFiles,
			Title: "agent certificate, key and CA files are readable and hold what they should",
			Why: "The agent loads its files once at startup and exits (v2) or never connects (v3) when one is " +
				"missing, unreadable, in the wrong format, or when cert and key are swapped. A CA file without a " +
				"CA certificate trusts nothing, and a world-readable key lets any local user impersonate the agent.",
			Needs:    []FactKind{FactAgentConfig, FactAgentFiles},
			Evaluate: evalFilesUnreadable,
			Fix:      fixFilesUnreadable,
			Manager:  givenCertSide("agent-cert-file-unreadable", evalFilesUnreadable, fixFilesUnreadable),
			LogKinds: []logparse.Kind{logparse.KindAgentCertFileUnreadable},
		},
		{
			ID: "agent-key-encrypted", Category: CategoryAgentFiles,
			Title: "agent private key is not passphrase-protected",
			Why: "The agent has no way to enter a passphrase, so an encrypted key fails to load with \"tls: failed " +
				"to parse private key\" and the agent never connects.",
			Needs:    []FactKind{FactAgentConfig, FactAgentFiles},
			Evaluate: evalKeyEncrypted,
			Fix:      fixKeyEncrypted,
			Manager:  givenCertSide("agent-key-encrypted", evalKeyEncrypted, fixKeyEncrypted),
		},
		{
			ID: "agent-key-mismatch", Category: CategoryAgentFiles,
			Title: "agent private key matches its certificate",
			Why: "A key that belongs to another certificate fails at startup with \"tls: private key does not match " +
				"public key\". It usually means a certificate was renewed with a new key and only one file was copied.",
			Needs:    []FactKind{FactAgentConfig, FactAgentFiles},
			Evaluate: evalKeyMismatch,
			Fix:      fixKeyMismatch,
			Manager:  givenCertSide("agent-key-mismatch", evalKeyMismatch, fixKeyMismatch),
			LogKinds: []logparse.Kind{logparse.KindAgentKeyMismatch},
		},
	}
}

func evalCertNotConfigured(f *Facts) Result {
	a := f.Agent
	if !tlsOn(f) {
		return noTLSSkip(f)
	}
	h := hostOf(f)
	switch {
	case a.Cert.Value == "" && a.Key.Value == "":
		return Fail("no client certificate configured (%s and %s are empty)", h.nameOf(setCert), h.nameOf(setKey)).Because(CauseNotConfigured)
	case a.Cert.Value == "":
		return Fail("%s is set (%s) but %s is not: the agent refuses to start", h.nameOf(setKey), a.Key.Value, h.nameOf(setCert)).Because(CauseNotConfigured)
	case a.Key.Value == "":
		return Fail("%s is set (%s) but %s is not: the agent refuses to start", h.nameOf(setCert), a.Cert.Value, h.nameOf(setKey)).Because(CauseNotConfigured)
	}
	return OK("certificate %s, key %s", a.Cert.Value, a.Key.Value)
}

func fixCertNotConfigured(f *Facts, _ Result) []Step {
	h := hostOf(f)
	cert, key := h.Cert, h.Key
	if !h.current(setCert).IsSet() || h.current(setCert).Value == "" {
		cert = placeholderOf[setCert]
	}
	if !h.current(setKey).IsSet() || h.current(setKey).Value == "" {
		key = placeholderOf[setKey]
	}
	return []Step{
		{
			Title:    "Find the agent's certificate and key on this host",
			Why:      "Certificates issued for the agent are usually next to its configuration or under /etc/ssl.",
			Commands: []string{"sudo ls -l " + shellQuote(filepath.Dir(h.Config)) + " /etc/ssl/nginx-agent 2>&1 || true"},
			Verify:   []string{"agent-cert-not-configured"},
			Host:     HostAgent,
		},
		h.editStep("Point the agent at its certificate and key",
			"Both must be set; the agent sends them to NGINX, which checks them against its ssl_client_certificate.",
			[]string{"agent-cert-not-configured", "agent-cert-file-unreadable", "agent-key-mismatch"},
			edit{setCert, cert}, edit{setKey, key}),
	}
}

// fileProblem is one defect of a configured TLS file.
type fileProblem struct {
	sev  Severity
	file *probes.FileFacts
	kind string // not-a-path, missing, unreadable, swapped, empty, der, pkcs12, parse, no-ca, world-readable
	text string
}

// fileProblemCause is the cause code of a file problem: "file-" and its kind
// (CauseFileMissing for "missing").
func fileProblemCause(kind string) string { return "file-" + kind }

// fileProblems inspects the configured cert, key and CA files.
func fileProblems(f *Facts) []fileProblem {
	var out []fileProblem
	if f == nil || f.Files == nil {
		return nil
	}
	add := func(sev Severity, ff *probes.FileFacts, kind, format string, a ...any) {
		out = append(out, fileProblem{sev, ff, kind, fmt.Sprintf(format, a...)})
	}
	h := hostOf(f)
	for _, ff := range []*probes.FileFacts{f.Files.Cert, f.Files.Key, f.Files.CA} {
		if ff == nil {
			continue
		}
		// A path given with --cert, --key or --ca is the flag's: the finding names it.
		role := h.fileName(ff.Role, string(ff.Role))
		switch {
		case ff.NotPath != "":
			// The value itself is never shown: a pasted private key stays out of every output.
			add(SeverityFail, ff, "not-a-path", "%s holds %s, not a path", h.nameOf(settingOfRole[ff.Role]), ff.NotPath)
			continue
		case !ff.Exists:
			add(SeverityFail, ff, "missing", "%s %s does not exist%s", role, ff.Path, relativeNote(f, ff.Path))
			continue
		case ff.ReadError != "":
			add(SeverityFail, ff, "unreadable", "%s %s cannot be read: %s", role, ff.Path, ff.ReadError)
			continue
		}
		if ff.Encoding == "pkcs12" {
			add(SeverityFail, ff, "pkcs12", "%s %s is a PKCS#12 bundle (.p12/.pfx); the agent reads only PEM", role, ff.Path)
			continue
		}
		types := blockTypes(ff)
		switch ff.Role {
		case probes.RoleCert:
			if len(ff.Certs) == 0 {
				// A DER key has no PEM block to name it, only the parsed Key.
				if strings.Contains(types, "PRIVATE KEY") || ff.Key != nil {
					add(SeverityFail, ff, "swapped", "%s %s holds a private key, not a certificate (cert and key swapped?)", role, ff.Path)
				} else {
					add(SeverityFail, ff, "empty", "%s %s holds no certificate%s", role, ff.Path, blocksSuffix(ff, types))
				}
			}
		case probes.RoleKey:
			if ff.Key == nil && !encrypted(ff) {
				if len(ff.Certs) > 0 || strings.Contains(types, "CERTIFICATE") {
					add(SeverityFail, ff, "swapped", "%s %s holds a certificate, not a private key (cert and key swapped?)", role, ff.Path)
				} else {
					add(SeverityFail, ff, "empty", "%s %s holds no usable private key%s", role, ff.Path, blocksSuffix(ff, types))
				}
			}
			if ff.Mode.Perm()&0o004 != 0 {
				add(SeverityWarn, ff, "world-readable", "%s %s is readable by every user (mode %04o)", role, ff.Path, ff.Mode.Perm())
			}
		case probes.RoleCA:
			if len(ff.Certs) == 0 {
				add(SeverityFail, ff, "empty", "%s %s holds no certificate%s: the agent trusts nothing", h.fileName(ff.Role, "CA file"), ff.Path, blocksSuffix(ff, types))
			} else if !anyCA(ff) {
				add(SeverityWarn, ff, "no-ca", "%s %s holds only non-CA certificates (%s)", h.fileName(ff.Role, "CA file"), ff.Path, certName(ff.Certs[0]))
			}
		}
		// The agent reads PEM only (tls.LoadX509KeyPair, AppendCertsFromPEM): a DER file
		// that parses here still fails it. Wrong content was reported above.
		if ff.Encoding == "der" && (len(ff.Certs) > 0 && ff.Role != probes.RoleKey || ff.Key != nil && ff.Role == probes.RoleKey) {
			add(SeverityFail, ff, "der", "%s %s is DER; the agent reads only PEM", role, ff.Path)
		}
		if ff.ParseError != "" && !(ff.Role == probes.RoleKey && encrypted(ff)) {
			add(SeverityWarn, ff, "parse", "%s %s has blocks that do not parse: %s", role, ff.Path, firstLine(ff.ParseError))
		}
	}
	return out
}

// pemCheckCommand shows what a TLS file holds without printing any key material (unlike
// head or cat): its PEM BEGIN lines and, for a key, whether openssl can parse it.
func pemCheckCommand(role probes.FileRole, path string) string {
	c := "sudo grep -n -- '-----BEGIN' " + shellQuote(path)
	if role == probes.RoleKey {
		c += "; sudo openssl pkey -in " + shellQuote(path) + " -noout"
	}
	return c
}

// fileName names the file of role in a finding: the flag that gave its path, else name.
func (h hostInfo) fileName(role probes.FileRole, name string) string {
	return settingFrom(h.current(settingOfRole[role]), name)
}

// settingOfRole is the agent setting that names a file of each role.
var settingOfRole = map[probes.FileRole]agentKeyID{probes.RoleCert: setCert, probes.RoleKey: setKey, probes.RoleCA: setCA}

func blockTypes(ff *probes.FileFacts) string {
	var t []string
	for _, b := range ff.Blocks {
		t = append(t, b.Type)
	}
	return strings.Join(t, ", ")
}

func blocksSuffix(ff *probes.FileFacts, types string) string {
	switch {
	case types != "":
		// Lower case: a block type names what is there, it is never key material.
		return " (PEM blocks: " + strings.ToLower(types) + ")"
	case ff.Encoding == "":
		return " (neither PEM nor DER)"
	}
	return ""
}

func encrypted(ff *probes.FileFacts) bool {
	for _, b := range ff.Blocks {
		if b.Encrypted {
			return true
		}
	}
	return false
}

func anyCA(ff *probes.FileFacts) bool {
	for _, c := range ff.Certs {
		if c.IsCA {
			return true
		}
	}
	return false
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func evalFilesUnreadable(f *Facts) Result {
	if !tlsOn(f) {
		return noTLSSkip(f)
	}
	ps := fileProblems(f)
	if len(ps) == 0 {
		var files []string
		for _, ff := range []*probes.FileFacts{f.Files.Cert, f.Files.Key, f.Files.CA} {
			if ff != nil {
				files = append(files, ff.Path)
			}
		}
		if len(files) == 0 {
			return Skip("skipped: no TLS files are configured")
		}
		return OK("%s readable and well-formed", strings.Join(files, ", "))
	}
	worst := SeverityWarn
	var ev []Evidence
	for _, p := range ps {
		worst = max(worst, p.sev)
		loc := p.file.Path
		if p.file.NotPath != "" { // Path is only a placeholder: point at the setting
			loc = hostOf(f).nameOf(settingOfRole[p.file.Role])
		}
		ev = append(ev, Note(loc, "%s", p.text))
	}
	lead := ps[0]
	for _, p := range ps { // lead with the worst problem
		if p.sev == worst {
			lead = p
			break
		}
	}
	summary := lead.text
	if len(ps) > 1 {
		summary += fmt.Sprintf(" (and %s)", Plural(len(ps)-1, "more problem"))
	}
	return Result{Severity: worst, Summary: summary, Evidence: ev}.Because(fileProblemCause(lead.kind))
}

func fixFilesUnreadable(f *Facts, _ Result) []Step {
	h := hostOf(f)
	var steps []Step
	seen := map[string]bool{}
	// source is where a good copy of a file of role comes from: only the user knows.
	source := func(role probes.FileRole) string { return placeholderOf[settingOfRole[role]] }
	mode := func(role probes.FileRole) string {
		if role == probes.RoleKey {
			return "0600"
		}
		return "0644"
	}
	for _, p := range fileProblems(f) {
		key := p.kind + p.file.Path
		if seen[key] {
			continue
		}
		seen[key] = true
		path := p.file.Path
		role := p.file.Role
		verify := []string{"agent-cert-file-unreadable"}
		if s := settingOfRole[role]; h.viaFlag(s) && flagFixed[p.kind] {
			steps = append(steps, flagFileStep(h, p, verify))
			continue
		}
		switch p.kind {
		case "not-a-path":
			file := map[probes.FileRole]string{probes.RoleCert: defaultCertPath, probes.RoleKey: defaultKeyPath, probes.RoleCA: defaultCAPath}[role]
			name := h.keyName(settingOfRole[role])
			steps = append(steps, Step{
				Title: "Save the " + string(role) + " in " + file,
				Why: "The agent reads " + name + " as a file name. A private key that was pasted on a command line or " +
					"into the environment is in shell history and the process list: consider issuing a new one.",
				Commands: []string{"sudo install -m " + mode(role) + " " + shellQuote(source(role)) + " " + shellQuote(file)},
				Changes:  []string{file},
				Verify:   verify,
				Host:     HostAgent,
			}, h.editStep("Set "+name+" to "+file, "", verify, edit{settingOfRole[role], file}))
		case "missing":
			steps = append(steps, Step{
				Title:    "Put the " + string(role) + " file at " + path,
				Why:      "Copy it from where the certificate was issued, or correct the path in " + h.Config + "; relative paths resolve against the agent's working directory (/ under systemd).",
				Commands: []string{"sudo mkdir -p " + shellQuote(filepath.Dir(path)), "sudo install -m " + mode(role) + " " + shellQuote(source(role)) + " " + shellQuote(path), restartAgent},
				Changes:  []string{path},
				Verify:   verify,
				Host:     HostAgent,
			})
		case "unreadable":
			// Only a permission problem is fixed with chmod; a directory, a device such as
			// /dev/zero or an oversized file is the wrong path.
			if !strings.Contains(p.file.ReadError, "permission denied") {
				steps = append(steps, h.editStep("Point "+h.nameOf(settingOfRole[role])+" at the "+string(role)+" file",
					path+" is not a PEM file the agent can read ("+firstLine(p.file.ReadError)+").", verify,
					edit{settingOfRole[role], source(role)}))
				continue
			}
			st := Step{
				Title:    "Let the agent's user read " + path,
				Why:      "The agent runs as the user in its systemd unit (root unless changed); it must be able to open the file and every directory above it.",
				Commands: []string{"systemctl show nginx-agent -p User", "sudo namei -l " + shellQuote(path), "sudo chmod 0644 " + shellQuote(path), restartAgent},
				Changes:  []string{path},
				Verify:   verify,
				Host:     HostAgent,
			}
			if role == probes.RoleKey {
				st.Commands[2] = "sudo chmod 0600 " + shellQuote(path)
				st.Why += " A key stays private to that user: owned by it, mode 0600."
			}
			steps = append(steps, st)
		case "swapped":
			steps = append(steps, h.editStep("Swap the certificate and key paths",
				"The file configured as the certificate holds the key (or the other way round).",
				[]string{"agent-cert-file-unreadable", "agent-key-mismatch"},
				edit{setCert, h.Key}, edit{setKey, h.Cert}))
		case "empty", "parse":
			steps = append(steps, Step{
				Title: "Replace " + path + " with a PEM file of the right type",
				Why: "The agent reads PEM: CERTIFICATE blocks for cert and ca, a private key block for key. The first " +
					"command shows what the file holds now (block names only).",
				Commands: []string{pemCheckCommand(role, path) + " || true", backupCommand(path),
					"sudo cp " + shellQuote(source(role)) + " " + shellQuote(path), restartAgent},
				Changes: []string{path},
				Verify:  verify,
				Host:    HostAgent,
			})
		case "der":
			convert := "sudo openssl x509 -inform der -in " + shellQuote(path) + " -out " + shellQuote(path+".pem")
			if role == probes.RoleKey {
				convert = "sudo install -m 0600 /dev/null " + shellQuote(path+".pem") + " && sudo openssl pkey -inform der -in " + shellQuote(path) + " -out " + shellQuote(path+".pem")
			}
			steps = append(steps, Step{
				Title:    "Convert " + path + " to PEM",
				Why:      "The agent loads its certificate and key with Go's tls.LoadX509KeyPair and its CA with AppendCertsFromPEM; both read PEM only.",
				Commands: []string{convert},
				Changes:  []string{path + ".pem"},
				Verify:   verify,
				Host:     HostAgent,
			}, h.editStep("Point the agent at the PEM file", "", verify, edit{settingOfRole[role], path + ".pem"}))
		case "pkcs12":
			steps = append(steps, pkcs12Steps(h, p.file)...)
		case "no-ca":
			steps = append(steps, Step{
				Title: "Put the CA certificate that issued the server's certificate into " + path,
				Why: "tls.ca replaces the system trust store, so it must hold the root (and any intermediate) " +
					"of the manager's server certificate. The first command shows the chain the server sends; its last issuer is the CA.",
				Commands: []string{"openssl s_client -connect " + shellQuote(h.Addr) + " -servername " + shellQuote(h.Name) + " -showcerts </dev/null 2>&1 | grep -E '^ *[0-9]+ s:|^ *i:' || true",
					backupCommand(path), "sudo cp '<manager-ca-path>' " + shellQuote(path), restartAgent},
				Changes: []string{path},
				Verify:  []string{"agent-cert-file-unreadable", "server-cert-untrusted"},
				Host:    HostAgent,
			})
		case "world-readable":
			steps = append(steps, Step{
				Title:    "Make " + path + " readable only by its owner",
				Why:      "Anyone who can read the key can connect to the manager as this agent.",
				Commands: []string{"sudo chmod 0600 " + shellQuote(path), "ls -l " + shellQuote(path)},
				Changes:  []string{path},
				Verify:   verify,
				Host:     HostAgent,
			})
		}
	}
	if len(steps) == 0 { // explain without a problem to point at: the general check
		steps = append(steps, Step{
			Title:    "Check that the agent's files exist and hold PEM of the right type",
			Why:      "cert holds CERTIFICATE blocks (the agent's first), key one private key block readable only by its owner, ca the CA certificates.",
			Commands: []string{"sudo ls -l " + shellQuote(h.Cert) + " " + shellQuote(h.Key) + " " + shellQuote(h.CA), pemCheckCommand(probes.RoleCert, h.Cert), pemCheckCommand(probes.RoleKey, h.Key)},
			Verify:   []string{"agent-cert-file-unreadable"},
			Host:     HostAgent,
		})
	}
	return steps
}

// flagFixed are the file problems whose fix, for a path given with --cert, --key or --ca,
// is another path for the flag: the path typed may be a typo, so nothing is created at it
// or written into it.
var flagFixed = map[string]bool{"not-a-path": true, "missing": true, "empty": true, "parse": true, "no-ca": true}

// flagFileStep passes the flag that named the file of problem p the path of the right file.
func flagFileStep(h hostInfo, p fileProblem, verify []string) Step {
	s := settingOfRole[p.file.Role]
	title := "Pass the path of the " + string(p.file.Role) + " file to " + flagOf[s]
	switch p.kind {
	case "not-a-path":
		return h.editStep(title, flagOf[s]+" takes a file name, not the file's contents. A private key pasted on a "+
			"command line is in shell history and the process list: consider issuing a new one.", verify, edit{s, placeholderOf[s]})
	case "missing":
		st := h.editStep(title, p.file.Path+" does not exist; the listing shows what its directory holds.", verify, edit{s, placeholderOf[s]})
		st.Commands = append([]string{"ls -l -- " + shellQuote(filepath.Dir(p.file.Path)) + " 2>&1 || true"}, st.Commands...)
		return st
	}
	st := h.editStep(title, "The file "+flagOf[s]+" names is judged as it is, not replaced; the first command shows "+
		"what it holds (block names only).", verify, edit{s, placeholderOf[s]})
	st.Commands = append([]string{pemCheckCommand(p.file.Role, p.file.Path) + " || true"}, st.Commands...)
	return st
}

// pkcs12CertCommand writes the leaf certificate of the PKCS#12 bundle in to out, as PEM.
func pkcs12CertCommand(in, out string) string {
	return "openssl pkcs12 -in " + shellQuote(in) + " -clcerts -nokeys -out " + shellQuote(out)
}

// pkcs12Steps convert a PKCS#12 bundle configured as the agent's cert, key or CA into the PEM
// files the agent reads, next to it, and point the agent at them. The key is written to a
// file created 0600 first, so it is never readable by others.
func pkcs12Steps(h hostInfo, ff *probes.FileFacts) []Step {
	stem := strings.TrimSuffix(ff.Path, filepath.Ext(ff.Path))
	certOut, keyOut, caOut := stem+"-cert.pem", stem+"-key.pem", stem+"-cacerts.pem"
	keyCommands := []string{
		"sudo install -m 0600 /dev/null " + shellQuote(keyOut),
		"sudo openssl pkcs12 -in " + shellQuote(ff.Path) + " -nocerts -nodes -out " + shellQuote(keyOut),
	}
	var commands []string
	var edits []edit
	switch ff.Role {
	case probes.RoleCA:
		commands = []string{"sudo openssl pkcs12 -in " + shellQuote(ff.Path) + " -cacerts -nokeys -out " + shellQuote(caOut)}
		edits = []edit{{setCA, caOut}}
	case probes.RoleKey:
		commands, edits = keyCommands, []edit{{setKey, keyOut}}
	default:
		// The bundle's key belongs to its certificate: take both, so that they match.
		commands = append([]string{"sudo " + pkcs12CertCommand(ff.Path, certOut)}, keyCommands...)
		edits = []edit{{setCert, certOut}, {setKey, keyOut}}
	}
	verify := []string{"agent-cert-file-unreadable", "agent-key-mismatch"}
	var changes []string
	for _, e := range edits {
		changes = append(changes, e.value)
	}
	return []Step{
		{
			Title: "Convert the PKCS#12 bundle " + ff.Path + " to PEM",
			Why: "The agent reads PEM files only (Go's tls.LoadX509KeyPair and AppendCertsFromPEM). openssl asks for the " +
				"bundle's import password; -nodes writes the key without one, since the agent has no passphrase option. " +
				"An old bundle that OpenSSL 3 refuses as unsupported converts with -legacy added.",
			Commands: commands,
			Changes:  changes,
			Verify:   verify,
			Host:     HostAgent,
			Manual:   "openssl asks for the bundle's import password, which only you know",
		},
		h.editStep("Point the agent at the PEM files", "", verify, edits...),
	}
}

func evalKeyEncrypted(f *Facts) Result {
	k := f.Files.Key
	switch {
	case !tlsOn(f):
		return noTLSSkip(f)
	case k == nil:
		return Skip("skipped: no key file is configured")
	case !k.Exists || k.ReadError != "":
		return Skip("skipped: the key file cannot be read")
	case k.Encoding == "pkcs12":
		return Skip("skipped: key %s is a PKCS#12 bundle (see agent-cert-file-unreadable)", k.Path)
	case encrypted(k):
		return Fail("key %s is encrypted with a passphrase; the agent cannot load it", k.Path).Because(CauseKeyEncrypted)
	}
	return OK("key %s is not encrypted", k.Path)
}

func fixKeyEncrypted(f *Facts, _ Result) []Step {
	h := hostOf(f)
	tmp := h.Key + ".new"
	return []Step{{
		Title: "Store the key without its passphrase",
		Why: "openssl asks for the passphrase once and writes the same key unencrypted; the file is created " +
			"with mode 0600 first, so the plain key is never readable by others. The old file is kept as .bak.",
		Commands: []string{
			"sudo install -m 0600 /dev/null " + shellQuote(tmp),
			"sudo openssl pkey -in " + shellQuote(h.Key) + " -out " + shellQuote(tmp),
			backupCommand(h.Key),
			"sudo cp " + shellQuote(tmp) + " " + shellQuote(h.Key),
			restartAgent,
		},
		Changes: []string{tmp, h.Key},
		Verify:  []string{"agent-key-encrypted", "agent-key-mismatch"},
		Host:    HostAgent,
		Manual:  "openssl asks for the key's passphrase, which only you know",
	}}
}

func evalKeyMismatch(f *Facts) Result {
	if !tlsOn(f) {
		return noTLSSkip(f)
	}
	leaf := agentLeaf(f)
	if leaf == nil || f.Files.Key == nil || f.Files.Key.Key == nil {
		return Skip("skipped: needs both a readable certificate and an unencrypted key")
	}
	k := f.Files.Key.Key
	if publicKeysEqual(leaf.PublicKey, k.Public) {
		return OK("key %s (%s %d) belongs to %s", f.Files.Key.Path, k.Algorithm, k.Bits, certName(leaf))
	}
	for i, c := range agentChain(f)[1:] {
		if publicKeysEqual(c.PublicKey, k.Public) {
			return Fail("key %s belongs to certificate %d in %s (%s), not to the first one: the agent's certificate must come first",
				f.Files.Key.Path, i+2, f.Files.Cert.Path, certName(c)).Because(CauseKeyMismatch)
		}
	}
	return Fail("key %s (%s %d) does not belong to %s in %s (%s)", f.Files.Key.Path, k.Algorithm, k.Bits,
		certName(leaf), f.Files.Cert.Path, KeyDescription(leaf.PublicKey)).Because(CauseKeyMismatch)
}

func fixKeyMismatch(f *Facts, _ Result) []Step {
	h := hostOf(f)
	return []Step{
		{
			Title: "Compare the public keys of the certificate and the key",
			Why:   "The two hashes must be equal. Only public keys are printed and hashed.",
			Commands: []string{
				"openssl x509 -in " + shellQuote(h.Cert) + " -noout -pubkey | openssl sha256",
				"sudo openssl pkey -in " + shellQuote(h.Key) + " -pubout | openssl sha256",
			},
			Verify: []string{"agent-key-mismatch"},
			Host:   HostAgent,
		},
		{
			Title: "Find the key that belongs to the certificate",
			Why:   "After a renewal the matching key is often the newer file next to the old one; point tls.key at it.",
			Commands: []string{
				"for k in " + shellQuote(filepath.Dir(h.Key)) + "/*.key; do echo \"$k $(sudo openssl pkey -in \"$k\" -pubout 2>/dev/null | openssl sha256)\"; done",
			},
			Verify: []string{"agent-key-mismatch"},
			Host:   HostAgent,
			Manual: "which key to use is for a person to pick from the hashes; then set " + h.nameOf(setKey) + " to it",
		},
		reissueAgentStep(f, "Or issue a new certificate for the current key",
			"If the matching key is lost, the certificate must be reissued for the key the agent has.",
			"agent-key-mismatch"),
	}
}

// relativeNote says, for a path that was relative in the agent's configuration, which
// working directory it was resolved against: the agent resolves it against its own.
func relativeNote(f *Facts, path string) string {
	if f.Agent == nil {
		return ""
	}
	for _, s := range []probes.Setting{f.Agent.Cert, f.Agent.Key, f.Agent.CA} {
		if s.Written != "" && s.Value == path {
			why := ""
			if f.Agent.WorkDirWhy != "" {
				why = ": " + f.Agent.WorkDirWhy
			}
			return fmt.Sprintf(" (%q in %s is relative: resolved against the agent's working directory %s%s)",
				s.Written, where(s), f.Agent.WorkDir, why)
		}
	}
	return ""
}
