#!/usr/bin/env bash
# bench/logs.sh — how fast `mtls-doctor logs` reads a big NGINX error log, next to
# `LC_ALL=C grep -c -E` over the same file with the same patterns, in the same run.
#
# It builds a mixed NGINX error log of SIZE_MB megabytes (default 1024) from the real
# nginx 1.22.1 lines in testdata/logs/nginx-error-real.log — client-certificate
# rejections, handshake failures, upstream errors, start-up notices — restamped over the
# last 50 minutes, then alternates RUNS runs (default 5) of
#
#   mtls-doctor logs --since 1h -o json FILE      (parse + classify every line, summary)
#   LC_ALL=C grep -c -E 'PATTERNS' FILE             (count the lines the classifier looks for)
#
# with the file in the page cache, and prints each tool's median wall and CPU time and
# peak RSS (GNU time), the ratios, and both counts. Targets: ours within 2× grep, peak RSS ≤ 64 MB.
# Then it runs the Go benchmarks of logparse (parse+classify per format, Scan).
#
#   bench/logs.sh
#   SIZE_MB=2048 RUNS=5 bench/logs.sh
#   GOBENCH=0 bench/logs.sh       # skip the go test -bench part
#   KEEP=1 bench/logs.sh          # keep the temp dir (the log) for a profile
set -euo pipefail

SIZE_MB=${SIZE_MB:-1024}
RUNS=${RUNS:-5}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REAL=$ROOT/testdata/logs/nginx-error-real.log

for tool in go grep awk date; do
	command -v "$tool" >/dev/null || { echo "logs.sh: $tool not found" >&2; exit 3; }
done
[ -x /usr/bin/time ] || { echo "logs.sh: GNU time (/usr/bin/time) not found: apt-get install time" >&2; exit 3; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mtls-doctor-logs.XXXXXX")
if [ -n "${KEEP:-}" ]; then trap 'echo "kept $WORK" >&2' EXIT; else trap 'rm -rf "$WORK"' EXIT; fi

echo "building mtls-doctor" >&2
(cd "$ROOT" && go build -o "$WORK/mtls-doctor" ./cmd/mtls-doctor)

# One minute of real lines per minute of the last 50, then that block doubled until it
# is about 1 MiB, then the 1 MiB block repeated SIZE_MB times.
echo "writing a ${SIZE_MB} MB error log" >&2
: >"$WORK/minutes.log"
for m in $(seq 50 -1 1); do
	ts=$(date -d "-$m min" '+%Y/%m/%d %H:%M:%S')
	awk -v ts="$ts" '{ print ts substr($0, 20) }' "$REAL" >>"$WORK/minutes.log"
done
cp "$WORK/minutes.log" "$WORK/block.log"
while [ "$(stat -c %s "$WORK/block.log")" -lt $((1 << 20)) ]; do
	cat "$WORK/block.log" "$WORK/block.log" >"$WORK/block2.log"
	mv "$WORK/block2.log" "$WORK/block.log"
done
LOG=$WORK/error.log
block=$(stat -c %s "$WORK/block.log")
for _ in $(seq $(( ((SIZE_MB << 20) + block - 1) / block ))); do cat "$WORK/block.log"; done >"$LOG"
BYTES=$(stat -c %s "$LOG")
LINES=$(wc -l <"$LOG")
cat "$LOG" >/dev/null # into the page cache

# The texts logparse classifies NGINX error lines by (ClassifyError).
PATTERNS='client SSL certificate verify error|client sent no required SSL certificate|client sent plain HTTP request to HTTPS port|PRI \* HTTP/2\.0|SSL_do_handshake\(\) failed|connect\(\) failed .* while connecting to upstream|no live upstreams|client attempted to request the server name'

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

: >"$WORK/ours.t"
: >"$WORK/grep.t"
for i in $(seq "$RUNS"); do
	/usr/bin/time -f '%e %M %U %S' -o "$WORK/t" "$WORK/mtls-doctor" logs --since 1h -o json "$LOG" >"$WORK/ours.json"
	cat "$WORK/t" >>"$WORK/ours.t"
	/usr/bin/time -f '%e %M %U %S' -o "$WORK/t" env LC_ALL=C grep -c -E "$PATTERNS" "$LOG" >"$WORK/grep.count" || true
	cat "$WORK/t" >>"$WORK/grep.t"
	echo "run $i: ours $(tail -n1 "$WORK/ours.t" | cut -d' ' -f1)s, grep $(tail -n1 "$WORK/grep.t" | cut -d' ' -f1)s" >&2
done

ours_s=$(cut -d' ' -f1 "$WORK/ours.t" | median)
grep_s=$(cut -d' ' -f1 "$WORK/grep.t" | median)
ours_rss=$(cut -d' ' -f2 "$WORK/ours.t" | sort -n | tail -n1)
grep_rss=$(cut -d' ' -f2 "$WORK/grep.t" | sort -n | tail -n1)
ours_cpu=$(awk '{ print $3 + $4 }' "$WORK/ours.t" | median)
grep_cpu=$(awk '{ print $3 + $4 }' "$WORK/grep.t" | median)
ours_events=$(grep -o '"count": [0-9]*' "$WORK/ours.json" | awk '{ s += $2 } END { print s + 0 }')
grep_count=$(cat "$WORK/grep.count")

awk -v b="$BYTES" -v l="$LINES" -v os="$ours_s" -v gs="$grep_s" -v orss="$ours_rss" -v grss="$grep_rss" \
	-v oe="$ours_events" -v gc="$grep_count" -v runs="$RUNS" -v oc="$ours_cpu" -v gcpu="$grep_cpu" 'BEGIN {
	mb = b / 1048576
	printf "log: %.0f MiB, %d lines (real nginx 1.22.1 lines), %d runs, medians\n", mb, l, runs
	printf "  mtls-doctor logs   %6.2f s wall %6.2f s CPU  %7.1f MiB/s  peak RSS %6.1f MiB  %d events\n", os, oc, mb / os, orss / 1024, oe
	printf "  grep -c -E         %6.2f s wall %6.2f s CPU  %7.1f MiB/s  peak RSS %6.1f MiB  %d matching lines\n", gs, gcpu, mb / gs, grss / 1024, gc
	printf "  ratio ours/grep    %6.2f wall (target <= 2), %.2f CPU; RSS target <= 64 MiB: %s\n", os / gs, oc / gcpu, (orss / 1024 <= 64 ? "met" : "MISSED")
}'
[ "$ours_events" = "$grep_count" ] || echo "note: event count differs from grep's line count" >&2

if [ "${GOBENCH:-1}" != 0 ]; then
	echo
	(cd "$ROOT" && go test -run '^$' -bench 'ParseClassify' ./logparse | grep -E '^Benchmark')
	(cd "$ROOT" && MTLS_BENCH_LOG_FILE=$LOG go test -run '^$' -bench 'Scan' -benchtime 3x ./logparse | grep -E '^Benchmark')
fi
