// Package nginxconf reads NGINX configuration the way nginx does and reports facts
// about it, never verdicts: which server blocks exist, what they listen on, which
// ssl_* settings, error pages and logs are in effect for each, and where (file:line)
// every one of them is written.
//
// It owns:
//   - a tokenizer and parser transcribed from nginx's ngx_conf_read_token and
//     ngx_conf_parse (src/core/ngx_conf_file.c): quotes and escapes, "#" comments,
//     "${var}", `if (…)` words, *_by_lua_block bodies, and nginx's own error messages
//     and line numbers, checked against a real nginx in the tests;
//   - include expansion with globs, resolved against the conf prefix (the directory
//     of the main file), with include-loop detection (nginx itself crashes on a loop);
//   - a reader for `nginx -T` output (ParseDump), what support engineers collect;
//   - queries that apply nginx's inheritance (HTTPServers, ErrorLogs, LogFormats,
//     UpstreamLinks: the proxy_ssl_*/grpc_ssl_* settings of every TLS upstream link);
//   - nginx's choice of server for a TLS server name or Host on a port (SelectServer,
//     Server.ListensOn) and of location for a request URI (SelectLocation);
//   - small helpers that run the nginx binary (-v, -V, -t, -T) with a deadline.
//
// Block directives are recognised from a short list; other directives are accepted
// with or without a block, so third-party modules parse. Unknown directives, argument
// counts and values are not checked: `nginx -t` (Test) is the authority on those.
//
// The package imports only the standard library and internal/regularfile.
package nginxconf
