"""The scoring agent: take a batch, score it, make it durable, then let faust commit it.

Order of a batch, which is what makes a SIGKILL at any moment lose nothing and show no duplicate:
1. restore the rows of the batch's series the engine does not hold yet from the state store
   (PostgreSQL);
2. score into those rows on the compiled engine (pure code, `stream.pipeline`), skipping the
   messages a row already includes;
3. publish anomalies and dead letters and wait for the broker's acknowledgement;
4. write the scores (idempotent on asset/metric/ts) and the incidents the new ones cause in one
   PostgreSQL transaction (`stream.sinks`), then publish the incidents' changes;
5. every `STATE_CHECKPOINT_SECONDS` (0: after every batch), a checkpoint: store the rows the
   batches since the last one changed, each naming the last offset it includes, in one
   transaction, and only then release those batches' events, so faust may commit their offsets.
A crash replays every message after the last checkpoint from the rows that checkpoint stored:
the messages a row includes are skipped, the others scored again to the same scores (the rows
are the same, the engine deterministic), which the scores' primary key swallows; incidents,
outlooks and security patterns count only points newly stored, so nothing counts twice; the
anomaly events go out again with the same event ids (at least once). Offsets never run ahead of
the stored rows, and the rows never ahead of the stored scores.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import psycopg
from faust.types import EventT, StreamT

from stream import metrics, models_store
from stream.app import StreamApp
from stream.engine import stored
from stream.engine.core import Engine
from stream.errors import PublishError, StorageError, StorageRefused
from stream.events import InputLimits
from stream.features import SeriesState
from stream.maintenance import Windows
from stream.pipeline import BatchResult, RawMessage, decode_batch, process_batch, series_keys
from stream.predictions import CapacityWatch
from stream.security import SecurityWatch
from stream.sinks.ems_core import EmsCoreSender
from stream.sinks.kafka_events import EventPublisher
from stream.sinks.postgres import ScoreWriter
from stream.sinks.state_store import StateRow, StateStore
from stream.sinks.topic_outbox import STALE_SECONDS, TopicMessage, TopicOutbox

log = logging.getLogger(__name__)

_RETRY_FIRST_SECONDS = 0.2
_RETRY_MAX_SECONDS = 10.0


async def retry_until_done(
    step: Callable[[], Awaitable[None]], *, sink: str, transient: type[Exception]
) -> None:
    """Run `step` until it succeeds, backing off exponentially with jitter on `transient` errors.

    A sink that is down slows the consumer down instead of losing the batch; faust keeps fetching
    only as far as the take buffer allows.
    """
    delay = _RETRY_FIRST_SECONDS
    while True:
        try:
            await step()
            return
        except transient as e:
            metrics.SINK_RETRIES.labels(sink=sink).inc()
            log.warning("%s unavailable, retrying in %.1fs: %s", sink, delay, e)
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, _RETRY_MAX_SECONDS)


@dataclass(frozen=True)
class ActiveModel:
    version: str
    states: dict[str, dict]


class ModelWatcher:
    """Polls `model_metadata` for the active model and hands a new version to the handler."""

    def __init__(self, *, dsn: str, handler: BatchHandler, models_dir: Path) -> None:
        self._dsn = dsn
        self._handler = handler
        self._models_dir = models_dir
        #: the active version that could not be loaded, if any
        self._failed: str | None = None

    async def poll(self) -> None:
        try:
            async with await psycopg.AsyncConnection.connect(self._dsn) as conn:
                found = await models_store.active(conn)
        except psycopg.Error as e:
            log.warning("cannot look for a new model: %s", e)
            return
        current = self._handler.model
        if found is None or (current is not None and current.version == found[0]):
            return
        version, recorded = found
        if self._failed == version:
            return  # said once; tried again only when another version becomes active
        try:
            path = models_store.locate(self._models_dir, version, recorded)
            header, states = await asyncio.get_running_loop().run_in_executor(
                None, models_store.load, path
            )
        except (OSError, ValueError) as e:
            log.error("model %s cannot be loaded, scoring without it: %s", version, e)
            self._failed = version
            return
        self._handler.model = ActiveModel(version=version, states=states)
        log.info("adopted model %s (%d series)", version, len(states))


async def publish_changes(
    changes: Sequence[TopicMessage], *, publisher: EventPublisher, outbox: TopicOutbox
) -> None:
    """Publish incidents' committed changes, then drop their outbox rows (`topic_outbox`); a
    worker that dies in between leaves the rows for the outbox sweep."""
    if not changes:
        return
    await retry_until_done(
        lambda: publisher.publish((), (), changes), sink="kafka", transient=PublishError
    )
    await retry_until_done(lambda: outbox.done(changes), sink="postgres", transient=StorageError)
    for change in changes:
        metrics.INCIDENT_EVENTS.labels(kind=change.body["type"].removeprefix("incident.")).inc()


class SilenceSweeper:
    """Resolves the incidents of assets that went silent and publishes the resolutions.

    It starts only once the worker has run for a quiet period: after an outage, the backlog in
    Kafka must first refresh when each asset was last seen, or every open incident would be
    resolved at start-up and reopened by its own backlog.
    """

    def __init__(
        self,
        *,
        writer: ScoreWriter,
        publisher: EventPublisher,
        outbox: TopicOutbox,
        quiet_seconds: float,
    ) -> None:
        self._writer = writer
        self._publisher = publisher
        self._outbox = outbox
        self._quiet = quiet_seconds
        self._started = time.monotonic()

    @property
    def period_seconds(self) -> float:
        """How often to sweep: a quarter of the quiet period, between 1 s and a minute."""
        return min(max(self._quiet / 4, 1.0), 60.0)

    async def sweep(self) -> None:
        if time.monotonic() - self._started < self._quiet:
            return
        resolved: list[TopicMessage] = []

        async def resolve() -> None:
            resolved[:] = await self._writer.resolve_silent_incidents()

        await retry_until_done(resolve, sink="postgres", transient=StorageError)
        if not resolved:
            return
        await publish_changes(resolved, publisher=self._publisher, outbox=self._outbox)
        log.info("resolved %d incidents of assets gone silent", len(resolved))


class BatchHandler:
    """Scores a batch of metric events on the compiled engine and hands the results to the sinks.

    The engine holds the rows of the series scored since the last rebalance, each restored from
    the state store the first time the series is seen (`forget_states` drops them all), so a
    batch reads only what it has not seen: a restart or a partition taken over starts from the
    stored rows, not from a replay of every change.
    """

    def __init__(
        self,
        *,
        engine: Engine,
        model_version: str,
        writer: ScoreWriter,
        publisher: EventPublisher,
        store: StateStore,
        outbox: TopicOutbox,
        limits: InputLimits | None = None,
        watch: CapacityWatch | None = None,
        maintenance: Windows | None = None,
        security: SecurityWatch | None = None,
        checkpoint_seconds: float = 0.0,
    ) -> None:
        self._engine = engine
        #: how often the rows batches changed are stored (`checkpoint`); 0: after every batch
        self.checkpoint_seconds = checkpoint_seconds
        #: the series whose rows changed since the last checkpoint
        self._dirty: set[str] = set()
        #: the events scored since the last checkpoint: acked (committable) only once it is stored
        self._held: list[EventT] = []
        self._last_checkpoint = time.monotonic()
        #: a batch and a checkpoint never interleave: a checkpoint stores rows that include
        #: every message of the batches before it, and only those whose scores are stored
        self._lock = asyncio.Lock()
        #: what a verdict names when its series did not start from a trained model
        self._model_version = model_version
        self._watch = watch
        self._security = security
        #: the maintenance windows (`stream.maintenance`), refreshed by a timer
        self.maintenance = maintenance or Windows()
        self._limits = limits
        self._outbox = outbox
        self._writer = writer
        self._publisher = publisher
        self._store = store
        #: the trained model each series the engine holds started from (None: none)
        self.trained: dict[str, str | None] = {}
        #: Last offset processed per (topic, partition), for the consumer-lag gauge.
        self.positions: dict[tuple[str, int], int] = {}
        #: The active trained model, set by ModelWatcher.
        self.model: ActiveModel | None = None

    def forget_states(self) -> None:
        """Drop the rows the engine holds: after a rebalance, another worker may have moved
        them on, so they are read again from the store. Rows changed since the last checkpoint
        are dropped too, and their events are never acked: their messages stay uncommitted, to
        be consumed again. A rebalance cannot come in the middle of a batch: its handler
        (`on_partitions_revoked`) waits for the batch's lock."""
        self._engine.store.clear()
        self.trained.clear()
        self._dirty.clear()
        self._held.clear()

    async def on_partitions_revoked(self) -> None:
        """Store what the batches changed, then forget every row (`forget_states`)."""
        async with self._lock:
            await self._checkpoint()
            self.forget_states()

    async def checkpoint(self) -> None:
        """Store the rows changed since the last checkpoint, each naming the last message it
        includes, in one transaction, then ack the events they include, so faust may commit
        their offsets. Until then a crash consumes those events again from the rows of the
        checkpoint before: skipped where a row includes them, else scored again to the same
        scores (which the scores' key swallows). Waits for a batch in progress."""
        async with self._lock:
            await self._checkpoint()

    async def _checkpoint(self) -> None:
        if self._dirty:
            started = time.perf_counter()
            rows = [self._row(key) for key in sorted(self._dirty)]
            await retry_until_done(
                lambda: self._store.save(rows), sink="postgres", transient=StorageError
            )
            metrics.CHECKPOINT_ROWS.observe(len(rows))
            seconds = time.perf_counter() - started
            metrics.CHECKPOINT_SECONDS.observe(seconds)
            metrics.BATCH_PHASE_SECONDS.labels(phase="checkpoint").observe(seconds)
            self._dirty.clear()
        for event in self._held:
            event.ack()
        self._held.clear()
        self._last_checkpoint = time.monotonic()

    @property
    def checkpoint_due(self) -> bool:
        return time.monotonic() - self._last_checkpoint >= self.checkpoint_seconds

    def _adopt_model(self, keys: set[str]) -> None:
        """Start each of `keys` the active trained model covers, and its row does not come from
        yet, from its trained state. Stream positions stay the live row's: replays are still
        recognised, and a stream that lags behind the training history is not refused as out
        of order."""
        model = self.model
        if model is None:
            return
        store = self._engine.store
        for key in keys:
            if self.trained.get(key) == model.version or key not in model.states:
                continue
            slot = store.slot(key)
            live = store.buffer[slot] if slot is not None else None
            trained = SeriesState.from_dict(model.states[key])
            if live is not None:
                trained.partition = None if live["partition"] < 0 else int(live["partition"])
                trained.offset = None if live["offset"] < 0 else int(live["offset"])
                trained.last_ts_ms = int(live["last_ms"]) if live["count"] else None
            else:
                trained.partition = trained.offset = trained.last_ts_ms = None
            self._engine.load(key, trained)
            self.trained[key] = model.version

    async def handle(self, events: Sequence[EventT]) -> None:
        """Score and store one batch (the module's order), then checkpoint if one is due."""
        async with self._lock:
            await self._handle(events)
            if self.checkpoint_due:
                await self._checkpoint()

    async def _handle(self, events: Sequence[EventT]) -> None:
        started = time.perf_counter()
        # faust's take_events acks every event of a batch once the agent moves on, even when the
        # agent was cancelled mid-batch (worker shutdown during a database outage). An extra
        # reference per message keeps them uncommittable until the checkpoint that stores their
        # rows releases it.
        for event in events:
            event.message.incref()
        messages = [
            RawMessage(
                topic=e.message.topic,
                partition=e.message.partition,
                offset=e.message.offset,
                key=e.message.key,
                value=e.message.value,
            )
            for e in events
        ]
        try:
            result, incidents = await self._score_and_store(messages)
        except BaseException:
            # the states in memory were scored into in place but are not durable: forget them,
            # so whatever comes next starts again from the store
            self.forget_states()
            raise
        self._dirty.update(result.series)
        self._held.extend(events)  # acked by the checkpoint that stores their rows
        for m in messages:
            self.positions[(m.topic, m.partition)] = m.offset
        self._record(result, len(messages), time.perf_counter() - started)

    async def _score_and_store(
        self, messages: list[RawMessage]
    ) -> tuple[BatchResult, list[TopicMessage]]:
        phase = _Phases()
        decoded = decode_batch(messages, self._limits)
        keys = series_keys(decoded)
        phase.done("decode")
        store = self._engine.store
        missing = {key for key in keys if store.slot(key) is None}
        if missing:
            loaded: dict[str, bytes] = {}

            async def load() -> None:
                loaded.update(await self._store.load_payloads(missing))

            await retry_until_done(load, sink="postgres", transient=StorageError)
            for key, payload in loaded.items():
                self.trained[key] = stored.restore(self._engine, key, payload)
            phase.done("restore")
        self._adopt_model(keys)
        result = process_batch(
            messages,
            self._engine,
            decoded,
            model_version=self._model_version,
            trained=self.trained,
            watch=self._watch,
            security=self._security,
        )
        phase.done("score")
        if not self.maintenance.loaded:
            await self.maintenance.refresh()  # before the first batch: no window missed

        def muted(point) -> bool:
            return self.maintenance.mutes(point.asset_id, point.metric, point.timestamp)

        alerts = [s for s in result.anomalies if not muted(s.point)]
        outlooks = [
            o for o in result.outlooks if not self.maintenance.mutes(o.asset_id, o.metric, o.ts)
        ]
        threats = [
            r for r in result.security if not self.maintenance.mutes(r.asset_id, r.metric, r.ts)
        ]
        # Anomalies and dead letters go out before the scores are durable: a crash in between
        # replays the batch from the same states, publishing them again with the same event ids
        # (at least once). After the write the batch's messages count as applied.
        await retry_until_done(
            lambda: self._publisher.publish(alerts, result.dead_letters),
            sink="kafka",
            transient=PublishError,
        )
        phase.done("publish")
        incidents: list[TopicMessage] = []

        async def write() -> None:
            incidents[:] = await self._writer.write(result.scored, (), outlooks, muted, threats)

        await retry_until_done(write, sink="postgres", transient=StorageError)
        await publish_changes(incidents, publisher=self._publisher, outbox=self._outbox)
        phase.done("write")
        return result, incidents

    def _row(self, key: str) -> StateRow:
        """The series `key`'s row as stored, naming the message it includes last."""
        row = self._engine.store.buffer[self._engine.store.slot(key)]
        return StateRow(
            key,
            int(row["partition"]),
            int(row["offset"]),
            stored.payload(self._engine, key, self.trained.get(key)),
        )

    @staticmethod
    def _record(result, n_messages: int, seconds: float) -> None:
        metrics.POINTS_CONSUMED.inc(result.consumed)
        metrics.REPLAYED.inc(result.replayed)
        # one increment a metric, not a point: a labelled increment costs microseconds
        for metric, n in Counter(s.point.metric for s in result.scored).items():
            metrics.POINTS_SCORED.labels(metric=metric).inc(n)
        for metric, n in Counter(s.point.metric for s in result.anomalies).items():
            metrics.ANOMALIES.labels(metric=metric).inc(n)
        for letter in result.dead_letters:
            kind = letter.reason.split(":", 1)[0].split(" ")[0] or "invalid"
            metrics.DEAD_LETTERS.labels(kind=kind).inc()
        metrics.BATCH_SIZE.observe(n_messages)
        metrics.BATCH_SECONDS.observe(seconds)
        if result.dead_letters:
            log.warning(
                "batch of %d messages: %d dead-lettered, first because %s",
                n_messages,
                len(result.dead_letters),
                result.dead_letters[0].reason,
            )
        if result.anomalies:
            log.info(
                "batch of %d messages: %d scored, %d anomalies",
                n_messages,
                len(result.scored),
                len(result.anomalies),
            )


class _Phases:
    """Times the phases of a batch into `metrics.BATCH_PHASE_SECONDS`, each from the end of
    the one before."""

    def __init__(self) -> None:
        self._since = time.perf_counter()

    def done(self, phase: str) -> None:
        now = time.perf_counter()
        metrics.BATCH_PHASE_SECONDS.labels(phase=phase).observe(now - self._since)
        self._since = now


#: the exit code of a worker that stopped rather than skip a batch it could not make durable
EXIT_BATCH_FAILED = 70


def stop_worker(error: Exception) -> NoReturn:
    """Stop the process at once, its batch's offsets uncommitted, as a SIGKILL would.

    faust acks the events of an agent that raises, and an agent that stopped leaves a worker that
    consumes nothing and no longer stops on SIGTERM; retrying what cannot succeed (PostgreSQL
    refusing the rows, a bug) would hold the partition as silently. Stopping loses nothing (the
    batch is consumed again after a restart, exactly once) and says what is wrong.
    """
    if isinstance(error, StorageRefused):
        log.critical("stopping the worker: %s; fix the database, then restart it", error)
    else:
        log.critical("stopping the worker: a batch failed unexpectedly", exc_info=error)
    logging.shutdown()
    os._exit(EXIT_BATCH_FAILED)


def register_agents(
    stream_app: StreamApp,
    handler: BatchHandler,
    watcher: ModelWatcher,
    sender: EmsCoreSender | None,
    sweeper: SilenceSweeper,
    outbox: TopicOutbox,
    publisher: EventPublisher,
    *,
    batch_size: int,
    batch_timeout: float,
    model_poll_seconds: float,
    outbox_poll_seconds: float,
    maintenance_poll_seconds: float = 10.0,
) -> None:
    """Attach the scoring agent, the model watcher, the maintenance windows' refresh, the EMS
    Core sender (when alerts are on), the silent-asset sweep, the sweep of incident changes left
    unpublished and the consumer-lag timer to the app."""
    app = stream_app.app

    if sender is not None:

        @app.timer(outbox_poll_seconds)
        async def deliver_to_ems_core() -> None:
            await sender.deliver_pending()

    @app.timer(model_poll_seconds)
    async def look_for_new_model() -> None:
        await watcher.poll()

    @app.timer(maintenance_poll_seconds)
    async def read_maintenance_windows() -> None:
        await handler.maintenance.refresh()

    @app.timer(sweeper.period_seconds)
    async def resolve_silent_assets() -> None:
        await sweeper.sweep()

    @app.timer(STALE_SECONDS / 3)
    async def publish_left_incident_changes() -> None:
        try:
            swept = await outbox.sweep(lambda changes: publisher.publish((), (), changes))
        except (StorageError, PublishError) as e:
            log.warning("incident changes left by a worker not published yet: %s", e)
            return
        if swept:
            log.info("published %d incident changes a worker had left unpublished", swept)

    @app.on_partitions_revoked.connect
    async def forget_states_on_rebalance(app, revoked, **kwargs) -> None:
        try:
            await handler.on_partitions_revoked()
        except Exception as e:  # noqa: BLE001 - rows not stored: their events must not commit
            stop_worker(e)

    if handler.checkpoint_seconds > 0:
        # also while no batch comes, so the last batches' offsets are committed and their rows
        # stored within an interval of their scores
        @app.timer(handler.checkpoint_seconds)
        async def store_changed_rows() -> None:
            if not handler.checkpoint_due:
                return
            try:
                await handler.checkpoint()
            except Exception as e:  # noqa: BLE001 - as a batch that cannot be made durable
                stop_worker(e)

    @app.agent(stream_app.metrics_topic, name="score-metrics")
    async def score_metrics(stream: StreamT) -> None:
        async for events in stream.take_events(batch_size, within=batch_timeout):
            try:
                await handler.handle(events)
            except Exception as e:  # noqa: BLE001 - whatever it is, the batch must not be skipped
                stop_worker(e)

    @app.timer(5.0)
    async def report_consumer_lag() -> None:
        topic = stream_app.metrics_topic.get_topic_name()
        owned = {tp.partition: tp for tp in app.consumer.assignment() if tp.topic == topic}
        # a partition this worker no longer owns is another worker's to report: drop its series
        # (a stale value would add a lag that is not there to every sum over workers)
        for gone in [p for t, p in handler.positions if t == topic and p not in owned]:
            del handler.positions[(topic, gone)]
            try:
                metrics.CONSUMER_LAG.remove(topic, str(gone))
            except KeyError:
                pass
        for partition, tp in owned.items():
            highwater = app.consumer.highwater(tp)
            last = handler.positions.get((topic, partition))
            if highwater is None or last is None:
                continue  # nothing read from it yet: unknown, not zero
            lag = highwater - (last + 1)
            metrics.CONSUMER_LAG.labels(topic=topic, partition=str(partition)).set(max(lag, 0))
