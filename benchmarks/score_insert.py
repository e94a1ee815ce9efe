"""The statement that stores a batch's scores, beside those it replaced, in the same run.

    .venv/bin/python -m benchmarks.score_insert [--series 2000] [--points 50] [--rounds 3]

Needs the local stack's PostgreSQL (`ems-ml stack up`; the server's CPU is read from `/proc`, so
it must run on this machine). Scores `--series` demo-feed series x `--points` points on the
engine in batches of 500, as the worker does, then stores them `--rounds` times in turn with

1. the writer's (`stream.sinks.postgres.insert_scores`: the rows as one binary COPY stream,
   `stream.sinks.pg_copy`, in a savepoint),
2. the statement the writer sent before it, until a later session of 2026-12-07 (the columns
   as arrays in PostgreSQL's binary format, `stream.sinks.pg_arrays`, unnested and inserted as
   they are in a savepoint; `ARRAYS_SQL`),
3. the statement for a replay's batch, which the writer sent for every batch before that: each
   point's key checked before it is inserted, and the positions of those already stored
   returned (`postgres._INSERT_SCORES`), and
4. the reference: the statement the writer sent until 2026-12-07, the batch's columns as one JSON
   document that PostgreSQL parses (`REFERENCE_SQL`, `reference_document`);

each into an emptied `anomaly_scores` of a fresh database, one transaction a batch. Prints, a
point, the wall time, the server's CPU (its backend's) and the client's (building the parameters
among it), checks that both stored the same rows, and drops the database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid

import numpy as np
import orjson
import psycopg

from benchmarks.machine import header
from deploy.stack import ensure_database
from stream.config import Settings
from stream.demo_feed import DEMO_METRICS, synthetic_points
from stream.ensemble import build_engine
from stream.pipeline import RawMessage, process_batch
from stream.scored import ScoredPoints
from stream.sinks import pg_copy, postgres
from stream.sinks.postgres import DETECTOR_COLUMNS

_KEYS = [f"d{j}" for j in range(len(DETECTOR_COLUMNS))]
#: the scores' statement as the writer sent it until 2026-12-07: the batch as one JSON document
#: read by `json_to_record`, then the writer's own insert (the two differ only in how the
#: columns arrive)
REFERENCE_SQL = f"""
WITH batch AS (
    SELECT u.* FROM json_to_record(%s::json)
        AS c(a bigint[], m text[], t timestamptz[], v float8[], s float8[], i bool[],
             {", ".join(f"{d} float8[]" for d in _KEYS)},
             dr text[], mv text[], e float8[], lo float8[], hi float8[], di text[]),
    unnest(c.a, c.m, c.t, c.v, c.s, c.i, {", ".join(f"c.{d}" for d in _KEYS)},
           c.dr, c.mv, c.e, c.lo, c.hi, c.di)
        WITH ORDINALITY AS u(a, m, t, v, s, i, {", ".join(_KEYS)}, dr, mv, e, lo, hi, di, n)
{postgres._INSERT_SCORES[postgres._INSERT_SCORES.index("), inserted AS") :]}"""

#: the arrays unnested and inserted with no key checked (the writer's until the COPY)
ARRAYS_SQL = postgres._BATCH + postgres._INSERT

_STORED = (
    "SELECT asset_id, metric, ts, value, score, is_anomaly, detector_values, driver, "
    "model_version, expected, lower_bound, upper_bound, direction FROM anomaly_scores "
    "ORDER BY asset_id, metric, ts"
)


def reference_document(batch: ScoredPoints) -> str:
    """The batch as the JSON document `REFERENCE_SQL` reads."""
    v, points = batch.verdicts, batch.points
    by_name = dict(zip(v.detector_names, v.detectors.T, strict=True))
    return orjson.dumps(
        {
            "a": [p.asset_id for p in points],
            "m": [p.metric for p in points],
            "t": [p.timestamp for p in points],
            "v": [p.value for p in points],
            "s": v.score,
            "i": v.is_anomaly,
            **{
                k: np.ascontiguousarray(by_name[n])
                for k, n in zip(_KEYS, DETECTOR_COLUMNS, strict=True)
            },
            "dr": v.drivers,
            "mv": v.model_versions,
            "e": v.expected,
            "lo": v.lower,
            "hi": v.upper,
            "di": v.directions,
        },
        option=orjson.OPT_SERIALIZE_NUMPY,
    ).decode()


def scored_batches(settings: Settings, series: int, points: int) -> list[ScoredPoints]:
    """The demo feed's verdicts, batch by batch, as the worker's batches of 500 hold them."""
    engine = build_engine(settings)
    feed = list(synthetic_points(assets=series // len(DEMO_METRICS), ticks=points, seed=1))
    messages = [
        RawMessage("metrics", 0, i, None, json.dumps(p.to_json()).encode())
        for i, p in enumerate(feed)
    ]
    return [
        process_batch(messages[k : k + 500], engine, model_version="bench").scored
        for k in range(0, len(messages), 500)
    ]


def _cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks


def store(conn: psycopg.Connection, batches: list[ScoredPoints], statement: str) -> dict:
    """Every batch into an emptied table by `statement` (a key of `STATEMENTS`), one
    transaction each; us a point: wall, server CPU, client CPU, and the client's building of
    the statement's parameters."""
    conn.execute("TRUNCATE anomaly_scores")
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    server, client, wall, building = (
        _cpu_seconds(pid),
        time.process_time(),
        time.perf_counter(),
        0.0,
    )
    for batch in batches:
        started = time.process_time()
        if statement == COPY:
            params = pg_copy.copy_rows(batch, DETECTOR_COLUMNS, conn.info.encoding)
        elif statement == JSON:
            params = (reference_document(batch),)
        else:
            params = postgres._columns(batch, conn.info.encoding)
        building += time.process_time() - started
        with conn.transaction():
            if statement == COPY:  # as `postgres.insert_scores` sends it
                with conn.transaction(), conn.cursor().copy(postgres._COPY_SCORES) as copy:
                    copy.write(params)
            elif statement == ARRAYS:
                with conn.transaction():
                    conn.execute(ARRAYS_SQL, params, binary=True)
            elif statement == REPLAY:
                conn.execute(postgres._INSERT_SCORES, params, binary=True).fetchall()
            else:
                conn.execute(REFERENCE_SQL, params, binary=True).fetchall()
    n = sum(len(b) for b in batches) / 1e6
    return {
        "wall": (time.perf_counter() - wall) / n,
        "server": (_cpu_seconds(pid) - server) / n,
        "client": (time.process_time() - client) / n,
        "building": building / n,
    }


COPY = "binary COPY (the writer)"
ARRAYS = "binary arrays, inserted as they are (the writer's before)"
REPLAY = "binary arrays, each key checked (a replay's batch; every batch's before that)"
JSON = "JSON (before that)"
STATEMENTS = (COPY, ARRAYS, REPLAY, JSON)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=2000, help="series (a multiple of 4)")
    parser.add_argument("--points", type=int, default=50, help="points a series")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each statement, in turn")
    args = parser.parse_args()
    print(header("benchmarks.score_insert"))
    base = Settings()
    settings = base.model_copy(update={"database_name": f"bench_insert_{uuid.uuid4().hex[:8]}"})
    batches = scored_batches(settings, args.series, args.points)
    print(f"points: {sum(len(b) for b in batches):,} in {len(batches)} batches")
    ensure_database(settings)
    try:
        with psycopg.connect(settings.database_dsn, autocommit=True) as conn:
            asyncio.run(_schema(settings, batches))
            stored = {}
            for r in range(args.rounds):
                for name in STATEMENTS:
                    t = store(conn, batches, name)
                    stored[name] = conn.execute(_STORED).fetchall()
                    print(
                        f"round {r + 1}, {name}: us a point: wall {t['wall']:.1f}, "
                        f"server CPU {t['server']:.1f}, client CPU {t['client']:.1f} "
                        f"(building the parameters {t['building']:.1f})"
                    )
            same = all(rows == stored[COPY] for rows in stored.values())
            print(f"all stored the same rows: {same}")
    finally:
        admin = base.model_copy(update={"database_name": "postgres"}).database_dsn
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{settings.database_name}" WITH (FORCE)')


async def _schema(settings: Settings, batches: list[ScoredPoints]) -> None:
    async with await psycopg.AsyncConnection.connect(settings.database_dsn) as conn:
        await postgres.ensure_schema(conn)
        months = {postgres.month_start(p.timestamp) for b in batches for p in b.points}
        await postgres.ensure_month_partitions(conn, months)
        await conn.commit()


if __name__ == "__main__":
    main()
