package logparse

import (
	"strings"
	"time"
)

// mtls-doctor's endpoint probe makes two requests, one with the agent's certificate and one
// without (probes.ProbeEndpoint). Both would read as an agent's in the logs of the NGINX they
// reach, and the one without a certificate as a rejection ("client sent no required SSL
// certificate", access-log 400), so a second run would report its predecessor's probe.
// This file is the one place that decides which lines are the probe's: the history scan,
// follow, the assistant's Logs screen and the report all go through OwnProbe.
//
// The probe marks its traffic with one token, OwnProbeMark, where NGINX can log it:
//   - the request without a certificate carries OwnProbeQuery in its URI, which the error
//     log writes in `request: "POST /…?mtls-doctor-probe=no-cert HTTP/2.0"` and an access
//     log in $request, $request_uri, $args or $query_string;
//   - both requests send OwnProbeUserAgent, which an access log writes in
//     $http_user_agent.
//
// The error log has no user agent, so NGINX's line for the request *with* the agent's
// certificate stays an agent's: it is what the agent itself would get. An access log whose
// format has neither the query nor the user agent (e.g. only $uri and $status) cannot tell
// the probe's 400 from an agent's.

// OwnProbeMark is the token common to every mark of the probe's requests.
const OwnProbeMark = "mtls-doctor-probe"

// OwnProbeQuery is the query string the probe adds to its request without a client
// certificate (probes.NoCertQuery; logparse imports nothing of ours).
const OwnProbeQuery = OwnProbeMark + "=no-cert"

// OwnProbeUserAgent is the User-Agent of both of the probe's requests (probes.UserAgent).
const OwnProbeUserAgent = OwnProbeMark

// OwnProbe reports whether line, from an NGINX error or access log in any format or from
// the agent's log, records one of mtls-doctor's own probe requests.
func OwnProbe(line string) bool { return strings.Contains(line, OwnProbeMark) }

// A stream{} server has no request to mark: NGINX logs "client sent no required SSL
// certificate" for the probe's connection without a certificate with nothing the probe
// chose in it but its address. So the probe connects from one of OwnProbePorts, and
// NGINX's stream module writes that port in the first line of every connection, at info
// (src/stream/ngx_stream_handler.c, ngx_stream_init_connection):
//
//	2026/12/05 19:04:28 [info] 11865#11865: *2 client 127.0.0.1:42749 connected to 0.0.0.0:443
//
// Every later line of the connection carries the same process id and "*2", so all of
// them are the probe's. The rejection is logged at info too, so where the first line is
// missing (error_log above info) the rejection is as well. An agent connects from a
// port its kernel picks; one in OwnProbePorts is 8 of about 28,000 ephemeral ports.

// OwnProbePorts are the local ports mtls-doctor's probe connects from when one is free
// (probes.ProbePorts): eight ports inside Linux's default ephemeral range (32768–60999),
// 2749 apart.
var OwnProbePorts = [...]int{40000, 42749, 45498, 48247, 50996, 53745, 56494, 59243}

// OwnProbePort reports whether port is one of OwnProbePorts.
func OwnProbePort(port int) bool {
	return port >= OwnProbePorts[0] && port <= OwnProbePorts[len(OwnProbePorts)-1] && (port-OwnProbePorts[0])%2749 == 0
}

// connKey names one connection in an NGINX error log: the worker's process id and
// NGINX's connection number (a counter the workers share, src/event/ngx_event.c
// ngx_connection_counter).
type connKey struct {
	pid  int
	conn uint64
}

// ownConns remembers the probe's connections found in one log.
type ownConns struct {
	// clients are the addresses this run's probe connected from (Options.ProbeClients),
	// which are its own only in lines written since the run began (since): the kernel
	// reuses ports.
	clients map[string]bool
	since   time.Time
	// conns are the connections whose first line showed a probe's address.
	conns map[connKey]struct{}
}

// has reports whether k is one of the probe's connections.
func (o *ownConns) has(k connKey) bool {
	if len(o.conns) == 0 {
		return false
	}
	_, ok := o.conns[k]
	return ok
}

// add records k as one of the probe's connections.
func (o *ownConns) add(k connKey) {
	if o.conns == nil {
		o.conns = map[connKey]struct{}{}
	}
	o.conns[k] = struct{}{}
}

// streamClient reads the client address of a stream connection's first line, the message
// after "*N ": "client 127.0.0.1:42749 connected to 0.0.0.0:443" (or "udp client …").
func streamClient(msg string) (client string, ok bool) {
	msg = strings.TrimPrefix(msg, "udp ")
	if !strings.HasPrefix(msg, "client ") {
		return "", false
	}
	msg = msg[len("client "):]
	sp := strings.IndexByte(msg, ' ')
	if sp <= 0 || !strings.HasPrefix(msg[sp:], " connected to ") {
		return "", false
	}
	return msg[:sp], true
}

// mine reports whether a connection from client, whose first line was written at t, is
// the probe's.
func (o *ownConns) mine(client string, t time.Time) bool {
	if i := strings.LastIndexByte(client, ':'); i >= 0 {
		if port, n := atoiPrefix(client[i+1:]); n > 0 && n == len(client)-i-1 && OwnProbePort(port) {
			return true
		}
	}
	return o.clients[client] && !t.Before(o.since)
}
