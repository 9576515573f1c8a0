#!/usr/bin/env bash
# The test command (README): installs what the tests need when run as root on Debian,
# then checks formatting and vet, and runs every test. With CI=true a test that would be
# skipped for a missing tool fails instead (see internal/testutil).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v tshark >/dev/null || need+=(tshark)
command -v capinfos >/dev/null || need+=(wireshark-common)
command -v sipp >/dev/null || need+=(sip-tester)
command -v sngrep >/dev/null || need+=(sngrep)
command -v tcpdump >/dev/null || need+=(tcpdump)
command -v clickhouse-server >/dev/null || need+=(clickhouse-server clickhouse-client)
command -v chromium >/dev/null || need+=(chromium)
# The lab of real SIP servers (internal/labtest): Kamailio (siptrace and rtpengine modules),
# rtpengine in userspace, network namespaces (iproute2) and curl into them.
command -v kamailio >/dev/null || need+=(kamailio)
dpkg -s kamailio-extra-modules >/dev/null 2>&1 || need+=(kamailio-extra-modules)
command -v rtpengine >/dev/null || need+=(rtpengine-daemon)
command -v ip >/dev/null || need+=(iproute2)
command -v curl >/dev/null || need+=(curl)
# SIPVicious for the security tests (cmd/callscope security_lab_test.go).
command -v svmap >/dev/null || need+=(sipvicious)
command -v promtool >/dev/null || need+=(prometheus)
# sox and ffmpeg: the independent G.711 and G.722 decoders the audio tests compare with.
command -v sox >/dev/null || need+=(sox)
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "missing tools (${need[*]}): run as root on Debian to install them" >&2
  fi
fi

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt needed on:" >&2; echo "$unformatted" >&2; exit 1
fi
go vet ./...
go test -count=1 -timeout 45m "$@" ./...
