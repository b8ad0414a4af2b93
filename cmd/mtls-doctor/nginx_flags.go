package main

import (
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/charmbracelet/x/term"
	"github.com/spf13/cobra"

	"github.com/mtls-doctor/mtls-doctor/probes"
)

// nginxFlags are the manager-side flags: which NGINX configuration terminates the agents'
// mutual TLS. With --nginx-config and no agent configuration, a run judges the manager
// side alone (the agent-side checks skip); --cert then names an agent certificate to
// judge against it offline.
type nginxFlags struct {
	config string
	prefix string
	nim1   string
	cmd    *cobra.Command // for its standard input (--nginx-config -)
	hinted *sync.Once     // the terminal hint is printed once per command (shared by copies)
}

func (n *nginxFlags) register(cmd *cobra.Command) {
	n.cmd, n.hinted = cmd, new(sync.Once)
	fl := cmd.Flags()
	fl.StringVar(&n.config, "nginx-config", "", "the manager's NGINX configuration: main file, a file of nginx -T output, or - for nginx -T on stdin (default: discovered)")
	fl.StringVar(&n.prefix, "nginx-prefix", "", "NGINX's -p prefix, where relative log paths resolve (default: from nginx -V)")
	fl.StringVar(&n.nim1, "nim-config", "", "NGINX Instance Manager 1.x's nginx-manager.conf, when agents reach nginx-manager through this NGINX (default: "+probes.NIM1ConfigPaths()[0]+" when the NGINX configuration is discovered)")
}

// options are the collector's NGINX options.
func (n *nginxFlags) options() probes.NginxOptions {
	o := probes.NginxOptions{Config: n.config, Prefix: n.prefix, NIM1Config: n.nim1}
	if n.config == probes.StdinName && n.cmd != nil {
		o.Stdin = n.cmd.InOrStdin()
		if f, ok := o.Stdin.(*os.File); ok && term.IsTerminal(f.Fd()) {
			o.Stdin = &firstReadHint{r: f, once: n.hinted, hint: func() {
				fmt.Fprintln(n.cmd.ErrOrStderr(), "mtls-doctor: reading `nginx -T` output from standard input (this terminal); "+
					"end it with Ctrl-D, or pipe it: sudo nginx -T | mtls-doctor --nginx-config -")
			}}
		}
	}
	return o
}

// firstReadHint runs hint before the first read from r: a read from a terminal waits for
// the user, who should know what is being waited for.
type firstReadHint struct {
	r    io.Reader
	once *sync.Once
	hint func()
}

func (h *firstReadHint) Read(p []byte) (int, error) {
	h.once.Do(h.hint)
	return h.r.Read(p)
}
