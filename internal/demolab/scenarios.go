package demolab

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"time"

	"github.com/mtls-doctor/mtls-doctor/internal/pki"
)

// Scenario is one fault the lab can plant.
type Scenario struct {
	// Name is the scenario's name and, for a faulty lab, the ID of the finding the
	// diagnosis must report.
	Name string
	// Title says in a few words what is broken.
	Title string
	// ExpectFinding is the finding ID that names the fault; "" for the healthy lab.
	ExpectFinding string
	// Upstream marks the scenarios of the NGINX → upstream link (a front server passing to
	// an upstream that requires a client certificate); the others are agent → manager.
	Upstream bool
}

// scenario is a Scenario with the change that plants its fault in the healthy lab.
type scenario struct {
	Scenario
	setup func(l *Lab) error
	// onDisk, when set, changes the lab's files after NGINX has loaded them: a fault that
	// `nginx -t` refuses, while the running NGINX keeps the configuration it loaded.
	onDisk func(l *Lab) error
}

const day = 24 * time.Hour

// scenarios are the lab's setups, in the order --list shows them: the healthy lab, the
// default, then the catalog's order (agent config, files, agent certificate, network,
// server certificate, client authentication, gRPC).
var scenarios = []scenario{
	{
		Scenario: Scenario{Name: "healthy", Title: "everything right: the agent's request reaches the gRPC service"},
		// Everything right includes the server-level error_page that turns 495/496 into
		// grpc-status 16; the fault scenarios keep NGINX's default HTML 400, as most hosts do.
		setup: func(l *Lab) error { l.mgr.grpcErrors = true; return nil },
	},
	{
		Scenario: Scenario{Name: "agent-cert-expired", Title: "the agent's certificate expired yesterday; the handshake still succeeds"},
		setup:    func(l *Lab) error { return l.replaceAgentCert(pki.Spec{From: -366 * day, Until: -day}) },
	},

	{
		Scenario: Scenario{Name: "agent-config-missing", Title: "the agent's nginx-agent.conf does not exist"},
		setup:    func(l *Lab) error { l.agent.config = configMissing; return nil },
	},
	{
		Scenario: Scenario{Name: "agent-config-invalid", Title: "nginx-agent.conf has a key indented one space too far"},
		setup:    func(l *Lab) error { l.agent.config = configBroken; return nil },
	},
	{
		Scenario: Scenario{Name: "agent-tls-disabled", Title: "the agent has tls.enable false and speaks plaintext to the TLS port"},
		setup:    func(l *Lab) error { l.agent.conf.tlsEnable = false; return nil },
	},
	{
		Scenario: Scenario{Name: "agent-skip-verify", Title: "the agent accepts any server certificate (tls.skip_verify true)"},
		setup:    func(l *Lab) error { l.agent.conf.skipVerify = true; return nil },
	},

	{
		Scenario: Scenario{Name: "agent-cert-not-configured", Title: "the agent config names no tls.cert or tls.key"},
		setup:    func(l *Lab) error { l.agent.conf.cert, l.agent.conf.key = "", ""; return nil },
	},
	{
		Scenario: Scenario{Name: "agent-key-mismatch", Title: "the agent's key file holds another certificate's key"},
		setup: func(l *Lab) error {
			other, err := l.newAgentCert(pki.Spec{CommonName: "agent-02.test.local"})
			if err != nil {
				return err
			}
			l.agent.key = other
			return nil
		},
	},

	{
		Scenario: Scenario{Name: "agent-cert-expiring", Title: "the agent's certificate expires in 5 days"},
		setup:    func(l *Lab) error { return l.replaceAgentCert(pki.Spec{From: -360 * day, Until: 5 * day}) },
	},
	{
		Scenario: Scenario{Name: "agent-cert-not-yet-valid", Title: "the agent's certificate is valid only from the day after tomorrow"},
		setup:    func(l *Lab) error { return l.replaceAgentCert(pki.Spec{From: 2 * day, Until: 367 * day}) },
	},
	{
		Scenario: Scenario{Name: "agent-cert-wrong-purpose", Title: "the agent's certificate is for servers only (EKU serverAuth)"},
		setup: func(l *Lab) error {
			return l.replaceAgentCert(pki.Spec{EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		},
	},
	{
		Scenario: Scenario{Name: "agent-chain-incomplete", Title: "the agent's certificate comes from an intermediate its cert file lacks"},
		setup: func(l *Lab) error {
			inter, err := l.newCA(l.root, "nms-agent-int-ca")
			if err != nil {
				return err
			}
			c, err := l.gen.Issue(inter, pki.Spec{CommonName: AgentName, EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
			if err != nil {
				return err
			}
			// The CA bundle given to agents holds the intermediate, as the issuing CA's bundle
			// does; only the cert file lacks it.
			l.agent.cert, l.agent.key, l.agent.issuer = []*pki.Cert{c}, c, []*pki.Cert{inter}
			l.agent.ca = []*pki.Cert{l.inter, inter, l.root}
			return nil
		},
	},

	{
		Scenario: Scenario{Name: "endpoint-refused", Title: "NGINX is not running: the agent's port refuses connections"},
		setup:    func(l *Lab) error { l.mgr.running = false; return nil },
	},
	{
		Scenario: Scenario{Name: "endpoint-not-tls", Title: "the agent's port is an HTTP/2 listener without ssl"},
		setup:    func(l *Lab) error { l.mgr.ssl = false; return nil },
	},
	{
		Scenario: Scenario{Name: "tls-version-mismatch", Title: "NGINX allows only TLSv1.1 (ssl_protocols); the agent needs TLS 1.2 or newer"},
		setup: func(l *Lab) error {
			l.mgr.protocols = []uint16{tls.VersionTLS11}
			return nil
		},
	},
	{
		Scenario: Scenario{Name: "alpn-h2-missing", Title: "NGINX's listener has no HTTP/2: grpc-go refuses it"},
		setup:    func(l *Lab) error { l.mgr.http2 = false; return nil },
	},

	{
		Scenario: Scenario{Name: "server-cert-untrusted", Title: "the agent's tls.ca holds a CA that did not issue the manager's certificate"},
		setup: func(l *Lab) error {
			other, err := l.newCA(nil, otherName)
			if err != nil {
				return err
			}
			l.agent.ca = []*pki.Cert{other}
			return nil
		},
	},
	{
		Scenario: Scenario{Name: "server-chain-incomplete", Title: "NGINX serves its certificate without the intermediate; the agent trusts the root"},
		setup: func(l *Lab) error {
			l.mgr.chain = l.mgr.chain[:1]
			l.agent.ca = []*pki.Cert{l.root}
			return nil
		},
	},
	{
		Scenario: Scenario{Name: "server-name-mismatch", Title: "the agent dials 127.0.0.1 without server.command; the certificate names " + ServerName},
		setup:    func(l *Lab) error { l.agent.conf.command = ""; return nil },
	},
	{
		Scenario: Scenario{Name: "server-cert-cn-only", Title: "the manager's certificate has its name only in the CN, no SANs"},
		setup:    func(l *Lab) error { return l.replaceServerCert(pki.Spec{DNSNames: []string{}}) },
	},
	{
		Scenario: Scenario{Name: "server-cert-expired", Title: "the manager's certificate expired yesterday"},
		setup:    func(l *Lab) error { return l.replaceServerCert(pki.Spec{From: -366 * day, Until: -day}) },
	},
	{
		Scenario: Scenario{Name: "server-cert-expiring", Title: "the manager's certificate expires in 5 days"},
		setup:    func(l *Lab) error { return l.replaceServerCert(pki.Spec{From: -360 * day, Until: 5 * day}) },
	},
	{
		Scenario: Scenario{Name: "server-cert-not-yet-valid", Title: "the manager's certificate is valid only from the day after tomorrow"},
		setup:    func(l *Lab) error { return l.replaceServerCert(pki.Spec{From: 2 * day, Until: 367 * day}) },
	},
	{
		Scenario: Scenario{Name: "server-cert-wrong-purpose", Title: "the manager's certificate is for clients only (EKU clientAuth)"},
		setup: func(l *Lab) error {
			return l.replaceServerCert(pki.Spec{EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		},
	},

	{
		Scenario: Scenario{Name: "agent-cert-unknown-ca", Title: "the agent's certificate comes from a CA the manager does not list"},
		setup: func(l *Lab) error {
			other, err := l.newCA(nil, otherName)
			if err != nil {
				return err
			}
			c, err := l.gen.Issue(other, pki.Spec{CommonName: AgentName, EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
			if err != nil {
				return err
			}
			l.agent.cert, l.agent.key = []*pki.Cert{c}, c
			return nil
		},
	},
	{
		// A cause with no finding of its own: OpenSSL's (7:certificate signature failure).
		// (A CA recreated under the same name gives 21, which agent-cert-unknown-ca names.)
		Scenario: Scenario{Name: "agent-cert-rejected", Title: "the agent's certificate carries a damaged signature: Go sends it, NGINX rejects it"},
		setup: func(l *Lab) error {
			c, err := l.gen.Issue(l.root, pki.Spec{CommonName: AgentName, EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
			if err != nil {
				return err
			}
			// The signature is the DER's last field: flipping its last byte breaks only it.
			raw := bytes.Clone(c.Cert.Raw)
			raw[len(raw)-1] ^= 0xff
			damaged, err := x509.ParseCertificate(raw)
			if err != nil {
				return err
			}
			c = &pki.Cert{Cert: damaged, Key: c.Key}
			l.agent.cert, l.agent.key = []*pki.Cert{c}, c
			return nil
		},
	},
	{
		Scenario: Scenario{Name: "client-verify-depth", Title: "the agent's certificate sits under two intermediates; ssl_verify_depth is 1"},
		setup: func(l *Lab) error {
			a, err := l.newCA(l.root, "nms-agent-int-a")
			if err != nil {
				return err
			}
			b, err := l.newCA(a, "nms-agent-int-b")
			if err != nil {
				return err
			}
			c, err := l.gen.Issue(b, pki.Spec{CommonName: AgentName, EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
			if err != nil {
				return err
			}
			l.agent.cert, l.agent.key, l.agent.issuer = []*pki.Cert{c, b, a}, c, []*pki.Cert{b, a}
			return nil
		},
	},
	{
		Scenario: Scenario{Name: "client-auth-not-required", Title: "ssl_verify_client optional: any client reaches the agent services"},
		setup:    func(l *Lab) error { l.mgr.verifyClient = "optional"; return nil },
	},

	{
		Scenario: Scenario{Name: "grpc-backend-unavailable", Title: "the management plane's gRPC services behind NGINX are down"},
		setup:    func(l *Lab) error { l.mgr.backendDown = true; return nil },
	},
	{
		Scenario: Scenario{Name: "grpc-path-missing", Title: "NGINX has no location for the agent's Commander service"},
		setup: func(l *Lab) error {
			l.mgr.locations = []string{"/f5.nginx.agent.sdk.MetricsService"}
			return nil
		},
	},
	{
		// The fault is NGINX's default, which every other scenario keeps.
		Scenario: Scenario{Name: "nginx-grpc-errors-unmapped", Title: "NGINX has no error_page for 495/496: a rejected agent gets an HTML 400"},
	},
}

// upstreamScenarios are the NGINX → upstream link's faults, listed after the agent's: the
// client certificate NGINX presents, then how NGINX verifies the upstream, then the
// connection itself.
var upstreamScenarios = []scenario{
	{
		Scenario: Scenario{Name: "upstream-client-cert-not-configured",
			Title: "grpc_pass grpcs:// to a Go gRPC service requiring a client certificate; the location sets proxy_ssl_certificate, which grpc_pass ignores"},
		setup: func(l *Lab) error {
			if err := l.setUpstream(upstreamGo, true); err != nil {
				return err
			}
			l.front.certPrefix = "proxy_ssl_"
			return nil
		},
	},
	{
		Scenario: Scenario{Name: "upstream-client-cert-expired", Title: "NGINX's client certificate for its upstream expired yesterday: the upstream answers 400"},
		setup:    upstreamSetup(func(l *Lab) error { return l.replaceProxyCert(pki.Spec{From: -366 * day, Until: -day}) }),
	},
	{
		Scenario: Scenario{Name: "upstream-client-cert-expiring", Title: "NGINX's client certificate for its upstream expires in 5 days"},
		setup:    upstreamSetup(func(l *Lab) error { return l.replaceProxyCert(pki.Spec{From: -360 * day, Until: 5 * day}) }),
	},
	{
		Scenario: Scenario{Name: "upstream-client-cert-not-yet-valid", Title: "NGINX's client certificate for its upstream is valid only from the day after tomorrow"},
		setup:    upstreamSetup(func(l *Lab) error { return l.replaceProxyCert(pki.Spec{From: 2 * day, Until: 367 * day}) }),
	},
	{
		Scenario: Scenario{Name: "upstream-client-cert-wrong-purpose", Title: "NGINX's client certificate for its upstream is for servers only (EKU serverAuth)"},
		setup: upstreamSetup(func(l *Lab) error {
			return l.replaceProxyCert(pki.Spec{EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		}),
	},
	{
		Scenario: Scenario{Name: "upstream-client-cert-unknown-ca", Title: "NGINX's client certificate comes from a CA the upstream's ssl_client_certificate lacks"},
		setup: upstreamSetup(func(l *Lab) error {
			other, err := l.newCA(nil, otherName)
			if err != nil {
				return err
			}
			c, err := l.newProxyCert(other, pki.Spec{})
			if err != nil {
				return err
			}
			l.front.cert, l.front.key = []*pki.Cert{c}, c
			return nil
		}),
	},
	{
		Scenario: Scenario{Name: "upstream-client-key-mismatch",
			Title: "NGINX's upstream client key file holds another certificate's key: nginx -t refuses it, the running NGINX keeps the old one"},
		setup: upstreamSetup(func(l *Lab) error { return nil }),
		onDisk: func(l *Lab) error {
			other, err := l.newProxyCert(l.up.ca, pki.Spec{CommonName: "other-proxy.test.local"})
			if err != nil {
				return err
			}
			l.front.key = other
			return nil
		},
	},
	{
		Scenario: Scenario{Name: "upstream-client-cert-weak-key",
			Title: "NGINX's upstream client certificate was renewed with an RSA 1024-bit key: OpenSSL refuses it (ee key too small)"},
		setup: upstreamSetup(func(l *Lab) error { return nil }),
		onDisk: func(l *Lab) error {
			return l.replaceProxyCert(pki.Spec{Key: pki.RSA, Bits: 1024})
		},
	},
	{
		Scenario: Scenario{Name: "upstream-client-chain-incomplete", Title: "NGINX's client certificate comes from an intermediate its cert file lacks; the upstream trusts the root"},
		setup: upstreamSetup(func(l *Lab) error {
			inter, err := l.newCA(l.up.ca, clientInterName)
			if err != nil {
				return err
			}
			c, err := l.newProxyCert(inter, pki.Spec{})
			if err != nil {
				return err
			}
			l.front.cert, l.front.key, l.up.clientInter = []*pki.Cert{c}, c, inter
			// The front's CA bundle holds the intermediate, as the issuing CA's bundle does;
			// only the client certificate file lacks it.
			l.front.trusted = []*pki.Cert{l.up.ca, inter}
			return nil
		}),
	},
	{
		Scenario: Scenario{Name: "upstream-client-cert-revoked", Title: "the upstream's ssl_crl revokes NGINX's client certificate"},
		setup: upstreamSetup(func(l *Lab) error {
			crl, err := l.gen.CRL(l.up.ca, l.front.key)
			if err != nil {
				return err
			}
			l.up.crl = crl
			return nil
		}),
	},
	{
		Scenario: Scenario{Name: "upstream-cert-expired", Title: "the upstream's own certificate expired yesterday: NGINX refuses it and answers 502"},
		setup: upstreamSetup(func(l *Lab) error {
			c, err := l.gen.Issue(l.up.ca, pki.Spec{CommonName: UpstreamName, DNSNames: []string{UpstreamName},
				EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, From: -366 * day, Until: -day})
			if err != nil {
				return err
			}
			l.up.chain = []*pki.Cert{c}
			return nil
		}),
	},
	{
		Scenario: Scenario{Name: "upstream-cert-revoked", Title: "proxy_ssl_crl revokes the upstream's certificate: NGINX refuses it and answers 502"},
		setup: upstreamSetup(func(l *Lab) error {
			crl, err := l.gen.CRL(l.up.ca, l.up.chain[0])
			if err != nil {
				return err
			}
			l.front.crl = crl
			return nil
		}),
	},
	{
		Scenario: Scenario{Name: "upstream-verify-depth", Title: "the upstream's certificate sits under two intermediates; proxy_ssl_verify_depth is 1"},
		setup: upstreamSetup(func(l *Lab) error {
			a, err := l.newCA(l.up.ca, "backend-int-a")
			if err != nil {
				return err
			}
			b, err := l.newCA(a, "backend-int-b")
			if err != nil {
				return err
			}
			c, err := l.gen.Issue(b, pki.Spec{CommonName: UpstreamName, DNSNames: []string{UpstreamName},
				EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			if err != nil {
				return err
			}
			l.up.chain = []*pki.Cert{c, b, a}
			return nil
		}),
	},
	{
		Scenario: Scenario{Name: "upstream-verify-off", Title: "NGINX sends traffic to its upstream without verifying it (no proxy_ssl_verify)"},
		setup: upstreamSetup(func(l *Lab) error {
			l.front.verify, l.front.trusted = false, nil
			return nil
		}),
	},
	{
		Scenario: Scenario{Name: "upstream-trusted-ca-missing",
			Title: "proxy_ssl_verify on without proxy_ssl_trusted_certificate: nginx -t refuses the configuration, the running NGINX keeps the old one"},
		setup:  upstreamSetup(func(l *Lab) error { return nil }),
		onDisk: func(l *Lab) error { l.front.trusted = nil; return nil },
	},
	{
		Scenario: Scenario{Name: "upstream-cert-untrusted", Title: "proxy_ssl_trusted_certificate holds a CA that did not issue the upstream's certificate"},
		setup: upstreamSetup(func(l *Lab) error {
			other, err := l.newCA(nil, otherName)
			if err != nil {
				return err
			}
			l.front.trusted = []*pki.Cert{other}
			return nil
		}),
	},
	{
		Scenario: Scenario{Name: "upstream-name-mismatch", Title: "no proxy_ssl_name: NGINX checks the upstream's certificate for 127.0.0.1, it names " + UpstreamName},
		setup:    upstreamSetup(func(l *Lab) error { l.front.name = ""; return nil }),
	},
	{
		Scenario: Scenario{Name: "upstream-sni-missing", Title: "no proxy_ssl_server_name: the upstream port's default server answers instead of " + UpstreamName},
		setup: upstreamSetup(func(l *Lab) error {
			def, err := l.gen.Issue(l.up.ca, pki.Spec{CommonName: "default.test.local", DNSNames: []string{"default.test.local"},
				EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			if err != nil {
				return err
			}
			l.front.sni, l.up.sniDefault = false, def
			return nil
		}),
	},
	{
		Scenario: Scenario{Name: "upstream-tls-version-mismatch", Title: "the upstream allows only TLSv1.3; proxy_ssl_protocols offers TLSv1.2"},
		setup: upstreamSetup(func(l *Lab) error {
			l.front.protocols, l.up.protocols = "TLSv1.2", []uint16{tls.VersionTLS13}
			return nil
		}),
	},
	{
		Scenario: Scenario{Name: "upstream-not-tls", Title: "proxy_pass https:// to the upstream's plain HTTP port instead of its TLS port"},
		setup:    upstreamSetup(func(l *Lab) error { l.up.plainPort = true; return nil }),
	},
	{
		Scenario: Scenario{Name: "upstream-unreachable", Title: "the upstream service (systemd unit " + upstreamUnit + ") is stopped: NGINX answers 502"},
		setup: func(l *Lab) error {
			if err := l.setUpstream(upstreamGo, false); err != nil {
				return err
			}
			l.up.stopped = true
			return nil
		},
	},
}

// clientInterName is the intermediate CA of upstream-client-chain-incomplete.
const clientInterName = "backend-client-int"

// upstreamSetup is the setup of a scenario on a proxy_pass https:// link to an NGINX
// upstream: the healthy link, then fault.
func upstreamSetup(fault func(l *Lab) error) func(l *Lab) error {
	return func(l *Lab) error {
		if err := l.setUpstream(upstreamNginx, false); err != nil {
			return err
		}
		return fault(l)
	}
}

func init() {
	for i := range upstreamScenarios {
		upstreamScenarios[i].Upstream = true
	}
	scenarios = append(scenarios, upstreamScenarios...)
}

// Scenarios lists the lab's scenarios in display order: "healthy" first, then one per
// fault. Each faulty scenario's Name is the finding ID that names its fault.
func Scenarios() []Scenario {
	out := make([]Scenario, len(scenarios))
	for i, s := range scenarios {
		out[i] = s.Scenario
		if s.Name != "healthy" {
			out[i].ExpectFinding = s.Name
		}
	}
	return out
}

func scenarioByName(name string) (scenario, bool) {
	for _, s := range scenarios {
		if s.Name == name {
			if s.Name != "healthy" {
				s.ExpectFinding = s.Name
			}
			return s, true
		}
	}
	return scenario{}, false
}

// replaceServerCert gives the manager a new certificate from the server CA, served with
// the intermediate.
func (l *Lab) replaceServerCert(spec pki.Spec) error {
	c, err := l.newServerCert(spec)
	if err != nil {
		return err
	}
	l.mgr.chain = []*pki.Cert{c, l.inter}
	return nil
}

// replaceAgentCert gives the agent a new certificate and key from the agent CA.
func (l *Lab) replaceAgentCert(spec pki.Spec) error {
	c, err := l.newAgentCert(spec)
	if err != nil {
		return err
	}
	l.agent.cert, l.agent.key, l.agent.issuer = []*pki.Cert{c}, c, nil
	return nil
}
