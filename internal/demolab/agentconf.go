package demolab

import (
	"fmt"
	"strconv"
	"strings"
)

// agentConf is the Agent v2 nginx-agent.conf the lab writes (nginx/agent v2
// nginx-agent.conf and src/core/config/types.go).
type agentConf struct {
	host       string
	port       int
	command    string // server.command and server.metrics: SNI, verified name, :authority
	tlsEnable  bool
	cert, key  string
	ca         string
	skipVerify bool
}

func (a agentConf) yaml(scenario string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# NGINX Agent v2 configuration written by the mtls-doctor demo lab (scenario %s).\n", scenario)
	fmt.Fprintf(&b, "server:\n  host: %s\n  grpcPort: %d\n", yamlString(a.host), a.port)
	if a.command != "" {
		fmt.Fprintf(&b, "  command: %s\n  metrics: %s\n", yamlString(a.command), yamlString(a.command))
	}
	fmt.Fprintf(&b, "tls:\n  enable: %t\n", a.tlsEnable)
	for _, kv := range [][2]string{{"cert", a.cert}, {"key", a.key}, {"ca", a.ca}} {
		if kv[1] != "" {
			fmt.Fprintf(&b, "  %s: %s\n", kv[0], yamlString(kv[1]))
		}
	}
	fmt.Fprintf(&b, "  skip_verify: %t\n", a.skipVerify)
	return b.String()
}

// brokenYAML is conf with the mistake people make most in nginx-agent.conf: a key indented
// one space too far, which the agent's YAML parser rejects at startup.
func brokenYAML(conf string) string {
	return strings.Replace(conf, "\n  grpcPort:", "\n   grpcPort:", 1)
}

// yamlString writes s plain when that is safe, else double-quoted (temporary directories
// on some systems contain spaces or other characters YAML would misread).
func yamlString(s string) string {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+", r)) {
			return strconv.Quote(s)
		}
	}
	if s == "" {
		return `""`
	}
	return s
}
