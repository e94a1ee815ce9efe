"""A hint list's reading of its candidates on a table with days of history, beside the forms
it replaced.

    .venv/bin/python -m benchmarks.hints [--assets 10] [--days 20] [--incidents 30]

Needs the local stack's PostgreSQL (`ems-ml stack up`). Fills the scores' table of a fresh
database with `--assets` assets x 5 metrics at one point a minute for `--days` days (random
scores, 0.5% of them anomalies), as a month's partition holds them after that many days; then
for `--incidents` incidents at random times of the last day, taken in time order, times,
alternating, in turn:

1. `stream.hints.candidate_scores` as the API reads them: every candidate's window read (the
   asset's own metrics found by skipping through the key, a metric at a time);
2. the same with one `ScoreCache` across the lists, as the worker reads them: what an earlier
   list read is not read again (here the table does not grow, so a window a list has read is
   held whole: the figure of an incident's later changes, not of its first);
3. the reference: the query of until 2026-12-07 (`REFERENCE_SQL`: the asset's own metrics read
   from its rows of the window, which the key can only give by reading every point of the
   asset in the partition);

and prints the median and the 90th percentile of each, in milliseconds, checks that all three
read the same scores, and drops the database. Prints the command and the machine.
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
#: metrics of its rows in the window, and each candidate's points are read in the same statement
REFERENCE_SQL = """
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
SELECT c.asset_id, c.metric, p.stamps, p.scores
FROM candidates c CROSS JOIN LATERAL (
    SELECT array_agg((extract(epoch FROM s.ts) * 1000000)::int8 ORDER BY s.ts) AS stamps,
           array_agg(s.score ORDER BY s.ts) AS scores
    FROM anomaly_scores s
    WHERE s.asset_id = c.asset_id AND s.metric = c.metric
      AND s.ts BETWEEN %(start)s AND %(end)s
) p
WHERE p.stamps IS NOT NULL
ORDER BY c.asset_id, c.metric
"""


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


async def reference(conn: psycopg.AsyncConnection, query: dict) -> list:
    cur = await conn.execute(REFERENCE_SQL, query, binary=True)
    return [(a, m, list(t), list(s)) for a, m, t, s in await cur.fetchall()]


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
        at = sorted(
            last_day + timedelta(minutes=rng.randrange(60, 1380)) for _ in range(args.incidents)
        )
        cache = hints.ScoreCache()
        times: dict[str, list[float]] = {"whole": [], "held": [], "reference": []}
        same = True
        for n, started_at in enumerate(at):
            asset = rng.randint(1, args.assets)
            start, end = root_cause.window(started_at)
            query = {"asset": asset, "start": start, "end": end, "limit": hints.MAX_OTHER_SERIES}
            reads = {
                "whole": lambda: hints.candidate_scores(c, asset, started_at),  # noqa: B023
                "held": lambda: hints.candidate_scores(c, asset, started_at, cache),  # noqa: B023
                "reference": lambda: reference(c, query),  # noqa: B023
            }
            got = {}
            for name in list(reads) if n % 2 == 0 else list(reads)[::-1]:
                began = time.perf_counter()
                got[name] = await reads[name]()
                times[name].append((time.perf_counter() - began) * 1000)
            for name in ("whole", "held"):
                got[name] = [
                    (s.asset_id, s.metric, s.epochs_us.tolist(), s.scores.tolist())
                    for s in got[name]
                ]
            same = same and got["whole"] == got["held"] == got["reference"]
    for name, label in (
        ("whole", "every window read (the API)"),
        ("held", "read on from what earlier lists read (the worker)"),
        ("reference", "the query before (reference)"),
    ):
        ms = sorted(times[name])
        print(
            f"{label}: median {statistics.median(ms):.2f} ms, "
            f"90th percentile {ms[int(0.9 * (len(ms) - 1))]:.2f} ms a list"
        )
    print(f"all three read the same scores: {same}")


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
