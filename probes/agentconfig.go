package probes

import "github.com/mtls-doctor/mtls-doctor/internal/safetext"

// AgentFormat names the generation of NGINX Agent a configuration file is written for.
type AgentFormat string

const (
	// FormatUnknown means no file was read or its keys fit no known agent.
	FormatUnknown AgentFormat = ""
	// FormatNIM1 is the closed-source NIM 1.x agent: `server: host:port`, `tls.enable`.
	FormatNIM1 AgentFormat = "nim1"
	// FormatV2 is NGINX Agent v2 (NIM/NMS 2.x): `server.host/grpcPort`, `tls.*`.
	FormatV2 AgentFormat = "v2"
	// FormatV3 is NGINX Agent v3 (NGINX One): `command.server/auth/tls`.
	FormatV3 AgentFormat = "v3"
)

// Title names the format in a sentence: "v2", "v3", "NIM 1.x" or "unknown".
func (f AgentFormat) Title() string {
	switch f {
	case FormatNIM1:
		return "NIM 1.x"
	case FormatV2:
		return "v2"
	case FormatV3:
		return "v3"
	}
	return "unknown"
}

// SourceKind says where an effective setting came from.
type SourceKind string

const (
	// SourceDefault is the agent's built-in default (nothing set it).
	SourceDefault SourceKind = "default"
	// SourceFile is the main nginx-agent.conf.
	SourceFile SourceKind = "file"
	// SourceDynamicFile is agent-dynamic.conf (v2), merged over the main file.
	SourceDynamicFile SourceKind = "dynamic-file"
	// SourceEnv is an environment variable (NGINX_AGENT_* or the older NMS_*).
	SourceEnv SourceKind = "env"
	// SourceFlag is one of mtls-doctor's own override flags (--server, --cert, ...).
	SourceFlag SourceKind = "flag"
)

// Source locates one setting: a file and line, an environment variable or a flag.
type Source struct {
	Kind SourceKind `json:"kind"`
	// Name is the file path, the environment variable or the flag name.
	Name string `json:"name,omitempty"`
	// Line is the 1-based line in Name for file sources; 0 when unknown.
	Line int `json:"line,omitempty"`
}

// Setting is one effective configuration value with its provenance.
// An unset setting has Value "" and Source.Kind SourceDefault.
type Setting struct {
	Value  string `json:"value"`
	Source Source `json:"source"`
	// Written is the value as written where it was set, when it differs from Value: a
	// relative TLS path, which Value holds resolved against the agent's working directory.
	Written string `json:"written,omitempty"`
	// Secret says what the value held instead of a path or name when it was key material
	// or a token ("PEM data", "base64 data", "a token"): a key pasted where its path
	// belongs. Value is then only a placeholder; the value itself is never kept.
	Secret string `json:"secret,omitempty"`
}

// newSetting records v from src, keeping a value that is key material or a token only as
// a placeholder (safetext.SecretKind), so that no output can echo it.
func newSetting(v string, src Source) Setting {
	if kind := safetext.SecretKind(v); kind != "" {
		return Setting{Value: safetext.Placeholder(kind), Source: src, Secret: kind}
	}
	return Setting{Value: v, Source: src}
}

// IsSet reports whether anything other than the default set the value.
func (s Setting) IsSet() bool { return s.Source.Kind != "" && s.Source.Kind != SourceDefault }

// ConfigError is a problem reading or decoding the agent configuration file.
type ConfigError struct {
	// Path is the file the error is about.
	Path string `json:"path"`
	// Line and Column are 1-based; 0 when the error has no position (e.g. permission denied).
	Line   int `json:"line,omitempty"`
	Column int `json:"column,omitempty"`
	// Message is the error as the agent (or its YAML library) would word it.
	Message string `json:"message"`
	// NotRegular is true when Path is a directory, device, FIFO or socket: no file to fix
	// or to edit, only a path to correct.
	NotRegular bool `json:"not_regular,omitempty"`
	// Inside is, for a directory, the nginx-agent.conf in it when one exists: likely the
	// file that was meant.
	Inside string `json:"inside,omitempty"`
	// Reindent, when set, is a repair that makes the file parse: one line near the error
	// indented differently from the line before it (the mistake people make most in
	// nginx-agent.conf), at that line's indentation instead.
	Reindent *Reindent `json:"reindent,omitempty"`
}

// Reindent says which line to re-indent and to how many spaces.
type Reindent struct {
	// Line is 1-based.
	Line int `json:"line"`
	// Indent is the number of leading spaces the line gets.
	Indent int `json:"indent"`
}

// TypeError is a setting written as a list or a map where the agent reads one value
// (`grpcPort: [1,2]`). The agent reads such a value as unset.
type TypeError struct {
	// Key is the key as the agent documents it, e.g. server.grpcPort.
	Key string `json:"key"`
	// Type is what was written instead: "a list" or "a map".
	Type string `json:"type"`
	// Source is the file and line of the key.
	Source Source `json:"source"`
}

// EnvOverride is an environment variable that changed an agent setting.
type EnvOverride struct {
	// Name is the variable, e.g. NGINX_AGENT_TLS_CERT.
	Name string `json:"name"`
	// Key is the agent key it sets, e.g. tls.cert.
	Key string `json:"key"`
	// Deprecated is true for the NMS_ prefix (agent v2.17–v2.34), copied by v2.35+.
	Deprecated bool `json:"deprecated,omitempty"`
}

// AgentConfig is the agent's effective connection configuration, after the search order,
// the dynamic file, environment variables and mtls-doctor's own flags were applied.
type AgentConfig struct {
	// Path is the configuration file in effect; "" when none was found.
	Path string `json:"path,omitempty"`
	// Searched lists the paths looked at, in the agent's search order.
	Searched []string `json:"searched,omitempty"`
	// PathGiven is true when the file was named with --agent-config (Searched holds only
	// it) rather than found by the agent's own search: a path that is wrong is the flag's.
	PathGiven bool `json:"path_given,omitempty"`
	// DynamicPath is the agent-dynamic.conf merged over Path (v2 only); "" when none.
	DynamicPath string `json:"dynamic_path,omitempty"`
	// Format is the agent generation the file is written for.
	Format AgentFormat `json:"format"`
	// Error is set when the file exists but cannot be read or decoded.
	Error *ConfigError `json:"error,omitempty"`
	// MixedKeys lists keys of the other generation found in the file (e.g. a v2 `tls:`
	// block in a v3 file, which agent v3 refuses at startup), as "key (line N)".
	MixedKeys []string `json:"mixed_keys,omitempty"`
	// TypeErrors lists the settings written as a list or a map that nothing later (the
	// dynamic file, the environment, a flag) replaced: each leaves its setting unset.
	TypeErrors []TypeError `json:"type_errors,omitempty"`

	// Host and Port are the management-plane endpoint the agent dials.
	Host Setting `json:"host"`
	Port Setting `json:"port"`
	// ServerName overrides SNI, the verified name and :authority
	// (v2 server.command, v3 command.tls.server_name).
	ServerName Setting `json:"server_name"`
	// TLSEnabled is "true" or "false": v2/NIM1 `tls.enable`; for v3 it is derived
	// (TLS is on when any command.tls key is set) and its Source says which key.
	TLSEnabled Setting `json:"tls_enabled"`
	// Cert, Key and CA are the paths as configured, resolved against WorkDir if relative.
	Cert Setting `json:"cert"`
	Key  Setting `json:"key"`
	CA   Setting `json:"ca"`
	// SkipVerify is "true" when server certificate verification is disabled.
	SkipVerify Setting `json:"skip_verify"`
	// TokenSet reports whether an auth token (or token path) is configured. The token
	// itself is never read into this struct.
	TokenSet bool `json:"token_set,omitempty"`
	// LogPath is the agent's log.path (a directory means <dir>/agent.log).
	LogPath Setting `json:"log_path"`
	// Env lists environment variables that overrode file settings.
	Env []EnvOverride `json:"env,omitempty"`
	// WorkDir is the directory relative TLS paths were resolved against (the agent's
	// working directory, "/" under systemd). Empty when no path was relative.
	WorkDir string `json:"work_dir,omitempty"`
	// WorkDirWhy says how WorkDir was found (AgentWorkDir.Why); "" when it was given.
	WorkDirWhy string `json:"work_dir_why,omitempty"`
	// Assumed are the relative TLS paths missing in WorkDir that were found, and are
	// judged, in another directory; Cert, Key or CA then holds the path found.
	Assumed []AssumedPath `json:"assumed,omitempty"`
}

// AssumedPath is a relative TLS path judged in a directory other than the agent's
// working directory, because it exists there and not in the working directory.
type AssumedPath struct {
	// Setting is the agent's key ("tls.cert").
	Setting string `json:"setting"`
	// Written is the path as configured; Missing is it in WorkDir; Path is the file judged.
	Written string `json:"written"`
	Missing string `json:"missing"`
	Path    string `json:"path"`
	// Dir is the directory assumed and Why says which it is ("the configuration file's
	// directory", "mtls-doctor's current directory").
	Dir string `json:"dir"`
	Why string `json:"why"`
}

// Address returns host:port as the agent dials it, or "" when host or port is unset.
func (c AgentConfig) Address() string {
	if c.Host.Value == "" || c.Port.Value == "" {
		return ""
	}
	return joinHostPort(c.Host.Value, c.Port.Value)
}

// GRPCPath is the first RPC the agent makes: the command channel for its generation.
func (c AgentConfig) GRPCPath() string {
	if c.Format == FormatV3 {
		return PathV3CreateConnection
	}
	return PathV2CommandChannel
}

// The agents' first gRPC calls, as request paths (nginx/agent v2
// sdk/proto/command_svc.pb.go, v3 api/grpc/mpi/v1/command_grpc.pb.go).
const (
	PathV2CommandChannel   = "/f5.nginx.agent.sdk.Commander/CommandChannel"
	PathV3CreateConnection = "/mpi.v1.CommandService/CreateConnection"
)
