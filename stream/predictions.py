"""Predicted capacity crossings, as incidents of their own: EMS hears before the disk is full.

After each batch, every bounded series it touched (`CAPACITY_RULES`) is assessed from its
capacity line (`stream.capacity.outlook`, up to `CAPACITY_HORIZON_HOURS` ahead):

- *predicted*: the forecast reaches the limit within the horizon with a probability of at least
  `CAPACITY_CONFIDENCE` (0.9);
- *cleared*: the probability fell under 0.5, or no crossing is in sight: the trend turned;
- in between, a metric keeps the state it had, so a prediction does not flap at the edge.

An asset's predicted metrics form one `prediction` incident (kind `prediction` in `incidents`,
beside its anomaly incident): opened by the first predicted metric, updated when a metric joins
or leaves or the severity rises, resolved when none is left. Severity is by the soonest
crossing: critical within a day, warning within three, info beyond; as an anomaly incident's, it
rises while the incident is open and never falls (a crossing receding as the fill slows is no
news). Each change goes through the
same outboxes as anomaly incidents, in the same transaction as the scores of the batch
that caused it, so it reaches EMS Core exactly once and the topic (as `prediction.open`,
`prediction.update`, `prediction.resolve`) at least once with one `event_id`. A batch scored
again after a crash applies the outlooks only of series with a point newly stored
(`ScoreWriter.write`), so it assesses nothing twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from stream import capacity
from stream.capacity import CapacityRules, Outlook
from stream.features import SeriesState
from stream.incidents import SEVERITY_RANK, IncidentEvent, Severity, queue_change, upsert
from stream.sinks import pg_arrays

#: the probability under which a predicted metric is cleared
CLEAR_PROBABILITY = 0.5
CATEGORY = "prediction"


@dataclass(frozen=True, slots=True)
class PredictionRef:
    """A bounded series' outlook after a batch, at its last point `ts`."""

    asset_id: int
    metric: str
    ts: datetime
    outlook: Outlook


class CapacityWatch:
    """Which series are bounded, and their outlook (pure: reads states, writes nothing)."""

    def __init__(self, rules: CapacityRules, *, horizon_hours: float, confidence: float) -> None:
        self.rules = rules
        self.horizon_hours = horizon_hours
        self.confidence = confidence

    def assess(
        self, asset_id: int, metric: str, state: SeriesState, ts: datetime
    ) -> PredictionRef | None:
        """The outlook of a bounded series (None for another metric or a line too young); the
        crossing is looked for within the horizon only, which is all a decision needs."""
        return self.assess_line(asset_id, metric, state.trend, lambda: state.season, ts)

    def assess_line(
        self,
        asset_id: int,
        metric: str,
        trend: dict | None,
        season: Callable[[], dict | None],
        ts: datetime,
    ) -> PredictionRef | None:
        """`assess` from the series' capacity line (`trend`) and seasonal profile (`season()`),
        as `SeriesState` holds them. `season` is called only once the line can say something:
        reading a profile out of an engine row costs more than the rest of an outlook."""
        rule = self.rules.for_metric(metric)
        if rule is None or trend is None or capacity.fit(trend) is None:
            return None
        profile = season()
        if profile is None:
            return None
        horizon = self.horizon_hours
        seen = capacity.outlook(trend, profile, ts, rule.limit, horizon, horizon)
        return None if seen is None else PredictionRef(asset_id, metric, ts, seen)

    def verdict(self, outlook: Outlook) -> bool | None:
        """True: predicted; False: cleared; None: in between (keeps what it was)."""
        hours = outlook.hours_to_crossing
        if hours is None or hours > self.horizon_hours or outlook.probability < CLEAR_PROBABILITY:
            return False
        return True if outlook.probability >= self.confidence else None


def in_words(hours: float | None) -> str:
    """When a crossing comes, for a person.

    >>> [in_words(h) for h in (0.0, 0.25, 5.0, 50.0, None)]
    ['now', 'in 15 minutes', 'in 5.0 hours', 'in 2.1 days', 'soon']
    """
    if hours is None:
        return "soon"
    if hours == 0:
        return "now"
    if hours < 1:
        return f"in {round(hours * 60)} minutes"
    return f"in {hours:.1f} hours" if hours < 48 else f"in {hours / 24:.1f} days"


def severity_of(hours: float) -> Severity:
    return "critical" if hours <= 24 else "warning" if hours <= 72 else "info"


def _metric_details(ref: PredictionRef) -> dict:
    o = ref.outlook
    crossing = o.crossing_at(ref.ts)
    return {
        "limit": o.limit,
        "level": round(o.level, 6),
        "slope_per_day": round(o.slope_per_day, 6),
        "hours_to_crossing": None if o.hours_to_crossing is None else round(o.hours_to_crossing, 2),
        "crossing_at": crossing.isoformat() if crossing else None,
        "probability": round(o.probability, 4),
        "assessed_at": ref.ts.isoformat(),
    }


def prediction_payload(incident: dict) -> dict:
    """The EMS event JSON of a prediction incident (README, Forecasts)."""
    per_metric = incident["details"]["metrics"]
    soonest = incident["peak_metric"]
    first = per_metric.get(soonest, {})
    when = in_words(first.get("hours_to_crossing"))
    return {
        "asset_id": incident["asset_id"],
        "severity": incident["severity"],
        "title": f"Predicted: {soonest} on asset {incident['asset_id']} reaches "
        f"{first.get('limit')} {when}",
        "description": "; ".join(
            f"{m} at {d['level']:.1f}, {d['slope_per_day']:+.2f} a day, reaches {d['limit']} "
            f"at {d['crossing_at']} (probability {d['probability']:.2f})"
            for m, d in sorted(per_metric.items())
        ),
        "source": "ml-service",
        "metric": soonest,
        "score": first.get("probability"),
        "started_at": incident["started_at"].isoformat(),
        "resolved_at": incident["resolved_at"].isoformat() if incident["resolved_at"] else None,
        "details": {
            "incident_id": str(incident["id"]),
            "kind": CATEGORY,
            "metrics": sorted(per_metric),
            "crossings": per_metric,
        },
    }


class PredictionTracker:
    """Applies a batch's outlooks to the prediction incidents of their assets."""

    def __init__(self, watch: CapacityWatch, *, queue_outbox: bool = True) -> None:
        self.watch = watch
        self.queue_outbox = queue_outbox

    async def apply(
        self, conn: AsyncConnection, outlooks: Sequence[PredictionRef]
    ) -> list[IncidentEvent]:
        """Inside the caller's transaction: open, update or resolve prediction incidents;
        return their changes."""
        if not outlooks:
            return []
        by_asset: dict[int, dict[str, PredictionRef]] = {}
        for ref in sorted(outlooks, key=lambda r: r.ts):
            by_asset.setdefault(ref.asset_id, {})[ref.metric] = ref
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT * FROM incidents WHERE asset_id = ANY(%s) AND status = 'open' "
            "AND kind = %s ORDER BY asset_id FOR UPDATE",
            (pg_arrays.int8_array(sorted(by_asset)), CATEGORY),
        )
        open_now = {row["asset_id"]: row for row in await cur.fetchall()}
        events: list[IncidentEvent] = []
        for asset_id in sorted(by_asset):
            events += await self._apply_asset(conn, by_asset[asset_id], open_now.get(asset_id))
        return events

    async def _apply_asset(
        self, conn: AsyncConnection, refs: dict[str, PredictionRef], incident: dict | None
    ) -> list[IncidentEvent]:
        held = dict(incident["details"]["metrics"]) if incident else {}
        for metric, ref in refs.items():
            verdict = self.watch.verdict(ref.outlook)
            if verdict or (verdict is None and metric in held):
                held[metric] = _metric_details(ref)
            else:
                held.pop(metric, None)
        latest = max(ref.ts for ref in refs.values())
        if incident is None:
            if not held:
                return []
            incident = {
                "id": uuid.uuid4(),
                "asset_id": next(iter(refs.values())).asset_id,
                "kind": CATEGORY,
                "status": "open",
                "started_at": latest,
                "resolved_at": None,
            }
            before = None
        else:
            before = {"metrics": set(incident["metrics"]), "severity": incident["severity"]}
        if not held:
            incident.update(status="resolved", resolved_at=latest, last_anomaly_at=latest)
            await upsert(conn, incident)
            return [await self._queue(conn, incident, "resolve")]
        soonest = min(held, key=lambda m: held[m]["hours_to_crossing"])
        severity = severity_of(held[soonest]["hours_to_crossing"])
        if before is not None and SEVERITY_RANK[before["severity"]] > SEVERITY_RANK[severity]:
            severity = before["severity"]  # as for anomalies: it rises, never falls while open
        incident.update(
            metrics=sorted(held),
            anomalies=len(held),
            peak_metric=soonest,
            peak_score=held[soonest]["probability"],
            severity=severity,
            last_anomaly_at=latest,
            details={"metrics": held},
        )
        await upsert(conn, incident)
        if before is None:
            return [await self._queue(conn, incident, "open")]
        if before != {"metrics": set(incident["metrics"]), "severity": incident["severity"]}:
            return [await self._queue(conn, incident, "update")]
        return []

    async def _queue(self, conn, incident: dict, kind: str) -> IncidentEvent:
        return await queue_change(
            conn,
            incident,
            kind,
            prediction_payload(incident),
            category=CATEGORY,
            queue_outbox=self.queue_outbox,
        )
