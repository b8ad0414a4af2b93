#!/usr/bin/env bash
# bench/all.sh — one run of every bench script, one after the other, for the README's
# "Performance" figures: the machine (CPUs, model, load average before and after each
# script), the tool versions, then each script's own output. Each script builds the
# release binary itself (bench/build.sh) and compares against its reference tool in the
# same run, alternating, so ratios hold on a loaded machine; wall times do not.
#
#   bench/all.sh | tee bench.out
#   QUICK=1 bench/all.sh     # fewer runs (N=10, RUNS=3, SIZE_MB=128, 1,000 and 10,000 servers)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -n "${QUICK:-}" ]; then
	export N=${N:-10} RUNS=${RUNS:-3} SIZE_MB=${SIZE_MB:-128} SERVERS=${SERVERS:-"1000 10000"}
fi

load() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || uptime; }
echo "== $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //'))"
echo "   $(go version), $(nginx -v 2>&1 || /usr/sbin/nginx -v 2>&1), $(openssl version), $(grep --version | head -1)"

status=0
for script in check.sh nginxconf.sh logs.sh tui.sh upstream.sh yaml.sh; do
	echo
	echo "== bench/$script (load average before: $(load))"
	case $script in
	logs.sh) env GOBENCH=0 LOGS="${LOGS:-error access gzip}" "$ROOT/bench/$script" || status=1 ;;
	nginxconf.sh) env GOBENCH=0 "$ROOT/bench/$script" || status=1 ;;
	*) "$ROOT/bench/$script" || status=1 ;;
	esac
	echo "   (load average after: $(load))"
done
exit $status
