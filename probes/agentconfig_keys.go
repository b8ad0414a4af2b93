package probes

import (
	"fmt"
	"strings"
)

// The agent configuration's keys per generation (NIM 1.x, v2, v3), their environment
// variables, and the generation told from the keys a file holds.

// agentField is one setting LoadAgentConfig tracks.
type agentField int

const (
	fieldHost agentField = iota
	fieldPort
	fieldServer // NIM 1.x `server: host:port`, split into host and port
	fieldServerName
	fieldTLSEnable
	fieldCert
	fieldKey
	fieldCA
	fieldSkipVerify
	fieldToken
	fieldLogPath
	fieldDynamicPath
	numAgentFields
)

// agentKey maps one agent key to a field and to its environment variable.
type agentKey struct {
	key   string // as the agent documents it, e.g. server.grpcPort
	env   string // the variable without its prefix, e.g. SERVER_GRPCPORT; "" for none
	field agentField
}

// The keys each generation reads: NIM 1.x from its docs (nginx/documentation
// content/nms/nim/previous-versions/v1/getting-started/agent.md), v2 from nginx/agent v2
// src/core/config/{types.go,flags.go}, v3 from nginx/agent v3 internal/config/types.go.
var (
	nim1Keys = []agentKey{
		{"server", "", fieldServer},
		{"tls.enable", "", fieldTLSEnable},
		{"tls.cert", "", fieldCert},
		{"tls.key", "", fieldKey},
		{"tls.ca", "", fieldCA},
		{"log.path", "", fieldLogPath},
	}
	v2Keys = []agentKey{
		{"server.host", "SERVER_HOST", fieldHost},
		{"server.grpcPort", "SERVER_GRPCPORT", fieldPort},
		{"server.command", "SERVER_COMMAND", fieldServerName},
		{"server.token", "SERVER_TOKEN", fieldToken},
		{"tls.enable", "TLS_ENABLE", fieldTLSEnable},
		{"tls.cert", "TLS_CERT", fieldCert},
		{"tls.key", "TLS_KEY", fieldKey},
		{"tls.ca", "TLS_CA", fieldCA},
		{"tls.skip_verify", "TLS_SKIP_VERIFY", fieldSkipVerify},
		{"log.path", "LOG_PATH", fieldLogPath},
		{"dynamic_config_path", "DYNAMIC_CONFIG_PATH", fieldDynamicPath},
	}
	v3Keys = []agentKey{
		{"command.server.host", "COMMAND_SERVER_HOST", fieldHost},
		{"command.server.port", "COMMAND_SERVER_PORT", fieldPort},
		{"command.auth.token", "COMMAND_AUTH_TOKEN", fieldToken},
		{"command.auth.tokenpath", "COMMAND_AUTH_TOKENPATH", fieldToken},
		{"command.tls.cert", "COMMAND_TLS_CERT", fieldCert},
		{"command.tls.key", "COMMAND_TLS_KEY", fieldKey},
		{"command.tls.ca", "COMMAND_TLS_CA", fieldCA},
		{"command.tls.skip_verify", "COMMAND_TLS_SKIP_VERIFY", fieldSkipVerify},
		{"command.tls.server_name", "COMMAND_TLS_SERVER_NAME", fieldServerName},
		{"log.path", "LOG_PATH", fieldLogPath},
	}
	// Top-level keys only the other generation has: agent v3 refuses v2's at startup
	// (strict decoding), agent v2 silently ignores v3's.
	v2OnlyTopKeys = []string{"server", "tls", "dataplane"}
	v3OnlyTopKeys = []string{"command", "auxiliary_command"}
)

const (
	envPrefix           = "NGINX_AGENT_"
	envPrefixDeprecated = "NMS_" // agent v2.17-v2.34
)

func keysFor(f AgentFormat) []agentKey {
	switch f {
	case FormatNIM1:
		return nim1Keys
	case FormatV3:
		return v3Keys
	}
	return v2Keys
}

// mixedKeys lists top-level keys that belong to the other agent generation.
func (d *yamlDoc) mixedKeys(f AgentFormat) []string {
	var other []string
	switch f {
	case FormatV3:
		other = v2OnlyTopKeys
	case FormatV2, FormatNIM1:
		other = v3OnlyTopKeys
	default:
		return nil
	}
	var out []string
	for _, mv := range entries(d.root) {
		if mv.Key == nil || mv.Key.IsMergeKey() {
			continue
		}
		k := d.keyText(mv.Key)
		for _, o := range other {
			if strings.EqualFold(k, o) {
				out = append(out, fmt.Sprintf("%s (line %d)", k, lineOf(mv.Key)))
			}
		}
	}
	return out
}

// detectFormat tells the agent generation from the keys. The block naming the server wins
// (agent v2 ignores a stray command: block; v3 refuses a stray server: block, reported as
// MixedKeys); without a server host, the blocks present decide.
func detectFormat(d *yamlDoc) AgentFormat {
	if d == nil || d.root == nil {
		return FormatUnknown
	}
	server := d.lookup("server")
	serverScalar := false
	if server != nil {
		_, serverScalar = d.scalar(server.Value)
	}
	v2Host := d.lookup("server", "host") != nil
	v3Host := d.lookup("command", "server", "host") != nil
	command := d.lookup("command")
	commandMap := command != nil && entries(d.resolve(command.Value)) != nil
	switch {
	case serverScalar:
		return FormatNIM1
	case v2Host:
		return FormatV2
	case v3Host:
		return FormatV3
	case server != nil:
		return FormatV2
	case commandMap:
		return FormatV3
	case d.lookup("tls") != nil:
		return FormatV2
	}
	return FormatUnknown
}
