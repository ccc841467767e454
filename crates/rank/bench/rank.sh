#!/bin/sh
# Side-by-side benchmark: op25b-rank (Rust, rayon) against the same
# aggregation in DuckDB SQL and in Python polars, on one Parquet file of N
# session records. Prints seconds, peak RSS and ratios.
#
#   crates/rank/bench/rank.sh [N] [FILE]      (defaults: 10000000, /var/tmp/op25b-rank-bench-N.parquet)
#
# Needs: cargo, python3 with duckdb, polars, pyarrow (pip install duckdb polars pyarrow),
# GNU time at /usr/bin/time. The file is written once and reused.
set -eu
N=${1:-10000000}
FILE=${2:-/var/tmp/op25b-rank-bench-$N.parquet}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
cd "$ROOT"

cargo build --release -q -p op25b-rank --example rank_parquet
TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
BIN="$TARGET/release/examples/rank_parquet"

if [ ! -s "$FILE" ]; then
    "$BIN" write "$N" "$FILE"
fi
echo "file: $FILE ($(du -h "$FILE" | cut -f1), $N records), $(nproc) cores"

OUT=$(mktemp -d)
run() { # name command...
    name=$1; shift
    /usr/bin/time -f "%e %M" -o "$OUT/$name.time" "$@" > "$OUT/$name.out"
    set -- $(cat "$OUT/$name.time")
    echo "$name $1 $2" >> "$OUT/results"
    printf '%-7s %8.2f s  %8.0f MiB peak RSS   %s\n' "$name" "$1" "$(echo "$2 / 1024" | bc -l)" "$(tail -1 "$OUT/$name.out")"
}
# Warm the page cache so that every engine reads from memory.
cat "$FILE" > /dev/null
run rust "$BIN" rank "$FILE"
run duckdb python3 "$HERE/peers.py" duckdb "$FILE"
run polars python3 "$HERE/peers.py" polars "$FILE"

awk '{ t[$1] = $2; m[$1] = $3 }
END {
    printf "ratios (peer / rust): duckdb time %.2fx rss %.2fx; polars time %.2fx rss %.2fx\n",
        t["duckdb"] / t["rust"], m["duckdb"] / m["rust"], t["polars"] / t["rust"], m["polars"] / m["rust"]
}' "$OUT/results"
rm -r "$OUT"
