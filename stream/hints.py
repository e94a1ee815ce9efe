"""The root-cause hints of a stored incident: its candidates' scores read, then ranked.

The SQL half of `stream.root_cause`: the candidates are the incident's asset's own metrics and
every series of another asset with an anomaly in the hints' window (through the partial index
of anomalies by time), at most `MAX_OTHER_SERIES` of those, the most anomalous first. Used by
`GET /api/v1/incidents/{id}` and for the top hints in the EMS event of an incident's change.
"""

from __future__ import annotations

from collections import defaultdict

from psycopg import AsyncConnection

from stream import root_cause
from stream.root_cause import Hint, SeriesScores

#: series of other assets a hint list looks at, at most
MAX_OTHER_SERIES = 200

_CANDIDATE_SCORES = """
WITH others AS (
    SELECT asset_id, metric FROM anomaly_scores
    WHERE is_anomaly AND ts BETWEEN %(start)s AND %(end)s AND asset_id <> %(asset)s
    GROUP BY asset_id, metric ORDER BY count(*) DESC, asset_id, metric LIMIT %(limit)s
)
SELECT asset_id, metric, ts, score FROM anomaly_scores
WHERE asset_id = %(asset)s AND ts BETWEEN %(start)s AND %(end)s
UNION ALL
SELECT s.asset_id, s.metric, s.ts, s.score
FROM anomaly_scores s JOIN others USING (asset_id, metric)
WHERE s.ts BETWEEN %(start)s AND %(end)s
ORDER BY 1, 2, 3
"""


async def for_incident(conn: AsyncConnection, incident: dict) -> list[Hint]:
    """The ranked hints of `incident` (a row of `incidents`: asset_id, started_at, peak_metric),
    from the scores stored now."""
    start, end = root_cause.window(incident["started_at"])
    cur = await conn.execute(
        _CANDIDATE_SCORES,
        {"asset": incident["asset_id"], "start": start, "end": end, "limit": MAX_OTHER_SERIES},
    )
    by_series: dict[tuple[int, str], tuple[list, list]] = defaultdict(lambda: ([], []))
    for asset_id, metric, ts, score in await cur.fetchall():
        stamps, scores = by_series[(asset_id, metric)]
        stamps.append(ts)
        scores.append(score)
    series = [SeriesScores(a, m, ts, sc) for (a, m), (ts, sc) in by_series.items()]
    return root_cause.rank(
        series,
        asset_id=incident["asset_id"],
        metric=incident["peak_metric"],
        started_at=incident["started_at"],
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
