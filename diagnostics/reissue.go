package diagnostics

import (
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
)

// reissuance describes a certificate to issue again in place of the one at cert: the same
// subject, every SAN it has (plus any added), its extended key usages (plus the one it
// needs), and the same key unless newKey, signed by a CA whose files only the user knows.
type reissuance struct {
	host      Host
	cert, key string
	// leaf is the certificate now at cert; nil when it could not be read, and the subject
	// is then a placeholder.
	leaf *x509.Certificate
	// subjectPlaceholder names the subject when leaf is nil ("<agent-name>").
	subjectPlaceholder string
	// caCert and caKey are the issuing CA's placeholders.
	caCert, caKey string
	// eku is the extended key usage the certificate must have (clientAuth, serverAuth).
	eku string
	// addDNS and addIP are SANs to add to those the certificate has.
	addDNS, addIP []string
	// newKey makes a new ECDSA P-256 key instead of reusing the current one.
	newKey bool
	// keepChain appends the intermediates that follow the leaf in cert to the new file.
	keepChain bool
	// after are the commands that make the service use the new files (a restart, a reload).
	after []string
}

// step is the playbook step that issues r: request, extensions and signature written next
// to the certificate, then the certificate (and key) replaced after a backup.
func (r reissuance) step(title, why string, verify ...string) Step {
	stem := strings.TrimSuffix(r.cert, filepath.Ext(r.cert))
	csr, ext, srl, next := stem+".csr", stem+".ext", stem+".srl", r.cert+".new"
	key := r.key
	var cmds, changes []string
	if r.newKey {
		key = r.key + ".new"
		cmds = append(cmds, "sudo install -m 0600 /dev/null "+shellQuote(key),
			"sudo openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "+shellQuote(key))
		changes = append(changes, key)
	}
	cmds = append(cmds,
		"sudo openssl req -new -key "+shellQuote(key)+" -subj "+shellQuote(r.subject())+" -out "+shellQuote(csr),
		writeLinesCommand(ext, r.extensions()...),
		"sudo openssl x509 -req -in "+shellQuote(csr)+" -CA "+shellQuote(r.caCert)+" -CAkey "+shellQuote(r.caKey)+
			" -CAserial "+shellQuote(srl)+" -CAcreateserial -days "+fmt.Sprint(r.days())+" -sha256 -extfile "+shellQuote(ext)+
			" -out "+shellQuote(next),
	)
	if r.keepChain {
		// Everything after the first certificate: the intermediates the file sends along.
		cmds = append(cmds, "sudo awk 'n {print} /-----END CERTIFICATE-----/ {n=1}' "+shellQuote(r.cert)+
			" | sudo tee -a "+shellQuote(next)+" >/dev/null")
	}
	// cp onto the existing file keeps its owner and mode.
	cmds = append(cmds, backupCommand(r.cert), "sudo cp "+shellQuote(next)+" "+shellQuote(r.cert))
	if r.newKey {
		cmds = append(cmds, backupCommand(r.key), "sudo cp "+shellQuote(key)+" "+shellQuote(r.key))
		changes = append(changes, r.key)
	}
	cmds = append(cmds, showCert(r.cert))
	cmds = append(cmds, r.after...)
	changes = append(changes, csr, ext, srl, next, r.cert) // those a placeholder names are dropped by declareInputs
	keeps := "It keeps the subject, every name (SAN) and the key usages of the current certificate"
	if !r.newKey {
		keeps += ", and its key"
	}
	if r.leaf == nil {
		keeps = "The current certificate is not at hand (it could not be read, or no host was checked, as in explain), so the subject is yours to fill in"
		if !r.newKey {
			keeps += "; the key stays"
		}
	}
	return Step{
		Title: title,
		Why: strings.TrimSpace(why + " " + keeps + "; the CA's key is needed where the request is signed (copy the " +
			"request there and the certificate back if that is another host)."),
		Commands: cmds,
		Changes:  changes,
		Verify:   verify,
		Host:     r.host,
	}
}

// subject is the current certificate's subject for `openssl req -subj`, attribute by
// attribute in order, or the placeholder when it is unknown.
func (r reissuance) subject() string {
	if r.leaf == nil || len(r.leaf.Subject.Names) == 0 {
		name := r.subjectPlaceholder
		if r.leaf != nil && r.leaf.Subject.CommonName != "" {
			name = r.leaf.Subject.CommonName
		}
		return "/CN=" + escapeSubj(name)
	}
	var b strings.Builder
	for _, atv := range r.leaf.Subject.Names {
		name, ok := subjectAttr[atv.Type.String()]
		if !ok {
			name = atv.Type.String() // openssl takes a dotted OID too
		}
		fmt.Fprintf(&b, "/%s=%s", name, escapeSubj(fmt.Sprint(atv.Value)))
	}
	return b.String()
}

// subjectAttr are the short names `openssl req -subj` knows, by OID.
var subjectAttr = map[string]string{
	"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O", "2.5.4.11": "OU",
	"2.5.4.5": "serialNumber", "1.2.840.113549.1.9.1": "emailAddress", "0.9.2342.19200300.100.1.25": "DC",
}

// escapeSubj escapes what -subj treats specially: the separators / and + and backslash.
func escapeSubj(s string) string {
	return strings.NewReplacer(`\`, `\\`, `/`, `\/`, `+`, `\+`).Replace(s)
}

// extensions are the v3 extensions of the new certificate, as `openssl x509 -extfile`
// lines.
func (r reissuance) extensions() []string {
	usage := "digitalSignature"
	if _, isRSA := r.publicKey().(*rsa.PublicKey); isRSA && !r.newKey {
		usage += ",keyEncipherment" // RSA key exchange (TLS 1.2 without (EC)DHE)
	}
	ekus := []string{r.eku}
	if r.leaf != nil {
		for _, u := range r.leaf.ExtKeyUsage {
			if n, ok := opensslEKU[u]; ok && !slices.Contains(ekus, n) {
				ekus = append(ekus, n)
			}
		}
	}
	lines := []string{"basicConstraints=critical,CA:FALSE", "keyUsage=critical," + usage, "extendedKeyUsage=" + strings.Join(ekus, ",")}
	if san := r.sans(); len(san) > 0 {
		lines = append(lines, "subjectAltName="+strings.Join(san, ","))
	}
	return lines
}

// opensslEKU are openssl's names of the extended key usages.
var opensslEKU = map[x509.ExtKeyUsage]string{
	x509.ExtKeyUsageServerAuth: "serverAuth", x509.ExtKeyUsageClientAuth: "clientAuth",
	x509.ExtKeyUsageCodeSigning: "codeSigning", x509.ExtKeyUsageEmailProtection: "emailProtection",
	x509.ExtKeyUsageTimeStamping: "timeStamping", x509.ExtKeyUsageOCSPSigning: "OCSPSigning",
}

// sans are the current certificate's SANs, then the added ones, without repeats.
func (r reissuance) sans() []string {
	var out []string
	add := func(s string) {
		// A placeholder copied from the docs (<NGINX-INSTANCE-MANAGER-FQDN>) is no name: it
		// goes; one of ours is filled in by the user.
		ours := inputPrompts[strings.TrimPrefix(s, "DNS:")] != ""
		if slices.Contains(out, s) || strings.ContainsAny(s, "<>") && !ours {
			return
		}
		out = append(out, s)
	}
	if r.leaf != nil {
		for _, d := range r.leaf.DNSNames {
			add("DNS:" + d)
		}
		for _, ip := range r.leaf.IPAddresses {
			add("IP:" + ip.String())
		}
		for _, u := range r.leaf.URIs {
			add("URI:" + u.String())
		}
		for _, e := range r.leaf.EmailAddresses {
			add("email:" + e)
		}
	}
	for _, d := range r.addDNS {
		add("DNS:" + d)
	}
	for _, ip := range r.addIP {
		if p := net.ParseIP(ip); p != nil {
			add("IP:" + p.String())
		}
	}
	return out
}

func (r reissuance) publicKey() any {
	if r.leaf == nil {
		return nil
	}
	return r.leaf.PublicKey
}

// days is the current certificate's lifetime (so a renewal keeps the issuer's policy), or
// a year.
func (r reissuance) days() int {
	if r.leaf == nil {
		return 365
	}
	d := int(r.leaf.NotAfter.Sub(r.leaf.NotBefore).Hours()/24 + 0.5)
	return min(max(d, 1), 825)
}
