"""A fresh deployment on the local stack for one benchmark run: its own topics, consumer group
and database, the environment of the worker processes that serve it, and its removal."""

from __future__ import annotations

import asyncio
import os
import uuid

import psycopg
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from deploy.stack import ensure_database
from stream.config import Settings
from stream.topics import ensure_topics


def fresh(name: str) -> tuple[Settings, Settings]:
    """(the stack's settings, those of a new deployment named `bench-<name>-<random>`), with
    its topics and database created."""
    base = Settings()
    tag = f"bench-{name}-{uuid.uuid4().hex[:8]}"
    settings = base.model_copy(
        update={
            "metrics_topic": f"{tag}.metrics",
            "anomalies_topic": f"{tag}.anomalies",
            "consumer_group": tag,
            "database_name": tag.replace("-", "_"),
        }
    )
    ensure_database(settings)
    asyncio.run(ensure_topics(settings))
    return base, settings


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of an `ems-ml worker` of the deployment: no Prometheus port, no EMS Core
    deliveries (`extra` overrides)."""
    return {
        **os.environ,
        "METRICS_TOPIC": settings.metrics_topic,
        "ANOMALIES_TOPIC": settings.anomalies_topic,
        "CONSUMER_GROUP": settings.consumer_group,
        "DATABASE_NAME": settings.database_name,
        "WORKER_METRICS_PORT": "0",
        "AUTO_CREATE_ALERTS": "false",
        **extra,
    }


async def produce(settings: Settings, messages: list[tuple[bytes, bytes]]) -> None:
    """Send (key, value) messages to the deployment's input topic and wait for them all."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", linger_ms=20
    )
    await producer.start()
    try:
        for key, value in messages:
            await producer.send(settings.metrics_topic, value=value, key=key)
        await producer.flush()
    finally:
        await producer.stop()


def stored(settings: Settings) -> int:
    """Rows in the deployment's `anomaly_scores` (0 before the worker made the table)."""
    try:
        with psycopg.connect(settings.database_dsn) as conn:
            return conn.execute("SELECT count(*) FROM anomaly_scores").fetchone()[0]
    except psycopg.errors.UndefinedTable:
        return 0


def remove(settings: Settings, base: Settings) -> None:
    """Delete the deployment's topics and database."""
    asyncio.run(_delete_topics(settings))
    admin_dsn = base.model_copy(update={"database_name": "postgres"}).database_dsn
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{settings.database_name}" WITH (FORCE)')


async def _delete_topics(settings: Settings) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        ours = [t for t in await admin.list_topics() if settings.consumer_group in t]
        if ours:
            await admin.delete_topics(ours)
    finally:
        await admin.close()
