"""A batch of points scored in one compiled loop over the rows of their series.

`Engine.score_batch(keys, values, epochs)` takes a batch as arrays (the series key, the value and
the epoch seconds of each point, in arrival order: a series' points in time order) and returns
each point's signal (the value less its seasonal component), its score by each of `DETECTORS` and
the record detector's evidence (`Scored`), as the Python path computes them (`reference`),
learning every point into its series' row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit

from stream.engine import ewz, flatline, hst, pattern, record, robust, season, window
from stream.engine.store import SeriesStore, row_dtype

#: the columns of the scores `score_batch` returns
DETECTORS = (
    "zscore",
    "mad",
    "iqr",
    "shift",
    "volatility",
    "flatline",
    "hst",
    "pattern",
    "record",
)
_COMPONENTS = (season, ewz, robust, flatline, hst, pattern, record)


@njit(cache=True)
def _score_rows(rows, slots, values, epochs, signals, scores, record_l) -> None:
    own = np.empty(3)
    scratch = np.empty(max(ewz.SHIFT_SPAN, ewz.VOLATILITY_SPAN, rows[0].win.shape[0] + 1))
    paths = np.empty((hst._N_TREES, hst._HEIGHT + 1), dtype=np.int64)
    subsequence = np.empty(pattern.LENGTH, dtype=np.uint8)
    pattern_work = np.empty(2 * pattern.MEMORY * pattern.LENGTH, dtype=np.uint8)
    measured = np.empty(record._M)
    recent = np.empty(record._RECENT)
    partials = np.empty(max(rows[0].win.shape[0], record._RECENT) + 2)
    for i in range(len(slots)):
        r = rows[slots[i]]
        value, epoch = values[i], epochs[i]
        signal = value - season.component(r, epoch)
        n = r.hist_n
        ordered = r.hist_sorted
        resolution = 0.0 if np.isnan(r.resolution) else r.resolution
        if n > 0:
            center, spread = window.center_spread(ordered, n, resolution)
        else:
            center, spread = value, 1.0
        long_spread = np.sqrt(r.long_var)
        out = scores[i]
        robust.score(ordered, n, signal, center, spread, long_spread, resolution, own)
        out[1], out[2] = own[0], own[1]
        ewz.score_and_learn(r, signal, own, scratch)
        out[0], out[3], out[4] = own[0], own[1], own[2]
        lag1 = r.win[r.win_n - 1] if r.win_n > 0 else value
        out[5] = flatline.score_and_learn(r, flatline.still(value, lag1, spread, n > 0, resolution))
        std = window.window_std(r, value, scratch, partials)
        out[6] = hst.score_and_learn(
            r, (signal - center) / spread, (value - lag1) / spread, std / spread, paths
        )
        out[7] = pattern.score_and_learn(r, signal, center, spread, subsequence, pattern_work)
        hour = (int(np.floor(epoch)) % 86_400) // 3600
        out[8], record_l[i] = record.score_and_learn(
            r, value, lag1, hour, measured, recent, partials
        )
        season.learn(r, epoch, value)
        window.push(r, value, signal)
        signals[i] = signal


@dataclass(frozen=True, slots=True)
class Scored:
    """What a batch's points scored, one entry (row) a point."""

    #: the value less its seasonal component
    signals: np.ndarray
    #: the score of each of `DETECTORS` (columns), in [0, 1)
    scores: np.ndarray
    #: the record detector's score as evidence (`RecordDetector.l_value`)
    record_l: np.ndarray


class Engine:
    """The compiled scorer of every series of one worker (`window_size`: the setting)."""

    def __init__(self, window_size: int, capacity: int = 1024) -> None:
        fields = window.fields(window_size)
        initial = dict(window.INITIAL)
        for component in _COMPONENTS:
            fields += component.FIELDS
            initial.update(component.INITIAL)
        self.store = SeriesStore(row_dtype(fields), initial, capacity)

    def score_batch(self, keys: Sequence[str], values: np.ndarray, epochs: np.ndarray) -> Scored:
        """The batch's scores; every point learnt. Raises ValueError where the three inputs
        differ in length."""
        values = np.ascontiguousarray(values, dtype=np.float64)
        epochs = np.ascontiguousarray(epochs, dtype=np.float64)
        if not len(keys) == len(values) == len(epochs):
            raise ValueError("keys, values and epochs must have one entry a point")
        slots = self.store.slots(keys)
        signals = np.empty(len(values))
        scores = np.empty((len(values), len(DETECTORS)))
        record_l = np.empty(len(values))
        _score_rows(self.store.buffer, slots, values, epochs, signals, scores, record_l)
        return Scored(signals, scores, record_l)
