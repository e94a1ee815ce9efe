"""Daily and weekly patterns do not alarm once learnt; a change of the pattern does."""

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from stream import seasonality
from stream.config import Settings
from stream.ensemble import build_scorer
from stream.features import SeriesState

START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday


def business_hours(ts: datetime, rng: random.Random) -> float:
    busy = ts.weekday() < 5 and 9 <= ts.hour < 18
    return (80.0 if busy else 20.0) + rng.gauss(0, 2)


def feed(days: int, value_at, step_minutes: int = 10):
    rng = random.Random(1)
    scorer, state = build_scorer(Settings(_env_file=None)), SeriesState()
    results = []
    for i in range(days * 24 * 60 // step_minutes):
        ts = START + timedelta(minutes=i * step_minutes)
        results.append((ts, scorer.score_and_learn(state, value_at(ts, rng), ts)))
    return scorer, state, results


def test_the_business_hours_step_stops_alarming_once_learnt():
    # the weekly profile is trusted once every hour of the week has been seen twice (two
    # weeks), then phased in: by the fourth week the weekday/weekend pattern is no news
    _, state, results = feed(28, business_hours)
    fourth_week = [r for ts, r in results if ts >= START + timedelta(days=21)]
    assert not any(r.is_anomaly for r in fourth_week)
    assert seasonality.active_profile(state.season) == "weekly"


def test_a_step_at_an_hour_the_pattern_does_not_expect_alarms():
    def shifted(ts, rng):
        if ts >= START + timedelta(days=21) and ts.hour in (2, 3):
            return 80.0 + rng.gauss(0, 2)  # a nightly peak nobody has seen before
        return business_hours(ts, rng)

    _, _, results = feed(22, shifted)
    night = [r for ts, r in results if ts >= START + timedelta(days=21) and ts.hour == 2]
    assert any(r.is_anomaly for r in night)


@pytest.mark.parametrize("seconds", [10, 60, 300, 3600])
def test_a_learnt_smooth_daily_curve_is_followed_at_any_interval_without_hourly_steps(seconds):
    """At every sampling interval the component follows a smooth daily curve, including the first
    minutes of each hour (a profile that remembered points instead of days held only the end of
    each hour at 1-minute data, and its component jumped on every hour)."""

    def curve(ts):
        hours = ts.hour + ts.minute / 60 + ts.second / 3600
        return 30 * math.sin(2 * math.pi * (hours - 6) / 24)

    state = seasonality.new_state()
    step = timedelta(seconds=seconds)
    days = 12
    for i in range(days * 86_400 // seconds):
        ts = START + i * step
        seasonality.learn(state, ts, 50 + curve(ts))
    assert seasonality.active_profile(state) == "daily"
    errors = []
    for minute in range(0, 24 * 60, max(5, seconds // 60)):  # at times the series is sampled
        ts = START + timedelta(days=days, minutes=minute)
        errors.append(abs(seasonality.seasonal_component(state, ts) - curve(ts)))
    assert max(errors) < 0.05 * 30


def test_without_a_pattern_no_profile_is_used():
    _, state, _ = feed(10, lambda ts, rng: 50.0 + rng.gauss(0, 2))
    assert seasonality.active_profile(state.season) is None
    assert len(str(state.season)) < 6 * 1024
