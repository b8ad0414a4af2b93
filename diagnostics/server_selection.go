package diagnostics

import (
	"regexp"
	"strings"

	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// This file models NGINX's choice of server block for the agents' connection: listen
// ports and server_name matching.

// nameServerNames are the server_name values a certificate must match: host names, not
// "_", regexes or wildcards.
func plainServerNames(s *probes.NginxServer) []string {
	var out []string
	for _, n := range s.ServerNames {
		if n == "" || n == "_" || strings.HasPrefix(n, "~") || strings.ContainsAny(n, "*$") || strings.HasPrefix(n, ".") {
			continue
		}
		out = append(out, n)
	}
	return out
}

// sniSelectsOther reports when the agents' server name makes NGINX choose another server
// on their port than sc's: that server's certificate and locations answer them.
func sniSelectsOther(f *Facts, sc servedCert) (Result, bool) {
	h := hostOf(f)
	port := atoiOr(h.Port, 0)
	if sc.server == nil || port == 0 || !listensOn(sc.server, port) {
		return Result{}, false
	}
	chosen := selectServer(f.Nginx.HTTPServers, port, h.Name)
	if chosen == nil || chosen == sc.server.Server {
		return Result{}, false
	}
	return Fail("the agents' server name %s selects the %s (server_name %s) on port %d, not the agents' %s",
		h.Name, serverLabel(&probes.NginxServer{Server: chosen}), strings.Join(chosen.ServerNames, " "), port, serverLabel(sc.server)).
		With(Note(sc.server.Pos(), "the agents' server has server_name %s", strings.Join(sc.server.ServerNames, " "))), true
}

func listensOn(s *probes.NginxServer, port int) bool {
	for _, l := range s.Listens {
		if l.Port == port {
			return true
		}
	}
	return false
}

// selectServer is NGINX's choice of server for a TLS name on a port: an exact server_name,
// then the longest leading wildcard, the longest trailing wildcard, the first matching
// regex, and else the port's default_server or first server.
func selectServer(all []*nginxconf.Server, port int, name string) *nginxconf.Server {
	var onPort []*nginxconf.Server
	var def *nginxconf.Server
	for _, s := range all {
		for _, l := range s.Listens {
			if l.Port == port {
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
	name = strings.ToLower(name)
	var lead, trail *nginxconf.Server
	leadLen, trailLen := 0, 0
	for _, s := range onPort {
		for _, n := range s.ServerNames {
			n = strings.ToLower(n)
			switch {
			case n == name:
				return s
			case strings.HasPrefix(n, "*.") && strings.HasSuffix(name, n[1:]) && len(n) > leadLen,
				strings.HasPrefix(n, ".") && (name == n[1:] || strings.HasSuffix(name, n)) && len(n) > leadLen:
				lead, leadLen = s, len(n)
			case strings.HasSuffix(n, ".*") && strings.HasPrefix(name, n[:len(n)-1]) && len(n) > trailLen:
				trail, trailLen = s, len(n)
			}
		}
	}
	if lead != nil {
		return lead
	}
	if trail != nil {
		return trail
	}
	for _, s := range onPort {
		for _, n := range s.ServerNames {
			if strings.HasPrefix(n, "~") {
				if re, err := regexp.Compile(n[1:]); err == nil && re.MatchString(name) {
					return s
				}
			}
		}
	}
	if def != nil {
		return def
	}
	return onPort[0]
}
