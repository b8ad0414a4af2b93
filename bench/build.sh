# bench/build.sh — sourced by the bench scripts: build_release OUT builds mtls-doctor the
# way .goreleaser.yaml builds the released binary (static, CGO_ENABLED=0, -trimpath,
# -ldflags "-s -w"), so the figures are those of what users run. A cgo build links libc
# and starts through the dynamic loader: ~10% more CPU per --check here.
# The caller sets ROOT (the repository).
build_release() {
	(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$1" ./cmd/mtls-doctor)
}
