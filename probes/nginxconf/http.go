package nginxconf

import (
	"net"
	"slices"
	"strconv"
	"strings"
)

// Setting is the effective value of a directive at some level, after nginx's
// inheritance (server from http, location from server, …).
type Setting struct {
	// Value is the arguments joined by spaces, or nginx's default when Directive is
	// nil ("" when the default is "not set" or depends on the nginx version).
	Value string
	// Path is Value resolved the way nginx resolves this directive's file argument
	// ("" when it is not a file, holds variables, or is unset).
	Path string
	// Directive is where the value came from, for file:line evidence; nil when
	// nginx's default applies.
	Directive *Directive
}

// IsSet reports whether a directive set the value (as opposed to a default).
func (s Setting) IsSet() bool { return s.Directive != nil }

// Args returns the directive's arguments, nil when defaulted. They are the Directive's
// own, not a copy kept in every Setting: a fleet's servers hold a dozen Settings each.
func (s Setting) Args() []string {
	if s.Directive == nil {
		return nil
	}
	return s.Directive.Args
}

// Listen is one listen directive of a server.
type Listen struct {
	// Addr is the host or IP without brackets; "" or "*" means every address.
	Addr string
	// Port is the TCP port (80 when only an address is given); 0 for a UNIX socket.
	Port int
	// Unix is the socket path of "listen unix:PATH".
	Unix          string
	SSL           bool // the "ssl" parameter
	HTTP2         bool // the "http2" parameter (deprecated since 1.25.1 in favour of "http2 on")
	QUIC          bool // the "quic" parameter (1.25.0+)
	ProxyProtocol bool // the "proxy_protocol" parameter
	DefaultServer bool // "default_server" (or the old "default")
	// Directive is the listen directive.
	Directive *Directive
}

// ErrorPage is one error_page directive.
type ErrorPage struct {
	// Codes are the status codes it maps, e.g. [495 496].
	Codes []int
	// Response is the "=" or "=NNN" argument, "" when absent.
	Response string
	// URI is the target: a URI or a named location such as "@grpc_unauthenticated".
	URI string
	// Context is where the directive is written: "http", "server", "location" or "if".
	// 495, 496 and 497 are handled before any location is chosen, so only an
	// error_page that is effective at server level maps them.
	Context string
	// Directive is the error_page directive.
	Directive *Directive
}

// Maps reports whether the error page maps code.
func (e ErrorPage) Maps(code int) bool {
	for _, c := range e.Codes {
		if c == code {
			return true
		}
	}
	return false
}

// ErrorLog is one error_log in effect.
type ErrorLog struct {
	// Target is the first argument as written: a path, "stderr", "syslog:…" or "memory:…".
	Target string
	// Path is Target resolved against the prefix; "" when Target is not a file.
	Path string
	// Level is the minimum level logged; "error" when not given.
	Level string
	// Context is where the directive is written ("main", "http", "server", "location").
	Context string
	// Directive is nil for the compiled-in default log.
	Directive *Directive
}

// AccessLog is one access_log in effect.
type AccessLog struct {
	// Off is true for "access_log off".
	Off bool
	// Target is the path (or "syslog:…") as written.
	Target string
	// Path is Target resolved against the prefix; "" when not a plain file.
	Path string
	// Format is the log_format name, "combined" when not given.
	Format string
	// Params are the remaining parameters (buffer=, gzip, if=, …).
	Params []string
	// Context is where the directive is written ("http", "server", "location").
	Context string
	// Directive is nil for the compiled-in default.
	Directive *Directive
}

// SSL holds the ssl_* settings in effect for a server (inherited from http{}).
type SSL struct {
	// Certificates are the ssl_certificate values (several for RSA + ECDSA).
	Certificates []Setting
	// CertificateKeys are the ssl_certificate_key values, in the same order.
	CertificateKeys []Setting
	// ClientCertificate is ssl_client_certificate: CAs that verify client
	// certificates and whose names are sent in the CertificateRequest.
	ClientCertificate Setting
	// TrustedCertificate is ssl_trusted_certificate: CAs that verify, names not sent.
	TrustedCertificate Setting
	// VerifyClient is ssl_verify_client: off (default), on, optional, optional_no_ca.
	VerifyClient Setting
	// VerifyDepth is ssl_verify_depth, default "1".
	VerifyDepth Setting
	// CRL is ssl_crl.
	CRL Setting
	// Protocols is ssl_protocols; when unset the default depends on the nginx
	// version, so Value is "".
	Protocols Setting
	// Legacy is the "ssl on" directive (removed in 1.25.1).
	Legacy Setting
}

// Location is one location block of a server, nested ones included.
type Location struct {
	// Modifier is "", "=", "^~", "~" or "~*".
	Modifier string
	// Path is the URI, regex or "@name".
	Path string
	// GRPCPass is grpc_pass of this location (it is not inherited).
	GRPCPass Setting
	// AuthRequest is auth_request in effect (inherited from enclosing levels).
	AuthRequest Setting
	// DefaultType is default_type in effect; default "text/plain".
	DefaultType Setting
	// ErrorPages are the error_page directives in effect: this location's own, or
	// else the nearest enclosing level's (nginx inherits the whole list or none).
	ErrorPages []ErrorPage
	// Return is this location's return directive, nil if none.
	Return *Directive
	// AddHeaders are this location's own add_header directives.
	AddHeaders []*Directive
	// Internal is true when the location has the "internal" directive.
	Internal bool
	// Directive is the location block.
	Directive *Directive
}

// Server is an http{} server block with its effective settings, or the http-shaped part
// of a stream{} server (StreamServer).
type Server struct {
	// Directive is the server block; its Pos is the evidence for server-wide facts.
	*Directive
	// Stream is true for a stream{} server: no HTTP, so no server names, locations,
	// error pages or HTTP/2.
	Stream bool
	// Listens are its listen directives. Empty means nginx listens on *:80
	// (*:8000 when not started as root).
	Listens []Listen
	// ServerNames are the arguments of every server_name directive.
	ServerNames []string
	// HTTP2 is the "http2" directive in effect (1.25.1+); default "off".
	HTTP2 Setting
	// HTTP2On is true when "http2 on" is in effect. A listen's http2 parameter is
	// reported on the Listen.
	HTTP2On bool
	// SSL are the ssl_* settings in effect.
	SSL SSL
	// ErrorPages are the error_page directives in effect at server level (the
	// server's own, else http's): the ones that can map 495, 496 and 497.
	ErrorPages []ErrorPage
	// ErrorLogs are the error logs the server writes to: its own error_log
	// directives, else http's, else main's, else the compiled-in default.
	ErrorLogs []ErrorLog
	// AccessLogs are the access logs in effect at server level.
	AccessLogs []AccessLog
	// Locations are every location in the server, depth first.
	Locations []Location
}

// String is the listen address as an admin writes it: "443", "10.0.0.5:443", "[::1]:443"
// or "unix:/run/nginx.sock".
func (l Listen) String() string {
	switch {
	case l.Unix != "":
		return "unix:" + l.Unix
	case l.Addr == "" || l.Addr == "*":
		return strconv.Itoa(l.Port)
	}
	return net.JoinHostPort(l.Addr, strconv.Itoa(l.Port))
}

// HTTP2Enabled reports whether the server negotiates h2 on any of its listeners:
// "http2 on" or a listen with the http2 parameter.
func (s *Server) HTTP2Enabled() bool {
	if s.HTTP2On {
		return true
	}
	for _, l := range s.Listens {
		if l.HTTP2 {
			return true
		}
	}
	return false
}

// HTTPServers returns the server blocks of http{} with their effective settings.
func (c *Config) HTTPServers() []*Server {
	var out []*Server
	main := newLevel(c.Tree())
	for _, http := range main.children("http") {
		outer := newLevel(http.Block) // indexed once: every server inherits from it
		// The log lists a server without its own inherits, built once and shared: a
		// fleet's servers seldom set their own, and nothing edits them.
		inherited := inheritedLogs{
			errors: c.errorLogs(nearest([]level{outer, main}, "error_log")),
			access: c.accessLogs(nearest([]level{outer}, "access_log")),
		}
		servers := outer.children("server")
		out = slices.Grow(out, len(servers))
		all := make([]Server, len(servers)) // one allocation for a fleet's servers
		for i, d := range servers {
			c.server(&all[i], d, outer, main, inherited)
			out = append(out, &all[i])
		}
	}
	return out
}

// inheritedLogs are the error and access logs of a server that sets neither itself.
type inheritedLogs struct {
	errors []ErrorLog
	access []AccessLog
}

// server fills srv with the effective settings of the server block d.
func (c *Config) server(srv *Server, d *Directive, http, main level, inherited inheritedLogs) {
	srv.Directive = d
	levels := []level{newLevel(d.Block), http}
	for _, l := range children(d.Block, "listen") {
		srv.Listens = append(srv.Listens, parseListen(l))
	}
	for _, n := range children(d.Block, "server_name") {
		srv.ServerNames = append(srv.ServerNames, n.Args...)
	}
	srv.HTTP2 = c.setting(levels, "http2", "off", false)
	srv.HTTP2On = srv.HTTP2.Value == "on"
	c.sslSettings(srv, levels)
	srv.ErrorPages = errorPages(nearest(levels, "error_page"))
	srv.ErrorLogs, srv.AccessLogs = inherited.errors, inherited.access
	if own := levels[0].children("error_log"); len(own) > 0 {
		srv.ErrorLogs = c.errorLogs(own)
	}
	if own := levels[0].children("access_log"); len(own) > 0 {
		srv.AccessLogs = c.accessLogs(own)
	}
	c.locations(srv, d.Block, levels)
}

// sslSettings fills srv.SSL from levels (the server, then http{} or stream{}): the ssl_*
// directives of ngx_http_ssl_module and ngx_stream_ssl_module share names and defaults.
func (c *Config) sslSettings(srv *Server, levels []level) {
	for _, cert := range nearest(levels, "ssl_certificate") {
		srv.SSL.Certificates = append(srv.SSL.Certificates, c.fromDirective(cert, true))
	}
	for _, key := range nearest(levels, "ssl_certificate_key") {
		srv.SSL.CertificateKeys = append(srv.SSL.CertificateKeys, c.fromDirective(key, true))
	}
	srv.SSL.ClientCertificate = c.setting(levels, "ssl_client_certificate", "", true)
	srv.SSL.TrustedCertificate = c.setting(levels, "ssl_trusted_certificate", "", true)
	srv.SSL.VerifyClient = c.setting(levels, "ssl_verify_client", "off", false)
	srv.SSL.VerifyDepth = c.setting(levels, "ssl_verify_depth", "1", false)
	srv.SSL.CRL = c.setting(levels, "ssl_crl", "", true)
	srv.SSL.Protocols = c.setting(levels, "ssl_protocols", "", false)
	srv.SSL.Legacy = c.setting(levels, "ssl", "off", false)
}

// locations collects the locations in block (depth first); outer are the levels
// enclosing block, innermost first.
func (c *Config) locations(srv *Server, block []*Directive, outer []level) {
	locs := children(block, "location")
	srv.Locations = slices.Grow(srv.Locations, len(locs)) // one array for a server's usual few
	for _, d := range locs {
		levels := append([]level{newLevel(d.Block)}, outer...)
		loc := Location{Directive: d}
		switch len(d.Args) {
		case 1:
			loc.Path = d.Args[0]
			for _, m := range []string{"=", "^~", "~*", "~"} {
				if strings.HasPrefix(loc.Path, m) && len(loc.Path) > len(m) {
					loc.Modifier, loc.Path = m, loc.Path[len(m):]
					break
				}
			}
		case 2:
			loc.Modifier, loc.Path = d.Args[0], d.Args[1]
		}
		if g := children(d.Block, "grpc_pass"); len(g) > 0 {
			loc.GRPCPass = c.fromDirective(g[0], false)
		}
		loc.AuthRequest = c.setting(levels, "auth_request", "off", false)
		loc.DefaultType = c.setting(levels, "default_type", "text/plain", false)
		loc.ErrorPages = errorPages(nearest(levels, "error_page"))
		if r := children(d.Block, "return"); len(r) > 0 {
			loc.Return = r[0]
		}
		loc.AddHeaders = children(d.Block, "add_header")
		loc.Internal = len(children(d.Block, "internal")) > 0
		srv.Locations = append(srv.Locations, loc)
		c.locations(srv, d.Block, levels)
	}
}

// nearest returns the directives named name at the innermost level that has any:
// how nginx merges a setting (and whole lists such as error_page) into a child.
func nearest(levels []level, name string) []*Directive {
	for _, l := range levels {
		if ds := l.children(name); len(ds) > 0 {
			return ds
		}
	}
	return nil
}

func (c *Config) setting(levels []level, name, def string, file bool) Setting {
	if ds := nearest(levels, name); len(ds) > 0 {
		return c.fromDirective(ds[0], file) // a second one is nginx's "is duplicate" error
	}
	return Setting{Value: def}
}

func (c *Config) fromDirective(d *Directive, file bool) Setting {
	s := Setting{Value: strings.Join(d.Args, " "), Directive: d}
	if file {
		s.Path = c.ConfPath(s.Value)
	}
	return s
}

func parseListen(d *Directive) Listen {
	l := Listen{Directive: d}
	if len(d.Args) == 0 {
		return l
	}
	addr := d.Args[0]
	switch {
	case strings.HasPrefix(addr, "unix:"):
		l.Unix = strings.TrimPrefix(addr, "unix:")
	case isDigits(addr):
		l.Port, _ = strconv.Atoi(addr)
	default:
		host, port, err := net.SplitHostPort(addr)
		if err != nil { // an address alone: "127.0.0.1", "[::1]", "localhost"
			host, port = strings.Trim(addr, "[]"), "80"
		}
		l.Addr = host
		l.Port, _ = strconv.Atoi(port)
	}
	for _, p := range d.Args[1:] {
		switch p {
		case "ssl":
			l.SSL = true
		case "http2":
			l.HTTP2 = true
		case "quic":
			l.QUIC = true
		case "proxy_protocol":
			l.ProxyProtocol = true
		case "default_server", "default":
			l.DefaultServer = true
		}
	}
	return l
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func errorPages(ds []*Directive) []ErrorPage {
	var out []ErrorPage
	for _, d := range ds {
		if len(d.Args) < 2 {
			continue
		}
		e := ErrorPage{URI: d.Args[len(d.Args)-1], Context: d.Context(), Directive: d}
		for _, a := range d.Args[:len(d.Args)-1] {
			if strings.HasPrefix(a, "=") {
				e.Response = a
			} else if n, err := strconv.Atoi(a); err == nil {
				e.Codes = append(e.Codes, n)
			}
		}
		out = append(out, e)
	}
	return out
}

// ErrorLogs returns every error_log directive in configuration order. When the main
// context has none, the compiled-in default (Options.ErrorLogPath) comes first.
func (c *Config) ErrorLogs() []ErrorLog {
	all := c.Find("error_log")
	var out []ErrorLog
	if len(children(c.Tree(), "error_log")) == 0 {
		out = c.errorLogs(nil)
	}
	if len(all) > 0 {
		out = append(out, c.errorLogs(all)...)
	}
	return out
}

// errorLogs converts directives; none at all means the compiled-in default.
func (c *Config) errorLogs(ds []*Directive) []ErrorLog {
	if len(ds) == 0 {
		target := c.opts.ErrorLogPath
		if target == "" {
			target = defaultErrorLogPath
		}
		return []ErrorLog{{Target: target, Path: c.logPath(target), Level: "error", Context: "main"}}
	}
	var out []ErrorLog
	for _, d := range ds {
		l := ErrorLog{Target: d.Arg(0), Level: "error", Context: d.Context(), Directive: d}
		l.Path = c.logPath(l.Target)
		if len(d.Args) > 1 {
			l.Level = d.Args[1]
		}
		out = append(out, l)
	}
	return out
}

func (c *Config) accessLogs(ds []*Directive) []AccessLog {
	if len(ds) == 0 {
		target := c.opts.AccessLogPath
		if target == "" {
			target = defaultAccessLogPath
		}
		return []AccessLog{{Target: target, Path: c.logPath(target), Format: "combined", Context: "http"}}
	}
	var out []AccessLog
	for _, d := range ds {
		l := AccessLog{Target: d.Arg(0), Format: "combined", Context: d.Context(), Directive: d}
		if l.Target == "off" {
			l.Off, l.Target = true, ""
		} else {
			l.Path = c.logPath(l.Target)
		}
		if len(d.Args) > 1 {
			l.Format = d.Args[1]
		}
		if len(d.Args) > 2 {
			l.Params = d.Args[2:]
		}
		out = append(out, l)
	}
	return out
}

func (c *Config) logPath(target string) string {
	if target == "stderr" || strings.HasPrefix(target, "syslog:") || strings.HasPrefix(target, "memory:") {
		return ""
	}
	return c.PrefixPath(target)
}

// LogFormat is an http log_format.
type LogFormat struct {
	Name string
	// Escape is the escape= parameter: "default" (also when absent), "json" or "none".
	Escape string
	// Format is the format strings concatenated, as nginx compiles them.
	Format string
	// Directive is nil for the predefined "combined".
	Directive *Directive
}

// combinedFormat is nginx's predefined "combined" log format.
const combinedFormat = `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`

// LogFormats returns the http log formats by name, "combined" included; values are
// the format strings joined. LogFormat gives the escape= parameter and position.
func (c *Config) LogFormats() map[string]string {
	out := map[string]string{}
	for name, f := range c.logFormats() {
		out[name] = f.Format
	}
	return out
}

// LogFormat returns one http log format by name.
func (c *Config) LogFormat(name string) (LogFormat, bool) {
	f, ok := c.logFormats()[name]
	return f, ok
}

func (c *Config) logFormats() map[string]LogFormat {
	out := map[string]LogFormat{"combined": {Name: "combined", Escape: "default", Format: combinedFormat}}
	for _, d := range c.Find("log_format") {
		if d.Context() != "http" || len(d.Args) < 1 {
			continue
		}
		f := LogFormat{Name: d.Args[0], Escape: "default", Directive: d}
		rest := d.Args[1:]
		if len(rest) > 0 && strings.HasPrefix(rest[0], "escape=") {
			f.Escape = strings.TrimPrefix(rest[0], "escape=")
			rest = rest[1:]
		}
		f.Format = strings.Join(rest, "")
		if _, dup := out[f.Name]; !dup || out[f.Name].Directive == nil {
			out[f.Name] = f
		}
	}
	return out
}

// level is one block's directives as a merge source. A block with many directives
// (http{} with thousands of servers) is indexed by name once, so that looking a setting
// up for each of its servers costs O(1) rather than a scan of the whole block.
type level struct {
	block  []*Directive
	byName map[string][]*Directive // nil for a small block, which is scanned
}

// indexFrom is the block size from which a level is indexed; below it a scan is
// cheaper than building the map.
const indexFrom = 32

func newLevel(block []*Directive) level {
	l := level{block: block}
	if len(block) >= indexFrom {
		l.byName = make(map[string][]*Directive)
		for _, d := range block {
			l.byName[d.Name] = append(l.byName[d.Name], d)
		}
	}
	return l
}

// children returns the level's directives named name, in order. The slice is the
// caller's to keep but not to append to in place.
func (l level) children(name string) []*Directive {
	if l.byName != nil {
		ds := l.byName[name]
		return ds[:len(ds):len(ds)]
	}
	return children(l.block, name)
}
