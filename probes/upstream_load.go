package probes

import (
	"crypto/tls"
	"time"

	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// LoadUpstreams reads the upstream links of cfg and the files they name; nothing is
// probed (Offline is set until ProbeUpstreams runs). servers are cfg's http servers when
// already worked out (NginxFacts.HTTPServers); nil works them out. version is the nginx
// version whose defaults apply ("" when unknown). A nil cfg gives facts without links.
func LoadUpstreams(cfg *nginxconf.Config, servers []*nginxconf.Server, version string) *UpstreamFacts {
	start := time.Now()
	uf := &UpstreamFacts{Version: version, Offline: true}
	if cfg == nil {
		return uf
	}
	cache := upstreamFileCache{files: fileCache{}, pairs: map[[3]string]*clientPair{}}
	if servers == nil {
		servers = cfg.HTTPServers()
	}
	for _, l := range cfg.UpstreamLinksIn(servers, version) {
		uf.Links = append(uf.Links, cache.link(l))
	}
	uf.Duration = time.Since(start)
	return uf
}

// upstreamFileCache loads each file, and unlocks each key, once for all links: a front
// NGINX often repeats one proxy_ssl_certificate in many locations.
type upstreamFileCache struct {
	files fileCache
	pairs map[[3]string]*clientPair
}

// clientPair is the outcome of loading a link's certificate and key as NGINX would
// present them.
type clientPair struct {
	password *PasswordFileFacts
	unlock   *KeyUnlock
	cert     *tls.Certificate
	err      string
}

func (c upstreamFileCache) link(l *nginxconf.UpstreamLink) *UpstreamLinkFacts {
	lf := &UpstreamLinkFacts{UpstreamLink: l}
	ssl := l.SSL
	lf.Cert = c.files.tls(RoleCert, ssl.Certificate.Setting)
	lf.Key = c.files.tls(RoleKey, ssl.CertificateKey.Setting)
	lf.TrustedCA = c.files.tls(RoleCA, ssl.TrustedCertificate.Setting)
	lf.CRL = c.files.crl(ssl.CRL.Setting)
	key := [3]string{ssl.Certificate.Path, ssl.CertificateKey.Path, ssl.PasswordFile.Path}
	p, ok := c.pairs[key]
	if !ok {
		p = loadClientPair(lf, ssl)
		c.pairs[key] = p
	}
	lf.PasswordFile, lf.KeyUnlock = p.password, p.unlock
	lf.clientCert, lf.clientCertErr = p.cert, p.err
	return lf
}

// loadClientPair reads the password file, unlocks an encrypted key with it, and builds
// the certificate the probe presents. Passphrases live only inside this call.
func loadClientPair(lf *UpstreamLinkFacts, ssl nginxconf.UpstreamTLS) *clientPair {
	p := &clientPair{}
	var passphrases [][]byte
	var lines []int
	if ssl.PasswordFile.IsSet() && ssl.PasswordFile.Path != "" {
		p.password, passphrases, lines = readPasswordFile(ssl.PasswordFile.Path)
	}
	switch {
	case !ssl.Certificate.IsSet():
		return p // nothing to present: NGINX sends no certificate either
	case ssl.Certificate.Path == "" || (ssl.CertificateKey.IsSet() && ssl.CertificateKey.Path == ""):
		p.err = "the certificate or key path holds variables or data: it is chosen per request"
		return p
	case !ssl.CertificateKey.IsSet():
		p.err = "no \"" + ssl.CertificateKey.Name + "\" is defined for certificate \"" + ssl.Certificate.Value + "\""
		return p
	}
	certPEM, err := readTLSFileCapped(ssl.Certificate.Path, MaxTLSFileSize)
	if err != nil {
		p.err = "cannot load certificate \"" + ssl.Certificate.Path + "\": " + err.Error()
		return p
	}
	keyPEM, err := readTLSFileCapped(ssl.CertificateKey.Path, MaxTLSFileSize)
	if err != nil {
		p.err = "cannot load certificate key \"" + ssl.CertificateKey.Path + "\": " + err.Error()
		return p
	}
	if keyEncrypted(lf.Key) {
		var plain []byte
		p.unlock, plain = UnlockKey(keyPEM, passphrases)
		if p.unlock.Line > 0 {
			p.unlock.Line = lines[p.unlock.Line-1]
		}
		if plain == nil {
			p.err = "the key is encrypted: " + p.unlock.Error
			return p
		}
		keyPEM = plain
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	clear(keyPEM)
	if err != nil {
		p.err = err.Error()
		return p
	}
	p.cert = &cert
	return p
}

// keyEncrypted reports whether the first private key block of a key file is encrypted.
func keyEncrypted(ff *FileFacts) bool {
	if ff == nil || ff.Key != nil {
		return false
	}
	for _, b := range ff.Blocks {
		if isPrivateKeyBlock(b.Type) {
			return b.Encrypted
		}
	}
	return false
}
