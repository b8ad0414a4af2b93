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

// agentsChoice is the server NGINX chooses for the agents' server name on their port, and
// that port; chosen is nil when no server listens there or the port is unknown. Computed
// once per evaluation: the choice looks at every server block of the port.
func agentsChoice(f *Facts) (port int, chosen *nginxconf.Server) {
	h := hostOf(f)
	port = atoiOr(h.Port, 0)
	if port == 0 {
		return 0, nil
	}
	return port, nginxconf.SelectServer(f.Nginx.HTTPServers, port, h.Name)
}

// sniSelectsOther reports when the agents' server name makes NGINX choose another server
// (chosen, on port: agentsChoice) than sc's: that server's certificate and locations
// answer them.
func sniSelectsOther(f *Facts, sc servedCert, port int, chosen *nginxconf.Server) (Result, bool) {
	if sc.server == nil || chosen == nil || !sc.server.ListensOn(port) || chosen == sc.server.Server {
		return Result{}, false
	}
	h := hostOf(f)
	return Fail("the agents' server name %s selects the %s (server_name %s) on port %d, not the agents' %s",
		h.Name, serverLabel(&probes.NginxServer{Server: chosen}), strings.Join(chosen.ServerNames, " "), port, serverLabel(sc.server)).Because(CauseOtherServerSelected).
		With(Note(sc.server.Pos(), "the agents' server has server_name %s", strings.Join(sc.server.ServerNames, " "))), true
}
