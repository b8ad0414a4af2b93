package main

import (
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
	cmd    *cobra.Command // for its standard input (--nginx-config -)
}

func (n *nginxFlags) register(cmd *cobra.Command) {
	n.cmd = cmd
	fl := cmd.Flags()
	fl.StringVar(&n.config, "nginx-config", "", "the manager's NGINX configuration: main file, a file of nginx -T output, or - for nginx -T on stdin (default: discovered)")
	fl.StringVar(&n.prefix, "nginx-prefix", "", "NGINX's -p prefix, where relative log paths resolve (default: from nginx -V)")
}

// options are the collector's NGINX options.
func (n *nginxFlags) options() probes.NginxOptions {
	o := probes.NginxOptions{Config: n.config, Prefix: n.prefix}
	if n.config == probes.StdinName && n.cmd != nil {
		o.Stdin = n.cmd.InOrStdin()
	}
	return o
}
