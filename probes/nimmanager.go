package probes

import (
	"errors"
	"io/fs"
)

// NIM 1.x's nginx-manager (nginx/documentation content/nms/nim/previous-versions/v1/,
// getting-started/encrypt.md) serves the agents' gRPC itself, with its
// own TLS: bind_address:grpc_port, the certificate cert and key, and server_name.

// NIM 1.x defaults, used when nginx-manager.conf leaves a key out.
const (
	NIM1DefaultBindAddress = "127.0.0.1"
	NIM1DefaultGRPCPort    = "10000"
	NIM1DefaultGatewayPort = "11000"
)

// NIM1ConfigPaths are where nginx-manager looks for its configuration.
func NIM1ConfigPaths() []string { return []string{"/etc/nginx-manager/nginx-manager.conf"} }

// NIMManagerConfig is NIM 1.x's nginx-manager.conf with the line of every key.
type NIMManagerConfig struct {
	// Path is the file read.
	Path string `json:"path"`
	// Error is set when the file cannot be read or is not YAML.
	Error *ConfigError `json:"error,omitempty"`
	// BindAddress and GRPCPort are where nginx-manager serves the agents' gRPC;
	// GatewayPort is its API and UI.
	BindAddress Setting `json:"bind_address"`
	GRPCPort    Setting `json:"grpc_port"`
	GatewayPort Setting `json:"gateway_port"`
	// ServerName is the name agents are meant to dial.
	ServerName Setting `json:"server_name"`
	// Cert and Key are the TLS certificate and key nginx-manager serves gRPC with.
	Cert Setting `json:"cert"`
	Key  Setting `json:"key"`
	// CertFile and KeyFile are those files; nil when unset.
	CertFile *FileFacts `json:"cert_file,omitempty"`
	KeyFile  *FileFacts `json:"key_file,omitempty"`
}

// maxNIMConfigSize bounds what is read of nginx-manager.conf: real files are a few
// hundred bytes.
const maxNIMConfigSize = 1 << 20

// LoadNIMManagerConfig reads and parses nginx-manager.conf at path and loads the cert and
// key files it names. It never fails: problems are in Error.
func LoadNIMManagerConfig(path string) *NIMManagerConfig {
	data, err := readTLSFileCapped(path, maxNIMConfigSize)
	if err != nil {
		c := ParseNIMManagerConfig(path, nil)
		msg := err.Error()
		if errors.Is(err, fs.ErrNotExist) {
			msg = "no such file"
		}
		c.Error = &ConfigError{Path: path, Message: msg}
		return c
	}
	c := ParseNIMManagerConfig(path, data)
	if c.Cert.Value != "" {
		c.CertFile = LoadTLSFile(RoleCert, c.Cert.Value)
	}
	if c.Key.Value != "" {
		c.KeyFile = LoadTLSFile(RoleKey, c.Key.Value)
	}
	return c
}

// ParseNIMManagerConfig parses nginx-manager.conf held in data as the file path. Keys are
// matched case-insensitively (nginx-manager reads them with viper); unknown keys are
// ignored. It never panics; a YAML error is returned in Error with its line.
func ParseNIMManagerConfig(path string, data []byte) *NIMManagerConfig {
	def := func(v string) Setting { return Setting{Value: v, Source: Source{Kind: SourceDefault}} }
	c := &NIMManagerConfig{
		Path:        path,
		BindAddress: def(NIM1DefaultBindAddress),
		GRPCPort:    def(NIM1DefaultGRPCPort),
		GatewayPort: def(NIM1DefaultGatewayPort),
	}
	if data == nil {
		return c
	}
	doc, cerr := parseYAML(path, data) // the agent config's hardened path: bounded, linear
	if cerr != nil {
		c.Error = cerr
		return c
	}
	for _, k := range []struct {
		key string
		dst *Setting
	}{
		{"bind_address", &c.BindAddress}, {"grpc_port", &c.GRPCPort}, {"gateway_port", &c.GatewayPort},
		{"server_name", &c.ServerName}, {"cert", &c.Cert}, {"key", &c.Key},
	} {
		if mv := doc.lookup(k.key); mv != nil {
			v, _ := doc.scalar(mv.Value) // a mapping or a sequence reads as ""
			*k.dst = Setting{Value: v, Source: Source{Kind: SourceFile, Name: path, Line: lineOf(mv.Key)}}
		}
	}
	return c
}
