#!/bin/bash
# export-pcaps.sh BIN PCAP OUTDIR: serve -r PCAP with BIN (--keep-rtp headers) and save every
# call's exported pcap (GET /api/v1/calls/:id/pcap, up to 1000 calls) as OUTDIR/<id>.pcap, to
# compare two builds: `cmp -s before/X.pcap after/X.pcap` (BENCHMARKS.md, "Packed media frames").
bin=$1; pcap=$2; out=$3; mkdir -p $out; d=$(mktemp -d)
$bin serve -r "$pcap" --store "duckdb:$d/cs.duckdb" --keep-rtp headers --listen 127.0.0.1:0 >"$d/out" 2>"$d/err" &
pid=$!
until grep -q "ingested" "$d/out" 2>/dev/null; do sleep 0.2; done
url=$(grep -o "serving http://[^ ]*" "$d/out" | cut -d" " -f2)
curl -s "${url}api/v1/calls?limit=1000" > $out/list.json
for id in $(python3 -c "import json,sys; d=json.load(open('$out/list.json')); print(' '.join(c['id'] for c in (d['calls'] if isinstance(d,dict) else d)))"); do
  curl -s "${url}api/v1/calls/$id/pcap" -o $out/$id.pcap
done
kill -INT $pid; wait $pid; rm -rf $d
