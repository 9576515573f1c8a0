#!/bin/sh
# bench-workers.sh CALLS [ROUNDS] [DIR]: `callscope analyze --json` on a generated load of
# CALLS concurrent 20 s calls, --workers 1 and --workers 2 alternated ROUNDS times (default
# 3) in one run; prints packets/s, ns/packet, peak RSS (/usr/bin/time -v's "Maximum
# resident set size") and CPU time, and checks both JSON documents are identical.
set -eu
calls=${1:?usage: bench-workers.sh CALLS [ROUNDS] [DIR]}
rounds=${2:-3}
dir=${3:-${TMPDIR:-/tmp}/callscope-bench}
mkdir -p "$dir"
bin="$dir/callscope"
go build -o "$bin" ./cmd/callscope
cap="$dir/load$calls.pcap"
[ -f "$cap" ] || "$bin" gen -load-calls "$calls" -call-seconds 20 -w "$cap"
pkts=$("$bin" analyze --workers 1 --json -r "$cap" | tee "$dir/w1.json" | sed -n 's/^    "packets": \([0-9]*\),$/\1/p' | head -1)
echo "capture: $calls calls, $pkts packets, $(du -m "$cap" | cut -f1) MB ($(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
i=0
while [ "$i" -lt "$rounds" ]; do
	for w in 1 2; do
		/usr/bin/time -f '%e %U %S %M' -o "$dir/time" "$bin" analyze --workers "$w" --json -r "$cap" >"$dir/w$w.out"
		read -r wall user sys rss <"$dir/time"
		awk -v w="$w" -v p="$pkts" -v wall="$wall" -v u="$user" -v s="$sys" -v rss="$rss" 'BEGIN {
			printf "workers %d: %6.2f s  %9.0f packets/s  %6.1f ns/packet  peak RSS %4.0f MiB  cpu %.2f s user + %.2f s sys\n",
				w, wall, p / wall, wall * 1e9 / p, rss / 1024, u, s }'
	done
	cmp -s "$dir/w1.out" "$dir/w2.out" || { echo "workers 1 and 2 differ"; exit 1; }
	i=$((i + 1))
done
echo "reports identical (workers 1 and 2)"
