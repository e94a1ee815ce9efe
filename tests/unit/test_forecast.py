"""The online forecaster on series whose future is known."""

import math
from datetime import UTC, datetime, timedelta

import numpy as np

from stream import forecast, seasonality, state_codec
from stream.features import SeriesState

T0 = datetime(2026, 3, 2, tzinfo=UTC)
STEP = 300.0  # 5-minute data
PER_DAY = 288


def daily_shape(i: int) -> float:
    return 50.0 + 20.0 * math.sin(2 * math.pi * (i % PER_DAY) / PER_DAY)


def learn_series(values, start=0, season=None, state=None):
    season = season or seasonality.new_state()
    state = state or forecast.new_state()
    for i, v in enumerate(values, start):
        ts = T0 + timedelta(seconds=STEP * i)
        component = seasonality.seasonal_component(season, ts)
        forecast.learn(state, float(v), component, season)
        seasonality.learn(season, ts, float(v))
    return season, state, ts


def test_a_known_daily_shape_is_forecast_a_day_ahead_closer_than_seasonal_naive():
    rng = np.random.default_rng(1)
    days = 16
    n = days * PER_DAY
    truth = np.array([daily_shape(i) for i in range(n + PER_DAY)])
    noisy = truth + rng.normal(0, 1.0, n + PER_DAY)
    season, state, last = learn_series(noisy[:n])
    ahead = forecast.predict(state, season, last, STEP, list(range(1, PER_DAY + 1)))
    predicted = np.array([p.value for p in ahead])
    actual = noisy[n : n + PER_DAY]
    ours = np.abs(predicted - actual).mean()
    seasonal_naive = np.abs(noisy[n - PER_DAY : n] - actual).mean()
    assert ours < seasonal_naive, (ours, seasonal_naive)
    assert ours < 1.5  # the noise alone makes 0.8
    inside95 = np.mean([p.lower95 <= a <= p.upper95 for p, a in zip(ahead, actual, strict=True)])
    inside80 = np.mean([p.lower80 <= a <= p.upper80 for p, a in zip(ahead, actual, strict=True)])
    assert 0.88 <= inside95 <= 1.0, inside95
    assert 0.65 <= inside80 <= 0.97, inside80
    assert ahead[0].timestamp == last + timedelta(seconds=STEP)


def test_intervals_widen_with_the_horizon_on_a_wandering_series():
    rng = np.random.default_rng(2)
    walk = 100 + np.cumsum(rng.normal(0, 1.0, 6000))
    season, state, last = learn_series(walk)
    near, far = forecast.predict(state, season, last, STEP, [1, 256])
    assert far.upper95 - far.lower95 > 5 * (near.upper95 - near.lower95)
    assert near.calibrated and far.calibrated


def test_a_horizon_beyond_every_checked_rung_says_it_is_not_calibrated():
    rng = np.random.default_rng(3)
    season, state, last = learn_series(50 + rng.normal(0, 1, 400))
    (near, far) = forecast.predict(state, season, last, STEP, [1, 4000])
    assert near.calibrated and not far.calibrated
    assert far.upper95 - far.lower95 >= near.upper95 - near.lower95


def test_a_young_series_has_no_forecast_yet():
    season, state, last = learn_series([1.0, 2.0, 3.0])
    assert forecast.predict(state, season, last, STEP, [1, 10]) == []


def test_a_stored_forecaster_forecasts_as_the_one_in_memory():
    rng = np.random.default_rng(4)
    season, state, last = learn_series(20 + rng.normal(0, 1, 800))
    stored = state_codec.decode(state_codec.encode(SeriesState(forecast=state, season=season)))
    before = forecast.predict(state, season, last, STEP, [1, 50])
    after = forecast.predict(stored.forecast, stored.season, last, STEP, [1, 50])
    assert before == after


def test_on_heavy_tailed_noise_the_80_and_95_percent_bands_hold_what_they_say():
    # Student-t(3) noise: its large misses would make a Gaussian 80% band from the variance
    # cover about 90%; the 80% band is set by the typical miss (the absolute error) instead
    rng = np.random.default_rng(5)
    values = 100 + rng.standard_t(3, 12_000)
    season, state, last = learn_series(values[:4000])
    inside80 = inside95 = 0
    for i, v in enumerate(values[4000:], 4000):
        (ahead,) = forecast.predict(state, season, last, STEP, [1])
        inside80 += ahead.lower80 <= v <= ahead.upper80
        inside95 += ahead.lower95 <= v <= ahead.upper95
        season, state, last = learn_series([v], start=i, season=season, state=state)
    n = len(values) - 4000
    assert 0.76 <= inside80 / n <= 0.86, inside80 / n
    assert 0.93 <= inside95 / n <= 0.98, inside95 / n
