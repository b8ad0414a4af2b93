// Package demolab is the demo's manager endpoint: an in-process server on 127.0.0.1 that
// behaves like NGINX with ssl_verify_client on in front of an NGINX Agent gRPC management
// plane, with a PKI generated for it and an Agent v2 configuration pointing at it, and one
// fault planted per scenario.
//
// Like NGINX, the endpoint never fails the TLS handshake over the client certificate: it
// asks for one (advertising its client CA names), completes the handshake, and judges the
// certificate when the first request arrives, answering 400 with NGINX's own page and
// writing NGINX's own [info] line to its error.log. An accepted request gets the gRPC
// reply the management plane's backend would give. No nginx binary is needed.
//
// The endpoint's configuration is its files: nginx.conf and the certificate, key and CA
// files it names, read at start and again on `nginx -s reload`. A fix step's own commands
// change them, run with the lab's shims first on PATH (InstallShims, BinDir) and its
// placeholders filled from Inputs, so the demo proves the commands a user would run.
//
// The upstream scenarios add NGINX's other mTLS link (upstream.go): a front server whose
// location passes to an upstream on 127.0.0.1 with proxy_ssl_* (or grpc_ssl_*), and the
// upstream itself, an NGINX server block requiring a client certificate or a Go gRPC
// service that verifies it in the handshake.
package demolab

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mtls-doctor/mtls-doctor/internal/pki"
)

// Names used throughout the lab, as NGINX Instance Manager's make_certs.sh lays out a PKI:
// root → intermediate → server certificate; agents issued by the root.
const (
	// ServerName is the manager's name: the server certificate's SAN, NGINX's server_name
	// and the agent's server.command.
	ServerName = "nim.test.local"
	// AgentName is the agent certificate's common name.
	AgentName = "agent-01.test.local"
	rootName  = "nms-ca"
	interName = "nms-int-ca"
	otherName = "other-ca"
)

// File names inside Lab.Dir.
const (
	AgentConfigName = "nginx-agent.conf"
	AgentCertName   = "agent.crt"
	AgentKeyName    = "agent.key"
	AgentCAName     = "ca.pem"
	ErrorLogName    = "error.log"
	NginxConfName   = "nginx.conf" // in the manager directory
	AccessLogName   = "access.log"
	managerDir      = "manager"
)

// The agent v2 gRPC services NGINX Instance Manager routes (nginx/agent v2
// sdk/proto/command_svc.pb.go, metrics.svc.pb.go; NIM's nms-http.conf),
// with their methods.
var agentServices = map[string][]string{
	"/f5.nginx.agent.sdk.Commander":      {"CommandChannel", "Download", "Upload"},
	"/f5.nginx.agent.sdk.MetricsService": {"Stream", "StreamEvents"},
}

// manager is the endpoint's configuration: what an NGINX server block would say.
type manager struct {
	chain        []*pki.Cert // ssl_certificate, leaf first; ssl_certificate_key is chain[0].Key
	clientCAs    []*pki.Cert // ssl_client_certificate
	verifyClient string      // ssl_verify_client: on, optional or off
	verifyDepth  int         // ssl_verify_depth
	http2        bool        // http2 on
	locations    []string    // agent service locations with grpc_pass
	running      bool        // NGINX listens
	ssl          bool        // the listener has ssl (else plaintext HTTP/2)
	protocols    []uint16    // ssl_protocols as TLS versions, lowest first
	backendDown  bool        // the gRPC services behind NGINX do not answer
	backendAddr  string      // where grpc_pass points (a closed port while backendDown)
	// grpcErrors maps 495 and 496 to grpc-status 16 at server level (error_page to a
	// named location), as NGINX's errors.grpc_conf does; off, rejected agents get HTML.
	grpcErrors bool
	// crls are what ssl_crl loads; none means revocation is not checked.
	crls []*x509.RevocationList
	// upstreams are each location's grpc_pass address, as read from nginx.conf: a location
	// passing anywhere but backendAddr gets 502, as the address has nothing behind it.
	upstreams map[string]string
}

// agentSide is what the agent's files and configuration hold.
type agentSide struct {
	cert   []*pki.Cert // tls.cert, leaf first
	key    *pki.Cert   // whose key is in tls.key
	ca     []*pki.Cert // tls.ca
	issuer []*pki.Cert // the intermediates between the agent's leaf and its root, if any
	conf   agentConf
	// config says how nginx-agent.conf is on disk: written, missing or broken.
	config configState
}

// configState is the state of the agent's configuration file.
type configState int

const (
	configOK configState = iota
	configMissing
	configBroken
)

// Lab is one running scenario.
type Lab struct {
	// Addr is the endpoint's 127.0.0.1:port (nothing listens there in endpoint-refused).
	Addr string
	// AgentConfigPath is the Agent v2 nginx-agent.conf pointing at Addr.
	AgentConfigPath string
	// Dir holds every file of the lab.
	Dir string
	// Scenario is the scenario the lab was started with.
	Scenario Scenario

	now               time.Time // the lab's clock at start (Start's now)
	started           time.Time // the wall clock at start, for the monotonic elapsed time
	gen               *pki.Generator
	root, inter       *pki.Cert
	serverCA, agentCA *pki.Cert // issuers of the server and agent certificates

	mu    sync.Mutex
	mgr   manager
	agent agentSide
	ln    net.Listener
	// parked holds Addr while nothing listens there (NGINX stopped); backendPark holds the
	// gRPC backend's address for the lab's life.
	parked, backendPark *parkedPort
	closed              bool
	accepts             sync.WaitGroup

	stopOnDone func() bool

	// The upstream link (upstream scenarios only): the front's location, the upstream as
	// the scenario wrote it and as loaded; frontPark holds the front's port.
	front     front
	up        upstreamSide
	upRun     upstreamRun
	frontPark *parkedPort
	// The front as loaded at the last reload, its listener and HTTP server.
	frontRun   frontConf
	frontLn    net.Listener
	frontSrv   *http.Server
	frontQueue *chanListener

	// ctl is the listener the shims talk to (InstallShims), with the token they must send.
	ctl      net.Listener
	ctlToken string

	srv   *http.Server
	conns *connTable
	queue *chanListener
	logs  *logWriter
	// readBuffer and maxRequestLine bound a plain-HTTP client's request (the constants
	// of the same names); FuzzServeConn makes them small, so that short inputs reach
	// what a long line does.
	readBuffer, maxRequestLine int
}

// Start builds the scenario name in dir (which must exist and should be empty), starts
// its endpoint on 127.0.0.1 and writes the agent configuration. Certificates are valid
// relative to now. The lab runs until Close or until ctx is done.
func Start(ctx context.Context, name, dir string, now time.Time) (*Lab, error) {
	sc, ok := scenarioByName(name)
	if !ok {
		return nil, fmt.Errorf("lab: no scenario %q", name)
	}
	if now.IsZero() {
		return nil, errors.New("lab: now is not set")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, managerDir), 0o755); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	l := &Lab{Dir: dir, Scenario: sc.Scenario, now: now, started: time.Now(), gen: pki.New(now),
		AgentConfigPath: filepath.Join(dir, AgentConfigName), readBuffer: readBuffer, maxRequestLine: maxRequestLine}
	if err := l.buildHealthy(); err != nil {
		return nil, err
	}
	if sc.setup != nil {
		if err := sc.setup(l); err != nil {
			return nil, fmt.Errorf("lab: scenario %s: %w", name, err)
		}
	}
	// Both ports stay parked (bound, refusing) while nothing serves them, so a lab running
	// in parallel cannot be handed either one.
	park, err := parkPort("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	l.parked = park
	l.Addr = park.addr
	l.agent.conf.port = park.port
	if l.backendPark, err = parkPort("127.0.0.1:0"); err != nil {
		park.Close()
		return nil, err
	}
	l.mgr.backendAddr = l.backendPark.addr
	release := func() { l.parked.Close(); l.backendPark.Close(); l.closeUpstreamLocked(); l.frontPark.Close() }
	if l.HasUpstream() {
		if err := l.parkUpstreamPorts(); err != nil {
			release()
			return nil, err
		}
		if l.frontPark, err = parkPort("127.0.0.1:0"); err != nil {
			release()
			return nil, err
		}
	}
	if err := l.writeFilesLocked(); err != nil {
		release()
		return nil, err
	}
	if err := l.writePKILocked(); err != nil {
		release()
		return nil, err
	}
	// From here on the endpoint is what its files say, as after any reload.
	if err := l.reloadLocked(""); err != nil {
		release()
		return nil, fmt.Errorf("lab: scenario %s: its nginx.conf: %w", name, err)
	}
	if l.logs, err = openLogs(dir, l.Clock); err != nil {
		release()
		return nil, err
	}
	l.startHTTP()
	if l.mgr.running {
		if err := l.listenLocked(); err != nil {
			release()
			return nil, err
		}
	}
	if err := l.syncUpstreamLocked(); err != nil {
		l.Close()
		return nil, err
	}
	if err := l.syncFrontLocked(); err != nil {
		l.Close()
		return nil, err
	}
	// One request through the front, so error.log shows what NGINX logs about the link.
	l.sendTraffic()
	if sc.onDisk != nil {
		l.mu.Lock()
		err := sc.onDisk(l)
		if err == nil {
			err = l.writeFilesLocked()
		}
		l.mu.Unlock()
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("lab: scenario %s: %w", name, err)
		}
	}
	if ctx != nil {
		l.stopOnDone = context.AfterFunc(ctx, func() { l.Close() })
	}
	return l, nil
}

// buildHealthy makes the PKI and the healthy configuration every scenario starts from.
func (l *Lab) buildHealthy() error {
	var err error
	if l.root, err = l.newCA(nil, rootName); err != nil {
		return err
	}
	if l.inter, err = l.newCA(l.root, interName); err != nil {
		return err
	}
	l.serverCA, l.agentCA = l.inter, l.root
	server, err := l.newServerCert(pki.Spec{})
	if err != nil {
		return err
	}
	agent, err := l.newAgentCert(pki.Spec{})
	if err != nil {
		return err
	}
	l.mgr = manager{
		chain:        []*pki.Cert{server, l.inter},
		clientCAs:    []*pki.Cert{l.inter, l.root},
		verifyClient: "on",
		verifyDepth:  1,
		http2:        true,
		locations:    slices.Sorted(maps.Keys(agentServices)),
		running:      true,
		ssl:          true,
		protocols:    []uint16{tls.VersionTLS12, tls.VersionTLS13},
	}
	l.agent = agentSide{
		cert: []*pki.Cert{agent},
		key:  agent,
		ca:   []*pki.Cert{l.inter, l.root},
		conf: agentConf{
			host: "127.0.0.1", command: ServerName, tlsEnable: true,
			cert: l.path(AgentCertName), key: l.path(AgentKeyName), ca: l.path(AgentCAName),
		},
	}
	return nil
}

// CAs are valid from caFrom to caUntil around the lab's now, so that every certificate a
// scenario issues, backdated a year and a day (expired) or postdated two days (not yet
// valid), falls inside its issuer's validity: a CA cannot issue before it exists, and
// readers and some validators notice when one seems to.
const (
	caFrom  = -2 * 365 * day
	caUntil = 10 * 365 * day
)

// newCA issues a CA certificate named cn from parent, or a self-signed root when parent
// is nil, valid from caFrom to caUntil.
func (l *Lab) newCA(parent *pki.Cert, cn string) (*pki.Cert, error) {
	return l.gen.Issue(parent, pki.Spec{CommonName: cn, IsCA: true, From: caFrom, Until: caUntil})
}

// newServerCert issues the manager's certificate from the server CA; spec's zero fields
// take the healthy defaults.
func (l *Lab) newServerCert(spec pki.Spec) (*pki.Cert, error) {
	if spec.CommonName == "" {
		spec.CommonName = ServerName
	}
	if spec.DNSNames == nil {
		spec.DNSNames = []string{ServerName}
	}
	if spec.EKU == nil {
		spec.EKU = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	return l.gen.Issue(l.serverCA, spec)
}

// newAgentCert issues an agent certificate from the agent CA; spec's zero fields take the
// healthy defaults.
func (l *Lab) newAgentCert(spec pki.Spec) (*pki.Cert, error) {
	if spec.CommonName == "" {
		spec.CommonName = AgentName
	}
	if spec.EKU == nil {
		spec.EKU = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	return l.gen.Issue(l.agentCA, spec)
}

// Clock is the lab's time: Start's now plus the time elapsed since. The endpoint judges
// certificates, stamps its Date header and its log lines with it, so a lab started at a
// fixed instant is consistent with an engine judging at that instant.
func (l *Lab) Clock() time.Time { return l.now.Add(time.Since(l.started)) }

func (l *Lab) path(name string) string { return filepath.Join(l.Dir, name) }

// ErrorLogPath is the lab's NGINX-style error.log (level info).
func (l *Lab) ErrorLogPath() string { return l.path(ErrorLogName) }

// NginxConfPath is the nginx.conf the endpoint behaves like (not read by the endpoint).
func (l *Lab) NginxConfPath() string { return l.path(filepath.Join(managerDir, NginxConfName)) }

// AccessLogPath is the lab's NGINX-style access.log (combined format).
func (l *Lab) AccessLogPath() string { return l.path(AccessLogName) }

// Close stops the endpoint and closes the logs. The files stay in Dir.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	if l.stopOnDone != nil {
		l.stopOnDone()
	}
	if l.ln != nil {
		l.ln.Close()
		l.ln = nil
	}
	l.parked.Close()
	l.backendPark.Close()
	l.closeUpstreamLocked()
	if l.frontLn != nil {
		l.frontLn.Close()
		l.frontLn = nil
	}
	l.frontPark.Close()
	if l.ctl != nil {
		l.ctl.Close()
	}
	l.mu.Unlock()
	l.accepts.Wait()
	var err error
	if l.srv != nil {
		err = l.srv.Close()
		if l.upRun.srv != nil {
			l.upRun.srv.Close()
		}
		if l.frontSrv != nil {
			l.frontSrv.Close()
		}
		l.conns.closeAll()
	}
	if l.logs != nil {
		if cerr := l.logs.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// writeFilesLocked writes the agent's files and configuration, and the manager's files,
// which the endpoint reads at start (reloadLocked).
func (l *Lab) writeFilesLocked() error {
	a := l.agent
	writes := []struct {
		name string
		data func() ([]byte, error)
		mode os.FileMode
	}{
		{AgentCertName, func() ([]byte, error) { return pki.CertsPEM(a.cert...), nil }, 0o644},
		{AgentKeyName, func() ([]byte, error) { return a.key.KeyPEM(pki.PKCS8) }, 0o600},
		{AgentCAName, func() ([]byte, error) { return pki.CertsPEM(a.ca...), nil }, 0o644},
		{filepath.Join(managerDir, "server.pem"), func() ([]byte, error) { return pki.CertsPEM(l.mgr.chain...), nil }, 0o644},
		{filepath.Join(managerDir, "server.key"), func() ([]byte, error) { return l.mgr.chain[0].KeyPEM(pki.PKCS8) }, 0o600},
		{filepath.Join(managerDir, "client-ca.pem"), func() ([]byte, error) { return pki.CertsPEM(l.mgr.clientCAs...), nil }, 0o644},
		{filepath.Join(managerDir, NginxConfName), func() ([]byte, error) { return []byte(l.nginxConfLocked()), nil }, 0o644},
	}
	for name, data := range l.upstreamFiles() {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, ".key") {
			mode = 0o600
		}
		writes = append(writes, struct {
			name string
			data func() ([]byte, error)
			mode os.FileMode
		}{filepath.Join(managerDir, name), data, mode})
	}
	switch a.config {
	case configOK:
		writes = append(writes, struct {
			name string
			data func() ([]byte, error)
			mode os.FileMode
		}{AgentConfigName, func() ([]byte, error) { return []byte(a.conf.yaml(l.Scenario.Name)), nil }, 0o644})
	case configBroken:
		writes = append(writes, struct {
			name string
			data func() ([]byte, error)
			mode os.FileMode
		}{AgentConfigName, func() ([]byte, error) { return []byte(brokenYAML(a.conf.yaml(l.Scenario.Name))), nil }, 0o644})
	case configMissing:
		if err := os.Remove(l.AgentConfigPath); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("lab: %w", err)
		}
	}
	for _, w := range writes {
		data, err := w.data()
		if err != nil {
			return fmt.Errorf("lab: %s: %w", w.name, err)
		}
		if err := pki.WriteFile(l.path(w.name), data, w.mode); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
	}
	return nil
}

// nginxConfLocked is a complete nginx.conf for the server the endpoint behaves like: what
// an operator would have written for NGINX 1.22 and later (http2 as a listen parameter).
// The endpoint reads it (reloadLocked), and so do people and the manager-side checks.
func (l *Lab) nginxConfLocked() string {
	m := l.mgr
	mgr := func(name string) string { return l.path(filepath.Join(managerDir, name)) }
	var b strings.Builder
	b.WriteString("# The NGINX configuration the mtls-doctor demo endpoint behaves like (scenario " + l.Scenario.Name + ").\n")
	b.WriteString("# The endpoint runs in-process and reads this file at start and on `nginx -s reload`.\n")
	if !m.running {
		b.WriteString("# NGINX is not running: nothing listens on " + l.Addr + ".\n")
	}
	if m.backendDown {
		b.WriteString("# The gRPC services at " + m.backendAddr + " are not running.\n")
	}
	b.WriteString("pid " + mgr("nginx.pid") + ";\n")
	b.WriteString("error_log " + l.ErrorLogPath() + " info;\n\n")
	b.WriteString("events {\n    worker_connections 256;\n}\n\n")
	b.WriteString("http {\n")
	b.WriteString("    access_log " + l.AccessLogPath() + ";\n")
	b.WriteString("    server_tokens off;\n\n")
	b.WriteString("    server {\n")
	listen := "        listen " + l.Addr
	if m.ssl {
		listen += " ssl"
	}
	if m.http2 {
		listen += " http2"
	}
	b.WriteString(listen + ";\n")
	b.WriteString("        server_name " + ServerName + ";\n\n")
	if m.ssl {
		b.WriteString("        ssl_certificate        " + mgr("server.pem") + ";\n")
		b.WriteString("        ssl_certificate_key    " + mgr("server.key") + ";\n")
		var names []string
		for _, v := range m.protocols {
			names = append(names, protocolName[v])
		}
		b.WriteString("        ssl_protocols          " + strings.Join(names, " ") + ";\n")
		b.WriteString("        ssl_client_certificate " + mgr("client-ca.pem") + ";\n")
		b.WriteString("        ssl_verify_client      " + m.verifyClient + ";\n")
		if m.verifyDepth != 1 {
			b.WriteString("        ssl_verify_depth       " + strconv.Itoa(m.verifyDepth) + ";\n")
		}
	}
	if m.grpcErrors {
		b.WriteString("\n        error_page 495 496 = @grpc_unauthenticated;\n")
		b.WriteString("        location @grpc_unauthenticated {\n")
		b.WriteString("            default_type application/grpc;\n")
		b.WriteString("            add_header grpc-status " + grpcUnauthenticated + ";\n")
		b.WriteString("            add_header grpc-message \"" + grpcRejectedMessage + "\";\n")
		b.WriteString("            return 200;\n        }\n")
	}
	for _, loc := range m.locations {
		b.WriteString("\n        location " + loc + " {\n            grpc_pass grpc://" + m.backendAddr + ";\n        }\n")
	}
	b.WriteString("    }\n")
	b.WriteString(l.upstreamConf())
	b.WriteString("}\n")
	return b.String()
}

// protocolName is ssl_protocols' name of a TLS version.
var protocolName = map[uint16]string{
	tls.VersionTLS10: "TLSv1", tls.VersionTLS11: "TLSv1.1", tls.VersionTLS12: "TLSv1.2", tls.VersionTLS13: "TLSv1.3",
}
