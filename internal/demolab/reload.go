package demolab

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/mtls-doctor/mtls-doctor/internal/pki"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// This file is the endpoint's NGINX side read from files: what `nginx -t` checks and what
// `nginx -s reload` loads. A fix step edits the lab's nginx.conf, its certificate, key and
// client CA files with its own commands; the lab's nginx shim tests and reloads them, and
// the endpoint then behaves as the files say.

// loadManager reads conf and the files it names into the endpoint's configuration, as
// `nginx -t` would judge them: a syntax error, a missing or unparsable file, a key that does
// not match its certificate or an unknown ssl_verify_client value is an error. The
// server block is the one listening on the lab's port. What is not configuration (NGINX
// running, the backend up) is kept from cur.
func (l *Lab) loadManager(c *nginxconf.Config, conf string, cur manager) (manager, error) {
	_, port, _ := net.SplitHostPort(l.Addr)
	var srv *nginxconf.Server
	var lst nginxconf.Listen
	for _, s := range c.HTTPServers() {
		for _, ls := range s.Listens {
			if strconv.Itoa(ls.Port) == port && srv == nil {
				srv, lst = s, ls
			}
		}
	}
	if srv == nil {
		return cur, fmt.Errorf("no server block listens on %s in %s", l.Addr, conf)
	}
	m, err := loadServerTLS(srv, lst, cur)
	if err != nil {
		return cur, err
	}
	m.grpcErrors = false
	for _, ep := range srv.ErrorPages {
		if ep.Maps(495) && ep.Maps(496) {
			m.grpcErrors = true
		}
	}
	m.locations, m.upstreams = nil, map[string]string{}
	for _, loc := range srv.Locations {
		if loc.GRPCPass.IsSet() && loc.Modifier == "" && strings.HasPrefix(loc.Path, "/") {
			m.locations = append(m.locations, loc.Path)
			m.upstreams[loc.Path] = strings.TrimPrefix(strings.TrimPrefix(loc.GRPCPass.Value, "grpc://"), "grpcs://")
		}
	}
	return m, nil
}

// loadServerTLS reads a server block's listen and ssl_* settings and the files they name
// into cur's TLS fields, as `nginx -t` judges them: a missing ssl_certificate on an ssl
// listener, an unloadable file or an unknown value is an error.
func loadServerTLS(srv *nginxconf.Server, lst nginxconf.Listen, cur manager) (manager, error) {
	m := cur
	var err error
	m.ssl, m.http2 = lst.SSL, srv.HTTP2Enabled()
	ssl := srv.SSL
	if m.ssl {
		if len(ssl.Certificates) == 0 || len(ssl.CertificateKeys) == 0 {
			return cur, fmt.Errorf(`no "ssl_certificate" is defined for the listen ... ssl directive in %s`, srv.Pos())
		}
		m.chain, err = loadKeyPair(ssl.Certificates[0].Path, ssl.CertificateKeys[0].Path)
		if err != nil {
			return cur, err
		}
	}
	m.clientCAs = nil
	if p := ssl.ClientCertificate.Path; p != "" {
		cas, err := loadCerts(p)
		if err != nil {
			return cur, fmt.Errorf("SSL_CTX_load_verify_locations(\"%s\") failed: %w", p, err)
		}
		m.clientCAs = cas
	}
	switch v := ssl.VerifyClient.Value; v {
	case "", "off", "on", "optional", "optional_no_ca":
		m.verifyClient = v
		if v == "" {
			m.verifyClient = "off"
		}
	default:
		return cur, fmt.Errorf("invalid value \"%s\" in \"ssl_verify_client\" directive, it must be \"on\", \"off\", \"optional\" or \"optional_no_ca\"", v)
	}
	if m.verifyClient == "on" && len(m.clientCAs) == 0 {
		return cur, fmt.Errorf("no ssl_client_certificate for ssl_verify_client in %s", srv.Pos())
	}
	m.verifyDepth = 1
	if v := ssl.VerifyDepth.Value; v != "" {
		if m.verifyDepth, err = strconv.Atoi(v); err != nil || m.verifyDepth < 0 {
			return cur, fmt.Errorf("invalid value \"%s\" in \"ssl_verify_depth\" directive", v)
		}
	}
	m.protocols = []uint16{tls.VersionTLS12, tls.VersionTLS13}
	if ssl.Protocols.IsSet() {
		m.protocols = nil
		for _, name := range ssl.Protocols.Args() {
			v, ok := protocolVersion(name)
			if !ok {
				return cur, fmt.Errorf("invalid value \"%s\" in \"ssl_protocols\" directive", name)
			}
			if v != 0 {
				m.protocols = append(m.protocols, v)
			}
		}
		slices.Sort(m.protocols)
		if len(m.protocols) == 0 {
			m.protocols = []uint16{tls.VersionTLS12, tls.VersionTLS13}
		}
	}
	m.crls = nil
	if p := ssl.CRL.Path; p != "" {
		if m.crls, err = loadCRLs(p); err != nil {
			return cur, fmt.Errorf("X509_load_crl_file(\"%s\") failed: %w", p, err)
		}
	}
	return m, nil
}

// emerg words a parse error as nginx -t does.
func emerg(err error) error {
	var e nginxconf.Error
	if errors.As(err, &e) {
		return e
	}
	return err
}

// protocolVersion maps an ssl_protocols name to its TLS version; SSLv2 and SSLv3 are
// accepted by NGINX and never negotiated (0).
func protocolVersion(name string) (uint16, bool) {
	switch name {
	case "SSLv2", "SSLv3":
		return 0, true
	}
	for v, n := range protocolName {
		if n == name {
			return v, true
		}
	}
	return 0, false
}

// loadKeyPair loads ssl_certificate and ssl_certificate_key as NGINX does: the chain in
// file order, the key matching the first certificate.
func loadKeyPair(certPath, keyPath string) ([]*pki.Cert, error) {
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("cannot load certificate \"%s\" or key \"%s\": %w", certPath, keyPath, err)
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("cannot load certificate key \"%s\": not a signing key", keyPath)
	}
	var chain []*pki.Cert
	for i, der := range pair.Certificate {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("cannot load certificate \"%s\": %w", certPath, err)
		}
		pc := &pki.Cert{Cert: c}
		if i == 0 {
			pc.Key = signer
		}
		chain = append(chain, pc)
	}
	return chain, nil
}

// loadCerts reads every CERTIFICATE block of a PEM file; a file without one is an error.
func loadCerts(path string) ([]*pki.Cert, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*pki.Cert
	for rest := data; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, &pki.Cert{Cert: c})
	}
	if len(out) == 0 {
		return nil, errors.New("no certificate in the file")
	}
	return out, nil
}

// loadCRLs reads every X509 CRL block of a PEM file.
func loadCRLs(path string) ([]*x509.RevocationList, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*x509.RevocationList
	for rest := data; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type != "X509 CRL" {
			continue
		}
		crl, err := x509.ParseRevocationList(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, crl)
	}
	if len(out) == 0 {
		return nil, errors.New("no CRL in the file")
	}
	return out, nil
}

// reloadLocked loads the configuration from conf ("" for the lab's nginx.conf) and, when
// it is valid, makes the endpoint use it from the next connection on, as an NGINX reload
// does (open connections are closed here rather than drained). An invalid configuration
// is logged to error.log and the old one is kept, as NGINX's master process does.
func (l *Lab) reloadLocked(conf string) error {
	loaded, err := l.loadConf(conf)
	if err != nil {
		if l.logs != nil {
			l.logs.emerg(err.Error())
		}
		return err
	}
	l.mgr, l.frontRun = loaded.mgr, loaded.front
	for i, p := range loaded.up {
		l.upRun.ports[i].conf, l.upRun.ports[i].named = p.conf, p.named
	}
	if l.conns != nil {
		l.conns.closeAll()
	}
	if l.upRun.queue == nil {
		return nil // Start: the listeners start after the logs open
	}
	if err := l.syncUpstreamLocked(); err != nil {
		return err
	}
	if err := l.syncFrontLocked(); err != nil {
		return err
	}
	// Traffic goes on after a reload: one request shows in error.log how the link fares.
	l.accepts.Add(1)
	go func() {
		defer l.accepts.Done()
		l.sendTraffic()
	}()
	return nil
}

// loadedConf is what one nginx.conf configures in the lab: the manager's endpoint and the
// upstream (its default server and its server blocks by name).
type loadedConf struct {
	mgr   manager
	up    []upstreamPort
	front frontConf
}

// loadConf reads conf ("" for the lab's nginx.conf) as `nginx -t` would.
func (l *Lab) loadConf(conf string) (loadedConf, error) {
	if conf == "" {
		conf = l.NginxConfPath()
	}
	c, err := nginxconf.Load(conf, nginxconf.Options{Prefix: l.Dir + "/"})
	if err != nil {
		return loadedConf{}, emerg(err)
	}
	var out loadedConf
	if out.mgr, err = l.loadManager(c, conf, l.mgr); err != nil {
		return loadedConf{}, err
	}
	if out.up, err = l.loadUpstream(c); err != nil {
		return loadedConf{}, err
	}
	if out.front, err = l.loadFront(c); err != nil {
		return loadedConf{}, err
	}
	return out, nil
}
