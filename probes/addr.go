package probes

import "net"

func joinHostPort(host, port string) string { return net.JoinHostPort(host, port) }
