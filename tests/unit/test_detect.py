"""`/anomaly/detect` scores with the current models: a trained series needs no warm-up."""

import random
from datetime import UTC, datetime, timedelta

from api.routes.detect import detect_in, starting_states
from stream import models_store
from stream.config import Settings
from stream.demo_feed import synthetic_points
from stream.ensemble import build_scorer, engine_for
from stream.events import MetricPoint
from stream.features import SeriesState
from stream.history import History
from stream.replay import score_points

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def history(n, start=T0):
    rng = random.Random(1)
    return [(5, "cpu", start + timedelta(minutes=i), 50 + rng.gauss(0, 1)) for i in range(n)]


def test_a_trained_series_catches_a_spike_in_the_first_points_of_the_range():
    scorer = build_scorer(Settings(_env_file=None))
    model = models_store.train(
        models_store.check_history(History.of_rows(history(300)), 100), scorer, contamination=0.1
    )
    report_from = T0 + timedelta(minutes=400)
    recent = [(5, "cpu", report_from + timedelta(minutes=i), v) for i, v in enumerate([50, 51, 95])]

    states = starting_states(model.states, report_from)
    scored, found = detect_in(History.of_rows(recent), engine_for(scorer), report_from, states)
    assert scored == 3
    assert [(a.value, a.model_version) for a in found] == [(95, model.version)]

    # without the model the same three points are only a warm-up
    assert detect_in(History.of_rows(recent), engine_for(scorer), report_from, {})[1] == []


def test_a_model_that_has_seen_the_range_is_not_used_for_it():
    scorer = build_scorer(Settings(_env_file=None))
    model = models_store.train(
        models_store.check_history(History.of_rows(history(300)), 100), scorer, contamination=0.1
    )
    assert starting_states(model.states, T0 + timedelta(minutes=100)) == {}


def test_detect_finds_what_the_python_scorer_finds_from_a_trained_state():
    scorer = build_scorer(Settings(_env_file=None))
    points = [
        MetricPoint(asset_id=p.asset_id, metric=p.metric, timestamp=p.timestamp, value=p.value)
        for p in synthetic_points(assets=3, ticks=900, anomaly_probability=0.01, seed=5)
    ]
    rows = [(p.asset_id, p.metric, p.timestamp, p.value) for p in points]
    trained = [r for r in rows if r[2] < points[3000].timestamp]
    model = models_store.train(
        models_store.check_history(History.of_rows(trained), 100), scorer, contamination=0.1
    )
    report_from = points[6000].timestamp
    states = starting_states(model.states, report_from)
    scored, found = detect_in(History.of_rows(rows), engine_for(scorer), report_from, states)

    python_states = {k: SeriesState.from_dict(model.states[k]) for k in states}
    want = [
        (p.asset_id, p.metric, p.timestamp, v.score, v.driver, v.detector_scores, v.model_version)
        + (v.expected, v.lower, v.upper, v.direction)
        for p, v in score_points(points, scorer, python_states)
        if not isinstance(v, str) and p.timestamp >= report_from and v.is_anomaly
    ]
    got = [
        (a.asset_id, a.metric, a.timestamp, a.score, a.driver, a.detector_scores, a.model_version)
        + (a.expected, a.lower, a.upper, a.direction)
        for a in found
    ]
    assert got == want and len(want) > 3
    assert {a.model_version for a in found} == {model.version}
    assert scored == sum(1 for p in points if p.timestamp >= report_from)
