package nginxconf

import (
	"regexp"
	"strings"
)

// ListensOn reports whether one of the server's listen directives names TCP port port.
// A server without listen directives listens on nginx's default (*:80 as root, *:8000
// otherwise: https://nginx.org/en/docs/http/ngx_http_core_module.html#listen); it is not
// counted, since which of the two applies depends on how nginx was started.
func (s *Server) ListensOn(port int) bool {
	for _, l := range s.Listens {
		if l.Unix == "" && l.Port == port {
			return true
		}
	}
	return false
}

// SelectServer returns the server nginx chooses among servers for a TLS server name (SNI)
// or Host header host arriving on TCP port port, or nil when none listens there. It
// follows "Server names" (https://nginx.org/en/docs/http/server_names.html), and
// ngx_http_find_virtual_server (src/http/ngx_http_request.c, shared by SNI and Host) over
// the tables ngx_hash_add_key builds (src/core/ngx_hash.c):
//
//   - the name is compared in lower case without a trailing dot (ngx_http_validate_host);
//   - an exact server_name wins; then the longest wildcard starting with "*." or "."
//     (".example.org" also matches example.org itself); then the longest wildcard ending
//     with ".*"; then the first regular expression ("~", caseless) in configuration order;
//   - else the port's default_server, or the first server listening on the port;
//   - a name that conflicts with one registered before it on the port (the same exact
//     name, example.org against .example.org, *.example.org against .example.org) is
//     ignored, as nginx warns "conflicting server name ... ignored".
//
// Listen addresses are not compared: servers on 127.0.0.1:443 and *:443 count as one
// port, which is what an agent that dials a host name sees unless the manager binds
// several addresses. A regular expression Go's RE2 cannot compile never matches.
func SelectServer(servers []*Server, port int, host string) *Server {
	var onPort []*Server
	var def *Server
	for _, s := range servers {
		for _, l := range s.Listens {
			if l.Unix == "" && l.Port == port {
				onPort = append(onPort, s)
				if l.DefaultServer && def == nil {
					def = s
				}
				break
			}
		}
	}
	if len(onPort) == 0 {
		return nil
	}
	names := registerNames(onPort)
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if s := names.exact[host]; s != nil {
		return s
	}
	// The deepest leading wildcard: the whole name (".example.org" only), then each
	// shorter suffix after a dot.
	if w, ok := names.head[host]; ok && w.bare {
		return w.server
	}
	for i := 0; i < len(host); i++ {
		if host[i] == '.' {
			if w, ok := names.head[host[i+1:]]; ok {
				return w.server
			}
		}
	}
	// The longest trailing wildcard: "www.example.*" needs a label after "www.example".
	for i := len(host) - 1; i > 0; i-- {
		if host[i] == '.' {
			if s := names.tail[host[:i]]; s != nil {
				return s
			}
		}
	}
	for _, r := range names.regexes {
		// nginx compiles server_name regexes caseless (ngx_http_core_server_name in
		// src/http/ngx_http_core_module.c).
		if re, err := regexp.Compile("(?i)" + r.expr); err == nil && re.MatchString(host) {
			return r.server
		}
	}
	if def != nil {
		return def
	}
	return onPort[0]
}

// serverNames are one port's server_name tables as ngx_hash_add_key fills them.
type serverNames struct {
	reserved map[string]bool    // every exact key, ".example.org"'s "example.org" included
	exact    map[string]*Server // exact names
	head     map[string]headWildcard
	tail     map[string]*Server // "www.example.*" under "www.example"
	regexes  []struct {
		expr   string
		server *Server
	}
}

// headWildcard is "*.example.org" or ".example.org" under "example.org"; bare is true for
// the latter, which also matches example.org.
type headWildcard struct {
	server *Server
	bare   bool
}

// registerNames adds every server_name of servers in configuration order; a name that
// conflicts with an earlier one is ignored.
func registerNames(servers []*Server) serverNames {
	t := serverNames{reserved: map[string]bool{}, exact: map[string]*Server{}, head: map[string]headWildcard{}, tail: map[string]*Server{}}
	for _, s := range servers {
		for _, n := range s.ServerNames {
			if strings.HasPrefix(n, "~") {
				t.regexes = append(t.regexes, struct {
					expr   string
					server *Server
				}{n[1:], s})
				continue
			}
			n = strings.ToLower(n)
			switch {
			case len(n) > 1 && n[0] == '.':
				key := n[1:]
				if t.reserved[key] {
					continue
				}
				t.reserved[key] = true
				if _, taken := t.head[key]; !taken {
					t.head[key] = headWildcard{server: s, bare: true}
				}
			case len(n) > 2 && strings.HasPrefix(n, "*."):
				if _, taken := t.head[n[2:]]; !taken {
					t.head[n[2:]] = headWildcard{server: s}
				}
			case len(n) > 2 && strings.HasSuffix(n, ".*"):
				if key := n[:len(n)-2]; t.tail[key] == nil {
					t.tail[key] = s
				}
			case strings.Contains(n, "*"):
				// nginx refuses the configuration: "invalid server name or wildcard".
			default:
				if !t.reserved[n] {
					t.reserved[n] = true
					t.exact[n] = s
				}
			}
		}
	}
	return t
}
