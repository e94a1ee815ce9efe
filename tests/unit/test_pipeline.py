"""Batch processing without a broker: replays, ordering, dead letters, warm-up, on the engine."""

import json
import time

import pytest

from stream.config import Settings
from stream.engine import stored
from stream.engine.core import Engine
from stream.ensemble import build_engine, build_scorer
from stream.events import InputLimits, decode_metric_message
from stream.features import SeriesState
from stream.pipeline import RawMessage, apply_point, decode_batch, process_batch


def engine(warmup=5):
    return Engine(threshold=0.7, window_size=5, warmup_points=warmup)


def msg(offset, value, ts, *, partition=0, asset=1, metric="cpu_usage"):
    body = {"asset_id": asset, "metric": metric, "value": value, "timestamp": ts}
    return RawMessage("ems.metrics", partition, offset, b"1", json.dumps(body).encode())


def process(messages, scoring):
    return process_batch(messages, scoring, model_version="t")


class Store(dict):
    """Rows as the worker stores them: restored into a fresh engine, as after a restart."""

    def save(self, result, scoring):
        for key in result.series:
            self[key] = stored.payload(scoring, key, None)

    def engine(self, warmup=5):
        fresh = engine(warmup)
        for key, payload in self.items():
            stored.restore(fresh, key, payload)
        return fresh


def test_every_valid_point_is_scored_and_a_spike_is_an_anomaly():
    values = [10.0, 10.5, 9.5, 10.2, 9.8] * 4 + [60.0]
    messages = [msg(i, v, 1000 * (i + 1)) for i, v in enumerate(values)]
    result = process(messages, engine())
    assert len(result.scored) == len(values)
    assert [s.point.value for s in result.anomalies] == [60.0]
    assert result.dead_letters == []
    assert {s.verdict.model_version for s in result.scored} == {"t"}


def test_no_anomaly_during_warm_up():
    messages = [msg(0, 10.0, 1000), msg(1, 10.1, 2000), msg(2, 500.0, 3000)]
    result = process(messages, engine(warmup=10))
    assert result.scored[-1].verdict.score > 0.9
    assert result.anomalies == []


def test_a_replayed_batch_is_skipped_once_its_rows_are_stored():
    store = Store()
    messages = [msg(i, 10.0 + i % 3, 1000 * (i + 1)) for i in range(10)]
    first_engine = engine()
    store.save(process(messages, first_engine), first_engine)
    again = process(messages + [msg(10, 11.0, 11_000)], store.engine())
    assert again.replayed == 10
    assert [s.point.value for s in again.scored] == [11.0]


def test_a_batch_replayed_before_its_rows_were_stored_scores_the_same():
    messages = [msg(i, 10.0 + (i * 7) % 5, 1000 * (i + 1)) for i in range(30)]
    first = process(messages, engine())
    second = process(messages, engine())
    assert [s.verdict for s in first.scored] == [s.verdict for s in second.scored]


def test_a_restored_row_scores_on_as_the_row_it_was_stored_from():
    messages = [msg(i, 10.0 + (i * 7) % 5, 1000 * (i + 1)) for i in range(40)]
    whole = process(messages, engine())
    store, first_half = Store(), engine()
    store.save(process(messages[:20], first_half), first_half)
    rest = process(messages, store.engine())
    assert rest.replayed == 20
    assert [s.verdict for s in rest.scored] == [s.verdict for s in whole.scored[20:]]


def test_out_of_order_points_are_dead_lettered_not_scored():
    messages = [msg(0, 1.0, 5000), msg(1, 2.0, 4000), msg(2, 3.0, 5000), msg(3, 4.0, 6000)]
    result = process(messages, engine())
    assert [s.point.value for s in result.scored] == [1.0, 4.0]
    assert [d.message.offset for d in result.dead_letters] == [1, 2]
    assert all(d.reason.startswith("out of order") for d in result.dead_letters)
    assert "(5000 ms)" in result.dead_letters[0].reason  # the series' last point


def test_an_out_of_order_element_of_an_array_is_named_by_its_index():
    body = [
        {"asset_id": 1, "metric": "m", "value": 1.0, "timestamp": 2000},
        {"asset_id": 1, "metric": "m", "value": 2.0, "timestamp": 1000},
        {"asset_id": 1, "metric": "m", "value": 3.0, "timestamp": 3000},
    ]
    message = RawMessage("t", 0, 7, None, json.dumps(body).encode())
    result = process([message], engine())
    assert [s.point.value for s in result.scored] == [1.0, 3.0]
    (letter,) = result.dead_letters
    assert letter.reason.startswith("element 1: out of order")


def test_series_are_independent_and_rows_name_their_message():
    messages = [
        msg(0, 1.0, 1000, partition=0, asset=1),
        msg(0, 1.0, 1000, partition=1, asset=2),
        msg(1, 2.0, 2000, partition=1, asset=2),
    ]
    scoring = engine()
    result = process(messages, scoring)
    assert sorted(result.series) == ["1/cpu_usage", "2/cpu_usage"]
    rows = {k: scoring.store.buffer[scoring.store.slot(k)] for k in result.series}
    held = {k: (int(r["partition"]), int(r["offset"]), int(r["count"])) for k, r in rows.items()}
    assert held == {
        "1/cpu_usage": (0, 0, 1),
        "2/cpu_usage": (1, 1, 2),
    }


def test_two_points_of_one_series_in_one_message_are_both_scored():
    body = [
        {"asset_id": 1, "metric": "m", "value": 1.0, "timestamp": 1000},
        {"asset_id": 1, "metric": "m", "value": 2.0, "timestamp": 2000},
    ]
    message = RawMessage("t", 0, 7, None, json.dumps(body).encode())
    scoring = engine()
    result = process([message], scoring)
    assert len(result.scored) == 2 and result.replayed == 0
    assert scoring.dump("1/m").offset == 7


def test_invalid_and_valid_messages_interleave():
    messages = [msg(0, 1.0, 1000), RawMessage("t", 0, 1, None, b"{oops"), msg(2, 2.0, 2000)]
    result = process(messages, engine())
    assert len(result.scored) == 2
    (letter,) = result.dead_letters
    assert letter.message.offset == 1 and letter.reason.startswith("not valid JSON")
    assert result.consumed == 3


def test_a_batch_decodes_as_its_messages_do_one_by_one():
    now_ms = int(time.time() * 1000)
    good = {"asset_id": 3, "metric": "cpu_usage", "value": 1.5, "timestamp": now_ms}
    bodies = [
        good,
        {**good, "timestamp": "2026-01-21T10:30:00"},  # valid, no zone: UTC
        {**good, "asset_id": "17"},  # valid by the schema's conversion, not plainly
        {**good, "value": 2},  # an integer value
        {**good, "timestamp": now_ms + 2 * 3600_000},  # ahead of the clock
        {**good, "timestamp": 0},  # older than the limits allow
        {**good, "value": None},
        {**good, "metric": "not a name"},
        {**good, "asset_id": True},
        {**good, "value": 1e300},
        [good, {**good, "value": "x"}, {**good, "timestamp": now_ms - 1}],
        [],
        "text",
        {"asset_id": 3},
    ]
    raws = [json.dumps(b).encode() for b in bodies]
    raws += [
        None,
        b"",
        b"   ",
        b"{oops",
        b'{"asset_id": 3, "metric": "cpu_usage", "value": NaN, "timestamp": 0}',
        json.dumps(good).encode("utf-16"),
        b"[" * 100_000,
        b'{"asset_id": 3, "metric": "m", "value": 1, "timestamp": 1, "pad": "%s"}' % (b"x" * 2000),
    ]
    messages = [RawMessage("t", 0, i, None, raw) for i, raw in enumerate(raws)]
    limits = InputLimits(max_message_bytes=1000)
    for limit in (limits, None):
        batch = decode_batch(messages, limit)
        alone = [decode_metric_message(m.value, limit) for m in messages]
        assert batch.messages == len(messages)
        assert batch.points == [p for d in alone for p in d.points]
        assert batch.owners == [i for i, d in enumerate(alone) for _ in d.points]
        assert batch.keys == [p.series_key for p in batch.points]
        assert batch.values == [p.value for p in batch.points]
        assert batch.epochs == [p.timestamp.timestamp() for p in batch.points]
        prefixes = [f for d in alone for f in d.prefixes]
        assert [batch.prefixes.get(i, "") for i in range(len(prefixes))] == prefixes
        assert batch.errors == {i: d.errors for i, d in enumerate(alone) if d.errors}
        assert batch.consumed == sum(max(1, len(d.points) + len(d.errors)) for d in alone)
    # the limits refuse what they should: the one ahead, the one too old, the large one
    refused = decode_batch(messages, limits).errors
    assert "ahead of the worker's clock" in refused[4][0] and "days old" in refused[5][0]
    assert "exceeds MAX_MESSAGE_BYTES" in refused[len(raws) - 1][0]
    assert 4 not in decode_batch(messages, None).errors


def python_batch(messages, scorer, states):
    """What the Python scorer says of `messages`, step for step as the worker takes them."""
    out = []
    for m in messages:
        touched = []
        for point in decode_metric_message(m.value).points:
            state = states.setdefault(point.series_key, SeriesState())
            if state.already_applied(m.partition, m.offset):
                out.append((point.value, "replayed"))
                continue
            verdict = apply_point(state, point, scorer)
            out.append((point.value, verdict if isinstance(verdict, str) else verdict.score))
            if not isinstance(verdict, str):
                touched.append(state)
        for state in touched:
            state.partition, state.offset = m.partition, m.offset
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_the_engine_batch_says_what_the_python_scorer_says(seed):
    """Scores, out-of-order refusals and replays, over series that change partition and
    messages that carry two points of one series."""
    import random

    rng = random.Random(seed)
    messages, ts = [], {1: 0, 2: 0}
    for offset in range(300):
        partition = 0 if offset < 250 else rng.choice([0, 1])
        asset = rng.choice([1, 2])
        ts[asset] += rng.choice([60_000, 60_000, 60_000, -60_000])  # some go back in time
        point = {"asset_id": asset, "metric": "cpu_usage", "timestamp": ts[asset]}
        body = [{**point, "value": rng.gauss(50, 5)}]
        if rng.random() < 0.1:
            ts[asset] += 60_000
            body.append({**body[0], "timestamp": ts[asset], "value": rng.gauss(50, 5)})
        messages.append(RawMessage("t", partition, offset, None, json.dumps(body).encode()))
    settings = Settings(_env_file=None)
    # messages again, as after a restart: already applied while their series stay on partition
    # 0; after some moved to partition 1, not (and refused as out of order, being older)
    batch = messages[:250] + messages[150:250] + messages[250:] + messages[200:250]
    result = process(batch, build_engine(settings))
    expected = python_batch(batch, build_scorer(settings), {})
    assert [(s.point.value, s.verdict.score) for s in result.scored] == [
        (value, said) for value, said in expected if isinstance(said, float)
    ]
    assert result.replayed == sum(said == "replayed" for _, said in expected) > 0
    refused = [said for _, said in expected if isinstance(said, str) and said != "replayed"]
    assert refused and sum(d.reason.count("out of order") for d in result.dead_letters) == len(
        refused
    )


def test_a_batchs_outlooks_are_those_of_the_series_states():
    """Each bounded series' outlook read from its row (`pipeline.batch_outlooks`) is the one its
    `SeriesState` gives (`CapacityWatch.assess_line`): lines too young, far below the limit,
    over it, and rising towards it (searched ahead); a metric with no limit has none."""
    from datetime import UTC, datetime

    import numpy as np

    from stream.capacity import parse_capacity_rules
    from stream.engine.reference import outlooks_by_state
    from stream.events import MetricPoint
    from stream.pipeline import batch_outlooks
    from stream.predictions import CapacityWatch

    settings = Settings(_env_file=None)
    watch = CapacityWatch(
        parse_capacity_rules(settings.capacity_rules), horizon_hours=72.0, confidence=0.8
    )
    scoring = engine()
    # (level, rise a day) of each bounded line; the young one is scored from its third day only
    lines = {"flat": (50.0, 0.0), "over": (104.0, 0.0), "rising": (40.0, 15.0), "young": (60.0, 0)}
    keys = [f"{kind}/cpu_usage" for kind in lines] + ["other/requests"]
    epochs = 1_767_571_200.0 + 600.0 * np.arange(3 * 144)
    rng = np.random.default_rng(3)
    for k, epoch in enumerate(epochs):
        values = np.array([level + rise * k / 144 for level, rise in lines.values()] + [60.0])
        values += 4 * np.sin(2 * np.pi * (epoch % 86_400) / 86_400) + rng.normal(0, 0.5, 5)
        live = [n for n, key in enumerate(keys) if k >= 2 * 144 or not key.startswith("young")]
        scoring.score_batch([keys[n] for n in live], values[live], np.full(len(live), epoch))
    now = datetime.fromtimestamp(epochs[-1], tz=UTC)
    last = {
        key: MetricPoint(asset_id=n, metric=key.split("/")[1], value=0.0, timestamp=now)
        for n, key in enumerate(keys)
    }
    expected = outlooks_by_state(scoring, watch, last)
    got = batch_outlooks(scoring, watch, last)
    assert got == expected
    by_asset = {ref.asset_id: ref.outlook for ref in got}
    assert set(by_asset) == {0, 1, 2}  # the young line and the unbounded metric have none
    assert by_asset[1].hours_to_crossing == 0.0  # over the limit now
    assert by_asset[0].hours_to_crossing is None  # nothing in sight
    assert by_asset[2].hours_to_crossing > 0  # a crossing found ahead
