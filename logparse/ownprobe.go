package logparse

import "strings"

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
