"""The combined score: weighting, repeat damping, warm-up, explanation."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from stream.config import Settings
from stream.features import SeriesState
from stream.scoring import DEFAULT_WEIGHTS, combine, damp_repeats
from stream.worker import build_scorer

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def scored(values, warmup=30):
    scorer = build_scorer(Settings(_env_file=None, warmup_points=warmup))
    state = SeriesState()
    return [
        scorer.score_and_learn(state, v, T0 + timedelta(minutes=i)) for i, v in enumerate(values)
    ]


def noise(n, seed=4):
    rng = random.Random(seed)
    return [50.0 + rng.gauss(0, 1) for _ in range(n)]


def test_weighted_mean_uses_given_weights_and_defaults_others_to_one():
    assert combine({"a": 1.0, "b": 0.0}, {"a": 3.0, "b": 1.0}) == 0.75
    assert combine({"a": 1.0, "c": 0.0}, {"a": 1.0}) == 0.5


def test_a_repeat_that_does_not_beat_the_recent_peak_is_halved():
    state = SeriesState()
    assert damp_repeats(0.9, state) == 0.9
    assert damp_repeats(0.8, state) == 0.4
    assert damp_repeats(0.95, state) == 0.95  # an escalation keeps its full score


def test_a_spike_in_noise_is_an_anomaly_and_says_why():
    results = scored(noise(400) + [80.0] + noise(20, seed=5))
    spike = results[400]
    assert spike.is_anomaly
    assert spike.driver.split(":")[0] in spike.detector_scores
    assert set(spike.detector_scores) == {
        "zscore",
        "shift",
        "volatility",
        "mad",
        "iqr",
        "hst",
        "pattern",
    }
    assert sum(r.is_anomaly for r in results[:400]) <= 2


def test_a_level_shift_alarms_at_its_onset_not_on_every_point_after():
    results = scored(noise(400) + [v + 30 for v in noise(200, seed=6)])
    after = [r.is_anomaly for r in results[400:]]
    assert any(after[:3])
    assert sum(after) < 20


def test_no_anomaly_during_warm_up_however_extreme():
    values = noise(20) + [1e6]
    assert scored(values, warmup=10)[-1].is_anomaly
    assert not any(r.is_anomaly for r in scored(values, warmup=30))


def test_scores_are_the_same_at_any_scale_and_offset():
    base = noise(300) + [58.0] + noise(50, seed=9)
    a = [r.score for r in scored(base)]
    b = [r.score for r in scored([1000 * v + 7 for v in base])]
    assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 0.02


def test_robust_scores_count_only_up_to_their_cap_in_the_mean():
    capped = combine({"zscore": 0.2, "mad": 1.0}, {"zscore": 1.0, "mad": 1.0})
    assert capped == pytest.approx((0.2 + 0.7) / 2)


def test_isolation_and_pattern_raise_the_score_only_when_both_agree():
    quiet = {"zscore": 0.1, "shift": 0.1, "volatility": 0.0, "mad": 0.1, "iqr": 0.0}
    assert combine({**quiet, "hst": 0.95, "pattern": 0.1}, DEFAULT_WEIGHTS) < 0.2
    assert combine({**quiet, "hst": 0.95, "pattern": 0.85}, DEFAULT_WEIGHTS) == 0.85


def test_a_spike_every_point_view_agrees_on_is_not_diluted_by_the_level_detector():
    spike = {"zscore": 0.86, "shift": 0.26, "volatility": 0.81, "mad": 0.99, "iqr": 0.99}
    assert combine(spike, DEFAULT_WEIGHTS) == 0.81
    assert combine({**spike, "volatility": 0.3}, DEFAULT_WEIGHTS) < 0.7  # no consensus


def test_a_gradual_level_shift_is_caught_by_the_shift_detector():
    # a shift of 3 sigma: no single point is extreme, the run of them is
    results = scored(noise(600) + [v + 3.0 for v in noise(40, seed=8)])
    assert any(r.is_anomaly for r in results[600:605])
    assert sorted(r.detector_scores["zscore"] for r in results[600:640])[-5] < 0.7
    assert results[603].driver == "shift:level"
    assert sum(r.is_anomaly for r in results[300:600]) <= 1


def test_the_driver_is_a_detector_that_counted():
    from stream.features import window_features

    scorer = build_scorer(Settings(_env_file=None))
    x = window_features(1.0, [])
    quiet = {"zscore": 0.5, "shift": 0.1, "volatility": 0.0, "mad": 0.1, "iqr": 0.0}
    # a high isolation score without its partner counts for nothing in the score: not the driver
    lone = {**quiet, "hst": 0.95, "pattern": 0.1}
    assert scorer._driver(lone, combine(lone, DEFAULT_WEIGHTS), x) == "zscore:value"
    # when the shape detectors agree, their agreement is the score: one of them is the driver
    shape = {**quiet, "hst": 0.95, "pattern": 0.85}
    assert scorer._driver(shape, combine(shape, DEFAULT_WEIGHTS), x).startswith("hst:")
