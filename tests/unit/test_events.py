"""The wire contract: what a producer may send, and the reason it gets when it is wrong."""

import json
from datetime import UTC, datetime

import pytest

from stream.events import decode_metric_message, event_id_for, severity_for

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
