"""The record detector: beyond everything the series showed in its long memory, or not."""

import copy
import json
import math
import random

import pytest

from stream.detectors.record import MEASURES, VALUE_TOLERANCE, RecordDetector
from stream.features import SeriesState, window_features


def feed(detector, values, state=None):
    """Score then learn each value with its real lag-1; return the state and the scores."""
    state = detector.new_state() if state is None else state
    scores, previous = [], None
    for v in values:
        x = window_features(v, [] if previous is None else [previous])
        scores.append(detector.score_one(state, x))
        detector.learn_one(state, x)
        previous = v
    return state, scores


def noise(n, seed=1, level=50.0):
    rng = random.Random(seed)
    return [level + rng.gauss(0, 1) for _ in range(n)]


def test_a_value_beyond_the_whole_memory_is_a_record_and_one_inside_it_is_not():
    d = RecordDetector(block_size=50, n_blocks=10, warmup=100)
    history = noise(400)
    state, _ = feed(d, history)
    _, (inside,) = feed(d, [50.0], state)
    assert inside == 0.0
    _, (beyond,) = feed(d, [max(history) + 0.5], state)
    assert beyond >= MEASURES["value"]
    _, (below,) = feed(d, [min(history) - 0.5], state)
    assert below >= MEASURES["value"]


def test_a_value_must_clear_its_old_range_by_the_tolerance_to_be_a_record():
    d = RecordDetector(block_size=50, n_blocks=10, warmup=100)
    history = noise(400)
    state, _ = feed(d, history)
    hi, lo = max(history), min(history)
    # by a hair, as noise makes a new extreme now and then: the value is no record
    _, (hair,) = feed(d, [hi + 0.01], state)
    assert hair < MEASURES["value"]
    _, (clear,) = feed(d, [hi + 2 * VALUE_TOLERANCE * (hi - lo)], state)
    assert clear >= MEASURES["value"]


def test_a_level_seen_within_memory_is_not_new_and_one_forgotten_is_new_again():
    d = RecordDetector(block_size=50, n_blocks=10, warmup=100)  # memory: 500 to 550 points
    burst = [70.0] * 5
    state, _ = feed(d, noise(200) + burst + noise(200, seed=2))
    _, again = feed(d, burst, state)
    assert again[0] < MEASURES["value"]  # 205 points after the first burst: remembered
    _, _ = feed(d, noise(600, seed=3), state)
    _, later = feed(d, burst, state)
    assert later[0] >= MEASURES["value"]  # 800 points later: out of memory, new again


def test_no_record_during_warmup_or_on_a_flat_memory():
    d = RecordDetector(block_size=50, n_blocks=10, warmup=100)
    _, early = feed(d, noise(50) + [90.0])
    assert early[-1] == 0.0
    _, flat = feed(d, [3.0] * 300 + [3.5])
    assert flat[-1] == 0.0  # a gauge that never moved: left to the z-score detectors


def test_the_jump_and_the_levels_count_where_the_value_does_not():
    d = RecordDetector(block_size=50, n_blocks=10, warmup=100)
    # a series that swings between 0 and 100 in steps of at most 10
    swing = [abs(50 - (i * 10) % 100) * 2.0 for i in range(400)]
    state, _ = feed(d, swing)
    x = window_features(swing[-1] - 60.0, [swing[-1]])  # 80 -> 20: inside the range
    assert d.score_one(state, x) == pytest.approx(MEASURES["jump"])  # only the jump is new
    assert d.driver(x) == "jump"


def test_a_value_never_seen_at_its_hour_of_day_is_a_record_of_its_own():
    d = RecordDetector(block_size=50, n_blocks=10, warmup=100)
    state = d.new_state()
    # ten days, hourly: 80 +/- 2 by day (08-19h), 20 +/- 2 at night
    rng = random.Random(4)
    for i in range(240):
        hour = i % 24
        level = 80.0 if 8 <= hour < 20 else 20.0
        x = window_features(level + rng.gauss(0, 2), [], hour=hour)
        d.score_one(state, x)
        d.learn_one(state, x)
    assert d.score_one(state, window_features(21.0, [20.0], hour=3)) == 0.0
    # a daytime level at 03:00: within the series' range, never seen at that hour
    x = window_features(80.0, [20.0], hour=3)
    assert d.score_one(state, x) >= MEASURES["hour"]
    assert d.score_one(state, window_features(80.0, [20.0], hour=-1)) < MEASURES["value"]


def test_records_wait_until_the_series_has_been_seen_at_every_hour_of_the_day():
    d = RecordDetector(block_size=50, n_blocks=10, warmup=100)
    state = d.new_state()
    # a rising morning, one point a minute: each new high is a record by the numbers, but the
    # series has not yet shown a whole day
    for i in range(600):
        x = window_features(10.0 + i * 0.1, [], hour=i // 60)
        assert d.score_one(state, x) == 0.0
        d.learn_one(state, x)
    assert not d.ready(state)
    for i in range(600, 24 * 60):
        x = window_features(70.0 + (i % 3), [], hour=i // 60)
        d.score_one(state, x)
        d.learn_one(state, x)
    assert d.ready(state)
    assert d.score_one(state, window_features(200.0, [71.0], hour=0)) >= MEASURES["value"]


def test_the_state_is_small_and_survives_being_stored():
    d = RecordDetector()
    values = noise(3000)
    state, _ = feed(d, values)
    stored = SeriesState(detectors={"record": state}).to_dict()
    assert len(json.dumps(stored["detectors"])) < 5 * 1024
    restored = SeriesState.from_dict(json.loads(json.dumps(stored))).detectors["record"]
    tail = noise(20, seed=9) + [max(values) + 1.0]
    _, direct = feed(d, tail, state)
    _, replayed = feed(d, tail, restored)
    assert replayed == direct
    assert direct[-1] >= MEASURES["value"]


def test_the_memory_grows_with_the_series_so_an_extreme_is_remembered_for_half_its_life():
    d = RecordDetector(block_size=10, n_blocks=4, warmup=20)  # 40 points of memory at first
    burst = [70.0] * 5
    state, _ = feed(d, noise(600) + burst + noise(400, seed=2))
    assert 500 <= d.memory(state) <= 2 * state["n"] / 3 + 10  # at least the last half
    _, again = feed(d, burst, state)
    assert again[0] < MEASURES["value"]  # 400 points after the burst: still remembered
    assert d.l_value(state, 1.0) > math.log10(40 / 2) + 1  # and a record is worth more
    _, _ = feed(d, noise(2000, seed=3), state)
    _, later = feed(d, burst, state)
    assert later[0] >= MEASURES["value"]  # 2,400 points later, in a 3,000-point life: forgotten


def test_records_on_noise_get_rarer_the_longer_a_series_behaves():
    d = RecordDetector(block_size=16, n_blocks=8, warmup=128)  # 128 points of memory at first
    _, scores = feed(d, noise(20_000, seed=5))
    early = sum(s >= MEASURES["value"] for s in scores[128:2_000])
    late = sum(s >= MEASURES["value"] for s in scores[-10_000:])
    # a fixed memory of 128 points would make records at the same rate all along (about 2 / 128
    # a point less the 5% margin's share); a growing one makes them rarer
    assert late < early / 2


def test_a_state_stored_before_the_memory_grew_keeps_scoring_as_its_blocks_imply():
    d = RecordDetector(block_size=10, n_blocks=4, warmup=20)
    history = noise(95)
    fresh, _ = feed(d, history)
    old = copy.deepcopy(fresh)
    for key in ("block", "fill"):
        del old[key]  # as stored by ensemble-v7
    tail = noise(400, seed=7) + [80.0]
    _, direct = feed(d, tail, fresh)
    _, upgraded = feed(d, tail, old)
    assert upgraded == direct
    assert direct[-1] >= MEASURES["value"]
