#!/usr/bin/env bash
# bench/tui.sh — how long the assistant takes from exec to its first frame, inside tmux
# (where colour detection can run `tmux info`) and with TMUX unset, over N runs each.
#
# A private tmux server (its own socket, no config) runs a 120x40 pane whose shell waits
# on a FIFO, writes the time, then execs mtls-doctor with an agent configuration that
# names a closed port on 127.0.0.1 (the first frame must not wait for any probe). The
# pane's output is piped to grep, which notes the time when the tab bar ("Overview")
# arrives. Target: median ≤ 100 ms. Then it runs the Go benchmarks of the TUI (View at
# 10,000 log lines, target ≤ 5 ms; first frame in-process).
#
#   bench/tui.sh            # N=15
#   N=30 bench/tui.sh
#   GOBENCH=0 bench/tui.sh  # skip the go test -bench part
#   BIN=/path/to/mtls-doctor bench/tui.sh   # time that build instead (e.g. an older one)
#   DEBUG=1 bench/tui.sh    # print each run's two timestamps
set -euo pipefail

N=${N:-15}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/build.sh
. "$ROOT/bench/build.sh"
for tool in go tmux date; do
	command -v "$tool" >/dev/null || { echo "tui.sh: $tool not found (apt-get install $tool)" >&2; exit 3; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mtls-doctor-tui.XXXXXX")
SOCK=mtls-doctor-bench-$$
cleanup() {
	tmux -L "$SOCK" kill-server 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -n "${BIN:-}" ]; then
	cp "$BIN" "$WORK/mtls-doctor"
else
	echo "building mtls-doctor" >&2
	build_release "$WORK/mtls-doctor"
fi

# A closed loopback port: bind one, note it, let it go.
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 9)
cat >"$WORK/nginx-agent.conf" <<-EOF
	server:
	  host: 127.0.0.1
	  grpcPort: $PORT
	tls:
	  enable: true
	  skip_verify: false
EOF

# first_frame ENV_PREFIX: one run; prints milliseconds from exec to the tab bar. Each run
# has its own files: a pipe of the run before may still be writing.
RUN=0
first_frame() {
	local prefix=$1 t0 t1
	RUN=$((RUN + 1))
	t0=$WORK/t0.$RUN t1=$WORK/t1.$RUN
	rm -f "$WORK/go"
	mkfifo "$WORK/go"
	# The timestamps are taken by scripts: tmux runs strftime over command strings.
	printf '#!/bin/sh\nread _ <"%s"\ndate +%%s%%N >"%s"\nexec %s "%s" --agent-config "%s"\n' \
		"$WORK/go" "$t0" "$prefix" "$WORK/mtls-doctor" "$WORK/nginx-agent.conf" >"$WORK/pane.sh"
	printf '#!/bin/sh\ngrep -a -m1 -q Overview && date +%%s%%N >"%s"\n' "$t1" >"$WORK/watch.sh"
	chmod +x "$WORK/pane.sh" "$WORK/watch.sh"
	tmux -L "$SOCK" -f /dev/null new-session -d -s b -x 120 -y 40 "$WORK/pane.sh"
	tmux -L "$SOCK" pipe-pane -t b -o "$WORK/watch.sh"
	echo >"$WORK/go"
	for _ in $(seq 200); do
		[ -s "$t0" ] && [ -s "$t1" ] && break
		sleep 0.05
	done
	tmux -L "$SOCK" send-keys -t b q 2>/dev/null || true
	for _ in $(seq 40); do
		tmux -L "$SOCK" has-session -t b 2>/dev/null || break
		sleep 0.05
	done
	tmux -L "$SOCK" kill-server 2>/dev/null || true
	[ -n "${DEBUG:-}" ] && echo "run $RUN: t0=$(cat "$t0" 2>/dev/null) t1=$(cat "$t1" 2>/dev/null)" >&2
	if [ -s "$t0" ] && [ -s "$t1" ]; then
		echo $((($(cat "$t1") - $(cat "$t0")) / 1000000))
	else
		echo "tui.sh: no first frame within 10 s" >&2
		echo 10000
	fi
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
range() { sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s–%s", lo, hi }'; }

: >"$WORK/tmux.ms"
: >"$WORK/notmux.ms"
echo "== $N runs each, alternating" >&2
for _ in $(seq "$N"); do
	first_frame "" >>"$WORK/tmux.ms"           # TMUX set, as in any tmux pane
	first_frame "env -u TMUX" >>"$WORK/notmux.ms"
done

printf '\n%-40s %10s %14s\n' "first frame, exec to tab bar ($N runs)" "median ms" "min–max ms"
printf '%-40s %10s %14s\n' "inside tmux (TMUX set)" "$(median <"$WORK/tmux.ms")" "$(range <"$WORK/tmux.ms")"
printf '%-40s %10s %14s\n' "TMUX unset" "$(median <"$WORK/notmux.ms")" "$(range <"$WORK/notmux.ms")"
m=$(median <"$WORK/tmux.ms")
printf '\ninside tmux: %s ms — %s\n' "$m" "$([ "$m" -le 100 ] && echo "within target (≤ 100 ms)" || echo "OVER target (≤ 100 ms)")"

if [ "${GOBENCH:-1}" != 0 ]; then
	echo
	(cd "$ROOT" && go test -run '^$' -bench 'View|FirstFrame' -benchtime 20x ./tui | grep -E '^Benchmark')
fi
