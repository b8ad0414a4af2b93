// Package mesh gathers the facts `mtls-doctor mesh` judges about an NGINX Service Mesh,
// offline, from the files nginx-meshctl and kubectl use: the upstream authority
// configuration given to `nginx-meshctl deploy --mtls-upstream-ca-conf`, the mesh
// configuration (`nginx-meshctl config` JSON or a MeshConfig resource), Helm values, and
// Kubernetes manifests, plus the certificate, key and bundle files the upstream authority
// configuration names. It holds facts only; diagnostics judges them.
package mesh
