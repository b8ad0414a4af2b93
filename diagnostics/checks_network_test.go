package diagnostics

import (
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/probes"
)

func TestNetworkChecks(t *testing.T) {
	runCases(t, []checkCase{
		{name: "name does not resolve", id: "endpoint-dns", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Endpoint.DNSAddrs = nil
				f.Endpoint.DNSError = &probes.ProbeError{Kind: probes.ErrDNSNotFound, Message: "lookup nim.example.com: no such host"}
				f.Endpoint.Agent, f.Endpoint.NoCert = nil, nil
			},
			summary: []string{"nim.example.com does not resolve"}, fix: []string{"getent ahosts nim.example.com"},
			cause: Cause{Code: CauseDNS}},
		{name: "refused", id: "endpoint-refused", want: SeverityFail,
			mutate:  func(f *Facts, _ *testPKI) { unreachable(f) },
			summary: []string{"nothing listens on nim.example.com:443"}, fix: []string{"sudo ss -ltnp 'sport = :443'"},
			cause: Cause{Code: CauseRefused}},
		{name: "refused leaves DNS ok", id: "endpoint-dns", want: SeverityOK,
			mutate: func(f *Facts, _ *testPKI) { unreachable(f) }},
		{name: "timeout", id: "endpoint-timeout", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Endpoint.TCPError = &probes.ProbeError{Kind: probes.ErrTimeout, Message: "i/o timeout"}
				f.Endpoint.Agent, f.Endpoint.NoCert = nil, nil
			},
			summary: []string{"timed out"}, fix: []string{"nc -vz -w 5 nim.example.com 443"},
			cause: Cause{Code: CauseTimeout}},
		{name: "TCP accepted, TLS handshake timed out", id: "endpoint-timeout", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Endpoint.Agent = &probes.Attempt{WithClientCert: true, TLS: &probes.TLSObservation{
					Error: &probes.ProbeError{Kind: probes.ErrTimeout, Message: "read tcp: i/o timeout"}}}
				f.Endpoint.NoCert = nil
			},
			summary: []string{"accepted the connection but the TLS handshake timed out"},
			fix:     []string{"The TCP connection was accepted, so no firewall drops it", "sudo ss -ltnp 'sport = :443'"},
			notFix:  []string{"nc -vz", "firewall, security group"},
			cause:   Cause{Code: CauseHandshakeTimeout}},
		{name: "handshake cut off by a 1ms --timeout", id: "endpoint-timeout", want: SeverityWarn,
			mutate: func(f *Facts, _ *testPKI) {
				f.Endpoint.StepTimeout = time.Millisecond
				f.Endpoint.Agent = &probes.Attempt{WithClientCert: true, TLS: &probes.TLSObservation{
					Error: &probes.ProbeError{Kind: probes.ErrTimeout, Deadline: true, Message: "read tcp: i/o timeout"}}}
				f.Endpoint.NoCert = nil
			},
			summary: []string{"the TLS handshake with nim.example.com:443 did not finish within --timeout 1ms, too short"},
			fix:     []string{"mtls-doctor --check --timeout 5s"}, notFix: []string{"nc -vz"},
			cause: Cause{Code: CauseTimeoutTooShort}},
		{name: "kernel timeout under a short --timeout still blames the path", id: "endpoint-timeout", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Endpoint.StepTimeout = 500 * time.Millisecond
				f.Endpoint.TCPError = &probes.ProbeError{Kind: probes.ErrTimeout, Message: "connect: connection timed out"}
				f.Endpoint.Agent, f.Endpoint.NoCert = nil, nil
			},
			summary: []string{"packets are dropped"},
			cause:   Cause{Code: CauseTimeout}},
		{name: "lookup cut off by a 1ms --timeout", id: "endpoint-dns", want: SeverityWarn,
			mutate: func(f *Facts, _ *testPKI) {
				f.Endpoint.StepTimeout = time.Millisecond
				f.Endpoint.DNSAddrs = nil
				f.Endpoint.DNSError = &probes.ProbeError{Kind: probes.ErrDNSFailure, Deadline: true, Message: "lookup nim.example.com: i/o timeout"}
				f.Endpoint.Agent, f.Endpoint.NoCert = nil, nil
			},
			summary: []string{"looking up nim.example.com did not finish within --timeout 1ms"},
			fix:     []string{"mtls-doctor --check --timeout 5s"}, notFix: []string{"getent"},
			cause: Cause{Code: CauseTimeoutTooShort}},
		{name: "plaintext port", id: "endpoint-not-tls", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Endpoint.Agent = &probes.Attempt{WithClientCert: true, TLS: &probes.TLSObservation{
					Error: &probes.ProbeError{Kind: probes.ErrNotTLS, Message: "tls: first record does not look like a TLS handshake"}}}
				f.Endpoint.NoCert = nil
			},
			summary: []string{"plaintext port"},
			cause:   Cause{Code: CauseNotTLS}},
		{name: "TLS version", id: "tls-version-mismatch", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Endpoint.Agent = &probes.Attempt{WithClientCert: true, TLS: &probes.TLSObservation{
					Error: &probes.ProbeError{Kind: probes.ErrTLSAlert, Alert: 70, Message: "remote error: tls: protocol version not supported"}}}
			},
			summary: []string{"no TLS version the agent accepts"}, fix: []string{"+    ssl_protocols TLSv1.2 TLSv1.3;"},
			cause: Cause{Code: CauseTLSVersion}},
		{name: "unrecognized name", id: "tls-handshake-failed", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Endpoint.Agent = &probes.Attempt{WithClientCert: true, TLS: &probes.TLSObservation{
					Error: &probes.ProbeError{Kind: probes.ErrTLSAlert, Alert: 112, Message: "remote error: tls: unrecognized name"}}}
			},
			summary: []string{`rejected the server name "nim.example.com"`}, fix: []string{"Set server.command to a name the manager serves"},
			cause: Cause{Code: CauseUnrecognizedName, Alert: 112}},
		{name: "no application protocol alert", id: "alpn-h2-missing", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Endpoint.Agent = &probes.Attempt{WithClientCert: true, TLS: &probes.TLSObservation{
					Error: &probes.ProbeError{Kind: probes.ErrTLSAlert, Alert: 120, Message: "remote error: tls: no application protocol"}}}
			},
			summary: []string{`"no application protocol" (alert 120)`}, fix: []string{"+    listen 443 ssl http2;"},
			cause: Cause{Code: CauseNoALPNH2, Alert: 120}},
		{name: "no application protocol is not a second handshake finding", id: "tls-handshake-failed", want: SeveritySkip,
			mutate: func(f *Facts, _ *testPKI) {
				f.Endpoint.Agent = &probes.Attempt{WithClientCert: true, TLS: &probes.TLSObservation{
					Error: &probes.ProbeError{Kind: probes.ErrTLSAlert, Alert: 120, Message: "remote error: tls: no application protocol"}}}
			}},
		{name: "no ALPN", id: "alpn-h2-missing", want: SeverityFail,
			mutate:  func(f *Facts, _ *testPKI) { f.Endpoint.Agent.TLS.ALPN = "" },
			summary: []string{`negotiated ALPN "none", not h2`}, fix: []string{"+    listen 443 ssl http2;", "http2 on"},
			cause: Cause{Code: CauseNoALPNH2}},
		{name: "skewed clock", id: "clock-skew", want: SeverityWarn,
			mutate:  func(f *Facts, _ *testPKI) { f.Endpoint.Agent.HTTP.Date = testNow.Add(-10 * time.Minute) },
			summary: []string{"this host's clock is 10m0s ahead of the server's"}, fix: []string{"timedatectl set-ntp true"},
			cause: Cause{Code: CauseClockSkew}},
		{name: "skew within tolerance", id: "clock-skew", want: SeverityOK,
			mutate: func(f *Facts, _ *testPKI) { f.Endpoint.Agent.HTTP.Date = testNow.Add(4 * time.Minute) }},
	})
}
