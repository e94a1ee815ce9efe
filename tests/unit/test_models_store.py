"""Training from history: refusals that name the series, snapshots that round-trip."""

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from stream import models_store
from stream.config import Settings
from stream.ensemble import build_scorer
from stream.features import SeriesState
from stream.history import History

T0 = datetime(2026, 2, 1, tzinfo=UTC)


def rows(asset=1, metric="cpu", n=200, bad=None):
    rng = random.Random(asset)
    out = [(asset, metric, T0 + timedelta(minutes=i), 50 + rng.gauss(0, 1)) for i in range(n)]
    if bad is not None:
        out[10] = (*out[10][:3], bad)
    return out


def test_no_history_is_refused():
    with pytest.raises(models_store.TrainingError, match="no metrics"):
        models_store.check_history(History.of_rows([]), 100)


def test_too_few_points_and_non_finite_values_name_each_series():
    history = rows(1, "cpu", 200) + rows(2, "mem", 40) + rows(3, "lat", 200, bad=math.nan)
    with pytest.raises(models_store.TrainingError) as e:
        models_store.check_history(History.of_rows(history), 100)
    assert "2/mem: 40 points, fewer than 100" in str(e.value)
    assert "3/lat: 1 NaN or infinite values" in str(e.value)
    assert "1/cpu" not in str(e.value)


def test_a_trained_model_is_warm_and_round_trips_through_its_file(tmp_path):
    history = models_store.check_history(
        History.of_rows(rows(1, "cpu", 300) + rows(2, "mem", 300)), 100
    )
    model = models_store.train(history, build_scorer(Settings(_env_file=None)), contamination=0.1)
    assert model.samples == 600 and set(model.states) == {"1/cpu", "2/mem"}
    assert 0 <= model.quality["threshold_at_contamination"] <= model.quality["score_p99"] + 1e-9
    path = models_store.save(model, tmp_path)
    header, states = models_store.load(path)
    assert header["version"] == model.version
    state = SeriesState.from_dict(states["1/cpu"])
    assert state.count == 300 and state.model_version == model.version
    assert state.partition is None and state.offset is None
    # warm: a spike right away is an anomaly, no warm-up needed
    verdict = build_scorer(Settings(_env_file=None)).score_and_learn(
        state, 90.0, T0 + timedelta(minutes=301)
    )
    assert verdict.is_anomaly and verdict.model_version == model.version
