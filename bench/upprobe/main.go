// Command upprobe checks the upstream links of one front NGINX configuration once, as
// mtls-doctor gathers them (probes.LoadUpstreams, then probes.ProbeUpstreams), and prints
// one line per probed server. bench/upstream.sh times it against `openssl s_client`.
//
//	go run ./bench/upprobe -c front.conf [-version 1.22.1] [-timeout 5s]
//
// The exit code is 0 when every probed server completed the handshake and answered the
// request, 1 otherwise, 2 on bad usage.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

func main() {
	conf := flag.String("c", "", "front NGINX configuration (main file)")
	version := flag.String("version", "1.22.1", "nginx version whose defaults apply")
	timeout := flag.Duration("timeout", probes.DefaultStepTimeout, "deadline of each network step")
	flag.Parse()
	if *conf == "" {
		fmt.Fprintln(os.Stderr, "upprobe: -c is required")
		os.Exit(2)
	}
	cfg, err := nginxconf.Load(*conf, nginxconf.Options{})
	if cfg == nil {
		fmt.Fprintf(os.Stderr, "upprobe: %v\n", err)
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10**timeout)
	defer cancel()
	uf := probes.LoadUpstreams(cfg, nil, *version)
	probes.ProbeUpstreams(ctx, uf, probes.UpstreamProbeOptions{Timeout: *timeout})
	code := 0
	for _, l := range uf.Links {
		for _, p := range l.Probes {
			status, verdict := 0, "no handshake"
			if p.HTTP != nil {
				status = p.HTTP.Status
			}
			switch {
			case p.TCPError != nil:
				verdict = p.TCPError.Error()
			case p.TLS != nil && p.TLS.Error != nil:
				verdict = p.TLS.Error.Error()
			case p.Verify != nil:
				verdict = fmt.Sprintf("verify %d, name matched %v", p.Verify.Code, p.Verify.NameMatched)
			}
			if status == 0 {
				code = 1
			}
			fmt.Printf("%s %s -> %s: HTTP %d, %s, %s\n", l.Pass.Pos(), l.URL, p.Server.Address, status, verdict, p.Duration.Round(time.Microsecond))
		}
	}
	os.Exit(code)
}
