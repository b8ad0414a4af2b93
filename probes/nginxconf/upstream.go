package nginxconf

import (
	"net"
	"strconv"
	"strings"
)

// This file finds NGINX's upstream TLS links: every location whose proxy_pass, grpc_pass
// or uwsgi_pass connects to its upstream over TLS, with the proxy_ssl_* / grpc_ssl_* /
// uwsgi_ssl_* settings in effect for it, merged the way the modules' merge_loc_conf
// functions merge them (src/http/modules/ngx_http_proxy_module.c,
// ngx_http_grpc_module.c, ngx_http_uwsgi_module.c): each directive on its own, the
// innermost level that writes it wins whole.

// PassModule names the module that passes a location's requests to its upstream.
type PassModule string

const (
	PassProxy PassModule = "proxy" // proxy_pass https://
	PassGRPC  PassModule = "grpc"  // grpc_pass grpcs://
	PassUWSGI PassModule = "uwsgi" // uwsgi_pass suwsgi://
)

// passModules are the modules in the order their directives are looked for.
var passModules = []PassModule{PassProxy, PassGRPC, PassUWSGI}

// Directive is the module's pass directive, e.g. "grpc_pass".
func (m PassModule) Directive() string { return string(m) + "_pass" }

// SSLPrefix is the prefix of the module's upstream TLS directives, e.g. "grpc_ssl_".
func (m PassModule) SSLPrefix() string { return string(m) + "_ssl_" }

// TLSScheme is the URL scheme that makes the module speak TLS to its upstream.
func (m PassModule) TLSScheme() string {
	switch m {
	case PassGRPC:
		return "grpcs"
	case PassUWSGI:
		return "suwsgi"
	}
	return "https"
}

// plainScheme is the module's scheme without TLS.
func (m PassModule) plainScheme() string {
	switch m {
	case PassGRPC:
		return "grpc"
	case PassUWSGI:
		return "uwsgi"
	}
	return "http"
}

// UpstreamSetting is one upstream TLS directive in effect for a location.
type UpstreamSetting struct {
	Setting
	// Name is the directive's name for this link's module, e.g. "grpc_ssl_certificate",
	// also when nginx's default applies (for a fix step that adds it).
	Name string `json:"name"`
	// Level is the block the directive is written in: "if", "location", "server" or
	// "http"; "" when nginx's default applies.
	Level string `json:"level,omitempty"`
	// Inherited is true when the directive is written in an enclosing block (server,
	// http, or an outer location) rather than the location that passes.
	Inherited bool `json:"inherited,omitempty"`
}

// Default reports whether nginx's default applies (no directive writes the value).
func (s UpstreamSetting) Default() bool { return s.Directive == nil }

// Pos is the directive's file:line, "" for a default.
func (s UpstreamSetting) Pos() string {
	if s.Directive == nil {
		return ""
	}
	return s.Directive.Pos()
}

// UpstreamTLS is the upstream TLS configuration of one location: the settings of its
// pass module (proxy_ssl_*, grpc_ssl_* or uwsgi_ssl_*), with nginx's defaults filled in.
type UpstreamTLS struct {
	// Certificate and CertificateKey are the client certificate and key NGINX presents
	// (*_ssl_certificate, *_ssl_certificate_key); Path is set when they name a file.
	Certificate    UpstreamSetting `json:"certificate"`
	CertificateKey UpstreamSetting `json:"certificate_key"`
	// PasswordFile is *_ssl_password_file: passphrases for an encrypted key, one a line.
	PasswordFile UpstreamSetting `json:"password_file"`
	// TrustedCertificate is *_ssl_trusted_certificate: the CAs that verify the upstream.
	TrustedCertificate UpstreamSetting `json:"trusted_certificate"`
	// Verify is *_ssl_verify, default "off": NGINX then accepts any upstream certificate.
	Verify UpstreamSetting `json:"verify"`
	// VerifyDepth is *_ssl_verify_depth, default "1".
	VerifyDepth UpstreamSetting `json:"verify_depth"`
	// Name is *_ssl_name: the name verified and sent as SNI. By default "" here: the
	// host of the pass directive applies (UpstreamLink.SSLName).
	Name UpstreamSetting `json:"name"`
	// ServerName is *_ssl_server_name, default "off": no SNI is sent.
	ServerName UpstreamSetting `json:"server_name"`
	// Protocols is *_ssl_protocols; by default the version's default list
	// (DefaultUpstreamProtocols), or "" when the nginx version is unknown.
	Protocols UpstreamSetting `json:"protocols"`
	// Ciphers is *_ssl_ciphers, default "DEFAULT".
	Ciphers UpstreamSetting `json:"ciphers"`
	// CRL is *_ssl_crl; nginx reads it only when Verify is on.
	CRL UpstreamSetting `json:"crl"`
	// SessionReuse is *_ssl_session_reuse, default "on".
	SessionReuse UpstreamSetting `json:"session_reuse"`
}

// upstreamSSLDirective describes one upstream TLS directive: its name without the
// module prefix, its default and whether it names a file.
type upstreamSSLDirective struct {
	suffix string
	def    string
	file   bool
	field  func(*UpstreamTLS) *UpstreamSetting
}

var upstreamSSLDirectives = []upstreamSSLDirective{
	{"certificate", "", true, func(t *UpstreamTLS) *UpstreamSetting { return &t.Certificate }},
	{"certificate_key", "", true, func(t *UpstreamTLS) *UpstreamSetting { return &t.CertificateKey }},
	{"password_file", "", true, func(t *UpstreamTLS) *UpstreamSetting { return &t.PasswordFile }},
	{"trusted_certificate", "", true, func(t *UpstreamTLS) *UpstreamSetting { return &t.TrustedCertificate }},
	{"verify", "off", false, func(t *UpstreamTLS) *UpstreamSetting { return &t.Verify }},
	{"verify_depth", "1", false, func(t *UpstreamTLS) *UpstreamSetting { return &t.VerifyDepth }},
	{"name", "", false, func(t *UpstreamTLS) *UpstreamSetting { return &t.Name }},
	{"server_name", "off", false, func(t *UpstreamTLS) *UpstreamSetting { return &t.ServerName }},
	{"protocols", "", false, func(t *UpstreamTLS) *UpstreamSetting { return &t.Protocols }},
	{"ciphers", "DEFAULT", false, func(t *UpstreamTLS) *UpstreamSetting { return &t.Ciphers }},
	{"crl", "", true, func(t *UpstreamTLS) *UpstreamSetting { return &t.CRL }},
	{"session_reuse", "on", false, func(t *UpstreamTLS) *UpstreamSetting { return &t.SessionReuse }},
}

// sslDirectiveNames are the directive names of upstreamSSLDirectives per module
// ("grpc_ssl_certificate", …), built once rather than for every link.
var sslDirectiveNames = func() map[PassModule][]string {
	out := map[PassModule][]string{}
	for _, m := range passModules {
		for _, sd := range upstreamSSLDirectives {
			out[m] = append(out[m], m.SSLPrefix()+sd.suffix)
		}
	}
	return out
}()

// UpstreamServer is one server a link's requests may go to.
type UpstreamServer struct {
	// Address is what is dialled: "host:port" (IPv6 in brackets) or "unix:/path".
	Address string `json:"address"`
	// Host is the host or IP (no brackets); Port is 0 when none is known.
	Host string `json:"host,omitempty"`
	Port int    `json:"port,omitempty"`
	// Unix is the socket path of a "unix:" address.
	Unix string `json:"unix,omitempty"`
	// Backup and Down are the server directive's parameters of those names.
	Backup bool `json:"backup,omitempty"`
	Down   bool `json:"down,omitempty"`
	// Directive is the upstream block's server directive; nil for the pass directive's
	// own host.
	Directive *Directive `json:"-"`
}

// UpstreamLink is one location that passes requests to an upstream: the front server
// and location, the target, and the upstream TLS settings in effect there.
type UpstreamLink struct {
	// Server is the front's http server block; Location is the location that passes
	// (Pass may sit in an "if" block of it).
	Server   *Server   `json:"-"`
	Location *Location `json:"-"`
	// Module is the pass module; Pass is its directive (proxy_pass, grpc_pass, …).
	Module PassModule `json:"module"`
	Pass   *Directive `json:"-"`
	// URL is the pass directive's argument as written.
	URL string `json:"url"`
	// Scheme is the URL's scheme ("https", "grpcs", "suwsgi", or a plaintext one);
	// grpc_pass and uwsgi_pass without a scheme are plaintext.
	Scheme string `json:"scheme"`
	// TLS is true when the module speaks TLS to the upstream. A plaintext link is
	// listed only when upstream TLS directives of its module are in effect: they do
	// nothing there.
	TLS bool `json:"tls"`
	// Host is the URL's host (an upstream block's name, a hostname or an IP, without
	// brackets); Port is its port, the scheme's default (443 for https), or 0 when
	// none is given and the module has no default.
	Host string `json:"host,omitempty"`
	Port int    `json:"port,omitempty"`
	// Unix is the socket path of a "unix:" URL.
	Unix string `json:"unix,omitempty"`
	// Upstream is the upstream{} block Host names; nil for a direct host.
	Upstream *Directive `json:"-"`
	// Servers are the servers requests go to: the upstream block's, or Host:Port.
	Servers []UpstreamServer `json:"servers,omitempty"`
	// Variables is true when the URL holds variables: the target is decided per
	// request, and the link cannot be judged from the configuration.
	Variables bool `json:"variables,omitempty"`
	// Problem is nginx's own [emerg] message (as `nginx -t` words it) when the target
	// cannot be used, e.g. `upstream "b" may not have port 8443`; "" when it can.
	Problem string `json:"problem,omitempty"`
	// SSL are the upstream TLS settings in effect.
	SSL UpstreamTLS `json:"ssl"`
	// SSLName is the name NGINX verifies and, with ServerName on, sends as SNI:
	// *_ssl_name, or else the URL's host, port stripped (ngx_http_upstream_ssl_name in
	// src/http/ngx_http_upstream.c). "" when it holds variables.
	SSLName string `json:"ssl_name,omitempty"`
	// SNI is the server name NGINX sends: SSLName when *_ssl_server_name is on and it
	// is not an IP address (RFC 6066 forbids literal addresses), else "".
	SNI string `json:"sni,omitempty"`
	// Version is the nginx version whose defaults were applied; "" when unknown.
	Version string `json:"version,omitempty"`
	// Foreign are the upstream TLS directives of the other pass modules in effect at
	// this location (e.g. proxy_ssl_certificate under grpc_pass): they do nothing here.
	Foreign []UpstreamSetting `json:"foreign,omitempty"`
}

// Judgeable reports whether the link's target is known from the configuration.
func (l *UpstreamLink) Judgeable() bool { return !l.Variables && l.Problem == "" }

// Target is "host:port", the upstream block's name, or "unix:/path", as an admin reads it.
func (l *UpstreamLink) Target() string {
	switch {
	case l.Unix != "":
		return "unix:" + l.Unix
	case l.Upstream != nil || l.Port == 0:
		return l.Host
	}
	return net.JoinHostPort(l.Host, strconv.Itoa(l.Port))
}

// DefaultUpstreamProtocols returns the protocols NGINX enables towards upstreams when
// *_ssl_protocols is not set, for nginx version v ("1.22.1"); ok is false when v does
// not parse. Source: the modules' merge of ssl_protocols and NGX_SSL_DEFAULT_PROTOCOLS:
// TLSv1.3 joined the default in 1.23.4 (commit 7b24b93d6, "SSL: enabled TLSv1.3 by
// default"); TLSv1 and TLSv1.1 left it in 1.27.3 (commit ebd18ec18, "SSL: disabled
// TLSv1 and TLSv1.1 by default").
func DefaultUpstreamProtocols(v string) (protocols []string, ok bool) {
	ver, ok := parseVersion(v)
	if !ok {
		return nil, false
	}
	switch {
	case versionLess(ver, [3]int{1, 23, 4}):
		return []string{"TLSv1", "TLSv1.1", "TLSv1.2"}, true
	case versionLess(ver, [3]int{1, 27, 3}):
		return []string{"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"}, true
	}
	return []string{"TLSv1.2", "TLSv1.3"}, true
}

func parseVersion(v string) ([3]int, bool) {
	var out [3]int
	parts := strings.Split(strings.TrimSpace(v), ".")
	if len(parts) != 3 {
		return out, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return out, false
		}
		out[i] = n
	}
	return out, true
}

func versionLess(a, b [3]int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// PassesUpstreamTLS reports whether a location of s passes requests to an upstream over
// TLS (proxy_pass https://, grpc_pass grpcs://, uwsgi_pass suwsgi://).
func (s *Server) PassesUpstreamTLS() bool {
	for _, loc := range s.Locations {
		for _, d := range locationPasses(loc.Directive) {
			m := PassModule(strings.TrimSuffix(d.Name, "_pass"))
			if len(d.Args) > 0 && strings.HasPrefix(strings.ToLower(d.Args[0]), m.TLSScheme()+"://") {
				return true
			}
		}
	}
	return false
}

// UpstreamLinks returns every location of every http server that passes requests to an
// upstream over TLS (or that names upstream TLS directives for a plaintext pass), in
// configuration order. version is the nginx version ("1.22.1", "" when unknown): the
// default of *_ssl_protocols depends on it.
func (c *Config) UpstreamLinks(version string) []*UpstreamLink {
	return c.UpstreamLinksIn(c.HTTPServers(), version)
}

// UpstreamLinksIn is UpstreamLinks over servers already worked out by c.HTTPServers, so
// that a big configuration's servers are not merged twice.
func (c *Config) UpstreamLinksIn(servers []*Server, version string) []*UpstreamLink {
	blocks := c.upstreamBlocks()
	levels := levelCache{}
	var out []*UpstreamLink
	for _, srv := range servers {
		for i := range srv.Locations {
			loc := &srv.Locations[i]
			for _, pass := range locationPasses(loc.Directive) {
				if l := c.upstreamLink(srv, loc, pass, blocks, levels, version); l != nil {
					out = append(out, l)
				}
			}
		}
	}
	return out
}

// upstreamBlocks indexes http{}'s upstream blocks by lower-cased name: nginx matches
// pass hosts to them case-insensitively (ngx_http_upstream_add).
func (c *Config) upstreamBlocks() map[string]*Directive {
	out := map[string]*Directive{}
	for _, http := range children(c.Tree(), "http") {
		for _, u := range children(http.Block, "upstream") {
			name := strings.ToLower(u.Arg(0))
			if _, dup := out[name]; !dup && name != "" {
				out[name] = u // a second one is nginx's "duplicate upstream" error
			}
		}
	}
	return out
}

// levelCache indexes each block once: http{} (and a big server{}) is a merge level of
// every link below it.
type levelCache map[*Directive]level

// locationLevels returns the merge levels of a location (or of an "if" block in one):
// itself, enclosing locations, its server and http{}, innermost first, each with its
// block name.
func (lc levelCache) locationLevels(loc *Directive) ([]level, []string) {
	levels := make([]level, 0, 4) // location, server, http and one "if" or nested location
	names := make([]string, 0, 4)
	for d := loc; d != nil; d = d.Parent {
		switch d.Name {
		case "if", "location", "server", "http":
			lv, ok := lc[d]
			if !ok {
				lv = newLevel(d.Block)
				if lv.byName != nil { // a small block is scanned: nothing worth keeping
					lc[d] = lv
				}
			}
			levels = append(levels, lv)
			names = append(names, d.Name)
		}
		if d.Name == "http" {
			break
		}
	}
	return levels, names
}

// locationPasses returns the pass directives of a location: its own (the first module's
// first; nginx refuses a second as "is duplicate"), then those of its "if" blocks, which
// nginx runs as nested locations inheriting from it.
func locationPasses(loc *Directive) []*Directive {
	var out []*Directive
	for _, block := range append([]*Directive{loc}, children(loc.Block, "if")...) {
		for _, m := range passModules {
			if ds := children(block.Block, m.Directive()); len(ds) > 0 {
				out = append(out, ds[0])
				break
			}
		}
	}
	return out
}

func (c *Config) upstreamLink(srv *Server, loc *Location, pass *Directive, blocks map[string]*Directive, lc levelCache, version string) *UpstreamLink {
	mod := PassModule(strings.TrimSuffix(pass.Name, "_pass"))
	levels, names := lc.locationLevels(pass.Parent)
	if !anyLevelSets(levels, sslDirectiveNames[mod]) && !passesTLS(mod, pass.Arg(0), blocks) {
		// A plain pass with none of its module's TLS directives in effect is no link: the
		// common case (a fleet's grpc_pass grpc://…), decided before the link is built.
		return nil
	}
	l := &UpstreamLink{Server: srv, Location: loc, Module: mod, Pass: pass, URL: pass.Arg(0), Version: version}
	anySet := false
	for i, sd := range upstreamSSLDirectives {
		s := c.upstreamSetting(levels, names, sslDirectiveNames[mod][i], sd.def, sd.file)
		*sd.field(&l.SSL) = s
		anySet = anySet || !s.Default()
	}
	if l.SSL.Protocols.Default() {
		if ps, ok := DefaultUpstreamProtocols(version); ok {
			l.SSL.Protocols.Value = strings.Join(ps, " ")
		}
	}
	for _, other := range passModules {
		if other == mod {
			continue
		}
		for i, sd := range upstreamSSLDirectives {
			if s := c.upstreamSetting(levels, names, sslDirectiveNames[other][i], "", sd.file); !s.Default() {
				l.Foreign = append(l.Foreign, s)
			}
		}
	}
	l.parseTarget(blocks)
	if !l.TLS && !anySet {
		return nil
	}
	l.setSSLName()
	return l
}

// anyLevelSets reports whether any of the levels has a directive named in names.
func anyLevelSets(levels []level, names []string) bool {
	for _, lv := range levels {
		for _, n := range names {
			if len(lv.children(n)) > 0 {
				return true
			}
		}
	}
	return false
}

// passesTLS reports whether a pass of module mod to url speaks TLS, as parseTarget
// decides it.
func passesTLS(mod PassModule, url string, blocks map[string]*Directive) bool {
	l := UpstreamLink{Module: mod, URL: url}
	l.parseTarget(blocks)
	return l.TLS
}

func (c *Config) upstreamSetting(levels []level, names []string, name, def string, file bool) UpstreamSetting {
	for i, lv := range levels {
		if ds := lv.children(name); len(ds) > 0 {
			return UpstreamSetting{Setting: c.fromDirective(ds[0], file), Name: name, Level: names[i], Inherited: i > 0}
		}
	}
	return UpstreamSetting{Setting: Setting{Value: def}, Name: name}
}

// parseTarget reads the pass URL as the module's set handler does
// (ngx_http_proxy_pass, ngx_http_grpc_pass, ngx_http_uwsgi_pass).
func (l *UpstreamLink) parseTarget(blocks map[string]*Directive) {
	u := l.URL
	scheme, rest, found := strings.Cut(u, "://")
	if !found {
		scheme, rest = "", u
	}
	switch strings.ToLower(scheme) {
	case l.Module.TLSScheme():
		l.Scheme, l.TLS = l.Module.TLSScheme(), true
	case l.Module.plainScheme():
		l.Scheme = l.Module.plainScheme()
	case "":
		if l.Module == PassProxy {
			l.Variables = strings.Contains(u, "$")
			if !l.Variables {
				l.Problem = "invalid URL prefix"
			}
			return
		}
		l.Scheme = l.Module.plainScheme() // grpc_pass and uwsgi_pass take a bare address
	default:
		// "$scheme://…": the scheme, and so TLS, is decided per request.
		l.Variables = true
		l.Scheme = scheme
		l.TLS = strings.Contains(scheme, "$")
		if !l.TLS {
			l.Problem = "invalid URL prefix"
		}
		return
	}
	if strings.Contains(u, "$") {
		l.Variables = true
		return
	}
	if l.Module == PassProxy {
		// proxy_pass may carry a URI: "https://backend/api/".
		if i := strings.IndexByte(rest, '/'); i >= 0 && !strings.HasPrefix(rest, "unix:") {
			rest = rest[:i]
		}
	}
	if p, ok := strings.CutPrefix(rest, "unix:"); ok {
		if l.Module == PassProxy {
			p, _, _ = strings.Cut(p, ":") // "unix:/path:/uri"
		}
		if p == "" {
			l.Problem = "no path in the unix domain socket in upstream \"" + rest + "\""
			return
		}
		l.Unix = p
		l.Servers = []UpstreamServer{{Address: "unix:" + p, Unix: p}}
		return
	}
	host, port, hasPort := splitHostPortLoose(rest)
	l.Host = host
	if host == "" {
		l.Problem = "no host in upstream \"" + rest + "\""
		return
	}
	if b := blocks[strings.ToLower(host)]; b != nil {
		if hasPort {
			l.Problem = "upstream \"" + host + "\" may not have port " + port
			return
		}
		l.Upstream = b
		l.Servers = upstreamServers(b)
		if len(l.Servers) == 0 {
			l.Problem = "no servers are inside upstream in " + b.Pos()
		}
		return
	}
	switch {
	case hasPort:
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			l.Problem = "invalid port in upstream \"" + rest + "\""
			return
		}
		l.Port = n
	case l.Module == PassProxy:
		l.Port = 80
		if l.TLS {
			l.Port = 443
		}
	default:
		// grpc_pass and uwsgi_pass have no default port (their ngx_url_t leaves
		// default_port 0): nginx -t says "no port in upstream".
		l.Problem = "no port in upstream \"" + host + "\""
		return
	}
	l.Servers = []UpstreamServer{{Address: net.JoinHostPort(host, strconv.Itoa(l.Port)), Host: host, Port: l.Port}}
}

// splitHostPortLoose splits "host", "host:port", "[v6]" or "[v6]:port".
func splitHostPortLoose(s string) (host, port string, hasPort bool) {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", false
		}
		host = s[1:end]
		if p, ok := strings.CutPrefix(s[end+1:], ":"); ok {
			return host, p, true
		}
		return host, "", false
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

// upstreamServers reads an upstream block's server directives. A server without a port
// gets port 80, also under https (ngx_http_upstream_server sets default_port 80).
func upstreamServers(b *Directive) []UpstreamServer {
	var out []UpstreamServer
	for _, d := range children(b.Block, "server") {
		addr := d.Arg(0)
		s := UpstreamServer{Directive: d}
		for _, p := range d.Args[min(1, len(d.Args)):] {
			switch p {
			case "backup":
				s.Backup = true
			case "down":
				s.Down = true
			}
		}
		if p, ok := strings.CutPrefix(addr, "unix:"); ok {
			if p == "" {
				continue // nginx -t: "no path in the unix domain socket"
			}
			s.Unix, s.Address = p, addr
			out = append(out, s)
			continue
		}
		host, port, hasPort := splitHostPortLoose(addr)
		s.Host, s.Port = host, 80
		if hasPort {
			if n, err := strconv.Atoi(port); err == nil && n > 0 && n <= 65535 {
				s.Port = n
			} else {
				s.Port = 0
			}
		}
		if host == "" || s.Port == 0 {
			continue // nginx -t rejects it
		}
		s.Address = net.JoinHostPort(host, strconv.Itoa(s.Port))
		out = append(out, s)
	}
	return out
}

// setSSLName applies ngx_http_upstream_ssl_name: *_ssl_name or the URL's host, any
// port stripped; SNI only when *_ssl_server_name is on and the name is not an IP
// address.
func (l *UpstreamLink) setSSLName() {
	name := l.Host
	switch {
	case l.Unix != "":
		name = l.Unix // ngx_parse_unix_domain_url makes the socket path the host
	case strings.Contains(name, ":"):
		name = "[" + name + "]" // an IPv6 host, as nginx keeps it
	}
	if !l.SSL.Name.Default() {
		name = l.SSL.Name.Value
	}
	if strings.Contains(name, "$") {
		return
	}
	if strings.HasPrefix(name, "[") {
		if end := strings.IndexByte(name, ']'); end >= 0 {
			name = name[:end+1]
		}
	} else if i := strings.IndexByte(name, ':'); i >= 0 {
		name = name[:i]
	}
	l.SSLName = name
	if l.SSL.ServerName.Value != "on" || name == "" || strings.HasPrefix(name, "[") || net.ParseIP(name) != nil {
		return
	}
	l.SNI = name
}
