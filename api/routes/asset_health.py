"""`GET /api/v1/assets/{asset_id}/health` and `/api/v1/assets/health`: assets by health, 0-100.

The score and its reasons come from `api.asset_health`: open and recent anomaly incidents, the
anomaly rate, the time spent in incidents and predicted capacity crossings over the window. The
list holds every asset with scores in the window or an incident open, worst first.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field

from api import queries
from api.asset_health import HealthInputs, health
from api.deps import PoolDep
from api.responses import UNKNOWN_ASSET, ApiModel, AssetIdPath, HoursQuery, require_known_asset
from stream.security import PATTERNS

router = APIRouter(tags=["assets"])


class HealthReason(ApiModel):
    cause: str = Field(
        description="open_incident, security_incident, predicted_crossing, past_incidents, "
        "anomaly_rate or time_in_incident",
        examples=["open_incident"],
    )
    points: float = Field(description="points it takes off the score")
    text: str = Field(description="what it is, for a person")


class AssetHealth(ApiModel):
    asset_id: int
    score: int = Field(description="0 (worst) to 100 (nothing against it)", examples=[56])
    status: str = Field(description="good (>= 85), fair (>= 60), poor (>= 35) or critical")
    reasons: list[HealthReason] = Field(description="largest first; they add up to 100 - score")
    points: int = Field(description="points scored in the window")
    anomalies: int = Field(description="anomalous points in the window")
    open_incident: str | None = Field(description="severity of the anomaly incident open now")
    predicted_crossing: str | None = Field(
        description="severity of the open capacity prediction (null: none)"
    )


class HealthList(ApiModel):
    hours: float
    assets: list[AssetHealth] = Field(description="worst first")


def _share(incidents: list[dict], since: datetime, now: datetime) -> float:
    """Share of the window (since .. now) covered by the anomaly incidents' spans."""
    spans = sorted(
        (max(i["started_at"], since), min(i["resolved_at"] or i["last_anomaly_at"], now))
        for i in incidents
    )
    covered, end = timedelta(0), since
    for start, stop in spans:
        start = max(start, end)
        if stop > start:
            covered += stop - start
            end = stop
    return covered / (now - since) if now > since else 0.0


def assess(asset_id: int, counts: dict | None, incidents: list[dict], since, now) -> AssetHealth:
    anomaly = [i for i in incidents if i["kind"] == "anomaly"]
    opened = next((i for i in anomaly if i["status"] == "open"), None)
    predicted = next(
        (i for i in incidents if i["kind"] == "prediction" and i["status"] == "open"), None
    )
    crossing = (
        (predicted["details"] or {}).get("metrics", {}).get(predicted["peak_metric"], {})
        if predicted
        else {}
    )
    inputs = HealthInputs(
        points=counts["points"] if counts else 0,
        anomalies=counts["anomalies"] if counts else 0,
        open_severity=opened["severity"] if opened else None,
        open_metric=opened["peak_metric"] if opened else None,
        resolved_severities=tuple(i["severity"] for i in anomaly if i["status"] == "resolved"),
        incident_share=_share(anomaly, since, now),
        prediction_severity=predicted["severity"] if predicted else None,
        prediction_metric=predicted["peak_metric"] if predicted else None,
        prediction_hours=crossing.get("hours_to_crossing"),
        security_patterns=tuple(
            i["kind"] for i in incidents if i["kind"] in PATTERNS and i["status"] == "open"
        ),
    )
    verdict = health(inputs)
    return AssetHealth(
        asset_id=asset_id,
        score=verdict.score,
        status=verdict.status,
        reasons=[
            HealthReason(cause=r.cause, points=r.points, text=r.text) for r in verdict.reasons
        ],
        points=inputs.points,
        anomalies=inputs.anomalies,
        open_incident=inputs.open_severity,
        predicted_crossing=inputs.prediction_severity,
    )


async def assess_all(conn, *, since: datetime, now: datetime, asset_id: int | None = None):
    """Every asset's health over the window (one asset's, with `asset_id`), worst first."""
    counts, incidents = await queries.health_inputs(conn, since=since, asset_id=asset_id)
    by_asset = {row["asset_id"]: row for row in counts}
    incidents_of: dict[int, list[dict]] = defaultdict(list)
    for incident in incidents:
        incidents_of[incident["asset_id"]].append(incident)
    assets = sorted(set(by_asset) | set(incidents_of))
    if asset_id is not None:
        assets = [asset_id]
    found = [assess(a, by_asset.get(a), incidents_of[a], since, now) for a in assets]
    return sorted(found, key=lambda h: (h.score, h.asset_id))


@router.get("/assets/health", response_model=HealthList)
async def list_health(
    pool: PoolDep,
    hours: HoursQuery = 24,
    limit: Annotated[int, Query(ge=1, le=5000, description="Assets listed at most")] = 500,
) -> HealthList:
    """Every asset with scores in the window or an incident open, by health, worst first."""
    now = datetime.now(UTC)
    async with pool.connection() as conn:
        found = await assess_all(conn, since=now - timedelta(hours=hours), now=now)
    return HealthList(hours=hours, assets=found[:limit])


@router.get("/assets/{asset_id}/health", response_model=AssetHealth, responses=UNKNOWN_ASSET)
async def asset_health(pool: PoolDep, asset_id: AssetIdPath, hours: HoursQuery = 24) -> AssetHealth:
    """The asset's health over the window, with the reasons it is not 100."""
    now = datetime.now(UTC)
    async with pool.connection() as conn:
        await require_known_asset(conn, asset_id)
        (found,) = await assess_all(
            conn, since=now - timedelta(hours=hours), now=now, asset_id=asset_id
        )
    return found
