package logparse

import (
	"strings"
	"testing"
	"time"
)

// TestNoiseShutdownAfterRejection: the [crit] line real nginx 1.22.1 (OpenSSL 3) writes
// right after a stream server refuses a connection without a certificate, and the
// OpenSSL 1.1.1 form (openssl/openssl#12957), are noise: no event, and Noise says why;
// the rejection line before it stays the event.
func TestNoiseShutdownAfterRejection(t *testing.T) {
	const (
		rejected = `2026/12/05 17:14:39 [info] 2941#2941: *2 client sent no required SSL certificate while SSL handshaking, client: 127.0.0.1, server: 127.0.0.1:34567`
		shutdown = `2026/12/05 17:14:39 [crit] 2941#2941: *2 SSL_shutdown() failed (SSL: error:0A000123:SSL routines::application data after close notify) while SSL handshaking, client: 127.0.0.1, server: 127.0.0.1:34567`
		legacy   = `2020/09/22 20:03:21 [crit] 6#6: *1814 SSL_shutdown() failed (SSL: error:14094123:SSL routines:ssl3_read_bytes:application data after close notify) while proxying connection, client: 192.168.88.1, server: 0.0.0.0:853, upstream: "172.20.20.30:53", bytes from/to client:1430/2645, bytes from/to upstream:2645/0,`
		other    = `2026/12/05 17:14:39 [crit] 2941#2941: *3 SSL_shutdown() failed (SSL: error:0A000126:SSL routines::unexpected eof while reading) while SSL handshaking, client: 127.0.0.1, server: 127.0.0.1:34567`
	)
	p := &Parser{Type: TypeNginxError, Location: time.UTC}
	if ev, _, st := p.Parse(rejected); st != LineClassified || ev.Kind != KindAgentCertNotSent {
		t.Errorf("the rejection: %v %q, want %s", st, ev.Kind, KindAgentCertNotSent)
	}
	for _, line := range []string{shutdown, legacy} {
		if _, _, st := p.Parse(line); st != LineUnclassified {
			t.Errorf("%v for %s, want unclassified (no event)", st, line)
		}
		e, ok := ParseErrorLine(line, time.UTC)
		if !ok || e.Level != "crit" {
			t.Fatalf("not parsed as a [crit] error line: %+v", e)
		}
		if why := Noise(e.Message); !strings.Contains(why, "not a cause") {
			t.Errorf("Noise(%q) = %q, want it called noise", e.Message, why)
		}
	}
	if e, _ := ParseErrorLine(other, time.UTC); Noise(e.Message) != "" {
		t.Errorf("another SSL_shutdown() error called noise: %q", e.Message)
	}
	if e, _ := ParseErrorLine(rejected, time.UTC); Noise(e.Message) != "" {
		t.Errorf("the rejection called noise")
	}
}
