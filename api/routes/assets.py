"""`GET /api/v1/assets` and `/api/v1/assets/{asset_id}/incidents`: what the operators' page lists.

The list answers "which assets need a look": each scored asset's anomaly rate over the window
and its open incidents, those with open incidents first, then by anomaly rate. It reads the
scores of the window (an index range per asset): a window of hours, not weeks, keeps it quick.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import Field

from api import queries
from api.deps import PoolDep
from api.responses import (
    MAX_HOURS,
    UNKNOWN_ASSET,
    ApiModel,
    AssetIdPath,
    HoursQuery,
    require_known_asset,
)

router = APIRouter(tags=["assets"])


class AssetSummary(ApiModel):
    asset_id: int
    points: int = Field(description="points scored in the window")
    anomalies: int = Field(description="anomalous points in the window")
    anomaly_rate: float = Field(description="anomalies / points", examples=[0.004])
    metrics: int = Field(description="metrics scored in the window")
    last_seen: datetime = Field(description="time of the asset's newest score")
    open_incidents: int = Field(description="incidents of the asset open now")


class AssetList(ApiModel):
    hours: float
    assets: list[AssetSummary] = Field(description="open incidents first, then by anomaly rate")


class Incident(ApiModel):
    id: UUID
    kind: str = Field(
        description="anomaly (grouped anomalies), prediction (predicted capacity crossings), or a "
        "security pattern: scan, exfiltration, ddos",
        examples=["anomaly"],
    )
    status: str = Field(description="open or resolved", examples=["open"])
    severity: str = Field(description="from the peak score", examples=["critical"])
    metrics: list[str] = Field(description="the metrics with anomalies in it")
    anomalies: int = Field(description="anomalous points in it")
    peak_score: float = Field(description="its highest score")
    peak_metric: str = Field(description="the metric of its highest score")
    started_at: datetime = Field(description="its first anomaly")
    last_anomaly_at: datetime = Field(description="its latest anomaly")
    resolved_at: datetime | None = Field(description="when it was resolved (null while open)")
    priority: str | None = Field(
        None, description="P1 (look first) to P4, as last sent to EMS Core (anomaly incidents)"
    )
    crossings: dict[str, dict] | None = Field(
        None,
        description="a prediction's outlook per metric: limit, level, slope_per_day, "
        "hours_to_crossing, crossing_at, probability, assessed_at (null for an anomaly incident)",
    )


class IncidentList(ApiModel):
    asset_id: int
    hours: float
    incidents: list[Incident] = Field(description="newest first")


@router.get("/assets", response_model=AssetList)
async def list_assets(
    pool: PoolDep,
    hours: Annotated[float, Query(gt=0, le=MAX_HOURS, description="How far back to count")] = 24,
    limit: Annotated[int, Query(ge=1, le=5000, description="Assets listed at most")] = 500,
) -> AssetList:
    """Scored assets with their anomaly rate and open incidents, worst first."""
    since = datetime.now(UTC) - timedelta(hours=hours)
    async with pool.connection() as conn:
        rows = await queries.asset_overview(conn, since=since, limit=limit)
    return AssetList(
        hours=hours,
        assets=[AssetSummary(**row, anomaly_rate=row["anomalies"] / row["points"]) for row in rows],
    )


@router.get("/assets/{asset_id}/incidents", response_model=IncidentList, responses=UNKNOWN_ASSET)
async def asset_incidents(
    pool: PoolDep,
    asset_id: AssetIdPath,
    hours: HoursQuery = 24,
) -> IncidentList:
    """The asset's incidents open now or with anomalies in the window, newest first."""
    since = datetime.now(UTC) - timedelta(hours=hours)
    async with pool.connection() as conn:
        await require_known_asset(conn, asset_id)
        rows = await queries.asset_incidents(conn, asset_id=asset_id, since=since)
    incidents = [
        Incident(
            **{k: v for k, v in r.items() if k != "details"},
            crossings=crossings_of(r),
            priority=priority_of(r),
        )
        for r in rows
    ]
    return IncidentList(asset_id=asset_id, hours=hours, incidents=incidents)


def crossings_of(incident: dict) -> dict | None:
    """A prediction incident's per-metric outlook (`stream.predictions`); None for others."""
    return (incident["details"] or {}).get("metrics") if incident["kind"] == "prediction" else None


def priority_of(incident: dict) -> str | None:
    """The priority label an incident's last change carried (`stream.priority`)."""
    return ((incident["details"] or {}).get("priority") or {}).get("label")
