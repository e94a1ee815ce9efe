"""The Python path the engine reproduces, built from the service's own modules.

`score_series` runs, point by point, the first half of `Scorer.score_and_learn` (the seasonal
component, the features, each of `core.DETECTORS`, then learning), so a test or a benchmark can
hold each detector of the engine to its Python original; the combination is held to the
`Scorer` itself.
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
) -> tuple[list[float], list[list[float]]]:
    """(signals, scores by `DETECTORS`) of one series from its first point."""
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
    signals, scores = [], []
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
            d.learn_one(own[d.name], x)
        seasonality.learn(state.season, ts, value)
        state.push(value, window_size, signal)
        signals.append(signal)
        scores.append(row)
    return signals, scores
