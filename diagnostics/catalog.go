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
		upstreamChecks(),
		logChecks(),
	} {
		c = append(c, group...)
	}
	// Each literal declares its manager half, live verdict and log kinds; assembling
	// combines them into the check that runs (assemble.go).
	return c.assembled()
}
