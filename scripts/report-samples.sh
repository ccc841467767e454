#!/usr/bin/env bash
# The main job on the shipped samples: the before/after report of the
# simulated WAKWAK-like ISP, from the packet captures and from the NetFlow v5
# export of the same traffic, alone and with the ISP mail servers' log.
# Writes reports/sample/, reports/sample-netflow/ and
# reports/sample-netflow-relay-log/.
# tests/samples.rs fails when what this writes differs from what is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p op25b
op25b="${CARGO_TARGET_DIR:-/var/tmp/op25b-target}/release/op25b"
S=sample-pcaps
"$op25b" report --config $S/isp.toml \
  --before $S/before.pcap.gz --after $S/after.pcap.gz -o reports/sample "$@"
"$op25b" report --config $S/isp.toml \
  --before $S/before-netflow5.pcap.gz --after $S/after-netflow5.pcap.gz -o reports/sample-netflow "$@"
"$op25b" report --config $S/isp.toml \
  --before $S/before-netflow5.pcap.gz --after $S/after-netflow5.pcap.gz \
  --relay-log $S/before-maillog.gz $S/after-maillog.gz -o reports/sample-netflow-relay-log "$@"
echo "open reports/sample/report.html (and reports/sample-netflow*/report.html)"
