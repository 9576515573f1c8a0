#!/usr/bin/env bash
# Side-by-side throughput: callscope analyze vs tshark -q -z rtp,streams on the same
# generated capture of overlapping calls with RTP, both pinned to one core; then
# callscope --workers N on every core (N = nproc) and tcpdump's raw read of the file.
#   scripts/bench-vs-tshark.sh [CALLS] [CALL_SECONDS]
set -euo pipefail
calls=${1:-600}; secs=${2:-30}
cd "$(dirname "$0")/.."
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
go build -o "$work/callscope" ./cmd/callscope
"$work/callscope" gen -load-calls "$calls" -call-seconds "$secs" -w "$work/load.pcap"
pkts=$(capinfos -c -M "$work/load.pcap" | awk '/Number of packets/ {print $NF}')
size=$(stat -c %s "$work/load.pcap")
cat "$work/load.pcap" > /dev/null   # warm the page cache for both tools
t0=$(date +%s.%N)
GOMAXPROCS=1 taskset -c 0 "$work/callscope" analyze --workers 1 --json -r "$work/load.pcap" > "$work/out.json"
t1=$(date +%s.%N)
taskset -c 0 tshark -n -r "$work/load.pcap" -q -z rtp,streams > "$work/tshark.txt"
t2=$(date +%s.%N)
n=$(nproc)
"$work/callscope" analyze --workers "$n" --json -r "$work/load.pcap" > "$work/outN.json"
t3=$(date +%s.%N)
tcpdump -r "$work/load.pcap" -w /dev/null 2>/dev/null
t4=$(date +%s.%N)
cmp -s "$work/out.json" "$work/outN.json" || echo "WARNING: --workers $n output differs from 1 core"
awk -v p="$pkts" -v s="$size" -v a="$t0" -v b="$t1" -v c="$t2" -v calls="$calls" 'BEGIN {
  cs=b-a; ts=c-b;
  printf "capture: %d calls, %d packets, %.1f MB\n", calls, p, s/1e6;
  printf "callscope analyze --json: %.2f s  %.0f packets/s  %.1f MB/s (1 core)\n", cs, p/cs, s/1e6/cs;
  printf "tshark -q -z rtp,streams: %.2f s  %.0f packets/s (1 core)\n", ts, p/ts;
  printf "speed-up: %.1fx\n", ts/cs }'
echo "streams: callscope $(grep -c '"ssrc"' "$work/out.json"), tshark $(grep -c ' 0x' "$work/tshark.txt")"
awk -v n="$n" -v d="$t2" -v e="$t3" -v f="$t4" -v p="$pkts" 'BEGIN {
  printf "callscope analyze --json --workers %d: %.2f s  %.0f packets/s (%d cores)\n", n, e-d, p/(e-d), n;
  printf "tcpdump -r FILE -w /dev/null: %.2f s  %.0f packets/s\n", f-e, p/(f-e) }'
