"""The window and the history of a series, compiled: `stream.features` on a series' row.

The last `window_size - 1` values (`win`) and the last `HISTORY_SIZE` signals (`hist`), oldest
first, with how many each holds, and the same signals kept sorted (`hist_sorted`: what the
robust detectors read, kept in order by one insertion and one removal a point instead of a sort);
the series' resolution (NaN until two values differ) and the long-run EW statistics of its
signals. `center_spread` is `features.robust_center_spread`, without sorting the deviations.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from stream import features as py

HISTORY = py.HISTORY_SIZE
_LONG_RUN_ALPHA = py.LONG_RUN_ALPHA
_MAD_TO_SIGMA = py._MAD_TO_SIGMA


def fields(window_size: int) -> list:
    """The fields of a series' window for `window_size` (2 to 256) points."""
    return [
        ("count", "i8", ()),
        ("win", "f8", (window_size - 1,)),
        ("win_n", "i8", ()),
        ("hist", "f8", (HISTORY,)),
        ("hist_n", "i8", ()),
        ("hist_sorted", "f8", (HISTORY,)),
        ("resolution", "f8", ()),
        ("long_n", "i8", ()),
        ("long_mean", "f8", ()),
        ("long_var", "f8", ()),
    ]


INITIAL = {"resolution": np.nan}


@njit(cache=True)
def ew_update(n: int, mean: float, var: float, m: float, alpha: float):
    """`features.ew_update` on (n, mean, var): the new triple."""
    if n == 0:
        return 1, m, 0.0
    a = max(alpha, 1.0 / (n + 1))
    delta = m - mean
    mean += a * delta
    return n + 1, mean, (1 - a) * (var + a * delta * delta)


@njit(cache=True)
def spread_floor(center: float, spread: float) -> float:
    return max(spread, abs(center) * 1e-3, 1e-9)


@njit(cache=True)
def quantile(ordered, n: int, q: float) -> float:
    """`features.quantile` of the first `n` of sorted `ordered`."""
    pos = q * (n - 1)
    lo = int(pos)
    hi = min(lo + 1, n - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@njit(cache=True)
def _deviations_at(ordered, n: int, median: float, rank: int):
    """The `rank`-th and the next smallest |ordered[k] - median| (0-based; the next clipped to
    the last). The deviations below the median and those above are each sorted already (`a`
    and `b`, ascending away from the median), so the `rank + 1` smallest are some first of
    `a` and some first of `b`: a binary search finds how many of each, as for the k-th of two
    sorted arrays. Each deviation is the same subtraction as in a merge, so the values are a
    merge's to the bit."""
    lo = np.searchsorted(ordered[:n], median) - 1  # the last value below the median
    hi = lo + 1
    n_a, n_b = lo + 1, n - hi  # a[j] = median - ordered[lo - j], b[j] = ordered[hi + j] - median
    taken = rank + 1
    first, last = max(0, taken - n_b), min(taken, n_a)
    while first < last:  # the fewest from `a` whose next is no smaller than the last from `b`
        i = (first + last) // 2
        if median - ordered[lo - i] < ordered[hi + taken - i - 1] - median:
            first = i + 1
        else:
            last = i
    i, j = first, taken - first
    at_rank = -np.inf
    if i > 0:
        at_rank = median - ordered[lo - i + 1]
    if j > 0:
        at_rank = max(at_rank, ordered[hi + j - 1] - median)
    if taken >= n:
        return at_rank, at_rank
    after = np.inf
    if i < n_a:
        after = median - ordered[lo - i]
    if j < n_b:
        after = min(after, ordered[hi + j] - median)
    return at_rank, after


@njit(cache=True)
def center_spread(ordered, n: int, resolution: float):
    """`features.robust_center_spread` of the first `n` (at least 1) of sorted `ordered`."""
    median = quantile(ordered, n, 0.5)
    pos = 0.5 * (n - 1)
    rank = int(pos)
    low, high = _deviations_at(ordered, n, median, rank)
    mad = low + (high - low) * (pos - rank)
    spread = mad * _MAD_TO_SIGMA
    if spread >= resolution and spread >= _a_step(ordered, n, rank):
        # the least step is no larger than any one step, so it cannot raise the spread: the
        # search for it is spared (the same spread to the bit)
        return median, spread_floor(median, spread)
    gap = np.inf
    for k in range(1, n):
        step = ordered[k] - ordered[k - 1]
        if step > 0 and step < gap:
            gap = step
    if gap < np.inf:
        resolution = max(resolution, gap)
    return median, spread_floor(median, max(spread, resolution))


@njit(cache=True)
def _a_step(ordered, n: int, start: int) -> float:
    """A positive step between neighbours of the first `n` of sorted `ordered`, the first
    found from `start` up, then down (inf: none); near the median the steps are the smallest."""
    for k in range(max(start, 1), n):
        if ordered[k] > ordered[k - 1]:
            return ordered[k] - ordered[k - 1]
    for k in range(min(start, n - 1), 0, -1):
        if ordered[k] > ordered[k - 1]:
            return ordered[k] - ordered[k - 1]
    return np.inf


@njit(cache=True)
def _append(ring, held: int, value: float) -> int:
    """Append to an oldest-first ring of fixed size; the new count."""
    size = len(ring)
    if size == 0:
        return 0
    if held < size:
        ring[held] = value
        return held + 1
    for k in range(size - 1):
        ring[k] = ring[k + 1]
    ring[size - 1] = value
    return held


@njit(cache=True)
def insert_sorted(ordered, held: int, value: float) -> None:
    """Insert `value` into the first `held` of sorted `ordered` (room for one more)."""
    k = held
    while k > 0 and ordered[k - 1] > value:
        ordered[k] = ordered[k - 1]
        k -= 1
    ordered[k] = value


@njit(cache=True)
def _remove_sorted(ordered, held: int, value: float) -> None:
    """Remove one `value` from the first `held` of sorted `ordered`."""
    k = np.searchsorted(ordered[:held], value)
    for j in range(k, held - 1):
        ordered[j] = ordered[j + 1]


@njit(cache=True)
def push(r, value: float, signal: float) -> None:
    """`SeriesState.push`: the value into the window, the signal into the history and the
    long-run statistics, and the resolution from the step the value made."""
    if r.win_n > 0:
        last = r.win[r.win_n - 1]
        if value != last:
            step = abs(value - last)
            r.resolution = step if np.isnan(r.resolution) else min(r.resolution, step)
    r.win_n = _append(r.win, r.win_n, value)
    r.long_n, r.long_mean, r.long_var = ew_update(
        r.long_n, r.long_mean, r.long_var, signal, _LONG_RUN_ALPHA
    )
    held = r.hist_n
    if held == HISTORY:
        _remove_sorted(r.hist_sorted, held, r.hist[0])
        held -= 1
    insert_sorted(r.hist_sorted, held, signal)
    r.hist_n = _append(r.hist, r.hist_n, signal)
    r.count += 1


#: the most terms `fsum` sums by its compensated pass (the error bound below holds far beyond)
_COMPENSATED_MAX = 1024
#: a bound's factor over the compensated sum's error bound: 2 covers the rounding of the sum of
#: magnitudes and of the bound's own product
_BOUND_SLACK = 2.0
_UNIT = 2.0**-53
#: magnitudes within which no term, partial sum or bound overflows or loses bits to underflow
_TINY, _HUGE = 2.0**-900, 2.0**900


@njit(cache=True)
def fsum(values, n: int, partials) -> float:
    """`math.fsum` of the first `n` of `values`: the exactly rounded sum, so the window's mean and
    spread are the Python path's to the bit; `partials`: room for `n` + 1 numbers.

    The sum is first taken compensated (each addition's exact error kept by Knuth's two-sum and
    summed apart): its result `s + c` is within (n u)^2 of the terms' magnitudes of the exact
    sum (Ogita, Rump and Oishi 2005, Sum2). Where that bound and the rounding of `s + c` to
    `t` lie strictly inside half the spacing of doubles at `t`, the exact sum rounds to `t`,
    which is then what `math.fsum` returns; otherwise (a sum near a half-way point, extreme
    terms) Shewchuk's exact partials decide (`_fsum_exact`)."""
    s = c = magnitude = 0.0
    for k in range(n):
        x = values[k]
        t = s + x
        z = t - s
        c += (s - (t - z)) + (x - z)
        s = t
        magnitude += abs(x)
    if not math.isfinite(magnitude) and not math.isfinite(s):
        return s  # an infinite or NaN term: IEEE's sum, as math.fsum's (which raises for inf - inf)
    if n <= _COMPENSATED_MAX and _TINY < magnitude < _HUGE:
        t = s + c
        z = t - s
        rounding = (s - (t - z)) + (c - z)  # s + c == t + rounding, exactly
        size = abs(t)
        if size > _TINY:
            # the spacing below a power of two is half the spacing above it: the smaller decides
            half = 0.5 * min(np.nextafter(size, np.inf) - size, size - np.nextafter(size, 0.0))
            bound = _BOUND_SLACK * (n * _UNIT) ** 2 * magnitude
            if abs(rounding) + bound < half:
                return t
    return _fsum_exact(values, n, partials)


@njit(cache=True)
def _fsum_exact(values, n: int, partials) -> float:
    """`math.fsum` by Shewchuk's partials, the half-way correction as CPython applies it."""
    held = 0
    for k in range(n):
        x = values[k]
        i = 0
        for j in range(held):
            # Knuth's two-sum: the same exact hi and lo as CPython's ordered fast two-sum,
            # without the data-dependent swap the processor mispredicts
            y = partials[j]
            hi = x + y
            y_part = hi - x
            lo = (x - (hi - y_part)) + (y - y_part)
            if lo != 0.0:
                partials[i] = lo
                i += 1
            x = hi
        held = i
        if x != 0.0:
            partials[held] = x
            held += 1
    if held == 0:
        return 0.0
    m = held - 1
    hi = partials[m]
    lo = 0.0
    while m > 0:
        x = hi
        m -= 1
        y = partials[m]
        hi = x + y
        lo = y - (hi - x)
        if lo != 0.0:
            break
    if m > 0 and ((lo < 0.0 and partials[m - 1] < 0.0) or (lo > 0.0 and partials[m - 1] > 0.0)):
        y = lo * 2.0
        x = hi + y
        if y == x - hi:
            hi = x
    return hi


@njit(cache=True)
def window_std(r, value: float, scratch, partials) -> float:
    """The population standard deviation of the window with `value` as its newest point
    (`Features.std`); `scratch` and `partials`: room for the window and one more."""
    n = r.win_n + 1
    scratch[: n - 1] = r.win[: r.win_n]
    scratch[n - 1] = value
    mean = fsum(scratch, n, partials) / n
    for k in range(n):
        scratch[k] = (scratch[k] - mean) ** 2
    return math.sqrt(fsum(scratch, n, partials) / n)
