"""The scoring of batches: take a batch, score it, make it durable, then commit its offsets.

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
   transaction, and only then commit those batches' offsets (`stream.consumer`). A row goes
   as what changed since its base, the row as last stored whole, which the worker holds
   (`stream.state_codec.encode_delta`), or whole as the next base when it has changed too
   much; either is stored only where it does not go back (`stream.sinks.state_store`).
Writes and checkpoints run in a queue of their own while the next batches are fetched, scored
and published: one at a time, in the order queued, each once the one before has ended. A
checkpoint takes its rows when it is queued, so it stores them only after the scores of every
batch they include. The scoring runs at most `WRITE_BACKLOG_POINTS` scored points ahead of
the queue (50,000: about 10 s of a 5,000 points/s feed, tens of MB): a slow write (an
incident's hint list over dense series) delays the stored scores and the incidents, not the
anomalies of the batches after it, and a database that is down or slow holds a bounded amount
in memory. Each batch waits until its own rows are sent, at most as long as it took itself,
so PostgreSQL has the next rows while the worker catches up.
A crash replays every message after the last checkpoint from the rows that checkpoint stored:
the messages a row includes are skipped, the others scored again to the same scores (the rows
are the same, the engine deterministic), which the scores' primary key swallows; incidents,
outlooks and security patterns count only points newly stored, so nothing counts twice; the
anomaly events go out again with the same event ids (at least once). Offsets never run ahead of
the stored rows, and the rows never ahead of the stored scores.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import psycopg

from stream import metrics, models_store
from stream.engine import stored
from stream.engine.core import Engine
from stream.errors import PublishError, StorageError, StorageRefused
from stream.events import InputLimits
from stream.features import SeriesState
from stream.maintenance import Windows
from stream.pipeline import BatchResult, RawMessage, decode_batch, process_batch, series_keys
from stream.predictions import CapacityWatch
from stream.security import SecurityWatch
from stream.sinks import state_store
from stream.sinks.kafka_events import EventPublisher
from stream.sinks.postgres import ScoreWriter
from stream.sinks.state_store import Checkpoint, StateRow, StateStore, Stored
from stream.sinks.topic_outbox import TopicMessage, TopicOutbox

log = logging.getLogger(__name__)

_RETRY_FIRST_SECONDS = 0.2
_RETRY_MAX_SECONDS = 10.0


async def retry_until_done(
    step: Callable[[], Awaitable[None]], *, sink: str, transient: type[Exception]
) -> None:
    """Run `step` until it succeeds, backing off exponentially with jitter on `transient` errors.

    A sink that is down slows the consumer down instead of losing the batch; the consumer keeps
    fetching only as far as its prefetch buffer allows.
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
        checkpoint_deltas: bool = True,
        write_backlog_points: int = 50_000,
        commit: Callable[[Mapping[tuple[str, int], int]], Awaitable[None]] | None = None,
    ) -> None:
        self._engine = engine
        #: commits each (topic, partition)'s next offset to read (`InputConsumer.commit`)
        self._commit = commit
        #: how often the rows batches changed are stored (`checkpoint`); 0: after every batch
        self.checkpoint_seconds = checkpoint_seconds
        #: whether checkpoints store rows as what changed since their base (`_bases`)
        self._checkpoint_deltas = checkpoint_deltas
        #: scored points the queue of writes may hold before the scoring waits for it
        self._backlog_limit = write_backlog_points
        #: the series whose rows changed since the last checkpoint
        self._dirty: set[str] = set()
        #: per (topic, partition), the offset after the last message scored since the last
        #: checkpoint: committed only once the checkpoint has stored the rows that include it
        self._uncommitted: dict[tuple[str, int], int] = {}
        self._last_checkpoint = time.monotonic()
        #: the queue of writes (a batch's scores, incidents and their changes) and checkpoints
        #: not yet seen to have ended, oldest first, each with the scored points it holds; each
        #: starts once the one before it has ended
        self._writes: deque[tuple[asyncio.Task[None], int]] = deque()
        #: the points the queue holds (at most the limit, or one batch above it)
        self._backlog = 0
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
        #: each series' base as stored (its `base_id`, its bytes packed), which a checkpoint
        #: stores the row's changes against: set when a row is read, and by checkpoints (one
        #: at a time) as they store rows whole
        self._bases: dict[str, tuple[int, bytes]] = {}
        #: the bytes `_bases` holds (`ems_ml_checkpoint_base_bytes`)
        self._base_bytes = 0
        #: Last offset processed per (topic, partition), for the consumer-lag gauge.
        self.positions: dict[tuple[str, int], int] = {}
        #: The active trained model, set by ModelWatcher.
        self.model: ActiveModel | None = None

    def forget_states(self) -> None:
        """Drop the rows the engine holds: after a rebalance, another worker may have moved
        them on, so they are read again from the store. Rows changed since the last checkpoint
        are dropped too, and their offsets never committed: their messages are consumed again,
        and so are the writes and checkpoints queued, which are cancelled. A rebalance cannot
        come in the middle of a batch: its handler (`on_partitions_revoked`) waits for the
        batch's lock."""
        for write, _ in self._writes:
            write.cancel()
        self._writes.clear()
        self._backlog = 0
        self._engine.store.clear()
        self.trained.clear()
        self._bases.clear()
        self._base_bytes = 0
        metrics.CHECKPOINT_BASE_BYTES.set(0)
        self._dirty.clear()
        self._uncommitted.clear()

    async def on_partitions_revoked(self) -> None:
        """Store what the batches changed, then forget every row (`forget_states`)."""
        async with self._lock:
            self._queue_checkpoint()
            await self._written()
            self.forget_states()

    async def checkpoint(self) -> None:
        """Store the rows changed since the last checkpoint, each naming the last message it
        includes, in one transaction, then commit the offsets of the messages they include;
        returns once that is done. Until then a crash consumes those messages again from the
        rows of the checkpoint before: skipped where a row includes them, else scored again to
        the same scores (which the scores' key swallows). Waits for a batch in progress."""
        async with self._lock:
            self._queue_checkpoint()
            await self._written()

    async def queue_checkpoint(self) -> None:
        """Queue a checkpoint (`checkpoint`) behind the writes in flight, without waiting for
        it; raises what a write or checkpoint that has ended raised. Waits for a batch in
        progress."""
        async with self._lock:
            self._reap()
            self._queue_checkpoint()

    def _then(self, step: Callable[[], Awaitable[None]], points: int, name: str) -> asyncio.Task:
        """Queue `step` to start once everything queued before it has ended (and not if any of
        it failed: then it fails the same way)."""
        before = self._writes[-1][0] if self._writes else None

        async def after_the_queue() -> None:
            if before is not None:
                await before
            await step()

        task = asyncio.create_task(after_the_queue(), name=name)
        self._writes.append((task, points))
        self._backlog += points
        return task

    def _reap(self) -> None:
        """Forget the queue's writes that have ended; raises what the first that failed raised."""
        while self._writes and self._writes[0][0].done():
            task, points = self._writes.popleft()
            self._backlog -= points
            task.result()

    async def _written(self) -> None:
        """Wait for everything queued; raises what the first that failed raised. The last in
        the queue ends only after every one before it (and fails with them), so it is the one
        awaited."""
        writes, self._writes, self._backlog = self._writes, deque(), 0
        if writes:
            await writes[-1][0]

    def _queue_checkpoint(self) -> None:
        """Queue the storing of the rows changed since the last checkpoint, as they are now,
        and then the commit of their batches' offsets. The rows include every batch scored, so
        they are queued behind those batches' writes: no row is stored ahead of its scores."""
        rows = [self._row(key) for key in sorted(self._dirty)]
        offsets = dict(self._uncommitted)
        self._dirty.clear()
        self._uncommitted.clear()
        self._last_checkpoint = time.monotonic()
        if rows or offsets:
            # a checkpoint holds no scored points; at most one is queued an interval
            self._then(lambda: self._store_checkpoint(rows, offsets), 0, "checkpoint")

    async def _store_checkpoint(
        self, rows: list[StateRow], offsets: dict[tuple[str, int], int]
    ) -> None:
        if rows:
            started = time.perf_counter()
            bases = {r.key: base for r in rows if (base := self._bases.get(r.key)) is not None}
            # XOR and LZ4 release the GIL: the next batches are scored meanwhile
            packed, deltas = await asyncio.to_thread(state_store.prepare, rows, bases)
            stored: list[Checkpoint] = []

            async def save() -> None:
                stored[:] = [await self._store.save(packed, deltas)]

            await retry_until_done(save, sink="postgres", transient=StorageError)
            self._keep_bases(packed, stored[0])
            metrics.CHECKPOINT_ROWS.observe(len(rows))
            seconds = time.perf_counter() - started
            metrics.CHECKPOINT_SECONDS.observe(seconds)
            metrics.BATCH_PHASE_SECONDS.labels(phase="checkpoint").observe(seconds)
        if offsets and self._commit is not None:
            await self._commit(offsets)

    def _keep_bases(self, rows: list[StateRow], stored: Checkpoint) -> None:
        """Hold each row a checkpoint stored whole as its series' base, as `prepare` packed it
        (1.6-5.4 KB of the row's 12.4 KB, for every series the worker holds; a row whose delta
        was refused is held as it was sent, unpacked); forget the base of a row it refused (a
        worker's older state), whose next row then goes whole."""
        for row in rows:
            if row.key in stored.bases and self._checkpoint_deltas:
                self._hold_base(row.key, stored.bases[row.key], row.payload)
            elif row.key not in stored.deltas:
                self._hold_base(row.key, None, b"")
        metrics.CHECKPOINT_BASE_BYTES.set(self._base_bytes)
        metrics.CHECKPOINT_ROWS_STORED.labels(kind="delta").inc(len(stored.deltas))
        metrics.CHECKPOINT_ROWS_STORED.labels(kind="whole").inc(len(stored.bases))

    def _hold_base(self, key: str, base_id: int | None, base: bytes) -> None:
        """Hold `base` as the series `key`'s base stored under `base_id` (None: forget it)."""
        held = self._bases.pop(key, None)
        if held is not None:
            self._base_bytes -= len(held[1])
        if base_id is not None:
            self._bases[key] = (base_id, base)
            self._base_bytes += len(base)

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

    async def handle(
        self, messages: Sequence[RawMessage], *, stale: Callable[[], bool] = lambda: False
    ) -> None:
        """Score one batch and start its write (the module's order), then checkpoint if one
        is due. Returns once this batch's write has started, or is queued behind the writes in
        flight (the module's order); the checkpoint is queued behind them too.

        `stale` says, once the batch holds the lock, whether its partitions were revoked since
        it was fetched: then it is dropped unscored, uncommitted, for their owner to consume."""
        async with self._lock:
            if stale():
                log.info("dropped a batch of %d messages fetched before a rebalance", len(messages))
                return
            await self._handle(messages)
            if self.checkpoint_due:
                self._queue_checkpoint()

    async def _handle(self, messages: Sequence[RawMessage]) -> None:
        started = time.perf_counter()
        try:
            result = await self._score_and_store(list(messages))
        except BaseException:
            # the states in memory were scored into in place but are not durable: forget them,
            # so whatever comes next starts again from the store
            self.forget_states()
            raise
        self._dirty.update(result.series)
        for m in messages:  # in offset order within a partition
            self._uncommitted[(m.topic, m.partition)] = m.offset + 1
            self.positions[(m.topic, m.partition)] = m.offset
        self._record(result, len(messages), time.perf_counter() - started)

    async def _score_and_store(self, messages: list[RawMessage]) -> BatchResult:
        """Score the batch and publish its anomalies, then queue its write (the module's
        order); waits while the queue would hold more than its limit of points, then until its
        rows are sent, at most as long as the batch took to score and publish."""
        phase = _Phases()
        decoded = decode_batch(messages, self._limits)
        keys = series_keys(decoded)
        phase.done("decode")
        store = self._engine.store
        missing = {key for key in keys if store.slot(key) is None}
        if missing:
            loaded: dict[str, Stored] = {}

            async def load() -> None:
                loaded.update(await self._store.load(missing))

            await retry_until_done(load, sink="postgres", transient=StorageError)
            for key, row in loaded.items():
                self.trained[key] = stored.restore(self._engine, key, row.payload)
                if row.base_id is not None and self._checkpoint_deltas:
                    self._hold_base(key, row.base_id, row.base)
            metrics.CHECKPOINT_BASE_BYTES.set(self._base_bytes)
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
        own_seconds = phase.elapsed()
        self._reap()
        while self._writes and self._backlog + len(result.scored) > self._backlog_limit:
            oldest, points = self._writes.popleft()
            self._backlog -= points
            await oldest
        sending = asyncio.Event()
        write = self._then(
            lambda: self._write(result, outlooks, muted, threats, sending),
            len(result.scored),
            "batch write",
        )
        write.add_done_callback(lambda _: sending.set())
        # Wait until this batch's rows are sent (or its write ended), but no longer than the
        # batch took to score and publish. Returning at once would let the next batch's
        # scoring, which never yields, hold every step of the queued writes (each statement,
        # the commit, the incidents' changes) until it ends: PostgreSQL sat idle in between,
        # and the rate end to end fell by 15%. Waiting without a bound would hold the anomalies
        # of the next batches behind a slow write ahead in the queue. The bound gives the
        # writes at least half of the loop while the worker is behind, and delays an anomaly
        # by at most its own batch's time.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(sending.wait(), timeout=own_seconds)
        phase.done("write_wait")
        return result

    async def _write(
        self, result: BatchResult, outlooks, muted, threats, sending: asyncio.Event
    ) -> None:
        """Store the batch's scores and incidents, retrying while PostgreSQL is unavailable,
        then publish the incidents' changes; `sending` is set as the scores go out. Run from
        the queue (`_then`): incidents and hints see the scores of every batch before."""
        started = time.perf_counter()
        incidents: list[TopicMessage] = []

        async def write() -> None:
            incidents[:] = await self._writer.write(
                result.scored, (), outlooks, muted, threats, sending
            )

        await retry_until_done(write, sink="postgres", transient=StorageError)
        await publish_changes(incidents, publisher=self._publisher, outbox=self._outbox)
        metrics.BATCH_PHASE_SECONDS.labels(phase="write").observe(time.perf_counter() - started)

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
        for metric, n in Counter(p.metric for p in result.scored.points).items():
            metrics.POINTS_SCORED.labels(metric=metric).inc(n)
        anomalies = result.anomalies
        for metric, n in Counter(s.point.metric for s in anomalies).items():
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
        if anomalies:
            log.info(
                "batch of %d messages: %d scored, %d anomalies",
                n_messages,
                len(result.scored),
                len(anomalies),
            )


class _Phases:
    """Times the phases of a batch into `metrics.BATCH_PHASE_SECONDS`, each from the end of
    the one before."""

    def __init__(self) -> None:
        self._start = self._since = time.perf_counter()

    def elapsed(self) -> float:
        """Seconds since the batch began."""
        return time.perf_counter() - self._start

    def done(self, phase: str) -> None:
        now = time.perf_counter()
        metrics.BATCH_PHASE_SECONDS.labels(phase=phase).observe(now - self._since)
        self._since = now


#: the exit code of a worker that stopped rather than skip a batch it could not make durable
EXIT_BATCH_FAILED = 70


def stop_worker(error: Exception) -> NoReturn:
    """Stop the process at once, its batch's offsets uncommitted, as a SIGKILL would.

    Retrying what cannot succeed (PostgreSQL refusing the rows, a bug) would hold the partitions
    silently, and skipping the batch would lose it. Stopping loses nothing (the batch is
    consumed again after a restart, exactly once), frees the partitions for the group once the
    session times out, and says what is wrong.
    """
    if isinstance(error, StorageRefused):
        log.critical("stopping the worker: %s; fix the database, then restart it", error)
    else:
        log.critical("stopping the worker: a batch failed unexpectedly", exc_info=error)
    logging.shutdown()
    os._exit(EXIT_BATCH_FAILED)
