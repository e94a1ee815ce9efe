"""The record detector: beyond everything the series showed in its long memory, or not."""

import json
import random

from stream.detectors.record import RecordDetector
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
    assert beyond >= 0.5  # the value itself (half the score) and more
    _, (below,) = feed(d, [min(history) - 0.5], state)
    assert below >= 0.5


def test_a_level_seen_within_memory_is_not_new_and_one_forgotten_is_new_again():
    d = RecordDetector(block_size=50, n_blocks=10, warmup=100)  # memory: 500 to 550 points
    burst = [70.0] * 5
    state, _ = feed(d, noise(200) + burst + noise(200, seed=2))
    _, again = feed(d, burst, state)
    assert again[0] < 0.5  # 205 points after the first burst the value is remembered: no record
    _, _ = feed(d, noise(600, seed=3), state)
    _, later = feed(d, burst, state)
    assert later[0] >= 0.5  # 800 points later: out of memory, new again


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
    assert 0.0 < d.score_one(state, x) < 0.5  # no value record, but a jump never seen: partial
    assert d.driver(x) == "jump"


def test_the_state_is_small_and_survives_the_changelog():
    d = RecordDetector()
    values = noise(3000)
    state, _ = feed(d, values)
    stored = SeriesState(detectors={"record": state}).to_dict()
    assert len(json.dumps(stored["detectors"])) < 4 * 1024
    restored = SeriesState.from_dict(json.loads(json.dumps(stored))).detectors["record"]
    tail = noise(20, seed=9) + [max(values) + 1.0]
    _, direct = feed(d, tail, state)
    _, replayed = feed(d, tail, restored)
    assert replayed == direct
    assert direct[-1] >= 0.5
