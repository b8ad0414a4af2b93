#!/usr/bin/env bash
# bench/upstream.sh — how long mtls-doctor's check of one NGINX → upstream link takes
# (read the front's configuration and files, then probe the upstream as NGINX connects:
# its client certificate, SNI, protocol range, one HTTP/1.1 request, the chain judged by
# NGINX's rules), next to one `openssl s_client` to the same upstream with the same
# certificate. Target: ours ≤ 2.0× openssl.
#
# A second row times the whole `mtls-doctor --check -o json --nginx-config front.conf`
# (every check of the catalog that applies to a front, the upstream ones included), for
# the same comparison end to end.
#
# The upstream is a real nginx on 127.0.0.1 with `ssl_verify_client on` (bench/labup);
# the PKI is made with openssl (bench/lab.sh); the front's configuration names the proxy's
# certificate, key and trusted CA with proxy_ssl_verify on. The front itself need not run:
# the check reads its configuration. Everything lives in a temp dir and on loopback.
#
#   bench/upstream.sh          # N=30
#   N=100 bench/upstream.sh
set -euo pipefail

N=${N:-30}
NAME=${SERVER_NAME:-upstream.test.local}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/build.sh
. "$ROOT/bench/build.sh"

# shellcheck source=bench/lab.sh
. "$ROOT/bench/lab.sh"
lab_require upstream.sh

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mtls-doctor-upbench.XXXXXX")
LAB_PID=
trap lab_cleanup EXIT
trap 'exit 130' INT TERM

echo "== PKI in $WORK"
(lab_pki) >"$WORK/pki.log" 2>&1 || { cat "$WORK/pki.log" >&2; exit 3; }

echo "== build"
(cd "$ROOT" && go build -o "$WORK/upprobe" ./bench/upprobe && go build -o "$WORK/labup" ./bench/labup)
build_release "$WORK/mtls-doctor"

echo "== start the upstream nginx"
lab_up "$WORK/labup" || exit 3
VERSION=$(nginx -v 2>&1 | sed 's/.*\///')
echo "   nginx $VERSION on $ADDR (ssl_verify_client on)"

# The front: one proxy_pass https:// link with the agent certificate as the proxy's.
cat >"$WORK/front.conf" <<-CONF
	events {}
	http {
	    server {
	        listen 127.0.0.1:8080;
	        location / {
	            proxy_pass https://$ADDR;
	            proxy_ssl_certificate     $WORK/agent.crt;
	            proxy_ssl_certificate_key $WORK/agent.key;
	            proxy_ssl_trusted_certificate $WORK/ca.pem;
	            proxy_ssl_verify on;
	            proxy_ssl_verify_depth 2;
	            proxy_ssl_name $NAME;
	            proxy_ssl_server_name on;
	        }
	    }
	}
CONF

OURS=("$WORK/upprobe" -c "$WORK/front.conf" -version "$VERSION")
CHECK=("$WORK/mtls-doctor" --check -o json --nginx-config "$WORK/front.conf" --no-logs)
THEIRS=(openssl s_client -connect "$ADDR" -cert "$WORK/agent.crt" -key "$WORK/agent.key"
	-CAfile "$WORK/ca.pem" -servername "$NAME")

# --- sanity: both must succeed ------------------------------------------------------------
if ! "${OURS[@]}" >"$WORK/ours.out" 2>&1 || ! grep -q 'verify 0, name matched true' "$WORK/ours.out"; then
	echo "upstream.sh: the link check did not pass against the healthy upstream:" >&2
	cat "$WORK/ours.out" >&2
	exit 3
fi
echo "   $(cat "$WORK/ours.out")"
if ! "${THEIRS[@]}" </dev/null >"$WORK/openssl.out" 2>&1 || ! grep -q 'Verify return code: 0 (ok)' "$WORK/openssl.out"; then
	echo "upstream.sh: openssl s_client did not verify:" >&2
	tail -20 "$WORK/openssl.out" >&2
	exit 3
fi

# --- alternate N runs ---------------------------------------------------------------------
: >"$WORK/ours.ns"
: >"$WORK/openssl.ns"
: >"$WORK/check.ns"
echo "== $N runs each, alternating"
for _ in $(seq "$N"); do
	lab_time "$WORK/ours.ns" "${OURS[@]}"
	lab_time "$WORK/openssl.ns" "${THEIRS[@]}"
	lab_time "$WORK/check.ns" "${CHECK[@]}"
done

ours=$(median_ms "$WORK/ours.ns")
theirs=$(median_ms "$WORK/openssl.ns")
check=$(median_ms "$WORK/check.ns")
ratio=$(awk -v a="$ours" -v b="$theirs" 'BEGIN {printf "%.2f", a/b}')
check_ratio=$(awk -v a="$check" -v b="$theirs" 'BEGIN {printf "%.2f", a/b}')
verdict=$(awk -v r="$ratio" 'BEGIN {print (r <= 2.0) ? "within target (≤ 2.0×)" : "OVER target (≤ 2.0×)"}')

printf '\n%-48s %10s %16s\n' "command ($N runs, alternating)" "median ms" "min–max ms"
printf '%-48s %10s %16s\n' "upprobe: one link (config, files, probe)" "$ours" "$(minmax_ms "$WORK/ours.ns")"
printf '%-48s %10s %16s\n' "openssl s_client (one connection)" "$theirs" "$(minmax_ms "$WORK/openssl.ns")"
printf '%-48s %10s %16s\n' "mtls-doctor --check --nginx-config front.conf" "$check" "$(minmax_ms "$WORK/check.ns")"
printf '\nratio link check / openssl: %s× — %s\n' "$ratio" "$verdict"
printf 'ratio whole --check / openssl: %s×\n' "$check_ratio"
