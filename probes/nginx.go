package probes

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mtls-doctor/mtls-doctor/internal/regularfile"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// This file gathers the facts of the manager side: the NGINX configuration that
// terminates the agents' mutual TLS, the files its agent-facing servers name, the
// nginx binary's version and `nginx -t` verdict, and NIM 1.x's nginx-manager.conf.

// NginxSource says what the NGINX configuration was read from.
type NginxSource string

const (
	// NginxNone: no configuration was found or it could not be read.
	NginxNone NginxSource = ""
	// NginxFile: a main configuration file and the files it includes.
	NginxFile NginxSource = "file"
	// NginxDump: `nginx -T` output, from a file or standard input.
	NginxDump NginxSource = "dump"
)

// StdinName is how the configuration read from standard input (--nginx-config -) is named.
const StdinName = "-"

// Request paths of the agents' gRPC calls that NGINX must pass to the management plane
// (nginx/agent v2 sdk/proto/command_svc.pb.go and metrics.svc.pb.go; v3
// api/grpc/mpi/v1/command_grpc.pb.go). PathV2CommandChannel and PathV3CreateConnection are
// the first calls; the metrics stream is the other service an agent v2 opens.
const PathV2MetricsStream = "/f5.nginx.agent.sdk.MetricsService/Stream"

// AgentPaths are the request paths a server must pass to gRPC to serve agents.
var AgentPaths = []string{PathV2CommandChannel, PathV2MetricsStream, PathV3CreateConnection}

// NginxOptions say where the manager's NGINX configuration is and what may be run.
type NginxOptions struct {
	// Config is --nginx-config: a main configuration file (or a file holding `nginx -T`
	// output), or StdinName for `nginx -T` output on Stdin. Empty means discovery.
	Config string
	// Stdin is read when Config is StdinName.
	Stdin io.Reader
	// Prefix is --nginx-prefix, nginx's -p: where relative log and pid paths resolve.
	Prefix string
	// Binary is the nginx binary; empty finds one (nginxconf.Binary).
	Binary string
	// NoBinary runs no nginx at all: no version, no `nginx -t`.
	NoBinary bool
	// Search lists the main files discovery tries, in order; nil means the binary's
	// --conf-path, then nginxconf.DefaultPaths.
	Search []string
	// NIMFiles are the NGINX Instance Manager 2.x files looked for; nil means
	// nginxconf.NIMFiles plus /etc/nms/nginx/*.conf.
	NIMFiles []string
	// NIM1Paths are where NIM 1.x's nginx-manager.conf is looked for during discovery;
	// nil means NIM1ConfigPaths.
	NIM1Paths []string
	// NIM1Config is --nim-config: NIM 1.x's nginx-manager.conf, read whether or not the
	// NGINX configuration was named (a stream{} server of it may pass agents to
	// nginx-manager).
	NIM1Config string
	// AgentPort is the port the agents dial, when an agent configuration names it: a
	// server on that port that passes anything to gRPC is agent-facing too.
	AgentPort int
	// AgentCert is a certificate file to judge against this NGINX (--cert on a manager).
	AgentCert string
	// AgentKey and AgentCA are the key and CA files given beside AgentCert (--key, --ca),
	// judged as the agent's own; they are read only with AgentCert.
	AgentKey, AgentCA string
	// Off looks for nothing: no file is read and no nginx is run (the demo lab and tests
	// that must not depend on the host's NGINX).
	Off bool
	// Build is the answer of `nginx -V` for Binary when it was started beforehand
	// (StartNginxBuild), so that it overlaps other work; nil runs it in LoadNginx.
	Build *NginxBuild
}

// NginxBuild is `nginx -V` running in the background.
type NginxBuild struct {
	Binary string
	done   chan struct{}
	info   nginxconf.BuildInfo
	err    error
}

// StartNginxBuild starts `nginx -V` for the binary opts name (or the one nginxconf.Binary
// finds), bounded by ctx; nil when opts run no nginx or none is installed. It costs a
// few milliseconds that would otherwise sit on the critical path of a run, before the
// configuration can be read.
func StartNginxBuild(ctx context.Context, opts NginxOptions) *NginxBuild {
	if opts.Off || opts.NoBinary {
		return nil
	}
	bin := opts.Binary
	if bin == "" {
		bin, _ = nginxconf.Binary()
	}
	if bin == "" {
		return nil
	}
	b := &NginxBuild{Binary: bin, done: make(chan struct{})}
	go func() {
		defer close(b.done)
		b.info, b.err = nginxconf.Build(ctx, bin)
	}()
	return b
}

// Wait returns the build once `nginx -V` has answered.
func (b *NginxBuild) Wait() (nginxconf.BuildInfo, error) {
	<-b.done
	return b.info, b.err
}

// NginxFacts is what the manager side's NGINX configuration says, with file:line for
// every setting. A nil Config means none was read.
type NginxFacts struct {
	// Explicit is true when the configuration was named (--nginx-config).
	Explicit bool `json:"explicit,omitempty"`
	// Prefix is the -p prefix that was named (--nginx-prefix); "" for nginx's own.
	Prefix string `json:"prefix,omitempty"`
	// Source says what the configuration was read from.
	Source NginxSource `json:"source"`
	// Main is the main configuration file (for a dump: the first file in it).
	Main string `json:"main,omitempty"`
	// Searched lists the main files discovery looked for.
	Searched []string `json:"searched,omitempty"`
	// ReadError is why the configuration could not be read at all.
	ReadError string `json:"read_error,omitempty"`
	// Files lists every configuration file read, main first.
	Files []string `json:"files,omitempty"`
	// Errors are the syntax errors found, with nginx's wording and file:line.
	Errors []nginxconf.Error `json:"errors,omitempty"`
	// Config is the parsed configuration.
	Config *nginxconf.Config `json:"-"`

	// Binary is the nginx binary that was run; "" when none was.
	Binary string `json:"binary,omitempty"`
	// Version is the binary's version ("1.22.1"); "" when unknown (no binary, or a dump).
	Version string `json:"version,omitempty"`
	// VersionError is why the version is unknown although a binary was found.
	VersionError string `json:"version_error,omitempty"`
	// Test is `nginx -t`'s verdict; nil when it was not run.
	Test *NginxTest `json:"test,omitempty"`

	// Servers are the http servers that pass agent gRPC paths on, with the files their
	// ssl_* directives name.
	Servers []*NginxServer `json:"servers,omitempty"`
	// HTTPServers are all http servers, for name-based server selection.
	HTTPServers []*nginxconf.Server `json:"-"`
	// NIMFiles are the NGINX Instance Manager 2.x files found on this host.
	NIMFiles []NIMFile `json:"nim_files,omitempty"`
	// NIM1 is NIM 1.x's nginx-manager.conf, when found.
	NIM1 *NIMManagerConfig `json:"nim1,omitempty"`
	// Streams are the stream{} servers that carry agents' connections, with what
	// terminates their TLS; one that terminates TLS itself is also in Servers.
	Streams []*StreamHop `json:"streams,omitempty"`
	// AgentCert is the agent certificate given to judge against this NGINX.
	AgentCert *FileFacts `json:"agent_cert,omitempty"`
	// AgentKey and AgentCA are the agent's key and CA files given beside it; nil when not
	// given.
	AgentKey *FileFacts `json:"agent_key,omitempty"`
	AgentCA  *FileFacts `json:"agent_ca,omitempty"`
}

// Manager reports whether this host terminates the agents' connections: an NGINX
// server passes agent gRPC paths on, a stream server carries them, or NIM 1.x's
// nginx-manager serves them itself.
func (n *NginxFacts) Manager() bool {
	return n != nil && (len(n.Servers) > 0 || len(n.Streams) > 0 || (n.NIM1 != nil && n.NIM1.Path != ""))
}

// NginxTest is the verdict of `nginx -t` on the main file.
type NginxTest struct {
	// OK is true when nginx accepted the configuration.
	OK bool `json:"ok"`
	// Error is nginx's first [emerg], with the file:line it names, when it did not.
	Error *nginxconf.Error `json:"error,omitempty"`
	// Inconclusive is set when nginx failed for a reason that says nothing about the
	// configuration (e.g. "Permission denied" when not run as root): the message.
	Inconclusive string `json:"inconclusive,omitempty"`
}

// NginxServer is one agent-facing server block with the files it names: an http server,
// or a stream server that terminates the agents' TLS (Stream set).
type NginxServer struct {
	*nginxconf.Server
	// Stream is the stream hop when the server is a stream{} server; nil for http.
	Stream *StreamHop `json:"-"`
	// Routes say which location serves each agent path.
	Routes []AgentRoute `json:"routes"`
	// Certs and Keys are the ssl_certificate and ssl_certificate_key files in effect, in
	// order; an entry is nil when its path holds variables.
	Certs []*FileFacts `json:"certs,omitempty"`
	Keys  []*FileFacts `json:"keys,omitempty"`
	// ClientCA and TrustedCA are the ssl_client_certificate and ssl_trusted_certificate
	// files; nil when unset.
	ClientCA  *FileFacts `json:"client_ca,omitempty"`
	TrustedCA *FileFacts `json:"trusted_ca,omitempty"`
	// CRL is the ssl_crl file; nil when unset.
	CRL *CRLFacts `json:"crl,omitempty"`
	// MatchingKeys has, for each ssl_certificate whose ssl_certificate_key holds another
	// certificate's key, a private key file that does belong to it, found beside the
	// certificate or its key; "" when none was found or none is needed. Nil when every
	// key matches.
	MatchingKeys []string `json:"matching_keys,omitempty"`
}

// AgentRoute is the location nginx picks for one agent request path.
type AgentRoute struct {
	// Path is the request path, e.g. /f5.nginx.agent.sdk.Commander/CommandChannel.
	Path string `json:"path"`
	// Location is the location nginx selects; nil when none matches.
	Location *nginxconf.Location `json:"-"`
	// GRPCPass is that location's grpc_pass target; "" when it passes nothing to gRPC.
	GRPCPass string `json:"grpc_pass,omitempty"`
}

// CRLFacts is what an ssl_crl file holds.
type CRLFacts struct {
	Path      string `json:"path"`
	Exists    bool   `json:"exists"`
	ReadError string `json:"read_error,omitempty"`
	// CRLs are the revocation lists that parsed, in file order.
	CRLs []*x509.RevocationList `json:"-"`
	// ParseError describes blocks that did not parse.
	ParseError string `json:"parse_error,omitempty"`
}

// NIMFile is one NGINX Instance Manager 2.x file and whether the configuration read
// includes it.
type NIMFile struct {
	Path     string `json:"path"`
	Included bool   `json:"included"`
}

// LoadNginx reads the manager's NGINX configuration: the one named by opts.Config, or
// the first main file found. It never fails: what could not be read is recorded. It
// runs the nginx binary only with -V and -t, each bounded by ctx (10 s without a
// deadline); -V not at all when discovery finds a configuration that neither passes
// anything to gRPC nor to an upstream over TLS (readWithoutBinary), -t only on a local
// main file that serves agents or passes requests to an upstream over TLS.
func LoadNginx(ctx context.Context, opts NginxOptions) *NginxFacts {
	n := &NginxFacts{Explicit: opts.Config != "", Prefix: opts.Prefix}
	if opts.Off {
		return &NginxFacts{}
	}
	peek, served := n.readWithoutBinary(opts)
	var build *nginxconf.BuildInfo
	if !served {
		build = n.readWithBinary(ctx, opts, peek)
	}
	if n.Source == NginxFile && build != nil {
		n.Version = build.Version
	}

	files := fileCache{}
	if n.Config != nil {
		n.findServers(opts.AgentPort)
		for _, s := range n.Servers {
			files.load(s)
		}
	}
	n.NIMFiles = nimFiles(opts.NIMFiles, n.Files)
	if opts.NIM1Config != "" {
		n.NIM1 = LoadNIMManagerConfig(opts.NIM1Config)
	} else if !n.Explicit {
		paths := opts.NIM1Paths
		if paths == nil {
			paths = NIM1ConfigPaths()
		}
		for _, p := range paths {
			if _, err := os.Stat(p); err == nil {
				n.NIM1 = LoadNIMManagerConfig(p)
				break
			}
		}
	} else if n.NIM1 == nil && isNIM1Name(opts.Config) {
		n.Source, n.ReadError, n.Main = NginxNone, "", ""
		n.NIM1 = LoadNIMManagerConfig(opts.Config)
	}
	if n.Config != nil {
		n.findStreamHops(opts.AgentPort, files)
	}
	if opts.AgentCert != "" {
		n.AgentCert = LoadTLSFile(RoleCert, opts.AgentCert)
		if opts.AgentKey != "" {
			n.AgentKey = LoadTLSFile(RoleKey, opts.AgentKey)
		}
		if opts.AgentCA != "" {
			n.AgentCA = LoadTLSFile(RoleCA, opts.AgentCA)
		}
	}
	if n.Source == NginxFile && n.Binary != "" && (len(n.Servers) > 0 || len(n.Streams) > 0 || passesUpstreamTLS(n.HTTPServers)) {
		n.Test = runTest(ctx, n.Binary, n.Main, opts.Prefix)
	}
	return n
}

// readWithoutBinary reads, during discovery that has not started `nginx -V`, the first
// main file of the search (opts.Search, else nginxconf.DefaultPaths). A configuration
// with no grpc_pass has no server that can serve agents, so the manager side is not
// judged here; if no server passes to an upstream over TLS either (whose judgement needs
// the version and `nginx -t`), the binary is not asked at all: `nginx -V` is a fork and exec of a
// dynamically linked program, the slowest step of a run on a busy agent host. served is
// then true and n holds the configuration. The binary's --conf-path is not consulted in
// that case: an nginx built to read another file than the first found in the usual
// places is judged with --nginx-config. Otherwise peek is the configuration read (nil
// if none), for readWithBinary to reuse.
func (n *NginxFacts) readWithoutBinary(opts NginxOptions) (peek *NginxFacts, served bool) {
	if opts.Config != "" || opts.Build != nil {
		return nil, false
	}
	search := opts.Search
	if search == nil {
		search = nginxconf.DefaultPaths()
	}
	for _, p := range search {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		peek = &NginxFacts{}
		peek.readFile(p, nginxconf.Options{Prefix: opts.Prefix})
		if peek.Config == nil || len(peek.Config.Find("grpc_pass")) > 0 || passesUpstreamTLS(peek.Config.HTTPServers()) {
			return peek, false
		}
		n.Searched = search
		n.Source, n.Main, n.Config, n.Files, n.Errors = peek.Source, peek.Main, peek.Config, peek.Files, peek.Errors
		return nil, true
	}
	return nil, false
}

// readWithBinary asks the binary for its build (`nginx -V`, started beforehand when
// opts.Build is set) and reads the configuration: the one named, or the first main file
// of the search, which starts with the binary's --conf-path. peek, the first file of the
// search read without the build's options, is reused when it is still the one to read.
func (n *NginxFacts) readWithBinary(ctx context.Context, opts NginxOptions, peek *NginxFacts) *nginxconf.BuildInfo {
	var build *nginxconf.BuildInfo
	started := opts.Build
	if started == nil {
		started = StartNginxBuild(ctx, opts)
	}
	if started != nil {
		n.Binary = started.Binary
		if b, err := started.Wait(); err == nil {
			build = &b
		} else {
			n.VersionError = err.Error()
		}
	}
	popts := nginxconf.Options{Prefix: opts.Prefix}
	if build != nil {
		popts = build.Options()
		if opts.Prefix != "" {
			popts.Prefix = opts.Prefix
		}
	}

	switch {
	case opts.Config == StdinName:
		n.Main = "(standard input)"
		if opts.Stdin == nil {
			n.ReadError = "no standard input to read nginx -T output from"
			break
		}
		n.readDump(opts.Stdin, popts)
	case opts.Config != "":
		n.readFile(opts.Config, popts)
	default:
		search := opts.Search
		if search == nil {
			if build != nil && build.ConfPath != "" {
				search = append(search, build.ConfPath)
			}
			for _, p := range nginxconf.DefaultPaths() {
				if !containsPath(search, p) {
					search = append(search, p)
				}
			}
		}
		n.Searched = search
		for _, p := range search {
			if _, err := os.Stat(p); err != nil {
				continue
			}
			if peek != nil && peek.Config != nil && peek.Source == NginxFile && peek.Config.Main == absPath(p) {
				peek.Config.SetOptions(popts) // read before the build answered: only log paths depend on it
				n.setConfig(peek.Config, NginxFile)
				break
			}
			n.readFile(p, popts)
			break
		}
	}
	return build
}

// passesUpstreamTLS reports whether a server passes requests to an upstream over TLS:
// `nginx -t` then judges the proxy's certificate, key and trusted CA files as NGINX loads
// them (e.g. "no proxy_ssl_trusted_certificate for proxy_ssl_verify").
func passesUpstreamTLS(servers []*nginxconf.Server) bool {
	for _, s := range servers {
		if s.PassesUpstreamTLS() {
			return true
		}
	}
	return false
}

// isNIM1Name reports whether an explicit --nginx-config names NIM 1.x's own file.
func isNIM1Name(p string) bool { return filepath.Base(p) == "nginx-manager.conf" }

func containsPath(list []string, p string) bool {
	for _, x := range list {
		if x == p {
			return true
		}
	}
	return false
}

// absPath is p made absolute, or p when the working directory is unknown.
func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// readFile parses a main file, or `nginx -T` output saved in a file.
func (n *NginxFacts) readFile(path string, opts nginxconf.Options) {
	abs := absPath(path)
	n.Main = abs
	f, err := regularfile.Open(abs) // a FIFO would block os.Open for ever
	if err != nil {
		n.ReadError = err.Error()
		return
	}
	defer f.Close()
	// Up to 64 KiB, where `nginx -T` output names its first file; grown as read, so a
	// 2 KB nginx.conf does not cost 64 KiB of fresh zeroed heap.
	head, _ := io.ReadAll(io.LimitReader(f, 64<<10))
	if isNIM1Name(abs) {
		return // YAML, read by LoadNIMManagerConfig
	}
	if nginxconf.IsDump(head) {
		n.readDump(io.MultiReader(bytes.NewReader(head), f), opts)
		return
	}
	cfg, err := nginxconf.Load(abs, opts)
	if cfg == nil { // the main file itself did not read (a directory, an endless file)
		n.ReadError = err.Error()
		return
	}
	n.setConfig(cfg, NginxFile)
}

func (n *NginxFacts) readDump(r io.Reader, opts nginxconf.Options) {
	cfg, err := nginxconf.ParseDumpWith(r, opts)
	if cfg == nil {
		n.ReadError = err.Error()
		return
	}
	n.Main = cfg.Main
	n.setConfig(cfg, NginxDump)
}

// NewNginxFacts describes an already parsed configuration: its files, errors and the
// servers that serve agents (agentPort as in NginxOptions). The files those servers name
// are not read; LoadNginx does that.
func NewNginxFacts(cfg *nginxconf.Config, src NginxSource, agentPort int) *NginxFacts {
	n := &NginxFacts{}
	n.setConfig(cfg, src)
	if n.Config != nil {
		n.findServers(agentPort)
	}
	return n
}

func (n *NginxFacts) findServers(agentPort int) {
	n.HTTPServers = n.Config.HTTPServers()
	n.Servers = agentServers(n.HTTPServers, agentPort)
}

func (n *NginxFacts) setConfig(cfg *nginxconf.Config, src NginxSource) {
	if cfg == nil {
		return
	}
	if len(cfg.Files) == 0 {
		// The main file itself could not be read.
		if len(cfg.Errors) > 0 {
			n.ReadError = cfg.Errors[0].Error()
		}
		return
	}
	n.Source, n.Config, n.Main = src, cfg, cfg.Main
	n.Errors = cfg.Errors
	for _, f := range cfg.Files {
		n.Files = append(n.Files, f.Path)
	}
}

// runTest runs `nginx -t` and sorts its answer into a verdict.
func runTest(ctx context.Context, bin, main, prefix string) *NginxTest {
	err := nginxconf.TestPrefix(ctx, bin, main, prefix)
	if err == nil {
		return &NginxTest{OK: true}
	}
	var e nginxconf.Error
	if errors.As(err, &e) {
		if strings.Contains(e.Msg, "Permission denied") || strings.Contains(e.Msg, "(13:") {
			return &NginxTest{Inconclusive: e.Error()}
		}
		return &NginxTest{Error: &e}
	}
	return &NginxTest{Inconclusive: err.Error()}
}

// NIMFilesDefault are the NGINX Instance Manager 2.x files looked for: the server block
// agents reach and the snippets it includes.
func NIMFilesDefault() []string {
	files := nginxconf.NIMFiles()
	if more, _ := filepath.Glob("/etc/nms/nginx/*.conf"); len(more) > 0 {
		files = append(files, more...)
	}
	return files
}

func nimFiles(paths, read []string) []NIMFile {
	if paths == nil {
		paths = NIMFilesDefault()
	}
	var out []NIMFile
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		out = append(out, NIMFile{Path: p, Included: containsPath(read, p)})
	}
	return out
}

// agentServers returns the servers that pass an agent gRPC path to gRPC, or that listen
// on the agents' port and pass anything to gRPC.
func agentServers(all []*nginxconf.Server, agentPort int) []*NginxServer {
	var out []*NginxServer
	for _, s := range all {
		ns := &NginxServer{Server: s, Routes: make([]AgentRoute, 0, len(AgentPaths))}
		serves := false
		for _, p := range AgentPaths {
			r := AgentRoute{Path: p, Location: nginxconf.SelectLocation(s, p)}
			if r.Location != nil && r.Location.GRPCPass.IsSet() {
				r.GRPCPass = r.Location.GRPCPass.Value
				serves = true
			}
			ns.Routes = append(ns.Routes, r)
		}
		if !serves && agentPort > 0 && s.ListensOn(agentPort) {
			for _, l := range s.Locations {
				if l.GRPCPass.IsSet() {
					serves = true
				}
			}
		}
		if serves {
			out = append(out, ns)
		}
	}
	return out
}

// fileCache loads each file an agent server names once.
type fileCache map[string]any

func (c fileCache) tls(role FileRole, s nginxconf.Setting) *FileFacts {
	if !s.IsSet() || s.Path == "" {
		return nil
	}
	return c.file(role, s.Path)
}

// file loads the file at path in role once.
func (c fileCache) file(role FileRole, path string) *FileFacts {
	key := string(role) + "\x00" + path
	if v, ok := c[key]; ok {
		return v.(*FileFacts)
	}
	ff := LoadTLSFile(role, path)
	c[key] = ff
	return ff
}

func (c fileCache) crl(s nginxconf.Setting) *CRLFacts {
	if !s.IsSet() || s.Path == "" {
		return nil
	}
	key := "crl\x00" + s.Path
	if v, ok := c[key]; ok {
		return v.(*CRLFacts)
	}
	cf := LoadCRLFile(s.Path)
	c[key] = cf
	return cf
}

func (c fileCache) load(s *NginxServer) {
	for _, cert := range s.SSL.Certificates {
		s.Certs = append(s.Certs, c.tls(RoleCert, cert))
	}
	for _, key := range s.SSL.CertificateKeys {
		s.Keys = append(s.Keys, c.tls(RoleKey, key))
	}
	s.ClientCA = c.tls(RoleCA, s.SSL.ClientCertificate)
	s.TrustedCA = c.tls(RoleCA, s.SSL.TrustedCertificate)
	s.CRL = c.crl(s.SSL.CRL)
	s.MatchingKeys = nil
	for i, cf := range s.Certs {
		if i >= len(s.Keys) || cf == nil || s.Keys[i] == nil || s.Keys[i].Key == nil || len(cf.Certs) == 0 ||
			samePublicKey(cf.Certs[0].PublicKey, s.Keys[i].Key.Public) {
			continue
		}
		if s.MatchingKeys == nil {
			s.MatchingKeys = make([]string, len(s.Certs))
		}
		s.MatchingKeys[i] = c.keyBeside(cf, s.Keys[i])
	}
}

// maxKeyCandidates bounds how many files of a directory are read when looking for the
// key that belongs to a certificate, so that a directory of thousands of files costs
// little.
const maxKeyCandidates = 64

// maxKeyFileSize skips files too big to be a private key (an RSA 16384-bit PEM key is
// about 12 KiB) without reading them.
const maxKeyFileSize = 64 << 10

// keyBeside looks for the private key of cert's first certificate, which wrong (the key
// configured) is not: among the files already read as keys, then in the directories of
// cert and wrong. Only the public half of each key is kept. "" when none matches.
func (c fileCache) keyBeside(cert, wrong *FileFacts) string {
	want := cert.Certs[0].PublicKey
	var judged []string
	for k, v := range c {
		ff, ok := v.(*FileFacts)
		if ok && strings.HasPrefix(k, string(RoleKey)+"\x00") && ff.Key != nil && ff.Path != wrong.Path && samePublicKey(want, ff.Key.Public) {
			judged = append(judged, ff.Path)
		}
	}
	if len(judged) > 0 {
		slices.Sort(judged) // the same answer every run
		return judged[0]
	}
	seen := map[string]bool{}
	for _, dir := range []string{filepath.Dir(cert.Path), filepath.Dir(wrong.Path)} {
		if seen[dir] {
			continue
		}
		seen[dir] = true
		entries, err := os.ReadDir(dir) // sorted by name: the same answer every run
		if err != nil {
			continue
		}
		read := 0
		for _, e := range entries {
			if read == maxKeyCandidates {
				break
			}
			p := filepath.Join(dir, e.Name())
			if p == wrong.Path || p == cert.Path || !e.Type().IsRegular() && e.Type()&fs.ModeSymlink == 0 {
				continue
			}
			if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() || fi.Size() > maxKeyFileSize {
				continue
			}
			read++
			ff := c.file(RoleKey, p)
			if ff.Key != nil && samePublicKey(want, ff.Key.Public) {
				return ff.Path
			}
		}
	}
	return ""
}

// samePublicKey reports whether a and b are the same public key (every key type Go parses
// has an Equal method).
func samePublicKey(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && b != nil && eq.Equal(b)
}

// LoadCRLFile reads an ssl_crl file: PEM "X509 CRL" blocks (what nginx reads) or one DER
// list. It never fails: problems are recorded.
func LoadCRLFile(path string) *CRLFacts {
	cf := &CRLFacts{Path: path}
	_, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cf
	}
	cf.Exists = true
	if err != nil {
		cf.ReadError = err.Error()
		return cf
	}
	data, err := readTLSFileCapped(path, MaxTLSFileSize) // CRLs of big CAs run to megabytes
	if err != nil {
		cf.ReadError = err.Error()
		return cf
	}
	cf.CRLs, cf.ParseError = ParseCRLs(data)
	return cf
}

// ParseCRLs parses every "X509 CRL" PEM block of data, or data as one DER list when it
// holds no PEM. The error text names each block that did not parse, by line.
func ParseCRLs(data []byte) ([]*x509.RevocationList, string) {
	var out []*x509.RevocationList
	var errs []string
	blocks := scanPEMBlocks(data)
	if len(blocks) == 0 {
		if len(bytes.TrimSpace(data)) == 0 {
			return nil, "empty file"
		}
		rl, err := x509.ParseRevocationList(data)
		if err != nil {
			return nil, fmt.Sprintf("neither PEM nor a DER CRL: %v", err)
		}
		return []*x509.RevocationList{rl}, ""
	}
	for _, b := range blocks {
		switch {
		case b.block == nil:
			errs = append(errs, fmt.Sprintf("line %d: %s: malformed PEM block", b.line, b.typ))
		case b.typ != "X509 CRL":
			errs = append(errs, fmt.Sprintf("line %d: %s: not an X509 CRL block", b.line, b.typ))
		default:
			rl, err := x509.ParseRevocationList(b.block.Bytes)
			if err != nil {
				errs = append(errs, fmt.Sprintf("line %d: X509 CRL: %v", b.line, err))
				continue
			}
			out = append(out, rl)
		}
	}
	return out, strings.Join(errs, "\n")
}
