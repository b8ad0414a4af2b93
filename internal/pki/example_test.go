package pki_test

import (
	"crypto/x509"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/mtls-doctor/mtls-doctor/internal/pki"
)

// The PKI of NGINX Instance Manager's make_certs.sh: root → intermediate → server
// certificate, and an agent certificate from the root, written where NGINX and the agent
// read them.
func Example() {
	g := pki.New(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	root, err := g.Root("nms-ca")
	if err != nil {
		log.Fatal(err)
	}
	inter, _ := g.Issue(root, pki.Spec{CommonName: "nms-int-ca", IsCA: true})
	server, _ := g.Issue(inter, pki.Spec{CommonName: "nim.example.com", DNSNames: []string{"nim.example.com"},
		EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	expired, _ := g.Issue(root, pki.Spec{CommonName: "agent-01", EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		From: -366 * 24 * time.Hour, Until: -24 * time.Hour})

	dir, _ := os.MkdirTemp("", "pki-example-")
	defer os.RemoveAll(dir)
	if err := pki.WriteCerts(filepath.Join(dir, "server.pem"), server, inter); err != nil {
		log.Fatal(err)
	}
	if err := pki.WriteKey(filepath.Join(dir, "agent.key"), expired); err != nil {
		log.Fatal(err)
	}
	fi, _ := os.Stat(filepath.Join(dir, "agent.key"))
	fmt.Println(server.Cert.Issuer.CommonName, "->", server.Cert.Subject.CommonName)
	fmt.Println("agent certificate expired:", expired.Cert.NotAfter.Format(time.DateOnly))
	fmt.Println("key file mode:", fi.Mode().Perm())
	// Output:
	// nms-int-ca -> nim.example.com
	// agent certificate expired: 2026-11-29
	// key file mode: -rw-------
}
