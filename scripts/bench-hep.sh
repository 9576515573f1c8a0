#!/bin/bash
# bench-hep.sh [RATE...]: HEP live ingest under load (issue 17). For each RATE (SIP
# messages/s) it starts a fresh `callscope serve --hep` pinned to core 1 (taskset) with a
# DuckDB store in a temp dir, and runs internal/tools/hepload pinned to core 0 inside a
# network namespace (hepbench, veth pair on 10.99.0.0/30) sending CALLS complete calls
# of 7 messages each as HEPv3/UDP to 10.99.0.1:9060. It prints per rate: messages sent,
# the socket and queue drops (callscope_hep_socket_drops_total, _dropped_total), the
# backlog left when the sender finished, calls stored (callscope_store_calls_written_total
# after the calls' 10 s linger) and serve's CPU (utime+stime from /proc/PID/stat) per
# message: during ingest (send start to the last message correlated) and in all (to the
# last call stored). Needs root (ip netns). Env: CALLS (default 120000), BIN (a prebuilt
# callscope), KEEP=1 keeps the temp dirs,
# PERF=FILE records `perf record -g` of serve during ingest into FILE.RATE.
set -eu
cd "$(dirname "$0")/.."
calls=${CALLS:-120000}
rates=${*:-100000 150000}
d=$(mktemp -d "${TMPDIR:-/tmp}/bench-hep.XXXX")
bin=${BIN:-$d/callscope}
[ -n "${BIN:-}" ] || go build -o "$bin" ./cmd/callscope
go build -o "$d/hepload" ./internal/tools/hepload
ns=hepbench
cleanup() {
	ip netns del $ns 2>/dev/null || true
	ip link del hb0 2>/dev/null || true
	[ -n "${KEEP:-}" ] || rm -rf "$d"
}
trap cleanup EXIT
cleanup_ns() { ip netns del $ns 2>/dev/null || true; ip link del hb0 2>/dev/null || true; }
cleanup_ns
ip netns add $ns
ip link add hb0 type veth peer name hb1 netns $ns
ip addr add 10.99.0.1/30 dev hb0
ip link set hb0 up
ip -n $ns addr add 10.99.0.2/30 dev hb1
ip -n $ns link set hb1 up
ip -n $ns link set lo up
# Every call's messages must fit: no retained-bytes budget drops at these rates.
printf 'max_retained_bytes: 8589934592\n' >"$d/cfg.yaml"

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; } # clock ticks
metric() { curl -s "$1/metrics" | awk -v n="$2" '$1 == n {printf "%d", $2; f=1} END {if (!f) print 0}'; }
hz=$(getconf CLK_TCK)

for rate in $rates; do
	run=$d/r$rate
	mkdir -p "$run"
	taskset -c 1 "$bin" serve --hep 10.99.0.1:9060 --config "$d/cfg.yaml" --store "duckdb:$run/cs.duckdb" \
		--listen 127.0.0.1:0 --retention 0 --keep-rtp none >"$run/out" 2>"$run/err" &
	pid=$!
	until grep -q "serving http://" "$run/out" 2>/dev/null; do sleep 0.1; done
	url=$(grep -o "serving http://[^ ]*" "$run/out" | cut -d" " -f2)
	url=${url%/}
	sleep 1
	c0=$(cpu $pid)
	if [ -n "${PERF:-}" ]; then perf record -q -F 1999 -g -p $pid -o "$PERF.$rate" 2>/dev/null & perfpid=$!; fi
	ip netns exec $ns taskset -c 0 "$d/hepload" -to 10.99.0.1:9060 -rate "$rate" -calls "$calls" >"$run/sent"
	sent=$(grep -o '"messages":[0-9]*' "$run/sent" | cut -d: -f2)
	bytes=$(grep -o '"sip_bytes":[0-9]*' "$run/sent" | cut -d: -f2)
	secs=$(grep -o '"seconds":[0-9.]*' "$run/sent" | cut -d: -f2)
	got=$(metric "$url" callscope_correlate_sip_messages_total)
	backlog=$((sent - got))
	# The last messages correlated: ingest CPU ends here.
	for _ in $(seq 200); do
		got=$(metric "$url" callscope_correlate_sip_messages_total)
		drops=$(($(metric "$url" callscope_hep_socket_drops_total) + $(metric "$url" callscope_hep_dropped_total)))
		[ $((got + drops)) -ge "$sent" ] && break
		sleep 0.05
	done
	c1=$(cpu $pid)
	if [ -n "${PERF:-}" ]; then kill -INT $perfpid; wait $perfpid || true; fi
	for _ in $(seq 120); do
		stored=$(metric "$url" callscope_store_calls_written_total)
		[ "$stored" -ge "$calls" ] && break
		sleep 0.5
	done
	c2=$(cpu $pid)
	sock=$(metric "$url" callscope_hep_socket_drops_total)
	queue=$(metric "$url" callscope_hep_dropped_total)
	udp=$(metric "$url" callscope_hep_udp_packets_total)
	trims=$(metric "$url" callscope_go_heap_trims_total)
	rss=$(awk '/VmHWM/ {print int($2/1024)}' /proc/$pid/status)
	kill -INT $pid
	wait $pid || true
	echo "rate=$rate sent=$sent in ${secs}s (mean $((bytes / sent)) B/msg) udp_read=$udp socket_drops=$sock queue_drops=$queue" \
		"backlog_at_end=$backlog stored=$stored/$calls" \
		"ingest_cpu=$(echo "scale=2; ($c1 - $c0) * 1000000 / $hz / $got" | bc)us/msg" \
		"total_cpu=$(echo "scale=2; ($c2 - $c0) * 1000000 / $hz / $sent" | bc)us/msg peakRSS=${rss}MiB heap_trims=$trims"
done
