"""A checkpoint's cost a row on the real PostgreSQL: rows stored whole, against what changed since
their base (issue #12).

    .venv/bin/python -m benchmarks.checkpoint [--series 20000] [--learnt 600] [--points 1]
                                              [--rounds 3]

Needs the local stack (`ems-ml stack up`); uses a database of its own, removed afterwards.
`--series` demo-like series (a daily shape, Gaussian noise, one point a minute; 200 distinct
ones learnt on the worker's engine for `--learnt` points, then repeated under other keys) are
stored once whole, as bases. Then, in alternating rounds, a checkpoint of every series stores it
- whole, as a new series' first row and a row that changed too much are, and
- as what changed since its base after `--points` more points,
each through the worker's own two steps (`stream.sinks.state_store.prepare`, then
`StateStore.save`; before 4b67775 a row stored whole went unpacked, for PostgreSQL to compress),
each round one transaction of `StateStore.save`, its offsets above the round before. Prints,
a row: the worker's CPU (making the deltas or packing the rows, then the statement), PostgreSQL's
CPU (every postgres process, from `/proc`), the wall time, and the bytes sent; with the command
and the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import numpy as np
import psycopg
from psycopg_pool import AsyncConnectionPool

from benchmarks.deployment import fresh, remove
from benchmarks.e2e import postgres_cpu_seconds
from benchmarks.machine import header
from stream import state_codec
from stream.config import Settings
from stream.engine import stored
from stream.ensemble import build_engine
from stream.sinks import state_store
from stream.sinks.postgres import ensure_schema
from stream.sinks.state_store import StateRow, StateStore

#: distinct series learnt; `--series` repeats them under other keys
_DISTINCT = 200
_START = 1.7e9


def rows_before_and_after(learnt: int, points: int) -> tuple[list[bytes], list[bytes]]:
    """The stored bytes of `_DISTINCT` series after `learnt` points, and after `points` more."""
    engine = build_engine(Settings())
    rng = np.random.default_rng(0)
    keys = [f"s{i}" for i in range(_DISTINCT)]

    def learn(minutes: range) -> list[bytes]:
        for t in minutes:
            values = 50 + 10 * np.sin(t * 2 * np.pi / 1440) + rng.normal(0, 2, _DISTINCT)
            engine.score_batch(keys, values, np.full(_DISTINCT, _START + 60.0 * t))
        return [stored.payload(engine, key, None) for key in keys]

    before = learn(range(learnt))
    return before, learn(range(learnt, learnt + points))


async def measure(settings: Settings, series: int, learnt: int, points: int, rounds: int) -> dict:
    before, after = rows_before_and_after(learnt, points)
    keys = [f"{i}/cpu_usage" for i in range(series)]
    async with await psycopg.AsyncConnection.connect(settings.database_dsn) as conn:
        await ensure_schema(conn)
    found: dict[str, list[tuple[float, float, float, int]]] = {"whole": [], "delta": []}
    async with AsyncConnectionPool(settings.database_dsn, min_size=1, open=False) as pool:
        store = StateStore(pool=pool, group="bench")
        first = await store.save(
            [StateRow(k, 0, 0, before[i % _DISTINCT]) for i, k in enumerate(keys)]
        )
        held = [state_codec.pack_row(row) for row in before]  # as the worker holds bases
        bases = {k: (first.bases[k], held[i % _DISTINCT]) for i, k in enumerate(keys)}
        offset = 0
        for _ in range(rounds):
            for kind in ("whole", "delta"):
                offset += 1
                payloads = after if kind == "delta" else before
                rows = [StateRow(k, 0, offset, payloads[i % _DISTINCT]) for i, k in enumerate(keys)]
                server, cpu, wall = postgres_cpu_seconds(), time.process_time(), time.perf_counter()
                packed, deltas = state_store.prepare(rows, bases if kind == "delta" else {})
                done = await store.save(packed, deltas)
                wall = time.perf_counter() - wall
                cpu, server = time.process_time() - cpu, postgres_cpu_seconds() - server
                if kind == "whole":  # the rows stored whole are the bases now, held packed
                    bases = {k: (done.bases[k], packed[i].payload) for i, k in enumerate(keys)}
                elif len(done.deltas) != series:
                    raise SystemExit(f"only {len(done.deltas)} of {series} rows stored as deltas")
                sent = sum(len(d) for _, d in deltas.values()) or sum(
                    len(r.payload) for r in packed
                )
                found[kind].append((cpu, server, wall, sent))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=20_000)
    parser.add_argument("--learnt", type=int, default=600, help="points before the base")
    parser.add_argument("--points", type=int, default=1, help="points since the base")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    base, settings = fresh("checkpoint")
    try:
        found = asyncio.run(measure(settings, args.series, args.learnt, args.points, args.rounds))
    finally:
        remove(settings, base)
    print(header("benchmarks.checkpoint"))
    print(
        f"{args.series:,} series learnt for {args.learnt} points, each row {args.points} "
        "point(s) past its base; "
        f"{args.rounds} rounds of each, alternating; us a row, each round"
    )
    print("| stored | worker CPU | PostgreSQL CPU | wall | bytes sent a row |")
    print("|---|---|---|---|---|")
    for kind, label in (("whole", "whole"), ("delta", "what changed since the base")):
        runs = found[kind]
        each = [" / ".join(f"{run[i] / args.series * 1e6:.1f}" for run in runs) for i in range(3)]
        sent = statistics.median(run[3] for run in runs) / args.series
        print(f"| {label} | {each[0]} | {each[1]} | {each[2]} | {sent:,.0f} |")


if __name__ == "__main__":
    main()
