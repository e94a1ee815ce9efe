"""Batch processing without a broker: replays, ordering, dead letters, warm-up."""

import json

from stream.detectors.zscore import ZScoreDetector
from stream.features import SeriesState
from stream.pipeline import RawMessage, process_batch
from stream.scoring import Scorer


def scorer(warmup=5):
    return Scorer(
        [ZScoreDetector()], threshold=0.7, window_size=5, warmup_points=warmup, model_version="t"
    )


def msg(offset, value, ts, *, partition=0, asset=1, metric="cpu_usage"):
    body = {"asset_id": asset, "metric": metric, "value": value, "timestamp": ts}
    return RawMessage("ems.metrics", partition, offset, b"1", json.dumps(body).encode())


class Store(dict):
    def load(self, key):
        return SeriesState.from_dict(self.get(key))

    def save(self, result):
        for key, (_, state) in result.states.items():
            self[key] = state.to_dict()


def test_every_valid_point_is_scored_and_a_spike_is_an_anomaly():
    values = [10.0, 10.5, 9.5, 10.2, 9.8] * 4 + [60.0]
    messages = [msg(i, v, 1000 * (i + 1)) for i, v in enumerate(values)]
    result = process_batch(messages, Store().load, scorer())
    assert len(result.scored) == len(values)
    assert [s.point.value for s in result.anomalies] == [60.0]
    assert result.dead_letters == []


def test_no_anomaly_during_warm_up():
    messages = [msg(0, 10.0, 1000), msg(1, 10.1, 2000), msg(2, 500.0, 3000)]
    result = process_batch(messages, Store().load, scorer(warmup=10))
    assert result.scored[-1].verdict.score > 0.9
    assert result.anomalies == []


def test_a_replayed_batch_is_skipped_once_its_state_is_stored():
    store = Store()
    messages = [msg(i, 10.0 + i % 3, 1000 * (i + 1)) for i in range(10)]
    first = process_batch(messages, store.load, scorer())
    store.save(first)
    again = process_batch(messages + [msg(10, 11.0, 11_000)], store.load, scorer())
    assert again.replayed == 10
    assert [s.point.value for s in again.scored] == [11.0]


def test_a_batch_replayed_before_its_state_was_stored_scores_the_same():
    messages = [msg(i, 10.0 + (i * 7) % 5, 1000 * (i + 1)) for i in range(30)]
    first = process_batch(messages, Store().load, scorer())
    second = process_batch(messages, Store().load, scorer())
    assert [s.verdict.score for s in first.scored] == [s.verdict.score for s in second.scored]


def test_out_of_order_points_are_dead_lettered_not_scored():
    messages = [msg(0, 1.0, 5000), msg(1, 2.0, 4000), msg(2, 3.0, 5000), msg(3, 4.0, 6000)]
    result = process_batch(messages, Store().load, scorer())
    assert [s.point.value for s in result.scored] == [1.0, 4.0]
    assert [d.message.offset for d in result.dead_letters] == [1, 2]
    assert all(d.reason.startswith("out of order") for d in result.dead_letters)


def test_an_out_of_order_element_of_an_array_is_named_by_its_index():
    body = [
        {"asset_id": 1, "metric": "m", "value": 1.0, "timestamp": 2000},
        {"asset_id": 1, "metric": "m", "value": 2.0, "timestamp": 1000},
        {"asset_id": 1, "metric": "m", "value": 3.0, "timestamp": 3000},
    ]
    message = RawMessage("t", 0, 7, None, json.dumps(body).encode())
    result = process_batch([message], Store().load, scorer())
    assert [s.point.value for s in result.scored] == [1.0, 3.0]
    (letter,) = result.dead_letters
    assert letter.reason.startswith("element 1: out of order")


def test_series_are_independent_and_messages_keep_their_partition():
    messages = [
        msg(0, 1.0, 1000, partition=0, asset=1),
        msg(0, 1.0, 1000, partition=1, asset=2),
        msg(1, 2.0, 2000, partition=1, asset=2),
    ]
    result = process_batch(messages, Store().load, scorer())
    assert {k: (p, s.count) for k, (p, s) in result.states.items()} == {
        "1/cpu_usage": (0, 1),
        "2/cpu_usage": (1, 2),
    }


def test_two_points_of_one_series_in_one_message_are_both_scored():
    body = [
        {"asset_id": 1, "metric": "m", "value": 1.0, "timestamp": 1000},
        {"asset_id": 1, "metric": "m", "value": 2.0, "timestamp": 2000},
    ]
    message = RawMessage("t", 0, 7, None, json.dumps(body).encode())
    result = process_batch([message], Store().load, scorer())
    assert len(result.scored) == 2
    assert result.states["1/m"][1].offset == 7


def test_invalid_and_valid_messages_interleave():
    messages = [msg(0, 1.0, 1000), RawMessage("t", 0, 1, None, b"{oops"), msg(2, 2.0, 2000)]
    result = process_batch(messages, Store().load, scorer())
    assert len(result.scored) == 2
    (letter,) = result.dead_letters
    assert letter.message.offset == 1 and letter.reason.startswith("not valid JSON")
    assert result.consumed == 3


def test_a_scoring_bug_dead_letters_its_point_and_the_batch_goes_on():
    class Broken(Scorer):
        def score_and_learn(self, state, value, ts, metric=None):
            if value == 13.0:
                raise ZeroDivisionError("unlucky")
            return super().score_and_learn(state, value, ts, metric)

    broken = Broken(
        [ZScoreDetector()], threshold=0.7, window_size=5, warmup_points=5, model_version="t"
    )
    messages = [msg(0, 1.0, 1000), msg(1, 13.0, 2000), msg(2, 2.0, 3000)]
    result = process_batch(messages, Store().load, broken)
    assert [s.point.value for s in result.scored] == [1.0, 2.0]
    (letter,) = result.dead_letters
    assert letter.message.offset == 1 and letter.reason.startswith("internal error")
