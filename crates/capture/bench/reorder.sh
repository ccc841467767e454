#!/usr/bin/env bash
# Peak memory of `op25b ingest` on a capture where every SMTP connection lost
# one early segment, so each holds its later segments (4 x 60 000 bytes) out
# of order until it ends: without a table-wide budget the memory held grows
# with the number of such connections.
#
#   crates/capture/bench/reorder.sh [CONNECTIONS] [OP25B_BINARY...]
#
# CONNECTIONS (default 12000) sets the capture size: 240 KB per connection.
# With several binaries (an older build, say) each runs on the same file.
set -euo pipefail
n=${1:-12000}
shift || true
target=${CARGO_TARGET_DIR:-/var/tmp/op25b-target}
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=("$target/release/op25b")
[ -x /usr/bin/time ] || apt-get install -y time >/dev/null
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python3 "$here/lossy_pcap.py" "$n" "$dir/lossy.pcap"
echo "capture: $n connections, $(stat -c %s "$dir/lossy.pcap") bytes"
printf '%-40s %8s %12s  %s\n' binary seconds "peak RSS MB" "waits given up"
for b in "${bins[@]}"; do
  /usr/bin/time -f '%e %M' -o "$dir/time" "$b" ingest "$dir/lossy.pcap" -o "$dir/out.csv" 2> "$dir/err"
  read -r secs kb < "$dir/time"
  given=$(grep -o 'reorder budget=[0-9]*' "$dir/err" | cut -d= -f2 || true)
  printf '%-40s %8s %12d  %s\n' "$b" "$secs" $((kb / 1024)) "${given:-n/a}"
  sort "$dir/out.csv" | md5sum | cut -c1-12 | sed 's/^/  records (sorted) md5: /'
done
