"""Incidents, not alert storms: anomalies of an asset grouped into one EMS event.

An incident opens at an asset's first anomaly, takes in every anomaly of any of the asset's metrics
while they keep coming, and resolves once the asset has gone `quiet_seconds` (event time) without
one. A point that continues an anomaly the scorer already alarmed (`PointScore.ongoing`: a level
shift or a burst that holds, whose later points are damped as repeats) keeps the incident open
without counting as a new anomaly. An asset that falls silent (no point at all, so its event time
stands still) is resolved by `resolve_silent` once no worker has scored a point of it for
`quiet_seconds` of wall-clock time.
Each change that matters to a person (opened, a new metric joins, the severity rises, resolved)
becomes one outbox row, written in the same transaction as the scores that caused it; the outbox
sender (`sinks/ems_core.py`) delivers them to EMS Core exactly once.

Only anomalies whose score rows were newly inserted are applied: a batch replayed after a worker
restart inserts nothing and so changes no incident twice.

Severity weighs score and duration: critical from a peak score of 0.9, or 0.8 sustained for 30
minutes; warning from 0.8, or any anomaly sustained for 10 minutes; info otherwise.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from stream import hints, metrics, priority, root_cause
from stream.sinks import pg_arrays

Severity = Literal["info", "warning", "critical"]
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}

SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (
    id               UUID PRIMARY KEY,
    asset_id         BIGINT NOT NULL,
    status           TEXT NOT NULL,            -- open | resolved
    severity         TEXT NOT NULL,
    metrics          TEXT[] NOT NULL,
    anomalies        INTEGER NOT NULL,
    peak_score       DOUBLE PRECISION NOT NULL,
    peak_metric      TEXT NOT NULL,
    started_at       TIMESTAMPTZ NOT NULL,
    last_anomaly_at  TIMESTAMPTZ NOT NULL,
    resolved_at      TIMESTAMPTZ,
    ems_event_id     TEXT
);
-- wall-clock time a worker last scored a point of the asset while the incident was open
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS last_seen_at TIMESTAMPTZ NOT NULL DEFAULT now();
-- anomaly: grouped anomalies (this module); prediction: predicted capacity crossings
-- (`stream.predictions`), with each metric's outlook in details
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS kind TEXT NOT NULL DEFAULT 'anomaly';
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS details JSONB;
DROP INDEX IF EXISTS incidents_one_open_per_asset;
CREATE UNIQUE INDEX IF NOT EXISTS incidents_one_open_per_asset_and_kind
    ON incidents (asset_id, kind) WHERE status = 'open';
CREATE TABLE IF NOT EXISTS ems_outbox (
    id               BIGSERIAL PRIMARY KEY,
    incident_id      UUID NOT NULL REFERENCES incidents (id),
    kind             TEXT NOT NULL,            -- open | update | resolve
    idempotency_key  TEXT NOT NULL UNIQUE,
    payload          JSONB NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_error       TEXT,
    sent_at          TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS ems_outbox_pending ON ems_outbox (id) WHERE sent_at IS NULL;
-- until when a sender holds the row (its HTTP call runs outside any transaction)
ALTER TABLE ems_outbox ADD COLUMN IF NOT EXISTS claimed_until TIMESTAMPTZ;
CREATE INDEX IF NOT EXISTS ems_outbox_pending_by_incident ON ems_outbox (incident_id, id)
    WHERE sent_at IS NULL;
"""


def severity_of(peak_score: float, duration: timedelta) -> Severity:
    minutes = duration.total_seconds() / 60
    if peak_score >= 0.9 or (peak_score >= 0.8 and minutes >= 30):
        return "critical"
    if peak_score >= 0.8 or minutes >= 10:
        return "warning"
    return "info"


@dataclass(frozen=True)
class AnomalyRef:
    asset_id: int
    metric: str
    ts: datetime
    score: float
    #: False for a point that continues an anomaly already alarmed (a repeat the scorer damped,
    #: `PointScore.ongoing`): it keeps the asset's open incident open but is no new anomaly, so
    #: it neither counts nor opens an incident
    counts: bool = True


@dataclass(frozen=True)
class IncidentEvent:
    """One change of an incident, as queued for EMS Core and published on the anomalies topic
    (as `<category>.<kind>`: `incident.open`, `prediction.resolve`)."""

    kind: Literal["open", "update", "resolve"]
    incident_id: str
    payload: dict
    category: str = "incident"


_UPSERT = """
INSERT INTO incidents (id, asset_id, kind, status, severity, metrics, anomalies, peak_score,
                       peak_metric, started_at, last_anomaly_at, resolved_at, details)
VALUES (%(id)s, %(asset_id)s, %(kind)s, %(status)s, %(severity)s, %(metrics)s, %(anomalies)s,
        %(peak_score)s, %(peak_metric)s, %(started_at)s, %(last_anomaly_at)s, %(resolved_at)s,
        %(details)s)
ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status,
    severity = EXCLUDED.severity, metrics = EXCLUDED.metrics,
    anomalies = EXCLUDED.anomalies, peak_score = EXCLUDED.peak_score,
    peak_metric = EXCLUDED.peak_metric, last_anomaly_at = EXCLUDED.last_anomaly_at,
    resolved_at = EXCLUDED.resolved_at, details = EXCLUDED.details
"""


async def upsert(conn: AsyncConnection, incident: dict) -> None:
    """Store `incident` (a row of `incidents` as a dict) inside the caller's transaction."""
    details = incident.get("details")
    await conn.execute(
        _UPSERT,
        {
            **incident,
            "kind": incident.get("kind", "anomaly"),
            "details": None if details is None else Jsonb(details),
        },
    )


async def queue_change(
    conn: AsyncConnection,
    incident: dict,
    kind: str,
    payload: dict,
    *,
    category: str = "incident",
    queue_outbox: bool = True,
) -> IncidentEvent:
    """Inside the caller's transaction: queue the change for EMS Core (unless `queue_outbox` is
    False), with an idempotency key unique to the incident and its sequence number; return the
    change for the anomalies topic."""
    if queue_outbox:
        cur = await conn.execute(
            "SELECT count(*) FROM ems_outbox WHERE incident_id = %s", (incident["id"],)
        )
        sequence = (await cur.fetchone())[0]
        await conn.execute(
            "INSERT INTO ems_outbox (incident_id, kind, idempotency_key, payload) "
            "VALUES (%s, %s, %s, %s)",
            (incident["id"], kind, f"{incident['id']}:{sequence}:{kind}", Jsonb(payload)),
        )
    return IncidentEvent(
        kind=kind, incident_id=str(incident["id"]), payload=payload, category=category
    )


def event_payload(incident: dict) -> dict:
    """The EMS event JSON of an incident (see the README for its fields)."""
    duration = incident["last_anomaly_at"] - incident["started_at"]
    metrics = sorted(incident["metrics"])
    return {
        "asset_id": incident["asset_id"],
        "severity": incident["severity"],
        "title": f"Anomalous {', '.join(metrics)} on asset {incident['asset_id']}",
        "description": (
            f"{incident['anomalies']} anomalous points in {len(metrics)} metric(s) since "
            f"{incident['started_at'].isoformat()}; peak score {incident['peak_score']:.2f} "
            f"on {incident['peak_metric']}"
        ),
        "source": "ml-service",
        "metric": incident["peak_metric"],
        "score": round(incident["peak_score"], 4),
        "priority": (incident.get("details") or {}).get("priority", {}).get("label"),
        "started_at": incident["started_at"].isoformat(),
        "resolved_at": incident["resolved_at"].isoformat() if incident["resolved_at"] else None,
        "details": {
            "incident_id": str(incident["id"]),
            "metrics": metrics,
            "anomalies": incident["anomalies"],
            "peak_score": incident["peak_score"],
            "duration_seconds": duration.total_seconds(),
            "last_anomaly_at": incident["last_anomaly_at"].isoformat(),
            "priority": (incident.get("details") or {}).get("priority"),
            "reopened": (incident.get("details") or {}).get("reopened", 0),
        },
    }


class IncidentTracker:
    """Applies a batch's new anomalies and latest timestamps to the incidents of its assets."""

    def __init__(
        self, *, quiet_seconds: float, queue_outbox: bool = True, flap_seconds: float = 900.0
    ) -> None:
        """`queue_outbox` False (AUTO_CREATE_ALERTS=false): incidents are tracked and published
        on the anomalies topic, but nothing is queued for EMS Core. An anomaly within
        `flap_seconds` after an incident of its asset resolved reopens that incident (flapping
        is one incident, not a new one each time)."""
        self.quiet = timedelta(seconds=quiet_seconds)
        self.flap = timedelta(seconds=flap_seconds)
        self.queue_outbox = queue_outbox
        #: whether EMS's `assets` table has a `criticality` column (read once)
        self._has_criticality: bool | None = None
        #: the scores earlier hint lists read, which the next ones read on from
        self._hint_scores = hints.ScoreCache()

    async def apply(
        self,
        conn: AsyncConnection,
        anomalies: Sequence[AnomalyRef],
        latest: dict[int, datetime],
    ) -> list[IncidentEvent]:
        """Inside the caller's transaction: update incidents, queue outbox rows, return events."""
        by_asset: dict[int, list[AnomalyRef]] = defaultdict(list)
        for a in sorted(anomalies, key=lambda a: a.ts):
            by_asset[a.asset_id].append(a)
        events: list[IncidentEvent] = []
        # one query for the batch: the open incidents of every asset it touched, locked
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT * FROM incidents WHERE asset_id = ANY(%s) AND status = 'open' "
            "AND kind = 'anomaly' ORDER BY asset_id FOR UPDATE",
            (pg_arrays.int8_array(sorted(set(by_asset) | set(latest))),),
        )
        open_incidents = {row["asset_id"]: row for row in await cur.fetchall()}
        # only assets with an open incident or a new anomaly can change
        for asset_id in sorted(set(by_asset) | set(open_incidents)):
            incident = open_incidents.get(asset_id)
            before = dict(incident) if incident else None
            for a in by_asset.get(asset_id, []):
                if incident and a.ts - incident["last_anomaly_at"] > self.quiet:
                    events += await self._resolve(conn, incident, before)
                    incident = before = None
                if not a.counts:
                    if incident is not None:
                        incident["last_anomaly_at"] = max(incident["last_anomaly_at"], a.ts)
                    continue
                if incident is None:
                    incident, before = await self._reopen_or_new(conn, a)
                else:
                    self._absorb(incident, a)
            if incident is not None and asset_id in latest:
                if latest[asset_id] - incident["last_anomaly_at"] > self.quiet:
                    events += await self._resolve(conn, incident, before)
                    continue
            if incident is not None and incident != before:
                events += await self._save(conn, incident, before)
        await conn.execute(
            "UPDATE incidents SET last_seen_at = now() "
            "WHERE status = 'open' AND kind = 'anomaly' AND asset_id = ANY(%s)",
            (pg_arrays.int8_array(sorted(latest)),),
        )
        return events

    async def resolve_silent(self, conn: AsyncConnection) -> list[IncidentEvent]:
        """Inside the caller's transaction: resolve the open incidents of assets no worker has
        seen a point of for the quiet period (wall clock); return their events. Incidents a
        batch holds locked are left for the next sweep."""
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT * FROM incidents WHERE status = 'open' AND kind = 'anomaly' "
            "AND last_seen_at < now() - %s ORDER BY asset_id FOR UPDATE SKIP LOCKED",
            (self.quiet,),
        )
        events: list[IncidentEvent] = []
        for incident in await cur.fetchall():
            events += await self._resolve(conn, incident, dict(incident))
        return events

    async def _reopen_or_new(self, conn, a: AnomalyRef) -> tuple[dict, dict | None]:
        """The asset's incident that resolved within the flap period before `a`, reopened with
        `a` in it (and what it was, to compare with), or a new incident (and None)."""
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT * FROM incidents WHERE asset_id = %s AND kind = 'anomaly' "
            "AND status = 'resolved' AND resolved_at >= %s AND last_anomaly_at < %s "
            "ORDER BY resolved_at DESC LIMIT 1 FOR UPDATE",
            (a.asset_id, a.ts - self.flap, a.ts),
        )
        previous = await cur.fetchone()
        if previous is None:
            return self._new(a), None
        before = dict(previous)
        details = dict(previous["details"] or {})
        details["reopened"] = details.get("reopened", 0) + 1
        previous.update(status="open", resolved_at=None, details=details)
        self._absorb(previous, a)
        return previous, before

    @staticmethod
    def _new(a: AnomalyRef) -> dict:
        return {
            "id": uuid.uuid4(),
            "asset_id": a.asset_id,
            "kind": "anomaly",
            "status": "open",
            "severity": severity_of(a.score, timedelta(0)),
            "metrics": [a.metric],
            "anomalies": 1,
            "peak_score": a.score,
            "peak_metric": a.metric,
            "started_at": a.ts,
            "last_anomaly_at": a.ts,
            "resolved_at": None,
            "ems_event_id": None,
            "details": None,
        }

    @staticmethod
    def _absorb(incident: dict, a: AnomalyRef) -> None:
        incident["anomalies"] += 1
        if a.metric not in incident["metrics"]:
            incident["metrics"] = [*incident["metrics"], a.metric]
        if a.score > incident["peak_score"]:
            incident["peak_score"], incident["peak_metric"] = a.score, a.metric
        incident["last_anomaly_at"] = max(incident["last_anomaly_at"], a.ts)
        duration = incident["last_anomaly_at"] - incident["started_at"]
        severity = severity_of(incident["peak_score"], duration)
        if SEVERITY_RANK[severity] > SEVERITY_RANK[incident["severity"]]:
            incident["severity"] = severity

    async def _save(self, conn, incident: dict, before: dict | None) -> list[IncidentEvent]:
        """Upsert the incident; queue `open`, or `update` when a person would care."""
        if before is None:
            kind = "open"
        elif (
            incident["severity"] != before["severity"]
            or set(incident["metrics"]) != set(before["metrics"])
            or incident["status"] != before["status"]  # reopened
        ):
            kind = "update"
        else:
            kind = None
        if kind is not None:
            details = dict(incident.get("details") or {})
            details["priority"] = await self._priority(conn, incident)
            incident["details"] = details
        await upsert(conn, incident)
        return [] if kind is None else [await self._queue(conn, incident, kind)]

    async def _resolve(self, conn, incident: dict, before: dict | None) -> list[IncidentEvent]:
        """Queue what changed since `before` (an incident opened in this very batch still gets
        its `open` first), then the resolution."""
        events = await self._save(conn, incident, before)
        incident["status"] = "resolved"
        incident["resolved_at"] = incident["last_anomaly_at"] + self.quiet
        await self._save(conn, incident, incident)  # compared with itself: stored, not queued
        events.append(await self._queue(conn, incident, "resolve"))
        return events

    async def _priority(self, conn, incident: dict) -> dict:
        """The incident's priority (`stream.priority`) from it, the asset's other incidents and
        other assets' incidents around its start, and EMS's `assets.criticality` if it exists."""
        start, end = root_cause.window(incident["started_at"])
        cur = await conn.execute(
            "SELECT count(DISTINCT asset_id) FILTER (WHERE asset_id <> %(a)s "
            "AND started_at BETWEEN %(start)s AND %(end)s), "
            "count(*) FILTER (WHERE asset_id = %(a)s AND id <> %(id)s "
            "AND started_at >= %(since)s AND started_at < %(started)s) "
            "FROM incidents WHERE kind = 'anomaly' AND started_at >= %(since)s",
            {
                "a": incident["asset_id"],
                "id": incident["id"],
                "start": start,
                "end": end,
                "since": incident["started_at"] - timedelta(days=priority.RECURRENCE_DAYS),
                "started": incident["started_at"],
            },
        )
        other_assets, recurrences = await cur.fetchone()
        found = priority.priority_of(
            severity=incident["severity"],
            minutes=(incident["last_anomaly_at"] - incident["started_at"]).total_seconds() / 60,
            metrics=len(incident["metrics"]),
            other_assets=other_assets,
            criticality=await self._criticality(conn, incident["asset_id"]),
            recurrences=recurrences,
        )
        return {"label": found.label, "score": found.score, "parts": found.parts}

    async def _criticality(self, conn, asset_id: int) -> str | None:
        if self._has_criticality is None:
            cur = await conn.execute(
                "SELECT EXISTS (SELECT 1 FROM information_schema.columns "
                "WHERE table_name = 'assets' AND column_name = 'criticality')"
            )
            self._has_criticality = (await cur.fetchone())[0]
        if not self._has_criticality:
            return None
        cur = await conn.execute("SELECT criticality::text FROM assets WHERE id = %s", (asset_id,))
        row = await cur.fetchone()
        return row[0] if row else None

    async def _queue(self, conn, incident: dict, kind: str) -> IncidentEvent:
        payload = event_payload(incident)
        # what moved first, from the scores stored so far (this batch's included)
        found = await hints.for_incident(
            conn, incident, limit=root_cause.TOP_IN_DESCRIPTION, cache=self._hint_scores
        )
        metrics.HINT_SCORES_HELD.set(self._hint_scores.points)
        if found:
            payload["description"] += " " + root_cause.describe(found)
            payload["details"]["hints"] = hints.as_details(found)
        return await queue_change(conn, incident, kind, payload, queue_outbox=self.queue_outbox)
