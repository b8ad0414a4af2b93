package probes

import (
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/mtls-doctor/mtls-doctor/internal/regularfile"
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
	// PathIsAgents says Path is where the agent itself reads its configuration (the demo
	// lab's agent), not a path the user typed: a file missing there is the agent's own.
	PathIsAgents bool
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
	// workDirFound: WorkDir is settled (given, found, or the default). Finding it walks
	// /proc, so it waits until a relative path or the search's last entry needs it.
	workDirFound bool
	// typeErrors are the keys written as a list or a map, with the field each left unset.
	typeErrors []fieldTypeError
}

// fieldTypeError is a TypeError with the field it concerns.
type fieldTypeError struct {
	field agentField
	TypeError
}

// workDir is the agent's working directory, found on first use.
func (l *agentLoader) workDir() string {
	if l.workDirFound {
		return l.o.WorkDir
	}
	l.workDirFound = true
	switch {
	case l.o.WorkDir != "":
	case l.o.FindWorkDir != nil:
		wd := l.o.FindWorkDir(l.o.Path)
		l.o.WorkDir, l.workDirWhy = wd.Dir, wd.Why
	default:
		l.o.WorkDir, l.workDirWhy = "/", "systemd's default for services"
	}
	return l.o.WorkDir
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
	if l.o.Path != "" {
		l.cfg.PathGiven = !l.o.PathIsAgents
		data, _, ok := l.readMain(l.o.Path)
		return data, ok
	}
	paths := l.o.SearchPaths
	if paths == nil {
		paths = defaultAgentSearchPaths
	}
	for _, p := range paths {
		if data, found, ok := l.readMain(p); found {
			return data, ok
		}
	}
	if l.o.SearchPaths == nil {
		// The agent's own search ends in its working directory, looked for only now.
		data, _, ok := l.readMain(filepath.Join(l.workDir(), "nginx-agent.conf"))
		return data, ok
	}
	return nil, false
}

// readMain reads p as the main configuration file: found says it exists, ok that its
// contents can be parsed.
func (l *agentLoader) readMain(p string) (data []byte, found, ok bool) {
	l.cfg.Searched = append(l.cfg.Searched, p)
	data, err := l.read(p)
	if isNotExist(err) {
		return nil, false, false
	}
	l.cfg.Path = p
	if err != nil {
		l.cfg.Error = &ConfigError{Path: p, Message: osMessage(err)}
		if errors.Is(err, syscall.EISDIR) || errors.Is(err, regularfile.ErrNotRegular) {
			l.cfg.Error.NotRegular = true
			if inside := filepath.Join(p, "nginx-agent.conf"); errors.Is(err, syscall.EISDIR) && fileExists(inside) {
				l.cfg.Error.Inside = inside
			}
		}
		return nil, true, false
	}
	if len(data) > maxAgentConfigBytes {
		l.cfg.Error = tooLarge(p, len(data))
		return nil, true, false
	}
	return data, true, true
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
			p = filepath.Join(l.workDir(), p)
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
			s.Value = filepath.Join(l.workDir(), s.Value)
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
