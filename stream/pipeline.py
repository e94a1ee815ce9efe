"""Turns a batch of raw Kafka messages into scored points, anomalies and dead letters.

This is everything the agent does except I/O, so it can be tested without a broker: the agent
decodes the batch, loads the states of its series, calls `process_batch`, then makes the scores
and the new states durable together.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from stream.events import DecodedMessage, InputLimits, MetricPoint, decode_metric_message
from stream.features import SeriesState
from stream.predictions import CapacityWatch, PredictionRef
from stream.scoring import PointScore, Scorer
from stream.security import SecurityRef, SecurityWatch

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One consumed Kafka message, as the agent hands it over."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class ScoredPoint:
    point: MetricPoint
    verdict: PointScore


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message (or part of one) that cannot be scored, and why."""

    message: RawMessage
    reason: str


@dataclass
class BatchResult:
    scored: list[ScoredPoint] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    #: States of the series this batch changed, by series key, with their messages' partition.
    states: dict[str, tuple[int, SeriesState]] = field(default_factory=dict)
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
        return [s for s in self.scored if s.verdict.is_anomaly]


def _millis(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def out_of_order(point: MetricPoint, last_ms: int) -> str:
    """Why `point` is refused: it is not after its series' last point, at `last_ms`."""
    return (
        f"out of order: {point.series_key} at {point.timestamp.isoformat()} is not after the "
        f"series' last point ({last_ms} ms)"
    )


def apply_point(state: SeriesState, point: MetricPoint, scorer: Scorer) -> PointScore | str:
    """Score `point` into its series' state: the worker's step (`ems-ml replay`, detect and train
    take the same steps on the compiled engine, `stream.engine`).

    Returns the verdict, or the reason the point cannot be scored: a series is scored in time
    order, so a point not after the series' last one is refused as out of order.
    """
    ts_ms = _millis(point.timestamp)
    if state.last_ts_ms is not None and ts_ms <= state.last_ts_ms:
        return out_of_order(point, state.last_ts_ms)
    verdict = scorer.score_and_learn(state, point.value, point.timestamp, point.metric)
    state.last_ts_ms = ts_ms
    return verdict


def decode_batch(
    messages: Sequence[RawMessage], limits: InputLimits | None = None
) -> list[DecodedMessage]:
    """Each message's points and errors, in order, within `limits` (the worker's) where given;
    never raises on bad input."""
    now = datetime.now(UTC)
    return [decode_metric_message(m.value, limits, now) for m in messages]


def series_keys(decoded: Sequence[DecodedMessage]) -> set[str]:
    """The keys of every series the decoded messages have a point of."""
    return {p.series_key for d in decoded for p in d.points}


def process_batch(
    messages: Sequence[RawMessage],
    load_state: Callable[[str], SeriesState],
    scorer: Scorer,
    decoded: Sequence[DecodedMessage] | None = None,
    watch: CapacityWatch | None = None,
    security: SecurityWatch | None = None,
) -> BatchResult:
    """Decode (unless `decoded`, from `decode_batch`, is given), de-duplicate and score
    `messages` in order, into the states `load_state` returns (once per series and batch).

    A point whose timestamp is not after the last one of its series is dead-lettered as out of
    order: a series is scored in time order. A message whose every part fails is dead-lettered with
    all reasons; a message with some bad parts has its good points scored and is dead-lettered too,
    naming the bad parts. With a `watch`, each bounded series scored gets its outlook after
    its last point (`result.outlooks`); with `security`, the security patterns in the batch
    (`result.security`).
    """
    if decoded is None:
        decoded = decode_batch(messages)
    result = BatchResult()
    loaded: dict[str, SeriesState] = {}
    for message, parts in zip(messages, decoded, strict=True):
        result.consumed += max(1, len(parts.points) + len(parts.errors))
        reasons = list(parts.errors)
        touched: list[SeriesState] = []
        for point, prefix in zip(parts.points, parts.prefixes, strict=True):
            key = point.series_key
            state = loaded.get(key)
            if state is None:
                state = loaded[key] = load_state(key)
            if state.already_applied(message.partition, message.offset):
                result.replayed += 1
                continue
            try:
                verdict = apply_point(state, point, scorer)
            except Exception as e:  # a bug must cost this point, not the partition
                log.exception("scoring %s failed", key)
                verdict = f"internal error: scoring failed with {e!r}"
            if isinstance(verdict, str):
                reasons.append(prefix + verdict)
                continue
            touched.append(state)
            result.states[key] = (message.partition, state)
            result.scored.append(ScoredPoint(point, verdict))
        # The offset is recorded once the whole message is applied, so two points of one series in
        # one message are not mistaken for a replay of each other.
        for state in touched:
            state.partition, state.offset = message.partition, message.offset
        if reasons:
            result.dead_letters.append(DeadLetter(message, "; ".join(reasons)))
    if watch is not None:
        last = {s.point.series_key: s.point for s in result.scored}
        for key, point in last.items():
            ref = watch.assess(point.asset_id, point.metric, result.states[key][1], point.timestamp)
            if ref is not None:
                result.outlooks.append(ref)
    if security is not None:
        result.security = security.assess(result.scored, result.states)
    return result
