package diagnostics

import (
	"strings"

	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// This file applies NGINX's choice of server block (nginxconf.SelectServer) to the
// agents' connection.

// plainServerNames are the server_name values a certificate must match: host names, not
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
	if sc.server == nil || port == 0 || !sc.server.ListensOn(port) {
		return Result{}, false
	}
	chosen := nginxconf.SelectServer(f.Nginx.HTTPServers, port, h.Name)
	if chosen == nil || chosen == sc.server.Server {
		return Result{}, false
	}
	return Fail("the agents' server name %s selects the %s (server_name %s) on port %d, not the agents' %s",
		h.Name, serverLabel(&probes.NginxServer{Server: chosen}), strings.Join(chosen.ServerNames, " "), port, serverLabel(sc.server)).Because(CauseOtherServerSelected).
		With(Note(sc.server.Pos(), "the agents' server has server_name %s", strings.Join(sc.server.ServerNames, " "))), true
}
