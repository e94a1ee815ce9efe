"""The capacity trend line on fills whose crossing day is known."""

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from stream import capacity, seasonality
from stream.capacity import parse_capacity_rules

T0 = datetime(2026, 3, 2, tzinfo=UTC)
STEP = timedelta(minutes=5)
PER_DAY = 288


def watch(values, half_life_hours=24.0):
    """Learn `values` at 5-minute steps the way the scorer does; the states and the last time."""
    season, line = seasonality.new_state(), capacity.new_state()
    for i, v in enumerate(values):
        ts = T0 + i * STEP
        signal = v - seasonality.seasonal_component(season, ts)
        capacity.learn(line, ts, signal, half_life_hours)
        seasonality.learn(season, ts, v)
    return season, line, ts


def fill(days, per_day=4.0, start=50.0, noise=0.5, swing=0.0, seed=1):
    rng = np.random.default_rng(seed)
    i = np.arange(int(days * PER_DAY))
    daily = swing * np.sin(2 * math.pi * (i % PER_DAY) / PER_DAY)
    return start + per_day * i / PER_DAY + daily + rng.normal(0, noise, len(i))


def test_a_linear_fill_is_predicted_to_cross_on_the_known_day():
    # 50% rising 4 points a day reaches 90% on day 10; three days are seen
    season, line, now = watch(fill(3))
    seen = capacity.outlook(line, season, now, limit=90.0, horizon_hours=24 * 10)
    crossing = now + timedelta(hours=seen.hours_to_crossing)
    assert abs(crossing - (T0 + timedelta(days=10))) < timedelta(hours=12), crossing
    assert seen.slope_per_day == pytest.approx(4.0, rel=0.05)
    assert seen.probability > 0.95
    soon = capacity.outlook(line, season, now, limit=90.0, horizon_hours=24 * 3)
    assert soon.probability < 0.05


def test_the_daily_peak_crosses_long_before_the_trend_does():
    # 70% rising 1 point a day with a daily swing of 10 (peak at 06:00): the trend reaches 90% on
    # day 20, the daily peak on day 10; eight days are seen. The profile holds hour averages of
    # a trending series, so its peak reads a little low: within a day and a half
    season, line, now = watch(fill(8, per_day=1.0, start=70.0, swing=10.0))
    assert seasonality.active_profile(season) == "daily"
    seen = capacity.outlook(line, season, now, limit=90.0, horizon_hours=24 * 7)
    crossing = now + timedelta(hours=seen.hours_to_crossing)
    assert T0 + timedelta(days=9.5) <= crossing <= T0 + timedelta(days=11.5), crossing
    assert seen.probability > 0.95


def test_a_falling_or_flat_series_never_crosses():
    for per_day in (-3.0, 0.0):
        season, line, now = watch(fill(3, per_day=per_day))
        seen = capacity.outlook(line, season, now, limit=90.0, horizon_hours=24 * 7)
        assert seen.hours_to_crossing is None
        assert seen.probability < 0.01


def test_a_series_over_its_limit_is_crossing_now():
    season, line, now = watch(fill(1.5, per_day=0.0, start=95.0))
    seen = capacity.outlook(line, season, now, limit=90.0, horizon_hours=24)
    assert seen.hours_to_crossing == 0.0 and seen.probability == 1.0


def test_a_line_on_few_points_says_nothing():
    season, line, now = watch(fill(0.05))
    assert capacity.outlook(line, season, now, limit=90.0, horizon_hours=24) is None


def test_a_mornings_rise_in_the_first_day_is_no_trend():
    # a flat series with a daily swing of 30, seen from midnight to noon: steeply rising, but
    # less than a day cannot tell that from a trend, so nothing is said
    season, line, now = watch(fill(0.5, per_day=0.0, start=55.0, swing=30.0))
    assert capacity.outlook(line, season, now, limit=90.0, horizon_hours=24 * 7) is None
    season, line, now = watch(fill(3, per_day=0.0, start=55.0, swing=30.0))
    seen = capacity.outlook(line, season, now, limit=90.0, horizon_hours=24 * 7)
    assert seen.probability < 0.5


def test_capacity_rules_match_by_pattern_and_refuse_nonsense():
    rules = parse_capacity_rules('[{"pattern": "bandwidth_*", "capacity": 1000, "threshold": 0.8}]')
    assert rules.for_metric("bandwidth_in_mbps").limit == 800.0
    assert rules.for_metric("cpu_usage") is None
    for bad in ('[{"pattern": "x"}]', '[{"pattern": "x", "capacity": -1}]', "{", '{"a": 1}'):
        with pytest.raises(ValueError, match="CAPACITY_RULES"):
            parse_capacity_rules(bad)
