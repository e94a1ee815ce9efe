"""Root-cause hints for an incident: what moved first, and what moved with it.

An incident says where the anomalies showed; an operator asks where they began. Around an
incident's start (`LEAD_SECONDS` before it to `FOLLOW_SECONDS` after), each series that moved is
a candidate: the asset's own metrics, and the metrics of other assets with anomalies there. A
series *moved* at its onset, its first score of at least `ONSET_SCORE` (0.6, about a
1-in-500 point: lower than the alarm, so a cause that rises slowly is seen before it alarms).
Candidates are ranked

1. by whether their scores move with the incident's (Pearson correlation with the scores of
   the incident's peak metric over the window, on a common time grid, the best over leads up to
   the window's: a cause moves before its effects; at least `MIN_CORRELATION`): a series that
   moved by chance, alone, goes last;
2. then by whether the change held (the median score of the `SUSTAINED_POINTS` after the onset
   is at least `SUSTAINED_SCORE`): a cause is a change, not a blip;
3. then by onset, earliest first: a cause moves before its effects;
4. then by correlation.

Pure code: it takes score series and returns hints; the SQL that fetches them is the caller's.

>>> from datetime import datetime, timedelta, UTC
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> def series(asset, metric, start):
...     scores = [0.1] * 60
...     for i in range(start, start + 10):
...         scores[i] = 0.9
...     stamps = [t0 + timedelta(minutes=i) for i in range(60)]
...     return SeriesScores.of(asset, metric, stamps, scores)
>>> hints = rank(
...     [series(7, "latency_ms", 30), series(7, "cpu_usage", 25), series(3, "db_connections", 20)],
...     asset_id=7, metric="latency_ms", started_at=t0 + timedelta(minutes=30))
>>> [(h.asset_id, h.metric, h.lead_seconds) for h in hints]
[(3, 'db_connections', 600.0), (7, 'cpu_usage', 300.0), (7, 'latency_ms', 0.0)]
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from numba import njit

#: the score at which a series counts as having moved (below the alarm: about 1 in 500 points)
ONSET_SCORE = 0.6
#: how long before an incident's start a cause is looked for, and after it its followers
LEAD_SECONDS = 1800.0
FOLLOW_SECONDS = 900.0
#: the longest lead (in grid buckets) at which a candidate's scores are compared with the
#: incident's
MAX_LAG_BUCKETS = 30
#: points after an onset whose median score says whether the change held
SUSTAINED_POINTS = 10
#: that median's level for a change that holds: the points after it stay more unusual than
#: three in four of the series' points (a blip falls back to the series' usual scores at once)
SUSTAINED_SCORE = 0.25
#: leeway (grid buckets) around the lead between two onsets at which scores are compared
LAG_SLACK = 2
#: the longest quiet gap inside one movement of a series
EPISODE_GAP_SECONDS = 900.0
#: correlation of scores below which a candidate is taken to have moved by chance
MIN_CORRELATION = 0.2
#: hints named in an EMS event's description
TOP_IN_DESCRIPTION = 3


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_us(ts: datetime) -> int:
    """Microseconds since 1970 (exact: a timestamp's own resolution)."""
    return (ts - _EPOCH) // timedelta(microseconds=1)


def from_epoch_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=int(us))


@dataclass(frozen=True, slots=True)
class SeriesScores:
    """One series' scores over the window, in time order, as arrays: `epochs_us` (int64,
    microseconds since 1970) and `scores` (float64). A hint list reads hundreds of series of
    dozens of points each, once for every incident change: per-point Python objects cost it
    tens of milliseconds (README, Benchmarks)."""

    asset_id: int
    metric: str
    epochs_us: np.ndarray
    scores: np.ndarray

    @classmethod
    def of(
        cls, asset_id: int, metric: str, timestamps: Sequence[datetime], scores: Sequence[float]
    ) -> SeriesScores:
        return cls(
            asset_id,
            metric,
            np.array([epoch_us(ts) for ts in timestamps], dtype=np.int64),
            np.asarray(scores, dtype=np.float64),
        )


@dataclass(frozen=True, slots=True)
class Hint:
    asset_id: int
    metric: str
    #: the series' first score of at least ONSET_SCORE in the window
    onset: datetime
    #: how long before the incident's start it moved (negative: after)
    lead_seconds: float
    #: Pearson correlation of its scores with the incident's peak metric's, over the window
    correlation: float
    peak_score: float
    #: the median score of the points after its onset: a change that holds, or a blip
    sustained: float
    reason: str


def window(started_at: datetime) -> tuple[datetime, datetime]:
    """The stretch of time the hints of an incident starting at `started_at` look at."""
    return started_at - timedelta(seconds=LEAD_SECONDS), started_at + timedelta(
        seconds=FOLLOW_SECONDS
    )


class _Grid:
    """Every series' highest score in each bucket of `bucket` seconds of the window from
    `start_us` to `end_us`, as one matrix (a row a series, NaN where a series has no point), so
    the correlations of all candidates at one lag are a few array operations. Points outside
    the window are left out: the comparison is over the window (and the matrix stays as wide
    as the window, whatever a caller passes)."""

    def __init__(
        self, series: Sequence[SeriesScores], start_us: int, end_us: int, bucket: float
    ) -> None:
        width = int(((end_us - start_us) / 1e6) // bucket) + 1
        self.values = np.full((len(series), width), np.nan)
        if not series:
            return
        stamps, scores, owner = _concatenated(series)
        inside = (stamps >= start_us) & (stamps <= end_us)
        buckets = np.floor_divide((stamps[inside] - start_us) / 1e6, bucket).astype(np.int64)
        # a bucket holds its highest score, and never less than 0 (as scores are); every
        # series at once, through the matrix's flat index
        np.fmax.at(
            self.values.reshape(-1),
            owner[inside] * width + buckets,
            np.fmax(scores[inside], 0.0),
        )

    def correlations(self, target: int, lag: int, rows: Sequence[int]) -> np.ndarray:
        """The Pearson correlation of each of `rows`, `lag` buckets earlier, with row `target`,
        over the buckets both have a point in (0 where fewer than 3, or either is constant).
        A row's figure is the same whichever other rows are asked with it (each is reduced on
        its own), so a caller asks only for the rows that need this lag."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty(len(rows))
        _lag_correlations(self.values, target, rows, np.full(len(rows), lag, np.int64), out)
        return out

    def best_correlations(self, target: int, rows: np.ndarray, lags: np.ndarray) -> np.ndarray:
        """For each of `rows` (ascending, repeats adjacent), the highest of its `correlations`
        over the lags paired with it in `lags` (one entry a pair, ascending within a row), the
        first of equals; `best[k]` is the `k`-th distinct row's."""
        out = np.empty(len(rows))
        _lag_correlations(self.values, target, rows, lags, out)
        first = np.ones(len(rows), dtype=bool)
        first[1:] = rows[1:] != rows[:-1]
        return _first_maxima(out, np.flatnonzero(first))


# numpy's order of additions in a sum along a row (pairwise, eight running sums within a block of
# 128): the compiled correlations add in that order, so a figure is the one the array
# operations gave before, to the bit (`tests/unit/test_root_cause.py`), and no ranking moves
_PAIRWISE_BLOCK = 128


@njit(cache=True)
def _pairwise_sum(a, n: int) -> float:
    """The sum of `a[:n]` as numpy's `sum` adds it (its pairwise summation)."""
    if n < 8:
        res = -0.0
        for i in range(n):
            res += a[i]
        return res
    if n <= _PAIRWISE_BLOCK:
        r0, r1, r2, r3, r4, r5, r6, r7 = a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]
        i = 8
        while i < n - n % 8:
            r0 += a[i]
            r1 += a[i + 1]
            r2 += a[i + 2]
            r3 += a[i + 3]
            r4 += a[i + 4]
            r5 += a[i + 5]
            r6 += a[i + 6]
            r7 += a[i + 7]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res += a[i]
            i += 1
        return res
    half = n // 2
    half -= half % 8
    return _pairwise_sum(a, half) + _pairwise_sum(a[half:], n - half)


@njit(cache=True)
def _lag_correlations(values, target: int, rows, lags, out) -> None:
    """`out[k]`: the Pearson correlation of row `rows[k]` of `values`, `lags[k]` columns
    earlier, with row `target`, over the columns where neither is NaN (0 where fewer than 3,
    or either is constant): a hint list's every (candidate, lead) pair in one call, not a
    dozen array operations a lead."""
    width = values.shape[1]
    xs, ys, terms = np.empty(width), np.empty(width), np.empty(width)
    for k in range(len(rows)):
        lag = lags[k]
        if lag >= width:
            out[k] = 0.0
            continue
        m, row = width - lag, rows[k]
        n = 0
        for j in range(m):
            x, y = values[row, j], values[target, lag + j]
            if np.isnan(x) or np.isnan(y):
                xs[j], ys[j] = np.nan, np.nan
            else:
                xs[j], ys[j] = x, y
                n += 1
        held = max(n, 1)
        for j in range(m):
            terms[j] = 0.0 if np.isnan(xs[j]) else xs[j]
        mean_x = _pairwise_sum(terms, m) / held
        for j in range(m):
            terms[j] = 0.0 if np.isnan(ys[j]) else ys[j]
        mean_y = _pairwise_sum(terms, m) / held
        for j in range(m):
            if np.isnan(xs[j]):
                xs[j], ys[j] = 0.0, 0.0
            else:
                xs[j], ys[j] = xs[j] - mean_x, ys[j] - mean_y
        for j in range(m):
            terms[j] = xs[j] * ys[j]
        sxy = _pairwise_sum(terms, m)
        for j in range(m):
            terms[j] = xs[j] * xs[j]
        sxx = _pairwise_sum(terms, m)
        for j in range(m):
            terms[j] = ys[j] * ys[j]
        syy = _pairwise_sum(terms, m)
        out[k] = sxy / np.sqrt(sxx * syy) if n >= 3 and sxx > 0 and syy > 0 else 0.0


@njit(cache=True)
def _first_maxima(values, starts):
    """The highest of each run of `values` beginning at each of `starts` (ascending; the last
    runs to the end), the first of equals, as Python's `max` picks it."""
    best = np.empty(len(starts))
    for k in range(len(starts)):
        end = starts[k + 1] if k + 1 < len(starts) else len(values)
        best[k] = values[starts[k]]
        for j in range(starts[k] + 1, end):
            if values[j] > best[k]:
                best[k] = values[j]
    return best


def _concatenated(series: Sequence[SeriesScores]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every series' stamps and scores end to end, and the index of the series of each."""
    lengths = [len(s.epochs_us) for s in series]
    return (
        np.concatenate([s.epochs_us for s in series]),
        np.concatenate([s.scores for s in series]),
        np.repeat(np.arange(len(series)), lengths),
    )


def _interval(series: Sequence[SeriesScores]) -> float:
    """The coarsest median sampling interval of the series (the upper median of each one's
    gaps, in seconds; at least 1): the grid scores are compared on."""
    if not series:
        return 1.0
    stamps, _, owner = _concatenated(series)
    counts = np.maximum(np.bincount(owner, minlength=len(series)) - 1, 0)  # each series' gaps
    if not counts.any():
        return 1.0
    # every series' gaps at once, sorted within each series (one sort, not one a series)
    within = owner[1:] == owner[:-1]
    gaps = (np.diff(stamps) / 1e6)[within]
    gaps = gaps[np.lexsort((gaps, owner[1:][within]))]
    firsts = np.cumsum(counts) - counts
    has = counts > 0
    return max(1.0, float(gaps[firsts[has] + counts[has] // 2].max()))


def _onsets(
    series: Sequence[SeriesScores], start_us: int, end_us: int, started_us: int
) -> list[int | None]:
    """`_onset` of each series, all at once: the episodes of every series are found in one
    pass over their moving points end to end, and each series' nearest picked by one sort."""
    if not series:
        return []
    stamps, scores, owner = _concatenated(series)
    inside = (stamps >= start_us) & (stamps <= end_us) & (scores >= ONSET_SCORE)
    moving, owner = stamps[inside], owner[inside]
    if not len(moving):
        return [None] * len(series)
    # an episode begins at a series' first moving point and after each gap above the limit
    begins = np.ones(len(moving), dtype=bool)
    begins[1:] = (owner[1:] != owner[:-1]) | (
        (moving[1:] - moving[:-1]) / 1e6 > EPISODE_GAP_SECONDS
    )
    starts = np.flatnonzero(begins)
    first, last = moving[starts], moving[np.append(starts[1:], len(moving)) - 1]
    distance = np.minimum(np.abs((first - started_us) / 1e6), np.abs((last - started_us) / 1e6))
    distance[(first <= started_us) & (started_us <= last)] = 0.0
    whose = owner[starts]
    # per series, the episode of least distance, the earliest of equals
    order = np.lexsort((first, distance, whose))
    leading = np.ones(len(order), dtype=bool)
    leading[1:] = whose[order][1:] != whose[order][:-1]
    found: list[int | None] = [None] * len(series)
    for i, ts in zip(whose[order][leading].tolist(), first[order][leading].tolist(), strict=True):
        found[i] = ts
    return found


def _onset(s: SeriesScores, start_us: int, end_us: int, started_us: int) -> int | None:
    """The first point (epoch us) of the series' movement nearest the incident's start: its
    points of at least ONSET_SCORE in the window, grouped into episodes (gaps of at most
    EPISODE_GAP_SECONDS), and of those the episode nearest `started_us`. None when it never
    moved in the window. The definition `_onsets` computes for many series at once (the tests
    hold the two to each other)."""
    inside = (s.epochs_us >= start_us) & (s.epochs_us <= end_us) & (s.scores >= ONSET_SCORE)
    moving = s.epochs_us[inside].tolist()
    if not moving:
        return None
    episodes, first, last = [], moving[0], moving[0]
    for ts in moving[1:]:
        if (ts - last) / 1e6 > EPISODE_GAP_SECONDS:
            episodes.append((first, last))
            first = ts
        last = ts
    episodes.append((first, last))

    def distance(episode: tuple[int, int]) -> float:
        a, b = episode
        if a <= started_us <= b:
            return 0.0
        return min(abs((a - started_us) / 1e6), abs((b - started_us) / 1e6))

    return min(episodes, key=lambda e: (distance(e), e[0]))[0]


def _held_after(
    series: Sequence[SeriesScores], moved: list[int], onsets: list[int | None]
) -> np.ndarray:
    """For each of the `moved` series, the median of its (at most `SUSTAINED_POINTS`) scores
    after its onset (0 where none): whether its change held."""
    stamps, scores, _ = _concatenated([series[i] for i in moved])
    lengths = np.array([len(series[i].epochs_us) for i in moved], dtype=np.int64)
    firsts = np.cumsum(lengths) - lengths
    return _medians_after(
        stamps, scores, firsts, lengths, np.array([onsets[i] for i in moved], dtype=np.int64)
    )


@njit(cache=True)
def _medians_after(stamps, scores, firsts, lengths, onsets):
    """For each series `k` (its points at `firsts[k]`, `lengths[k]` of them, in time order),
    the median of its first `SUSTAINED_POINTS` scores after `onsets[k]`, as
    `statistics.median` gives it (0 where none)."""
    out = np.zeros(len(firsts))
    for k in range(len(firsts)):
        first, end = firsts[k], firsts[k] + lengths[k]
        after = first + np.searchsorted(stamps[first:end], onsets[k], side="right")
        points = np.sort(scores[after : min(after + SUSTAINED_POINTS, end)])
        n = len(points)
        if n:
            mid = n // 2
            out[k] = points[mid] if n % 2 else (points[mid - 1] + points[mid]) / 2
    return out


def rank(
    series: Sequence[SeriesScores],
    *,
    asset_id: int,
    metric: str,
    started_at: datetime,
    limit: int | None = None,
) -> list[Hint]:
    """The hints for an incident of `asset_id` starting at `started_at` whose peak was on
    `metric`, from the scores of the candidate series over `window(started_at)` (each in time
    order); best first, the first `limit` of them (all by default: an EMS event names three,
    and only those are worded). Series that never reach ONSET_SCORE in the window are no
    hint."""
    start, end = window(started_at)
    start_us, end_us, started_us = epoch_us(start), epoch_us(end), epoch_us(started_at)
    bucket = _interval(series)
    target = next(
        (i for i, s in enumerate(series) if (s.asset_id, s.metric) == (asset_id, metric)), None
    )
    onsets = _onsets(series, start_us, end_us, started_us)
    moved = [i for i, onset in enumerate(onsets) if onset is not None]
    if not moved:
        return []
    target_onset = (onsets[target] if target is not None else None) or started_us
    # a cause leads its effects by the time between their onsets: compared at that lead (give
    # or take LAG_SLACK buckets), not at whichever lead happens to fit best
    lags: dict[int, range] = {}
    for i in moved:
        lead = round((target_onset - onsets[i]) / 1e6 / bucket)
        lags[i] = range(
            max(0, lead - LAG_SLACK), max(0, min(MAX_LAG_BUCKETS, lead + LAG_SLACK)) + 1
        )
    # without scores of the peak metric nothing moves with it: every correlation 0
    correlations: dict[int, float] = {}
    if target is not None:
        rows = [*moved, target] if target not in moved else moved
        grid = _Grid([series[i] for i in rows], start_us, end_us, bucket)
        # each series at its own few lags only, every (series, lag) pair in one compiled call
        pair_rows = [row for row, i in enumerate(moved) for _ in lags[i]]
        pair_lags = [lag for i in moved for lag in lags[i]]
        with_lags = [i for i in moved if len(lags[i])]
        if pair_rows:
            best = grid.best_correlations(
                rows.index(target), np.array(pair_rows, np.int64), np.array(pair_lags, np.int64)
            ).tolist()
            correlations = dict(zip(with_lags, best, strict=True))
    # each moved series' sort key: its correlation, whether its change held, its onset
    for i in moved:
        correlations[i] = 1.0 if i == target else correlations.get(i, 0.0)
    held = dict(zip(moved, _held_after(series, moved, onsets).tolist(), strict=True))
    ranked = sorted(
        moved,
        key=lambda i: (
            correlations[i] < MIN_CORRELATION,
            held[i] < SUSTAINED_SCORE,
            onsets[i],
            -correlations[i],
        ),
    )
    hints = []
    for i in ranked[:limit]:
        s, onset = series[i], onsets[i]
        peak = float(s.scores[s.epochs_us.searchsorted(start_us) :].max())
        hint = Hint(
            s.asset_id,
            s.metric,
            from_epoch_us(onset),
            (started_us - onset) / 1e6,
            correlations[i],
            peak,
            held[i],
            "",
        )
        hints.append(_with_reason(hint, asset_id, metric))
    return hints


def _with_reason(h: Hint, asset_id: int, peak_metric: str) -> Hint:
    where = h.metric if h.asset_id == asset_id else f"{h.metric} on asset {h.asset_id}"
    minutes = abs(h.lead_seconds) / 60
    when = (
        "at the incident's start"
        if minutes < 0.5
        else f"{minutes:.0f} min {'before' if h.lead_seconds > 0 else 'after'} the incident began"
    )
    held = "and held" if h.sustained >= SUSTAINED_SCORE else "for a moment"
    if (h.asset_id, h.metric) == (asset_id, peak_metric):
        moves = "the incident's peak metric"
    elif h.correlation >= MIN_CORRELATION:
        moves = f"its scores move with the incident's (r = {h.correlation:.2f})"
    else:
        moves = f"its scores do not move with the incident's (r = {h.correlation:.2f})"
    reason = f"{where} moved {when} {held}; {moves}"
    return Hint(
        h.asset_id,
        h.metric,
        h.onset,
        h.lead_seconds,
        h.correlation,
        h.peak_score,
        h.sustained,
        reason,
    )


def describe(hints: Sequence[Hint]) -> str:
    """The top hints in a sentence, for an EMS event's description ("" without any)."""
    top = hints[:TOP_IN_DESCRIPTION]
    if not top:
        return ""
    return "Moved first: " + "; ".join(h.reason for h in top) + "."


def warm() -> float:
    """Compile the ranking's loops (or load them from numba's cache); the seconds it took. A
    worker calls it before its first batch, so its first incident change does not wait the
    seconds a first compile takes inside a batch."""
    began = time.perf_counter()
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    stamps = [t0 + timedelta(minutes=i) for i in range(12)]
    moving = [0.1] * 6 + [0.9] * 6
    rank(
        [SeriesScores.of(1, "a", stamps, moving), SeriesScores.of(2, "b", stamps, moving)],
        asset_id=1,
        metric="a",
        started_at=stamps[6],
    )
    return time.perf_counter() - began
