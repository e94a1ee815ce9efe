"""The wire contract: what a producer may send, and the reason it gets when it is wrong."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from stream.events import (
    DLQ_HEADER_REASON,
    DLQ_MAX_BYTES,
    InputLimits,
    MetricPoint,
    PointSchema,
    dead_letter_copy,
    dead_letter_headers,
    decode_metric_message,
    event_id_for,
    plain_fields,
    severity_for,
)

GOOD = {"asset_id": 1, "metric": "cpu_usage", "value": 42.5, "timestamp": "2026-01-21T10:30:00Z"}


def encode(obj) -> bytes:
    return json.dumps(obj).encode()


def test_one_object_becomes_one_point():
    decoded = decode_metric_message(encode(GOOD))
    assert decoded.errors == []
    (point,) = decoded.points
    assert (point.asset_id, point.metric, point.value) == (1, "cpu_usage", 42.5)
    assert point.timestamp == datetime(2026, 1, 21, 10, 30, tzinfo=UTC)


def test_epoch_milliseconds_and_iso_name_the_same_instant():
    millis = int(datetime(2026, 1, 21, 10, 30, tzinfo=UTC).timestamp() * 1000)
    by_millis = decode_metric_message(encode({**GOOD, "timestamp": millis})).points[0]
    assert by_millis.timestamp == decode_metric_message(encode(GOOD)).points[0].timestamp


def test_time_without_zone_is_utc_and_offsets_are_honoured():
    naive = decode_metric_message(encode({**GOOD, "timestamp": "2026-01-21T10:30:00"})).points[0]
    shifted = decode_metric_message(
        encode({**GOOD, "timestamp": "2026-01-21T12:30:00+02:00"})
    ).points[0]
    assert naive.timestamp == shifted.timestamp == datetime(2026, 1, 21, 10, 30, tzinfo=UTC)


def test_asset_id_as_digit_string_is_accepted():
    assert decode_metric_message(encode({**GOOD, "asset_id": "17"})).points[0].asset_id == 17


def test_one_object_decodes_as_the_same_object_alone_in_an_array():
    # a plainly valid object takes a shorter path than an array's elements: the same point,
    # named for later reasons without an element's number
    for raw in (GOOD, {**GOOD, "timestamp": 1_768_991_400_000, "asset_id": "17", "x": [1]}):
        alone, listed = decode_metric_message(encode(raw)), decode_metric_message(encode([raw]))
        assert alone.points == listed.points and len(alone.points) == 1
        assert (alone.errors, alone.prefixes) == ([], [""])
        assert (listed.errors, listed.prefixes) == ([], ["element 0: "])


def test_an_array_is_many_points():
    decoded = decode_metric_message(encode([GOOD, {**GOOD, "metric": "memory_usage"}]))
    assert [p.metric for p in decoded.points] == ["cpu_usage", "memory_usage"]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json at all", "not valid JSON"),
        (b"", "empty message"),
        (b"\xff\xfe", "not valid JSON"),
        (encode({k: v for k, v in GOOD.items() if k != "value"}), "value: Field required"),
        (encode({k: v for k, v in GOOD.items() if k != "timestamp"}), "timestamp: Field required"),
        (encode({**GOOD, "value": "high"}), "value must be a number"),
        (encode({**GOOD, "value": True}), "value must be a number"),
        (b'{"asset_id": 1, "metric": "cpu", "value": NaN, "timestamp": 0}', "NaN is not a valid"),
        (b'{"asset_id": 1, "metric": "cpu", "value": 1e999, "timestamp": 0}', "must be finite"),
        (encode({**GOOD, "asset_id": -3}), "asset_id must be a positive integer"),
        (encode({**GOOD, "asset_id": "server-1"}), "asset_id must be a positive integer"),
        (encode({**GOOD, "asset_id": 1.5}), "asset_id must be a positive integer"),
        (encode({**GOOD, "metric": ""}), "metric: String should match pattern"),
        (encode({**GOOD, "timestamp": "yesterday"}), "is not ISO 8601"),
        (encode({**GOOD, "timestamp": 1e20}), "out of range"),
        # hostile input that once escaped the decoder (issue #13)
        (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
        (
            b'{"asset_id": 1, "metric": "cpu", "value": 1' + b"0" * 400 + b', "timestamp": 0}',
            "at most 1e+15 in magnitude",
        ),
        (encode({**GOOD, "value": 1e155}), "at most 1e+15 in magnitude"),
        (encode({**GOOD, "value": -2e15}), "at most 1e+15 in magnitude"),
        (encode({**GOOD, "asset_id": 2**63}), "at most 9223372036854775807"),
        (encode({**GOOD, "asset_id": "9" * 5000}), "asset_id must be a positive integer"),
        (encode({**GOOD, "timestamp": "9999-12-15T00:00:00Z"}), "out of range"),
        (encode({**GOOD, "timestamp": "0001-01-01T00:30:00+01:00"}), "out of range"),
        (encode({**GOOD, "timestamp": "1850-01-01T00:00:00Z"}), "out of range"),
        (encode(42), "expected a JSON object"),
        (encode([]), "empty array"),
    ],
)
def test_invalid_messages_say_why(raw, reason):
    decoded = decode_metric_message(raw)
    assert decoded.points == []
    assert len(decoded.errors) >= 1
    assert reason in "; ".join(decoded.errors)


def test_a_bad_element_of_an_array_is_named_and_the_rest_kept():
    decoded = decode_metric_message(encode([GOOD, {**GOOD, "value": None}]))
    assert len(decoded.points) == 1
    assert decoded.errors == ["element 1: value: value must be a number, got NoneType"]


def test_event_id_is_stable_for_a_point():
    point = decode_metric_message(encode(GOOD)).points[0]
    again = decode_metric_message(encode({**GOOD, "value": 99})).points[0]
    assert event_id_for(point) == event_id_for(again) == "1:cpu_usage:1768991400000"


@pytest.mark.parametrize(
    ("score", "severity"), [(0.7, "info"), (0.85, "warning"), (0.95, "critical")]
)
def test_severity_rises_with_score(score, severity):
    assert severity_for(score) == severity


NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
LIMITS = InputLimits(
    max_message_bytes=2_000, max_age=timedelta(days=30), max_ahead=timedelta(hours=1)
)


def at(ts: datetime) -> bytes:
    return encode({**GOOD, "timestamp": ts.isoformat()})


def test_the_worker_refuses_points_dated_far_from_its_clock_and_keeps_the_rest():
    assert decode_metric_message(at(NOW + timedelta(minutes=59)), LIMITS, NOW).points
    assert decode_metric_message(at(NOW - timedelta(days=29)), LIMITS, NOW).points
    ahead = decode_metric_message(at(datetime(2029, 6, 15, tzinfo=UTC)), LIMITS, NOW)
    assert ahead.points == [] and "ahead of the worker's clock" in ahead.errors[0]
    old = decode_metric_message(at(NOW - timedelta(days=31)), LIMITS, NOW)
    assert old.points == [] and "more than 30 days old" in old.errors[0]
    mixed = encode([GOOD | {"timestamp": NOW.isoformat()}, GOOD | {"timestamp": "9000-01-01"}])
    decoded = decode_metric_message(mixed, InputLimits(), NOW)
    assert len(decoded.points) == 1 and decoded.errors[0].startswith("element 1: timestamp")


def test_the_worker_refuses_a_message_over_its_size_limit():
    big = encode([GOOD | {"timestamp": NOW.isoformat()}] * 30)
    assert len(big) > LIMITS.max_message_bytes
    decoded = decode_metric_message(big, LIMITS, NOW)
    assert decoded.points == []
    assert decoded.errors == [f"message of {len(big)} bytes exceeds MAX_MESSAGE_BYTES (2000)"]


def test_a_dead_letter_always_fits_the_producer_whatever_the_message_size():
    key, value, cut = dead_letter_copy(b"7", b"v" * 1_500_000)
    assert len(key) + len(value) == DLQ_MAX_BYTES and value == b"v" * (DLQ_MAX_BYTES - 1)
    assert cut == [("dlq.truncated_from", b"1500001")]
    small = dead_letter_copy(b"7", b"{}")
    assert small == (b"7", b"{}", [])
    reason = "; ".join(f"element {i}: value: Field required" for i in range(10_000))
    headers = dict(dead_letter_headers(reason, "t", 0, 1))
    assert len(headers[DLQ_HEADER_REASON]) <= 4_000
    assert headers[DLQ_HEADER_REASON].startswith(b"element 0: value: Field required")


# raw values as JSON or a CSV cell may give them: valid, invalid and borderline
RAW_ASSETS = [1, 7, "12", "007", 0, -1, True, 2**63 - 1, 2**63, 1.0, "x", "", None, "1" * 21]
RAW_METRICS = ["cpu_usage", "disk.io:r-w", "9cpu", "", "a" * 64, "a" * 65, "cpu usage", 5, None]
RAW_VALUES = [42.5, 3, -0.0, 1e15, 1e16, -1e15, 10**400, float("nan"), float("inf"), "5", True]
RAW_TIMES = [
    "2026-01-01T00:00:00Z",
    "2026-01-01T00:00:00",
    "2026-01-01T02:00:00+02:00",
    "2026-01-01",
    "20260101",
    1767225600000,
    1767225600000.5,
    -5,
    10**17,
    "0001-01-01T00:30:00+01:00",
    "9500-01-01T00:00:00Z",
    "nope",
    True,
    None,
]


@pytest.mark.parametrize("metric", RAW_METRICS)
def test_plain_fields_accepts_what_the_schema_accepts_with_the_same_fields(metric):
    for asset_id in RAW_ASSETS:
        for value in RAW_VALUES:
            for timestamp in RAW_TIMES:
                raw = {"asset_id": asset_id, "metric": metric, "value": value}
                fields = plain_fields(asset_id, metric, value, timestamp)
                try:
                    point = PointSchema.model_validate({**raw, "timestamp": timestamp})
                except ValidationError:
                    assert fields is None, (raw, timestamp)
                    continue
                assert fields == (point.asset_id, point.metric, point.value, point.timestamp)
                assert type(fields[0]) is int and type(fields[2]) is float


def test_a_point_parsed_from_raw_fields_has_the_schemas_fields_or_names_each_bad_one():
    point = MetricPoint.parse({**GOOD, "asset_id": "12", "value": 3, "extra": "ignored"})
    assert point == MetricPoint(12, "cpu_usage", 3.0, datetime(2026, 1, 21, 10, 30, tzinfo=UTC))
    assert type(point.value) is float and point.series_key == "12/cpu_usage"
    with pytest.raises(ValidationError) as refused:
        MetricPoint.parse({**GOOD, "value": "high", "timestamp": "yesterday"})
    assert {e["loc"][0] for e in refused.value.errors()} == {"value", "timestamp"}


def test_a_timestamp_seen_before_is_judged_by_its_own_type_not_by_an_equal_value():
    # the recurring instants are cached: True == 1 and 1.0 == 1 must not find 1's entry
    first = decode_metric_message(encode({**GOOD, "timestamp": 1}))
    assert first.points[0].timestamp == datetime(1970, 1, 1, 0, 0, 0, 1000, tzinfo=UTC)
    refused = decode_metric_message(encode({**GOOD, "timestamp": True}))
    assert not refused.points and "timestamp" in refused.errors[0]
    again = decode_metric_message(encode({**GOOD, "timestamp": 1.0}))
    assert again.points[0].timestamp == first.points[0].timestamp
