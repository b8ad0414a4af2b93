// Package grpcstub speaks gRPC over HTTP/2 without grpc-go. Its server side answers as the
// management plane's services do, for the demo lab and for the tests' backend behind a
// real nginx (`grpc_pass`), so both answer an agent's call alike; its client side is the
// call an agent makes, for tests that send one through NGINX.
//
// The wire format is gRPC over HTTP/2
// (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md): status 200,
// content-type application/grpc, and the call's status in the grpc-status trailer, or in
// the headers of a trailers-only response.
package grpcstub

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"time"
)

// DrainTimeout bounds how long Accept reads a request body that is still open (an
// agent's CommandChannel stream never ends by itself).
const DrainTimeout = 300 * time.Millisecond

// maxDrain bounds what Accept reads of a request body.
const maxDrain = 1 << 20

// Accept answers r as a gRPC method that succeeds: 200 with content-type
// application/grpc at once, then, once the client has ended its request stream (or after
// DrainTimeout), the trailer grpc-status 0.
func Accept(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/grpc")
	h.Set("Trailer", "Grpc-Status, Grpc-Message")
	w.WriteHeader(http.StatusOK)
	// Send the headers now: a response finished unflushed gets "content-length: 0",
	// after which NGINX's grpc module ends the response and drops the trailers.
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	// Read what the client sends (until it ends its stream, for a bounded time): a
	// handler that returns first resets the stream, and DATA still in flight from NGINX
	// then draws RST_STREAM(STREAM_CLOSED), which NGINX reports as "upstream rejected
	// request with error 5" and answers without the trailers.
	_ = rc.SetReadDeadline(time.Now().Add(DrainTimeout))
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxDrain))
	h.Set("Grpc-Status", "0")
	h.Set("Grpc-Message", "")
}

// Unimplemented answers as a gRPC server without the method called: a trailers-only
// response with grpc-status 12 (UNIMPLEMENTED) and message, e.g. grpc-go's
// "unknown service f5.nginx.agent.sdk.Commander".
func Unimplemented(w http.ResponseWriter, message string) {
	h := w.Header()
	h.Set("Content-Type", "application/grpc")
	h.Set("Grpc-Status", "12")
	h.Set("Grpc-Message", message)
	w.WriteHeader(http.StatusOK)
}

// emptyMessage is a gRPC message of length 0, uncompressed: the smallest valid call body.
var emptyMessage = []byte{0, 0, 0, 0, 0}

// NewRequest is a gRPC call to url (scheme://authority/service/method) as a client sends
// it: POST with one empty message, content-type application/grpc and "te: trailers". The
// caller sends it over HTTP/2.
func NewRequest(ctx context.Context, url string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(emptyMessage))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	return req, nil
}
