#!/usr/bin/env bash
# Postfix log reading, op25b-maillog against pflogsumm (Debian's Postfix log
# summariser) and grep/wc as the I/O floor, on the same file in one run.
#
#   crates/maillog/bench/read.sh [COPIES]
#
# The log is the simulated ISP's after-block maillog (wakwak-2005, seed 1,
# scale 1) rewritten with classic syslog timestamps (pflogsumm's input
# form), repeated COPIES times (default 40) with each copy's queue IDs made
# distinct. Needs pflogsumm (apt-get install pflogsumm).
set -euo pipefail
cd "$(dirname "$0")/../../.."
copies="${1:-40}"
target="${CARGO_TARGET_DIR:-/var/tmp/op25b-target}"
work="${BENCH_DIR:-/var/tmp/op25b-maillog-bench}"
mkdir -p "$work"
cargo build --release --quiet -p op25b -p op25b-maillog --example read_log
"$target/release/op25b" synth --seed 1 --scale 1 -o "$work/synth" >/dev/null 2>&1
log="$work/maillog-$copies"
if [ ! -s "$log" ]; then
  for i in $(seq 1 "$copies"); do
    # 2005-11-08T10:00:18.377576+09:00 host ... -> Nov  8 10:00:18 host ...;
    # queue IDs get the copy number as a prefix (still alphanumeric).
    awk -v c="$i" 'BEGIN{split("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec",M," ")}
      { ts=$1; $1=""; sub(/^ /,"");
        gsub(/[0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F]/, "C" c "&");
        printf "%s %2d %s %s\n", M[substr(ts,6,2)+0], substr(ts,9,2)+0, substr(ts,12,8), $0 }' \
      "$work/synth/after-maillog"
  done > "$log"
fi
size=$(stat -c %s "$log")
lines=$(wc -l < "$log")
echo "log: $log, $size bytes, $lines lines"
t() { # label command...: wall seconds and peak RSS
  local s e
  s=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$work/rss" "$@" > "$work/out.txt" 2>&1
  e=$(date +%s.%N)
  echo "$1 $(echo "$e - $s" | bc) $(cat "$work/rss")"
}
cat "$log" > /dev/null
{
  t "$target/release/examples/read_log" --utc-offset 32400 "$log"
  t pflogsumm --problems-first "$log"
  t grep -c "status=" "$log"
  t wc -l "$log"
} | awk -v size="$size" -v lines="$lines" '
  { name=$1; sub(".*/", "", name); secs[NR]=$2; rss[NR]=$3; names[NR]=name }
  END { for (i = 1; i <= NR; i++)
          printf "%-12s %7.2f s  %7.1f MB/s  %6.2f M lines/s  peak RSS %6.1f MB  %5.2fx op25b time\n",
            names[i], secs[i], size / secs[i] / 1e6, lines / secs[i] / 1e6, rss[i] / 1024, secs[i] / secs[1] }'
