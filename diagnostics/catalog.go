package diagnostics

// DefaultCatalog returns the agent-side checks in display order: the agent's configuration,
// its files, its certificate, the network path, the server certificate as the agent
// verifies it, how NGINX judges the agent's certificate, and what answers behind NGINX.
// Each call builds a fresh catalog, so callers may filter or extend it.
func DefaultCatalog() Catalog {
	var c Catalog
	for _, group := range [][]Check{
		agentConfigChecks(),
		agentFileChecks(),
		agentCertChecks(),
		networkChecks(),
		serverCertChecks(),
		clientAuthChecks(),
		grpcChecks(),
		managerChecks(),
	} {
		c = append(c, group...)
	}
	// Checks seen from both ends also judge the NGINX config; checks named after an event
	// kind also read the logs (checks_logs.go), and the logs category follows.
	// NGINX's live verdict names its cause by ID (live_verdict.go).
	return withLogs(withLiveVerdict(withManagerSide(c)))
}
