"""Per-series state and the rolling-window features of each point.

The state of a series is small and JSON-serialisable, because it is stored with the scores it
produced in every batch (`stream.sinks.state_store`): a few counters, the last `window_size`
values and each detector's own state.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field, fields

import numpy as np


@dataclass(frozen=True, slots=True)
class Features:
    """The features of one point, over the window that ends with it.

    >>> f = window_features(4.0, [1.0, 2.0, 3.0])
    >>> (f.value, f.mean, f.min, f.max, f.lag1)
    (4.0, 2.5, 1.0, 4.0, 3.0)
    >>> round(f.std, 4)
    1.118
    """

    value: float
    mean: float
    std: float
    min: float
    max: float
    lag1: float
    #: the value less its daily/weekly seasonal component (the value itself without seasonality)
    signal: float = 0.0
    #: the series' previous signals (up to HISTORY_SIZE), oldest first
    history: tuple[float, ...] = ()
    #: the same, sorted: what the robust detectors compare with
    recent: tuple[float, ...] = ()
    #: median of `recent`, and its robust standard deviation (1.4826 x MAD, floored above 0)
    center: float = 0.0
    spread: float = 1.0
    #: long-run (EW, about 330 points) standard deviation of the signals before this one
    long_spread: float = 0.0
    #: the smallest step between two different consecutive values the series has ever made
    resolution: float = 0.0
    #: hour of the day (0-23) of the point's timestamp; -1 where unknown
    hour: int = -1

    def as_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in ("value", "mean", "std", "min", "max", "lag1")}


# Previous signals kept per series for the robust (median/MAD, quartile) detectors.
HISTORY_SIZE = 64
# Weight of the newest signal in the long-run EW statistics (about the last 330 points).
LONG_RUN_ALPHA = 0.003


def ew_update(stats: dict, m: float, alpha: float) -> None:
    """Fold measurement `m` into the EW mean and variance in `stats` (keys n, mean, var); the
    first 1/alpha measurements weigh like a plain average."""
    n = stats["n"]
    if n == 0:
        stats["mean"], stats["var"] = m, 0.0
    else:
        a = max(alpha, 1.0 / (n + 1))
        delta = m - stats["mean"]
        stats["mean"] += a * delta
        stats["var"] = (1 - a) * (stats["var"] + a * delta * delta)
    stats["n"] = n + 1


def new_ew_stats() -> dict:
    return {"n": 0, "mean": 0.0, "var": 0.0}


_MAD_TO_SIGMA = 1.4826


def quantile(ordered: tuple[float, ...] | list[float], q: float) -> float:
    """Linear-interpolated quantile of sorted data (numpy's default method)."""
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def spread_floor(center: float, spread: float) -> float:
    """A flat history (spread 0) must not make the smallest change infinitely surprising: the
    spread is at least 0.1% of the level."""
    return max(spread, abs(center) * 1e-3, 1e-9)


def robust_center_spread(
    ordered: tuple[float, ...], resolution: float = 0.0
) -> tuple[float, float]:
    """Median and robust standard deviation (1.4826 x MAD) of sorted data.

    The spread is at least the data's resolution, the smallest gap between distinct values: a
    gauge that moves in steps of 1 cannot be judged more finely than 1, even when most of its
    recent values are equal and its MAD is 0. `resolution`: the series' own, over its whole life
    (a counter whose last 64 values were all 0 still moves in steps of 1).
    """
    median = quantile(ordered, 0.5)
    deviations = sorted(abs(v - median) for v in ordered)
    gaps = [b - a for a, b in zip(ordered, ordered[1:], strict=False) if b > a]
    resolution = max(resolution, min(gaps) if gaps else 0.0)
    return median, spread_floor(median, max(quantile(deviations, 0.5) * _MAD_TO_SIGMA, resolution))


def window_features(
    value: float,
    previous: list[float],
    *,
    signal: float | None = None,
    history: tuple[float, ...] = (),
    long_run: dict | None = None,
    hour: int = -1,
    resolution: float = 0.0,
) -> Features:
    """Features of `value` with the points before it in its window (population std).

    `previous` holds the older points of the window, oldest first; for a series's first point it is
    empty and lag-1 is the value itself. `long_run`: the series' EW statistics of its signals.
    """
    recent = tuple(sorted(history))
    center, spread = robust_center_spread(recent, resolution) if recent else (value, 1.0)
    window = [*previous, value]
    n = len(window)
    mean = math.fsum(window) / n
    variance = math.fsum((x - mean) ** 2 for x in window) / n
    return Features(
        value=value,
        mean=mean,
        std=math.sqrt(variance),
        min=min(window),
        max=max(window),
        lag1=previous[-1] if previous else value,
        signal=value if signal is None else signal,
        history=history,
        recent=recent,
        center=center,
        spread=spread,
        long_spread=math.sqrt(long_run["var"]) if long_run else 0.0,
        resolution=resolution,
        hour=hour,
    )


_ARRAY_TAG = "__ndarray__"


# State values are scalars, lists of scalars, numpy arrays, and dicts of those; the two functions
# below copy exactly that shape (a deep copy, without copy.deepcopy's per-element cost).
def _to_jsonable(obj):
    if isinstance(obj, np.ndarray):
        return {
            _ARRAY_TAG: base64.b64encode(np.ascontiguousarray(obj).tobytes()).decode(),
            "dtype": obj.dtype.str,
            "shape": list(obj.shape),
        }
    if isinstance(obj, dict):
        return {k: _to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return list(obj)
    return obj


def _from_jsonable(obj):
    if isinstance(obj, dict):
        if _ARRAY_TAG in obj:
            raw = base64.b64decode(obj[_ARRAY_TAG])
            return np.frombuffer(raw, dtype=obj["dtype"]).reshape(obj["shape"]).copy()
        return {k: _from_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return list(obj)
    return obj


@dataclass(slots=True)
class SeriesState:
    """What the worker remembers about one (asset, metric) series between points.

    `partition`/`offset` name the last Kafka message applied to this state: a message at or before
    it is a replay after a restart and must not be applied twice.
    """

    count: int = 0
    window: list[float] = field(default_factory=list)
    history: list[float] = field(default_factory=list)
    season: dict | None = None
    #: decaying peak of recent combined evidence, L (see scoring.damp_repeats)
    peak: float = 0.0
    #: the point evidence (L) of the last few points (see scoring, persistence)
    evidence: list[float] = field(default_factory=list)
    #: the series' own tail of evidence, per channel of evidence (see tail_calibration)
    tail: dict | None = None
    #: EW mean and variance of the series' signals (LONG_RUN_ALPHA)
    long_run: dict = field(default_factory=new_ew_stats)
    #: the trained model this state was warm-started from (None: learnt from the stream alone)
    model_version: str | None = None
    last_ts_ms: int | None = None
    #: the smallest step between two different consecutive values seen (None: none yet)
    resolution: float | None = None
    #: the online forecaster (`stream.forecast`) and the capacity trend line (`stream.capacity`)
    forecast: dict | None = None
    trend: dict | None = None
    partition: int | None = None
    offset: int | None = None
    detectors: dict[str, dict] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """A JSON-ready copy: numpy arrays become base64 bytes with their dtype and shape."""
        return {name: _to_jsonable(getattr(self, name)) for name in _STATE_FIELDS}

    @classmethod
    def from_dict(cls, data: dict | None) -> SeriesState:
        """A state built from a table value; a deep copy, so scoring a batch that is later
        abandoned never changes what the table holds."""
        return cls(**_from_jsonable(data)) if data else cls()

    def already_applied(self, partition: int, offset: int) -> bool:
        """True when the message at (partition, offset) was already folded into this state."""
        return self.partition == partition and self.offset is not None and offset <= self.offset

    def push(self, value: float, window_size: int, signal: float | None = None) -> None:
        """Append a value to the window, keeping the `window_size - 1` newest before the next,
        and its signal to the history, keeping the `HISTORY_SIZE` newest, and to the long-run
        statistics."""
        signal = value if signal is None else signal
        if self.window and value != self.window[-1]:
            step = abs(value - self.window[-1])
            self.resolution = step if self.resolution is None else min(self.resolution, step)
        self.window.append(value)
        del self.window[: max(0, len(self.window) - (window_size - 1))]
        ew_update(self.long_run, signal, LONG_RUN_ALPHA)
        self.history.append(signal)
        del self.history[: max(0, len(self.history) - HISTORY_SIZE)]
        self.count += 1


_STATE_FIELDS = tuple(f.name for f in fields(SeriesState))
