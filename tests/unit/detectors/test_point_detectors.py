"""The z-score and robust detectors: spikes high, noise low, at any scale."""

import random

import pytest

from stream.detectors.robust import IQRDetector, MADDetector
from stream.detectors.zscore import ZScoreDetector
from stream.features import (
    HISTORY_SIZE,
    LONG_RUN_ALPHA,
    ew_update,
    new_ew_stats,
    window_features,
)


def noisy(n, scale, seed=1):
    rng = random.Random(seed)
    return [scale * (100 + rng.gauss(0, 1)) for _ in range(n)]


@pytest.mark.parametrize("scale", [0.001, 1.0, 1e6])
def test_zscore_spike_high_and_normal_low_at_any_scale(scale):
    d = ZScoreDetector()
    s = d.new_state()
    for v in noisy(500, scale):
        d.learn_one(s, window_features(v, []))
    assert d.score_one(s, window_features(scale * 100.5, [])) < 0.2
    assert d.score_one(s, window_features(scale * 110, [])) > 0.9


@pytest.mark.parametrize("detector", [MADDetector(), IQRDetector()])
@pytest.mark.parametrize("scale", [0.001, 1.0, 1e6])
def test_robust_detectors_spike_high_and_normal_low_at_any_scale(detector, scale):
    history = tuple(noisy(HISTORY_SIZE, scale))
    assert detector.score_one({}, window_features(scale * 100.3, [], history=history)) < 0.2
    assert detector.score_one({}, window_features(scale * 110, [], history=history)) > 0.9
    assert detector.score_one({}, window_features(scale * 90, [], history=history)) > 0.9


@pytest.mark.parametrize("detector", [MADDetector(), IQRDetector()])
def test_one_earlier_outlier_does_not_hide_the_next(detector):
    history = tuple(noisy(HISTORY_SIZE - 1, 1.0)) + (1000.0,)
    assert detector.score_one({}, window_features(110.0, [], history=history)) > 0.9


def test_a_mostly_constant_series_is_not_infinitely_surprised():
    history = tuple([5.0] * 60 + [6.0, 4.0, 5.5, 4.5])
    score = MADDetector().score_one({}, window_features(6.0, [], history=history))
    assert score < 0.7


def test_no_score_before_enough_history():
    assert MADDetector().score_one({}, window_features(1e9, [], history=(1.0, 2.0))) == 0.0
    d = ZScoreDetector()
    s = d.new_state()
    d.learn_one(s, window_features(1.0, []))
    assert d.score_one(s, window_features(1000.0, [])) == 0.0


@pytest.mark.parametrize("detector", [MADDetector(), IQRDetector()])
def test_a_quiet_hour_in_a_noisy_series_does_not_make_a_wobble_extreme(detector):
    long_run = new_ew_stats()
    for v in noisy(500, 0.1):  # long run: 10 with a standard deviation of 0.1
        ew_update(long_run, v, LONG_RUN_ALPHA)
    quiet = tuple(10.0 + 0.0001 * (i % 3) for i in range(HISTORY_SIZE))
    wobble = window_features(10.06, [], history=quiet, long_run=long_run)  # 0.6 deviations
    state = detector.new_state()
    assert detector.score_one(state, wobble) < 0.7  # no alarm
    alone = window_features(10.06, [], history=quiet)
    assert detector.score_one(state, alone) > 0.8  # what the quiet window alone would say
    jump = window_features(10.6, [], history=quiet, long_run=long_run)
    assert detector.score_one(state, jump) > 0.9
