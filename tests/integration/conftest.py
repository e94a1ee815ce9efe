"""Fixtures for tests against the real stack: Kafka, PostgreSQL and worker processes.

Each test gets its own topics, consumer group and database, so tests never see each other's data.
The stack itself is started by the test command (`make test` runs `ems-ml stack up` first).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from deploy.stack import ensure_database, port_open
from stream.config import Settings
from stream.events import MetricPoint
from stream.features import SeriesState
from stream.pipeline import ScoredPoint
from stream.scoring import PointScore
from stream.sinks.state_store import StateRow
from stream.topics import ensure_topics
from stream.worker import READY_LINE

pytestmark = pytest.mark.integration

WORKER_READY = READY_LINE


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    settings = Settings()
    host, _, port = settings.kafka_bootstrap_servers.split(",")[0].rpartition(":")
    missing = []
    if not port_open(host, int(port)):
        missing.append(f"Kafka at {settings.kafka_bootstrap_servers}")
    if not port_open(settings.database_host, settings.database_port):
        missing.append(f"PostgreSQL at {settings.database_host}:{settings.database_port}")
    if missing:
        pytest.fail(f"{' and '.join(missing)} not answering: run `ems-ml stack up` first")
    return settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def settings(base_settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """Settings of a fresh, isolated deployment: own topics, group and database."""
    tag = uuid.uuid4().hex[:10]
    isolated = base_settings.model_copy(
        update={
            "metrics_topic": f"test-{tag}.metrics",
            "anomalies_topic": f"test-{tag}.anomalies",
            "consumer_group": f"test-{tag}",
            "database_name": f"test_{tag}",
            "batch_timeout_seconds": 0.2,
        }
    )
    ensure_database(isolated)
    asyncio.run(ensure_topics(isolated))
    yield isolated
    admin_dsn = base_settings.model_copy(update={"database_name": "postgres"}).database_dsn
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{isolated.database_name}" WITH (FORCE)')
    asyncio.run(_delete_topics(isolated, tag))


async def _delete_topics(settings: Settings, tag: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        ours = [t for t in await admin.list_topics() if tag in t]
        if ours:
            await admin.delete_topics(ours)
    finally:
        await admin.close()


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        env[name.upper()] = (
            value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
        )
    env.update(extra)
    return env


@dataclass
class WorkerProcess:
    proc: subprocess.Popen
    log_path: Path
    metrics_port: int
    _offset: int = field(default=0)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if WORKER_READY in self.log():
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.log()}")
            time.sleep(0.2)
        raise AssertionError(f"worker not ready in {timeout}s:\n{self.log()[-3000:]}")

    def samples(self, name: str, **labels: str) -> list[float]:
        """Every sample of a Prometheus metric (one per label set), from the worker's endpoint;
        with `labels`, the one of those labels (a metric of one label)."""
        import httpx

        text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text
        chosen = ",".join(f'{k}="{v}"' for k, v in labels.items())
        these = re.escape("{" + chosen + "}") if labels else r"(?:\{[^}]*\})?"
        pattern = rf"^{re.escape(name)}{these} ([0-9.e+]+)$"
        return [float(v) for v in re.findall(pattern, text, flags=re.MULTILINE)]

    def counter(self, name: str) -> float:
        """Sum of a Prometheus counter over its labels."""
        return sum(self.samples(name))

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def start_worker(settings: Settings, tmp_path: Path):
    """Factory: start an `ems-ml worker` process on the test's settings."""
    workers: list[WorkerProcess] = []

    def start(**overrides: str) -> WorkerProcess:
        port = free_port()
        log_path = tmp_path / f"worker-{len(workers)}.log"
        env = env_for(
            settings,
            WORKER_METRICS_PORT=str(port),
            **overrides,
        )
        with open(log_path, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "ems_ml.cli", "worker"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        worker = WorkerProcess(proc, log_path, port)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


async def produce(settings: Settings, values: list[bytes], keys: list[bytes] | None = None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        for i, value in enumerate(values):
            await producer.send(settings.metrics_topic, value=value, key=keys[i] if keys else None)
        await producer.flush()
    finally:
        await producer.stop()


async def consume_all(settings: Settings, topic: str, *, idle_seconds: float = 2.0) -> list:
    """Every record on `topic` from the start, until none arrives for `idle_seconds`."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    records = []
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=int(idle_seconds * 1000))
            if not batch:
                return records
            for part in batch.values():
                records.extend(part)
    finally:
        await consumer.stop()


def scores_in_db(settings: Settings) -> dict[tuple[int, str, int], tuple[float, bool]]:
    """(asset, metric, epoch ms) -> (score, is_anomaly) for every row of anomaly_scores."""
    with psycopg.connect(settings.database_dsn) as conn:
        rows = conn.execute(
            "SELECT asset_id, metric, ts, score, is_anomaly FROM anomaly_scores"
        ).fetchall()
    return {(a, m, int(ts.timestamp() * 1000)): (s, i) for a, m, ts, s, i in rows}


def count_in_db(settings: Settings) -> int:
    try:
        with psycopg.connect(settings.database_dsn) as conn:
            return conn.execute("SELECT count(*) FROM anomaly_scores").fetchone()[0]
    except psycopg.errors.UndefinedTable:
        return 0


def wait_until(predicate, timeout: float) -> bool:
    """True once `predicate()` is, False if `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def wait_for_count(settings: Settings, expected: int, timeout: float = 90) -> int:
    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        count = count_in_db(settings)
        if count >= expected:
            return count
        time.sleep(0.3)
    return count


def scored_point(
    *, asset_id: int, ts: datetime, value: float, score: float, is_anomaly: bool
) -> ScoredPoint:
    """A cpu_usage point with a verdict, as the pipeline hands it to `ScoreWriter.write`."""
    point = MetricPoint(asset_id=asset_id, metric="cpu_usage", value=value, timestamp=ts)
    verdict = PointScore(
        score=score,
        is_anomaly=is_anomaly,
        detector_scores={"zscore": score},
        features=None,
        model_version="t",
        driver="zscore:value",
    )
    return ScoredPoint(point, verdict)


def stored_row(settings: Settings, key: str, state: SeriesState) -> StateRow:
    """`state` (a Python scorer's, naming its message in `partition`/`offset`) stored as the
    worker stores a series: its engine row (`stream.engine.stored`)."""
    from stream.engine import stored
    from stream.ensemble import build_engine

    engine = build_engine(settings)
    engine.load(key, state)
    payload = stored.payload(engine, key, state.model_version)
    return StateRow(key, state.partition, state.offset, payload)
