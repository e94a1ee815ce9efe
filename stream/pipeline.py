"""Turns a batch of raw Kafka messages into scored points, anomalies and dead letters.

This is everything the agent does except I/O, so it can be tested without a broker: the agent reads
the series states, calls `process_batch`, makes the results durable, then stores the new states.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from stream.events import MetricPoint, decode_metric_message
from stream.features import SeriesState
from stream.scoring import PointScore, Scorer

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

    @property
    def anomalies(self) -> list[ScoredPoint]:
        return [s for s in self.scored if s.verdict.is_anomaly]


def _millis(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def apply_point(state: SeriesState, point: MetricPoint, scorer: Scorer) -> PointScore | str:
    """Score `point` into its series' state: the one step the worker and `ems-ml replay` share.

    Returns the verdict, or the reason the point cannot be scored: a series is scored in time
    order, so a point not after the series' last one is refused as out of order.
    """
    ts_ms = _millis(point.timestamp)
    if state.last_ts_ms is not None and ts_ms <= state.last_ts_ms:
        return (
            f"out of order: {point.series_key} at {point.timestamp.isoformat()} is not after the "
            f"series' last point ({state.last_ts_ms} ms)"
        )
    verdict = scorer.score_and_learn(state, point.value, point.timestamp, point.metric)
    state.last_ts_ms = ts_ms
    return verdict


def process_batch(
    messages: Sequence[RawMessage],
    load_state: Callable[[str], SeriesState],
    scorer: Scorer,
) -> BatchResult:
    """Decode, de-duplicate and score `messages` in order; states are copies, not written back.

    A point whose timestamp is not after the last one of its series is dead-lettered as out of
    order: a series is scored in time order. A message whose every part fails is dead-lettered with
    all reasons; a message with some bad parts has its good points scored and is dead-lettered too,
    naming the bad parts.
    """
    result = BatchResult()
    loaded: dict[str, SeriesState] = {}
    for message in messages:
        decoded = decode_metric_message(message.value)
        result.consumed += max(1, len(decoded.points) + len(decoded.errors))
        reasons = list(decoded.errors)
        touched: list[SeriesState] = []
        for point in decoded.points:
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
                reasons.append(verdict)
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
    return result
