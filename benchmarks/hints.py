"""A hint list's query on a table with days of history, beside the form it replaced.

    .venv/bin/python -m benchmarks.hints [--assets 10] [--days 20] [--incidents 30]

Needs the local stack's PostgreSQL (`ems-ml stack up`). Fills the scores' table of a fresh
database with `--assets` assets x 5 metrics at one point a minute for `--days` days (random
scores, 0.5% of them anomalies), as a month's partition holds them after that many days; then
for `--incidents` incidents at random times of the last day, times, alternating, in turn:

1. the query `stream.hints.for_incident` sends (the asset's own metrics found by skipping
   through the key, a metric at a time), and
2. the reference: the form it had until 2026-12-07 (`REFERENCE_SQL`: the asset's own metrics
   read from its rows of the window, which the key can only give by reading every point of the
   asset in the partition);

and prints the median and the 90th percentile of each, in milliseconds, checks that both read
the same rows, and drops the database. Prints the command and the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg

from benchmarks.machine import header
from deploy.stack import ensure_database
from stream import hints, root_cause
from stream.config import Settings
from stream.sinks import postgres

METRICS = ("cpu_usage", "memory_usage", "latency_ms", "packet_loss", "bandwidth")
T0 = datetime(2026, 6, 1, tzinfo=UTC)
#: the hint list's query as it was until 2026-12-07: the asset's own candidates are the distinct
#: metrics of its rows in the window; the rest is the query's own (its last filter changes
#: nothing here: each of these candidates has a point in the window)
REFERENCE_SQL = f"""
WITH others AS (
    SELECT asset_id, metric FROM anomaly_scores
    WHERE is_anomaly AND ts BETWEEN %(start)s AND %(end)s AND asset_id <> %(asset)s
    GROUP BY asset_id, metric ORDER BY count(*) DESC, asset_id, metric LIMIT %(limit)s
), candidates AS (
    SELECT DISTINCT asset_id, metric FROM anomaly_scores
    WHERE asset_id = %(asset)s AND ts BETWEEN %(start)s AND %(end)s
    UNION ALL
    SELECT asset_id, metric FROM others
)
{hints._CANDIDATE_SCORES[hints._CANDIDATE_SCORES.index("SELECT c.asset_id") :]}"""


async def fill(conn: psycopg.AsyncConnection, assets: int, days: int) -> int:
    """The table of `assets` x `METRICS` at one point a minute for `days` days; its rows."""
    await postgres.ensure_schema(conn)
    await postgres.ensure_month_partitions(conn, {T0})
    await conn.execute(
        "INSERT INTO anomaly_scores (asset_id, metric, ts, value, score, is_anomaly, "
        "model_version) "
        "SELECT a, m, %(t0)s::timestamptz + make_interval(mins => i), random(), "
        "random() * 0.7, random() < 0.005, 'bench' "
        "FROM generate_series(1, %(assets)s) a, unnest(%(metrics)s::text[]) m, "
        "generate_series(0, %(minutes)s - 1) i",
        {"t0": T0, "assets": assets, "metrics": list(METRICS), "minutes": days * 1440},
    )
    await conn.execute("ANALYZE anomaly_scores")
    cur = await conn.execute("SELECT count(*) FROM anomaly_scores")
    return (await cur.fetchone())[0]


async def timed(conn: psycopg.AsyncConnection, sql: str, args: dict) -> tuple[float, list]:
    started = time.perf_counter()
    cur = await conn.execute(sql, args, binary=True)
    rows = await cur.fetchall()
    return (time.perf_counter() - started) * 1000, [(a, m, list(t), list(s)) for a, m, t, s in rows]


async def run(settings: Settings, args: argparse.Namespace) -> None:
    rng = random.Random(7)
    async with await psycopg.AsyncConnection.connect(settings.database_dsn, autocommit=True) as c:
        started = time.perf_counter()
        rows = await fill(c, args.assets, args.days)
        print(
            f"table: {rows:,} scores ({args.assets} assets x {len(METRICS)} metrics x "
            f"{args.days} days), filled in {time.perf_counter() - started:.1f} s"
        )
        last_day = T0 + timedelta(days=args.days - 1)
        times: dict[str, list[float]] = {"hints": [], "reference": []}
        same = True
        for n in range(args.incidents):
            at = last_day + timedelta(minutes=rng.randrange(60, 1380))
            start, end = root_cause.window(at)
            query = {
                "asset": rng.randint(1, args.assets),
                "start": start,
                "end": end,
                "limit": hints.MAX_OTHER_SERIES,
            }
            order = [("hints", hints._CANDIDATE_SCORES), ("reference", REFERENCE_SQL)]
            got = {}
            for name, sql in order if n % 2 == 0 else order[::-1]:
                ms, got[name] = await timed(c, sql, query)
                times[name].append(ms)
            same = same and got["hints"] == got["reference"]
    for name, label in (("hints", "the query now"), ("reference", "before (reference)")):
        ms = sorted(times[name])
        print(
            f"{label}: median {statistics.median(ms):.2f} ms, "
            f"90th percentile {ms[int(0.9 * (len(ms) - 1))]:.2f} ms a list"
        )
    print(f"both read the same rows: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assets", type=int, default=10)
    parser.add_argument("--days", type=int, default=20, help="history, at most 28")
    parser.add_argument("--incidents", type=int, default=30)
    args = parser.parse_args()
    print(header("benchmarks.hints"))
    base = Settings()
    settings = base.model_copy(update={"database_name": f"bench_hints_{uuid.uuid4().hex[:8]}"})
    ensure_database(settings)
    try:
        asyncio.run(run(settings, args))
    finally:
        admin = base.model_copy(update={"database_name": "postgres"}).database_dsn
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{settings.database_name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
