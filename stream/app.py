"""The faust application and its topics; no logic (series states live in PostgreSQL,
`stream.sinks.state_store`).

Built by a factory from `Settings` rather than at import time, so tests and several workers in one
process never share an app bound to a stale event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import faust
from faust.types import TopicT

from stream.config import Settings


@dataclass(frozen=True)
class StreamApp:
    """The app and everything declared on it."""

    app: faust.App
    metrics_topic: TopicT
    anomalies_topic: TopicT
    dead_letter_topic: TopicT


def create_app(settings: Settings) -> StreamApp:
    data_dir = Path(settings.worker_data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.consumer_group,
        broker=settings.kafka_broker_url,
        datadir=str(data_dir),
        # Our own Prometheus endpoint replaces faust's web server; two workers on one host would
        # otherwise fight over its port.
        web_enabled=False,
        topic_disable_leader=True,
        topic_partitions=settings.metrics_partitions,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        # faust would wait, at a rebalance and at shutdown, for every event to be acked; the
        # events since the last checkpoint are acked only by the next one (`stream.agents`), so
        # it would wait for a checkpoint its own shutdown may have stopped. Not waiting loses
        # nothing: what is not acked is not committed, and is consumed again from the stored
        # rows; a batch in progress still ends before a rebalance forgets the rows
        # (`BatchHandler.on_partitions_revoked` waits for it).
        stream_wait_empty=False,
        # a worker that died (SIGKILL, lost host) frees its partitions after this long
        broker_session_timeout=settings.consumer_session_timeout_seconds,
        broker_heartbeat_interval=min(3.0, settings.consumer_session_timeout_seconds / 3),
        consumer_group_instance_id=settings.consumer_instance_id or None,
        producer_acks=-1,
        key_serializer="raw",
        value_serializer="raw",
    )
    raw = {
        "key_type": bytes,
        "value_type": bytes,
        "key_serializer": "raw",
        "value_serializer": "raw",
    }
    return StreamApp(
        app=app,
        metrics_topic=app.topic(
            settings.metrics_topic, partitions=settings.metrics_partitions, **raw
        ),
        anomalies_topic=app.topic(settings.anomalies_topic, **raw),
        dead_letter_topic=app.topic(settings.dlq_topic, **raw),
    )
