package diagnostics

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/mtls-doctor/mtls-doctor/logparse"
	"github.com/mtls-doctor/mtls-doctor/probes"
)

func grpcChecks() []Check {
	need := []FactKind{FactEndpoint}
	return []Check{
		{
			ID: "grpc-backend-unavailable", Category: CategoryGRPC,
			Title: "the agent's request reaches the manager's gRPC service",
			Why: "NGINX proxies the agent's gRPC calls to the manager's own services. When those are down NGINX " +
				"answers 502, 503 or 504 and the agent logs \"code = Unavailable\", even though TLS and certificates are fine.",
			Needs: need, Wants: []FactKind{FactAgentConfig}, Evaluate: evalBackend, Fix: fixBackend, Core: true,
			LogKinds: []logparse.Kind{logparse.KindGRPCBackendUnavailable},
		},
		{
			ID: "grpc-path-missing", Category: CategoryGRPC,
			Title: "manager routes the agent's gRPC service",
			Why: "NGINX needs a location for the agent's service path. A missing one answers 404 (the agent logs " +
				"\"code = Unimplemented\"); it also happens when an agent v3 talks to NGINX Instance Manager, which serves only v2 agents.",
			// NGINX's configuration, when read, says which server to add the locations to.
			Needs: need, Wants: []FactKind{FactAgentConfig, FactNginx}, Evaluate: evalPathMissing, Fix: fixPathMissing,
		},
		{
			ID: "misdirected-request", Category: CategoryGRPC,
			Title: "server name and :authority select the same NGINX server",
			Why: "When the TLS server name picks one NGINX server block and the HTTP/2 :authority another that verifies " +
				"client certificates, NGINX refuses the request with 421 Misdirected Request.",
			Needs: need, Wants: []FactKind{FactAgentConfig}, Evaluate: evalMisdirected, Fix: fixMisdirected,
			LogKinds: []logparse.Kind{logparse.KindMisdirectedRequest},
		},
	}
}

// grpcAnswer returns the reply to the agent's gRPC request, or a skip saying why there is
// none or why it never got past NGINX's certificate check.
func grpcAnswer(f *Facts) (*probes.HTTPObservation, Result, bool) {
	a := agentAttempt(f)
	if a == nil {
		return nil, Skip("skipped: no connection to the endpoint"), false
	}
	if !f.Endpoint.PlainText && handshake(a) == nil {
		return nil, noHandshake(f), false
	}
	h := httpReply(a)
	if h == nil {
		if a.HTTP != nil && a.HTTP.Error != nil {
			return nil, Skip("skipped: no HTTP answer (%s)", a.HTTP.Error.Kind), false
		}
		return nil, Skip("skipped: no HTTP answer"), false
	}
	if rejection(h) != 0 {
		return nil, Skip("skipped: NGINX refused the request before passing it on (see agent-cert-rejected)"), false
	}
	return h, Result{}, true
}

func statusText(code int) string { return fmt.Sprintf("%d %s", code, http.StatusText(code)) }

func evalBackend(f *Facts) Result {
	h, skip, ok := grpcAnswer(f)
	if !ok {
		return skip
	}
	switch {
	case h.Status == 502 || h.Status == 503 || h.Status == 504:
		return Fail("NGINX answered %s: the gRPC service behind it is not answering", statusText(h.Status)).Because(CauseBackendUnavailable).
			With(Quoted(f.Endpoint.Address, "reply to POST "+f.Endpoint.Path, replyText(h)))
	case isGRPC(h) && grpcStatus(h) == 14:
		return Fail("the request got grpc-status 14 Unavailable (%s): the gRPC service behind NGINX is not answering", h.GRPCMessage).Because(CauseBackendUnavailable)
	case isGRPC(h):
		return OK("the request reached the gRPC service (%s)", replyText(h))
	case h.Status == 404 || h.Status == 421:
		return Skip("skipped: NGINX answered %s itself (see %s)", statusText(h.Status), map[int]string{404: "grpc-path-missing", 421: "misdirected-request"}[h.Status])
	}
	return Warn("NGINX answered with a non-gRPC reply (%s); the agent cannot use it", replyText(h)).Because(CauseNotGRPC)
}

func fixBackend(*Facts, Result) []Step {
	return []Step{{
		Title: "Start the manager's services behind NGINX",
		Why: "NGINX Instance Manager 2.x proxies agents to nms-dpm (Commander) and nms-ingestion (metrics) over " +
			"Unix sockets in /var/run/nms; restarting nms starts them, and its journal says why one stopped.",
		Commands: []string{
			"systemctl is-active nms nms-core nms-dpm nms-ingestion || true",
			"sudo systemctl restart nms",
			"sudo journalctl -u nms -u nms-dpm -u nms-ingestion -n 50 --no-pager",
		},
		Verify: []string{"grpc-backend-unavailable"},
		Host:   HostManager,
	}}
}

func evalPathMissing(f *Facts) Result {
	h, skip, ok := grpcAnswer(f)
	if !ok {
		return skip
	}
	path := f.Endpoint.Path
	switch {
	case h.Status == 404:
		return Fail("NGINX has no location for %s (HTTP 404)", path).Because(CauseNoLocation)
	case isGRPC(h) && grpcStatus(h) == 12:
		return Fail("the service behind NGINX does not implement %s (grpc-status 12 Unimplemented)", path).Because(CauseUnimplemented)
	}
	return OK("%s is routed (%s)", path, replyText(h))
}

func fixPathMissing(f *Facts, _ Result) []Step {
	h := hostOf(f)
	var steps []Step
	if h.Format == probes.FormatV3 {
		steps = append(steps, Step{
			Title: "Use an agent generation the manager serves",
			Why: "This is agent v3 (NGINX One); NGINX Instance Manager supports agent 2.x only. Install agent v2 " +
				"from the manager, or connect this agent to NGINX One.",
			Commands: []string{"nginx-agent --version"},
			Verify:   []string{"grpc-path-missing"},
			Host:     HostAgent,
			Manual:   "changing the agent's generation or its management plane is a decision for its owner",
		})
	}
	return append(steps, agentLocationsStep(f, "grpc-path-missing"))
}

// agentLocationsStep adds the agents' gRPC locations to the server that takes them, passing
// to the grpc_pass its other agent locations use (else a placeholder for the backend).
func agentLocationsStep(f *Facts, verify ...string) Step {
	format := probes.FormatV2
	if f != nil && f.Agent != nil {
		format = f.Agent.Format
	}
	services := []string{"/f5.nginx.agent.sdk.Commander", "/f5.nginx.agent.sdk.MetricsService"}
	if format == probes.FormatV3 {
		services = []string{"/mpi.v1.CommandService", "/mpi.v1.FileService"}
	}
	backend := "grpc://<backend-address>"
	var server *probes.NginxServer
	if managerHost(f) {
		server = f.Nginx.Servers[0]
		for _, s := range f.Nginx.Servers {
			for _, r := range s.Routes {
				if r.GRPCPass != "" {
					server, backend = s, r.GRPCPass
				}
			}
		}
	}
	var lines []string
	for _, svc := range services {
		if server != nil && hasLocation(server, svc) {
			continue
		}
		lines = append(lines, "location "+svc+" {", "    grpc_pass "+backend+";", "}")
	}
	title := "Route the agents' gRPC services to the management plane"
	why := "NGINX needs a location per agent service with grpc_pass to the manager's gRPC listener; NGINX Instance " +
		"Manager 2.x ships them in its nms-http.conf."
	if server == nil {
		diff := "+    " + strings.Join(lines, "\n+    ")
		return nginxStep(f, title, why, managerNginxConf, diff, verify...)
	}
	anchor := serverAnchor(server, "ssl_verify_client", "ssl_client_certificate", "server_name")
	return nginxStep(f, title, why, anchor.File, insertAfterDiff(anchor, lines...), verify...)
}

// hasLocation reports whether server s has a location whose path is prefix.
func hasLocation(s *probes.NginxServer, prefix string) bool {
	for _, d := range s.Directive.Find("location") {
		if len(d.Args) > 0 && d.Args[len(d.Args)-1] == prefix {
			return true
		}
	}
	return false
}

func evalMisdirected(f *Facts) Result {
	h, skip, ok := grpcAnswer(f)
	if !ok {
		return skip
	}
	if h.Status == 421 {
		return Fail("NGINX answered 421 Misdirected Request: server name %q and :authority %q select different server blocks",
			f.Endpoint.ServerName, f.Endpoint.Authority).Because(CauseMisdirected)
	}
	return OK("server name and :authority select the same server (%s)", replyText(h))
}

func fixMisdirected(f *Facts, _ Result) []Step {
	h := hostOf(f)
	return []Step{
		{
			Title:    "Find the server block that should take the agents",
			Why:      "Its server_name must be the name the agent sends.",
			Commands: []string{"sudo nginx -T 2>/dev/null | grep -n 'server_name\\|ssl_verify_client' || true"},
			Verify:   []string{"misdirected-request"},
			Host:     HostManager,
		},
		h.editStep("Send that server_name as the agent's server name",
			"The agent's server name sets the TLS SNI and the :authority together, so both then pick the same block.",
			[]string{"misdirected-request", "server-name-mismatch"}, edit{setServerName, "<manager-host>"}),
	}
}
