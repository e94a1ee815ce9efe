import json
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from stream import state_codec
from stream.config import Settings
from stream.ensemble import build_engine, build_scorer
from stream.features import SeriesState


def scored_state(points: int = 400) -> tuple[SeriesState, list[tuple[float, datetime]]]:
    """A state that has learnt `points` of a noisy sine, and the points that follow it."""
    rng = np.random.default_rng(3)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    series = [
        (50 + 10 * math.sin(i / 40) + float(rng.normal()), start + timedelta(minutes=i))
        for i in range(points + 200)
    ]
    scorer = build_scorer(Settings(_env_file=None))
    state = SeriesState()
    for value, ts in series[:points]:
        scorer.score_and_learn(state, value, ts)
    state.partition, state.offset = 3, points
    return state, series[points:]


def continue_scoring(state: SeriesState, points) -> list[tuple]:
    scorer = build_scorer(Settings(_env_file=None))
    out = []
    for value, ts in points:
        p = scorer.score_and_learn(state, value, ts)
        out.append((p.score, p.driver, p.expected, p.lower, p.upper, p.detector_scores))
    return out


def test_a_decoded_state_scores_the_next_points_exactly_as_the_original():
    state, following = scored_state()
    decoded = state_codec.decode(state_codec.encode(state))
    assert isinstance(decoded.detectors["hst"]["l"], np.ndarray)
    assert continue_scoring(decoded, following) == continue_scoring(state, following)


def test_a_decoded_state_shares_nothing_with_the_original():
    state, _ = scored_state(50)
    payload = state_codec.encode(state)
    decoded = state_codec.decode(payload)
    decoded.window.append(1.0)
    decoded.detectors["hst"]["l"][...] = 7
    assert state_codec.encode(state) == payload  # the original and the stored bytes unchanged
    assert state_codec.encode(state_codec.decode(payload)) == payload


def test_json_states_stored_by_older_versions_are_still_read():
    state, following = scored_state()
    old_payload = json.dumps(state.to_dict(), separators=(",", ":")).encode()
    decoded = state_codec.decode(old_payload)
    assert continue_scoring(decoded, following) == continue_scoring(state, following)


def test_non_finite_values_survive():
    state = SeriesState(peak=math.inf, window=[math.nan, 1.0], partition=0, offset=1)
    decoded = state_codec.decode(state_codec.encode(state))
    assert decoded.peak == math.inf and math.isnan(decoded.window[0]) and decoded.window[1] == 1.0


@pytest.mark.parametrize("payload", [b"\xc1", b"\x93\x01\x02\x03", b"\xd4\x07\x00", b""])
def test_bytes_that_are_no_state_are_refused_with_a_clear_error(payload):
    with pytest.raises(ValueError, match="not a stored series state|unknown extension"):
        state_codec.decode(payload)


def engine_rows(points: int, more: int) -> tuple[bytes, bytes]:
    """A demo-like series' stored bytes after `points` points on the worker's engine, and after
    `more` points more."""
    engine = build_engine(Settings(_env_file=None))
    rng = np.random.default_rng(5)
    values = 50 + 10 * np.sin(np.arange(points + more) / 240) + rng.normal(0, 2, points + more)
    stamps = 1.7e9 + 60.0 * np.arange(points + more)

    def stored_after(n: int) -> bytes:
        engine.score_batch(["s"] * n, values[:n], stamps[:n])
        return state_codec.encode_row(engine.row_bytes("s"), engine.layout, 60, None)

    base = stored_after(points)
    engine.score_batch(["s"] * more, values[points:], stamps[points:])
    return base, state_codec.encode_row(engine.row_bytes("s"), engine.layout, 60, None)


def test_a_row_stored_as_what_changed_since_its_base_reads_back_to_the_byte():
    base, later = engine_rows(600, 3)
    delta = state_codec.encode_delta(base, later)
    assert delta is not None and len(delta) < len(later) / 5  # what makes a checkpoint cheap
    assert state_codec.apply_delta(base, delta) == later
    assert state_codec.apply_delta(later, state_codec.encode_delta(later, later)) == later


def test_a_row_that_changed_too_much_or_grew_is_stored_whole():
    base, later = engine_rows(600, 3)
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 256, len(later), dtype=np.uint8).tobytes()
    assert state_codec.encode_delta(base, noise) is None  # more than DELTA_MAX_SHARE
    assert state_codec.encode_delta(base, later + b"\0") is None  # a longer header


@pytest.mark.parametrize("delta", [b"", b"\x00\x01", b"\xff" * 40])
def test_a_delta_that_is_not_its_bases_is_refused_with_a_clear_error(delta):
    base, later = engine_rows(100, 1)
    with pytest.raises(ValueError, match="stored series delta"):
        state_codec.apply_delta(base, delta)
    shorter = state_codec.encode_delta(base[:-8], later[:-8])
    with pytest.raises(ValueError, match="stored series delta of"):
        state_codec.apply_delta(base, shorter)


def test_a_row_is_stored_packed_and_read_back_to_the_byte():
    young, _ = engine_rows(10, 1)
    packed = state_codec.pack_row(young)
    assert len(packed) < len(young) / 4  # a young series' row is mostly untouched fields
    assert state_codec.unpack_row(packed) == young
    assert state_codec.pack_row(packed) is packed  # packed once only
    assert state_codec.decode_row(packed) == state_codec.decode_row(young)
    document = state_codec.encode(scored_state(20)[0])
    assert state_codec.pack_row(document) is document  # documents of older versions as they are
    assert state_codec.unpack_row(document) is document
    with pytest.raises(ValueError, match="does not decompress"):
        state_codec.unpack_row(packed[:40])
