package probes

import (
	"net"
	"strconv"

	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// This file follows the agents' connections through stream{} servers of the manager's
// NGINX to whatever terminates their TLS: NGINX Instance Manager 1.x documents a stream
// server that passes TCP straight through to nginx-manager's gRPC port (getting-started/
// encrypt, "stream context"), and a stream server may also terminate TLS itself
// (listen … ssl, ssl_verify_client) before passing plaintext or re-encrypted traffic on.

// TerminatorKind says what listens at a stream server's target on this host.
type TerminatorKind string

const (
	// TermUnknown: nothing this host's configuration knows of listens there.
	TermUnknown TerminatorKind = ""
	// TermNIM1: nginx-manager (NIM 1.x) at nginx-manager.conf's bind_address:grpc_port.
	TermNIM1 TerminatorKind = "nginx-manager"
	// TermNIM1Default: NIM 1.x's default gRPC port (127.0.0.1:10000) while no
	// nginx-manager.conf was read.
	TermNIM1Default TerminatorKind = "nginx-manager-default-port"
	// TermHTTPServer: an http server of this NGINX.
	TermHTTPServer TerminatorKind = "http-server"
	// TermStreamServer: another stream server of this NGINX.
	TermStreamServer TerminatorKind = "stream-server"
)

// StreamHop is a stream{} server of this NGINX that carries the agents' connections.
type StreamHop struct {
	// Server is the stream server block.
	Server *nginxconf.StreamServer `json:"-"`
	// Pos is its file:line; Listen its first listen address.
	Pos    string `json:"pos"`
	Listen string `json:"listen"`
	// Terminates is true when the stream server terminates TLS itself (listen … ssl): it
	// is then also one of NginxFacts.Servers, judged as the agents' TLS server.
	Terminates bool `json:"terminates_tls"`
	// ReEncrypts is true when it opens TLS again to its targets (proxy_ssl on).
	ReEncrypts bool `json:"re_encrypts,omitempty"`
	// ProxyTrustedCA is the proxy_ssl_trusted_certificate file that verifies the targets
	// of a re-encrypting hop; nil when unset.
	ProxyTrustedCA *FileFacts `json:"proxy_trusted_ca,omitempty"`
	// Targets are where it sends the connections, with what listens there; hops that
	// route through one map share the slice.
	Targets []StreamHopTarget `json:"targets,omitempty"`
}

// StreamHopTarget is one target of a stream hop and what listens at it.
type StreamHopTarget struct {
	nginxconf.StreamTarget
	// Kind says what listens there on this host.
	Kind TerminatorKind `json:"kind,omitempty"`
	// HTTPServer is the http server listening there (TermHTTPServer); Stream the stream
	// server (TermStreamServer).
	HTTPServer *nginxconf.Server       `json:"-"`
	Stream     *nginxconf.StreamServer `json:"-"`
}

// findStreamHops finds the stream servers that carry agents: those whose targets reach
// nginx-manager or an agent-facing http server, and one that verifies client certificates
// on the agents' port. A hop that terminates TLS joins n.Servers.
func (n *NginxFacts) findStreamHops(agentPort int, files fileCache) {
	streams := n.Config.StreamServers()
	agentFacing := map[*nginxconf.Server]bool{}
	for _, s := range n.Servers {
		agentFacing[s.Server] = true
	}
	// Servers that route through one map share its targets (nginxconf.StreamServer.Targets):
	// classify each shared list once, and each address once.
	type classified struct {
		targets []StreamHopTarget
		agents  bool
	}
	lists := map[*nginxconf.StreamTarget]classified{}
	for _, ss := range streams {
		hop := &StreamHop{Server: ss, Pos: ss.Pos(), Terminates: ss.TerminatesTLS(), ReEncrypts: ss.ProxySSL.Value == "on"}
		if len(ss.Listens) > 0 {
			hop.Listen = ss.Listens[0].String()
		}
		// The agents' port alone marks a stream server that verifies client certificates:
		// on an agent host, an unrelated stream server may listen on the same port number.
		agents := agentPort > 0 && ss.ListensOn(agentPort) && hop.Terminates && ss.SSL.VerifyClient.Value != "off"
		var key *nginxconf.StreamTarget
		if len(ss.Targets) > 0 {
			key = &ss.Targets[0]
		}
		cl, ok := lists[key]
		if !ok || key == nil {
			cl = classified{}
			for _, t := range ss.Targets {
				ht := n.classifyTarget(t, streams)
				switch ht.Kind {
				case TermNIM1, TermNIM1Default:
					cl.agents = true
				case TermHTTPServer:
					cl.agents = cl.agents || agentFacing[ht.HTTPServer]
				}
				cl.targets = append(cl.targets, ht)
			}
			lists[key] = cl
		}
		hop.Targets, agents = cl.targets, agents || cl.agents
		if !agents {
			continue
		}
		n.Streams = append(n.Streams, hop)
		if hop.ReEncrypts {
			hop.ProxyTrustedCA = files.tls(RoleCA, ss.ProxySSLTrustedCertificate)
		}
		if hop.Terminates {
			s := &NginxServer{Server: ss.Server, Stream: hop}
			files.load(s)
			n.Servers = append(n.Servers, s)
		}
	}
}

// classifyTarget says what listens at t on this host.
func (n *NginxFacts) classifyTarget(t nginxconf.StreamTarget, streams []*nginxconf.StreamServer) StreamHopTarget {
	ht := StreamHopTarget{StreamTarget: t}
	if t.Unix != "" {
		return ht
	}
	if c := n.NIM1; c != nil && c.Path != "" && c.Error == nil {
		if port, err := strconv.Atoi(c.GRPCPort.Value); err == nil && port == t.Port && sameHost(c.BindAddress.Value, t.Host) {
			ht.Kind = TermNIM1
			return ht
		}
	}
	for _, s := range n.HTTPServers {
		if listensAt(s.Listens, t.Host, t.Port) {
			ht.Kind, ht.HTTPServer = TermHTTPServer, s
			return ht
		}
	}
	for _, s := range streams {
		if listensAt(s.Listens, t.Host, t.Port) {
			ht.Kind, ht.Stream = TermStreamServer, s
			return ht
		}
	}
	if (n.NIM1 == nil || n.NIM1.Path == "") && strconv.Itoa(t.Port) == NIM1DefaultGRPCPort && isLoopback(t.Host) {
		ht.Kind = TermNIM1Default
	}
	return ht
}

// listensAt reports whether one of ls accepts connections to host:port.
func listensAt(ls []nginxconf.Listen, host string, port int) bool {
	for _, l := range ls {
		if l.Unix == "" && l.Port == port && sameHost(l.Addr, host) {
			return true
		}
	}
	return false
}

// sameHost reports whether a connection to host reaches a socket bound to bind: the same
// name, a wildcard bind, or both loopback.
func sameHost(bind, host string) bool {
	switch bind {
	case "", "*", "0.0.0.0", "::":
		return true
	}
	return bind == host || isLoopback(bind) && isLoopback(host)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
