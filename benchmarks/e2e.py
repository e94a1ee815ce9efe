"""End to end: a real `ems-ml worker` from Kafka to PostgreSQL, beside a plain consumer's rate.

    .venv/bin/python -m benchmarks.e2e [--series 2000] [--points 50] [--batch 5000] [--checkpoint 5]

Needs the local stack (`ems-ml stack up`). Produces series x points demo-feed messages to a fresh
topic, then, in the same run:
1. reads and JSON-decodes them all with a plain aiokafka consumer (the reference: what the broker
   and the client library allow on this machine);
2. starts a real worker process on a fresh consumer group and database and times it from its
   first stored score until every score is in `anomaly_scores`, as the service stores them.
Prints the rates and their ratios, where the worker's time went (`ems_ml_batch_phase_seconds`),
and the CPU the worker and PostgreSQL used a point (which reads apart from the machine's speed
how much of the worker's wall time is waiting), and the incident changes it published (each one
reads and ranks root-cause hints) and how its checkpoints stored rows (a new series' first row
whole, then what changed since), with the command and the machine. Topics and the database are
removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from aiokafka import AIOKafkaConsumer

from benchmarks.deployment import fresh, produce, remove, stored, worker_env
from benchmarks.machine import header
from stream.config import Settings
from stream.demo_feed import DEMO_METRICS, synthetic_points


async def raw_rate(settings: Settings, expected: int) -> float:
    """Points per second of reading and decoding every message with a plain consumer."""
    consumer = AIOKafkaConsumer(
        settings.metrics_topic,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    try:
        seen, started = 0, None
        while seen < expected:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            started = started or time.perf_counter()
            for records in batch.values():
                for r in records:
                    json.loads(r.value)
                    seen += 1
        return seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def phase_seconds(port: int) -> dict[str, float]:
    """The worker's seconds in each batch phase, and in its batches (`total`), from its
    Prometheus endpoint (`ems_ml_batch_phase_seconds`)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    phases = re.finditer(r'ems_ml_batch_phase_seconds_sum\{phase="(\w+)"\} (\S+)', text)
    found = {m.group(1): float(m.group(2)) for m in phases}
    total = re.search(r"ems_ml_batch_duration_seconds_sum (\S+)", text)
    found["total"] = float(total.group(1)) if total else 0.0
    return found


def postgres_cpu_seconds() -> float:
    """The CPU seconds every PostgreSQL process on this machine has used so far (the local
    stack's server and its backends), from `/proc/<pid>/stat`."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # the process ended
        name, fields = text[text.index("(") + 1 : text.rindex(")")], text.rsplit(")", 1)[1].split()
        if name.startswith("postgres"):
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def worker_cpu_seconds(port: int) -> float:
    """The worker's CPU seconds so far (`process_cpu_seconds_total` of its metrics endpoint)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return float(re.search(r"^process_cpu_seconds_total (\S+)", text, re.M).group(1))


@dataclass(frozen=True)
class WorkerRun:
    #: scores a second, from the first stored batch to the last (`stored_rate`)
    rate: float
    #: the worker's seconds in each batch phase (`phase_seconds`)
    phases: dict[str, float]
    #: CPU seconds a point of the worker and of PostgreSQL, from the first poll that saw
    #: scores to the last
    worker_cpu: float
    postgres_cpu: float
    #: the incident changes the run published, by kind (each carries its hint list)
    changes: dict[str, int]
    #: the rows its checkpoints stored, by how (delta, whole)
    rows_stored: dict[str, int]


def worker_rate(
    settings: Settings, expected: int, batch: int, timeout: float, checkpoint: float
) -> WorkerRun:
    """A worker process's run over the topic: its points per second, from its first stored
    batch to its last, where its time went, and the CPU it and PostgreSQL used a point.

    The times are the database's own (`scored_at`, each batch's transaction start), so the
    benchmark polls only once a second for the worker to finish: polling ten times a second
    with a fresh connection and a count took the benchmark itself 13% of a core (its
    `/proc/<pid>/stat`), and the database the count and a new backend each time, beside the
    worker on a machine with two."""
    port = _free_port()
    env = worker_env(
        settings,
        BATCH_SIZE=str(batch),
        STATE_CHECKPOINT_SECONDS=str(checkpoint),
        LOG_LEVEL="WARNING",
        WORKER_METRICS_PORT=str(port),
    )
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ems_ml.cli", "worker"], env=env, stdout=log, stderr=log
        )
        try:
            deadline = time.monotonic() + timeout
            count = 0
            first: tuple[int, float, float] | None = None  # count, worker and server CPU
            while time.monotonic() < deadline and count < expected:
                if proc.poll() is not None:
                    log.seek(0)
                    raise SystemExit(f"worker exited:\n{log.read().decode()[-3000:]}")
                time.sleep(1.0)
                count = stored(settings)
                if first is None and count:
                    first = (count, worker_cpu_seconds(port), postgres_cpu_seconds())
            if count < expected:
                raise SystemExit(f"only {count} of {expected} scores after {timeout:.0f} s")
            points = max(count - first[0], 1)
            return WorkerRun(
                rate=stored_rate(settings),
                phases=phase_seconds(port),
                worker_cpu=(worker_cpu_seconds(port) - first[1]) / points,
                postgres_cpu=(postgres_cpu_seconds() - first[2]) / points,
                changes=by_kind(port, "ems_ml_incident_events_total"),
                rows_stored=by_kind(port, "ems_ml_checkpoint_rows_stored_total"),
            )
        finally:
            proc.terminate()
            proc.wait(timeout=60)


def stored_rate(settings: Settings) -> float:
    """Scores a second from the first batch's transaction start to the last one's, the first
    batch's own rows left out (they were stored at the first instant)."""
    with psycopg.connect(settings.database_dsn) as conn:
        first, last, total = conn.execute(
            "SELECT min(scored_at), max(scored_at), count(*) FROM anomaly_scores"
        ).fetchone()
        (at_first,) = conn.execute(
            "SELECT count(*) FROM anomaly_scores WHERE scored_at = %s", (first,)
        ).fetchone()
    return (total - at_first) / (last - first).total_seconds()


def by_kind(port: int, counter: str) -> dict[str, int]:
    """A counter of the worker's labelled by `kind`, by kind, from its metrics endpoint."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    found = re.finditer(rf'{counter}\{{kind="(\w+)"\}} (\S+)', text)
    return {m.group(1): int(float(m.group(2))) for m in found}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=2000, help="series (multiple of 4)")
    parser.add_argument("--points", type=int, default=50, help="points per series")
    parser.add_argument(
        "--batch",
        type=int,
        default=Settings.model_fields["batch_size"].default,
        help="the worker's BATCH_SIZE (default: its default)",
    )
    parser.add_argument(
        "--checkpoint", type=float, default=5.0, help="the worker's STATE_CHECKPOINT_SECONDS"
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for scores")
    args = parser.parse_args()

    base, settings = fresh("e2e")
    assets = max(1, args.series // len(DEMO_METRICS))
    points = list(synthetic_points(assets=assets, ticks=args.points, seed=1))
    messages = [(str(p.asset_id).encode(), json.dumps(p.to_json()).encode()) for p in points]
    try:
        asyncio.run(produce(settings, messages))
        raw = asyncio.run(raw_rate(settings, len(messages)))
        run = worker_rate(settings, len(messages), args.batch, args.timeout, args.checkpoint)
    finally:
        remove(settings, base)
    print(header("benchmarks.e2e"))
    print(
        f"series: {assets * len(DEMO_METRICS)}, points: {len(messages)}, batch: {args.batch}, "
        f"checkpoint every {args.checkpoint:g} s"
    )
    print(f"plain aiokafka consumer, read + json decode: {raw:,.0f} points/s (reference)")
    worker, phases = run.rate, run.phases
    print(f"ems-ml worker, Kafka to every score in PostgreSQL: {worker:,.0f} points/s")
    print(f"worker / reference: 1/{raw / worker:,.0f}")
    n = len(messages)
    shares = ", ".join(
        f"{name} {phases.get(name, 0.0) / n * 1e6:.0f}"
        for name in ("decode", "restore", "score", "publish", "write_wait", "checkpoint")
    )
    print(
        f"worker's us a point: {1e6 / worker:.0f} of wall time, "
        f"{phases['total'] / n * 1e6:.0f} in batches ({shares}); the rest in aiokafka and the "
        "event loop, between batches"
    )
    # the write runs beside the next batch: its time is not a part of the batches' time
    print(f"the write of a batch, beside the next one: {phases.get('write', 0.0) / n * 1e6:.0f}")
    print(
        f"CPU us a point: worker {run.worker_cpu * 1e6:.0f}, "
        f"PostgreSQL {run.postgres_cpu * 1e6:.0f} (every postgres process on the machine)"
    )
    changes = ", ".join(f"{run.changes.get(k, 0):,} {k}" for k in ("open", "update", "resolve"))
    print(f"incident changes published (each with its root-cause hints): {changes}")
    print(
        f"series rows stored by checkpoints: {run.rows_stored.get('delta', 0):,} as what changed "
        f"since their base, {run.rows_stored.get('whole', 0):,} whole"
    )


if __name__ == "__main__":
    main()
