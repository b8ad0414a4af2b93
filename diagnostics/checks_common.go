package diagnostics

import (
	"fmt"
	"net"
	"strings"

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
}

func hostOf(f *Facts) hostInfo {
	h := hostInfo{Config: defaultConfigPath, Format: probes.FormatV2, Host: "nim.example.com", Port: "443",
		Cert: defaultCertPath, Key: defaultKeyPath, CA: defaultCAPath}
	if f == nil || f.Agent == nil {
		h.Addr = net.JoinHostPort(h.Host, h.Port)
		h.Name = h.Host
		return h
	}
	a := f.Agent
	h.agent = a
	if a.Path != "" {
		h.Config = a.Path
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
	if a.Cert.Value != "" {
		h.Cert, h.CertSet = a.Cert.Value, true
	}
	if a.Key.Value != "" {
		h.Key = a.Key.Value
	}
	if a.CA.Value != "" {
		h.CA, h.CASet = a.CA.Value, true
	}
	return h
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
// environment of the systemd unit, the dynamic file or the main file. It ends with the
// agent's restart (v2 reads its files only at startup).
func (h hostInfo) editStep(title, why string, verify []string, edits ...edit) Step {
	st := Step{Title: title, Why: why, Verify: verify}
	var diff, parents []string
	file := h.Config
	var envs []string
	for _, e := range edits {
		path := yamlPath(h.Format, e.s)
		if path == nil {
			continue
		}
		cur := h.current(e.s)
		if cur.Source.Kind == probes.SourceEnv {
			envs = append(envs, fmt.Sprintf("%s=%s", cur.Source.Name, e.value))
			continue
		}
		if cur.Source.Kind == probes.SourceDynamicFile && h.Dynamic != "" {
			file = h.Dynamic
		}
		if h.Format == probes.FormatNIM1 && (e.s == setHost || e.s == setPort) {
			diff = append(diff, nimServerDiff(h, e)...)
			continue
		}
		diff = append(diff, yamlDiff(path, parents, cur, e.value)...)
		parents = path[:len(path)-1]
	}
	if len(diff) > 0 {
		st.File, st.Diff = file, strings.Join(diff, "\n")
		st.Commands = append(st.Commands, "sudoedit "+shellQuote(file))
	}
	if len(envs) > 0 {
		st.Why = strings.TrimSpace(st.Why + " The environment of the nginx-agent service overrides the file here; set " +
			strings.Join(envs, " and ") + " in the unit's override.")
		st.Commands = append(st.Commands, "sudo systemctl show nginx-agent -p Environment", "sudo systemctl edit nginx-agent")
	}
	st.Commands = append(st.Commands, restartAgent)
	return st
}

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

// reissueAgentStep asks for a new agent certificate for the agent's existing key, with the
// extensions NGINX requires of a client certificate.
func reissueAgentStep(f *Facts, title, why string, verify ...string) Step {
	h := hostOf(f)
	cn := h.Host
	if leaf := agentLeaf(f); leaf != nil && leaf.Subject.CommonName != "" {
		cn = leaf.Subject.CommonName
	}
	csr := strings.TrimSuffix(h.Cert, ".crt") + ".csr"
	if csr == h.Cert {
		csr = h.Cert + ".csr"
	}
	return Step{
		Title: title,
		Why: why + " Sign the request where the CA key is (make_certs.sh names it ca.key; copy " + csr + " there if that is " +
			"another host), with extendedKeyUsage=clientAuth, then install the new certificate as " + h.Cert + ".",
		Commands: []string{
			"sudo openssl req -new -key " + shellQuote(h.Key) + " -subj " + shellQuote(subjectArg(cn)) + " -out " + shellQuote(csr),
			"printf 'extendedKeyUsage=clientAuth\\nkeyUsage=digitalSignature,keyEncipherment\\n' >agent-ext.cnf",
			"openssl x509 -req -in " + shellQuote(csr) + " -CA ca.pem -CAkey ca.key -CAcreateserial -days 365 -sha256 " +
				"-extfile agent-ext.cnf -out agent.crt",
			"sudo cp -p " + shellQuote(h.Cert) + " " + shellQuote(h.Cert) + ".bak",
			"sudo install -m 0644 agent.crt " + shellQuote(h.Cert),
			showCert(h.Cert),
			restartAgent,
		},
		Verify: verify,
	}
}
