"""`/anomaly/detect` scores with the current models: a trained series needs no warm-up."""

import random
from datetime import UTC, datetime, timedelta

from api.routes.detect import detect_in, starting_states
from stream import models_store
from stream.config import Settings
from stream.ensemble import build_scorer

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def history(n, start=T0):
    rng = random.Random(1)
    return [(5, "cpu", start + timedelta(minutes=i), 50 + rng.gauss(0, 1)) for i in range(n)]


def test_a_trained_series_catches_a_spike_in_the_first_points_of_the_range():
    scorer = build_scorer(Settings(_env_file=None))
    model = models_store.train(
        models_store.check_history(history(300), 100), scorer, contamination=0.1
    )
    report_from = T0 + timedelta(minutes=400)
    recent = [(5, "cpu", report_from + timedelta(minutes=i), v) for i, v in enumerate([50, 51, 95])]

    states = starting_states(model.states, report_from)
    scored, found = detect_in(recent, scorer, report_from, states)
    assert scored == 3
    assert [(a.value, a.model_version) for a in found] == [(95, model.version)]

    # without the model the same three points are only a warm-up
    assert detect_in(recent, scorer, report_from, {})[1] == []


def test_a_model_that_has_seen_the_range_is_not_used_for_it():
    scorer = build_scorer(Settings(_env_file=None))
    model = models_store.train(
        models_store.check_history(history(300), 100), scorer, contamination=0.1
    )
    assert starting_states(model.states, T0 + timedelta(minutes=100)) == {}
