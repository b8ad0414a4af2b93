package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportDirection enforces the architecture: cmd → tui → diagnostics → (probes,
// logparse). probes and logparse import nothing of ours; diagnostics never imports the tui,
// cmd or a Charm library; only the tui imports Charm.
func TestImportDirection(t *testing.T) {
	const mod = "github.com/mtls-doctor/mtls-doctor"
	rules := map[string][]string{
		"probes":            {mod + "/diagnostics", mod + "/tui", mod + "/logparse", mod + "/cmd", "charm.land/"},
		"probes/pki":        {mod + "/diagnostics", mod + "/tui", mod + "/logparse", mod + "/cmd", "charm.land/"},
		"probes/osslverify": {mod + "/diagnostics", mod + "/tui", mod + "/logparse", mod + "/cmd", "charm.land/"},
		"probes/nginxconf":  {mod + "/diagnostics", mod + "/tui", mod + "/logparse", mod + "/cmd", "charm.land/"},
		"probes/mesh":       {mod + "/diagnostics", mod + "/tui", mod + "/logparse", mod + "/cmd", "charm.land/"},
		"logparse":          {mod + "/probes", mod + "/diagnostics", mod + "/tui", mod + "/cmd", "charm.land/"},
		"diagnostics":       {mod + "/tui", mod + "/cmd", "charm.land/", "github.com/charmbracelet/"},
		"probes/collect":    {mod + "/tui", mod + "/cmd", "charm.land/"},
		"probes/lab":        {mod + "/diagnostics", mod + "/tui", mod + "/cmd", "charm.land/"},
		// A leaf every layer uses to make untrusted text safe: it imports nothing of ours.
		"internal/safetext":    {mod + "/probes", mod + "/logparse", mod + "/diagnostics", mod + "/tui", mod + "/cmd", "charm.land/"},
		"internal/regularfile": {mod + "/probes", mod + "/logparse", mod + "/diagnostics", mod + "/tui", mod + "/cmd", "charm.land/"},
	}
	for pkg, forbidden := range rules {
		out, err := exec.Command("go", "list", "-deps", mod+"/"+pkg).CombinedOutput()
		if err != nil {
			if strings.Contains(string(out), "no Go files") || strings.Contains(string(out), "cannot find") ||
				strings.Contains(string(out), "directory not found") {
				continue // package not written yet
			}
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, bad := range forbidden {
				if dep == bad || strings.HasPrefix(dep, bad+"/") || (strings.HasSuffix(bad, "/") && strings.HasPrefix(dep, bad)) {
					t.Errorf("%s imports %s", pkg, dep)
				}
			}
		}
	}
}
