"""Turns a batch of raw Kafka messages into scored points, anomalies and dead letters.

This is everything the agent does except I/O, so it can be tested without a broker: the agent
decodes the batch, restores the stored rows of its series into the compiled engine
(`stream.engine`), calls `process_batch`, then stores the scores, and the changed rows at the
next checkpoint. `apply_point` is the same step on the Python scorer, for the tests and
benchmarks that look inside a `SeriesState`.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import orjson

from stream.capacity import Outlook
from stream.events import (
    EARLIEST,
    LATEST,
    DecodedMessage,
    InputLimits,
    MetricPoint,
    decode_metric_message,
    plain_document_fields,
)
from stream.features import SeriesState
from stream.predictions import CapacityWatch, PredictionRef
from stream.scored import ScoredPoint, ScoredPoints
from stream.scoring import PointScore, Scorer
from stream.security import SecurityRef, SecurityWatch

if TYPE_CHECKING:
    from stream.engine.core import Engine


class RawMessage(NamedTuple):
    """One consumed Kafka message, as the agent hands it over. A named tuple: the consumer
    makes one a record, and a frozen dataclass takes over twice as long to make."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message (or part of one) that cannot be scored, and why."""

    message: RawMessage
    reason: str


@dataclass
class BatchResult:
    scored: ScoredPoints = field(default_factory=ScoredPoints.empty)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    #: the keys of the series this batch changed (their rows are in the engine)
    series: list[str] = field(default_factory=list)
    #: Points skipped because their message was already applied before a restart.
    replayed: int = 0
    #: Points received (valid or not); a message that is not JSON counts one.
    consumed: int = 0
    #: The outlook of each bounded series the batch scored, after its last point.
    outlooks: list[PredictionRef] = field(default_factory=list)
    #: The security patterns found in the batch (`stream.security`).
    security: list[SecurityRef] = field(default_factory=list)

    @property
    def anomalies(self) -> list[ScoredPoint]:
        return self.scored.anomalies()


def _millis(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def out_of_order(point: MetricPoint, last_ms: int) -> str:
    """Why `point` is refused: it is not after its series' last point, at `last_ms`."""
    return (
        f"out of order: {point.series_key} at {point.timestamp.isoformat()} is not after the "
        f"series' last point ({last_ms} ms)"
    )


def apply_point(state: SeriesState, point: MetricPoint, scorer: Scorer) -> PointScore | str:
    """Score `point` into its series' state on the Python scorer: the step `process_batch` takes
    on the compiled engine for each point, kept for the tests and benchmarks that hold the
    engine to it or look inside a `SeriesState`.

    Returns the verdict, or the reason the point cannot be scored: a series is scored in time
    order, so a point not after the series' last one is refused as out of order.
    """
    ts_ms = _millis(point.timestamp)
    if state.last_ts_ms is not None and ts_ms <= state.last_ts_ms:
        return out_of_order(point, state.last_ts_ms)
    verdict = scorer.score_and_learn(state, point.value, point.timestamp, point.metric)
    state.last_ts_ms = ts_ms
    return verdict


@dataclass(slots=True)
class DecodedBatch:
    """A batch of messages decoded: its valid points in message order, as columns, and why any
    part of a message was refused. Built by `decode_batch`."""

    #: the messages decoded
    messages: int = 0
    points: list[MetricPoint] = field(default_factory=list)
    #: each point's message, by its index in the batch
    owners: list[int] = field(default_factory=list)
    #: each point's series key (`MetricPoint.series_key`), value and time in epoch seconds
    keys: list[str] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    epochs: list[float] = field(default_factory=list)
    #: how a later reason about a point names it ("element 3: " in an array), by the point's
    #: index; a point not here is its message's only one ("")
    prefixes: dict[int, str] = field(default_factory=dict)
    #: the reasons for the parts of each message (by index) that were refused, where any were
    errors: dict[int, list[str]] = field(default_factory=dict)
    #: points received, valid or not; a message that is not JSON counts one
    consumed: int = 0

    def add_point(self, index: int, point: MetricPoint) -> None:
        """Add a valid point of message `index`."""
        key, epoch = point.series_key, point.timestamp.timestamp()
        self.points.append(point)
        self.owners.append(index)
        self.keys.append(key)
        self.values.append(point.value)
        self.epochs.append(epoch)

    def add(self, index: int, decoded: DecodedMessage) -> None:
        """Add message `index` as `decode_metric_message` read it."""
        for point, prefix in zip(decoded.points, decoded.prefixes, strict=True):
            if prefix:
                self.prefixes[len(self.points)] = prefix
            self.add_point(index, point)
        if decoded.errors:
            self.errors[index] = list(decoded.errors)
        self.consumed += max(1, len(decoded.points) + len(decoded.errors))


def decode_batch(messages: Sequence[RawMessage], limits: InputLimits | None = None) -> DecodedBatch:
    """Each message's points and errors, in order, within `limits` (the worker's) where given;
    never raises on bad input.

    A message that is one plainly valid point (a JSON object, its fields as the wire schema
    makes them, within the limits: what a feed sends most) is read here, without the per-message
    result of the general path; any other message, or one this reading fails on, is read by
    `decode_metric_message`, which accepts the same points and says what is wrong. So the batch
    holds what decoding each message alone gives (a unit test holds it to that)."""
    now = datetime.now(UTC)
    batch = DecodedBatch(messages=len(messages))
    if limits is None:
        largest, earliest, latest = sys.maxsize, EARLIEST, LATEST
    else:
        largest = limits.max_message_bytes
        earliest, latest = now - limits.max_age, now + limits.max_ahead
    loads, new_point = orjson.loads, MetricPoint._make
    # `add_point` inlined: the plain messages are nearly all of a batch
    points, owners, keys = batch.points.append, batch.owners.append, batch.keys.append
    values, epochs = batch.values.append, batch.epochs.append
    plain = 0
    for index, message in enumerate(messages):
        raw = message.value
        try:
            document = loads(raw) if raw is not None and len(raw) <= largest else None
            if type(document) is dict:
                fields = plain_document_fields(document)
                if fields is not None and earliest <= fields[3] <= latest:
                    point = new_point(fields)
                    key, epoch = point.series_key, point.timestamp.timestamp()
                    points(point)
                    owners(index)
                    keys(key)
                    values(point.value)
                    epochs(epoch)
                    plain += 1
                    continue
        except Exception:  # the general path reads it again and says what is wrong
            pass
        batch.add(index, decode_metric_message(raw, limits, now))
    batch.consumed += plain
    return batch


def series_keys(decoded: DecodedBatch) -> set[str]:
    """The keys of every series the decoded messages have a point of."""
    return set(decoded.keys)


def outlook_by_state(
    watch: CapacityWatch, point: MetricPoint, row: np.void, ts: datetime
) -> PredictionRef | None:
    """The outlook of `point`'s bounded series at `ts`, its `row` made a trend and seasonal
    profiles as `SeriesState` holds them (`CapacityWatch.assess_line`)."""
    from stream.engine import convert

    return watch.assess_line(
        point.asset_id,
        point.metric,
        convert.trend_of(row),
        lambda: convert.season_of(row),
        ts,
    )


def batch_outlooks(
    engine: Engine, watch: CapacityWatch, last: dict[str, MetricPoint]
) -> list[PredictionRef]:
    """The outlook of each bounded series among `last` (each series' last point of a batch),
    read from the series' rows by the compiled twin of `capacity.outlook` (to the bit; a
    `SeriesState` and its profiles made for every bounded series cost more than the rest of the
    worker's work on a point, README). A line rising towards its limit within the horizon is
    searched ahead by the Python outlook (`outlook_by_state`)."""
    from stream.engine import capacity

    bounded = []
    for key, point in last.items():
        rule = watch.rules.for_metric(point.metric)
        if rule is not None:
            bounded.append((engine.store.slot(key), point, rule.limit))
    if not bounded:
        return []
    n, horizon = len(bounded), watch.horizon_hours
    out = np.empty((n, capacity.OUTLOOK_COLUMNS))
    capacity.outlooks(
        engine.store.buffer,
        np.fromiter((slot for slot, _, _ in bounded), np.int64, n),
        np.fromiter((point.timestamp.timestamp() for _, point, _ in bounded), np.float64, n),
        np.fromiter((limit for _, _, limit in bounded), np.float64, n),
        horizon,
        horizon,
        out,
    )
    refs = []
    for (slot, point, limit), o in zip(bounded, out.tolist(), strict=True):
        if not o[capacity.HAS_LINE]:
            continue
        if o[capacity.SEARCH]:
            # in UTC, as the row's profiles were learnt (`engine.season.position`)
            ts = point.timestamp.astimezone(UTC)
            if (ref := outlook_by_state(watch, point, engine.store.buffer[slot], ts)) is not None:
                refs.append(ref)
            continue
        outlook = Outlook(
            limit=limit,
            level=o[capacity.LEVEL],
            slope_per_day=o[capacity.SLOPE_PER_DAY],
            hours_to_crossing=0.0 if o[capacity.CROSSING_NOW] else None,
            probability=o[capacity.PROBABILITY],
            horizon_hours=horizon,
        )
        refs.append(PredictionRef(point.asset_id, point.metric, point.timestamp, outlook))
    return refs


def process_batch(
    messages: Sequence[RawMessage],
    engine: Engine,
    decoded: DecodedBatch | None = None,
    *,
    model_version: str,
    trained: Mapping[str, str | None] | None = None,
    watch: CapacityWatch | None = None,
    security: SecurityWatch | None = None,
) -> BatchResult:
    """Decode (unless `decoded`, from `decode_batch`, is given), de-duplicate and score
    `messages` in order on the compiled `engine`, into the rows it holds of their series (a
    series it does not hold starts afresh: the caller restores the stored ones first).

    A point of a message its series' row already includes is a replay after a restart, skipped
    (`result.replayed`). A point whose timestamp is not after the last one of its series is
    dead-lettered as out of order: a series is scored in time order. A message whose every part
    fails is dead-lettered with all reasons; a message with some bad parts has its good points
    scored and is dead-lettered too, naming the bad parts. Each verdict names `model_version`,
    or the trained model its series started from (`trained`, by series key). With a `watch`,
    each bounded series scored gets its outlook after its last point (`result.outlooks`); with
    `security`, the security patterns in the batch (`result.security`).
    """
    # imported here: numba loads only in a process that scores (the API imports this module)
    from stream.engine import combine, convert

    if decoded is None:
        decoded = decode_batch(messages)
    if decoded.messages != len(messages):
        raise ValueError("decoded must be the decoding of these messages")
    trained = trained or {}
    result = BatchResult(consumed=decoded.consumed)
    reasons = {index: list(why) for index, why in decoded.errors.items()}
    points, keys = decoded.points, decoded.keys
    owners = np.array(decoded.owners, dtype=np.int64)
    scored = engine.score_batch(
        keys,
        np.array(decoded.values, dtype=np.float64),
        np.array(decoded.epochs, dtype=np.float64),
        [p.metric for p in points],
        partitions=np.array([m.partition for m in messages], dtype=np.int64)[owners],
        offsets=np.array([m.offset for m in messages], dtype=np.int64)[owners],
    )
    verdicts = scored.verdicts
    # NaN scores: the points refused or replayed
    took = verdicts[:, combine.SCORE] == verdicts[:, combine.SCORE]
    ok = np.flatnonzero(took).tolist()
    last: dict[str, MetricPoint] = {}
    for i in ok:
        last[keys[i]] = points[i]
    result.scored = ScoredPoints(
        [points[i] for i in ok],
        scored.take(ok).verdicts_of([trained.get(keys[i]) or model_version for i in ok]),
    )
    for i in np.flatnonzero(~took).tolist():
        if verdicts[i, combine.REPLAYED] > 0:
            result.replayed += 1
        else:
            why = out_of_order(points[i], int(verdicts[i, combine.REFUSED]))
            reasons.setdefault(decoded.owners[i], []).append(decoded.prefixes.get(i, "") + why)
    result.series = list(last)
    for index in sorted(reasons):
        result.dead_letters.append(DeadLetter(messages[index], "; ".join(reasons[index])))

    def row(key: str) -> np.void:
        return engine.store.buffer[engine.store.slot(key)]

    if watch is not None:
        result.outlooks = batch_outlooks(engine, watch, last)
    if security is not None:
        result.security = security.assess(
            result.scored, lambda key: convert.season_of(row(key)) if key in last else None
        )
    return result
