package logparse

import "strings"

// Some NGINX error-log lines look alarming and name no cause: they follow a rejection whose
// own line says why, or are the client's manners, not its certificate. The classifier
// leaves them unclassified (they back no finding), and Noise says why they are not
// evidence, so that a log view can show them as such instead of as failures.

// noiseLines are the known messages that are not evidence, each with why.
var noiseLines = []struct {
	prefix, contains, why string
}{
	{
		// src/event/ngx_event_openssl.c, ngx_ssl_shutdown: OpenSSL's
		// SSL_R_APPLICATION_DATA_AFTER_CLOSE_NOTIFY (reason 291, "0A000123" in OpenSSL 3,
		// "14094123" in 1.1.1). NGINX sent close_notify and the client kept writing: on a
		// stream server that refused a connection ("client sent no required SSL
		// certificate" a line earlier) the client's request was already under way. NGINX
		// logs it at [crit] before 1.23.0 and at [info] since (commit 828fb94e1, ticket
		// #2318: "the client continues to send application data after receiving the
		// close_notify alert").
		prefix: "SSL_shutdown() failed", contains: "application data after close notify",
		why: "the client kept sending after NGINX closed the connection (SSL_shutdown; logged at [crit] before NGINX 1.23.0, " +
			"[info] since): a consequence of the connection ending, not a cause; the line before it for the same connection says why it ended",
	},
}

// Noise reports why an NGINX error-log message (ErrorEntry.Message) is known not to be
// evidence of a problem; "" for any other message.
func Noise(message string) string {
	for _, n := range noiseLines {
		if strings.HasPrefix(message, n.prefix) && strings.Contains(message, n.contains) {
			return n.why
		}
	}
	return ""
}
