"""The compiled engine scores exactly as the Python path it reproduces, series by series."""

from datetime import UTC, datetime

import numpy as np
import pytest

from stream.config import Settings
from stream.detectors.record import RecordDetector
from stream.engine import record
from stream.engine.combine import (
    DIRECTION,
    EXPECTED,
    FEATURES,
    IS_ANOMALY,
    LOWER,
    ONGOING,
    SCORE,
    UPPER,
)
from stream.engine.core import DETECTORS, Engine
from stream.engine.reference import score_series
from stream.engine.store import SeriesStore, row_dtype
from stream.ensemble import build_engine, build_scorer
from stream.features import SeriesState, window_features

MONDAY = 1_767_571_200.0  # 2026-01-05 00:00 UTC
_SETTINGS = {"threshold": 0.7, "warmup_points": 30}


def _series(kind: str, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, values) of a series an EMS sends: each kind exercises another path."""
    rng = np.random.default_rng(seed)
    step, n = {
        "daily": (60, 6000),
        "office": (300, 3000),
        "counts": (10, 4000),
        "weekly": (3600, 1500),
        "gauge": (3600, 1200),
        "long": (60, 20_000),
    }[kind]
    t = MONDAY + np.arange(n) * float(step)
    hours, weekday = (t % 86_400) / 3600, ((t // 86_400) + 3) % 7
    if kind == "daily":  # a smooth daily curve, heavy-tailed noise: the linear reading
        v = 50 + 20 * np.sin(2 * np.pi * hours / 24) + rng.standard_t(4, n)
    elif kind == "office":  # steps on the hour: the step reading
        v = 10 + 30 * ((hours >= 9) & (hours < 17)) + rng.normal(0, 1, n)
    elif kind == "counts":  # sparse counts: a flat history, the resolution floors
        v = rng.poisson(0.3, n).astype(float)
    elif kind == "weekly":  # business hours on weekdays only: the daily profile, then the weekly
        v = 10 + 20 * (weekday < 5) * ((hours >= 9) & (hours < 17)) + rng.normal(0, 1, n)
    elif kind == "long":  # old enough for the record memory's blocks to merge (at 16,384)
        v = 100 + rng.normal(0, 1, n)
    else:  # a quantised gauge with a spike and a stuck stretch
        v = np.round(rng.normal(100, 5, n), 1)
        v[600] += 80
        v[800:860] = v[799]
    return t, v


@pytest.mark.parametrize("kind", ["daily", "office", "counts", "weekly", "gauge", "long"])
def test_the_engine_scores_a_series_exactly_as_the_python_path(kind):
    epochs, values = _series(kind)
    engine = Engine(window_size=5, **_SETTINGS)
    got = engine.score_batch([kind] * len(values), values, epochs)
    want_signals, want_scores = score_series(list(values), list(epochs), window_size=5)
    assert got.signals.tolist() == want_signals
    assert got.scores.tolist() == want_scores
    assert got.scores.shape == (len(values), len(DETECTORS))
    if kind == "long":  # the blocks merged once: twice the first size, half the ring after it
        row = engine.store.rows[0]
        assert row["record_block"] == 512 and row["record_slot"] > 16


def test_the_seasonal_paths_are_exercised():
    # without a profile in use the equality above would not cover the component
    engine = Engine(window_size=5, **_SETTINGS)
    for kind in ("daily", "weekly"):
        epochs, values = _series(kind)
        engine.score_batch([kind] * len(values), values, epochs)
    active, previous = engine.store.rows["season_active"], engine.store.rows["season_previous"]
    assert active.tolist() == [0, 1]  # daily, weekly
    assert previous.tolist() == [-1, 0]  # the weekly series used the daily profile first


def test_interleaved_series_in_uneven_batches_score_as_each_alone():
    kinds = ("daily", "counts", "gauge")
    data = {k: _series(k, seed=3) for k in kinds}
    n = min(len(v) for _, v in data.values())
    keys = [k for i in range(n) for k in kinds]
    values = np.array([data[k][1][i] for i in range(n) for k in kinds])
    epochs = np.array([data[k][0][i] for i in range(n) for k in kinds])
    engine = Engine(window_size=5, capacity=1, **_SETTINGS)  # grows twice on the way
    parts, start = [], 0
    for size in (1, 7, 500, len(keys)):
        sl = slice(start, start + size)
        parts.append(engine.score_batch(keys[sl], values[sl], epochs[sl]).scores)
        start += size
    scores = np.concatenate(parts)
    for j, kind in enumerate(kinds):
        alone = Engine(window_size=5, **_SETTINGS).score_batch(
            [kind] * n, data[kind][1][:n], data[kind][0][:n]
        )
        assert scores[j :: len(kinds)].tolist() == alone.scores.tolist()


def test_the_window_is_as_long_as_the_setting():
    # scoring with another window size compiles the loop again (half a minute), so the scores
    # are held to the Python path at the default size and the layout to the setting here; the
    # ring's code reads its size from the row
    for size in (2, 12, 256):
        assert Engine(window_size=size, **_SETTINGS).store.dtype["win"].shape == (size - 1,)


def test_a_batch_whose_arrays_differ_in_length_is_refused():
    with pytest.raises(ValueError, match="one entry a point"):
        Engine(window_size=5, **_SETTINGS).score_batch(
            ["a", "b"], np.array([1.0]), np.array([0.0, 1.0])
        )


def test_a_field_declared_twice_is_refused():
    with pytest.raises(ValueError, match="declared twice"):
        row_dtype([("n", "i8", ()), ("n", "f8", ())])


def test_a_new_row_starts_at_its_fields_initial_values_after_the_store_grows():
    store = SeriesStore(row_dtype([("n", "i8", ()), ("last", "f8", ())]), {"last": np.nan}, 1)
    store.buffer[store.slots(["a"])[0]]["n"] = 7  # a row before the store grows
    slots = store.slots(["a", "b", "c"])
    assert slots.tolist() == [0, 1, 2]
    assert store.rows["n"].tolist() == [7, 0, 0]
    assert np.isnan(store.rows["last"][1:]).all()


def _scorer_verdicts(values, epochs, settings):
    scorer, state = build_scorer(settings), SeriesState()
    return [
        scorer.score_and_learn(state, float(v), datetime.fromtimestamp(float(e), tz=UTC))
        for v, e in zip(values, epochs, strict=True)
    ]


@pytest.mark.parametrize("kind", ["daily", "office", "counts", "weekly", "gauge", "long"])
def test_the_engine_gives_every_point_the_scorers_verdict(kind):
    epochs, values = _series(kind)
    settings = Settings(_env_file=None)
    engine = build_engine(settings)
    got = engine.score_batch([kind] * len(values), values, epochs)
    want = _scorer_verdicts(values, epochs, settings)
    v = got.verdicts
    assert v[:, SCORE].tolist() == [p.score for p in want]
    assert v[:, IS_ANOMALY].astype(bool).tolist() == [p.is_anomaly for p in want]
    assert v[:, ONGOING].astype(bool).tolist() == [p.ongoing for p in want]
    assert [got.driver(i) for i in range(len(want))] == [p.driver for p in want]
    none = float("nan")
    for column, name in ((EXPECTED, "expected"), (LOWER, "lower"), (UPPER, "upper")):
        expected = [none if getattr(p, name) is None else getattr(p, name) for p in want]
        assert np.array_equal(v[:, column], expected, equal_nan=True)
    directions = {None: 0.0, "above": 1.0, "below": -1.0}
    assert v[:, DIRECTION].tolist() == [directions[p.direction] for p in want]
    assert any(p.is_anomaly for p in want) or kind in ("office", "weekly", "long")


def test_a_metric_rule_lets_only_what_the_scorer_lets_alarm():
    epochs, values = _series("gauge")  # a spike up at 600, a stuck stretch
    values = values.copy()
    values[700] -= 80  # and a dip
    rules = '[{"pattern": "cpu_*", "direction": "up", "min_deviation": 30}]'
    settings = Settings(_env_file=None, metric_rules=rules)
    engine = build_engine(settings)
    separate = {}
    for metric in ("cpu_usage", "memory_usage"):
        got = engine.score_batch([metric] * len(values), values, epochs, [metric] * len(values))
        scorer, state = build_scorer(settings), SeriesState()
        want = [
            scorer.score_and_learn(state, float(v), datetime.fromtimestamp(e, tz=UTC), metric)
            for v, e in zip(values, epochs, strict=True)
        ]
        flagged = got.verdicts[:, IS_ANOMALY].astype(bool)
        assert flagged.tolist() == [p.is_anomaly for p in want]
        assert flagged[600] and flagged[700] == (metric == "memory_usage")
        separate[metric] = flagged
    # one batch of both metrics and one of none, interleaved: each point under its own rule
    n = len(values)
    mixed = (
        engine.score_batch(
            [m for _ in range(n) for m in ("cpu_usage*", "memory_usage*", "none*")],
            np.repeat(values, 3),
            np.repeat(epochs, 3),
            [m for _ in range(n) for m in ("cpu_usage", "memory_usage", None)],
        )
        .verdicts[:, IS_ANOMALY]
        .astype(bool)
    )
    assert mixed[0::3].tolist() == separate["cpu_usage"].tolist()
    assert mixed[1::3].tolist() == separate["memory_usage"].tolist()
    assert mixed[2::3].tolist() == separate["memory_usage"].tolist()  # no rule: as memory's


@pytest.mark.parametrize("kind", ["daily", "weekly", "gauge"])
def test_the_forecaster_and_the_capacity_line_learn_as_the_scorers(kind):
    epochs, values = _series(kind)
    settings = Settings(_env_file=None)
    engine = build_engine(settings)
    engine.score_batch([kind] * len(values), values, epochs)
    scorer, state = build_scorer(settings), SeriesState()
    for v, e in zip(values, epochs, strict=True):
        scorer.score_and_learn(state, float(v), datetime.fromtimestamp(float(e), tz=UTC))
    row = engine.store.rows[0]
    f = state.forecast
    assert row["forecast_n"] == f["n"] and row["forecast_wake"] == f["wake"]
    for name in ("level", "trend", "checks", "mse", "mae", "next", "due", "base"):
        assert row[f"forecast_{name}"].tolist() == f[name], name
    for name in ("last", "first", "s0", "st", "stt", "sy", "sty", "syy", "q0", "qt", "qtt"):
        assert row[f"trend_{name}"] == state.trend[name], name


def _same(a, b, where="state"):
    """Equal to the bit and of the same types, arrays by dtype and content, NaN equal to NaN."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray), where
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert np.array_equal(a, b, equal_nan=True), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), (where, set(a) ^ set(b))
        for key in a:
            _same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    else:
        assert type(a) is type(b), (where, type(a), type(b))
        assert a == b or (a != a and b != b), (where, a, b)


def _python_state(values, epochs, settings, upto=None):
    scorer, state = build_scorer(settings), SeriesState()
    for v, e in list(zip(values, epochs, strict=True))[:upto]:
        scorer.score_and_learn(state, float(v), datetime.fromtimestamp(float(e), tz=UTC))
        state.last_ts_ms = int(float(e) * 1000)  # what `pipeline.apply_point` records
    # a run tail's cluster maximum is absent until its first excess, which means 0 (`observe_run`);
    # the row always holds it
    state.tail["shape"].setdefault("cmax", 0.0)
    return scorer, state


@pytest.mark.parametrize("kind", ["daily", "weekly", "gauge", "long"])
def test_a_row_gives_back_the_state_the_python_scorer_holds(kind):
    epochs, values = _series(kind)
    settings = Settings(_env_file=None)
    engine = Engine(**_SETTINGS, window_size=settings.window_size)
    engine.score_batch([kind] * len(values), values, epochs)
    _, want = _python_state(values, epochs, settings)
    got = engine.dump(kind)
    for name in SeriesState.__slots__:
        _same(getattr(got, name), getattr(want, name), name)


@pytest.mark.parametrize("kind", ["daily", "counts", "weekly"])
def test_a_python_state_loaded_scores_on_as_the_python_scorer(kind):
    epochs, values = _series(kind)
    settings = Settings(_env_file=None)
    half = len(values) // 2
    scorer, state = _python_state(values, epochs, settings, upto=half)
    engine = Engine(**_SETTINGS, window_size=settings.window_size)
    engine.load(kind, state)
    got = engine.score_batch([kind] * (len(values) - half), values[half:], epochs[half:])
    want = [
        scorer.score_and_learn(state, float(v), datetime.fromtimestamp(float(e), tz=UTC))
        for v, e in zip(values[half:], epochs[half:], strict=True)
    ]
    assert got.verdicts[:, SCORE].tolist() == [p.score for p in want]
    assert [got.driver(i) for i in range(len(want))] == [p.driver for p in want]


def test_a_fresh_series_dumps_as_a_fresh_state_and_an_unseen_one_is_refused():
    engine = Engine(window_size=5, **_SETTINGS)
    engine.load("new", SeriesState())
    assert engine.dump("new", model_version="m1") == SeriesState(model_version="m1")
    with pytest.raises(KeyError):
        engine.dump("never")


def test_a_record_led_score_names_the_measurement_the_record_detector_names():
    # every set of measurements at a record (the long series above lead by the value only)
    detector = RecordDetector()
    x = window_features(1.0, [0.0])
    for flags in range(32):
        records = [bool(flags & (1 << bit)) for bit in range(5)]
        detector._explained = (x, records)
        assert FEATURES[record.feature(flags)] == detector.driver(x), flags


def test_the_engines_verdicts_as_point_scores_are_the_scorers_but_for_the_features():
    epochs, values = _series("daily")
    settings = Settings(_env_file=None)
    got = build_engine(settings).score_batch(["s"] * len(values), values, epochs)
    want = _scorer_verdicts(values, epochs, settings)
    verdicts = got.verdicts_of([p.model_version for p in want])
    assert [v._replace(features=None) for v in verdicts] == [
        p._replace(features=None) for p in want
    ]
    assert any(p.is_anomaly for p in want) and any(p.direction for p in want)


def test_verdicts_are_only_built_for_points_that_scored():
    engine = Engine(threshold=0.7, window_size=5, warmup_points=2)
    got = engine.score_batch(["s", "s"], np.array([1.0, 2.0]), np.array([10.0, 5.0]))
    with pytest.raises(ValueError, match="only entries that scored"):
        got.verdicts_of(["m", "m"])
    assert len(got.take([0]).verdicts_of(["m"])) == 1
