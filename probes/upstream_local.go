package probes

import (
	"net/netip"
	"strings"

	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// LocalTerminator is an upstream server that the same NGINX configuration terminates: a
// server block listening with ssl on the upstream server's port of a local address. Its
// ssl_verify_client settings and the files they name let NGINX's verdict on the link's
// client certificate be predicted without a probe.
type LocalTerminator struct {
	// Address is the upstream server's address, as in UpstreamLink.Servers.
	Address string `json:"address"`
	// Server is the server block NGINX picks for the link's connection: by the SNI sent,
	// or the port's default server when none is sent (nginxconf.SelectServer).
	Server *NginxServer `json:"server"`
	// ByName is the server block the link's SSL name would pick if it were sent as SNI;
	// nil when that is Server (or no name is known). A different block here means the
	// upstream judges the link by another server's settings because SNI is off.
	ByName *NginxServer `json:"by_name,omitempty"`
}

// FindLocalTerminators fills each link's Local with the server blocks of servers (the
// configuration's http servers) that terminate its upstream servers on this host: the
// upstream server's host is a loopback address, "localhost", or an address a server
// listens on, and a listen on its port has ssl. The files a block names are loaded once;
// known are blocks already loaded (NginxFacts.Servers), reused as they are.
func FindLocalTerminators(uf *UpstreamFacts, servers []*nginxconf.Server, known []*NginxServer) {
	loaded := map[*nginxconf.Server]*NginxServer{}
	for _, k := range known {
		loaded[k.Server] = k
	}
	cache := fileCache{}
	load := func(s *nginxconf.Server) *NginxServer {
		if s == nil {
			return nil
		}
		if ns, ok := loaded[s]; ok {
			return ns
		}
		ns := &NginxServer{Server: s}
		cache.load(ns)
		loaded[s] = ns
		return ns
	}
	for _, l := range uf.Links {
		l.Local = nil
		if !l.TLS || !l.Judgeable() {
			continue
		}
		for _, us := range l.Servers {
			if us.Unix != "" || !localHost(us.Host, servers, us.Port) {
				continue
			}
			if !sslOnPort(servers, us.Port) {
				continue // a plaintext listener: the probe reports it
			}
			chosen := nginxconf.SelectServer(servers, us.Port, l.SNI)
			if chosen == nil {
				continue
			}
			lt := LocalTerminator{Address: us.Address, Server: load(chosen)}
			if l.SNI == "" && l.SSLName != "" {
				if byName := nginxconf.SelectServer(servers, us.Port, l.SSLName); byName != chosen {
					lt.ByName = load(byName)
				}
			}
			l.Local = append(l.Local, lt)
		}
	}
}

// sslOnPort reports whether a listen on port has the ssl parameter: nginx then speaks
// TLS on that socket for every server block listening there.
func sslOnPort(servers []*nginxconf.Server, port int) bool {
	for _, s := range servers {
		for _, ln := range s.Listens {
			if ln.Unix == "" && ln.Port == port && ln.SSL {
				return true
			}
		}
	}
	return false
}

// localHost reports whether host reaches this host: a loopback address, "localhost", or
// an address a server listens on at port.
func localHost(host string, servers []*nginxconf.Server, port int) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	if a, err := netip.ParseAddr(host); err == nil && a.IsLoopback() {
		return true
	}
	for _, s := range servers {
		for _, ln := range s.Listens {
			if ln.Port == port && ln.Addr != "" && ln.Addr != "*" && strings.EqualFold(ln.Addr, host) {
				return true
			}
		}
	}
	return false
}
