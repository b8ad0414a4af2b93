#!/usr/bin/env bash
# bench/nginxconf.sh — how `mtls-doctor --check` scales with the size of the manager's
# NGINX configuration: parse + judge of SERVERS agent-facing server blocks (default
# "1000 10000 40000"), fed as `nginx -T` output on standard input, as support engineers
# collect it. Each server block has its own listen, server_name, ssl_verify_client,
# ssl_verify_depth and the two agent gRPC locations; the certificate, key and client CA
# are the same files for all (made here with openssl).
#
# For each size it prints the median wall time, CPU time (user+sys) and the peak RSS of
# RUNS runs (GNU time), per server too, so growth shows: linear means flat per-server
# figures. Targets: ≤ 1 s and ≤ 100 MB at 10,000 servers. Then the Go benchmark of the
# nginx.conf parser (the YAML files have bench/yaml.sh).
#
# With FILE=1 it also reads the largest configuration as a file, which runs `nginx -t`
# on it as well (nginx's own time, printed apart: with 10,000 TLS servers it is long).
#
#   bench/nginxconf.sh
#   SERVERS="10000" RUNS=5 bench/nginxconf.sh
#   BIN=/path/to/mtls-doctor bench/nginxconf.sh   # time that build instead
#   GOBENCH=0 bench/nginxconf.sh
set -euo pipefail

SERVERS=${SERVERS:-1000 10000 40000}
RUNS=${RUNS:-3}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/build.sh
. "$ROOT/bench/build.sh"
for tool in go openssl awk; do
	command -v "$tool" >/dev/null || { echo "nginxconf.sh: $tool not found" >&2; exit 3; }
done
[ -x /usr/bin/time ] || { echo "nginxconf.sh: GNU time (/usr/bin/time) not found: apt-get install time" >&2; exit 3; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mtls-doctor-conf.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

if [ -n "${BIN:-}" ]; then
	cp "$BIN" "$WORK/mtls-doctor" # time another build (e.g. an older one)
else
	echo "building mtls-doctor" >&2
	build_release "$WORK/mtls-doctor"
fi

(
	cd "$WORK"
	openssl req -new -x509 -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout ca.key -out ca.pem -days 30 \
		-subj "/CN=bench-ca" -addext "basicConstraints=critical,CA:true" -addext "keyUsage=critical,keyCertSign,cRLSign"
	openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout server.key -out server.csr -subj "/CN=nim.test.local"
	printf 'subjectAltName=DNS:*.test.local\nextendedKeyUsage=serverAuth\n' >server.ext
	openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.crt -days 30 -extfile server.ext
) >"$WORK/pki.log" 2>&1 || { cat "$WORK/pki.log" >&2; exit 3; }

# conf N: an nginx.conf of N agent-facing servers (listen ports cycle through 100).
conf() {
	awk -v n="$1" -v d="$WORK" 'BEGIN {
		print "events { worker_connections 1024; }"
		print "http {"
		print "  error_log " d "/error.log info;"
		for (i = 0; i < n; i++) {
			printf "  server {\n    listen 127.0.0.1:%d ssl http2;\n    server_name agent%d.test.local;\n", 20000 + i % 100, i
			printf "    ssl_certificate %s/server.crt;\n    ssl_certificate_key %s/server.key;\n", d, d
			printf "    ssl_client_certificate %s/ca.pem;\n    ssl_verify_client on;\n    ssl_verify_depth 2;\n", d
			print "    location /f5.nginx.agent.sdk.Commander { grpc_pass grpc://127.0.0.1:9000; }"
			print "    location /f5.nginx.agent.sdk.MetricsService { grpc_pass grpc://127.0.0.1:9000; }"
			print "  }"
		}
		print "}"
	}'
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

printf '%-34s %9s %9s %9s %11s %11s %11s\n' "nginx -T on stdin" "wall s" "CPU s" "RSS MiB" "wall µs/srv" "CPU µs/srv" "RSS KiB/srv"
for n in $SERVERS; do
	conf "$n" >"$WORK/nginx.conf"
	{
		echo "nginx: the configuration file $WORK/nginx.conf syntax is ok"
		echo "nginx: configuration file $WORK/nginx.conf test is successful"
		echo "# configuration file $WORK/nginx.conf:"
		cat "$WORK/nginx.conf"
		echo
	} >"$WORK/dump.txt"
	: >"$WORK/t.all"
	for _ in $(seq "$RUNS"); do
		/usr/bin/time -f '%e %U %S %M' -o "$WORK/t" "$WORK/mtls-doctor" --check --no-logs -o json --nginx-config - <"$WORK/dump.txt" >/dev/null || true
		tail -n1 "$WORK/t" >>"$WORK/t.all" # after "Command exited with non-zero status"
	done
	wall=$(cut -d' ' -f1 "$WORK/t.all" | median)
	cpu=$(awk '{ print $2 + $3 }' "$WORK/t.all" | median)
	rss=$(cut -d' ' -f4 "$WORK/t.all" | sort -n | tail -n1)
	mib=$(awk -v b="$(stat -c %s "$WORK/dump.txt")" 'BEGIN { printf "%.1f", b / 1048576 }')
	awk -v n="$n" -v w="$wall" -v c="$cpu" -v r="$rss" -v mib="$mib" 'BEGIN {
		printf "%-34s %9.2f %9.2f %9.1f %11.0f %11.0f %11.1f\n", sprintf("%d servers (%s MiB)", n, mib), w, c, r / 1024, w * 1e6 / n, c * 1e6 / n, r / n
	}'
done

if [ -n "${FILE:-}" ]; then
	echo
	s=$(date +%s%N)
	/usr/sbin/nginx -t -c "$WORK/nginx.conf" >/dev/null 2>&1 || true
	echo "nginx -t alone on the last configuration: $((($(date +%s%N) - s) / 1000000)) ms"
	/usr/bin/time -f '%e s wall, %U+%S s CPU, %M KiB peak RSS' "$WORK/mtls-doctor" --check --no-logs -o json --nginx-config "$WORK/nginx.conf" >/dev/null || true
fi

if [ "${GOBENCH:-1}" != 0 ]; then
	echo
	(cd "$ROOT" && go test -run '^$' -bench 'HTTPServers' -benchtime 3x ./probes/nginxconf | grep -E '^Benchmark')
fi
