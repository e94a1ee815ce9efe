"""A series' row as the worker stores it, and back from each form a version stored."""

import numpy as np
import pytest

from stream import state_codec
from stream.engine import stored
from stream.engine.core import Engine

MONDAY = 1_767_571_200.0
_SETTINGS = {"threshold": 0.7, "warmup_points": 30}


def _points(n: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = MONDAY + np.arange(n) * 60.0
    return t, 50 + 10 * np.sin(2 * np.pi * t / 86_400) + rng.standard_t(4, n)


def _engine(window_size: int = 10) -> Engine:
    return Engine(window_size=window_size, **_SETTINGS)


def test_a_stored_row_scores_on_exactly_as_the_row_it_came_from():
    t, v = _points(3000)
    whole = _engine()
    expected = whole.score_batch(["s"] * 3000, v, t)
    first = _engine()
    first.score_batch(["s"] * 2000, v[:2000], t[:2000])
    payload = stored.payload(first, "s", "trained-1")
    second = _engine()
    assert stored.restore(second, "s", payload) == "trained-1"
    rest = second.score_batch(["s"] * 1000, v[2000:], t[2000:])
    np.testing.assert_array_equal(rest.verdicts, expected.verdicts[2000:])
    np.testing.assert_array_equal(rest.scores, expected.scores[2000:])


def test_a_state_document_of_an_older_version_is_carried_over():
    t, v = _points(2500)
    first = _engine()
    first.score_batch(["s"] * 2000, v[:2000], t[:2000])
    document = state_codec.encode(first.dump("s", "trained-2"))  # MessagePack, as stored before
    second = _engine()
    assert stored.restore(second, "s", document) == "trained-2"
    rest = second.score_batch(["s"] * 500, v[2000:], t[2000:])
    expected = first.score_batch(["s"] * 500, v[2000:], t[2000:])
    np.testing.assert_array_equal(rest.verdicts, expected.verdicts)


def test_a_row_of_another_window_keeps_its_history_and_its_newest_values():
    t, v = _points(500)
    wide = _engine(window_size=20)
    wide.score_batch(["s"] * 500, v, t)
    narrow = _engine(window_size=5)
    stored.restore(narrow, "s", stored.payload(wide, "s", None))
    before, after = wide.dump("s"), narrow.dump("s")
    assert after.count == before.count == 500
    assert after.window == before.window[-4:]
    assert after.history == before.history
    assert after.last_ts_ms == before.last_ts_ms


def test_the_api_reads_a_stored_row_as_a_state():
    t, v = _points(300)
    scoring = _engine()
    scoring.score_batch(["s"] * 300, v, t)
    state = stored.as_state(stored.payload(scoring, "s", "m-3"))
    assert state.count == 300 and state.model_version == "m-3"
    assert state.to_dict() == scoring.dump("s", "m-3").to_dict()


def test_bytes_of_an_unknown_layout_or_cut_short_are_refused_clearly():
    t, v = _points(10)
    scoring = _engine()
    scoring.score_batch(["s"] * 10, v, t)
    payload = bytearray(stored.payload(scoring, "s", None))
    payload[2] ^= 0xFF  # another layout digest
    with pytest.raises(ValueError, match="another layout"):
        stored.restore(_engine(), "s", bytes(payload))
    with pytest.raises(ValueError, match="bytes"):
        stored.restore(_engine(), "s", stored.payload(scoring, "s", None)[:-8])
    with pytest.raises(ValueError, match="cut short"):
        state_codec.decode_row(bytes((0xC1, 1, 0, 0)))
