"""Root-cause hints (`stream.root_cause.rank`) on score series whose answer is known."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from stream.root_cause import (
    SeriesScores,
    _Grid,
    _interval,
    _onset,
    _onsets,
    epoch_us,
    rank,
    window,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
STARTED = T0 + timedelta(minutes=40)


def minutes(*offsets: float) -> list[datetime]:
    return [T0 + timedelta(minutes=m) for m in offsets]


def bump(n: int, at: int, length: int = 8, high: float = 0.9, low: float = 0.1) -> list[float]:
    """n scores at `low`, `length` of them from `at` at `high`."""
    return [high if at <= i < at + length else low for i in range(n)]


def test_a_cause_that_moved_first_with_the_incident_ranks_before_a_blip_that_moved_earlier():
    target = SeriesScores.of(7, "latency_ms", minutes(*range(60)), bump(60, 40))
    cause = SeriesScores.of(3, "db_connections", minutes(*range(60)), bump(60, 35))
    # moved earlier than either, but alone: its scores do not move with the incident's
    blip = SeriesScores.of(5, "cpu_usage", minutes(*range(60)), bump(60, 20, length=1))
    hints = rank([target, cause, blip], asset_id=7, metric="latency_ms", started_at=STARTED)
    assert [(h.asset_id, h.metric) for h in hints] == [
        (3, "db_connections"),
        (7, "latency_ms"),
        (5, "cpu_usage"),
    ]
    by_series = {(h.asset_id, h.metric): h for h in hints}
    assert by_series[(3, "db_connections")].lead_seconds == 300.0
    assert by_series[(3, "db_connections")].correlation == pytest.approx(1.0)
    assert "for a moment" in by_series[(5, "cpu_usage")].reason


def test_a_limit_gives_the_first_hints_of_the_whole_ranking_worded_the_same():
    target = SeriesScores.of(7, "latency_ms", minutes(*range(60)), bump(60, 40))
    others = [
        SeriesScores.of(asset, "cpu_usage", minutes(*range(60)), bump(60, at, length=length))
        for asset, at, length in ((1, 35, 8), (2, 20, 1), (3, 38, 12), (4, 30, 3), (5, 44, 8))
    ]
    incident = {"asset_id": 7, "metric": "latency_ms", "started_at": STARTED}
    everything = rank([target, *others], **incident)
    assert len(everything) == 6
    for limit in (0, 1, 3, 6, 10):
        assert rank([target, *others], **incident, limit=limit) == everything[:limit]


def test_a_hints_peak_is_from_the_window_and_its_sustained_score_the_median_after_its_onset():
    # the window opens at minute 10, 30 minutes before the start at 40
    after_onset = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.6, 0.6, 0.6, 0.05]
    scores = [0.1] * 60
    scores[9] = 0.99  # before the window: not its peak
    scores[10] = 0.95  # its onset, the window's first point
    scores[11:21] = after_onset
    cause = SeriesScores.of(3, "db_connections", minutes(*range(60)), scores)
    target = SeriesScores.of(7, "latency_ms", minutes(*range(60)), bump(60, 40))
    hints = rank([target, cause], asset_id=7, metric="latency_ms", started_at=STARTED)
    (found,) = [h for h in hints if h.asset_id == 3]
    assert found.onset == T0 + timedelta(minutes=10)
    assert found.peak_score == 0.95
    # the ten points after the onset, not the onset itself (that would make it 0.55)
    assert found.sustained == statistics.median(after_onset) == pytest.approx(0.45)


def test_a_series_moving_against_the_incident_keeps_its_negative_correlation():
    target = SeriesScores.of(7, "latency_ms", minutes(*range(60)), bump(60, 40, length=20))
    # moves at the incident's start, then low while the target is high
    against = [0.65 if i == 40 else 0.1 if i > 40 else 0.5 for i in range(60)]
    other = SeriesScores.of(3, "bandwidth_in_mbps", minutes(*range(60)), against)
    hints = rank([target, other], asset_id=7, metric="latency_ms", started_at=STARTED)
    (found,) = [h for h in hints if h.asset_id == 3]
    assert found.correlation < 0
    assert "do not move with the incident's (r = -" in found.reason


def test_series_sampled_unevenly_are_compared_on_the_coarsest_interval():
    """A target every minute and a candidate every two, with a gap: the correlation is
    Pearson's over the two-minute buckets of the window both have a point in (each bucket's
    highest score), at the lead between their onsets; the points before the window do not
    count."""
    target_at = list(range(0, 60))
    target_scores = [0.2 + 0.7 * (40 <= m < 50) + 0.01 * (m % 3) for m in target_at]
    other_at = [m for m in range(0, 60, 2) if not 20 <= m < 30]
    other_scores = [0.15 + 0.75 * (36 <= m < 46) + 0.02 * (m % 4) for m in other_at]
    target = SeriesScores.of(7, "latency_ms", minutes(*target_at), target_scores)
    other = SeriesScores.of(3, "db_connections", minutes(*other_at), other_scores)
    hints = rank([target, other], asset_id=7, metric="latency_ms", started_at=STARTED)
    (found,) = [h for h in hints if h.asset_id == 3]

    start = STARTED - timedelta(minutes=30)

    def grid(at: list[int], scores: list[float]) -> dict[int, float]:
        out: dict[int, float] = {}
        for m, score in zip(at, scores, strict=True):
            if not start <= T0 + timedelta(minutes=m) <= STARTED + timedelta(minutes=15):
                continue  # compared over the hints' window only
            b = int((T0 + timedelta(minutes=m) - start).total_seconds() // 120)
            out[b] = max(out.get(b, 0.0), score)
        return out

    a, b = grid(other_at, other_scores), grid(target_at, target_scores)
    lead = 2  # onsets at 36 and 40 minutes, in buckets of two minutes

    def pearson(lag: int) -> float:
        common = sorted({k + lag for k in a} & b.keys())
        return statistics.correlation([a[k - lag] for k in common], [b[k] for k in common])

    best = max(pearson(lag) for lag in range(0, lead + 2 + 1))
    assert found.correlation == pytest.approx(best, abs=1e-12)
    assert found.lead_seconds == 240.0


def test_no_hint_without_a_series_that_moved():
    calm = SeriesScores.of(7, "latency_ms", minutes(*range(60)), [0.1] * 60)
    assert rank([calm], asset_id=7, metric="latency_ms", started_at=STARTED) == []
    assert rank([], asset_id=7, metric="latency_ms", started_at=STARTED) == []


def random_series(seed: int, n: int = 30) -> list[SeriesScores]:
    """Series of every shape a hint list meets: empty, one point, uneven gaps, long quiet
    stretches between episodes, points before and after the window."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        count = int(rng.integers(0, 60))
        gaps = rng.choice([30.0, 60.0, 61.5, 300.0, 1200.0], size=count)
        at = np.cumsum(gaps) / 60 + float(rng.uniform(-30, 30))
        scores = np.where(rng.random(count) < 0.3, rng.uniform(0.6, 1.0, count), 0.2)
        out.append(SeriesScores.of(i, "cpu_usage", minutes(*at.tolist()), scores.tolist()))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_the_onsets_of_many_series_found_at_once_are_each_one_found_alone(seed):
    series = random_series(seed)
    start, end = (epoch_us(t) for t in window(STARTED))
    started = epoch_us(STARTED)
    alone = [_onset(s, start, end, started) for s in series]
    assert any(alone), "the cases must include series that moved"
    assert _onsets(series, start, end, started) == alone


def test_the_grid_interval_is_the_coarsest_series_upper_median_gap():
    every_minute = SeriesScores.of(1, "a", minutes(*range(10)), [0.1] * 10)
    # gaps of 2, 2, 10 and 10 minutes: its upper median gap is 10 minutes
    sparse = SeriesScores.of(2, "b", minutes(0, 2, 4, 14, 24), [0.1] * 5)
    single = SeriesScores.of(3, "c", minutes(5), [0.1])
    assert _interval([every_minute, sparse, single]) == 600.0
    # gaps of 2, 2 and 10 minutes
    assert _interval([SeriesScores.of(2, "b", minutes(0, 2, 4, 14), [0.1] * 4)]) == 120.0
    assert _interval([every_minute, single]) == 60.0
    # under a second apart, or no gap at all: compared a second apart
    assert _interval([SeriesScores.of(4, "d", [T0, T0 + timedelta(milliseconds=10)], [0, 0])]) == 1
    assert _interval([single]) == 1.0


def test_a_series_correlation_is_the_same_asked_alone_or_with_every_other():
    series = random_series(7)
    start, end = (epoch_us(t) for t in window(STARTED))
    grid = _Grid(series, start, end, 60.0)
    for lag in (0, 3, 11):
        every = grid.correlations(0, lag, range(len(series)))
        some = [3, 8, 21]
        assert grid.correlations(0, lag, some).tolist() == every[some].tolist()


def _correlations_by_array_operations(values, target: int, lag: int) -> np.ndarray:
    """Every row's correlation at `lag` with row `target` by numpy's array operations: what
    the ranking computed before its loop was compiled (2026-12-07), kept as the reference."""
    width = values.shape[1]
    if lag >= width:
        return np.zeros(len(values))
    x = values[:, : width - lag]
    y = np.broadcast_to(values[target, lag:], x.shape)
    both = ~np.isnan(x) & ~np.isnan(y)
    n = both.sum(axis=1)
    safe_n = np.maximum(n, 1)
    xz, yz = np.where(both, x, 0.0), np.where(both, y, 0.0)
    dx = np.where(both, x - (xz.sum(axis=1) / safe_n)[:, None], 0.0)
    dy = np.where(both, y - (yz.sum(axis=1) / safe_n)[:, None], 0.0)
    sxy, sxx, syy = (dx * dy).sum(axis=1), (dx * dx).sum(axis=1), (dy * dy).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = sxy / np.sqrt(sxx * syy)
    return np.where((n >= 3) & (sxx > 0) & (syy > 0), r, 0.0)


@pytest.mark.parametrize("seed", range(12))
def test_the_compiled_correlations_are_the_array_operations_figures_to_the_bit(seed):
    # widths below 8, within numpy's block of 128 and beyond it (its sums add in another order
    # there), gaps, constant rows, and leads up to past the width
    rng = np.random.default_rng(seed)
    for width in (2, 7, 8, 46, 129, 300):
        values = rng.uniform(0.0, 1.0, (9, width))
        values[rng.random(values.shape) < rng.uniform(0.0, 0.5)] = np.nan
        values[int(rng.integers(9))] = 0.5
        grid = _Grid([], 0, 0, 1.0)
        grid.values = values
        target = int(rng.integers(9))
        for lag in (0, 1, 3, 30, width - 1, width + 2):
            compiled = grid.correlations(target, lag, range(9))
            expected = _correlations_by_array_operations(values, target, lag)
            assert compiled.tobytes() == expected.tobytes(), (width, lag)


def test_a_series_best_correlation_is_its_highest_over_its_own_lags():
    series = random_series(11)
    start, end = (epoch_us(t) for t in window(STARTED))
    grid = _Grid(series, start, end, 60.0)
    rows, lags = [1, 1, 1, 4, 9, 9], [0, 2, 5, 3, 1, 7]
    best = grid.best_correlations(0, np.array(rows), np.array(lags))
    each = {row: [] for row in rows}
    for row, lag in zip(rows, lags, strict=True):
        each[row].append(grid.correlations(0, lag, [row])[0])
    assert best.tolist() == [max(each[row]) for row in (1, 4, 9)]
