"""Builds a worker from settings and runs it: `ems-ml worker`."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import faust
import httpx
import psycopg
from prometheus_client import start_http_server
from psycopg_pool import AsyncConnectionPool

from stream.agents import BatchHandler, ModelWatcher, SilenceSweeper, register_agents
from stream.app import create_app
from stream.capacity import parse_capacity_rules
from stream.config import Settings, configure_logging, logging_dict_config
from stream.engine.core import warm
from stream.ensemble import MODEL_VERSION, build_engine
from stream.incidents import IncidentTracker
from stream.maintenance import Windows
from stream.predictions import CapacityWatch, PredictionTracker
from stream.security import SecurityTracker, SecurityWatch, parse_security_metrics
from stream.sinks.ems_core import EmsCoreSender
from stream.sinks.kafka_events import EventPublisher
from stream.sinks.postgres import ScoreWriter, ensure_schema
from stream.sinks.state_store import StateStore
from stream.sinks.topic_outbox import TopicOutbox
from stream.topics import ensure_topics

log = logging.getLogger(__name__)


async def _prepare(settings: Settings) -> None:
    """Topics and tables exist before the first message is consumed."""
    await ensure_topics(settings)
    async with await psycopg.AsyncConnection.connect(settings.database_dsn) as conn:
        await ensure_schema(conn)


def capacity_watch(settings: Settings) -> CapacityWatch:
    """The bounded metrics and when a crossing becomes a prediction (`CAPACITY_*`)."""
    return CapacityWatch(
        parse_capacity_rules(settings.capacity_rules),
        horizon_hours=settings.capacity_horizon_hours,
        confidence=settings.capacity_confidence,
    )


def run_worker(settings: Settings) -> None:
    configure_logging(settings.log_level)
    asyncio.run(_prepare(settings))
    # before the first batch: a first compile (half a minute) inside it would stall the consumer
    log.info("scoring engine ready in %.1f s", warm(settings.window_size))
    if settings.worker_metrics_port:
        start_http_server(settings.worker_metrics_port)
        log.info("Prometheus metrics on :%d/metrics", settings.worker_metrics_port)
    stream_app = create_app(settings)
    # Opened by the writer on first use, inside faust's event loop.
    pool = AsyncConnectionPool(settings.database_dsn, min_size=1, max_size=4, open=False)
    watch = capacity_watch(settings)
    writer = ScoreWriter(
        pool=pool,
        state_group=settings.consumer_group,
        incidents=IncidentTracker(
            quiet_seconds=settings.incident_quiet_seconds,
            queue_outbox=settings.auto_create_alerts,
            flap_seconds=settings.incident_flap_seconds,
        ),
        predictions=PredictionTracker(watch, queue_outbox=settings.auto_create_alerts),
        security=SecurityTracker(
            quiet_seconds=settings.incident_quiet_seconds,
            queue_outbox=settings.auto_create_alerts,
        ),
    )
    publisher = EventPublisher(
        anomalies=stream_app.anomalies_topic,
        dead_letters=stream_app.dead_letter_topic,
        threshold=settings.anomaly_threshold,
    )
    outbox = TopicOutbox(pool=pool)
    handler = BatchHandler(
        engine=build_engine(settings),
        model_version=MODEL_VERSION,
        writer=writer,
        publisher=publisher,
        store=StateStore(pool=pool, group=settings.consumer_group),
        outbox=outbox,
        limits=settings.input_limits,
        watch=watch,
        maintenance=Windows(dsn=settings.database_dsn),
        security=SecurityWatch(parse_security_metrics(settings.security_metrics)),
        checkpoint_seconds=settings.state_checkpoint_seconds,
    )
    register_agents(
        stream_app,
        handler,
        ModelWatcher(
            dsn=settings.database_dsn, handler=handler, models_dir=Path(settings.models_dir)
        ),
        EmsCoreSender(
            pool=AsyncConnectionPool(settings.database_dsn, min_size=1, max_size=3, open=False),
            client=httpx.AsyncClient(timeout=httpx.Timeout(settings.ems_core_timeout_seconds)),
            base_url=settings.ems_core_url,
            # the owner of the input topic's partition 0 reports the group's backlog
            reports_backlog=lambda: any(
                tp.topic == settings.metrics_topic and tp.partition == 0
                for tp in stream_app.app.consumer.assignment()
            ),
        )
        if settings.auto_create_alerts
        else None,
        SilenceSweeper(
            writer=writer,
            publisher=publisher,
            outbox=outbox,
            quiet_seconds=settings.incident_quiet_seconds,
        ),
        outbox,
        publisher,
        batch_size=settings.batch_size,
        batch_timeout=settings.batch_timeout_seconds,
        model_poll_seconds=settings.model_poll_seconds,
        outbox_poll_seconds=settings.outbox_poll_seconds,
        maintenance_poll_seconds=settings.maintenance_poll_seconds,
    )
    worker = faust.Worker(
        stream_app.app,
        loglevel=settings.log_level,
        logging_config=logging_dict_config(settings.log_level),
        quiet=True,
    )
    # faust's terminal spinner, when the level is WARNING or above, sets the root logger to DEBUG
    # and spins on every record: every debug line of faust and aiokafka (one per message sent)
    # was then built, at several % of the worker's time, and escape codes went to its log
    worker.spinner = None
    worker.execute_from_commandline()
