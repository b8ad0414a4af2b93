// Package probes gathers facts about an NGINX Agent host and its management-plane endpoint:
// the agent's configuration, its certificate, key and CA files, and what the endpoint does
// when dialled the way the agent dials it (DNS, TCP, TLS, one real HTTP/2 gRPC request).
// It gathers the same kinds of facts for NGINX as the TLS client of its upstreams
// (proxy_pass https://, grpc_pass grpcs://): the files each link names, and what each
// upstream server does when dialled the way NGINX dials it (LoadUpstreams,
// ProbeUpstreams).
//
// Probes record what they saw and pass no verdict; the diagnostics package judges. Every
// network operation has a deadline. Private key material is parsed only to learn its public
// half and is never kept, printed or returned.
//
// Of this module, probes imports only nginxconf and the leaves internal/regularfile,
// internal/safetext and internal/opensslverdict (NGINX's verdict on an upstream's chain);
// its subpackages (nginxconf, mesh) are documented separately. internal/gather composes the probes into
// the facts the diagnostics engine judges.
package probes
