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
...     return SeriesScores(asset, metric, [t0 + timedelta(minutes=i) for i in range(60)], scores)
>>> hints = rank(
...     [series(7, "latency_ms", 30), series(7, "cpu_usage", 25), series(3, "db_connections", 20)],
...     asset_id=7, metric="latency_ms", started_at=t0 + timedelta(minutes=30))
>>> [(h.asset_id, h.metric, h.lead_seconds) for h in hints]
[(3, 'db_connections', 600.0), (7, 'cpu_usage', 300.0), (7, 'latency_ms', 0.0)]
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

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


@dataclass(frozen=True, slots=True)
class SeriesScores:
    """One series' scores over the window, in time order."""

    asset_id: int
    metric: str
    timestamps: Sequence[datetime]
    scores: Sequence[float]


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


def _grid(s: SeriesScores, start: datetime, bucket: float) -> dict[int, float]:
    """The series' highest score in each bucket of `bucket` seconds from `start`."""
    out: dict[int, float] = {}
    for ts, score in zip(s.timestamps, s.scores, strict=True):
        b = int((ts - start).total_seconds() // bucket)
        out[b] = max(out.get(b, 0.0), score)
    return out


def _correlation(a: dict[int, float], b: dict[int, float], lag: int = 0) -> float:
    """Pearson correlation of `a` `lag` buckets earlier with `b`."""
    common = sorted({k + lag for k in a} & b.keys())
    if len(common) < 3:
        return 0.0
    xs, ys = [a[k - lag] for k in common], [b[k] for k in common]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else 0.0


def _interval(series: Sequence[SeriesScores]) -> float:
    """The coarsest median sampling interval of the series: the grid scores are compared on."""
    coarsest = 1.0
    for s in series:
        gaps = sorted(
            (b - a).total_seconds() for a, b in zip(s.timestamps, s.timestamps[1:], strict=False)
        )
        if gaps:
            coarsest = max(coarsest, gaps[len(gaps) // 2])
    return coarsest


def _onset(s: SeriesScores, start: datetime, end: datetime, started_at: datetime):
    """The first point of the series' movement nearest the incident's start: its points of at
    least ONSET_SCORE in the window, grouped into episodes (gaps of at most EPISODE_GAP_SECONDS),
    and of those the episode nearest `started_at`. None when it never moved in the window."""
    moving = [
        ts
        for ts, score in zip(s.timestamps, s.scores, strict=True)
        if start <= ts <= end and score >= ONSET_SCORE
    ]
    if not moving:
        return None
    episodes, first, last = [], moving[0], moving[0]
    for ts in moving[1:]:
        if (ts - last).total_seconds() > EPISODE_GAP_SECONDS:
            episodes.append((first, last))
            first = ts
        last = ts
    episodes.append((first, last))

    def distance(episode):
        a, b = episode
        if a <= started_at <= b:
            return 0.0
        return min(abs((a - started_at).total_seconds()), abs((b - started_at).total_seconds()))

    return min(episodes, key=lambda e: (distance(e), e[0]))[0]


def rank(
    series: Sequence[SeriesScores], *, asset_id: int, metric: str, started_at: datetime
) -> list[Hint]:
    """The hints for an incident of `asset_id` starting at `started_at` whose peak was on
    `metric`, from the scores of the candidate series over `window(started_at)`; best first.
    Series that never reach ONSET_SCORE in the window are no hint."""
    start, end = window(started_at)
    bucket = _interval(series)
    target = next((s for s in series if (s.asset_id, s.metric) == (asset_id, metric)), None)
    target_grid = _grid(target, start, bucket) if target else {}
    target_onset = (_onset(target, start, end, started_at) if target else None) or started_at
    hints = []
    for s in series:
        onset = _onset(s, start, end, started_at)
        if onset is None:
            continue
        own = s is target
        grid = _grid(s, start, bucket)
        # a cause leads its effects by the time between their onsets: compared at that lead
        # (give or take LAG_SLACK buckets), not at whichever lead happens to fit best
        lead = round((target_onset - onset).total_seconds() / bucket)
        lags = range(max(0, lead - LAG_SLACK), max(0, min(MAX_LAG_BUCKETS, lead + LAG_SLACK)) + 1)
        correlation = (
            1.0 if own else max((_correlation(grid, target_grid, lag) for lag in lags), default=0.0)
        )
        peak = max(score for ts, score in zip(s.timestamps, s.scores, strict=True) if ts >= start)
        after = [score for ts, score in zip(s.timestamps, s.scores, strict=True) if ts > onset]
        sustained = statistics.median(after[:SUSTAINED_POINTS]) if after else 0.0
        hints.append(
            Hint(
                s.asset_id,
                s.metric,
                onset,
                (started_at - onset).total_seconds(),
                correlation,
                peak,
                sustained,
                "",
            )
        )
    hints.sort(
        key=lambda h: (
            h.correlation < MIN_CORRELATION,
            h.sustained < SUSTAINED_SCORE,
            h.onset,
            -h.correlation,
        )
    )
    return [_with_reason(h, asset_id, metric) for h in hints]


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
