#!/bin/bash
# bench-serve-peaks.sh BIN PCAP KEEP: serve -r PCAP into a fresh DuckDB and poll /metrics every
# 0.5 s until every call is stored; prints the peaks of the correlator's retained bytes, the
# writer's frame bytes and the Go heap in use (where the memory of kept frames sits).
set -u
bin=$1; pcap=$2; keep=$3; d=$(mktemp -d)
$bin serve -r "$pcap" --store "duckdb:$d/cs.duckdb" --keep-rtp "$keep" --listen 127.0.0.1:0 >"$d/out" 2>"$d/err" &
pid=$!
until grep -q "serving" "$d/out" 2>/dev/null; do sleep 0.1; done
url=$(grep -o "serving http://[^ ]*" "$d/out" | cut -d" " -f2)
mr=0; mf=0; mh=0; ma=0
while ! grep -q "ingested" "$d/out"; do
  m=$(curl -s "${url}metrics")
  r=$(echo "$m" | awk '/^callscope_correlate_retained_bytes /{printf "%d", $2}')
  f=$(echo "$m" | awk '/^callscope_store_frame_bytes /{printf "%d", $2}')
  h=$(echo "$m" | awk '/^go_memstats_heap_inuse_bytes /{printf "%d", $2}')
  a=$(echo "$m" | awk '$1 == "callscope_correlate_active{table=\"calls\"}" {printf "%d", $2}')
  [ "${r:-0}" -gt $mr ] && mr=$r; [ "${f:-0}" -gt $mf ] && mf=$f; [ "${h:-0}" -gt $mh ] && mh=$h; [ "${a:-0}" -gt $ma ] && ma=$a
  sleep 0.5
done
kill -INT $pid; wait $pid; rm -rf $d
echo "$(basename $bin) $keep max: correlator_retained=$((mr>>20))MiB writer_frame_bytes=$((mf>>20))MiB heap_inuse=$((mh>>20))MiB active_calls=$ma"
