package grpcstub

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// startH2 serves handler over HTTP/2 with TLS on 127.0.0.1, as a gRPC server is reached,
// and returns a client for it and its URL.
func startH2(t *testing.T, handler http.HandlerFunc) (*http.Client, string) {
	t.Helper()
	srv := httptest.NewUnstartedServer(handler)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c := srv.Client()
	c.Timeout = 10 * time.Second
	return c, srv.URL + "/f5.nginx.agent.sdk.Commander/CommandChannel"
}

// TestAccept: the call gets 200 application/grpc, the body the client sent is read, and
// grpc-status 0 arrives as a trailer, not a header.
func TestAccept(t *testing.T) {
	got := make(chan string, 1)
	c, url := startH2(t, func(w http.ResponseWriter, r *http.Request) {
		seen := r.Method + " " + r.Header.Get("Content-Type") + " te=" + r.Header.Get("Te")
		Accept(w, r)
		got <- seen
	})
	req, err := NewRequest(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatal(err)
	}
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/grpc" {
		t.Fatalf("HTTP/%d %d %q", resp.ProtoMajor, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if resp.Header.Get("Grpc-Status") != "" || resp.Trailer.Get("Grpc-Status") != "0" {
		t.Errorf("grpc-status header %q trailer %q", resp.Header.Get("Grpc-Status"), resp.Trailer.Get("Grpc-Status"))
	}
	if seen := <-got; seen != "POST application/grpc te=trailers" {
		t.Errorf("the server saw %q", seen)
	}
}

// TestUnimplemented: a trailers-only answer with grpc-status 12 and the message.
func TestUnimplemented(t *testing.T) {
	c, url := startH2(t, func(w http.ResponseWriter, r *http.Request) { Unimplemented(w, "unknown service x.Y") })
	resp, err := c.Post(url, "application/grpc", strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Grpc-Status") != "12" || resp.Header.Get("Grpc-Message") != "unknown service x.Y" {
		t.Errorf("%d %v", resp.StatusCode, resp.Header)
	}
}
