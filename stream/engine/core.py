"""A batch of points scored in one compiled loop over the rows of their series.

`Engine.score_batch(keys, values, epochs)` takes a batch as arrays (the series key, the value and
the epoch seconds of each point, in arrival order: a series' points in time order) and returns
what `Scorer.score_and_learn` says of each point (`Scored`): its signal, the score of each of
`DETECTORS`, and the verdict of the combination (`combine`: the score, anomaly or not, ongoing,
the expected value and band, the direction, what drove it), learning every point into its
series' row. A metric's rule (`stream.metric_rules`) reaches the compiled loop as a direction and
a least deviation a point.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit

from stream import scoring as scoring_py
from stream.detectors.calibration import score_to_l
from stream.engine import (
    capacity,
    combine,
    convert,
    ewz,
    flatline,
    forecast,
    hst,
    pattern,
    record,
    robust,
    rounding,
    season,
    tails,
    window,
)
from stream.engine.store import SeriesStore, row_dtype
from stream.features import SeriesState
from stream.metric_rules import MetricRules
from stream.scored import Verdicts

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
_COMPONENTS = (
    season,
    ewz,
    robust,
    flatline,
    hst,
    pattern,
    record,
    tails,
    combine,
    forecast,
    capacity,
)


@njit(cache=True)
def _applied(rows, pending, n_pending, partition, offset) -> int:
    """Record in the rows of `pending` that they include the message at (partition, offset)."""
    for j in range(n_pending):
        r = rows[pending[j]]
        r.partition, r.offset = partition, offset
    return 0


# nogil: the loop reads and writes arrays only, so it lets the process's other threads run
# while it scores; the API scores a training's or a detection's whole range in one call in a
# worker thread, and its event loop answers the requests that come meanwhile (README)
@njit(cache=True, nogil=True)
def _score_rows(
    rows,
    slots,
    values,
    epochs,
    millis,
    partitions,
    offsets,
    rules,
    params,
    signals,
    scores,
    verdicts,
) -> None:
    own = np.empty(3)
    scratch = np.empty(max(ewz.SHIFT_SPAN, ewz.VOLATILITY_SPAN, rows[0].win.shape[0] + 1))
    paths = np.empty((hst._N_TREES, hst._HEIGHT + 1), dtype=np.int64)
    subsequence = np.empty(pattern.LENGTH, dtype=np.uint8)
    pattern_work = np.empty(2 * pattern.MEMORY * pattern.LENGTH, dtype=np.uint8)
    measured = np.empty(record._M)
    recent = np.empty(record._RECENT)
    partials = np.empty(max(rows[0].win.shape[0], record._RECENT) + 2)
    expectation = np.empty(3)
    work = np.empty(combine.WORK)
    hst_inputs = np.empty(3)
    ahead = np.empty(len(forecast._ALPHAS))
    threshold, warmup, half_life = params[1], params[2], params[5]
    # the rows that applied a point of the current message: they name the message once all of
    # it is applied, so two points of one series in one message are not a replay of each other
    pending = np.empty(len(slots), dtype=np.int64)
    n_pending = 0
    for i in range(len(slots)):
        if i > 0 and (partitions[i] != partitions[i - 1] or offsets[i] != offsets[i - 1]):
            n_pending = _applied(rows, pending, n_pending, partitions[i - 1], offsets[i - 1])
        r = rows[slots[i]]
        value, epoch = values[i], epochs[i]
        if partitions[i] >= 0 and r.partition == partitions[i] and offsets[i] <= r.offset:
            # the row already includes this message (`SeriesState.already_applied`): a replay
            signals[i] = np.nan
            scores[i, :] = np.nan
            verdicts[i, :] = np.nan
            verdicts[i, combine.REPLAYED] = 1.0
            continue
        if r.count > 0 and millis[i] <= r.last_ms:
            # a series is scored in time order: a point not after its last one is refused
            signals[i] = np.nan
            scores[i, :] = np.nan
            verdicts[i, :] = np.nan
            verdicts[i, combine.REFUSED] = r.last_ms
            verdicts[i, combine.REPLAYED] = 0.0
            continue
        r.last_ms = millis[i]
        component = season.component(r, epoch)
        signal = value - component
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
        # what the EW z-score expects, before it learns this point
        expectation[0] = 1.0 if r.zscore_n >= 2 else 0.0
        expectation[1] = r.zscore_mean
        expectation[2] = window.spread_floor(r.zscore_mean, np.sqrt(r.zscore_var))
        ewz.score_and_learn(r, signal, own, scratch)
        out[0], out[3], out[4] = own[0], own[1], own[2]
        lag1 = r.win[r.win_n - 1] if r.win_n > 0 else value
        out[5] = flatline.score_and_learn(r, flatline.still(value, lag1, spread, n > 0, resolution))
        level, change = (signal - center) / spread, (value - lag1) / spread
        volatility = window.window_std(r, value, scratch, partials) / spread
        out[6] = hst.score_and_learn(r, level, change, volatility, paths)
        hst_inputs[0], hst_inputs[1], hst_inputs[2] = level, change, volatility
        out[7] = pattern.score_and_learn(r, signal, center, spread, subsequence, pattern_work)
        hour = (int(np.floor(epoch)) % 86_400) // 3600
        out[8], record_l, record_flags = record.score_and_learn(
            r, value, lag1, hour, measured, recent, partials
        )
        # the forecaster learns from the component the detectors used, before the profile learns
        profile = forecast.PROFILE_PHASING if r.season_mix < 1.0 else r.season_active
        forecast.learn(r, value, component, profile, ahead)
        season.learn(r, epoch, value)
        count = r.count
        combine.combine(
            r,
            work,
            out,
            record_l,
            record_flags,
            hst_inputs,
            value,
            component,
            expectation,
            rules[i],
            count,
            params,
            verdicts[i],
        )
        window.push(r, value, signal)
        # an anomalous point does not tilt the capacity line (`Scorer`)
        if not (count >= warmup and verdicts[i, combine.SCORE] >= threshold):
            capacity.learn(r, epoch, signal, half_life)
        signals[i] = signal
        if partitions[i] >= 0:
            pending[n_pending] = slots[i]
            n_pending += 1
    if len(slots) > 0:
        _applied(rows, pending, n_pending, partitions[-1], offsets[-1])


@dataclass(frozen=True, slots=True)
class Scored:
    """What a batch's points scored, one entry (row) a point."""

    #: the value less its seasonal component
    signals: np.ndarray
    #: the score of each of `DETECTORS` (columns), in [0, 1)
    scores: np.ndarray
    #: the combination's verdict, columns named in `combine` (SCORE, IS_ANOMALY, ...)
    verdicts: np.ndarray

    def driver(self, i: int) -> str:
        """What drove point `i`'s score, as `PointScore.driver` says it."""
        return driver_name(self.verdicts[i, combine.DRIVER], self.verdicts[i, combine.FEATURE])

    def take(self, indices: Sequence[int]) -> Scored:
        """The entries of the points at `indices`, in that order."""
        return Scored(self.signals[indices], self.scores[indices], self.verdicts[indices])

    def verdicts_of(self, model_versions: Sequence[str]) -> Verdicts:
        """The entries' verdicts, as `Scorer.score_and_learn` would return them (its detector
        scores rounded as it rounds them; no `features`: the engine computes none), for entries
        that scored (`take` them: a refused or replayed entry has none); `model_versions`: the
        model each entry's series scored with. Raises ValueError for an entry that did not
        score."""
        v = self.verdicts
        score = v[:, combine.SCORE]
        if np.isnan(score).any():
            raise ValueError("verdicts_of takes only entries that scored")
        return Verdicts(
            score=score.copy(),
            is_anomaly=v[:, combine.IS_ANOMALY] > 0,
            ongoing=v[:, combine.ONGOING] > 0,
            detector_names=DETECTORS,
            detectors=rounding.round_like_python(self.scores, 6),
            expected=v[:, combine.EXPECTED].copy(),
            lower=v[:, combine.LOWER].copy(),
            upper=v[:, combine.UPPER].copy(),
            drivers=_named(
                v[:, combine.DRIVER] * len(combine.FEATURES) + v[:, combine.FEATURE],
                _driver_of_code,
            ),
            directions=_named(v[:, combine.DIRECTION], DIRECTIONS.get),
            model_versions=list(model_versions),
        )


def _named(codes: np.ndarray, name) -> list:
    """`name(code)` of each entry of `codes`, called once a distinct code (NaN too)."""
    if len(codes) == 0:
        return []
    distinct, where = np.unique(codes, return_inverse=True)
    names = [name(c) for c in distinct.tolist()]
    return [names[j] for j in where.tolist()]


def _driver_of_code(code: float) -> str:
    detector, feature = divmod(int(code), len(combine.FEATURES))
    return driver_name(detector, feature)


def driver_name(detector: float, feature: float) -> str:
    """A verdict's DRIVER and FEATURE columns as `PointScore.driver` names them."""
    return f"{DETECTORS[int(detector)]}:{combine.FEATURES[int(feature)]}"


#: a verdict's DIRECTION column as `PointScore.direction` names it
DIRECTIONS = {1.0: "above", -1.0: "below"}


class Engine:
    """The compiled scorer of every series of one worker, with the scorer's settings
    (`threshold`, `window_size`, `warmup_points`, the metric `rules`, the capacity line's
    `trend_half_life_hours`; the combination's constants are `stream.scoring`'s)."""

    def __init__(
        self,
        *,
        threshold: float,
        window_size: int,
        warmup_points: int,
        rules: MetricRules | None = None,
        trend_half_life_hours: float = scoring_py.TREND_HALF_LIFE_HOURS,
        capacity: int = 1024,
    ) -> None:
        # the last point's time, and the Kafka message last applied (-1: none; `SeriesState`)
        fields = [
            ("last_ms", "i8", ()),
            ("partition", "i8", ()),
            ("offset", "i8", ()),
            *window.fields(window_size),
        ]
        initial = {"partition": -1, "offset": -1, **window.INITIAL}
        for component in _COMPONENTS:
            fields += component.FIELDS
            initial.update(component.INITIAL)
        self.store = SeriesStore(row_dtype(fields), initial, capacity)
        self.window_size = window_size
        #: names the rows' byte layout: a stored row is read back as bytes only into an engine
        #: of the same layout (`restore_row`)
        self.layout = hashlib.sha256(repr(self.store.dtype.descr).encode()).digest()[:16]
        self.threshold = threshold
        self.rules = rules
        self._rule_rows: dict[str, tuple[float, float]] = {}
        self._params = np.array(
            [
                score_to_l(threshold),
                threshold,
                warmup_points,
                0.5 ** (1.0 / scoring_py.PEAK_HALF_LIFE),
                scoring_py.ESCALATION,
                trend_half_life_hours,
            ]
        )

    def load(self, key: str, state: SeriesState) -> None:
        """Hold `state` (as the Python scorer or `dump` left it) as the series `key`'s row,
        replacing any row the key had."""
        slot = self.store.reset(key)
        convert.load(state, self.store.buffer[slot])

    def dump(self, key: str, model_version: str | None = None) -> SeriesState:
        """The series `key`'s state as the Python scorer would hold it; raises KeyError for a
        key the engine has not seen."""
        slot = self.store.slot(key)
        if slot is None:
            raise KeyError(key)
        return convert.dump(self.store.buffer[slot], model_version)

    def row_bytes(self, key: str) -> bytes:
        """The series `key`'s row as bytes (a copy; `restore_row` takes it back); raises
        KeyError for a key the engine has not seen."""
        slot = self.store.slot(key)
        if slot is None:
            raise KeyError(key)
        return self.store.row_bytes(slot)

    def restore_row(self, key: str, raw: bytes) -> None:
        """Hold `raw` (`row_bytes` of an engine of this `layout`) as the series `key`'s row.
        Raises ValueError for bytes of another size."""
        self.store.put(key, raw)

    def _rule_row(self, metric: str) -> tuple[float, float]:
        row = self._rule_rows.get(metric)
        if row is None:
            rule = self.rules.for_metric(metric) if self.rules is not None else None
            if rule is None:
                row = (0.0, 0.0)
            else:
                row = ({"up": 1.0, "down": -1.0}.get(rule.direction, 0.0), rule.min_deviation)
            self._rule_rows[metric] = row
        return row

    def score_batch(
        self,
        keys: Sequence[str],
        values: np.ndarray,
        epochs: np.ndarray,
        metrics: Sequence[str | None] | None = None,
        partitions: np.ndarray | None = None,
        offsets: np.ndarray | None = None,
    ) -> Scored:
        """The batch's scores; every point learnt but one not after its series' last point
        (to the millisecond, as `pipeline.apply_point` compares), which is refused: its verdict
        NaN but for `combine.REFUSED`. `metrics`: each point's metric name, for its rule (none:
        every deviation may alarm).

        `partitions` and `offsets`: the Kafka message each point came in (a message's points
        next to each other, as `pipeline.process_batch` takes them). A point of a message its
        row already includes is a replay after a restart: not scored, its verdict NaN but for
        `combine.REPLAYED`; a row names a message once every point of it is applied. Without
        them (or with partition -1) no point is a replay and the rows name no message.
        Raises ValueError where the inputs differ in length."""
        values = np.ascontiguousarray(values, dtype=np.float64)
        epochs = np.ascontiguousarray(epochs, dtype=np.float64)
        n = len(values)
        if metrics is None:
            metrics = [None] * n
        if partitions is None:
            partitions = np.full(n, -1, dtype=np.int64)
        if offsets is None:
            offsets = np.full(n, -1, dtype=np.int64)
        partitions = np.ascontiguousarray(partitions, dtype=np.int64)
        offsets = np.ascontiguousarray(offsets, dtype=np.int64)
        if not len(keys) == n == len(epochs) == len(metrics) == len(partitions) == len(offsets):
            raise ValueError(
                "keys, values, epochs, metrics, partitions and offsets must have one entry a point"
            )
        rules = np.array(
            [(0.0, 0.0) if m is None else self._rule_row(m) for m in metrics], dtype=np.float64
        ).reshape(len(values), 2)
        slots = self.store.slots(keys)
        # `pipeline._millis`: int() of the milliseconds truncates, as astype does
        millis = (epochs * 1000).astype(np.int64)
        signals = np.empty(n)
        scores = np.empty((n, len(DETECTORS)))
        verdicts = np.empty((n, combine.VERDICT_COLUMNS))
        _score_rows(
            self.store.buffer,
            slots,
            values,
            epochs,
            millis,
            partitions,
            offsets,
            rules,
            self._params,
            signals,
            scores,
            verdicts,
        )
        return Scored(signals, scores, verdicts)


def warm(window_size: int) -> float:
    """Compile the loop for rows of `window_size`, or load it from the cache; the seconds it
    took. A process calls it before its first batch is waited for (the API at start-up), so no
    request waits the half a minute a first compile takes."""
    started = time.perf_counter()
    Engine(threshold=0.7, window_size=window_size, warmup_points=2).score_batch(
        ["warm"], np.array([0.0]), np.array([0.0])
    )
    return time.perf_counter() - started
