"""The Python path the engine reproduces, built from the service's own modules.

`score_series` runs, point by point, exactly the steps of `Scorer.score_and_learn` that the
engine has so far (the seasonal component, the features, the `core.DETECTORS`, then learning),
so a test or a benchmark can hold the engine to it without the parts it does not have yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from stream import seasonality
from stream.detectors.flatline import FlatlineDetector
from stream.detectors.hst import HalfSpaceTrees
from stream.detectors.pattern import PatternDetector
from stream.detectors.record import RecordDetector
from stream.detectors.robust import IQRDetector, MADDetector
from stream.detectors.zscore import LevelShiftDetector, VolatilityDetector, ZScoreDetector
from stream.engine.core import DETECTORS
from stream.features import SeriesState, window_features


def score_series(
    values: Sequence[float], epochs: Sequence[float], window_size: int
) -> tuple[list[float], list[list[float]], list[float]]:
    """(signals, scores by `DETECTORS`, the record detector's evidence) of one series from its
    first point."""
    detectors = {
        d.name: d
        for d in (
            ZScoreDetector(),
            MADDetector(),
            IQRDetector(),
            LevelShiftDetector(),
            VolatilityDetector(),
            FlatlineDetector(),
            HalfSpaceTrees(),
            PatternDetector(),
            RecordDetector(),
        )
    }
    ordered = [detectors[name] for name in DETECTORS]
    state = SeriesState(season=seasonality.new_state())
    own = {d.name: d.new_state() for d in ordered}
    signals, scores, record_l = [], [], []
    for value, epoch in zip(values, epochs, strict=True):
        ts = datetime.fromtimestamp(epoch, tz=UTC)
        signal = value - seasonality.seasonal_component(state.season, ts)
        x = window_features(
            value,
            state.window,
            signal=signal,
            history=tuple(state.history),
            long_run=state.long_run,
            hour=ts.hour,
            resolution=state.resolution or 0.0,
        )
        row = []
        for d in ordered:
            row.append(d.score_one(own[d.name], x))
            if d.role == "long_memory":
                record_l.append(d.l_value(own[d.name], row[-1]))
            d.learn_one(own[d.name], x)
        seasonality.learn(state.season, ts, value)
        state.push(value, window_size, signal)
        signals.append(signal)
        scores.append(row)
    return signals, scores, record_l
