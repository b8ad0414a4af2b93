// Command floor is the least a Go program can do for the answer `mtls-doctor --check`
// gives on a healthy agent host: load the agent's key pair, make ONE TLS connection with
// it (ALPN h2, the CA file as roots) and send ONE gRPC request over HTTP/2, then exit.
// bench/check.sh times it beside openssl s_client and mtls-doctor, so that the gap between
// the three is measured, not guessed: what is left above it is mtls-doctor's own work (its
// second, certificate-less handshake, 54 checks, the configuration and log reads, a
// larger binary to start).
//
//	floor -addr 127.0.0.1:8443 -cert agent.crt -key agent.key -ca ca.pem -name nim.test.local
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "floor: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		addr = flag.String("addr", "", "HOST:PORT of the management plane")
		cert = flag.String("cert", "", "client certificate")
		key  = flag.String("key", "", "client key")
		ca   = flag.String("ca", "", "CA file the server is verified with")
		name = flag.String("name", "", "TLS server name")
		path = flag.String("path", "/f5.nginx.agent.sdk.Commander/CommandChannel", "gRPC method path")
	)
	flag.Parse()
	pair, err := tls.LoadX509KeyPair(*cert, *key)
	if err != nil {
		return err
	}
	pem, err := os.ReadFile(*ca)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return fmt.Errorf("no certificate in %s", *ca)
	}
	var protocols http.Protocols
	protocols.SetHTTP2(true)
	tr := &http.Transport{
		Protocols:       &protocols,
		TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: roots, ServerName: *name, NextProtos: []string{"h2"}},
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	req, err := http.NewRequest(http.MethodPost, "https://"+*addr+*path, bytes.NewReader(make([]byte, 5)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	fmt.Printf("%s %d grpc-status=%s%s\n", resp.Proto, resp.StatusCode, resp.Header.Get("Grpc-Status"), resp.Trailer.Get("Grpc-Status"))
	return nil
}
