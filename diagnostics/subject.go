package diagnostics

// defaultSubject is what a check judges when its Result names no subject: the mesh for mesh
// checks, else the agent's link to its management plane as the agent dials it, else (a
// manager-only run) the NGINX server that serves the agents.
func defaultSubject(c Category, f *Facts) Subject {
	if c == CategoryMesh {
		return Subject{Kind: SubjectMesh}
	}
	if f != nil && f.Agent != nil {
		return agentLink(f)
	}
	if f != nil && f.Nginx != nil && len(f.Nginx.Servers) > 0 {
		if s := f.Nginx.Servers[0]; s.Directive != nil {
			return Subject{Kind: SubjectNginxServer, Name: s.Directive.Pos()}
		}
	}
	return Subject{Kind: SubjectAgentLink}
}

// agentLink names the agent's connection by the address the agent dials.
func agentLink(f *Facts) Subject {
	s := Subject{Kind: SubjectAgentLink}
	if addr := f.Agent.Address(); addr != "" {
		s.Name = "nginx-agent → " + addr
	}
	return s
}

// meshCASubject is SPIRE's upstream CA, named by the settings file that names its files.
func meshCASubject(f *Facts) Subject {
	s := Subject{Kind: SubjectMeshCA}
	switch {
	case f.Mesh == nil:
	case f.Mesh.Upstream != nil:
		s.Name = f.Mesh.Upstream.Path
	case f.Mesh.Values != nil:
		s.Name = f.Mesh.Values.Path
	}
	return s
}

// meshSettingsSubject is the mesh's mTLS settings, named by the file they were read from.
func meshSettingsSubject(f *Facts) Subject {
	s := Subject{Kind: SubjectMesh}
	switch {
	case f.Mesh == nil:
	case f.Mesh.MeshConfig != nil:
		s.Name = f.Mesh.MeshConfig.Path
	case f.Mesh.Values != nil:
		s.Name = f.Mesh.Values.Path
	}
	return s
}
