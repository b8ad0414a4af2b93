#!/usr/bin/env bash
# bench/yaml.sh — how reading the agent's configuration and nginx-manager.conf grows with
# their size, up to the 8,192-token limit: agent configurations whose entries are keys at
# the top level, keys of one nested mapping (v3's labels) or items of one list (v3's
# allowed_directories), and nginx-manager.conf with extra keys (Go benchmarks
# BenchmarkLoadAgentConfigSize and BenchmarkParseNIMManagerConfig in ./probes). Then the
# YAML parse alone past the limit (8,000 entries), go-yaml's parser on the whole document
# against the split parse mtls-doctor uses (BenchmarkParseYAMLTokens).
#
# For each size it prints the median over COUNT runs of the time and the memory allocated
# per entry; linear means flat per-entry figures, and the last column of each group's
# largest size gives its largest per-entry time over its smallest.
#
#   bench/yaml.sh
#   COUNT=5 BENCHTIME=2s bench/yaml.sh
#   BENCH=LoadAgentConfigSize bench/yaml.sh     # one benchmark only
#   GOGC=off bench/yaml.sh                      # the parse without the garbage collector:
#                                               # a heap under its 4 MB minimum target is
#                                               # seldom collected, so small files look cheaper
set -euo pipefail

COUNT=${COUNT:-3}
BENCHTIME=${BENCHTIME:-0.5s}
BENCH=${BENCH:-LoadAgentConfigSize|ParseNIMManagerConfig|ParseYAMLTokens}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
command -v go >/dev/null || { echo "yaml.sh: go not found" >&2; exit 3; }

cd "$ROOT"
go test -run '^$' -bench "$BENCH" -benchtime "$BENCHTIME" -count "$COUNT" -benchmem ./probes |
	grep -E '^Benchmark' |
	awk '
	# Benchmark<Name>/<group...>/<entries|keys>=N-CPUs  iters  ns/op ... B/op ... allocs/op
	{
		name = $1; sub(/-[0-9]+$/, "", name)
		n = name; sub(/.*(entries|keys)=/, "", n)
		group = name; sub(/\/(entries|keys)=[0-9]+$/, "", group); sub(/^Benchmark/, "", group)
		for (i = 2; i < NF; i++) {
			if ($(i + 1) == "ns/op") ns = $i
			if ($(i + 1) == "B/op") bytes = $i
		}
		key = group SUBSEP n
		if (!(key in runs)) { order[++count] = key; groups[group] = groups[group] " " n }
		runs[key]++
		nsv[key, runs[key]] = ns / n
		bv[key, runs[key]] = bytes / n
	}
	function median(arr, key, k,    i, j, t, v) {
		for (i = 1; i <= k; i++) v[i] = arr[key, i]
		for (i = 2; i <= k; i++) for (j = i; j > 1 && v[j] < v[j - 1]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
		return v[int((k + 1) / 2)]
	}
	END {
		printf "%-40s %8s %12s %12s %10s\n", "benchmark", "entries", "µs/entry", "KiB/entry", "max/min"
		for (c = 1; c <= count; c++) {
			split(order[c], kp, SUBSEP); g = kp[1]; n = kp[2]
			t = median(nsv, order[c], runs[order[c]]); b = median(bv, order[c], runs[order[c]])
			if (!(g in lo) || t < lo[g]) lo[g] = t
			if (!(g in hi) || t > hi[g]) hi[g] = t
			last[g] = n
			line[c] = sprintf("%-40s %8d %12.2f %12.2f", g, n, t / 1000, b / 1024)
		}
		for (c = 1; c <= count; c++) {
			split(order[c], kp, SUBSEP); g = kp[1]; n = kp[2]
			ratio = (n == last[g]) ? sprintf("%9.2fx", hi[g] / lo[g]) : ""
			print line[c] " " ratio
		}
	}'
