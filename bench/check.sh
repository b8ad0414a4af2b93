#!/usr/bin/env bash
# bench/check.sh — how long a full `mtls-doctor --check` takes against a healthy local
# NGINX, next to one `openssl s_client` connection with the same agent certificate.
#
# It makes a PKI with openssl the way the NGINX docs' make_certs.sh does (root →
# intermediate → server; agent from the root), starts a real nginx on 127.0.0.1 with
# `ssl_verify_client on`, HTTP/2 and the agent's gRPC locations proxied to an in-process
# gRPC backend (bench/labup, built on internal/nginxtest), then alternates N runs of each
# command and prints the medians and their ratio. Target: ours ≤ 1.0× openssl.
#
# Two references are timed in the same loop, for where the floor lies: bench/floor, the
# least a Go program does for the same answer (one handshake with the agent's key pair,
# one gRPC request), and `mtls-doctor version`, what starting the binary alone costs.
#
# Everything lives in a temp dir and on loopback; everything started is stopped on exit.
#
#   bench/check.sh            # N=30
#   N=100 bench/check.sh
#   KEEP=1 bench/check.sh     # keep the temp dir for a look at the logs
set -euo pipefail

N=${N:-30}
NAME=${SERVER_NAME:-nim.test.local}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/build.sh
. "$ROOT/bench/build.sh"

# shellcheck source=bench/lab.sh
. "$ROOT/bench/lab.sh"
lab_require check.sh

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mtls-doctor-bench.XXXXXX")
LAB_PID=
trap lab_cleanup EXIT
trap 'exit 130' INT TERM

echo "== PKI in $WORK"
(lab_pki) >"$WORK/pki.log" 2>&1 || { cat "$WORK/pki.log" >&2; exit 3; }

# --- build -------------------------------------------------------------------------------
echo "== build"
build_release "$WORK/mtls-doctor"
(cd "$ROOT" && go build -o "$WORK/labup" ./bench/labup)
(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$WORK/floor" ./bench/floor)

# --- lab ---------------------------------------------------------------------------------
echo "== start nginx"
lab_up "$WORK/labup" || exit 3
echo "   nginx $(nginx -v 2>&1 | sed 's/.*\///' || true) on $ADDR, agent config $AGENT_CONFIG"

OURS=("$WORK/mtls-doctor" --check -o json --agent-config "$AGENT_CONFIG")
THEIRS=(openssl s_client -connect "$ADDR" -cert "$WORK/agent.crt" -key "$WORK/agent.key"
	-CAfile "$WORK/ca.pem" -servername "$NAME")
FLOOR=("$WORK/floor" -addr "$ADDR" -cert "$WORK/agent.crt" -key "$WORK/agent.key" -ca "$WORK/ca.pem" -name "$NAME")
START=("$WORK/mtls-doctor" version)

# --- sanity: both must succeed against the healthy lab ----------------------------------
set +e
"${OURS[@]}" >"$WORK/ours.json" 2>"$WORK/ours.err"
rc=$?
set -e
if [ "$rc" -ne 0 ]; then
	echo "check.sh: mtls-doctor exit $rc against the healthy lab (want 0); its findings:" >&2
	grep -o '"id": *"[^"]*", *"category": *"[^"]*", *"severity": *"\(warn\|fail\)"' "$WORK/ours.json" >&2 ||
		cat "$WORK/ours.json" "$WORK/ours.err" >&2
	echo "(timing anyway: the check still ran end to end)" >&2
fi
if ! "${THEIRS[@]}" </dev/null >"$WORK/openssl.out" 2>&1 || ! grep -q 'Verify return code: 0 (ok)' "$WORK/openssl.out"; then
	echo "check.sh: openssl s_client did not verify:" >&2
	tail -20 "$WORK/openssl.out" >&2
	exit 3
fi
if ! "${FLOOR[@]}" >"$WORK/floor.out" 2>&1; then
	echo "check.sh: bench/floor failed:" >&2
	cat "$WORK/floor.out" >&2
	exit 3
fi

# --- alternate N runs --------------------------------------------------------------------
: >"$WORK/ours.ns"
: >"$WORK/openssl.ns"
: >"$WORK/floor.ns"
: >"$WORK/start.ns"
echo "== $N runs each, alternating"
for _ in $(seq "$N"); do
	lab_time "$WORK/ours.ns" "${OURS[@]}"
	lab_time "$WORK/openssl.ns" "${THEIRS[@]}"
	lab_time "$WORK/floor.ns" "${FLOOR[@]}"
	lab_time "$WORK/start.ns" "${START[@]}"
done

ours=$(median_ms "$WORK/ours.ns")
theirs=$(median_ms "$WORK/openssl.ns")
ratio=$(awk -v a="$ours" -v b="$theirs" 'BEGIN {printf "%.2f", a/b}')
verdict=$(awk -v r="$ratio" 'BEGIN {print (r <= 1.0) ? "within target (≤ 1.0×)" : "OVER target (≤ 1.0×)"}')

printf '\n%-44s %10s %16s\n' "command ($N runs, alternating)" "median ms" "min–max ms"
printf '%-44s %10s %16s\n' "mtls-doctor --check -o json (exit $rc)" "$ours" "$(minmax_ms "$WORK/ours.ns")"
printf '%-44s %10s %16s\n' "openssl s_client (one connection)" "$theirs" "$(minmax_ms "$WORK/openssl.ns")"
printf '%-44s %10s %16s\n' "bench/floor (Go: one handshake + one request)" "$(median_ms "$WORK/floor.ns")" "$(minmax_ms "$WORK/floor.ns")"
printf '%-44s %10s %16s\n' "mtls-doctor version (start alone)" "$(median_ms "$WORK/start.ns")" "$(minmax_ms "$WORK/start.ns")"
printf '\nratio mtls-doctor / openssl: %s× — %s\n' "$ratio" "$verdict"
