"""NAB's published scoring rules (Numenta Anomaly Benchmark v1.1), implemented from its paper and
documentation:

- The first 15% of each file (at most 750 rows) is probationary: never scored.
- A detection inside a label window is a true positive; only the earliest one in a window counts,
  weighted by a scaled sigmoid of its position (1 at the window's left edge, 0 at its right edge).
- A detection outside every window is a false positive, weighted by the profile's FP weight and by
  how far it falls after the previous window (a detection just after a window costs little, one far
  from any window costs the full weight).
- A window with no detection costs the profile's FN weight.
- One threshold for the whole corpus, chosen to maximise the total raw score.
- Normalised: 100 x (raw - null) / (perfect - null), where the null detector detects nothing and the
  perfect one detects every window at its left edge.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

PROBATION_PERCENT = 0.15


@dataclass(frozen=True)
class CostMatrix:
    tp: float
    fp: float
    fn: float

    @classmethod
    def from_profile(cls, profile: Mapping) -> CostMatrix:
        m = profile["CostMatrix"]
        return cls(tp=m["tpWeight"], fp=m["fpWeight"], fn=m["fnWeight"])


@dataclass(frozen=True)
class ScoredRow:
    """One row of one file: its detector score, and what a detection there would be worth."""

    anomaly_score: float
    #: weighted value of a detection here: TP credit inside a window, FP cost (<= 0) outside
    sweep_value: float
    #: the window the row lies in ("file|start"), None outside windows, "" in probation
    window: str | None


def scaled_sigmoid(relative_position: float) -> float:
    """-1 at the left edge of a window gives ~0.987; 0 (right edge) gives 0; far past gives -1."""
    if relative_position >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * relative_position)) - 1.0


def probationary_length(n_rows: int) -> float:
    return min(math.floor(PROBATION_PERCENT * n_rows), PROBATION_PERCENT * 5000)


def sweep_rows(
    name: str,
    timestamps: Sequence[datetime],
    scores: Sequence[float],
    windows: Sequence[tuple[datetime, datetime]],
    costs: CostMatrix,
) -> list[ScoredRow]:
    """Value every row of one file as if the detector fired there."""
    index = {ts: i for i, ts in enumerate(timestamps)}
    pending = sorted(windows)
    max_tp = scaled_sigmoid(-1.0)
    probation = probationary_length(len(timestamps))
    rows: list[ScoredRow] = []
    current = None  # (name, right index, width)
    previous = None  # (right index, width)
    for i, (ts, score) in enumerate(zip(timestamps, scores, strict=True)):
        if pending and ts == pending[0][0]:
            start, end = pending.pop(0)
            right = index[end]
            current = (f"{name}|{start.isoformat()}", right, float(right - index[start] + 1))
        if current is not None:
            window_name, right, width = current
            position = -(right - i + 1) / width
            value = scaled_sigmoid(position) * costs.tp / max_tp
        else:
            window_name = None
            past = 3.0 if previous is None else abs(previous[0] - i) / float(previous[1] - 1)
            value = scaled_sigmoid(past) * costs.fp
        rows.append(ScoredRow(score, value, window_name if i >= probation else ""))
        if current is not None and i == current[1]:
            previous = (current[1], current[2])
            current = None
    return rows


@dataclass(frozen=True)
class ThresholdResult:
    threshold: float
    score: float
    tp: int
    fp: int
    fn_windows: int


def best_threshold(rows: Sequence[ScoredRow], costs: CostMatrix) -> ThresholdResult:
    """Sweep every distinct score as a threshold (detect when score >= threshold); the best wins."""
    scorable = sorted(
        (r for r in rows if r.window != ""), key=lambda r: r.anomaly_score, reverse=True
    )
    window_best: dict[str, float] = {r.window: -costs.fn for r in scorable if r.window is not None}
    detected: set[str] = set()
    fp_total = 0.0
    window_total = sum(window_best.values())
    tp = fp = 0
    best = ThresholdResult(1.1, window_total + fp_total, 0, 0, len(window_best))
    i = 0
    while i < len(scorable):
        threshold = scorable[i].anomaly_score
        # every row with this same score becomes a detection at once
        while i < len(scorable) and scorable[i].anomaly_score == threshold:
            row = scorable[i]
            if row.window is None:
                fp += 1
                fp_total += row.sweep_value
            else:
                tp += 1
                if row.sweep_value > window_best[row.window]:
                    window_total += row.sweep_value - window_best[row.window]
                    window_best[row.window] = row.sweep_value
                detected.add(row.window)
            i += 1
        total = window_total + fp_total
        if total > best.score:
            best = ThresholdResult(threshold, total, tp, fp, len(window_best) - len(detected))
    return best


def score_at(rows: Sequence[ScoredRow], costs: CostMatrix, threshold: float) -> float:
    """Raw score of detecting every row whose score is >= threshold."""
    window_best: dict[str, float] = {}
    fp_total = 0.0
    for row in rows:
        if row.window == "":
            continue
        if row.window is not None:
            window_best.setdefault(row.window, -costs.fn)
            if row.anomaly_score >= threshold:
                window_best[row.window] = max(window_best[row.window], row.sweep_value)
        elif row.anomaly_score >= threshold:
            fp_total += row.sweep_value
    return sum(window_best.values()) + fp_total


def normalised(raw: float, *, n_windows: int, costs: CostMatrix, null_raw: float) -> float:
    perfect = n_windows * costs.tp
    return 100.0 * (raw - null_raw) / (perfect - null_raw)
