package nginxconf

import (
	"net"
	"strconv"
	"strings"
)

// This file reads stream{} servers: TCP proxies that either pass a TLS connection through
// untouched (NGINX Instance Manager 1.x's "stream context" topology, and ssl_preread
// routing by server name) or terminate TLS themselves (listen … ssl with their own ssl_*
// settings, and proxy_ssl to re-encrypt). Sources: src/stream/ngx_stream_proxy_module.c
// (proxy_pass, proxy_ssl_*), ngx_stream_ssl_module.c (ssl_*, ssl_alpn),
// ngx_stream_ssl_preread_module.c, ngx_stream_map_module.c and ngx_stream_upstream.c.

// StreamServer is one stream{} server block: where its connections go, and the TLS it
// terminates itself, if any.
type StreamServer struct {
	// Server holds the block's listens, ssl_* settings and error logs in the shape of an
	// http server, with Stream set; it has no server names, locations or error pages.
	*Server
	// ProxyPass is the server's proxy_pass (stream has it at server level only).
	ProxyPass Setting
	// SSLPreread is ssl_preread, default "off": "on" reads the ClientHello's server name
	// into $ssl_preread_server_name without terminating TLS.
	SSLPreread Setting
	// ALPN is ssl_alpn (1.21.4+): the protocols a TLS-terminating stream server
	// negotiates; unset means none, so a client's ALPN offer goes unanswered.
	ALPN Setting
	// ProxySSL is proxy_ssl, default "off": "on" makes NGINX open TLS to the target
	// (re-encrypt), with the ProxySSL* settings.
	ProxySSL                   Setting
	ProxySSLCertificate        Setting
	ProxySSLCertificateKey     Setting
	ProxySSLTrustedCertificate Setting
	ProxySSLVerify             Setting
	ProxySSLName               Setting
	ProxySSLServerName         Setting
	// ProxySSLALPN is proxy_ssl_alpn (1.31.0+): the protocols offered to the target when
	// re-encrypting; unset means no ALPN offer.
	ProxySSLALPN Setting
	// Targets are where connections go: proxy_pass's address, its upstream block's
	// servers, or each value of the map that proxy_pass's variable comes from. Servers
	// passing to the same variable share the slice: it is not to be modified.
	Targets []StreamTarget
	// Variables is true when proxy_pass holds a variable that no map resolves here.
	Variables bool
	// Problem is nginx's own complaint about the target (as nginx -t words it), "" if none.
	Problem string
}

// StreamTarget is one place a stream server sends its connections.
type StreamTarget struct {
	// Address is "host:port" (IPv6 in brackets) or "unix:/path".
	Address string `json:"address"`
	Host    string `json:"host,omitempty"`
	Port    int    `json:"port,omitempty"`
	Unix    string `json:"unix,omitempty"`
	// Upstream is the name of the upstream{} block the address comes from, "" for an
	// address written in proxy_pass or a map.
	Upstream string `json:"upstream,omitempty"`
	// ServerName is the $ssl_preread_server_name key of the map entry that selects this
	// target; "default" for the map's default; "" when no map is involved.
	ServerName string `json:"server_name,omitempty"`
	// Directive is where the address is written: the upstream's server directive, the map
	// entry, or proxy_pass.
	Directive *Directive `json:"-"`
}

// TerminatesTLS reports whether the server terminates TLS itself (a listen with ssl).
func (s *StreamServer) TerminatesTLS() bool {
	for _, l := range s.Listens {
		if l.SSL {
			return true
		}
	}
	return false
}

// StreamServers returns the server blocks of stream{} with their effective settings and
// resolved targets, in configuration order.
func (c *Config) StreamServers() []*StreamServer {
	var out []*StreamServer
	main := newLevel(c.Tree())
	for _, stream := range main.children("stream") {
		outer := newLevel(stream.Block)
		blocks := streamUpstreams(stream)
		maps := streamMaps(stream)
		resolved := map[string]*StreamServer{} // per map variable: a fleet's servers share one map
		for _, d := range outer.children("server") {
			out = append(out, c.streamServer(d, outer, main, blocks, maps, resolved))
		}
	}
	return out
}

func (c *Config) streamServer(d *Directive, stream, main level, blocks, maps map[string]*Directive, resolved map[string]*StreamServer) *StreamServer {
	srv := &Server{Directive: d, Stream: true}
	levels := []level{newLevel(d.Block), stream}
	for _, l := range children(d.Block, "listen") {
		srv.Listens = append(srv.Listens, parseListen(l))
	}
	c.sslSettings(srv, levels)
	srv.ErrorLogs = c.errorLogs(nearest([]level{levels[0], stream, main}, "error_log"))
	ss := &StreamServer{Server: srv}
	if p := children(d.Block, "proxy_pass"); len(p) > 0 {
		ss.ProxyPass = c.fromDirective(p[0], false)
	}
	ss.SSLPreread = c.setting(levels, "ssl_preread", "off", false)
	ss.ALPN = c.setting(levels, "ssl_alpn", "", false)
	ss.ProxySSL = c.setting(levels, "proxy_ssl", "off", false)
	ss.ProxySSLCertificate = c.setting(levels, "proxy_ssl_certificate", "", true)
	ss.ProxySSLCertificateKey = c.setting(levels, "proxy_ssl_certificate_key", "", true)
	ss.ProxySSLTrustedCertificate = c.setting(levels, "proxy_ssl_trusted_certificate", "", true)
	ss.ProxySSLVerify = c.setting(levels, "proxy_ssl_verify", "off", false)
	ss.ProxySSLName = c.setting(levels, "proxy_ssl_name", "", false)
	ss.ProxySSLServerName = c.setting(levels, "proxy_ssl_server_name", "off", false)
	ss.ProxySSLALPN = c.setting(levels, "proxy_ssl_alpn", "", false)
	if v := ss.ProxyPass.Value; maps[v] != nil {
		if r, ok := resolved[v]; ok {
			ss.Targets, ss.Variables, ss.Problem = r.Targets, r.Variables, r.Problem
			return ss
		}
		ss.resolve(blocks, maps)
		resolved[v] = ss
		return ss
	}
	ss.resolve(blocks, maps)
	return ss
}

// streamUpstreams indexes a stream{} block's upstream blocks by lower-cased name.
func streamUpstreams(stream *Directive) map[string]*Directive {
	out := map[string]*Directive{}
	for _, u := range children(stream.Block, "upstream") {
		if name := strings.ToLower(u.Arg(0)); name != "" {
			if _, dup := out[name]; !dup {
				out[name] = u
			}
		}
	}
	return out
}

// streamMaps indexes a stream{} block's map blocks by the variable they set ("$name").
func streamMaps(stream *Directive) map[string]*Directive {
	out := map[string]*Directive{}
	for _, m := range children(stream.Block, "map") {
		if v := m.Arg(1); strings.HasPrefix(v, "$") {
			if _, dup := out[v]; !dup {
				out[v] = m
			}
		}
	}
	return out
}

// mapParams are the map block's own directives, not entries (ngx_stream_map).
var mapParams = map[string]bool{"hostnames": true, "volatile": true, "include": true}

// resolve works out the server's targets from proxy_pass.
func (s *StreamServer) resolve(blocks, maps map[string]*Directive) {
	pass := s.ProxyPass
	if !pass.IsSet() {
		return
	}
	v := pass.Value
	if !strings.Contains(v, "$") {
		s.Targets, s.Problem = streamAddress(v, "", pass.Directive, blocks)
		return
	}
	m := maps[v]
	if m == nil {
		s.Variables = true
		return
	}
	for _, e := range m.Block {
		if mapParams[e.Name] || len(e.Args) == 0 {
			continue
		}
		val := e.Args[0]
		if strings.Contains(val, "$") {
			s.Variables = true
			continue
		}
		ts, problem := streamAddress(val, e.Name, e, blocks)
		if problem != "" && s.Problem == "" {
			s.Problem = problem
		}
		s.Targets = append(s.Targets, ts...)
	}
}

// streamAddress resolves one proxy_pass value: an upstream block's name, "host:port" or
// "unix:/path". Stream addresses need a port (ngx_stream_proxy_pass: "no port in
// upstream").
func streamAddress(v, serverName string, d *Directive, blocks map[string]*Directive) ([]StreamTarget, string) {
	if b := blocks[strings.ToLower(v)]; b != nil {
		var out []StreamTarget
		for _, sd := range children(b.Block, "server") {
			t, ok := streamTarget(sd.Arg(0))
			if !ok {
				continue // nginx -t rejects it
			}
			t.Upstream, t.ServerName, t.Directive = b.Arg(0), serverName, sd
			out = append(out, t)
		}
		if len(out) == 0 {
			return nil, "no servers are inside upstream in " + b.Pos()
		}
		return out, ""
	}
	t, ok := streamTarget(v)
	if !ok {
		return nil, "no port in upstream \"" + v + "\""
	}
	t.ServerName, t.Directive = serverName, d
	return []StreamTarget{t}, ""
}

func streamTarget(addr string) (StreamTarget, bool) {
	if p, ok := strings.CutPrefix(addr, "unix:"); ok {
		return StreamTarget{Address: addr, Unix: p}, p != ""
	}
	host, port, hasPort := splitHostPortLoose(addr)
	n, err := strconv.Atoi(port)
	if !hasPort || err != nil || n < 1 || n > 65535 || host == "" {
		return StreamTarget{}, false
	}
	return StreamTarget{Address: net.JoinHostPort(host, port), Host: host, Port: n}, true
}
