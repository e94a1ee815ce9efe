"""The faust application, its topics and its state table; no logic.

Built by a factory from `Settings` rather than at import time, so tests and several workers in one
process never share an app bound to a stale event loop.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
from faust.types import TopicT

from stream.config import Settings

# The changelog partition of the state write in progress (see SeriesStateTable.put).
_write_partition: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "series_state_write_partition", default=None
)


class SeriesStateTable(faust.Table):
    """The per-series state table, written with an explicit changelog partition.

    faust derives a table write's changelog partition from "the current event"; an agent that
    processes a batch of events from several partitions has no meaningful current event, so each
    write names the partition of the message it came from. Recovery after a rebalance then brings
    every series' state to the worker that owns its input partition.
    """

    def put(self, partition: int, key: str, value: dict) -> None:
        token = _write_partition.set(partition)
        try:
            self[key] = value
        finally:
            _write_partition.reset(token)

    def partition_for_key(self, key: Any) -> int | None:
        partition = _write_partition.get()
        return partition if partition is not None else super().partition_for_key(key)


@dataclass(frozen=True)
class StreamApp:
    """The app and everything declared on it."""

    app: faust.App
    metrics_topic: TopicT
    anomalies_topic: TopicT
    dead_letter_topic: TopicT
    state: SeriesStateTable


def create_app(settings: Settings) -> StreamApp:
    data_dir = Path(settings.worker_data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.consumer_group,
        broker=settings.kafka_broker_url,
        datadir=str(data_dir),
        store="memory://",
        # Our own Prometheus endpoint replaces faust's web server; two workers on one host would
        # otherwise fight over its port.
        web_enabled=False,
        topic_disable_leader=True,
        topic_partitions=settings.metrics_partitions,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        # a worker that died (SIGKILL, lost host) frees its partitions after this long
        broker_session_timeout=settings.consumer_session_timeout_seconds,
        broker_heartbeat_interval=min(3.0, settings.consumer_session_timeout_seconds / 3),
        producer_acks=-1,
        key_serializer="raw",
        value_serializer="raw",
        Table=SeriesStateTable,
    )
    raw = {
        "key_type": bytes,
        "value_type": bytes,
        "key_serializer": "raw",
        "value_serializer": "raw",
    }
    # Keys are "asset_id/metric" strings, values SeriesState dicts; both JSON in the changelog.
    state = app.Table(
        "series-state",
        partitions=settings.metrics_partitions,
        help="Rolling window and detector state per asset/metric series",
    )
    return StreamApp(
        app=app,
        metrics_topic=app.topic(
            settings.metrics_topic, partitions=settings.metrics_partitions, **raw
        ),
        anomalies_topic=app.topic(settings.anomalies_topic, **raw),
        dead_letter_topic=app.topic(settings.dlq_topic, **raw),
        state=state,
    )
