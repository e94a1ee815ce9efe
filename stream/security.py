"""Security patterns on network metrics: what a network operator treats as a threat, not a fault.

Three patterns, each from the points a batch scored (their verdicts and their series' states),
each an incident kind of its own (`scan`, `exfiltration`, `ddos` in `incidents`) with its
evidence, through the same incident pipeline as anomalies (outboxes, exactly-once to EMS Core,
`security.open` / `security.update` / `security.resolve` on the topic, maintenance windows):

- **scan** (a connection-count surge with flat bandwidth): a connections metric of the asset
  surges (an upward anomaly) while every bandwidth metric of the asset at that moment is
  ordinary (no anomaly, not the ongoing part of one, score under `FLAT_SCORE`): many
  connections that carry nothing;
- **exfiltration** (sustained egress far above the asset's own baseline at an hour it is
  normally quiet): an egress metric surges (an upward anomaly, then its ongoing points: the
  detectors' own verdict of "far above what was expected") for `SUSTAIN_POINTS` points in a
  row, at an hour whose average in the series' daily profile is below the day's (every hour
  seen on two days first: before, no hour is known to be quiet);
- **ddos** (a traffic surge across many assets at once): ingress metrics of at least
  `DDOS_MIN_ASSETS` assets, and at least `DDOS_SHARE` of the assets whose ingress this worker
  has scored in the last hour, surge (upward anomalies) within `DDOS_BUCKET_SECONDS`; each
  asset in it gets the incident, naming how many others surged with it. A worker sees the
  assets of its own partitions, so the share is of those.

Which metrics are which is configuration (`SECURITY_METRICS`: patterns per role). An incident
resolves after `INCIDENT_QUIET_SECONDS` of the asset's event time without its pattern.
"""

from __future__ import annotations

import fnmatch
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict, TypeAdapter

from stream.events import MetricPoint
from stream.incidents import IncidentEvent, queue_change, upsert
from stream.json_setting import parse_json_setting
from stream.scored import ScoredPoint, ScoredPoints, Verdicts
from stream.sinks import pg_arrays

PATTERNS = ("scan", "exfiltration", "ddos")
CATEGORY = "security"
#: a bandwidth score under this is "flat" for a scan
FLAT_SCORE = 0.5
#: an exfiltration surges (upward anomalies, and their ongoing points) this many points in a row
SUSTAIN_POINTS = 10
DDOS_MIN_ASSETS = 3
DDOS_SHARE = 0.3
DDOS_BUCKET_SECONDS = 300.0
#: how long an asset counts among those whose ingress a worker scores
DDOS_FLEET_SECONDS = 3600.0

DEFAULT_SECURITY_METRICS = (
    '{"ingress": ["bandwidth_in*", "*_rx*", "network_in*"],'
    ' "egress": ["bandwidth_out*", "*_tx*", "network_out*"],'
    ' "connections": ["*connections*", "conn_*"]}'
)


class SecurityMetrics(BaseModel):
    """fnmatch patterns of the metrics in each role."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ingress: tuple[str, ...] = ()
    egress: tuple[str, ...] = ()
    connections: tuple[str, ...] = ()

    def role(self, metric: str) -> str | None:
        for name in ("connections", "egress", "ingress"):
            if any(fnmatch.fnmatchcase(metric, p) for p in getattr(self, name)):
                return name
        return None


def parse_security_metrics(text: str) -> SecurityMetrics:
    """`SECURITY_METRICS` (JSON; "{}": no security patterns). Raises ValueError saying what is
    wrong."""
    return parse_json_setting(
        "SECURITY_METRICS", text or "{}", _METRICS, "a map of roles to lists of patterns"
    )


_METRICS = TypeAdapter(SecurityMetrics)


@dataclass(frozen=True, slots=True)
class SecurityRef:
    """One detection of a pattern on an asset at `ts`, with its evidence."""

    asset_id: int
    pattern: str
    ts: datetime
    metric: str
    evidence: dict


def _surging_and_flat(verdicts: Verdicts) -> tuple[list[bool], list[bool]]:
    """Each verdict's surging (above what is expected, an anomaly or the ongoing part of one)
    and flat (neither, and a score under FLAT_SCORE), from the batch's columns: the patterns
    build a verdict only for the points they go on to read."""
    alarming = verdicts.is_anomaly | verdicts.ongoing
    above = np.array([d == "above" for d in verdicts.directions], dtype=bool)
    return (
        (above & alarming).tolist(),
        (~alarming & (verdicts.score < FLAT_SCORE)).tolist(),
    )


_MAX_ROLES_KEPT = 65536


@dataclass
class SecurityWatch:
    """Finds the patterns in a batch's scored points. Keeps, in the worker's memory (a restart
    starts it over), the recent ingress surges and the assets whose ingress it scores (for
    `ddos`) and each egress series' run of surging points (for `exfiltration`); no I/O."""

    metrics: SecurityMetrics
    _surges: dict[int, dict[int, str]] = field(default_factory=lambda: defaultdict(dict))
    _fleet: dict[int, datetime] = field(default_factory=dict)
    #: per egress series, its run of surging points
    _runs: dict[tuple[int, str], int] = field(default_factory=dict)
    #: each metric's role, found once: fnmatch costs about 10 us a name and a point
    _roles: dict[str, str | None] = field(default_factory=dict)

    def role(self, metric: str) -> str | None:
        """`metrics.role(metric)`, remembered for up to `_MAX_ROLES_KEPT` names (a feed of
        made-up names gets no cache beyond them, not an unbounded one)."""
        try:
            return self._roles[metric]
        except KeyError:
            found = self.metrics.role(metric)
            if len(self._roles) < _MAX_ROLES_KEPT:
                self._roles[metric] = found
            return found

    def assess(
        self, scored: Sequence[ScoredPoint], season_of: Callable[[str], dict | None]
    ) -> list:
        """The detections in `scored` (the batch's `ScoredPoint`s, read as columns:
        `ScoredPoints`); `season_of`: a series'
        seasonal profiles by key, as `SeriesState.season` holds them, None for none yet (for
        the exfiltration's quiet hours)."""
        batch = ScoredPoints.of(scored)
        surging, flat = _surging_and_flat(batch.verdicts)
        found: list[SecurityRef] = []
        roles = [self.role(point.metric) for point in batch.points]
        # the points with a role (by index) of each asset at each instant, for the assets with
        # a surging connections series (a scan needs one): keying every point by its instant
        # (a datetime's hash) took about a third of the patterns' time on the demo feed
        scanned = {
            point.asset_id
            for point, role, up in zip(batch.points, roles, surging, strict=True)
            if role == "connections" and up
        }
        by_moment: dict[tuple[int, datetime], list[tuple[str, int]]] = defaultdict(list)
        for i, (point, role) in enumerate(zip(batch.points, roles, strict=True)):
            if role is None:
                continue
            if point.asset_id in scanned:
                by_moment[(point.asset_id, point.timestamp)].append((role, i))
            if role == "egress":
                if not surging[i]:
                    self._runs.pop((point.asset_id, point.metric), None)
                elif ref := self._exfiltration(batch[i], season_of(point.series_key)):
                    found.append(ref)
            if role == "ingress":
                self._fleet[point.asset_id] = point.timestamp
                if surging[i]:
                    bucket = int(point.timestamp.timestamp() // DDOS_BUCKET_SECONDS)
                    self._surges[bucket][point.asset_id] = point.metric
        for (asset, ts), members in by_moment.items():
            found += self._scan(asset, ts, members, batch, surging, flat)
        found += self._ddos(batch.points)
        return found

    def _scan(
        self,
        asset: int,
        ts: datetime,
        members: list[tuple[str, int]],
        batch: ScoredPoints,
        surging: list[bool],
        flat: list[bool],
    ) -> list[SecurityRef]:
        conns = [i for role, i in members if role == "connections" and surging[i]]
        bandwidth = [i for role, i in members if role in ("ingress", "egress")]
        # flat: neither an anomaly nor the damped continuation of one (a repeat's score is
        # halved, and would pass for ordinary), and an ordinary score
        if not conns or not bandwidth or not all(flat[i] for i in bandwidth):
            return []
        c = batch[max(conns, key=lambda i: batch.verdicts.score[i])]
        return [
            SecurityRef(
                asset,
                "scan",
                ts,
                c.point.metric,
                {
                    "connections": c.point.value,
                    "expected_connections": c.verdict.expected,
                    "bandwidth_scores": {
                        batch.points[i].metric: round(float(batch.verdicts.score[i]), 3)
                        for i in bandwidth
                    },
                },
            )
        ]

    def _exfiltration(self, s, season: dict | None) -> SecurityRef | None:
        """Called for each surging egress point; counts the series' run of them."""
        key = (s.point.asset_id, s.point.metric)
        run = self._runs[key] = self._runs.get(key, 0) + 1
        if run < SUSTAIN_POINTS or season is None:
            return None
        daily = season["daily"]
        if not daily["ready"]:
            return None  # not every hour seen on two days yet: no hour is known to be quiet
        means = daily["m"]
        usual = float(means[s.point.timestamp.hour])
        day = float(means.mean())
        if usual >= day:
            return None  # a busy hour: egress may well be high
        return SecurityRef(
            s.point.asset_id,
            "exfiltration",
            s.point.timestamp,
            s.point.metric,
            {
                "egress": s.point.value,
                "expected": s.verdict.expected,
                "points_surging": run,
                "usual_at_this_hour": round(usual, 3),
                "usual_over_the_day": round(day, 3),
                "quiet_hour": s.point.timestamp.hour,
            },
        )

    def _ddos(self, points: Sequence[MetricPoint]) -> list[SecurityRef]:
        if not points:
            return []
        newest = max(p.timestamp for p in points)
        horizon = newest - timedelta(seconds=DDOS_FLEET_SECONDS)
        for asset in [a for a, ts in self._fleet.items() if ts < horizon]:
            del self._fleet[asset]
        oldest_bucket = int(horizon.timestamp() // DDOS_BUCKET_SECONDS)
        for bucket in [b for b in self._surges if b < oldest_bucket]:
            del self._surges[bucket]
        found = []
        fleet = max(1, len(self._fleet))
        batch_buckets = {
            int(ts.timestamp() // DDOS_BUCKET_SECONDS) for ts in {p.timestamp for p in points}
        }
        for bucket in sorted(batch_buckets):
            # a surge that straddles two buckets still counts as one moment
            surged = {**self._surges.get(bucket - 1, {}), **self._surges.get(bucket, {})}
            if len(surged) < DDOS_MIN_ASSETS or len(surged) < DDOS_SHARE * fleet:
                continue
            ts = datetime.fromtimestamp((bucket + 1) * DDOS_BUCKET_SECONDS, newest.tzinfo)
            ts = min(ts, newest)
            for asset, metric in sorted(surged.items()):
                found.append(
                    SecurityRef(
                        asset,
                        "ddos",
                        ts,
                        metric,
                        {"assets_surging": len(surged), "assets_seen": fleet},
                    )
                )
        return found


def _title(pattern: str, asset: int, evidence: dict) -> str:
    if pattern == "scan":
        return f"Possible scan from or to asset {asset}: a connection surge with flat bandwidth"
    if pattern == "exfiltration":
        return (
            f"Possible exfiltration from asset {asset}: egress "
            f"{evidence.get('sigmas_above_baseline')} deviations over its baseline at a quiet hour"
        )
    return (
        f"Possible DDoS: ingress surging on {evidence.get('assets_surging')} of "
        f"{evidence.get('assets_seen')} assets, asset {asset} among them"
    )


def security_payload(incident: dict) -> dict:
    details = incident["details"] or {}
    evidence = details.get("evidence", {})
    pattern = incident["kind"]
    return {
        "asset_id": incident["asset_id"],
        "severity": incident["severity"],
        "title": _title(pattern, incident["asset_id"], evidence),
        "description": f"{details.get('detections', 1)} detection(s) of {pattern} since "
        f"{incident['started_at'].isoformat()} on {incident['peak_metric']}",
        "source": "ml-service",
        "metric": incident["peak_metric"],
        "score": None,
        "started_at": incident["started_at"].isoformat(),
        "resolved_at": incident["resolved_at"].isoformat() if incident["resolved_at"] else None,
        "details": {
            "incident_id": str(incident["id"]),
            "kind": CATEGORY,
            "pattern": pattern,
            "evidence": evidence,
            "detections": details.get("detections", 1),
        },
    }


class SecurityTracker:
    """Applies a batch's detections to the security incidents of their assets."""

    def __init__(self, *, quiet_seconds: float, queue_outbox: bool = True) -> None:
        self.quiet = timedelta(seconds=quiet_seconds)
        self.queue_outbox = queue_outbox

    async def apply(
        self, conn: AsyncConnection, found: Sequence[SecurityRef], latest: dict[int, datetime]
    ) -> list[IncidentEvent]:
        """Inside the caller's transaction: open incidents for new detections, count repeats,
        resolve the quiet ones of the assets the batch saw; return their changes."""
        assets = sorted({r.asset_id for r in found} | set(latest))
        if not assets:
            return []
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT * FROM incidents WHERE asset_id = ANY(%s) AND status = 'open' "
            "AND kind = ANY(%s) ORDER BY asset_id, kind FOR UPDATE",
            (pg_arrays.int8_array(assets), list(PATTERNS)),
        )
        open_now = {(r["asset_id"], r["kind"]): r for r in await cur.fetchall()}
        first_ref: dict[tuple[int, str], SecurityRef] = {}
        latest_ref: dict[tuple[int, str], SecurityRef] = {}
        counts: dict[tuple[int, str], int] = defaultdict(int)
        for ref in sorted(found, key=lambda r: r.ts):
            first_ref.setdefault((ref.asset_id, ref.pattern), ref)
            latest_ref[(ref.asset_id, ref.pattern)] = ref
            counts[(ref.asset_id, ref.pattern)] += 1
        events: list[IncidentEvent] = []
        for key in sorted(set(latest_ref) | set(open_now)):
            incident, ref = open_now.get(key), latest_ref.get(key)
            before = None if incident is None else dict(incident)
            if ref is not None and incident is None:
                incident = {
                    "id": uuid.uuid4(),
                    "asset_id": ref.asset_id,
                    "kind": ref.pattern,
                    "status": "open",
                    "severity": "critical" if ref.pattern == "exfiltration" else "warning",
                    "metrics": [ref.metric],
                    "anomalies": counts[key],
                    "peak_score": 1.0,
                    "peak_metric": ref.metric,
                    "started_at": first_ref[key].ts,
                    "last_anomaly_at": ref.ts,
                    "resolved_at": None,
                    "details": {"evidence": ref.evidence, "detections": counts[key]},
                }
                await upsert(conn, incident)
                events.append(await self._queue(conn, incident, "open"))
            elif ref is not None:
                details = dict(incident["details"] or {})
                details["evidence"] = ref.evidence
                details["detections"] = details.get("detections", 1) + counts[key]
                incident.update(last_anomaly_at=max(incident["last_anomaly_at"], ref.ts))
                incident.update(anomalies=incident["anomalies"] + counts[key], details=details)
                if ref.metric not in incident["metrics"]:
                    incident["metrics"] = [*incident["metrics"], ref.metric]
            # quiet for the quiet period in the asset's event time (this batch's included)
            now = latest.get(key[0])
            if now is not None and now - incident["last_anomaly_at"] > self.quiet:
                resolved_at = incident["last_anomaly_at"] + self.quiet
                incident.update(status="resolved", resolved_at=resolved_at)
                await upsert(conn, incident)
                events.append(await self._queue(conn, incident, "resolve"))
            elif before is not None and incident != before:
                await upsert(conn, incident)
        return events

    async def _queue(self, conn, incident: dict, kind: str) -> IncidentEvent:
        return await queue_change(
            conn,
            incident,
            kind,
            security_payload(incident),
            category=CATEGORY,
            queue_outbox=self.queue_outbox,
        )
