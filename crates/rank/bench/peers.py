"""The ranking aggregation of op25b-rank written in DuckDB SQL and in Python
polars, for the side-by-side benchmark in rank.sh.

usage: python3 peers.py duckdb|polars FILE.parquet

Both compute, per internal client host: sessions, fan-out (distinct port-25
servers) and distinct /24s, failed (no_answer + reset), rejected, answered,
messages, RCPT accepted/rejected, first/last seen, outbound, blockable and
submitted sessions, distinct HELO names, IP-literal HELOs, peak direct
port-25 sessions per minute and per hour; then the same fan-out / failed /
rejected / dynamic-direct / rate / HELO-literal score with the default
weights of op25b-rank, and sort by it. (op25b-rank computes more on top:
RCPT share, burstiness, HELO randomness, relay inference.)

Network of the synthetic file: internal 10.0.0.0/8, dynamic 10.0.0.0/9,
relay 10.255.255.10.
"""
import math
import sys
import time

RELAY = "10.255.255.10"

SQL = f"""
WITH s AS (
  SELECT client, server, server_port, outcome, helo, messages, rcpt_accepted, rcpt_rejected,
         epoch_us("start") AS st, epoch_us("end") AS en,
         server_port = 25 AND server <> '{RELAY}' AS direct25,
         outcome IN ('no_answer', 'reset') AS failed
  FROM read_parquet(?)
  WHERE client LIKE '10.%'
),
m AS (
  SELECT client, max(n) AS peak_min FROM (
    SELECT client, st // 60000000 AS minute, count(*) AS n FROM s WHERE direct25 GROUP BY ALL
  ) GROUP BY client
),
h AS (
  SELECT client, max(n) AS peak_hour FROM (
    SELECT client, st // 3600000000 AS hour, count(*) AS n FROM s WHERE direct25 GROUP BY ALL
  ) GROUP BY client
),
a AS (
  SELECT client,
    count(*) AS sessions,
    count(DISTINCT server) FILTER (WHERE server_port = 25) AS fanout,
    count(DISTINCT regexp_replace(server, '\\.[0-9]+$', '')) FILTER (WHERE server_port = 25) AS fanout_prefixes,
    count(*) FILTER (WHERE failed) AS failed,
    count(*) FILTER (WHERE outcome = 'rejected') AS rejected,
    count(*) FILTER (WHERE NOT failed) AS answered,
    sum(messages) AS messages,
    sum(rcpt_accepted) AS rcpt_accepted,
    sum(rcpt_rejected) AS rcpt_rejected,
    min(st) AS first_seen, max(greatest(en, st)) AS last_seen,
    count(*) FILTER (WHERE server NOT LIKE '10.%') AS outbound,
    count(*) FILTER (WHERE direct25 AND CAST(split_part(client, '.', 2) AS INTEGER) < 128) AS blockable,
    count(*) FILTER (WHERE server = '{RELAY}') AS submitted,
    count(DISTINCT helo) FILTER (WHERE helo <> '') AS helo_distinct,
    count(*) FILTER (WHERE helo <> '') AS helo_sessions,
    count(*) FILTER (WHERE helo LIKE '[%]') AS helo_literal
  FROM s GROUP BY client
),
f AS (
  SELECT a.*, coalesce(m.peak_min, 0) AS peak_min, coalesce(h.peak_hour, 0) AS peak_hour,
    failed / sessions AS failed_share,
    CASE WHEN answered = 0 THEN 0 ELSE rejected / answered END AS rejected_share,
    least(1.0, sessions / 10.0) AS ev, least(1.0, answered / 10.0) AS ev_answered
  FROM a LEFT JOIN m USING (client) LEFT JOIN h USING (client)
)
SELECT *,
  3.0 * greatest(0, least(1, (ln(greatest(fanout, 1)) - ln(3)) / (ln(50) - ln(3))))
  + 2.5 * greatest(0, least(1, (failed_share - 0.2) / 0.4)) * ev
  + 2.0 * greatest(0, least(1, (rejected_share - 0.2) / 0.4)) * ev_answered
  + CASE WHEN blockable > 0 THEN 1.5 ELSE 0 END
  + 1.5 * greatest(0, least(1, (ln(greatest(peak_min, 1)) - ln(3)) / (ln(30) - ln(3))))
  + CASE WHEN helo_sessions > 0 AND helo_literal / helo_sessions >= 0.3 THEN 2.0 ELSE 0 END
  AS score
FROM f ORDER BY score DESC, sessions DESC
"""


def run_duckdb(path):
    import duckdb
    con = duckdb.connect()
    rows = con.execute(SQL, [path]).fetchall()
    cols = [d[0] for d in con.description]
    score = cols.index("score")
    zombies = sum(1 for r in rows if r[score] >= 6.0 and r[cols.index("blockable")] >= 10)
    return len(rows), zombies


def run_polars(path):
    import polars as pl
    s = (
        pl.scan_parquet(path)
        .filter(pl.col("client").str.starts_with("10."))
        .select(
            "client", "server", "server_port", "outcome", "helo", "messages",
            "rcpt_accepted", "rcpt_rejected",
            pl.col("start").dt.epoch("us").alias("st"),
            pl.col("end").dt.epoch("us").alias("en"),
        )
        .with_columns(
            direct25=(pl.col("server_port") == 25) & (pl.col("server") != RELAY),
            failed=pl.col("outcome").is_in(["no_answer", "reset"]),
            p25=pl.col("server_port") == 25,
        )
    )
    d = s.filter(pl.col("direct25"))
    m = (
        d.group_by("client", (pl.col("st") // 60_000_000).alias("minute")).len()
        .group_by("client").agg(pl.col("len").max().alias("peak_min"))
    )
    h = (
        d.group_by("client", (pl.col("st") // 3_600_000_000).alias("hour")).len()
        .group_by("client").agg(pl.col("len").max().alias("peak_hour"))
    )
    dynamic = pl.col("client").str.split(".").list.get(1).cast(pl.Int32) < 128
    a = s.group_by("client").agg(
        sessions=pl.len().cast(pl.UInt64),
        fanout=pl.col("server").filter(pl.col("p25")).n_unique(),
        fanout_prefixes=pl.col("server").filter(pl.col("p25"))
            .str.replace(r"\.[0-9]+$", "").n_unique(),
        failed=pl.col("failed").sum(),
        rejected=(pl.col("outcome") == "rejected").sum(),
        answered=(~pl.col("failed")).sum(),
        messages=pl.col("messages").cast(pl.UInt64).sum(),
        rcpt_accepted=pl.col("rcpt_accepted").cast(pl.UInt64).sum(),
        rcpt_rejected=pl.col("rcpt_rejected").cast(pl.UInt64).sum(),
        first_seen=pl.col("st").min(),
        last_seen=pl.max_horizontal("en", "st").max(),
        outbound=(~pl.col("server").str.starts_with("10.")).sum(),
        blockable=(pl.col("direct25") & dynamic).sum(),
        submitted=(pl.col("server") == RELAY).sum(),
        helo_distinct=pl.col("helo").filter(pl.col("helo") != "").n_unique(),
        helo_sessions=(pl.col("helo") != "").sum(),
        helo_literal=pl.col("helo").str.starts_with("[").sum(),
    )

    def ramp(x, lo, hi):
        return ((x - lo) / (hi - lo)).clip(0.0, 1.0)

    f = (
        a.join(m, on="client", how="left").join(h, on="client", how="left")
        .with_columns(pl.col("peak_min").fill_null(0), pl.col("peak_hour").fill_null(0))
        .with_columns(
            failed_share=pl.col("failed") / pl.col("sessions"),
            rejected_share=pl.when(pl.col("answered") == 0).then(0.0)
                .otherwise(pl.col("rejected") / pl.col("answered")),
            ev=(pl.col("sessions") / 10.0).clip(upper_bound=1.0),
            ev_answered=(pl.col("answered") / 10.0).clip(upper_bound=1.0),
        )
        .with_columns(
            score=3.0 * ramp(pl.col("fanout").clip(lower_bound=1).log(), math.log(3), math.log(50))
            + 2.5 * ramp(pl.col("failed_share"), 0.2, 0.6) * pl.col("ev")
            + 2.0 * ramp(pl.col("rejected_share"), 0.2, 0.6) * pl.col("ev_answered")
            + pl.when(pl.col("blockable") > 0).then(1.5).otherwise(0.0)
            + 1.5 * ramp(pl.col("peak_min").clip(lower_bound=1).log(), math.log(3), math.log(30))
            + pl.when((pl.col("helo_sessions") > 0)
                      & (pl.col("helo_literal") / pl.col("helo_sessions") >= 0.3)).then(2.0).otherwise(0.0)
        )
        .sort(["score", "sessions"], descending=[True, True])
    )
    out = f.collect()
    zombies = out.filter((pl.col("score") >= 6.0) & (pl.col("blockable") >= 10)).height
    return out.height, zombies


def main():
    engine, path = sys.argv[1], sys.argv[2]
    t = time.perf_counter()
    hosts, zombies = {"duckdb": run_duckdb, "polars": run_polars}[engine](path)
    print(f"{engine} hosts={hosts} zombies={zombies} total_s={time.perf_counter() - t:.2f}")


if __name__ == "__main__":
    main()
