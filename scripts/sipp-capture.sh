#!/usr/bin/env bash
# Makes a capture of real SIPp calls on loopback: answered (G.711 audio + RFC 4733 DTMF),
# busy, cancelled and held (re-INVITE sendonly), captured by tcpdump.
#   scripts/sipp-capture.sh OUT.pcap [TRANSPORT]     TRANSPORT: u1 (UDP, default) or t1 (TCP)
# Needs sipp (Debian sip-tester) and tcpdump; run as root (capture on lo).
set -euo pipefail
out=$(realpath -m "$1"); tr=${2:-u1}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/pcap"; cp /usr/share/sip-tester/g711a.pcap /usr/share/sip-tester/dtmf_2833_1.pcap "$work/pcap/"
cp "$here"/testdata/sipp/*.xml "$work/"; cd "$work"
base=${SIPP_PORT_BASE:-25060}
# Only the SIP and media ports of these calls: other tests may use loopback meanwhile.
tcpdump -i lo -s0 -U -w "$out" "(udp or tcp) and (portrange $base-$((base+20)) or portrange 26000-27400)" 2>/dev/null & tpid=$!
sleep 1
uas() { sipp -sf "$1" -i 127.0.0.1 -p "$2" -mp "$3" -t "$tr" -rtp_echo -bg >/dev/null 2>&1 || true; }
uac() { timeout 60 sipp -sf "$1" -s "$2" -i 127.0.0.1 -p "$3" -mp "$4" -t "$tr" "127.0.0.1:$5" -m 1 -nostdin >/dev/null 2>&1; }
uas uas_answer.xml $((base+10)) 26000
uas uas_busy.xml   $((base+12)) 26100
uas uas_cancel.xml $((base+14)) 26200
sleep 0.5
uac uac_answer.xml 1001 $((base+1)) 27000 $((base+10))
uac uac_busy.xml   1002 $((base+2)) 27100 $((base+12))
uac uac_cancel.xml 1003 $((base+3)) 27200 $((base+14))
uac uac_hold.xml   1004 $((base+4)) 27300 $((base+10))
sleep 2.5
pkill -f "sipp -sf uas_" || true
kill "$tpid"; wait "$tpid" 2>/dev/null || true
echo "wrote $out"
