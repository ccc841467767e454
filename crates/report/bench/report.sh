#!/bin/sh
# How long `op25b report` takes on a large ranking, and how much of it is the
# bootstrap: `op25b rank` alone, then `op25b report` with 0 and with 1000
# bootstrap replicates (--after the same file, so that every scenario is
# resampled), on one Parquet file of N session records (the generator of
# crates/rank/bench/rank.sh; 10 M records make about 1.3 M hosts). Prints
# seconds, peak RSS and the report's cost as a multiple of rank's.
#
#   crates/report/bench/report.sh [N] [FILE]   (defaults: 10000000, /var/tmp/op25b-rank-bench-N.parquet)
#
# Needs: cargo, GNU time at /usr/bin/time. The file is written once and reused.
set -eu
N=${1:-10000000}
FILE=${2:-/var/tmp/op25b-rank-bench-$N.parquet}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
cd "$ROOT"

cargo build --release -q -p op25b
cargo build --release -q -p op25b-rank --example rank_parquet
TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
if [ ! -s "$FILE" ]; then
    "$TARGET/release/examples/rank_parquet" write "$N" "$FILE"
fi
BIN="$TARGET/release/op25b"
echo "file: $FILE ($(du -h "$FILE" | cut -f1), $N records), $(nproc) cores"

OUT=$(mktemp -d)
run() { # name command...
    name=$1; shift
    /usr/bin/time -f "%e %M" -o "$OUT/$name.time" "$@" > /dev/null 2>&1
    set -- $(cat "$OUT/$name.time")
    echo "$name $1 $2" >> "$OUT/results"
    printf '%-16s %8.2f s  %8.0f MiB peak RSS\n' "$name" "$1" "$(echo "$2 / 1024" | bc -l)"
}
cat "$FILE" > /dev/null
run rank "$BIN" rank "$FILE" -o "$OUT/rank.csv"
run report-0 "$BIN" report --before "$FILE" --after "$FILE" --bootstrap 0 -o "$OUT/r0" -q
run report-1000 "$BIN" report --before "$FILE" --after "$FILE" --bootstrap 1000 -o "$OUT/r1000" -q
HOSTS=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["before"]["hosts"])' "$OUT/r0/summary.json")
echo "hosts: $HOSTS"
awk '{ t[$1] = $2 }
END {
    printf "report (ranks both inputs) / rank: %.2fx without the bootstrap, %.2fx with 1000 replicates; the bootstrap: %.1f s\n",
        t["report-0"] / t["rank"], t["report-1000"] / t["rank"], t["report-1000"] - t["report-0"]
}' "$OUT/results"
rm -r "$OUT"
