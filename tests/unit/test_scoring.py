"""The combined score: each of the mechanisms the detection issue names, warm-up, roles, band."""

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from stream.config import Settings
from stream.detectors.record import RecordDetector
from stream.detectors.zscore import ZScoreDetector
from stream.ensemble import build_scorer
from stream.features import SeriesState
from stream.scoring import Scorer, damp_repeats

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def scored(values, warmup=30, step=timedelta(minutes=1), **combination):
    scorer = build_scorer(Settings(_env_file=None, warmup_points=warmup), **combination)
    state = SeriesState()
    return [scorer.score_and_learn(state, v, T0 + i * step) for i, v in enumerate(values)]


def noise(n, seed=4, sigma=1.0):
    rng = random.Random(seed)
    return [50.0 + rng.gauss(0, sigma) for _ in range(n)]


def test_a_lone_spike_of_z_8_in_a_noisy_series_alarms_and_says_why():
    # the series went higher once, long ago: that does not make a spike today normal
    values = noise(2000)
    values[500:505] = [v + 12 for v in values[500:505]]
    results = scored(values + [58.0] + noise(30, seed=5))
    spike = results[2000]
    assert spike.is_anomaly
    assert spike.driver.split(":")[0] in {"zscore", "mad", "iqr"}
    assert spike.direction == "above"
    assert spike.upper < 58.0 < spike.upper + 10
    # the points after it are not news
    assert not any(r.is_anomaly for r in results[2001:])


def test_a_lone_dip_alarms_below():
    results = scored(noise(2000) + [42.0] + noise(30, seed=5))
    assert results[2000].is_anomaly and results[2000].direction == "below"
    assert results[2000].lower > 42.0


def test_a_flatline_of_30_points_in_a_noisy_series_alarms():
    values = noise(2000)
    values[1500:1530] = [values[1499]] * 30
    results = scored(values)
    assert any(r.is_anomaly for r in results[1500:1530])
    assert any(r.driver == "flatline:stuck" for r in results[1500:1530] if r.is_anomaly)
    assert sum(r.is_anomaly for r in results[100:1500]) <= 1


def test_a_stuck_value_stays_anomalous_for_as_long_as_it_is_stuck():
    # learnt point by point, the run's own rising evidence taught the shape channel's tail that
    # such evidence is common, and the stuck value fell back under the threshold after 3 points
    values = [round(v, 1) for v in noise(3000, sigma=0.6)]
    values[2500:2560] = [values[2499]] * 60
    run = scored(values)[2500:2560]
    assert any(r.is_anomaly for r in run)
    assert all(r.is_anomaly or r.ongoing for r in run[4:])


def still_every_night(days, stuck_from_day=None):
    """1-minute values, noisy by day, still from 02:00 to 04:00, and from 02:00 on the day
    `stuck_from_day` for good (an exporter that died at night)."""
    rng = random.Random(7)
    values = []
    for day in range(days):
        for minute in range(1440):
            still = 120 <= minute < 240 or (
                stuck_from_day is not None and (day, minute) >= (stuck_from_day, 120)
            )
            values.append(values[-1] if still and values else round(50 + rng.gauss(0, 1), 1))
    return values


def stuck_alarms_by_day(results):
    return [
        any(r.is_anomaly and r.driver == "flatline:stuck" for r in results[d : d + 1440])
        for d in range(0, len(results), 1440)
    ]


def test_a_series_that_sits_still_every_night_stops_alarming_once_it_has_shown_it_twice():
    by_day = stuck_alarms_by_day(scored(still_every_night(7)))
    assert by_day[0]
    assert not any(by_day[3:])


def test_a_day_still_after_nights_still_is_far_stronger_flatline_evidence_than_a_night():
    # its still stretches always end after two hours, so the detector finds one that goes on all
    # day rare (each doubling of the run as rare as the share of its runs that doubled); the
    # combined score does not alarm on it yet: the nights taught the shape channel's tail
    results = scored(still_every_night(9, stuck_from_day=7))
    peak = [
        max(r.detector_scores["flatline"] for r in results[d : d + 1440])
        for d in range(0, len(results), 1440)
    ]
    assert max(peak[3:7]) < 0.65
    assert peak[7] > 0.75 and peak[8] > peak[7]


def test_small_moves_of_a_bursty_series_are_not_standing_still():
    # busy stretches widen the robust spread of the last 64 values a thousandfold; the quiet
    # stretch after one still moves, in steps of its resolution
    rng = random.Random(3)
    values = []
    while len(values) < 3000:
        values += [rng.uniform(0, 100_000) for _ in range(200)]
        for _ in range(40):  # each a step or more from the one before
            values.append(
                42.0 + 6 * rng.choice([k for k in range(12) if 42.0 + 6 * k != values[-1]])
            )
    assert not any(r.driver == "flatline:stuck" and r.is_anomaly for r in scored(values))


def test_a_gauge_that_often_sits_still_does_not_alarm_on_a_still_stretch():
    rng = random.Random(2)
    values = [0.0 if rng.random() < 0.7 else rng.choice((0.1, 0.2)) for _ in range(3000)]
    values[2500:2510] = [0.0] * 10
    assert not any(r.driver == "flatline:stuck" and r.is_anomaly for r in scored(values))


def test_a_daily_burst_of_the_same_size_alarms_on_day_5_as_on_day_1():
    step = timedelta(minutes=5)
    per_day = 288
    values = noise(per_day * 6, seed=8)
    for day in range(1, 6):
        start = day * per_day + 170  # 14:10 every day
        values[start : start + 4] = [v + 12 for v in values[start : start + 4]]
    results = scored(values, step=step)
    for day in range(1, 6):
        start = day * per_day + 170
        assert any(r.is_anomaly for r in results[start : start + 4]), f"day {day}"


@pytest.mark.parametrize("seed", [1, 2])
def test_a_blip_every_50_points_is_news_at_first_and_the_series_normal_later(seed):
    # a cron job's blip at z 8 every 50 minutes: 2% of the points. Each early one alarms; the
    # series' own tail learns that they come (each alarm episode teaches it once), so the 100th
    # is no news. Leaving alarms out of the tail kept most of them alarming for good.
    rng = random.Random(seed)
    blips = [i for i in range(3000, 8000) if i % 50 == 49]
    values = [50 + rng.gauss(0, 1) for _ in range(8000)]
    for i in blips:
        values[i] += 8
    results = scored(values)
    assert sum(results[i].is_anomaly for i in blips[:10]) >= 6
    assert sum(results[i].is_anomaly for i in blips[-10:]) <= 2


@pytest.mark.parametrize("seconds", [10, 60, 300])
def test_a_smooth_daily_shape_raises_no_alarms_at_hour_boundaries(seconds):
    """A daily curve sampled every `seconds`: once learnt, no false alarm clusters on the hour."""
    step = timedelta(seconds=seconds)
    days = 6 if seconds >= 60 else 4
    n = days * 86_400 // seconds
    rng = random.Random(seconds)

    def curve(i):
        hours = (i * seconds % 86_400) / 3600
        return 50 + 30 * math.sin(2 * math.pi * (hours - 6) / 24) + rng.gauss(0, 1)

    results = scored([curve(i) for i in range(n)], step=step)
    learnt = results[n * (days - 2) // days :]
    alarms = sum(r.is_anomaly for r in learnt)
    assert alarms <= max(1, len(learnt) // 10_000)


# The target is under 1 false alarm per 10,000 points; `benchmarks.false_alarms`
# measures 0.9 on Gaussian and 3.2 on Student-t(4) noise (3 seeds; README, Detection), single
# seeds of Student-t(4) ranging over 2-5. These bounds keep the rate from growing past what the
# benchmark measured before its tail fit moved to the 99th percentile (5.1 per 10,000).
def test_a_heavy_tailed_series_keeps_its_false_alarm_rate_near_a_gaussian_one():
    rng = random.Random(11)
    # Student-t with 4 degrees of freedom: z = 5 comes about once in 500 points, not 2 million
    values = [50 + rng.gauss(0, 1) / math.sqrt(rng.gammavariate(2, 0.5)) for _ in range(20_000)]
    alarms = sum(r.is_anomaly for r in scored(values)[500:])
    assert alarms <= 10
    # without the series' own tail, the same series alarms several times as often
    uncalibrated = scored(values, calibrate_tails=False)[500:]
    assert sum(r.is_anomaly for r in uncalibrated) >= 2 * alarms


def test_a_gaussian_series_stays_near_the_stated_false_alarm_rate():
    alarms = sum(r.is_anomaly for r in scored(noise(20_000, seed=12))[500:])
    assert alarms <= 4


def test_a_level_shift_alarms_at_its_onset_not_on_every_point_after():
    results = scored(noise(400) + [v + 30 for v in noise(200, seed=6)])
    after = [r.is_anomaly for r in results[400:]]
    assert any(after[:3])
    assert sum(after) < 20


def test_the_points_of_a_held_shift_after_its_alarm_are_ongoing_not_new_alarms():
    results = scored(noise(400) + [v + 30 for v in noise(20, seed=6)])
    run = results[400:]
    first = next(i for i, r in enumerate(run) if r.is_anomaly)
    assert first < 3
    # the shift goes on: its later points keep the incident open but raise no alarm of their own
    assert sum(r.ongoing for r in run[first + 1 :]) >= 10
    assert not any(r.ongoing for r in results[100:400])


def test_a_spike_train_is_one_alarm_that_goes_on_and_a_later_one_alarms_again():
    values = noise(800)
    for i in range(600, 640, 4):
        values[i] += 12
    values[760] += 12
    results = scored(values)
    spikes = [results[i] for i in range(600, 640, 4)]
    assert spikes[0].is_anomaly
    # the spikes after the first go on with the anomaly: not each an alarm, but not over either
    assert all(r.is_anomaly or r.ongoing for r in spikes)
    assert sum(r.is_anomaly for r in spikes) < len(spikes)
    # the same spike after the train has faded is news again
    assert results[760].is_anomaly


def test_a_shift_of_3_sigma_is_caught_by_the_level_detector():
    results = scored(noise(600) + [v + 3.0 for v in noise(40, seed=8)])
    alarms = [r for r in results[600:610] if r.is_anomaly]
    assert alarms
    assert sum(r.is_anomaly for r in results[300:600]) <= 1


def test_no_anomaly_during_warm_up_however_extreme():
    values = noise(20) + [1e6]
    assert scored(values, warmup=10)[-1].is_anomaly
    assert not any(r.is_anomaly for r in scored(values, warmup=30))


def test_verdicts_are_the_same_at_any_scale_and_offset():
    base = noise(300) + [58.0] + noise(50, seed=9)
    a, b = scored(base), scored([1000 * v + 7 for v in base])
    assert [r.is_anomaly for r in a] == [r.is_anomaly for r in b]
    assert any(r.is_anomaly for r in a)
    assert abs(a[300].score - b[300].score) < 0.02


def test_the_band_holds_the_usual_values_and_follows_the_level():
    results = scored(noise(2000))
    values = noise(2000)[500:]
    inside = sum(r.lower <= v <= r.upper for r, v in zip(results[500:], values, strict=True))
    assert inside == 1500
    assert all(abs(r.expected - 50) < 0.5 for r in results[500:])


def test_a_repeat_that_does_not_clearly_beat_the_recent_peak_is_halved():
    state = SeriesState()
    first = damp_repeats(10.0, state, decay=0.99)
    assert damp_repeats(10.0, state, decay=0.99) == first / 2
    # far out, where scores saturate, a clear escalation still counts
    assert damp_repeats(10.6, state, decay=0.99) > first


def test_each_clear_escalation_alarms_though_scores_saturate_near_one():
    # spikes of 8, 12, 18, ... sigma: each evidently rarer than the last; compared on the score
    # (0.98, 0.99, 1.0, ...) no escalation could beat the peak by 5% after the fourth
    rng = random.Random(1)
    values = [50 + rng.gauss(0, 1) for _ in range(600)]
    for i in range(10):
        values += [50 + 8 * 1.5**i, 50 + rng.gauss(0, 1)]
    spikes = scored(values)[600::2]
    assert sum(r.is_anomaly for r in spikes) >= 8


def test_the_combiner_refuses_a_detector_whose_role_it_has_no_weight_for():
    class Mystery(ZScoreDetector):
        name, role = "mystery", "oracle"

    with pytest.raises(ValueError, match="mystery"):
        Scorer([Mystery()], threshold=0.7, window_size=5, warmup_points=30, model_version="t")
    with pytest.raises(ValueError, match="zscore"):
        Scorer(
            [ZScoreDetector()],
            threshold=0.7,
            window_size=5,
            warmup_points=30,
            model_version="t",
            role_weights={"level": 1.0},
        )
    with pytest.raises(ValueError, match="long-memory"):
        Scorer(
            [RecordDetector(), RecordDetector()],
            threshold=0.7,
            window_size=5,
            warmup_points=30,
            model_version="t",
        )


def test_every_detector_scores_and_the_driver_is_one_of_them():
    results = scored(noise(400) + [80.0])
    spike = results[-1]
    names = {d.name for d in build_scorer(Settings(_env_file=None)).detectors}
    assert set(spike.detector_scores) == names
    assert spike.driver.split(":")[0] in names


def test_a_metric_rule_lets_only_its_direction_and_size_alarm():
    rules = '[{"pattern": "cpu_*", "direction": "up", "min_deviation": 12}]'
    scorer = build_scorer(Settings(_env_file=None, metric_rules=rules))

    def last(metric, spike):
        state = SeriesState()
        values = [*noise(2000), 50.0 + spike]
        verdicts = [
            scorer.score_and_learn(state, v, T0 + i * timedelta(minutes=1), metric)
            for i, v in enumerate(values)
        ]
        return verdicts[-1]

    assert last("cpu_usage", 15.0).is_anomaly
    dip, small = last("cpu_usage", -15.0), last("cpu_usage", 9.0)
    assert not dip.is_anomaly and not small.is_anomaly
    # scored and explained the same: only the verdict follows the rule
    assert dip.score >= 0.7 and small.score >= 0.7
    # a metric no rule names alarms both ways
    assert last("latency_ms", -15.0).is_anomaly and last("latency_ms", 9.0).is_anomaly


def test_a_sparse_counter_is_judged_in_its_own_steps_not_by_a_window_of_zeros():
    # errors a minute, mostly 0 and about one minute in 20 a 1 (Poisson 0.05): after a run of 64
    # zeros the recent window has no spread at all, yet a 1 is what this counter does every day
    rng = random.Random(3)
    values = []
    for _ in range(12_000):
        # Poisson(0.05) by inversion
        u, k, p = rng.random(), 0, math.exp(-0.05)
        cumulative = p
        while u > cumulative:
            k += 1
            p *= 0.05 / k
            cumulative += p
        values.append(float(k))
    verdicts = scored(values)[500:]
    ones = [v for x, v in zip(values[500:], verdicts, strict=True) if x == 1.0]
    assert len(ones) > 400
    # the point detectors judge a 1 in the counter's own steps (a 64-zero window alone would
    # make it a billion robust units); what alarms at all is a rare run of 1s (level, shape)
    point_alarms = [v.driver for v in ones if v.is_anomaly and v.driver.startswith(("mad", "iqr"))]
    assert point_alarms == []
    assert sum(v.is_anomaly for v in ones) <= len(ones) // 50
    # and a burst of errors far beyond its steps still alarms
    burst = scored(values[:3000] + [12.0])
    assert burst[-1].is_anomaly
