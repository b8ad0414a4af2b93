#!/usr/bin/env bash
# bench/logs.sh — how fast `mtls-doctor logs` reads big NGINX logs, next to
# `LC_ALL=C grep -c -E` over the same file with the patterns the classifier looks for,
# in the same run.
#
# It builds two logs of SIZE_MB megabytes each (default 256; SIZE_MB=1024 for 1 GB),
# stamped over the last 50 minutes:
#   error.log   the real nginx 1.22.1 lines of testdata/logs/nginx-error-real.log —
#               client-certificate rejections, handshake failures, upstream errors,
#               start-up notices;
#   access.log  a custom log_format of the kind an mTLS front end writes: the combined
#               fields (quoted, with spaces), then $ssl_client_verify (FAILED:<reason>
#               with spaces), $ssl_client_s_dn, $ssl_protocol, ALPN and SNI; agents' gRPC
#               calls (most 200, some 400 with FAILED:…, some 400 without a certificate,
#               some 502) and web UI requests. mtls-doctor learns the format from an
#               nginx.conf that defines it (--nginx-config), and reads the file as
#               `mtls-doctor logs FILE` does: each line's format detected.
# and, with LOGS=gzip, a rotated-style error.log.gz of SIZE_MB of real error lines and a
# gzip bomb (1 GiB of zeros, no newline), read as a stream: ours against
# `gzip -dc FILE | grep -c -E` for the first, time and peak RSS for the bomb.
# Then, for each log, it alternates RUNS runs (default 5) of
#
#   mtls-doctor logs --since 1h -o json FILE      (parse + classify every line, summary)
#   LC_ALL=C grep -c -E 'PATTERNS' FILE             (count the lines the classifier looks for)
#
# with the file in the page cache, and prints each tool's median wall and CPU time and
# peak RSS (GNU time), the ratios, and both counts. Targets: ours ≤ 1.0× grep (wall),
# peak RSS ≤ 64 MiB. Then it runs the Go benchmarks of logparse (parse+classify per
# format, Scan).
#
#   bench/logs.sh
#   SIZE_MB=1024 RUNS=5 bench/logs.sh
#   LOGS="access" bench/logs.sh   # only the access log (or "error", or "gzip")
#   BIN=/path/to/mtls-doctor bench/logs.sh   # time that build instead
#   GOBENCH=0 bench/logs.sh       # skip the go test -bench part
#   KEEP=1 bench/logs.sh          # keep the temp dir (the logs) for a profile
set -euo pipefail

SIZE_MB=${SIZE_MB:-256}
RUNS=${RUNS:-5}
LOGS=${LOGS:-error access}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/build.sh
. "$ROOT/bench/build.sh"
REAL=$ROOT/testdata/logs/nginx-error-real.log

for tool in go grep awk date; do
	command -v "$tool" >/dev/null || { echo "logs.sh: $tool not found" >&2; exit 3; }
done
[ -x /usr/bin/time ] || { echo "logs.sh: GNU time (/usr/bin/time) not found: apt-get install time" >&2; exit 3; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mtls-doctor-logs.XXXXXX")
if [ -n "${KEEP:-}" ]; then trap 'echo "kept $WORK" >&2' EXIT; else trap 'rm -rf "$WORK"' EXIT; fi

if [ -n "${BIN:-}" ]; then
	cp "$BIN" "$WORK/mtls-doctor" # time another build (e.g. an older one)
else
	echo "building mtls-doctor" >&2
	build_release "$WORK/mtls-doctor"
fi

# grow BLOCK OUT: BLOCK doubled until it is about 1 MiB, then repeated to SIZE_MB.
grow() {
	local block=$1 out=$2 size
	while [ "$(stat -c %s "$block")" -lt $((1 << 20)) ]; do
		cat "$block" "$block" >"$block.2"
		mv "$block.2" "$block"
	done
	size=$(stat -c %s "$block")
	for _ in $(seq $(( ((SIZE_MB << 20) + size - 1) / size ))); do cat "$block"; done >"$out"
	cat "$out" >/dev/null # into the page cache
}

# One minute of real error lines per minute of the last 50.
make_error_log() {
	: >"$WORK/error.block"
	for m in $(seq 50 -1 1); do
		ts=$(date -d "-$m min" '+%Y/%m/%d %H:%M:%S')
		awk -v ts="$ts" '{ print ts substr($0, 20) }' "$REAL" >>"$WORK/error.block"
	done
	grow "$WORK/error.block" "$WORK/error.log"
}

# The custom format, as NGINX would be configured with it.
ACCESS_FORMAT='$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" verify=$ssl_client_verify sdn="$ssl_client_s_dn" proto=$ssl_protocol alpn=$ssl_alpn_protocol sni=$ssl_server_name rt=$request_time'

# Sixteen requests per minute of the last 50: 11 agent calls that pass, 2 web UI
# requests, and 3 that the classifier reports (a rejected certificate, none sent, a
# backend down), all on the agents' gRPC paths.
make_access_log() {
	cat >"$WORK/nginx.conf" <<-EOF
		events {}
		http {
		    log_format mtls '$ACCESS_FORMAT';
		    access_log $WORK/access.log mtls;
		}
	EOF
	: >"$WORK/access.block"
	for m in $(seq 50 -1 1); do
		ts=$(date -u -d "-$m min" '+%d/%b/%Y:%H:%M:%S +0000')
		awk -v ts="$ts" 'BEGIN {
			cmd = "\"POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0\""
			met = "\"POST /f5.nginx.agent.sdk.MetricsService/Stream HTTP/2.0\""
			ua = "\"-\" \"nginx-agent/v2.46.7 grpc-go/1.79.3\""
			tail = " proto=TLSv1.3 alpn=h2 sni=nim.example.com rt=0.004"
			for (i = 0; i < 11; i++)
				printf "10.0.%d.%d - - [%s] %s 200 %d %s verify=SUCCESS sdn=\"CN=agent-%d,O=Example\"%s\n", i, 10 + i, ts, (i % 2 ? cmd : met), 120 + i, ua, i, tail
			printf "10.1.0.7 - admin [%s] \"GET /ui/index.html HTTP/1.1\" 200 5120 \"https://nim.example.com/\" \"Mozilla/5.0 (X11; Linux x86_64)\" verify=NONE sdn=\"-\" proto=TLSv1.3 alpn=http/1.1 sni=nim.example.com rt=0.012\n", ts
			printf "10.1.0.8 - admin [%s] \"GET /api/platform/v1/instances HTTP/1.1\" 200 911 \"https://nim.example.com/ui/\" \"Mozilla/5.0 (X11; Linux x86_64)\" verify=NONE sdn=\"-\" proto=TLSv1.2 alpn=h2 sni=nim.example.com rt=0.020\n", ts
			printf "10.0.9.1 - - [%s] %s 400 255 %s verify=FAILED:certificate has expired sdn=\"CN=agent-old,O=Example\"%s\n", ts, cmd, ua, tail
			printf "10.0.9.2 - - [%s] %s 400 255 %s verify=NONE sdn=\"-\"%s\n", ts, cmd, ua, tail
			printf "10.0.9.3 - - [%s] %s 502 157 %s verify=SUCCESS sdn=\"CN=agent-3,O=Example\"%s\n", ts, met, ua, tail
		}' >>"$WORK/access.block"
	done
	grow "$WORK/access.block" "$WORK/access.log"
}

# The texts logparse classifies NGINX error lines by (ClassifyError), and the statuses
# it classifies access lines by (ClassifyAccess: 400/495/496/497 certificate and TLS
# errors, 421, 502).
ERROR_PATTERNS='client SSL certificate verify error|client sent no required SSL certificate|client sent plain HTTP request to HTTPS port|PRI \* HTTP/2\.0|SSL_do_handshake\(\) failed|connect\(\) failed .* while connecting to upstream|no live upstreams|client attempted to request the server name'
ACCESS_PATTERNS='" (400|421|495|496|497|502) '

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# bench NAME FILE PATTERNS [mtls-doctor logs flags...]
bench() {
	local name=$1 log=$2 patterns=$3
	shift 3
	: >"$WORK/ours.t"
	: >"$WORK/grep.t"
	for i in $(seq "$RUNS"); do
		/usr/bin/time -f '%e %M %U %S' -o "$WORK/t" "$WORK/mtls-doctor" logs --since 1h -o json "$@" "$log" >"$WORK/ours.json"
		tail -n1 "$WORK/t" >>"$WORK/ours.t" # after any "Command exited with non-zero status"
		case $log in
		*.gz) /usr/bin/time -f '%e %M %U %S' -o "$WORK/t" sh -c 'gzip -dc "$1" | LC_ALL=C grep -c -E "$2"' sh "$log" "$patterns" >"$WORK/grep.count" || true ;;
		*) /usr/bin/time -f '%e %M %U %S' -o "$WORK/t" env LC_ALL=C grep -c -E "$patterns" "$log" >"$WORK/grep.count" || true ;;
		esac
		tail -n1 "$WORK/t" >>"$WORK/grep.t"
		echo "$name run $i: ours $(tail -n1 "$WORK/ours.t" | cut -d' ' -f1)s, grep $(tail -n1 "$WORK/grep.t" | cut -d' ' -f1)s" >&2
	done
	local bytes lines ours_s grep_s ours_rss grep_rss ours_cpu grep_cpu ours_events grep_count
	case $log in
	*.gz) bytes=$(gzip -dc "$log" | wc -c) lines=$(gzip -dc "$log" | wc -l) ;; # what is read
	*) bytes=$(stat -c %s "$log") lines=$(wc -l <"$log") ;;
	esac
	ours_s=$(cut -d' ' -f1 "$WORK/ours.t" | median)
	grep_s=$(cut -d' ' -f1 "$WORK/grep.t" | median)
	ours_rss=$(cut -d' ' -f2 "$WORK/ours.t" | sort -n | tail -n1)
	grep_rss=$(cut -d' ' -f2 "$WORK/grep.t" | sort -n | tail -n1)
	ours_cpu=$(awk '{ print $3 + $4 }' "$WORK/ours.t" | median)
	grep_cpu=$(awk '{ print $3 + $4 }' "$WORK/grep.t" | median)
	ours_events=$(grep -o '"count": [0-9]*' "$WORK/ours.json" | awk '{ s += $2 } END { print s + 0 }')
	grep_count=$(cat "$WORK/grep.count")
	awk -v name="$name" -v b="$bytes" -v l="$lines" -v os="$ours_s" -v gs="$grep_s" -v orss="$ours_rss" -v grss="$grep_rss" \
		-v oe="$ours_events" -v gc="$grep_count" -v runs="$RUNS" -v oc="$ours_cpu" -v gcpu="$grep_cpu" 'BEGIN {
		mb = b / 1048576
		printf "%s: %.0f MiB, %d lines, %d runs, medians\n", name, mb, l, runs
		printf "  mtls-doctor logs   %6.2f s wall %6.2f s CPU  %7.1f MiB/s  peak RSS %6.1f MiB  %d events\n", os, oc, mb / os, orss / 1024, oe
		printf "  grep -c -E         %6.2f s wall %6.2f s CPU  %7.1f MiB/s  peak RSS %6.1f MiB  %d matching lines\n", gs, gcpu, mb / gs, grss / 1024, gc
		printf "  ratio ours/grep    %6.2f wall (target <= 1.0), %.2f CPU; RSS target <= 64 MiB: %s\n", os / gs, oc / gcpu, (orss / 1024 <= 64 ? "met" : "MISSED")
	}'
	[ "$ours_events" = "$grep_count" ] || echo "note: $name: event count differs from grep's line count" >&2
}

# bomb: 1 GiB of zeros without a newline, gzipped (about 1 MB), read as a log: the scan
# streams it through its 1 MiB line cap.
bomb() {
	head -c $((1 << 30)) /dev/zero | gzip -1 >"$WORK/bomb.log.gz"
	: >"$WORK/bomb.t"
	for i in $(seq "$RUNS"); do
		/usr/bin/time -f '%e %M %U %S' -o "$WORK/t" "$WORK/mtls-doctor" logs --since 1h -o json "$WORK/bomb.log.gz" >/dev/null || true
		tail -n1 "$WORK/t" >>"$WORK/bomb.t"
	done
	local wall cpu rss zmb
	wall=$(cut -d' ' -f1 "$WORK/bomb.t" | median)
	cpu=$(awk '{ print $3 + $4 }' "$WORK/bomb.t" | median)
	rss=$(cut -d' ' -f2 "$WORK/bomb.t" | sort -n | tail -n1)
	zmb=$(($(stat -c %s "$WORK/bomb.log.gz") >> 20))
	awk -v w="$wall" -v c="$cpu" -v rss="$rss" -v z="$zmb" -v runs="$RUNS" 'BEGIN {
		printf "gzip bomb (%d MiB compressed, 1024 MiB of zeros, no newline), %d runs, medians\n", z, runs
		printf "  mtls-doctor logs   %6.2f s wall %6.2f s CPU  peak RSS %6.1f MiB (bounded; target <= 64 MiB: %s)\n", w, c, rss / 1024, (rss / 1024 <= 64 ? "met" : "MISSED")
	}'
	rm -f "$WORK/bomb.log.gz"
}

for kind in $LOGS; do
	case $kind in
	error)
		echo "writing a ${SIZE_MB} MB error log" >&2
		make_error_log
		bench "error log (real nginx 1.22.1 lines)" "$WORK/error.log" "$ERROR_PATTERNS"
		rm -f "$WORK/error.log"
		;;
	access)
		echo "writing a ${SIZE_MB} MB access log in a custom log_format" >&2
		make_access_log
		bench "access log (custom log_format with \$ssl_client_verify, \$ssl_client_s_dn, \$ssl_protocol, ALPN, SNI)" \
			"$WORK/access.log" "$ACCESS_PATTERNS" --nginx-config "$WORK/nginx.conf"
		rm -f "$WORK/access.log"
		;;
	gzip)
		echo "writing a ${SIZE_MB} MB error log, gzipped" >&2
		make_error_log
		gzip -1 "$WORK/error.log"
		bench "gzipped error log (read as a stream)" "$WORK/error.log.gz" "$ERROR_PATTERNS"
		rm -f "$WORK/error.log.gz"
		bomb
		;;
	*)
		echo "logs.sh: unknown log kind $kind (want error, access or gzip)" >&2
		exit 3
		;;
	esac
done

if [ "${GOBENCH:-1}" != 0 ]; then
	echo
	(cd "$ROOT" && go test -run '^$' -bench 'ParseClassify' ./logparse | grep -E '^Benchmark')
	(cd "$ROOT" && MTLS_BENCH_LOG_MB=$SIZE_MB go test -run '^$' -bench 'Scan$' -benchtime 3x ./logparse | grep -E '^Benchmark')
fi
