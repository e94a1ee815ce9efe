"""Builds a worker from settings and runs it: `ems-ml worker`.

The worker is one asyncio program: the consumer's batches scored one after the other
(`stream.agents.BatchHandler`), and beside them the timers (checkpoints, the active model, the
maintenance windows, the EMS Core sender, the sweeps, the consumer-lag gauge). On SIGTERM or
SIGINT it finishes the batch in progress, stores its rows, commits their offsets and leaves the
group, so its partitions move at once; a batch that cannot finish within `_STOP_GRACE_SECONDS`
(a sink down) is abandoned uncommitted, to be consumed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import psycopg
from aiokafka import AIOKafkaProducer
from prometheus_client import start_http_server
from psycopg_pool import AsyncConnectionPool

from stream import metrics, root_cause
from stream.agents import BatchHandler, ModelWatcher, SilenceSweeper, stop_worker
from stream.capacity import parse_capacity_rules
from stream.config import Settings, configure_logging
from stream.consumer import InputConsumer
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
from stream.sinks.topic_outbox import STALE_SECONDS, TopicOutbox
from stream.topics import ensure_topics

log = logging.getLogger(__name__)

#: logged once the worker has joined its consumer group and is about to consume
READY_LINE = "worker ready: consuming"
#: how long a stop waits for the batch in progress, then for the last checkpoint
_STOP_GRACE_SECONDS = 10.0
_LAG_REPORT_SECONDS = 5.0


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
    log.info("root-cause ranking ready in %.1f s", root_cause.warm())
    # What start-up made (modules, the compiled engine, pydantic's schemas) lives as long as the
    # process: frozen out of the cyclic collector's sight, its full collections walk only what
    # the batches make. They took 14% of the worker's CPU in `benchmarks.e2e` (README). A batch
    # allocates thousands of objects, freed by reference counting: a young collection every
    # 10,000 allocations (not 700) still finds its rare cycles.
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
    if settings.worker_metrics_port:
        start_http_server(settings.worker_metrics_port)
        log.info("Prometheus metrics on :%d/metrics", settings.worker_metrics_port)
    asyncio.run(serve(settings))


def every(seconds: float, step: Callable[[], Awaitable[None]], *, name: str) -> asyncio.Task:
    """Run `step` every `seconds` until cancelled; a step that raises is logged and run again
    at the next tick (each step handles the failures it expects itself)."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await step()
            except Exception:  # noqa: BLE001 - a timer must not end the worker
                log.exception("%s failed; trying again in %.0f s", name, seconds)

    return asyncio.create_task(loop(), name=name)


def report_consumer_lag(consumer: InputConsumer, positions: dict[tuple[str, int], int]) -> None:
    """Set the lag gauge of each partition this worker owns; drop those it no longer owns (a
    stale value would add a lag that is not there to every sum over workers)."""
    topic = consumer.topic
    owned = consumer.owned_partitions()
    for gone in [p for t, p in positions if t == topic and p not in owned]:
        del positions[(topic, gone)]
        with contextlib.suppress(KeyError):
            metrics.CONSUMER_LAG.remove(topic, str(gone))
    for partition in owned:
        highwater = consumer.highwater(partition)
        last = positions.get((topic, partition))
        if highwater is None or last is None:
            continue  # nothing read from it yet: unknown, not zero
        lag = highwater - (last + 1)
        metrics.CONSUMER_LAG.labels(topic=topic, partition=str(partition)).set(max(lag, 0))


async def serve(settings: Settings) -> None:
    """Consume, score and store until SIGTERM or SIGINT (the module's shutdown)."""
    # opened by their users on first use
    pool = AsyncConnectionPool(settings.database_dsn, min_size=1, max_size=4, open=False)
    sender_pool = AsyncConnectionPool(settings.database_dsn, min_size=1, max_size=3, open=False)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
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
        producer=producer,
        anomalies=settings.anomalies_topic,
        dead_letters=settings.dlq_topic,
        threshold=settings.anomaly_threshold,
    )
    outbox = TopicOutbox(pool=pool)

    async def revoked() -> None:
        try:
            await handler.on_partitions_revoked()
        except Exception as e:  # noqa: BLE001 - rows not stored: their offsets must not commit
            stop_worker(e)

    consumer = InputConsumer(settings, on_revoked=revoked)
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
        checkpoint_deltas=settings.checkpoint_deltas,
        write_backlog_points=settings.write_backlog_points,
        commit=consumer.commit,
    )
    watcher = ModelWatcher(
        dsn=settings.database_dsn, handler=handler, models_dir=Path(settings.models_dir)
    )
    sweeper = SilenceSweeper(
        writer=writer,
        publisher=publisher,
        outbox=outbox,
        quiet_seconds=settings.incident_quiet_seconds,
    )

    async def publish_left_incident_changes() -> None:
        try:
            swept = await outbox.sweep(lambda changes: publisher.publish((), (), changes))
        except Exception as e:  # noqa: BLE001 - StorageError, PublishError: the next sweep
            log.warning("incident changes left by a worker not published yet: %s", e)
            return
        if swept:
            log.info("published %d incident changes a worker had left unpublished", swept)

    async def checkpoint_when_due() -> None:
        # also while no batch comes, so the last batches' offsets are committed and their rows
        # stored within an interval of their scores
        if not handler.checkpoint_due:
            return
        try:
            await handler.queue_checkpoint()
        except Exception as e:  # noqa: BLE001 - as a batch that cannot be made durable
            stop_worker(e)

    async def lag() -> None:
        report_consumer_lag(consumer, handler.positions)

    await producer.start()
    await consumer.start()
    timers = [
        every(settings.model_poll_seconds, watcher.poll, name="model watcher"),
        every(settings.maintenance_poll_seconds, handler.maintenance.refresh, name="maintenance"),
        every(sweeper.period_seconds, sweeper.sweep, name="silent-asset sweep"),
        every(STALE_SECONDS / 3, publish_left_incident_changes, name="outbox sweep"),
        every(_LAG_REPORT_SECONDS, lag, name="consumer lag"),
    ]
    if handler.checkpoint_seconds > 0:
        timers.append(every(handler.checkpoint_seconds, checkpoint_when_due, name="checkpoint"))
    ems_core = httpx.AsyncClient(timeout=httpx.Timeout(settings.ems_core_timeout_seconds))
    if settings.auto_create_alerts:
        sender = EmsCoreSender(
            pool=sender_pool,
            client=ems_core,
            base_url=settings.ems_core_url,
            # the owner of the input topic's partition 0 reports the group's backlog
            reports_backlog=lambda: 0 in consumer.owned_partitions(),
        )
        timers.append(every(settings.outbox_poll_seconds, sender.deliver_pending, name="ems core"))

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    consuming = asyncio.create_task(consume(consumer, handler, stopping), name="consume")
    log.info("%s %s as group %s", READY_LINE, settings.metrics_topic, settings.consumer_group)
    try:
        await asyncio.wait(
            [consuming, asyncio.create_task(stopping.wait())],
            return_when=asyncio.FIRST_COMPLETED,
        )
        log.info("stopping: finishing the batch in progress")
        stopping.set()
        await _finish(consuming, handler)
    finally:
        for timer in timers:
            timer.cancel()
        await asyncio.gather(*timers, return_exceptions=True)
        await consumer.stop()
        await producer.stop()
        await pool.close()
        await sender_pool.close()
        await ems_core.aclose()
        log.info("worker stopped")


async def consume(consumer: InputConsumer, handler: BatchHandler, stopping: asyncio.Event) -> None:
    """Hand each batch to the handler until `stopping` is set. Whatever fails (a batch, the
    consumer itself) stops the worker (`stop_worker`), nothing committed past the last
    checkpoint."""
    try:
        async with contextlib.aclosing(consumer.batches()) as batches:
            async for generation, messages in batches:
                if stopping.is_set():
                    return
                if messages:
                    await handler.handle(
                        messages, stale=lambda g=generation: consumer.generation != g
                    )
    except Exception as e:  # noqa: BLE001 - whatever it is, the batch must not be skipped
        stop_worker(e)


async def _finish(consuming: asyncio.Task, handler: BatchHandler) -> None:
    """Let the batch in progress end, then store the rows and commit their offsets; what does
    not end within the grace is abandoned uncommitted (consumed again, then skipped where the
    stored rows include it)."""
    try:
        await asyncio.wait_for(asyncio.shield(consuming), _STOP_GRACE_SECONDS)
    except TimeoutError:
        log.warning(
            "the batch in progress did not end in %.0f s: left uncommitted", _STOP_GRACE_SECONDS
        )
        consuming.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consuming
        return  # its rows were forgotten (`BatchHandler._handle`): nothing to store
    try:
        await asyncio.wait_for(handler.checkpoint(), _STOP_GRACE_SECONDS)
    except (TimeoutError, Exception) as e:  # noqa: BLE001 - stopping anyway; nothing committed
        log.warning("last checkpoint not stored (its messages are consumed again): %r", e)
