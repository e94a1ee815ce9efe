"""The root-cause hints of a stored incident: its candidates' scores read, then ranked.

The SQL half of `stream.root_cause`: the candidates are the incident's asset's own metrics and
every series of another asset with an anomaly in the hints' window (through the partial index
of anomalies by time), at most `MAX_OTHER_SERIES` of those, the most anomalous first. Used by
`GET /api/v1/incidents/{id}` and for the top hints in the EMS event of an incident's change.
"""

from __future__ import annotations

import numpy as np
from psycopg import AsyncConnection

from stream import root_cause
from stream.root_cause import Hint, SeriesScores

#: series of other assets a hint list looks at, at most
MAX_OTHER_SERIES = 200

# one row a series, its points as two arrays (in time order): a hint list reads up to
# MAX_OTHER_SERIES series of dozens of points each, once for every incident change, and a row a
# point cost the worker more than the ranking (README, Benchmarks). Each candidate's points are
# read on their own through the key (asset_id, metric, ts), LATERAL: joined as one set, the
# planner read a young table's whole partition for them, at every incident change. The asset's
# own metrics are found by skipping through the key from one metric to the next (`own`, one
# index probe a metric), not by reading the asset's rows of the window: the key cannot be read
# by time for an asset alone, so that read went through every point of the asset in the month's
# partition (README, Root-cause hints). A metric of the asset with no point in the window (one
# it no longer reports) has no arrays and is left out at the end.
_CANDIDATE_SCORES = """
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
SELECT c.asset_id, c.metric, p.stamps, p.scores
FROM candidates c CROSS JOIN LATERAL (
    SELECT array_agg((extract(epoch FROM s.ts) * 1000000)::int8 ORDER BY s.ts) AS stamps,
           array_agg(s.score ORDER BY s.ts) AS scores
    FROM anomaly_scores s
    WHERE s.asset_id = c.asset_id AND s.metric = c.metric
      AND s.ts BETWEEN %(start)s AND %(end)s
) p
WHERE p.stamps IS NOT NULL
ORDER BY c.asset_id, c.metric
"""


async def for_incident(
    conn: AsyncConnection, incident: dict, limit: int | None = None
) -> list[Hint]:
    """The ranked hints of `incident` (a row of `incidents`: asset_id, started_at, peak_metric),
    from the scores stored now; the first `limit` of them (all by default)."""
    start, end = root_cause.window(incident["started_at"])
    cur = await conn.execute(
        _CANDIDATE_SCORES,
        {"asset": incident["asset_id"], "start": start, "end": end, "limit": MAX_OTHER_SERIES},
        binary=True,
    )
    series = [
        SeriesScores(
            asset_id,
            metric,
            np.array(stamps, dtype=np.int64),
            np.array(scores, dtype=np.float64),
        )
        for asset_id, metric, stamps, scores in await cur.fetchall()
    ]
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
