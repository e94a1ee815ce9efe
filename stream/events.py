"""The wire contract: metric events in, anomaly events out, dead letters aside.

A metric message on the input topic is JSON, one object or an array of objects::

    {"asset_id": 1, "metric": "cpu_usage", "value": 42.5, "timestamp": "2026-01-21T10:30:00Z"}

`timestamp` is ISO 8601 (a time without zone is taken as UTC) or epoch milliseconds.

>>> decode_metric_message(b'{"asset_id": 7, "metric": "cpu_usage", "value": 1, "timestamp": 0}')
DecodedMessage(points=[MetricPoint(asset_id=7, metric='cpu_usage', value=1.0, \
timestamp=datetime.datetime(1970, 1, 1, 0, 0, tzinfo=datetime.timezone.utc))], errors=[], \
prefixes=[''])
>>> decode_metric_message(b'not json').errors
['not valid JSON: Expecting value at line 1 column 1']
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, NamedTuple

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    ValidationError,
    field_validator,
)

# A metric name is an identifier EMS can show and index: letters, digits and `_ . : -`.
METRIC_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_.:\-]{0,63}$"
# Largest batch one message may carry; a larger one is set aside rather than scored in part.
MAX_POINTS_PER_MESSAGE = 10_000
# The largest asset id PostgreSQL's bigint (EMS's id column) holds.
MAX_ASSET_ID = 2**63 - 1
# The largest magnitude of a value: far beyond any gauge or rate EMS collects (a petabyte, a
# quadrillion requests), and small enough that the detectors' squares and sums stay far from
# float overflow (1e308) however long the series.
MAX_ABS_VALUE = 1e15
# Timestamps outside these years are refused whatever the worker's window (`InputLimits`):
# monthly partitions and time arithmetic near datetime's limits (years 1 and 9999) overflow.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class InputLimits:
    """What the worker accepts beyond the wire schema: the size of a message, and how far from
    the worker's clock a point may lie (a point dated far ahead would make every later real
    point of its series out of order)."""

    max_message_bytes: int = 900_000
    max_age: timedelta = timedelta(days=3650)
    max_ahead: timedelta = timedelta(hours=1)

    def check_time(self, ts: datetime, now: datetime) -> str | None:
        """Why `ts` is refused at `now`, or None."""
        if ts > now + self.max_ahead:
            return (
                f"timestamp: {ts.isoformat()} is more than {self.max_ahead} ahead of the "
                f"worker's clock ({now.isoformat(timespec='seconds')})"
            )
        if ts < now - self.max_age:
            return f"timestamp: {ts.isoformat()} is more than {self.max_age.days} days old"
        return None


Severity = Literal["info", "warning", "critical"]


def _parse_asset_id(raw: Any) -> int:
    """Asset ids are EMS's positive integer ids; a string of digits is accepted too."""
    if type(raw) is int and 0 < raw <= MAX_ASSET_ID:  # the common case, first
        return raw
    if isinstance(raw, bool):
        raise ValueError("asset_id must be a positive integer, not a boolean")
    if isinstance(raw, str) and raw.isdigit() and len(raw) <= 20:
        raw = int(raw)
    if not isinstance(raw, int) or raw <= 0:
        raise ValueError(f"asset_id must be a positive integer, got {raw!r:.40}")
    if raw > MAX_ASSET_ID:
        raise ValueError(f"asset_id must be at most {MAX_ASSET_ID} (2^63 - 1)")
    return raw


def _parse_timestamp(raw: Any) -> datetime:
    """ISO 8601 text, or epoch milliseconds as a number (or a datetime, from the database);
    always returned timezone-aware, a time without zone taken as UTC."""
    return _in_range(_parse_instant(raw))


def _in_range(ts: datetime) -> datetime:
    """`ts` in UTC, if it lies between `EARLIEST` and `LATEST`."""
    try:
        utc = ts.astimezone(UTC)
    except OverflowError as e:  # e.g. 0001-01-01T00:30:00+01:00: before year 1 in UTC
        raise ValueError(f"timestamp {ts.isoformat()} is out of range") from e
    if not EARLIEST <= utc < LATEST:
        raise ValueError(
            f"timestamp {ts.isoformat()} is out of range "
            f"({EARLIEST.year} to {LATEST.year - 1} are accepted)"
        )
    return utc


def _parse_instant(raw: Any) -> datetime:
    if isinstance(raw, datetime):
        return raw if raw.tzinfo else raw.replace(tzinfo=UTC)
    if isinstance(raw, bool):
        raise ValueError("timestamp must be ISO 8601 text or epoch milliseconds")
    if isinstance(raw, int | float):
        if not math.isfinite(raw):
            raise ValueError("timestamp must be finite")
        try:
            return datetime.fromtimestamp(raw / 1000.0, tz=UTC)
        except (OverflowError, OSError, ValueError) as e:
            raise ValueError(f"timestamp {raw!r} ms is out of range") from e
    if isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError as e:
            raise ValueError(f"timestamp {raw!r} is not ISO 8601") from e
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValueError("timestamp must be ISO 8601 text or epoch milliseconds")


def _parse_value(raw: Any) -> float:
    if type(raw) is float and -MAX_ABS_VALUE <= raw <= MAX_ABS_VALUE:  # NaN compares false
        return raw
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ValueError(f"value must be a number, got {type(raw).__name__}")
    try:
        value = float(raw)
    except OverflowError:  # an integer beyond float range
        value = math.inf
    if not math.isfinite(value):
        if isinstance(raw, int):
            raise ValueError(f"value must be at most {MAX_ABS_VALUE:g} in magnitude")
        raise ValueError("value must be finite (NaN and infinity are not metrics)")
    if abs(value) > MAX_ABS_VALUE:
        raise ValueError(f"value must be at most {MAX_ABS_VALUE:g} in magnitude, got {value:g}")
    return value


class PointSchema(BaseModel):
    """The wire schema of a point, as pydantic states it: what `MetricPoint.parse` falls back to
    for a point that is not plainly valid, to accept the values it converts or say why not."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    asset_id: Annotated[int, BeforeValidator(_parse_asset_id)]
    metric: str = Field(pattern=METRIC_NAME_PATTERN)
    value: Annotated[float, BeforeValidator(_parse_value)]
    timestamp: Annotated[datetime, BeforeValidator(_parse_timestamp)]


class MetricPoint(NamedTuple):
    """One value of one metric of one asset at one time, its fields as the wire schema makes
    them (an int id, a metric name, a finite float, a UTC datetime). Built from raw input by
    `parse` only: the constructor checks nothing. A named tuple, as the worker builds one a
    point: a pydantic object or a frozen dataclass takes several times as long to build."""

    asset_id: int
    metric: str
    value: float
    timestamp: datetime

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> MetricPoint:
        """The point `raw` (a decoded JSON object; other keys are ignored) states, by the wire
        schema; raises pydantic's `ValidationError`, naming each bad field, when it is not one."""
        fields = plain_document_fields(raw)
        if fields is None:
            checked = PointSchema.model_validate(raw)
            fields = (checked.asset_id, checked.metric, checked.value, checked.timestamp)
        return cls(*fields)

    @property
    def series_key(self) -> str:
        """The key of this point's series in the state store (`series_key`)."""
        return series_key(self.asset_id, self.metric)


def series_key(asset_id: int, metric: str) -> str:
    """The key of a series in the state store, in the engine and in a model: `asset_id/metric`."""
    return f"{asset_id}/{metric}"


_METRIC_NAME = re.compile(METRIC_NAME_PATTERN.removeprefix("^").removesuffix("$"))


# A feed repeats its metric names and, within a batch, its instants (one a tick for every
# series): each is checked once while it recurs. Bounded, so that hostile input only evicts;
# a refused value raises, and is never kept.
@functools.lru_cache(maxsize=8192)
def _is_metric_name(text: str) -> bool:
    return _METRIC_NAME.fullmatch(text) is not None


@functools.lru_cache(maxsize=8192, typed=True)
def _recurring_timestamp(raw: str | int) -> datetime:
    return _parse_timestamp(raw)


def plain_fields(
    asset_id: Any, metric: Any, value: Any, timestamp: Any
) -> tuple[int, str, float, datetime] | None:
    """The fields the wire schema makes of these raw values when it accepts them, checked by
    its rules at a fraction of pydantic's cost; None when they are not plainly valid, for the
    schema to say why (or, for a value it converts that this does not try, to accept it)."""
    if type(metric) is not str or not _is_metric_name(metric):
        return None
    try:
        return (
            _parse_asset_id(asset_id),
            metric,
            _parse_value(value),
            # exact types only: True == 1 and 1.0 == 1 would find 1's entry
            _recurring_timestamp(timestamp)
            if type(timestamp) is str or type(timestamp) is int
            else _parse_timestamp(timestamp),
        )
    except (ValueError, TypeError, OverflowError):
        return None


def plain_document_fields(document: Mapping[str, Any]) -> tuple[int, str, float, datetime] | None:
    """`plain_fields` of a decoded JSON object's point (other keys are ignored)."""
    return plain_fields(
        document.get("asset_id"),
        document.get("metric"),
        document.get("value"),
        document.get("timestamp"),
    )


@dataclass
class DecodedMessage:
    """What one Kafka message held: the valid points, and a reason for each invalid part."""

    points: list[MetricPoint] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: how a later reason about each point names it: "element 3: " in an array, "" alone
    prefixes: list[str] = field(default_factory=list)


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "message"
        # pydantic prefixes our own ValueError text with "Value error, "; it adds nothing.
        parts.append(f"{where}: {item['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def decode_metric_message(
    raw: bytes | None, limits: InputLimits | None = None, now: datetime | None = None
) -> DecodedMessage:
    """Parse one message value into points; never raises on bad input. With `limits` (the
    worker's), a message larger than their size and points dated outside their window around
    `now` (default: the clock) are refused too."""
    try:
        return _decode(raw, limits, now)
    except Exception as e:  # whatever the input makes the parser do, it is the message's fault
        return DecodedMessage(errors=[f"undecodable: {type(e).__name__}: {str(e):.200}"])


def _decode(raw: bytes | None, limits: InputLimits | None, now: datetime | None) -> DecodedMessage:
    if raw is None or not raw.strip():
        return DecodedMessage(errors=["empty message"])
    if limits is not None and len(raw) > limits.max_message_bytes:
        return DecodedMessage(
            errors=[
                f"message of {len(raw)} bytes exceeds MAX_MESSAGE_BYTES "
                f"({limits.max_message_bytes})"
            ]
        )
    try:
        # orjson (C) reads what a producer sends, UTF-8 JSON, five times faster; what it refuses
        # (another encoding, NaN, deep nesting, huge integers, bad JSON) is read again the slow
        # way, which accepts what it accepted before and says where the JSON is wrong
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        document = _NOT_READ
    try:
        if document is _NOT_READ:
            # what json.loads does with bytes, without building a decoder for every message
            text = (
                raw.decode(json.detect_encoding(raw), "surrogatepass")
                if isinstance(raw, bytes)
                else raw
            )
            document = _JSON.decode(text)
    except RecursionError:
        return DecodedMessage(errors=["not valid JSON: nested too deeply"])
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as e:
        reason = e.msg if isinstance(e, json.JSONDecodeError) else str(e)
        where = (
            f" at line {e.lineno} column {e.colno}" if isinstance(e, json.JSONDecodeError) else ""
        )
        return DecodedMessage(errors=[f"not valid JSON: {reason}{where}"])
    if type(document) is dict:
        # one plainly valid point, the message a feed sends most: its fields checked at once,
        # without the general path's per-element bookkeeping (which gives it the same result,
        # in a third more time); anything else takes the general path, which names what is wrong
        fields = plain_document_fields(document)
        if fields is not None and (
            limits is None or limits.check_time(fields[3], now or datetime.now(UTC)) is None
        ):
            return DecodedMessage([MetricPoint(*fields)], [], [""])
    result = DecodedMessage()
    items = document if isinstance(document, list) else [document]
    if not items:
        result.errors.append("empty array")
    if len(items) > MAX_POINTS_PER_MESSAGE:
        result.errors.append(f"array of {len(items)} points exceeds {MAX_POINTS_PER_MESSAGE}")
        return result
    many = isinstance(document, list)
    for index, item in enumerate(items):
        prefix = f"element {index}: " if many else ""
        if not isinstance(item, dict):
            result.errors.append(f"{prefix}expected a JSON object, got {type(item).__name__}")
            continue
        try:
            point = MetricPoint.parse(item)
        except ValidationError as e:
            result.errors.append(prefix + _describe(e))
            continue
        if limits is not None:
            refused = limits.check_time(point.timestamp, now or datetime.now(UTC))
            if refused:
                result.errors.append(prefix + refused)
                continue
        result.points.append(point)
        result.prefixes.append(prefix)
    return result


_NOT_READ = object()


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a valid metric value")


# parse_constant turns NaN/Infinity literals (which json accepts) into a clear error.
_JSON = json.JSONDecoder(parse_constant=_reject_constant)


class AnomalyEvent(BaseModel):
    """One anomalous point, as published on the anomalies topic (key: asset id)."""

    event_id: str = Field(description="Stable id: the same point always gets the same id")
    type: Literal["anomaly"] = "anomaly"
    asset_id: StrictInt
    metric: str
    timestamp: datetime
    value: StrictFloat
    score: float
    threshold: float
    severity: Severity
    detector_scores: dict[str, float]
    driver: str = Field(description='What drove the score: "<detector>:<feature>"')
    model_version: str
    expected: float | None = Field(
        default=None, description="What the series was expected to be at this point"
    )
    lower: float | None = Field(
        default=None, description="Lowest value that would have scored under the threshold"
    )
    upper: float | None = Field(
        default=None, description="Highest value that would have scored under the threshold"
    )
    direction: Literal["above", "below"] | None = Field(
        default=None, description="Whether the value lies above or below the expected value"
    )

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


def severity_for(score: float) -> Severity:
    """A point's severity from its score (incidents in #5 also weigh duration): info from the
    threshold, warning from 0.8 (about a 5.2-sigma deviation), critical from 0.9 (about 7.4)."""
    if score >= 0.9:
        return "critical"
    if score >= 0.8:
        return "warning"
    return "info"


def event_id_for(point: MetricPoint) -> str:
    """The same point gives the same id, so consumers can drop replays after a worker restart."""
    millis = int(point.timestamp.timestamp() * 1000)
    return f"{point.asset_id}:{point.metric}:{millis}"


# Headers of a dead-lettered message; its key and value are the original bytes, untouched.
DLQ_HEADER_REASON = "dlq.reason"
DLQ_HEADER_TOPIC = "dlq.source.topic"
DLQ_HEADER_PARTITION = "dlq.source.partition"
DLQ_HEADER_OFFSET = "dlq.source.offset"
DLQ_HEADER_FAILED_AT = "dlq.failed_at"


DLQ_HEADER_TRUNCATED = "dlq.truncated_from"
#: the most bytes of the original key and value a dead letter carries: with its headers it stays
#: under the producer's request limit (1,000,000 bytes), so a message the broker took can always
#: be dead-lettered
DLQ_MAX_BYTES = 900_000
#: the longest reason header (a message with thousands of bad elements names them all otherwise)
DLQ_MAX_REASON_BYTES = 4_000


def dead_letter_headers(reason: str, topic: str, partition: int, offset: int) -> list:
    """Kafka headers that say why a message was set aside and where it came from."""
    encoded = reason.encode()
    if len(encoded) > DLQ_MAX_REASON_BYTES:
        encoded = (
            encoded[: DLQ_MAX_REASON_BYTES - 20].decode(errors="ignore").encode() + b" ... (cut)"
        )
    return [
        (DLQ_HEADER_REASON, encoded),
        (DLQ_HEADER_TOPIC, topic.encode()),
        (DLQ_HEADER_PARTITION, str(partition).encode()),
        (DLQ_HEADER_OFFSET, str(offset).encode()),
        (DLQ_HEADER_FAILED_AT, datetime.now(UTC).isoformat().encode()),
    ]


def dead_letter_copy(
    key: bytes | None, value: bytes | None
) -> tuple[bytes | None, bytes | None, list]:
    """The key and value a dead letter carries, and the headers that say so when they had to be
    cut: the original bytes untouched, unless together they pass `DLQ_MAX_BYTES`, in which case
    they are cut to it (key first kept, up to 1 KiB) and `dlq.truncated_from` gives the original
    size.

    >>> dead_letter_copy(b"7", b"x" * 10)
    (b'7', b'xxxxxxxxxx', [])
    >>> key, value, headers = dead_letter_copy(b"7", b"x" * 2_000_000)
    >>> len(value), headers
    (899999, [('dlq.truncated_from', b'2000001')])
    """
    size = len(key or b"") + len(value or b"")
    if size <= DLQ_MAX_BYTES:
        return key, value, []
    key = None if key is None else key[:1024]
    room = DLQ_MAX_BYTES - len(key or b"")
    value = None if value is None else value[:room]
    return key, value, [(DLQ_HEADER_TRUNCATED, str(size).encode())]
