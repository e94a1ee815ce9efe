"""The level-shift and volatility z-scores: changes no single point makes extreme."""

import random

import pytest

from stream.detectors.zscore import LevelShiftDetector, VolatilityDetector, ZScoreDetector
from stream.features import HISTORY_SIZE, window_features


def feed(detector, signals):
    """Learn `signals` one by one, each with its real history; return the scores before each."""
    state, history, scores = detector.new_state(), [], []
    for v in signals:
        x = window_features(v, [], history=tuple(history[-HISTORY_SIZE:]))
        scores.append(detector.score_one(state, x))
        detector.learn_one(state, x)
        history.append(v)
    return scores


def noise(n, sd=1.0, seed=1, level=100.0):
    rng = random.Random(seed)
    return [level + rng.gauss(0, sd) for _ in range(n)]


def test_a_shift_of_two_sigma_alarms_within_a_few_points_where_the_point_zscore_stays_low():
    values = noise(600) + noise(20, seed=2, level=102.5)
    shift, point = feed(LevelShiftDetector(), values), feed(ZScoreDetector(), values)
    assert max(shift[600:606]) > 0.7
    assert sorted(point[600:620])[-3] < 0.7  # most shifted points look ordinary on their own
    assert max(shift[300:600]) < 0.7


def test_jitter_that_grows_tenfold_alarms_the_volatility_detector_only_upwards():
    calm, rough = noise(600, sd=0.1), noise(30, sd=1.0, seed=3)
    scores = feed(VolatilityDetector(), calm + rough)
    assert max(scores[600:630]) > 0.7
    assert max(scores[300:600]) < 0.7
    calmer = feed(VolatilityDetector(), noise(600, sd=1.0) + noise(60, sd=0.01, seed=4))
    assert max(calmer[600:]) < 0.3  # a calmer series is no problem


@pytest.mark.parametrize("scale", [0.001, 1e6])
def test_the_time_scale_detectors_score_the_same_at_any_scale(scale):
    values = noise(400) + noise(20, sd=3.0, seed=5, level=104.0)
    for detector in (LevelShiftDetector, VolatilityDetector):
        a = feed(detector(), values)
        b = feed(detector(), [scale * v for v in values])
        assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 0.01


def test_a_flat_series_does_not_make_the_first_wobble_infinitely_surprising():
    scores = feed(VolatilityDetector(), [50.0] * 500 + [50.05, 49.95, 50.0])
    assert max(scores[500:]) < 0.7
