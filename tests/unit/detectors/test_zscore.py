import random

from stream.detectors.zscore import ZScoreDetector, z_to_score
from stream.features import window_features


def feed(detector, state, values):
    for v in values:
        detector.learn_one(state, window_features(v, []))


def test_score_is_monotonic_in_z_and_bounded():
    scores = [z_to_score(z / 10) for z in range(0, 200)]
    assert scores == sorted(scores)
    assert 0.0 <= scores[0] and scores[-1] < 1.0


def test_a_four_sigma_value_reaches_the_default_threshold():
    assert abs(z_to_score(4.0) - 0.7) < 1e-9


def test_spike_scores_high_and_normal_scores_low_at_any_scale():
    rng = random.Random(1)
    for scale in (0.001, 1.0, 1e6):
        d = ZScoreDetector()
        s = d.new_state()
        feed(d, s, [scale * (100 + rng.gauss(0, 1)) for _ in range(500)])
        assert d.score_one(s, window_features(scale * 100.5, [])) < 0.2
        assert d.score_one(s, window_features(scale * 110, [])) > 0.8


def test_flat_series_does_not_explode_on_tiny_changes():
    d = ZScoreDetector()
    s = d.new_state()
    feed(d, s, [50.0] * 200)
    assert d.score_one(s, window_features(50.0001, [])) < 0.1
    assert d.score_one(s, window_features(80.0, [])) > 0.9


def test_no_score_before_two_points():
    d = ZScoreDetector()
    s = d.new_state()
    feed(d, s, [1.0])
    assert d.score_one(s, window_features(1000.0, [])) == 0.0
