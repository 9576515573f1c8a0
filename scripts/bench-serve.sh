#!/bin/bash
# bench-serve.sh BINARY PCAP KEEP [serve flags...]: time `serve -r` into a fresh DuckDB
# until it reports every call stored ("ingested N calls", printed after the writer's
# Flush), then stop it. Prints wall time, calls/s, packets/s, peak RSS (/usr/bin/time -v),
# CPU time, data-dir size and the writer's counters. STORE=URL stores elsewhere than a
# fresh DuckDB file (e.g. clickhouse://127.0.0.1:PORT/db; scripts/bench-serve-matrix.sh).
set -u
bin=$(realpath "$1"); pcap=$(realpath "$2"); keep=$3; shift 3
d=$(mktemp -d "${TMPDIR:-/tmp}/bench-serve.XXXX")
pkts=$(capinfos -c -M "$pcap" 2>/dev/null | awk '/Number of packets/ {print $NF}')
start=$(date +%s.%N)
cd "$d" # a ClickHouse store's spool and WAL go to ./callscope-data
/usr/bin/time -v -o "$d/time" "$bin" serve -r "$pcap" --store "${STORE:-duckdb:$d/cs.duckdb}" --keep-rtp "$keep" --listen 127.0.0.1:0 "$@" >"$d/out" 2>"$d/err" &
pid=$!
until grep -q "ingested" "$d/out" 2>/dev/null; do sleep 0.1; kill -0 $pid 2>/dev/null || break; done
end=$(date +%s.%N)
url=$(grep -o "serving http://[^ ]*" "$d/out" | cut -d" " -f2)
metrics=$(curl -s "${url}metrics" | grep -E "^callscope_store_(frame_budget_spooled_total|calls_written_total|wal_syncs_total|wal_appended_total) " | tr "\n" " ")
kill -INT "$(pgrep -P $pid)" 2>/dev/null
wait $pid
el=$(echo "$end - $start" | bc)
calls=$(grep -o "ingested [0-9]*" "$d/out" | awk '{print $2}')
rss=$(awk '/Maximum resident/ {print $6}' "$d/time")
cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {print s}' "$d/time")
echo "keep=$keep wall=${el}s calls=$calls calls/s=$(echo "$calls / $el" | bc) packets/s=$(echo "${pkts:-0} / $el" | bc) peakRSS=$((rss/1024))MiB cpu=${cpu}s data=$(du -sm "$d" | cut -f1)MiB $metrics"
rm -rf "$d"
