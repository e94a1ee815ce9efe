"""The root-cause hints of a stored incident: its candidates' scores read, then ranked.

The SQL half of `stream.root_cause`: the candidates are the incident's asset's own metrics and
every series of another asset with an anomaly in the hints' window (through the partial index
of anomalies by time), at most `MAX_OTHER_SERIES` of those, the most anomalous first. Used by
`GET /api/v1/incidents/{id}` and for the top hints in the EMS event of an incident's change.

The worker builds a hint list at every incident change, and the lists of incidents near each
other in time read mostly the same series over mostly the same minutes. It keeps the scores it
has read (`ScoreCache`) and reads from PostgreSQL only what it does not hold: a series' points
after the newest one it holds, none at all where it holds the whole window. That is exact
because a series' scores are stored in time order and never changed: the worker refuses a
point not after its series' last one, one worker at a time writes a series, and a stored score
is never updated (a replayed point hits the key and is skipped). So once a read has returned a
series' points up to some instant, no point of that series at or before it can appear later.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime

import numpy as np
from psycopg import AsyncConnection

from stream import root_cause
from stream.root_cause import Hint, SeriesScores, epoch_us
from stream.sinks import pg_arrays

#: series of other assets a hint list looks at, at most
MAX_OTHER_SERIES = 200
#: scores a worker holds for its hint lists, at most (16 bytes each); the series used longest
#: ago go first
MAX_HELD_POINTS = 1_000_000
#: how far before a hint list's window a held series keeps its points: an incident's later
#: changes read its window again, and one that lasts hours reads a window that far back
HELD_SECONDS = 6 * 3600.0

# The candidates, in (asset, metric) order. The asset's own metrics are found by skipping
# through the key from one metric to the next (`own`, one index probe a metric), not by reading
# the asset's rows of the window: the key cannot be read by time for an asset alone, so that
# read went through every point of the asset in the month's partition (README, Root-cause
# hints). A metric of the asset with no point in the window (one it no longer reports) has no
# points read and is left out.
_CANDIDATES = """
WITH RECURSIVE own(metric) AS (
    SELECT min(metric) FROM anomaly_scores WHERE asset_id = %(asset)s
    UNION ALL
    SELECT (SELECT min(s.metric) FROM anomaly_scores s
            WHERE s.asset_id = %(asset)s AND s.metric > own.metric)
    FROM own WHERE own.metric IS NOT NULL
), others AS (
    SELECT asset_id, metric FROM anomaly_scores
    WHERE is_anomaly AND ts BETWEEN %(start)s AND %(end)s AND asset_id <> %(asset)s
    GROUP BY asset_id, metric ORDER BY count(*) DESC, asset_id, metric LIMIT %(limit)s
), candidates AS (
    SELECT %(asset)s::bigint AS asset_id, metric FROM own WHERE metric IS NOT NULL
    UNION ALL
    SELECT asset_id, metric FROM others
)
SELECT asset_id, metric FROM candidates ORDER BY asset_id, metric
"""

# The points of each series given, in the window and after the instant given for it, as one row
# a series (two arrays, in time order): a hint list reads up to MAX_OTHER_SERIES series of
# dozens of points each, and a row a point cost the worker more than the ranking (README,
# Benchmarks). Each series' points are read on their own through the key (asset_id, metric,
# ts), LATERAL: joined as one set, the planner read a young table's whole partition for them.
# The window's bounds stay constants, so only its months' partitions are looked at.
_POINTS = """
SELECT c.n - 1, p.stamps, p.scores
FROM unnest(%(assets)s::int8[], %(metrics)s::text[], %(after)s::timestamptz[])
    WITH ORDINALITY AS c(asset_id, metric, after, n)
CROSS JOIN LATERAL (
    SELECT array_agg((extract(epoch FROM s.ts) * 1000000)::int8 ORDER BY s.ts) AS stamps,
           array_agg(s.score ORDER BY s.ts) AS scores
    FROM anomaly_scores s
    WHERE s.asset_id = c.asset_id AND s.metric = c.metric
      AND s.ts BETWEEN %(start)s AND %(end)s AND s.ts > c.after
) p
WHERE p.stamps IS NOT NULL
"""


class _Held:
    """A series' scores held: every score stored of it from `from_us` to its newest point held,
    in time order; never empty. The points live in buffers with room to grow (a series that is
    a candidate of many lists gains a few points a list: appending is not a copy of all it
    holds each time), at `[first:count]`; `newest` is the time of the last of them."""

    __slots__ = ("from_us", "stamps", "scores", "first", "count", "newest")

    def __init__(self, from_us: int, stamps: np.ndarray, scores: np.ndarray) -> None:
        self.from_us, self.first, self.count = from_us, 0, 0
        self.stamps, self.scores = np.empty(0, np.int64), np.empty(0)
        self.append(stamps, scores)

    @property
    def points(self) -> int:
        return self.count - self.first

    def append(self, stamps: np.ndarray, scores: np.ndarray) -> None:
        """Hold points after the newest held, in time order (at least one for a new series)."""
        if not len(stamps):
            return
        end = self.count + len(stamps)
        if end > len(self.stamps):
            held, room = self.points, max(64, 2 * (self.points + len(stamps)))
            grown_stamps, grown_scores = np.empty(room, np.int64), np.empty(room)
            grown_stamps[:held] = self.stamps[self.first : self.count]
            grown_scores[:held] = self.scores[self.first : self.count]
            self.stamps, self.scores, self.first, self.count = grown_stamps, grown_scores, 0, held
            end = held + len(stamps)
        self.stamps[self.count : end] = stamps
        self.scores[self.count : end] = scores
        self.count = end
        self.newest = int(stamps[-1])

    def cut(self, floor_us: int) -> int:
        """Forget the points before `floor_us` (after `from_us`); how many were forgotten."""
        if self.from_us >= floor_us:
            return 0
        cut = int(self.stamps[self.first : self.count].searchsorted(floor_us))
        self.first += cut
        self.from_us = floor_us
        return cut

    def between(self, start_us: int, end_us: int) -> tuple[np.ndarray, np.ndarray]:
        """The points from `start_us` to `end_us`, both included (views: what is held is only
        ever appended to, past them, or copied into new buffers)."""
        first = self.first
        stamps = self.stamps[first : self.count]
        if stamps[0] >= start_us and self.newest <= end_us:  # all of them: no search
            return stamps, self.scores[first : self.count]
        lo, hi = stamps.searchsorted((start_us, end_us + 1)).tolist()  # integer times
        return stamps[lo:hi], self.scores[first + lo : first + hi]


class ScoreCache:
    """The scores of the series a worker's hint lists have read (see the module's docstring for
    why holding them is exact), at most about `max_points` of them, each series' from at most
    `held_seconds` before the window of the list that last read it.

    For one list: `after` says where each candidate's read starts (or that none is needed), `add`
    takes what the reads returned, `window` gives each candidate's points in the window, and
    `trim` then forgets the series used longest ago while more than `max_points` are held."""

    def __init__(
        self, max_points: int = MAX_HELD_POINTS, held_seconds: float = HELD_SECONDS
    ) -> None:
        self.max_points = max_points
        self.held_us = int(held_seconds * 1e6)
        self._series: OrderedDict[tuple[int, str], _Held] = OrderedDict()
        self._points = 0

    @property
    def points(self) -> int:
        """The scores held now."""
        return self._points

    def after(self, key: tuple[int, str], start_us: int, end_us: int) -> int | None:
        """Where a read of the series `key` for a window from `start_us` to `end_us` starts:
        its points after the instant returned (None: the whole window is held)."""
        held = self._series.get(key)
        if held is None or held.from_us > start_us or held.newest < start_us - 1:
            return start_us - 1  # the whole window: nothing held reaches it
        return None if held.newest >= end_us else held.newest

    def add(
        self, key: tuple[int, str], after_us: int, stamps: np.ndarray, scores: np.ndarray
    ) -> None:
        """Hold what a read of `key` after `after_us` (as `after` said) returned: its points
        from there on, in time order (none: nothing new)."""
        held = self._series.get(key)
        if held is not None and held.from_us <= after_us and held.newest == after_us:
            held.append(stamps, scores)
            self._points += len(stamps)
            return
        self._forget(key)  # a read of the whole window replaces what was held
        if len(stamps):
            self._series[key] = _Held(after_us + 1, stamps, scores)
            self._points += len(stamps)

    def window(self, key: tuple[int, str], start_us: int, end_us: int) -> SeriesScores | None:
        """The series' points from `start_us` to `end_us` as held (after `add`), None where it
        has none there; forgets what it held more than `held_seconds` before `start_us`."""
        held = self._series.get(key)
        if held is None:
            return None
        self._series.move_to_end(key)
        floor = start_us - self.held_us
        if held.from_us < floor:
            self._points -= held.cut(floor)
            if held.first == held.count:
                self._forget(key)
                return None
        stamps, scores = held.between(start_us, end_us)
        return SeriesScores(key[0], key[1], stamps, scores) if len(stamps) else None

    def trim(self) -> None:
        """Forget the series used longest ago while more than `max_points` are held."""
        while self._points > self.max_points and self._series:
            self._forget(next(iter(self._series)))

    def _forget(self, key: tuple[int, str]) -> None:
        held = self._series.pop(key, None)
        if held is not None:
            self._points -= held.points


async def candidate_scores(
    conn: AsyncConnection, asset_id: int, started_at: datetime, cache: ScoreCache | None = None
) -> list[SeriesScores]:
    """The scores over `root_cause.window(started_at)` of the candidates of an incident of
    `asset_id` starting then, in (asset, metric) order, each with a point in the window.
    `cache`: the scores read for earlier lists, which this one reads on from (the worker's);
    without it, every candidate's window is read."""
    start, end = root_cause.window(started_at)
    start_us, end_us = epoch_us(start), epoch_us(end)
    cache = cache if cache is not None else ScoreCache()
    cur = await conn.execute(
        _CANDIDATES, {"asset": asset_id, "start": start, "end": end, "limit": MAX_OTHER_SERIES}
    )
    keys = [(asset, metric) for asset, metric in await cur.fetchall()]
    reads = [
        (key, after) for key in keys if (after := cache.after(key, start_us, end_us)) is not None
    ]
    found: dict[int, tuple[list, list]] = {}
    if reads:
        cur = await conn.execute(
            _POINTS,
            {
                "assets": pg_arrays.int8_array([a for (a, _), _ in reads]),
                "metrics": pg_arrays.text_array([m for (_, m), _ in reads], conn.info.encoding),
                "after": pg_arrays.timestamptz_epoch_us_array([after for _, after in reads]),
                "start": start,
                "end": end,
            },
            binary=True,
        )
        found = {n: (stamps, scores) for n, stamps, scores in await cur.fetchall()}
    for n, (key, after) in enumerate(reads):
        stamps, scores = found.get(n, ((), ()))
        cache.add(key, after, np.array(stamps, np.int64), np.array(scores, np.float64))
    series = [s for key in keys if (s := cache.window(key, start_us, end_us)) is not None]
    cache.trim()
    return series


async def for_incident(
    conn: AsyncConnection,
    incident: dict,
    limit: int | None = None,
    cache: ScoreCache | None = None,
) -> list[Hint]:
    """The ranked hints of `incident` (a row of `incidents`: asset_id, started_at, peak_metric),
    from the scores stored now (`candidate_scores`, read on from `cache` where given); the
    first `limit` of them (all by default)."""
    series = await candidate_scores(conn, incident["asset_id"], incident["started_at"], cache)
    return root_cause.rank(
        series,
        asset_id=incident["asset_id"],
        metric=incident["peak_metric"],
        started_at=incident["started_at"],
        limit=limit,
    )


def as_details(hints: list[Hint]) -> list[dict]:
    """The hints as the JSON an EMS event and the API carry."""
    return [
        {
            "asset_id": h.asset_id,
            "metric": h.metric,
            "onset": h.onset.isoformat(),
            "lead_seconds": h.lead_seconds,
            "correlation": round(h.correlation, 4),
            "sustained": round(h.sustained, 4),
            "peak_score": round(h.peak_score, 4),
            "reason": h.reason,
        }
        for h in hints
    ]
