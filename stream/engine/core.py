"""A batch of points scored in one compiled loop over the rows of their series.

`Engine.score_batch(keys, values, epochs)` takes a batch as arrays (the series key, the value and
the epoch seconds of each point, in arrival order: a series' points in time order) and returns
what `Scorer.score_and_learn` says of each point (`Scored`): its signal, the score of each of
`DETECTORS`, and the verdict of the combination (`combine`: the score, anomaly or not, ongoing,
the expected value and band, the direction, what drove it), learning every point into its
series' row. A metric's rule (`stream.metric_rules`) reaches the compiled loop as a direction and
a least deviation a point.

While it scores a point the loop asks for the row of a point a few ahead (`prefetch`): a
feed's points come one a series in turn, so every point's row is cold otherwise.

The loop computes a point's features (`contract.POINT`) and calls each detector's step in turn
(`registry.STEPS`), knowing none by name: what a detector is to the combination is its declared
role (`contract`).
"""

from __future__ import annotations

import hashlib
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numba import literal_unroll, njit
from numba.core.errors import NumbaExperimentalFeatureWarning

from stream import scoring as scoring_py
from stream.detectors.calibration import score_to_l
from stream.engine import (
    capacity,
    combine,
    contract,
    convert,
    forecast,
    prefetch,
    registry,
    rounding,
    season,
    tails,
    window,
)
from stream.engine.store import SeriesStore, row_dtype
from stream.features import SeriesState
from stream.metric_rules import MetricRules
from stream.scored import Verdicts

#: the columns of the scores `score_batch` returns (the Python ensemble's order)
DETECTORS = registry.DETECTORS
#: the parts of a row besides the window, each declaring its fields
_COMPONENTS = (season, *registry.MODULES, tails, combine, forecast, capacity)
_STEPS = registry.STEPS
_COLUMNS = registry.LAYOUT.columns
_STARTS = registry.LAYOUT.starts
# numba calls the steps of a tuple of compiled functions (`literal_unroll`) through its
# first-class function type, which it marks experimental; the engine's tests hold every score of
# the loop to the Python path, so the warning says nothing a user could act on
warnings.filterwarnings("ignore", category=NumbaExperimentalFeatureWarning)


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
    work_offsets,
    hot,
    signals,
    scores,
    verdicts,
) -> None:
    x = np.empty(contract.POINT)
    window_scratch = np.empty(rows[0].win.shape[0] + 1)
    partials = np.empty(rows[0].win.shape[0] + 2)
    # each step's own scores and features, flat in module order (`registry.LAYOUT`), and each
    # point's features by column of DETECTORS
    own_scores = np.empty(len(_COLUMNS))
    own_features = np.empty(len(_COLUMNS))
    explained = np.empty(len(_COLUMNS))
    work = np.empty(work_offsets[-1])
    combine_work = np.empty(combine.WORK)
    ahead = np.empty(len(forecast._ALPHAS))
    threshold, warmup, half_life = params[1], params[2], params[5]
    # the rows that applied a point of the current message: they name the message once all of
    # it is applied, so two points of one series in one message are not a replay of each other
    pending = np.empty(len(slots), dtype=np.int64)
    n_pending = 0
    for i in range(min(prefetch.DISTANCE, len(slots))):
        prefetch.row(rows, slots[i], hot)
    for i in range(len(slots)):
        if i + prefetch.DISTANCE < len(slots):
            prefetch.row(rows, slots[i + prefetch.DISTANCE], hot)
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
        _features(r, value, signal, epoch, window_scratch, partials, x)
        k = 0
        for step in literal_unroll(_STEPS):
            first, last = _STARTS[k], _STARTS[k + 1]
            step(
                r,
                x,
                own_scores[first:last],
                own_features[first:last],
                work[work_offsets[k] : work_offsets[k + 1]],
            )
            k += 1
        out = scores[i]
        for j in range(len(_COLUMNS)):
            out[_COLUMNS[j]] = own_scores[j]
            explained[_COLUMNS[j]] = own_features[j]
        # the forecaster learns from the component the detectors used, before the profile learns
        profile = forecast.PROFILE_PHASING if r.season_mix < 1.0 else r.season_active
        forecast.learn(r, value, component, profile, ahead)
        season.learn(r, epoch, value)
        count = r.count
        combine.combine(
            r, combine_work, out, explained, x, component, rules[i], count, params, verdicts[i]
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


@njit(cache=True)
def _features(r, value, signal, epoch, scratch, partials, x) -> None:
    """The features of a point (`contract.POINT`) from its series' window before it, into `x`,
    with nothing yet written by a detector; `scratch` and `partials`: room for the window and
    one more (and two more)."""
    n = r.hist_n
    resolution = 0.0 if np.isnan(r.resolution) else r.resolution
    if n > 0:
        center, spread = window.center_spread(r.hist_sorted, n, resolution)
    else:
        center, spread = value, 1.0
    lag1 = r.win[r.win_n - 1] if r.win_n > 0 else value
    x[contract.VALUE] = value
    x[contract.SIGNAL] = signal
    x[contract.EPOCH] = epoch
    x[contract.HOUR] = (int(np.floor(epoch)) % 86_400) // 3600
    x[contract.CENTER] = center
    x[contract.SPREAD] = spread
    x[contract.LONG_SPREAD] = np.sqrt(r.long_var)
    x[contract.RESOLUTION] = resolution
    x[contract.HELD] = n
    x[contract.LAG1] = lag1
    x[contract.LEVEL] = (signal - center) / spread
    x[contract.CHANGE] = (value - lag1) / spread
    x[contract.VOLATILITY] = window.window_std(r, value, scratch, partials) / spread
    x[contract.EXPECTS] = -1.0  # no point detector has stated an expectation yet
    x[contract.EXPECTED_MEAN] = np.nan
    x[contract.EXPECTED_STD] = np.nan
    x[contract.LONG_MEMORY_L] = 0.0


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
                v[:, combine.DRIVER] * len(contract.FEATURES) + v[:, combine.FEATURE],
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
    detector, feature = divmod(int(code), len(contract.FEATURES))
    return driver_name(detector, feature)


def driver_name(detector: float, feature: float) -> str:
    """A verdict's DRIVER and FEATURE columns as `PointScore.driver` names them."""
    return f"{DETECTORS[int(detector)]}:{contract.FEATURES[int(feature)]}"


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
        # the bytes of a row every point reads, fetched ahead of the point (`prefetch`)
        cold = [name for component in _COMPONENTS for name in getattr(component, "COLD", ())]
        self._hot = prefetch.hot_spans(self.store.dtype, cold)
        self.window_size = window_size
        self._work_offsets = contract.work_offsets(registry.MODULES, window_size)
        #: names the rows' byte layout: a stored row is read back as bytes only into an engine
        #: of the same layout (`restore_row`)
        self.layout = hashlib.sha256(repr(self.store.dtype.descr).encode()).digest()[:16]
        self.threshold = threshold
        self.rules = rules
        # each metric's rule as a row of `_rule_table` (row 0: no rule), found by its code
        self._rule_code: dict[str | None, int] = {None: 0}
        self._rule_table = np.zeros((1, 2))
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

    def _add_rule(self, metric: str) -> None:
        rule = self.rules.for_metric(metric) if self.rules is not None else None
        row = (0.0, 0.0)
        if rule is not None:
            row = ({"up": 1.0, "down": -1.0}.get(rule.direction, 0.0), rule.min_deviation)
        self._rule_code[metric] = len(self._rule_table)
        self._rule_table = np.vstack([self._rule_table, row])

    def _rules_of(self, metrics: Sequence[str | None] | None, n: int) -> np.ndarray:
        """Each point's rule (direction, least deviation), one row a point; the rows of a
        batch are gathered from a table of the metrics seen, not built as Python tuples."""
        if metrics is None or self.rules is None:
            return np.zeros((n, 2))
        code = self._rule_code
        for metric in set(metrics).difference(code):
            self._add_rule(metric)
        return self._rule_table[np.fromiter(map(code.__getitem__, metrics), np.int64, n)]

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
        if partitions is None:
            partitions = np.full(n, -1, dtype=np.int64)
        if offsets is None:
            offsets = np.full(n, -1, dtype=np.int64)
        partitions = np.ascontiguousarray(partitions, dtype=np.int64)
        offsets = np.ascontiguousarray(offsets, dtype=np.int64)
        if not len(keys) == n == len(epochs) == len(partitions) == len(offsets) or (
            metrics is not None and len(metrics) != n
        ):
            raise ValueError(
                "keys, values, epochs, metrics, partitions and offsets must have one entry a point"
            )
        rules = self._rules_of(metrics, n)
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
            self._work_offsets,
            self._hot,
            signals,
            scores,
            verdicts,
        )
        return Scored(signals, scores, verdicts)


def warm(window_size: int) -> float:
    """Compile the loop (and the capacity outlooks' reading) for rows of `window_size`, or load
    them from the cache; the seconds it took. A process calls it before its first batch is
    waited for (the API at start-up), so no request waits the half a minute a first compile
    takes."""
    started = time.perf_counter()
    engine = Engine(threshold=0.7, window_size=window_size, warmup_points=2)
    engine.score_batch(["warm"], np.array([0.0]), np.array([0.0]))
    # the capacity outlooks' reading of a row, which a batch's first bounded series would
    # otherwise wait for
    capacity.outlooks(
        engine.store.buffer,
        np.zeros(1, dtype=np.int64),
        np.zeros(1),
        np.full(1, 100.0),
        1.0,
        1.0,
        np.empty((1, capacity.OUTLOOK_COLUMNS)),
    )
    return time.perf_counter() - started
