"""The Python path the engine reproduces, built from the service's own modules.

`score_series` runs, point by point, the first half of `Scorer.score_and_learn` (the seasonal
component, the features, each of `core.DETECTORS`, then learning), so a test or a benchmark can
hold each detector of the engine to its Python original; the combination is held to the
`Scorer` itself. `outlooks_by_state` gives a batch's capacity outlooks as the worker made them
before it read them from the rows (`pipeline.batch_outlooks`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from stream import seasonality
from stream.engine.core import DETECTORS, Engine
from stream.ensemble import detectors
from stream.events import MetricPoint
from stream.features import SeriesState
from stream.pipeline import outlook_by_state
from stream.predictions import CapacityWatch, PredictionRef
from stream.scoring import point_features


def score_series(
    values: Sequence[float], epochs: Sequence[float], window_size: int
) -> tuple[list[float], list[list[float]]]:
    """(signals, scores by `DETECTORS`) of one series from its first point."""
    by_name = {d.name: d for d in detectors()}
    ordered = [by_name[name] for name in DETECTORS]
    state = SeriesState(season=seasonality.new_state())
    own = {d.name: d.new_state() for d in ordered}
    signals, scores = [], []
    for value, epoch in zip(values, epochs, strict=True):
        ts = datetime.fromtimestamp(epoch, tz=UTC)
        signal = value - seasonality.seasonal_component(state.season, ts)
        x = point_features(state, value, signal, ts)
        row = []
        for d in ordered:
            row.append(d.score_one(own[d.name], x))
            d.learn_one(own[d.name], x)
        seasonality.learn(state.season, ts, value)
        state.push(value, window_size, signal)
        signals.append(signal)
        scores.append(row)
    return signals, scores


def outlooks_by_state(
    engine: Engine, watch: CapacityWatch, last: Mapping[str, MetricPoint]
) -> list[PredictionRef]:
    """The outlook of each bounded series among `last` (a batch's last point of each series), as
    the worker made them before it read them from the rows: each by `outlook_by_state`."""
    refs = []
    for key, point in last.items():
        row = engine.store.buffer[engine.store.slot(key)]
        if (ref := outlook_by_state(watch, point, row, point.timestamp)) is not None:
            refs.append(ref)
    return refs
