#!/bin/bash
# bench-serve-matrix.sh BINARY [CALLS...]: issue 17's serve matrix. For each number of
# concurrent 4-s calls (default 500 5000 20000; captures made with `gen -load-calls N
# -call-seconds 4` into $CAPS, default /tmp/frames, when missing), each store (a fresh
# DuckDB file; a throwaway ClickHouse server on loopback, Debian's clickhouse-server, one
# new database per run) and each --keep-rtp mode, runs scripts/bench-serve.sh once and
# prints its line, then `analyze` on the same capture for the ratio. Peak RSS is
# callscope's alone (the ClickHouse server is another process). KEEPS="headers" and
# STORES="clickhouse" narrow the matrix; BINARY may be several binaries, comma-separated,
# run in turn for each cell (interleaved A/B).
set -u
here=$(cd "$(dirname "$0")" && pwd)
bins=$1; shift
sizes=${*:-500 5000 20000}
caps=${CAPS:-/tmp/frames}
mkdir -p "$caps"

ch=$(mktemp -d /tmp/bench-ch.XXXX)
mkdir -p "$ch/data/tmp" "$ch/data/user_files" "$ch/data/format_schemas" "$ch/log"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
hport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
iport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$ch/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$ch/log/server.log</log><errorlog>$ch/log/server.err.log</errorlog></logger>
  <tcp_port>$port</tcp_port><http_port>$hport</http_port><interserver_http_port>$iport</interserver_http_port>
  <listen_host>127.0.0.1</listen_host>
  <mark_cache_size>268435456</mark_cache_size>
  <path>$ch/data/</path><tmp_path>$ch/data/tmp/</tmp_path>
  <user_files_path>$ch/data/user_files/</user_files_path><format_schema_path>$ch/data/format_schemas/</format_schema_path>
  <users_config>users.xml</users_config><default_profile>default</default_profile><default_database>default</default_database>
  <timezone>UTC</timezone><mlock_executable>false</mlock_executable>
</yandex>
EOF
cat >"$ch/users.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
EOF
(cd "$ch" && exec clickhouse-server --config-file="$ch/config.xml" >"$ch/log/out" 2>&1) &
chpid=$!
trap 'kill $chpid 2>/dev/null; wait $chpid 2>/dev/null; rm -rf "$ch"' EXIT
for i in $(seq 100); do clickhouse-client --port "$port" -q 'select 1' >/dev/null 2>&1 && break; sleep 0.2; done

run=0
for n in $sizes; do
  pcap="$caps/l$n.pcap"
  bin=$(realpath "${bins%%,*}")
  [ -f "$pcap" ] || "$bin" gen -load-calls "$n" -call-seconds 4 -w "$pcap" >/dev/null
  a=$( { /usr/bin/time -f "%e %M" "$bin" analyze "$pcap" >/dev/null; } 2>&1 | tail -1)
  echo "calls=$n analyze wall=$(echo "$a" | cut -d' ' -f1)s peakRSS=$(( $(echo "$a" | cut -d' ' -f2) / 1024 ))MiB"
  for k in ${KEEPS:-none headers full}; do
    for st in ${STORES:-duckdb clickhouse}; do
      for b in ${bins//,/ }; do
        run=$((run + 1))
        url=
        [ "$st" = clickhouse ] && url="clickhouse://default:@127.0.0.1:$port/bench$run"
        echo "calls=$n store=$st bin=$(basename "$b") $(STORE=$url "$here/bench-serve.sh" "$b" "$pcap" "$k")"
      done
    done
  done
done
