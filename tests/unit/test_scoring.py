"""The combined score: weighting, repeat damping, warm-up, explanation."""

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from stream.config import Settings
from stream.detectors.record import MEASURES
from stream.features import SeriesState
from stream.scoring import (
    DEFAULT_WEIGHTS,
    OPERATING_POINT,
    PERSISTENCE_GAIN,
    RECORD_GATE,
    blend,
    combine,
    damp_repeats,
    persistent,
    stretch,
)
from stream.ensemble import build_scorer

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def scored(values, warmup=30, **combination):
    scorer = build_scorer(Settings(_env_file=None, warmup_points=warmup), **combination)
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


def test_a_repeat_that_does_not_clearly_beat_the_recent_peak_is_halved():
    state = SeriesState()
    assert damp_repeats(0.9, state) == 0.9
    assert damp_repeats(0.8, state) == 0.4
    assert damp_repeats(0.92, state) == 0.46  # creeping up by 2% is no escalation
    assert damp_repeats(0.98, state) == 0.98  # a clear escalation keeps its full score


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
        "record",
    }
    assert sum(r.is_anomaly for r in results[:400]) <= 2


def test_a_level_shift_alarms_at_its_onset_not_on_every_point_after():
    results = scored(noise(400) + [v + 30 for v in noise(200, seed=6)])
    after = [r.is_anomaly for r in results[400:]]
    assert any(after[:3])
    assert sum(after) < 20


def test_the_same_spike_alarms_where_the_series_never_went_and_not_where_it_has_been():
    # a 4.5-sigma spike; in the second series a burst went higher 2,500 points before
    def last_point(burst):
        values = noise(3000, seed=3)
        if burst:
            values[500:505] = [56.0] * 5
        return scored([*values, 54.5])[-1]

    new_high, seen_before = last_point(burst=False), last_point(burst=True)
    assert new_high.is_anomaly and new_high.detector_scores["record"] >= MEASURES["value"]
    assert not seen_before.is_anomaly
    # no record of the value (at most of the hour of day: the burst came at another hour)
    assert seen_before.detector_scores["record"] <= MEASURES["hour"] + 1e-6
    # the point detectors, with their memory of a few hundred points, see the same spike
    assert abs(new_high.detector_scores["zscore"] - seen_before.detector_scores["zscore"]) < 0.05


def test_a_deviation_that_holds_alarms_where_one_point_of_it_does_not():
    # the series went 8 sigma higher for an hour before, so 4.5 sigma is no record of the value
    # or the level: only its persistence makes the run news
    values = noise(3000, seed=3)
    values[1000:1060] = [v + 8 for v in values[1000:1060]]
    held = [*values, *(v + 4.5 for v in noise(8, seed=9)), *noise(30, seed=10)]
    run = scored(held)[3000:3010]
    lone = scored([*values, 54.5, *noise(30, seed=10)])[3000]
    alarms = [r for r in run if r.is_anomaly]
    assert not lone.is_anomaly
    assert len(alarms) == 1 and alarms[0].driver == "zscore:persistence"
    assert not run[0].is_anomaly  # like the lone point: the run had to hold to alarm
    # the benchmarks' override reaches the scoring: without persistence the run passes
    assert not any(r.is_anomaly for r in scored(held, persistence_gain=0.0)[3000:3010])


def test_persistence_is_the_median_so_one_blip_does_not_lift_the_points_after_it():
    state = SeriesState()
    after_blip = [persistent(z, state) for z in (0.1, 0.1, 0.1, 0.1, 0.1, 0.99, 0.1, 0.1)]
    assert max(after_blip) < 0.2
    held = [persistent(z, state) for z in (0.6,) * 4]
    assert held[-1] == pytest.approx(PERSISTENCE_GAIN * 0.6)


def test_a_record_weighs_in_proportion_to_the_point_evidence_below_the_gate():
    assert blend(0.6, 0.0) == pytest.approx(0.3)
    assert blend(RECORD_GATE, 1.0) == pytest.approx(0.5 * RECORD_GATE + 0.5)
    assert blend(RECORD_GATE / 2, 1.0) == pytest.approx(0.25 * RECORD_GATE + 0.25)


def test_stretch_keeps_the_order_and_puts_the_operating_point_at_the_default_threshold():
    xs = [i / 100 for i in range(101)]
    ys = [stretch(x) for x in xs]
    assert ys == sorted(ys) and ys[0] == 0.0 and ys[-1] == pytest.approx(1.0)
    assert stretch(OPERATING_POINT) == pytest.approx(Settings(_env_file=None).anomaly_threshold)


def test_a_young_series_is_judged_on_point_evidence_alone_at_its_own_scale():
    # 150 points: the record detector has too short a memory; a 99 in a 25..55 daily shape
    values = [40 + 15 * math.sin(2 * math.pi * i / 144) + (i * 7919 % 13) / 13 for i in range(150)]
    spike = scored([*values, 99.0])[-1]
    assert spike.is_anomaly
    assert spike.score == pytest.approx(spike_point_evidence(spike), abs=1e-6)


def spike_point_evidence(point_score):
    return combine(
        {n: s for n, s in point_score.detector_scores.items() if n != "record"}, DEFAULT_WEIGHTS
    )


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
