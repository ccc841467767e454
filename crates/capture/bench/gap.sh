#!/usr/bin/env bash
# How sessions read once a capture lost some of its server-to-client segments:
# a synthesized capture (or CAPTURE) is copied without a share of those
# segments, and each binary's records of the damaged copy are compared with
# its records of the intact one and with the best reading possible (the
# copy that keeps the lost segments with their reply codes blanked, see
# drop_server_segments.py).
#
#   crates/capture/bench/gap.sh [RATE] [SEED] [OP25B_BINARY...]
#
# RATE (default 0.01) is the share of server data segments dropped, SEED
# (default 1) picks them. CAPTURE=FILE uses that capture instead of
# `op25b synth --profile wakwak-2005 --seed 1 --scale 0.5`'s before.pcap.
set -euo pipefail
rate=${1:-0.01}
seed=${2:-1}
shift 2 || shift $# || true
target=${CARGO_TARGET_DIR:-/var/tmp/op25b-target}
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=("$target/release/op25b")
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
capture=${CAPTURE:-}
if [ -z "$capture" ]; then
  "${bins[0]}" synth --profile wakwak-2005 --seed 1 --scale 0.5 -o "$dir/synth" >/dev/null 2>&1
  capture=$dir/synth/before.pcap
fi
echo "capture: $capture; server data segments dropped at rate $rate, seed $seed:"
python3 "$here/drop_server_segments.py" "$capture" "$dir/damaged.pcap" "$rate" "$seed" \
  --neutral "$dir/neutral.pcap"
for b in "${bins[@]}"; do
  echo "== $b"
  "$b" ingest -q "$capture" -o "$dir/intact.csv"
  "$b" ingest -q "$dir/neutral.pcap" -o "$dir/neutral.csv"
  "$b" ingest "$dir/damaged.pcap" -o "$dir/damaged.csv" 2>&1 | grep -E 'smtp:' || true
  python3 "$here/gap_compare.py" "$dir/intact.csv" "$dir/damaged.csv" --best "$dir/neutral.csv"
done
