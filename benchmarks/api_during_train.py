"""Does the API keep answering while it trains? `/metrics` latency during `POST /anomaly/train`.

    .venv/bin/python -m benchmarks.api_during_train [--series 500] [--points 2000]

Needs the local stack (`ems-ml stack up`). On a fresh database, stores `--series` x `--points`
metric values over the last day in EMS's `metrics` table, starts a real `ems-ml api`, then asks
for `/metrics` (what Prometheus scrapes: answered from memory, no I/O) every 10 ms: for 3 s while
the API is idle (the reference, in the same run), then while a `POST /api/v1/anomaly/train` over
that history runs. Prints the training's seconds and each phase's latencies (p50, p99, the
longest), with the command and the machine. The database is removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta

import httpx
import numpy as np
import psycopg

from benchmarks.deployment import fresh, remove
from benchmarks.e2e import _free_port
from benchmarks.machine import header
from stream.config import Settings
from stream.sinks.postgres import EMS_TABLES

POLL_SECONDS = 0.01


def seed(settings: Settings, series: int, points: int) -> None:
    """`series` x `points` values of cpu_usage-like noise, evenly over the last 23 hours."""
    now = datetime.now(UTC)
    step = timedelta(hours=23) / points
    rng = np.random.default_rng(1)
    with psycopg.connect(settings.database_dsn) as conn:
        conn.execute(EMS_TABLES)
        with conn.cursor().copy(
            'COPY metrics (asset_id, metric_name, value, "timestamp") FROM STDIN'
        ) as copy:
            for s in range(series):
                values = 50 + 10 * rng.standard_normal(points)
                for i, value in enumerate(values.tolist()):
                    copy.write_row((s + 1, "cpu_usage", value, now - (points - i) * step))


async def latencies(client: httpx.AsyncClient, until) -> list[tuple[float, float]]:
    """(when it was asked, seconds it took) of each `/metrics`, asked every POLL_SECONDS until
    `until()`; times from the first."""
    found = []
    first = time.perf_counter()
    while not until():
        started = time.perf_counter()
        answer = await client.get("/metrics")
        answer.raise_for_status()
        found.append((started - first, time.perf_counter() - started))
        await asyncio.sleep(POLL_SECONDS)
    return found


def summary(answers: list[tuple[float, float]]) -> str:
    ms = np.array([seconds for _, seconds in answers]) * 1000
    longest = int(ms.argmax())
    return (
        f"p50 {np.percentile(ms, 50):.0f} ms, p99 {np.percentile(ms, 99):.0f} ms, "
        f"longest {ms.max():,.0f} ms, asked {answers[longest][0]:.1f} s in "
        f"({len(ms)} answers)"
    )


async def measure(base_url: str) -> tuple[float, list, list]:
    async with httpx.AsyncClient(base_url=base_url, timeout=600) as client:
        idle_until = time.perf_counter() + 3
        idle = await latencies(client, lambda: time.perf_counter() > idle_until)
        started = time.perf_counter()
        training = asyncio.create_task(
            client.post("/api/v1/anomaly/train", json={"timeRange": 86400})
        )
        during = await latencies(client, training.done)
        answer = await training
        if answer.status_code != 201:
            raise RuntimeError(f"training answered {answer.status_code}: {answer.text[:300]}")
        return time.perf_counter() - started, idle, during


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=500)
    parser.add_argument("--points", type=int, default=2000, help="points a series")
    args = parser.parse_args()
    print(header("benchmarks.api_during_train"))
    base, settings = fresh("api")
    port = _free_port()
    try:
        seed(settings, args.series, args.points)
        print(f"history: {args.series:,} series x {args.points:,} points")
        env = {
            **os.environ,
            "DATABASE_NAME": settings.database_name,
            "PORT": str(port),
            "HOST": "127.0.0.1",
            "MODELS_DIR": tempfile.mkdtemp(prefix="bench-models-"),
        }
        with tempfile.TemporaryFile() as log:
            api = subprocess.Popen(
                [sys.executable, "-m", "ems_ml.cli", "api"], env=env, stdout=log, stderr=log
            )
            try:
                base_url = f"http://127.0.0.1:{port}"
                deadline = time.monotonic() + 120
                while True:
                    try:
                        if httpx.get(f"{base_url}/metrics", timeout=2).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline or api.poll() is not None:
                        log.seek(0)
                        raise RuntimeError(f"the API did not start: {log.read()[-2000:]!r}")
                    time.sleep(0.5)
                time.sleep(5)  # the engine's compiled code loads in a thread at start-up
                trained, idle, during = asyncio.run(measure(base_url))
            finally:
                api.terminate()
                api.wait(timeout=30)
        print(f"POST /api/v1/anomaly/train: {trained:.1f} s")
        print(f"/metrics, the API idle (reference): {summary(idle)}")
        print(f"/metrics while it trains: {summary(during)}")
    finally:
        remove(settings, base)


if __name__ == "__main__":
    main()
