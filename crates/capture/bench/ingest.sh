#!/usr/bin/env bash
# Compares, on one capture, op25b's capture ingest, nfpcapd (nfdump) and
# tshark: seconds (median of RUNS=3 runs; tshark once), MB/s, peak RSS, and
# ratios to op25b.
#
#   crates/capture/bench/ingest.sh FILE.pcap
#
# op25b: $OP25B_INGEST if set, else `$CARGO_TARGET_DIR/release/op25b ingest FILE -o /dev/null`
# when that binary has an ingest command, else this crate's release example
# runner (built here if missing: cargo build --release -p op25b-capture --example ingest).
set -euo pipefail
file=${1:?usage: ingest.sh FILE.pcap}
target=${CARGO_TARGET_DIR:-/var/tmp/op25b-target}
here=$(cd "$(dirname "$0")" && pwd)
command -v nfpcapd >/dev/null || apt-get install -y nfdump >/dev/null
command -v tshark >/dev/null || apt-get install -y tshark >/dev/null
[ -x /usr/bin/time ] || apt-get install -y time >/dev/null

if [ -n "${OP25B_INGEST:-}" ]; then
  ours=($OP25B_INGEST "$file")
elif [ -x "$target/release/op25b" ] && "$target/release/op25b" ingest --help >/dev/null 2>&1; then
  ours=("$target/release/op25b" ingest "$file" -o /dev/null)
else
  [ -x "$target/release/examples/ingest" ] ||
    (cd "$here/../../.." && cargo build --release -p op25b-capture --example ingest)
  ours=("$target/release/examples/ingest" -q "$file")
fi

size=$(stat -c %s "$file")
cat "$file" > /dev/null # page cache: every tool reads from memory
tmp=$(mktemp -d /var/tmp/op25b-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

measure() { # runs, name, command... : median wall time of the runs, largest peak RSS
  local runs=$1 name=$2; shift 2
  local i
  : > "$tmp/$name.runs"
  for i in $(seq "$runs"); do
    rm -rf "$tmp/nf" && mkdir -p "$tmp/nf"
    /usr/bin/time -v -o "$tmp/$name.time" "$@" > "$tmp/$name.out" 2> "$tmp/$name.err" || true
    awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; printf "%s ", s}
                /Maximum resident set size/ {print $2}' "$tmp/$name.time" >> "$tmp/$name.runs"
  done
  sort -n "$tmp/$name.runs" | awk -v name="$name" '{ t[NR]=$1; if ($2 > rss) rss=$2 } END { print name, t[int((NR+1)/2)], rss }' >> "$tmp/results"
}

runs=${RUNS:-3}
measure "$runs" op25b "${ours[@]}"
measure "$runs" nfpcapd nfpcapd -r "$file" -w "$tmp/nf"
measure 1 tshark tshark -r "$file" -Y smtp.req -T fields -e smtp.req.command

echo "file: $file ($((size / 1000000)) MB), $(nproc) cores, load before: $(cut -d' ' -f1-3 /proc/loadavg); median of $runs runs (tshark: 1)"
awk -v size="$size" '
  { name[NR]=$1; secs[NR]=$2; rss[NR]=$3 }
  END {
    printf "%-8s %9s %9s %12s %14s\n", "tool", "seconds", "MB/s", "peak RSS MB", "op25b speedup"
    for (i = 1; i <= NR; i++)
      printf "%-8s %9.2f %9.1f %12.1f %14.2f\n", name[i], secs[i], size / 1e6 / secs[i], rss[i] / 1024, secs[i] / secs[1]
  }' "$tmp/results"
tail -n 8 "$tmp/op25b.err"
