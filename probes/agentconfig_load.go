package probes

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	yaml "github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"github.com/mtls-doctor/mtls-doctor/internal/regularfile"
)

// Limits on the configuration files read, so that a huge file or a YAML bomb gives a
// ConfigError instead of minutes of CPU and gigabytes of memory. goccy/go-yaml's parser is
// quadratic in the entries of one block mapping (15,000 tokens took 0.65 s and 108 MB here,
// 30,000 took 19 s and 3.6 GB), so tokens are capped far below what 1 MiB could hold; the
// agent's own files have a few hundred.
const (
	maxAgentConfigBytes  = 1 << 20
	maxAgentConfigTokens = 8192
	maxAgentConfigDepth  = 64 // flow collections ([ and {) open at once
	maxAliasHops         = 32 // alias → anchor → alias ... before giving up
	maxMergeDepth        = 16 // nested `<<:` merge keys followed
)

// defaultAgentSearchPaths is agent v2's search order for nginx-agent.conf, before the working
// directory (nginx/agent v2 src/core/config/defaults.go); agent v3 searches /etc/nginx-agent/
// and the working directory.
var defaultAgentSearchPaths = []string{
	"/etc/nginx-manager/nginx-agent.conf",
	"/etc/nginx-agent/nginx-agent.conf",
	"/usr/local/etc/nginx-agent/nginx-agent.conf",
}

// defaultAgentDynamicPaths are agent v2's agent-dynamic.conf locations, newest first
// (nginx/agent v2 src/core/config/defaults.go, DynamicConfigFileAbsPath). An agent reads
// one of them; the first that exists is taken.
var defaultAgentDynamicPaths = []string{
	"/var/lib/nginx-agent/agent-dynamic.conf", // v2.26.0 and later
	"/etc/nginx-agent/agent-dynamic.conf",     // up to v2.25.x
}

// AgentOverrides are mtls-doctor's own flags; each non-empty one wins over the agent's
// file and environment.
type AgentOverrides struct {
	// Server is the management-plane endpoint as HOST:PORT (--server).
	Server string
	// ServerName is the TLS server name (--server-name).
	ServerName string
	// Cert, Key and CA are the agent's TLS files (--cert, --key, --ca).
	Cert, Key, CA string
}

// AgentConfigOptions control LoadAgentConfig. The zero value searches the agent's own
// locations with an empty environment.
type AgentConfigOptions struct {
	// Path is the configuration file to read (--agent-config); "" searches SearchPaths.
	Path string
	// SearchPaths are the files tried in order when Path is ""; nil means the agent's
	// defaults, then nginx-agent.conf in WorkDir.
	SearchPaths []string
	// DynamicPaths are the agent-dynamic.conf files tried (v2 only); nil means the two
	// known locations. The first that exists is merged over the main file.
	DynamicPaths []string
	// Env is the agent's environment as "K=V" entries, like os.Environ(); it is the only
	// environment consulted.
	Env []string
	// WorkDir is the agent's working directory: relative TLS paths resolve against it and
	// the search ends there. "" asks FindWorkDir, or means "/", systemd's default.
	WorkDir string
	// FindWorkDir finds the working directory of the agent that reads the configuration
	// file (Path; "" for the agent's own search) when WorkDir is "" (FindAgentWorkDir on a
	// live host); nil means "/".
	FindWorkDir func(configPath string) AgentWorkDir
	// CurrentDir is mtls-doctor's own directory, where a relative TLS path missing in
	// WorkDir is looked for last; "" means os.Getwd.
	CurrentDir string
	// Overrides are mtls-doctor's flags.
	Overrides AgentOverrides
	// ReadFile reads a file; nil reads regular files of at most 1 MiB from disk.
	ReadFile func(string) ([]byte, error)
}

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

// LoadAgentConfig finds and reads the agent's configuration the way the agent does and
// returns its effective connection settings with their provenance. Precedence, lowest
// first: default, main file, agent-dynamic.conf (v2), environment, mtls-doctor's flags.
//
// It never fails: a missing file leaves Path empty with Searched filled in, and an
// unreadable or malformed file sets Error; whatever could be learnt is still returned.
//
// TLS: agent v2 and NIM 1.x use tls.enable (default false). Agent v3 has no such key: TLS
// is on when any command.tls key is set. When no file or environment variable decides,
// a --cert, --key, --ca or --server-name flag turns TLS on, and so does any flag when no
// configuration file was found at all: the user asked about a TLS endpoint.
func LoadAgentConfig(o AgentConfigOptions) AgentConfig {
	l := &agentLoader{o: o, env: parseEnv(o.Env), read: o.ReadFile}
	if l.read == nil {
		l.read = readConfigFile
	}
	switch {
	case l.o.WorkDir != "":
	case o.FindWorkDir != nil:
		wd := o.FindWorkDir(o.Path)
		l.o.WorkDir, l.workDirWhy = wd.Dir, wd.Why
	default:
		l.o.WorkDir, l.workDirWhy = "/", "systemd's default for services"
	}
	for i := range l.vals {
		l.vals[i] = Setting{Source: Source{Kind: SourceDefault}}
	}
	l.load()
	return l.result()
}

// agentLoader carries one LoadAgentConfig call.
type agentLoader struct {
	o        AgentConfigOptions
	env      map[string]string
	read     func(string) ([]byte, error)
	cfg      AgentConfig
	vals     [numAgentFields]Setting
	tokenSet bool
	relative bool // a TLS path was resolved against WorkDir
	// workDirWhy says how WorkDir was found.
	workDirWhy string
	// typeErrors are the keys written as a list or a map, with the field each left unset.
	typeErrors []fieldTypeError
}

// fieldTypeError is a TypeError with the field it concerns.
type fieldTypeError struct {
	field agentField
	TypeError
}

func (l *agentLoader) load() {
	data, ok := l.findMain()
	var doc *yamlDoc
	if ok {
		var err *ConfigError
		doc, err = parseAgentYAML(l.cfg.Path, data)
		l.cfg.Error = err
	}
	l.cfg.Format = detectFormat(doc)
	if doc != nil {
		l.cfg.MixedKeys = doc.mixedKeys(l.cfg.Format)
		l.applyDoc(doc, l.cfg.Format, SourceFile)
		if l.cfg.Format == FormatV2 || l.cfg.Format == FormatUnknown {
			l.loadDynamic()
		}
	}
	l.applyEnv()
	l.resolvePaths()
	l.applyFlags()
	l.deriveTLS()
}

// findMain reads the configuration file: Path, or the first file of the search order that
// exists. A file that exists but cannot be read stops the search, as it stops the agent.
func (l *agentLoader) findMain() ([]byte, bool) {
	paths := []string{l.o.Path}
	if l.o.Path == "" {
		paths = l.o.SearchPaths
		if paths == nil {
			paths = append(append([]string(nil), defaultAgentSearchPaths...),
				filepath.Join(l.o.WorkDir, "nginx-agent.conf"))
		}
	}
	for _, p := range paths {
		l.cfg.Searched = append(l.cfg.Searched, p)
		data, err := l.read(p)
		if isNotExist(err) {
			continue
		}
		l.cfg.Path = p
		if err != nil {
			l.cfg.Error = &ConfigError{Path: p, Message: osMessage(err)}
			return nil, false
		}
		if len(data) > maxAgentConfigBytes {
			l.cfg.Error = tooLarge(p, len(data))
			return nil, false
		}
		return data, true
	}
	return nil, false
}

// loadDynamic merges agent-dynamic.conf (agent v2) over the main file. Its path comes from
// the environment, then the main file's dynamic_config_path, then the known locations.
func (l *agentLoader) loadDynamic() {
	var paths []string
	if v, name, _ := l.lookupEnv("DYNAMIC_CONFIG_PATH"); name != "" {
		paths = []string{v}
	} else if s := l.vals[fieldDynamicPath]; s.IsSet() && s.Value != "" {
		paths = []string{s.Value}
	} else if l.o.DynamicPaths != nil {
		paths = l.o.DynamicPaths
	} else {
		paths = defaultAgentDynamicPaths
	}
	for _, p := range paths {
		if !filepath.IsAbs(p) {
			p = filepath.Join(l.o.WorkDir, p)
		}
		data, err := l.read(p)
		if isNotExist(err) {
			continue
		}
		l.cfg.DynamicPath = p
		var cerr *ConfigError
		var doc *yamlDoc
		switch {
		case err != nil:
			cerr = &ConfigError{Path: p, Message: osMessage(err)}
		case len(data) > maxAgentConfigBytes:
			cerr = tooLarge(p, len(data))
		default:
			doc, cerr = parseAgentYAML(p, data)
		}
		// The agent exits when it cannot load the dynamic file; keep the main file's error
		// if there is one, since the agent reports that first.
		if cerr != nil && l.cfg.Error == nil {
			l.cfg.Error = cerr
		}
		if doc != nil {
			if l.applyDoc(doc, FormatV2, SourceDynamicFile) && l.cfg.Format == FormatUnknown {
				l.cfg.Format = FormatV2
			}
		}
		return
	}
}

// applyDoc copies the settings of one parsed file; it reports whether any was set.
func (l *agentLoader) applyDoc(d *yamlDoc, f AgentFormat, kind SourceKind) bool {
	applied := false
	for _, k := range keysFor(f) {
		mv := d.lookup(strings.Split(k.key, ".")...)
		if mv == nil {
			continue
		}
		v, ok := d.scalar(mv.Value)
		if !ok {
			// null or a mapping/sequence: the agent reads it as unset; the latter is a mistake.
			if wrong := d.collectionKind(mv.Value); wrong != "" {
				src := Source{Kind: kind, Name: d.path, Line: lineOf(mv.Key)}
				l.typeErrors = append(l.typeErrors, fieldTypeError{k.field, TypeError{Key: k.key, Type: wrong, Source: src}})
			}
			continue
		}
		l.set(k.field, v, Source{Kind: kind, Name: d.path, Line: lineOf(mv.Key)})
		applied = true
	}
	return applied
}

// set records one value; a token is only noted, never kept.
func (l *agentLoader) set(f agentField, v string, src Source) {
	switch f {
	case fieldToken:
		l.tokenSet = v != ""
	case fieldServer:
		if s := newSetting(v, src); s.Secret != "" {
			l.vals[fieldHost], l.vals[fieldPort] = s, s
			return
		}
		host, port, err := net.SplitHostPort(v)
		if err != nil {
			host, port = v, ""
		}
		l.vals[fieldHost] = Setting{Value: host, Source: src}
		l.vals[fieldPort] = Setting{Value: port, Source: src}
	case fieldTLSEnable, fieldSkipVerify:
		l.vals[f] = Setting{Value: strconv.FormatBool(agentBool(v)), Source: src}
	default:
		l.vals[f] = newSetting(v, src)
	}
}

// lookupEnv returns the value of NGINX_AGENT_<suffix>, or of the deprecated NMS_<suffix>
// when only that one is set (agent v2.35+ copies it). Empty values count as unset, as in
// viper. name is "" when neither is set.
func (l *agentLoader) lookupEnv(suffix string) (v, name string, deprecated bool) {
	if v := l.env[envPrefix+suffix]; v != "" {
		return v, envPrefix + suffix, false
	}
	if v := l.env[envPrefixDeprecated+suffix]; v != "" {
		return v, envPrefixDeprecated + suffix, true
	}
	return "", "", false
}

// applyEnv applies the environment variables of the configuration's generation. With no
// generation known yet, v3's NGINX_AGENT_COMMAND_* variables make it v3, v2's make it v2.
// NIM 1.x's agent variables are undocumented, so none is applied there.
func (l *agentLoader) applyEnv() {
	f := l.cfg.Format
	if f == FormatNIM1 {
		return
	}
	if f == FormatUnknown {
		f = FormatV2
		if l.anyEnv(v3Keys, false) && !l.anyEnv(v2Keys, true) {
			f = FormatV3
		}
	}
	applied := false
	for _, k := range keysFor(f) {
		var v, name string
		var deprecated bool
		if f == FormatV3 {
			if v = l.env[envPrefix+k.env]; v != "" {
				name = envPrefix + k.env
			}
		} else {
			v, name, deprecated = l.lookupEnv(k.env)
		}
		if name == "" {
			continue
		}
		l.set(k.field, v, Source{Kind: SourceEnv, Name: name})
		l.cfg.Env = append(l.cfg.Env, EnvOverride{Name: name, Key: k.key, Deprecated: deprecated})
		applied = true
	}
	if applied && l.cfg.Format == FormatUnknown {
		l.cfg.Format = f
	}
}

// anyEnv reports whether a variable for one of keys (other than log.path, which both
// generations share) is set; deprecated also looks at NMS_ names.
func (l *agentLoader) anyEnv(keys []agentKey, deprecated bool) bool {
	for _, k := range keys {
		if k.field == fieldLogPath {
			continue
		}
		if l.env[envPrefix+k.env] != "" || (deprecated && l.env[envPrefixDeprecated+k.env] != "") {
			return true
		}
	}
	return false
}

// resolvePaths makes the agent's relative TLS paths absolute against its working directory.
// Flags are applied afterwards: their paths are relative to mtls-doctor's own directory.
func (l *agentLoader) resolvePaths() {
	for _, f := range []agentField{fieldCert, fieldKey, fieldCA} {
		s := &l.vals[f]
		if s.Value != "" && s.Secret == "" && !filepath.IsAbs(s.Value) {
			s.Written = s.Value
			s.Value = filepath.Join(l.o.WorkDir, s.Value)
			l.relative = true
			if !fileExists(s.Value) {
				l.assume(f, s)
			}
		}
	}
	if l.relative {
		l.cfg.WorkDir, l.cfg.WorkDirWhy = l.o.WorkDir, l.workDirWhy
	}
}

// assume looks for a relative TLS path that is missing in the agent's working directory
// where it was likely meant: next to the configuration file, or in mtls-doctor's own
// directory (where the user may have started the agent by hand). A file found there is
// judged, and recorded as assumed, rather than every certificate check being skipped.
func (l *agentLoader) assume(f agentField, s *Setting) {
	cwd := l.o.CurrentDir
	if cwd == "" {
		cwd, _ = os.Getwd()
	}
	type candidate struct{ dir, why string }
	var cands []candidate
	if l.cfg.Path != "" {
		cands = append(cands, candidate{filepath.Dir(l.cfg.Path), "the configuration file's directory"})
	}
	if cwd != "" {
		cands = append(cands, candidate{cwd, "mtls-doctor's current directory"})
	}
	for _, c := range cands {
		p := filepath.Join(c.dir, s.Written)
		if p == s.Value || !fileExists(p) {
			continue
		}
		l.cfg.Assumed = append(l.cfg.Assumed, AssumedPath{Setting: tlsKeyName(l.cfg.Format, f),
			Written: s.Written, Missing: s.Value, Path: p, Dir: c.dir, Why: c.why})
		s.Value = p
		return
	}
}

// tlsKeyName is the agent's name for a TLS path setting.
func tlsKeyName(format AgentFormat, f agentField) string {
	name := map[agentField]string{fieldCert: "cert", fieldKey: "key", fieldCA: "ca"}[f]
	if format == FormatV3 {
		return "command.tls." + name
	}
	return "tls." + name
}

// fileExists reports whether path names an existing file (of any type: the file checks
// say what is wrong with it).
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func (l *agentLoader) applyFlags() {
	ov := l.o.Overrides
	flag := func(name string) Source { return Source{Kind: SourceFlag, Name: name} }
	if s := newSetting(ov.Server, flag("--server")); s.Secret != "" {
		l.vals[fieldHost], l.vals[fieldPort] = s, s
	} else if ov.Server != "" {
		host, port, err := net.SplitHostPort(ov.Server)
		if err != nil {
			host, port = ov.Server, ""
		}
		l.vals[fieldHost] = Setting{Value: host, Source: flag("--server")}
		l.vals[fieldPort] = Setting{Value: port, Source: flag("--server")}
	}
	for _, f := range []struct {
		v, name string
		field   agentField
	}{
		{ov.ServerName, "--server-name", fieldServerName},
		{ov.Cert, "--cert", fieldCert},
		{ov.Key, "--key", fieldKey},
		{ov.CA, "--ca", fieldCA},
	} {
		if f.v != "" {
			l.vals[f.field] = newSetting(f.v, flag(f.name))
		}
	}
	if l.cfg.Format == FormatUnknown && ov != (AgentOverrides{}) {
		l.cfg.Format = FormatV2
	}
}

// deriveTLS settles TLSEnabled once every source has been applied.
func (l *agentLoader) deriveTLS() {
	tlsFields := []agentField{fieldCert, fieldKey, fieldCA, fieldSkipVerify, fieldServerName}
	if l.cfg.Format == FormatV3 {
		// v3: any command.tls key turns TLS on; prefer the agent's own settings as the reason.
		var flagSrc *Setting
		for _, f := range tlsFields {
			s := l.vals[f]
			if !s.IsSet() {
				continue
			}
			if s.Source.Kind != SourceFlag {
				l.vals[fieldTLSEnable] = Setting{Value: "true", Source: s.Source}
				return
			}
			if flagSrc == nil {
				flagSrc = &s
			}
		}
		if flagSrc != nil {
			l.vals[fieldTLSEnable] = Setting{Value: "true", Source: flagSrc.Source}
			return
		}
		l.vals[fieldTLSEnable] = Setting{Value: "false", Source: Source{Kind: SourceDefault}}
		return
	}
	if l.vals[fieldTLSEnable].IsSet() {
		return
	}
	l.vals[fieldTLSEnable] = Setting{Value: "false", Source: Source{Kind: SourceDefault}}
	for _, f := range append([]agentField{fieldHost}, tlsFields...) {
		s := l.vals[f]
		if s.Source.Kind != SourceFlag || (f == fieldHost && l.cfg.Path != "") {
			continue
		}
		l.vals[fieldTLSEnable] = Setting{Value: "true", Source: s.Source}
		return
	}
}

func (l *agentLoader) result() AgentConfig {
	c := l.cfg
	c.Host = l.vals[fieldHost]
	c.Port = l.vals[fieldPort]
	c.ServerName = l.vals[fieldServerName]
	c.TLSEnabled = l.vals[fieldTLSEnable]
	c.Cert = l.vals[fieldCert]
	c.Key = l.vals[fieldKey]
	c.CA = l.vals[fieldCA]
	c.SkipVerify = l.vals[fieldSkipVerify]
	if !c.SkipVerify.IsSet() {
		c.SkipVerify.Value = "false"
	}
	c.TokenSet = l.tokenSet
	c.LogPath = l.vals[fieldLogPath]
	for _, te := range l.typeErrors {
		if l.setLater(te.field) {
			continue
		}
		c.TypeErrors = append(c.TypeErrors, te.TypeError)
	}
	return c
}

// setLater reports whether field got a value despite a wrong-typed key for it: another
// source (or another key, for the token) set it.
func (l *agentLoader) setLater(field agentField) bool {
	switch field {
	case fieldToken:
		return l.tokenSet
	case fieldServer:
		field = fieldHost
	}
	return l.vals[field].IsSet()
}

// agentBool reads a boolean as viper's GetBool does (strconv.ParseBool, non-zero integers
// are true); anything else, "yes" included, is false.
func agentBool(v string) bool {
	if b, err := strconv.ParseBool(v); err == nil {
		return b
	}
	if n, err := strconv.ParseInt(v, 0, 64); err == nil {
		return n != 0
	}
	return false
}

func parseEnv(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			m[k] = v
		}
	}
	return m
}

// readConfigFile reads a regular file, at most one byte over the size limit, so that
// /dev/zero, a FIFO or a multi-gigabyte file neither hangs nor fills memory.
func readConfigFile(path string) ([]byte, error) {
	f, err := regularfile.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxAgentConfigBytes+1))
}

// isNotExist reports whether err means "no such file here", so the search goes on.
func isNotExist(err error) bool {
	return err != nil && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR))
}

// osMessage is the operating system's text for err without the path ("permission denied").
func osMessage(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func tooLarge(path string, n int) *ConfigError {
	msg := fmt.Sprintf("file too large: %d bytes, the limit is %d", n, maxAgentConfigBytes)
	if n > maxAgentConfigBytes {
		msg = fmt.Sprintf("file too large: more than %d bytes", maxAgentConfigBytes)
	}
	return &ConfigError{Path: path, Message: msg}
}

// yamlDoc is one parsed configuration file. Lookups resolve anchors, aliases and merge
// keys lazily and only along the keys asked for, so aliases are never expanded wholesale.
type yamlDoc struct {
	path string
	root ast.Node // the top-level mapping; nil for an empty file
	// notMapping is the top level when it is a scalar or a sequence (root is nil).
	notMapping ast.Node
	anchors    map[string][]*ast.AnchorNode // by name, in document order
}

// parseYAML parses the first document of data through parseLimitedYAML. A top level that
// is not a mapping leaves root nil and is kept in notMapping.
func parseYAML(path string, data []byte) (*yamlDoc, *ConfigError) {
	f, cerr := parseLimitedYAML(path, data)
	if cerr != nil {
		return nil, cerr
	}
	doc := &yamlDoc{path: path, anchors: map[string][]*ast.AnchorNode{}}
	if len(f.Docs) == 0 || f.Docs[0] == nil || f.Docs[0].Body == nil {
		return doc, nil
	}
	doc.collectAnchors(f.Docs[0].Body)
	body := doc.resolve(f.Docs[0].Body)
	switch body.(type) {
	case nil, *ast.NullNode:
		return doc, nil
	case *ast.MappingNode, *ast.MappingValueNode:
		doc.root = body
		return doc, nil
	}
	doc.notMapping = body
	return doc, nil
}

// parseAgentYAML is parseYAML for the agent's files, whose top level must be a mapping.
func parseAgentYAML(path string, data []byte) (*yamlDoc, *ConfigError) {
	doc, cerr := parseYAML(path, data)
	if cerr != nil || doc.notMapping == nil {
		return doc, cerr
	}
	body := doc.notMapping
	e := &yaml.UnexpectedNodeTypeError{Actual: body.Type(), Expected: ast.MappingType, Token: body.GetToken()}
	return nil, tokenError(path, e.GetToken(), e.GetMessage())
}

// parseLimitedYAML parses every document of data, refusing inputs past the size limits
// (a YAML bomb, a megabyte of keys). The error carries the library's message and the
// position it points at. Every YAML reader of the tool parses through it.
func parseLimitedYAML(path string, data []byte) (f *ast.File, cerr *ConfigError) {
	defer func() {
		// The parser is third-party code fed untrusted input: a panic is a decode error.
		if r := recover(); r != nil {
			f, cerr = nil, &ConfigError{Path: path, Message: fmt.Sprintf("YAML parser failed: %v", r)}
		}
	}()
	if len(data) > maxAgentConfigBytes {
		return nil, tooLarge(path, len(data))
	}
	if line := contentLineOver(data, maxAgentConfigTokens); line > 0 {
		// Every such line holds a token; refusing here spares lexing a megabyte (0.8 s).
		return nil, &ConfigError{Path: path, Line: line, Column: 1,
			Message: fmt.Sprintf("too many YAML tokens (more than %d)", maxAgentConfigTokens)}
	}
	toks := lexer.Tokenize(string(data))
	if tk := toks.InvalidToken(); tk != nil {
		return nil, tokenError(path, tk, tk.Error)
	}
	if tk, msg := checkTokenLimits(toks); tk != nil {
		return nil, tokenError(path, tk, msg)
	}
	f, err := parser.Parse(toks, 0)
	if err != nil {
		var ye yaml.Error
		if errors.As(err, &ye) {
			return nil, tokenError(path, ye.GetToken(), ye.GetMessage())
		}
		return nil, &ConfigError{Path: path, Message: err.Error()}
	}
	return f, nil
}

func tokenError(path string, tk *token.Token, msg string) *ConfigError {
	e := &ConfigError{Path: path, Message: msg}
	if tk != nil && tk.Position != nil {
		e.Line, e.Column = tk.Position.Line, tk.Position.Column
	}
	return e
}

// contentLineOver returns the 1-based number of the line that makes more than max lines
// holding something other than blanks and a comment, or 0.
func contentLineOver(data []byte, max int) int {
	n := 0
	for i, line := range strings.Split(string(data), "\n") {
		if t := strings.TrimLeft(line, " \t\r"); t != "" && t[0] != '#' {
			if n++; n > max {
				return i + 1
			}
		}
	}
	return 0
}

// checkTokenLimits returns the token past a limit, with the reason, or nil.
func checkTokenLimits(toks token.Tokens) (*token.Token, string) {
	n, depth := 0, 0
	for _, tk := range toks {
		switch tk.Type {
		case token.CommentType:
			continue
		case token.SequenceStartType, token.MappingStartType:
			if depth++; depth > maxAgentConfigDepth {
				return tk, fmt.Sprintf("flow collections nested deeper than %d levels", maxAgentConfigDepth)
			}
		case token.SequenceEndType, token.MappingEndType:
			depth--
		}
		if n++; n > maxAgentConfigTokens {
			return tk, fmt.Sprintf("too many YAML tokens (more than %d)", maxAgentConfigTokens)
		}
	}
	return nil, ""
}

// collectAnchors indexes every anchor; the walk is bounded by the token limit.
func (d *yamlDoc) collectAnchors(n ast.Node) {
	stack := []ast.Node{n}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch n := n.(type) {
		case *ast.AnchorNode:
			if n.Name != nil {
				name := n.Name.GetToken().Value
				d.anchors[name] = append(d.anchors[name], n)
			}
			stack = append(stack, n.Value)
		case *ast.TagNode:
			stack = append(stack, n.Value)
		case *ast.MappingNode:
			for i := len(n.Values) - 1; i >= 0; i-- {
				stack = append(stack, n.Values[i])
			}
		case *ast.MappingValueNode:
			stack = append(stack, n.Value, n.Key)
		case *ast.MappingKeyNode:
			stack = append(stack, n.Value)
		case *ast.SequenceNode:
			for i := len(n.Values) - 1; i >= 0; i-- {
				stack = append(stack, n.Values[i])
			}
		}
	}
	// The stack pops in document order only roughly; sort each name's anchors by offset.
	for _, as := range d.anchors {
		for i := 1; i < len(as); i++ {
			for j := i; j > 0 && offset(as[j]) < offset(as[j-1]); j-- {
				as[j], as[j-1] = as[j-1], as[j]
			}
		}
	}
}

func offset(n ast.Node) int {
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		return tk.Position.Offset
	}
	return 0
}

// resolve follows anchors, tags and aliases to the node they stand for; nil when an alias
// names no earlier anchor or the chain is too long.
func (d *yamlDoc) resolve(n ast.Node) ast.Node {
	for range maxAliasHops {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.TagNode:
			n = v.Value
		case *ast.MappingKeyNode:
			n = v.Value
		case *ast.AliasNode:
			n = d.anchorFor(v)
		default:
			return n
		}
	}
	return nil
}

// anchorFor is the value of the last anchor with the alias's name defined before it.
func (d *yamlDoc) anchorFor(a *ast.AliasNode) ast.Node {
	if a.Value == nil {
		return nil
	}
	var found ast.Node
	at := offset(a)
	for _, an := range d.anchors[a.Value.GetToken().Value] {
		if offset(an) >= at {
			break
		}
		found = an.Value
	}
	return found
}

// entries returns the key-value pairs of a mapping node (goccy may give a one-entry
// mapping as a bare MappingValueNode).
func entries(n ast.Node) []*ast.MappingValueNode {
	switch m := n.(type) {
	case *ast.MappingNode:
		return m.Values
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{m}
	}
	return nil
}

// lookup finds the entry at a key path, matching keys case-insensitively as viper does.
func (d *yamlDoc) lookup(path ...string) *ast.MappingValueNode {
	if d == nil || d.root == nil {
		return nil
	}
	var mv *ast.MappingValueNode
	n := d.root
	for _, k := range path {
		if mv = d.get(n, k, map[ast.Node]bool{}, 0); mv == nil {
			return nil
		}
		n = d.resolve(mv.Value)
	}
	return mv
}

// get finds key in mapping n. Explicit keys win over merged ones (`<<: *anchor`); of
// duplicates differing only in case, the last wins. seen stops merge loops.
func (d *yamlDoc) get(n ast.Node, key string, seen map[ast.Node]bool, depth int) *ast.MappingValueNode {
	n = d.resolve(n)
	if n == nil || seen[n] || depth > maxMergeDepth {
		return nil
	}
	seen[n] = true
	var found *ast.MappingValueNode
	var merges []ast.Node
	for _, mv := range entries(n) {
		if mv.Key == nil {
			continue
		}
		if mv.Key.IsMergeKey() {
			merges = append(merges, mv.Value)
			continue
		}
		if strings.EqualFold(d.keyText(mv.Key), key) {
			found = mv
		}
	}
	if found != nil {
		return found
	}
	for _, m := range merges {
		srcs := []ast.Node{m}
		if seq, ok := d.resolve(m).(*ast.SequenceNode); ok {
			srcs = seq.Values
		}
		for _, s := range srcs {
			if mv := d.get(s, key, seen, depth+1); mv != nil {
				return mv
			}
		}
	}
	return nil
}

func (d *yamlDoc) keyText(k ast.Node) string {
	v, _ := d.scalar(k)
	return v
}

// scalar returns a scalar's value as viper would read it as a string; ok is false for
// null, mappings and sequences.
func (d *yamlDoc) scalar(n ast.Node) (string, bool) {
	switch v := d.resolve(n).(type) {
	case *ast.StringNode:
		return v.Value, true
	case *ast.IntegerNode:
		return fmt.Sprint(v.Value), true
	case *ast.BoolNode:
		return strconv.FormatBool(v.Value), true
	case *ast.LiteralNode:
		if v.Value == nil {
			return "", true
		}
		return v.Value.Value, true
	case *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return v.GetToken().Value, true
	}
	return "", false
}

// collectionKind is "a list" or "a map" for a sequence or mapping node, else "".
func (d *yamlDoc) collectionKind(n ast.Node) string {
	switch d.resolve(n).(type) {
	case *ast.SequenceNode:
		return "a list"
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a map"
	}
	return ""
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

func lineOf(n ast.Node) int {
	if n == nil {
		return 0
	}
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		return tk.Position.Line
	}
	return 0
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
