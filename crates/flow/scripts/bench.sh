#!/bin/sh
# Decoder throughput, side by side with nfdump reading the same flows from
# its own file. Needs Debian's nfdump (apt-get install nfdump).
# Usage: crates/flow/scripts/bench.sh [RECORDS]   (from the workspace root)
set -eu
N=${1:-5000000}
DIR=${BENCH_DIR:-/tmp/op25b-flow-bench}
TARGET=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
cargo build --release -p op25b-flow --example decode_bench
B="$TARGET/release/examples/decode_bench"
mkdir -p "$DIR"
"$B" gen "$DIR/ipfix.raw" "$N" ipfix
"$B" gen "$DIR/v9.raw" "$N" v9
echo "== op25b-flow (median of 5, in memory)"
"$B" run "$DIR/ipfix.raw" 5
"$B" run "$DIR/v9.raw" 5
echo "== nfdump: the same IPFIX flows collected by nfcapd over loopback UDP"
rm -rf "$DIR/nfc" && mkdir -p "$DIR/nfc"
nfcapd -b 127.0.0.1 -p 47390 -w "$DIR/nfc" -t 3600 -B 16000000 >"$DIR/nfcapd.log" 2>&1 &
NFCAPD=$!
sleep 1
"$B" send "$DIR/ipfix.raw" 127.0.0.1:47390
sleep 2
kill -TERM "$NFCAPD"
wait "$NFCAPD" || true
F=$(ls "$DIR"/nfc/nfcapd.* | head -1)
nfdump -r "$F" -I | grep '^Flows:'
for i in 1 2 3; do /usr/bin/time -f "nfdump -o null: %e s real, %U s user, %S s sys" nfdump -r "$F" -q -o null >/dev/null; done
for i in 1 2 3; do /usr/bin/time -f "nfdump -o csv:  %e s real, %U s user, %S s sys" nfdump -r "$F" -q -o csv >/dev/null; done
