package diagnostics

// DefaultCatalog returns the agent-side checks in display order: the agent's configuration,
// its files, its certificate, the network path, the server certificate as the agent
// verifies it, how NGINX judges the agent's certificate, and what answers behind NGINX.
// Each call builds a fresh catalog, so callers may filter or extend it.
func DefaultCatalog() Catalog {
	groups := [][]Check{
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
	}
	n := 0
	for _, group := range groups {
		n += len(group)
	}
	// Each literal declares its manager half, live verdict and log kinds; assembling
	// combines them into the check that runs (assemble.go). The catalog is new, so each
	// check is assembled in place.
	c := make(Catalog, 0, n)
	for _, group := range groups {
		for _, ch := range group {
			c = append(c, ch.assembled())
		}
	}
	return c
}
