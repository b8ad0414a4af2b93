package diagnostics

import (
	"testing"

	"github.com/mtls-doctor/mtls-doctor/probes"
)

func TestGRPCChecks(t *testing.T) {
	html := func(status int) *probes.HTTPObservation {
		return &probes.HTTPObservation{Status: status, ContentType: "text/html", BodyTitle: statusText(status), Date: testNow}
	}
	runCases(t, []checkCase{
		{name: "502", id: "grpc-backend-unavailable", want: SeverityFail,
			mutate:  func(f *Facts, _ *testPKI) { f.Endpoint.Agent.HTTP = html(502) },
			summary: []string{"NGINX answered 502 Bad Gateway"}, fix: []string{"sudo systemctl restart nms"},
			cause: Cause{Code: CauseBackendUnavailable}},
		{name: "grpc unavailable", id: "grpc-backend-unavailable", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Endpoint.Agent.HTTP = &probes.HTTPObservation{Status: 200, ContentType: "application/grpc", GRPCStatus: intp(14)}
			},
			summary: []string{"grpc-status 14"},
			cause:   Cause{Code: CauseBackendUnavailable}},
		{name: "404", id: "grpc-path-missing", want: SeverityFail,
			mutate:  func(f *Facts, _ *testPKI) { f.Endpoint.Agent.HTTP = html(404) },
			summary: []string{"no location for /f5.nginx.agent.sdk.Commander/CommandChannel"},
			cause:   Cause{Code: CauseNoLocation}},
		{name: "v3 agent unimplemented", id: "grpc-path-missing", want: SeverityFail,
			mutate: func(f *Facts, _ *testPKI) {
				f.Agent.Format = probes.FormatV3
				f.Endpoint.Path = probes.PathV3CreateConnection
				f.Endpoint.Agent.HTTP = &probes.HTTPObservation{Status: 200, ContentType: "application/grpc", GRPCStatus: intp(12)}
			},
			summary: []string{"does not implement /mpi.v1.CommandService/CreateConnection"}, fix: []string{"agent 2.x only"},
			cause: Cause{Code: CauseUnimplemented}},
		{name: "421", id: "misdirected-request", want: SeverityFail,
			mutate:  func(f *Facts, _ *testPKI) { f.Endpoint.Agent.HTTP = html(421) },
			summary: []string{"421 Misdirected Request"},
			cause:   Cause{Code: CauseMisdirected}},
	})
}
