package demolab

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/mtls-doctor/mtls-doctor/internal/pki"
)

// fixes repair the lab for one finding: each changes the lab's state and says what it
// changed. They run with l.mu held; the files are written and the endpoint restarted after.
var fixes = map[string]func(l *Lab) (string, error){
	"agent-cert-expired":       reissueAgent,
	"agent-cert-expiring":      reissueAgent,
	"agent-cert-not-yet-valid": reissueAgent,
	"agent-cert-wrong-purpose": reissueAgent,
	"agent-cert-unknown-ca":    reissueAgent,
	"agent-cert-rejected":      reissueAgent,
	"agent-config-missing":     writeConfig,
	"agent-config-invalid":     writeConfig,
	"agent-skip-verify": func(l *Lab) (string, error) {
		l.agent.conf.skipVerify = false
		return fmt.Sprintf("set tls.skip_verify to false in %s", l.AgentConfigPath), nil
	},
	"agent-cert-not-configured": func(l *Lab) (string, error) {
		l.agent.conf.cert, l.agent.conf.key = l.path(AgentCertName), l.path(AgentKeyName)
		return fmt.Sprintf("set tls.cert and tls.key to %s and %s in %s", l.agent.conf.cert, l.agent.conf.key, l.AgentConfigPath), nil
	},
	"agent-chain-incomplete": func(l *Lab) (string, error) {
		if len(l.agent.issuer) == 0 {
			return "", fmt.Errorf("the agent's certificate is issued by the root; there is no intermediate to add")
		}
		l.agent.cert = append(l.agent.cert[:1:1], l.agent.issuer...)
		return fmt.Sprintf("appended the intermediate %s to %s", l.agent.issuer[0].Cert.Subject.CommonName, l.path(AgentCertName)), nil
	},
	"client-verify-depth": func(l *Lab) (string, error) {
		// From the agent's host a deep chain stays a warning whatever NGINX's depth is, so
		// the fix the re-check can confirm is the other one the playbook gives: a CA
		// closer to the root.
		inter, err := l.gen.Issue(l.root, pki.Spec{CommonName: "nms-agent-int-ca", IsCA: true})
		if err != nil {
			return "", err
		}
		c, err := l.gen.Issue(inter, pki.Spec{CommonName: AgentName, EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		if err != nil {
			return "", err
		}
		l.agent.cert, l.agent.key, l.agent.issuer = []*pki.Cert{c, inter}, c, []*pki.Cert{inter}
		return fmt.Sprintf("issued %s a new certificate from %s, one intermediate below %s, within ssl_verify_depth 1", AgentName, "nms-agent-int-ca", rootName), nil
	},
	"agent-key-mismatch": func(l *Lab) (string, error) {
		c, err := l.newAgentCert(pki.Spec{Signer: l.agent.key.Key})
		if err != nil {
			return "", err
		}
		l.agent.cert = []*pki.Cert{c}
		return fmt.Sprintf("issued %s a new certificate for the key in %s (from %s)", AgentName, l.path(AgentKeyName), rootName), nil
	},
	"server-name-mismatch": func(l *Lab) (string, error) {
		l.agent.conf.command = ServerName
		return fmt.Sprintf("set server.command and server.metrics to %s in %s", ServerName, l.AgentConfigPath), nil
	},
	"server-cert-untrusted": func(l *Lab) (string, error) {
		l.agent.ca = []*pki.Cert{l.inter, l.root}
		return fmt.Sprintf("wrote the manager's CA chain (%s, %s) to %s", interName, rootName, l.path(AgentCAName)), nil
	},
	"server-chain-incomplete": func(l *Lab) (string, error) {
		l.mgr.chain = []*pki.Cert{l.mgr.chain[0], l.inter}
		return fmt.Sprintf("added the intermediate %s to NGINX's ssl_certificate and restarted the endpoint", interName), nil
	},
	"server-cert-expired":       reissueServer,
	"server-cert-expiring":      reissueServer,
	"server-cert-not-yet-valid": reissueServer,
	"server-cert-cn-only":       reissueServer,
	"server-cert-wrong-purpose": reissueServer,
	"endpoint-not-tls": func(l *Lab) (string, error) {
		l.mgr.ssl = true
		return "added ssl to NGINX's listen directive and restarted the endpoint", nil
	},
	"tls-version-mismatch": modernProtocols,
	"grpc-backend-unavailable": func(l *Lab) (string, error) {
		l.mgr.backendDown = false
		return "started the management plane's gRPC services behind NGINX", nil
	},
	"alpn-h2-missing":     enableHTTP2,
	"nginx-http2-missing": enableHTTP2,
	"nginx-tls-protocols": modernProtocols,
	"nginx-grpc-errors-unmapped": func(l *Lab) (string, error) {
		l.mgr.grpcErrors = true
		return "mapped 495 and 496 to grpc-status 16 (error_page 495 496 = @grpc_unauthenticated) and restarted the endpoint", nil
	},
	"client-auth-not-required": func(l *Lab) (string, error) {
		l.mgr.verifyClient = "on"
		return "set ssl_verify_client on and restarted the endpoint", nil
	},
	"agent-tls-disabled": func(l *Lab) (string, error) {
		l.agent.conf.tlsEnable = true
		return fmt.Sprintf("set tls.enable to true in %s", l.AgentConfigPath), nil
	},
	"endpoint-refused": func(l *Lab) (string, error) {
		l.mgr.running = true
		return "started the endpoint on " + l.Addr, nil
	},
	"grpc-path-missing": func(l *Lab) (string, error) {
		var added []string
		for _, svc := range slices.Sorted(maps.Keys(agentServices)) {
			if !slices.Contains(l.mgr.locations, svc) {
				l.mgr.locations = append(l.mgr.locations, svc)
				added = append(added, svc)
			}
		}
		if len(added) == 0 {
			return "", fmt.Errorf("NGINX already has locations for every agent service")
		}
		return "added `location " + strings.Join(added, "`, `location ") + "` with grpc_pass and restarted the endpoint", nil
	},
}

func enableHTTP2(l *Lab) (string, error) {
	l.mgr.http2 = true
	return "turned http2 on for NGINX's listener and restarted the endpoint", nil
}

func modernProtocols(l *Lab) (string, error) {
	l.mgr.protocols = []uint16{tls.VersionTLS12, tls.VersionTLS13}
	return "set ssl_protocols TLSv1.2 TLSv1.3 and restarted the endpoint", nil
}

func writeConfig(l *Lab) (string, error) {
	l.agent.config = configOK
	return "wrote a valid nginx-agent.conf to " + l.AgentConfigPath, nil
}

func reissueAgent(l *Lab) (string, error) {
	c, err := l.newAgentCert(pki.Spec{})
	if err != nil {
		return "", err
	}
	l.agent.cert, l.agent.key, l.agent.issuer = []*pki.Cert{c}, c, nil
	return fmt.Sprintf("issued %s a new certificate and key from %s (clientAuth, valid until %s) in %s",
		AgentName, rootName, c.Cert.NotAfter.UTC().Format("2006-01-02"), l.path(AgentCertName)), nil
}

func reissueServer(l *Lab) (string, error) {
	c, err := l.newServerCert(pki.Spec{})
	if err != nil {
		return "", err
	}
	l.mgr.chain = []*pki.Cert{c, l.inter}
	return fmt.Sprintf("issued the manager a new certificate for %s from %s (valid until %s) and restarted the endpoint",
		ServerName, interName, c.Cert.NotAfter.UTC().Format("2006-01-02")), nil
}

// Fixable reports whether Apply can repair findingID.
func Fixable(findingID string) bool {
	_, ok := fixes[findingID]
	return ok
}

// Apply repairs the lab for findingID as an operator following its playbook would (a new
// certificate, an edited agent configuration, a changed NGINX setting followed by a
// restart of the endpoint) and says in one line what it changed. It fails for a finding
// the lab cannot repair. A re-check afterwards no longer reports the finding.
func (l *Lab) Apply(ctx context.Context, findingID string) (string, error) {
	fix, ok := fixes[findingID]
	if !ok {
		return "", fmt.Errorf("the demo lab cannot fix %s", findingID)
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return "", fmt.Errorf("the demo lab is closed")
	}
	did, err := fix(l)
	if err != nil {
		return "", fmt.Errorf("fix %s: %w", findingID, err)
	}
	if err := l.writeFilesLocked(); err != nil {
		return "", err
	}
	// NGINX restarted: existing connections go, the new configuration takes the next ones.
	l.conns.closeAll()
	if l.mgr.running {
		if err := l.listenLocked(); err != nil {
			return "", err
		}
	}
	return did, nil
}
