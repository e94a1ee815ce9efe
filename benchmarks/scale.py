"""Scale: one worker holding 100,000 mature series, its memory, and a restart after SIGKILL.

    .venv/bin/python -m benchmarks.scale [--series 100000]

Needs the local stack (`ems-ml stack up`). On a fresh topic, consumer group and database:
1. stores `--series` mature states (each a demo-feed series scored for two days at one point a
   minute, as the worker stores a series' row) in `series_state`, as a deployment that has run
   for days would have them: each names the input partition its series' messages come on;
2. starts a real `ems-ml worker`, produces one new point for every series and waits until every
   score is stored: each state is read from PostgreSQL by the batch of its series, then held in
   memory. Prints the rate (from the first score to the last) and the worker's resident memory,
   in all and per series beyond what it held at its first score;
3. once a checkpoint has stored every row, kills the worker with SIGKILL, starts it again and
   produces a new point for every series: prints the time from the restart to its first score,
   and until every one of those points is stored (each state read from PostgreSQL again: a
   restart keeps nothing in memory).
Prints the command and the machine. Topics and the database are removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
from aiokafka.partitioner import DefaultPartitioner

from benchmarks.deployment import fresh, produce, remove, stored, worker_env
from benchmarks.failover import free_port, scored_by, wait_for
from benchmarks.machine import header
from stream.config import Settings
from stream.demo_feed import DEMO_METRICS
from stream.engine import stored as stored_rows
from stream.ensemble import build_engine
from stream.sinks import postgres, state_store

#: a mature state learnt from two days at one point a minute
MATURE_POINTS = 2 * 1440
#: states written per statement while seeding
CHUNK = 2000


def demo_value(metric: str, ts: datetime, rng: random.Random) -> float:
    """A point of the demo feed's `metric` at `ts`: its daily shape and noise, no anomaly."""
    base, amplitude, noise, low, high = DEMO_METRICS[metric]
    daily = math.sin(2 * math.pi * ((ts.hour * 60 + ts.minute) / 1440 - 0.33))
    return min(max(base + amplitude * daily + rng.gauss(0, noise), low), high)


def mature_states(start: datetime) -> dict[str, bytes]:
    """One mature state per demo metric (stored bytes, as the worker stores a series' row:
    `stream.engine.stored`), its last point just before `start`. They name no Kafka message
    (offset -1), so no new point is a replay."""
    engine = build_engine(Settings(_env_file=None))
    rng = random.Random(5)
    out = {}
    for metric in DEMO_METRICS:
        times = [start - timedelta(minutes=MATURE_POINTS - i) for i in range(MATURE_POINTS)]
        engine.score_batch(
            [metric] * MATURE_POINTS,
            np.array([demo_value(metric, ts, rng) for ts in times]),
            np.array([ts.timestamp() for ts in times]),
            [metric] * MATURE_POINTS,
        )
        out[metric] = stored_rows.payload(engine, metric, None)
    return out


def series(n: int) -> list[tuple[int, str]]:
    metrics = list(DEMO_METRICS)
    return [(1 + i // len(metrics), metrics[i % len(metrics)]) for i in range(n)]


def partition_of(asset_id: int, partitions: int) -> int:
    """The input partition the producer (aiokafka's default partitioner) sends an asset's
    messages to: what a stored row of its series names after the worker has scored one."""
    every = list(range(partitions))
    return DefaultPartitioner()(str(asset_id).encode(), every, every)


async def seed(settings: Settings, keys: list[tuple[int, str]], states: dict[str, bytes]) -> None:
    async with await psycopg.AsyncConnection.connect(settings.database_dsn) as conn:
        await postgres.ensure_schema(conn)
        for i in range(0, len(keys), CHUNK):
            rows = [
                state_store.StateRow(
                    f"{a}/{m}", partition_of(a, settings.metrics_partitions), -1, states[m]
                )
                for a, m in keys[i : i + CHUNK]
            ]
            async with conn.transaction():
                await state_store.save(conn, settings.consumer_group, rows)


def tick(keys: list[tuple[int, str]], at: datetime, seed: int) -> list[tuple[bytes, bytes]]:
    """One point of every series at `at`, as the demo feed would send it (few are anomalies)."""
    rng, stamp = random.Random(seed), at.isoformat()
    return [
        (
            str(a).encode(),
            json.dumps(
                {"asset_id": a, "metric": m, "value": demo_value(m, at, rng), "timestamp": stamp}
            ).encode(),
        )
        for a, m in keys
    ]


def checkpointed(settings: Settings, n: int, timeout: float = 600) -> None:
    """Wait until a checkpoint has stored the row of each of the `n` series after its new point
    (each row then names the message it includes)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(settings.database_dsn) as conn:
        while time.monotonic() < deadline:
            done = conn.execute(
                "SELECT count(*) FROM series_state WHERE source_offset >= 0"
            ).fetchone()[0]
            if done >= n:
                return
            time.sleep(0.2)
    raise SystemExit(f"no checkpoint stored every row within {timeout:.0f} s")


def memory_kb(pid: int) -> dict[str, int]:
    """VmHWM (peak) and VmRSS (now) of a process, in KB."""
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return {k: int(fields[k].split()[0]) for k in ("VmHWM", "VmRSS")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=100_000)
    args = parser.parse_args()
    keys = series(args.series)
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)

    base, settings = fresh("scale")
    env = worker_env(settings, LOG_LEVEL="WARNING")
    logs = tempfile.mkdtemp(prefix="scale-")
    worker = None

    def start_worker(name: str, port: int) -> subprocess.Popen:
        own = {**env, "WORKER_METRICS_PORT": str(port)}
        with open(f"{logs}/{name}.log", "ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "ems_ml.cli", "worker"], env=own, stdout=out, stderr=out
            )

    try:
        states = mature_states(start)
        began = time.monotonic()
        asyncio.run(seed(settings, keys, states))
        seeded = time.monotonic() - began

        worker = start_worker("first", free_port())
        asyncio.run(produce(settings, tick(keys, start, seed=1)))
        wait_for(settings, 1, timeout=300)
        empty = memory_kb(worker.pid)  # a worker with its first batch's series: its baseline
        first_pass = wait_for(settings, len(keys), timeout=1800)
        held = memory_kb(worker.pid)
        checkpointed(settings, len(keys))

        worker.send_signal(signal.SIGKILL)
        worker.wait()
        port = free_port()
        restarted_at = time.monotonic()
        worker = start_worker("restarted", port)
        asyncio.run(produce(settings, tick(keys, start + timedelta(minutes=1), seed=2)))
        first_score = None
        while stored(settings) < 2 * len(keys):
            if time.monotonic() - restarted_at > 1800:
                raise SystemExit("the restarted worker did not store the new tick in 1800 s")
            if first_score is None and scored_by(port) > 0:
                first_score = time.monotonic() - restarted_at
            time.sleep(0.1)
        whole_tick = time.monotonic() - restarted_at
    finally:
        if worker is not None and worker.poll() is None:
            worker.terminate()
            worker.wait(timeout=60)
        remove(settings, base)

    stored_size = sum(len(states[m]) for _, m in keys) / len(keys)
    print(header("benchmarks.scale"))
    print(f"series: {len(keys):,}, each a state learnt from {MATURE_POINTS} points")
    print(f"stored state per series: {stored_size:,.0f} B; seeded in {seeded:.1f} s")
    print(
        f"a new point of every series, each state read from PostgreSQL by its batch: "
        f"{first_pass:.1f} s from the first score to the last, {len(keys) / first_pass:,.0f} "
        "points/s"
    )
    per_series = (held["VmRSS"] - empty["VmRSS"]) * 1024 / len(keys)
    print(
        f"worker resident memory holding them: {held['VmRSS'] / 1024:,.0f} MB "
        f"(peak {held['VmHWM'] / 1024:,.0f} MB; {empty['VmRSS'] / 1024:,.0f} MB at its first "
        f"score: {per_series:,.0f} B a series beyond that)"
    )
    print(f"after SIGKILL and a restart: first new score after {first_score:.1f} s")
    print(f"  a whole new tick of every series stored after {whole_tick:.1f} s")


if __name__ == "__main__":
    main()
