package diagnostics

import (
	"fmt"
	"net"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/mtls-doctor/mtls-doctor/probes"
)

// Defaults used in fix steps when the facts do not say (e.g. `mtls-doctor explain` without
// a host): the agent's own default paths, never placeholders.
const (
	defaultConfigPath = "/etc/nginx-agent/nginx-agent.conf"
	defaultCertPath   = "/etc/nginx-agent/agent.crt"
	defaultKeyPath    = "/etc/nginx-agent/agent.key"
	defaultCAPath     = "/etc/nginx-agent/ca.pem"
	// NIM 2.x's server certificate and nginx config (the nms-http.conf copied in
	// nginx/documentation content/nms/admin-guides/authentication/oidc/oidc-entra.md); the
	// manager may differ, and the steps say so.
	managerServerCert = "/etc/nms/certs/manager-server.pem"
	managerServerKey  = "/etc/nms/certs/manager-server.key"
	managerCA         = "/etc/nms/certs/ca.pem"
	managerNginxConf  = "/etc/nginx/conf.d/nms-http.conf"

	restartAgent = "sudo systemctl restart nginx-agent"
)

// hostInfo holds the names and paths fix steps are written with: the host's own from the
// facts, else the agent's defaults.
type hostInfo struct {
	Config, Dynamic      string
	Format               probes.AgentFormat
	Host, Port           string
	Addr                 string // host:port
	Name                 string // the name the server certificate must match
	Cert, Key, CA        string
	CASet, CertSet       bool
	agent                *probes.AgentConfig
	knownHost, knownPort bool
	// flagsOnly: no configuration file can take an edit (none was found, --agent-config
	// names a missing path, or the path is a directory or device) while mtls-doctor's flags
	// supply what was judged, so every change is one to those flags.
	flagsOnly bool
	// fileOnly: every edit goes to the file, as when the agent's default configuration is
	// created; a value a flag gave is not written there, its placeholder is.
	fileOnly bool
}

func hostOf(f *Facts) hostInfo {
	h := hostInfo{Config: defaultConfigPath, Format: probes.FormatV2, Host: "<manager-host>", Port: "443",
		Cert: defaultCertPath, Key: defaultKeyPath, CA: defaultCAPath}
	if f == nil || f.Agent == nil {
		h.Addr = net.JoinHostPort(h.Host, h.Port)
		h.Name = h.Host
		return h
	}
	a := f.Agent
	h.agent = a
	switch {
	case a.Path != "":
		h.Config = a.Path
	case len(a.Searched) == 1:
		// One path looked at is the one the user named (--agent-config): the file judged.
		h.Config = a.Searched[0]
	}
	h.Dynamic = a.DynamicPath
	if a.Format != probes.FormatUnknown {
		h.Format = a.Format
	}
	if a.Host.Value != "" {
		h.Host, h.knownHost = a.Host.Value, true
	}
	if a.Port.Value != "" {
		h.Port, h.knownPort = a.Port.Value, true
	}
	h.Addr = net.JoinHostPort(h.Host, h.Port)
	h.Name = h.Host
	if a.ServerName.Value != "" {
		h.Name = a.ServerName.Value
	}
	if f.Endpoint != nil && f.Endpoint.VerifyName != "" {
		h.Name = f.Endpoint.VerifyName
	}
	// Key material pasted where a path belongs is no path: the user names the file.
	if a.Cert.Value != "" {
		h.Cert, h.CertSet = pathOrPlaceholder(a.Cert, setCert), true
	}
	if a.Key.Value != "" {
		h.Key = pathOrPlaceholder(a.Key, setKey)
	}
	if a.CA.Value != "" {
		h.CA, h.CASet = pathOrPlaceholder(a.CA, setCA), true
	}
	noFile := a.Path == "" || (a.Error != nil && a.Error.NotRegular)
	h.flagsOnly = noFile && (a.PathGiven || a.Path != "" || anyFlag(a))
	return h
}

// placeholderOf names, by setting, a value only the user knows.
var placeholderOf = map[agentKeyID]string{setHost: "<manager-host>", setPort: "<manager-port>",
	setServerName: "<manager-host>", setCert: "<agent-cert-path>", setKey: "<agent-key-path>", setCA: "<manager-ca-path>"}

// flagOf is mtls-doctor's flag that overrides each setting (probes.AgentOverrides);
// --server carries both host and port.
var flagOf = map[agentKeyID]string{setHost: "--server", setPort: "--server", setServerName: "--server-name",
	setCert: "--cert", setKey: "--key", setCA: "--ca"}

// pathOrPlaceholder is the setting's value, or its placeholder when the value was key
// material (only its redaction is kept, and that must never be written anywhere).
func pathOrPlaceholder(st probes.Setting, s agentKeyID) string {
	if st.Secret != "" {
		return placeholderOf[s]
	}
	return st.Value
}

// anyFlag reports whether one of mtls-doctor's override flags set a connection setting.
func anyFlag(a *probes.AgentConfig) bool {
	for _, st := range []probes.Setting{a.Host, a.Port, a.ServerName, a.Cert, a.Key, a.CA} {
		if st.Source.Kind == probes.SourceFlag {
			return true
		}
	}
	return false
}

// viaFlag reports whether setting s is changed on mtls-doctor's command line rather than
// in a file: a flag gave its value, or there is no file to edit.
func (h hostInfo) viaFlag(s agentKeyID) bool {
	return h.agent != nil && !h.fileOnly && flagOf[s] != "" && (h.current(s).Source.Kind == probes.SourceFlag || h.flagsOnly)
}

// nameOf names setting s in a finding or a step: the flag it is changed with, else its key.
func (h hostInfo) nameOf(s agentKeyID) string {
	if h.viaFlag(s) {
		return flagOf[s]
	}
	return h.keyName(s)
}

// rerunCommand is mtls-doctor's check run again with the override flags it was given and
// the edits applied; config, when not "", replaces --agent-config. A value that was key
// material is passed as its placeholder.
func (h hostInfo) rerunCommand(config string, edits ...edit) string {
	vals := map[agentKeyID]string{}
	for s := range flagOf {
		if cur := h.current(s); cur.Source.Kind == probes.SourceFlag {
			vals[s] = pathOrPlaceholder(cur, s)
		}
	}
	for _, e := range edits {
		vals[e.s] = e.value
	}
	a := h.agent
	if config == "" && a != nil && a.PathGiven && a.Path != "" && (a.Error == nil || !a.Error.NotRegular) {
		config = a.Path
	}
	cmd := "mtls-doctor --check"
	if config != "" {
		cmd += " --agent-config " + shellQuote(config)
	}
	host, hostSet := vals[setHost]
	port, portSet := vals[setPort]
	if hostSet || portSet {
		if !hostSet {
			host = h.Host
		}
		if !portSet {
			port = h.Port
		}
		cmd += " --server " + shellQuote(net.JoinHostPort(host, port))
	}
	for _, s := range []agentKeyID{setServerName, setCert, setKey, setCA} {
		if v, ok := vals[s]; ok {
			cmd += " " + flagOf[s] + " " + shellQuote(v)
		}
	}
	return cmd
}

// agentKeyID names one agent configuration key independent of the agent generation.
type agentKeyID int

const (
	setHost agentKeyID = iota
	setPort
	setServerName
	setTLSEnable
	setCert
	setKey
	setCA
	setSkipVerify
)

// yamlPath is where a setting lives in the config file of format; nil when that
// generation has no such key.
func yamlPath(format probes.AgentFormat, s agentKeyID) []string {
	if format == probes.FormatV3 {
		return map[agentKeyID][]string{
			setHost: {"command", "server", "host"}, setPort: {"command", "server", "port"},
			setServerName: {"command", "tls", "server_name"}, setCert: {"command", "tls", "cert"},
			setKey: {"command", "tls", "key"}, setCA: {"command", "tls", "ca"},
			setSkipVerify: {"command", "tls", "skip_verify"},
		}[s]
	}
	p := map[agentKeyID][]string{
		setHost: {"server", "host"}, setPort: {"server", "grpcPort"},
		setServerName: {"server", "command"}, setTLSEnable: {"tls", "enable"},
		setCert: {"tls", "cert"}, setKey: {"tls", "key"}, setCA: {"tls", "ca"},
		setSkipVerify: {"tls", "skip_verify"},
	}[s]
	if format == probes.FormatNIM1 && (s == setServerName || s == setSkipVerify) {
		return nil // NIM 1.x has neither
	}
	return p
}

// keyName is the dotted key ("tls.cert", "command.tls.server_name").
func (h hostInfo) keyName(s agentKeyID) string { return strings.Join(yamlPath(h.Format, s), ".") }

// current returns the effective setting s, if the facts hold it.
func (h hostInfo) current(s agentKeyID) probes.Setting {
	if h.agent == nil {
		return probes.Setting{}
	}
	switch s {
	case setHost:
		return h.agent.Host
	case setPort:
		return h.agent.Port
	case setServerName:
		return h.agent.ServerName
	case setTLSEnable:
		return h.agent.TLSEnabled
	case setCert:
		return h.agent.Cert
	case setKey:
		return h.agent.Key
	case setCA:
		return h.agent.CA
	case setSkipVerify:
		return h.agent.SkipVerify
	}
	return probes.Setting{}
}

// edit is one change of an agent setting.
type edit struct {
	s     agentKeyID
	value string
}

// editStep builds a step that sets agent settings where they are set now: in the
// environment of the systemd unit (a drop-in file), the dynamic file or the main file. A
// file is backed up, then edited by sed: a key set on a known line is rewritten on that
// line, a missing key is added after a sibling (with its indentation), and a block whose
// parent key is absent is appended. The step ends with the agent's restart (v2 reads its
// files only at startup).
func (h hostInfo) editStep(title, why string, verify []string, edits ...edit) Step {
	st := Step{Title: title, Why: why, Verify: verify, Host: HostAgent}
	var diff, parents, envs, manual []string
	// sed expressions by file: rewrites of existing lines first, then insertions after a
	// sibling, so that a sibling rewritten by the same step is printed rewritten.
	exprs, inserts := map[string][]string{}, map[string][]string{}
	appended := map[string][]string{} // lines appended at the end, by file
	appendedParent := map[string][]string{}
	var files []string // edited files, in order
	touch := func(file string) {
		if !slices.Contains(files, file) {
			files = append(files, file)
		}
	}
	var nim1, flags []edit
	for _, e := range edits {
		cur := h.current(e.s)
		if cur.Secret != "" && e.value == cur.Value {
			e.value = placeholderOf[e.s] // never write a redaction as if it were the value
		}
		if h.fileOnly && cur.Source.Kind == probes.SourceFlag {
			// What was typed on mtls-doctor's command line is not written into the agent's
			// file (it may be a typo, or key material); nor is it a line there to rewrite.
			if flagOf[e.s] != "" {
				e.value = placeholderOf[e.s]
			}
			cur = probes.Setting{}
		}
		if h.viaFlag(e.s) {
			flags = append(flags, e)
			continue
		}
		path := yamlPath(h.Format, e.s)
		if path == nil || (h.flagsOnly && !h.fileOnly) {
			continue // no such key, or a setting no flag changes and no file to hold it
		}
		if cur.Source.Kind == probes.SourceEnv {
			envs = append(envs, cur.Source.Name+"="+e.value)
			continue
		}
		file := h.Config
		if cur.Source.Kind == probes.SourceDynamicFile && h.Dynamic != "" {
			file = h.Dynamic
		}
		if h.Format == probes.FormatNIM1 && (e.s == setHost || e.s == setPort) {
			nim1 = append(nim1, e)
			continue
		}
		diff = append(diff, yamlDiff(path, parents, cur, e.value)...)
		parents = path[:len(path)-1]
		leaf := path[len(path)-1]
		line := leaf + ": " + yamlScalar(e.value)
		switch sib, ok := h.sibling(e.s, file); {
		case cur.IsSet() && cur.Source.Line > 0 && inFile(cur, file):
			exprs[file] = append(exprs[file], fmt.Sprintf(`%ds|^\([[:space:]]*%s:\).*$|\1 %s|`, cur.Source.Line, leaf, sedText(yamlScalar(e.value))))
		case ok:
			inserts[file] = append(inserts[file], fmt.Sprintf(`%d{p;s|^\([[:space:]]*\).*$|\1%s|;}`, sib, sedText(line)))
		case !h.topKeyIn(path[0], file):
			// Parents the previous appended line opened are not repeated.
			open := appendedParent[file]
			for i, p := range path[:len(path)-1] {
				if i < len(open) && open[i] == p {
					continue
				}
				open = nil
				appended[file] = append(appended[file], strings.Repeat("  ", i)+p+":")
			}
			appended[file] = append(appended[file], strings.Repeat("  ", len(path)-1)+line)
			appendedParent[file] = path[:len(path)-1]
		default:
			manual = append(manual, strings.Join(path, "."))
		}
		touch(file)
	}
	if len(nim1) > 0 {
		host, port := h.Host, h.Port
		for _, e := range nim1 {
			if e.s == setHost {
				host = e.value
			} else {
				port = e.value
			}
			diff = append(diff, nimServerDiff(h, e)...)
		}
		addr := net.JoinHostPort(host, port)
		cur := h.current(setHost)
		if cur.Source.Line > 0 && inFile(cur, h.Config) {
			exprs[h.Config] = append(exprs[h.Config], fmt.Sprintf(`%ds|^\([[:space:]]*server:\).*$|\1 %s|`, cur.Source.Line, sedText(yamlScalar(addr))))
		} else {
			appended[h.Config] = append(appended[h.Config], "server: "+yamlScalar(addr))
		}
		touch(h.Config)
	}
	if len(diff) > 0 {
		st.File, st.Diff = files[0], strings.Join(diff, "\n")
	}
	for _, file := range files {
		st.Changes = append(st.Changes, file)
		if h.agent != nil && (file == h.agent.Path || file == h.agent.DynamicPath) {
			st.Commands = append(st.Commands, backupCommand(file))
		} else { // a file this step may create: its directory first
			st.Commands = append(st.Commands, "sudo mkdir -p "+shellQuote(path.Dir(file)), backupIfExistsCommand(file))
		}
		if e := append(exprs[file], inserts[file]...); len(e) > 0 {
			st.Commands = append(st.Commands, sedCommand(file, e...))
		}
		if len(appended[file]) > 0 {
			st.Commands = append(st.Commands, appendLinesCommand(file, appended[file]...))
		}
	}
	if len(manual) > 0 {
		st.Manual = "the file has a block for " + strings.Join(manual, ", ") + " without a key the edit can place it by: add it under its parent by hand, as the diff shows"
	}
	if len(envs) > 0 {
		// A drop-in's Environment= comes after the unit's own, so it wins over it; a value
		// from an EnvironmentFile= still wins over both (systemd.exec(5)).
		st.Why = strings.TrimSpace(st.Why + " The environment of the nginx-agent service overrides the file here: " +
			strings.Join(envs, " and ") + " go in a drop-in of the unit.")
		var lines []string
		lines = append(lines, "[Service]")
		for _, e := range envs {
			lines = append(lines, "Environment="+strconvQuoteSystemd(e))
		}
		st.Changes = append(st.Changes, agentDropIn)
		st.Commands = append(st.Commands, "sudo mkdir -p "+shellQuote(path.Dir(agentDropIn)),
			writeLinesCommand(agentDropIn, lines...), "sudo systemctl daemon-reload")
	}
	if len(files) > 0 || len(envs) > 0 {
		st.Commands = append(st.Commands, restartAgent)
	}
	if len(flags) > 0 {
		var names []string
		for _, e := range flags {
			if !slices.Contains(names, flagOf[e.s]) {
				names = append(names, flagOf[e.s])
			}
		}
		st.Why = strings.TrimSpace(st.Why + " " + strings.Join(names, " and ") + " came from mtls-doctor's command line, " +
			"not from the agent's configuration: check again with the right value passed to the flag.")
		st.Commands = append(st.Commands, h.rerunCommand("", flags...))
	}
	return st
}

// agentDropIn is the systemd drop-in the agent's environment is set in.
const agentDropIn = "/etc/systemd/system/nginx-agent.service.d/mtls-doctor.conf"

// strconvQuoteSystemd quotes an Environment= assignment for a unit file: in double quotes,
// with backslash and double quote escaped (systemd.syntax(7)).
func strconvQuoteSystemd(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// inFile reports whether setting s was read from file.
func inFile(s probes.Setting, file string) bool {
	return (s.Source.Kind == probes.SourceFile || s.Source.Kind == probes.SourceDynamicFile) && (s.Source.Name == "" || s.Source.Name == file)
}

// sibling is the line, in file, of another setting under the same parent key as s.
func (h hostInfo) sibling(s agentKeyID, file string) (int, bool) {
	path := yamlPath(h.Format, s)
	for o := setHost; o <= setSkipVerify; o++ {
		op := yamlPath(h.Format, o)
		if o == s || op == nil || !slices.Equal(op[:len(op)-1], path[:len(path)-1]) {
			continue
		}
		if cur := h.current(o); cur.IsSet() && cur.Source.Line > 0 && inFile(cur, file) {
			return cur.Source.Line, true
		}
	}
	return 0, false
}

// topKeyIn reports whether any setting under the top-level key top was read from file,
// so that appending a new `top:` block would repeat the key.
func (h hostInfo) topKeyIn(top, file string) bool {
	for o := setHost; o <= setSkipVerify; o++ {
		if op := yamlPath(h.Format, o); op != nil && op[0] == top {
			if cur := h.current(o); cur.IsSet() && inFile(cur, file) {
				return true
			}
		}
	}
	return false
}

// yamlScalar writes v as a YAML scalar: plain when it is unambiguous, else double-quoted.
func yamlScalar(v string) string {
	if plainYAML().MatchString(v) && !strings.HasSuffix(v, ":") {
		return v
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}

var plainYAML = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_/.][A-Za-z0-9_./@+:-]*$`) })

// yamlDiff is a unified-diff fragment setting path to value in nested YAML. Parent keys
// already opened by the previous edit (prev) are not repeated; a value that is already
// right is shown as context.
func yamlDiff(path, prev []string, cur probes.Setting, value string) []string {
	var out []string
	for i, p := range path[:len(path)-1] {
		if i < len(prev) && prev[i] == p {
			continue
		}
		prev = nil // a new branch: open every parent below it
		out = append(out, " "+strings.Repeat("  ", i)+p+":")
	}
	ind := strings.Repeat("  ", len(path)-1)
	leaf := path[len(path)-1]
	if cur.IsSet() && cur.Value == value {
		return append(out, " "+ind+leaf+": "+value)
	}
	if cur.IsSet() && cur.Value != "" {
		out = append(out, "-"+ind+leaf+": "+cur.Value)
	}
	return append(out, "+"+ind+leaf+": "+value)
}

// nimServerDiff edits NIM 1.x's single `server: host:port` key.
func nimServerDiff(h hostInfo, e edit) []string {
	host, port := h.Host, h.Port
	if e.s == setHost {
		host = e.value
	} else {
		port = e.value
	}
	var out []string
	if h.knownHost && h.knownPort {
		out = append(out, "-server: "+h.Addr)
	}
	return append(out, "+server: "+net.JoinHostPort(host, port))
}

// s_client commands as the agent connects: SNI and verify name, its CA file, its cert.
func (h hostInfo) sClient(withCert bool) string {
	cmd := "openssl s_client -connect " + shellQuote(h.Addr)
	if net.ParseIP(h.Name) == nil {
		cmd += " -servername " + shellQuote(h.Name) + " -verify_hostname " + shellQuote(h.Name)
	} else {
		cmd += " -verify_ip " + shellQuote(h.Name)
	}
	if h.CASet {
		cmd += " -CAfile " + shellQuote(h.CA)
	}
	if withCert {
		cmd += " -cert " + shellQuote(h.Cert) + " -key " + shellQuote(h.Key)
	}
	return cmd + " -verify_return_error -brief </dev/null"
}

// showCert is the openssl command that prints what the checks read from a cert file.
func showCert(path string) string {
	return "openssl x509 -in " + shellQuote(path) + " -noout -subject -issuer -dates -ext subjectAltName,extendedKeyUsage,basicConstraints"
}

// subjectArg formats a certificate subject for `openssl req -subj`.
func subjectArg(cn string) string {
	return "/CN=" + strings.ReplaceAll(cn, "/", `\/`)
}

// reissueAgentStep issues the agent's certificate again for its existing key: same
// subject, SANs and usages, with clientAuth, signed by the CA that issues agents, whose
// files only the user knows.
func reissueAgentStep(f *Facts, title, why string, verify ...string) Step {
	return agentReissue(f).step(title, why, verify...)
}

// agentReissue is the reissue of the agent's certificate on this host.
func agentReissue(f *Facts) reissuance {
	h := hostOf(f)
	cert, key := h.Cert, h.Key
	switch {
	case f == nil:
	case f.Agent == nil:
		// The manager judges the certificate given with --cert: that file, whose key it
		// does not know.
		if _, p := agentChainForManagerChecks(f); p != "" {
			cert, key = p, "<agent-key-path>"
		}
	case f.Agent.Key.Value == "":
		// A certificate judged alone (--cert) has no key the tool knows.
		key = "<agent-key-path>"
	}
	r := reissuance{host: HostAgent, cert: cert, key: key, leaf: agentLeaf(f), subjectPlaceholder: "<agent-name>",
		caCert: "<ca-cert-path>", caKey: "<ca-key-path>", eku: "clientAuth", after: []string{restartAgent}}
	if f != nil && f.Files != nil && f.Files.Cert != nil && len(f.Files.Cert.Certs) > 1 {
		r.keepChain = true
	}
	return r
}
