"""`GET /api/v1/metrics/{asset_id}`: an asset's metrics with per-metric statistics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter
from pydantic import Field

from api import queries
from api.deps import PoolDep
from api.responses import UNKNOWN_ASSET, ApiModel, AssetIdPath, HoursQuery, require_known_asset

router = APIRouter(tags=["metrics"])


class MetricStatistics(ApiModel):
    """One metric of the asset over the window, from EMS's `metrics` table."""

    metric: str = Field(examples=["cpu_usage"])
    count: int = Field(description="points in the window")
    mean: float
    std: float = Field(description="standard deviation")
    min: float
    max: float
    p50: float = Field(description="median")
    p95: float
    p99: float
    last_value: float = Field(description="the newest value")
    last_timestamp: datetime = Field(description="when the newest value was taken")


class AssetMetrics(ApiModel):
    asset_id: int
    hours: float
    metrics: list[MetricStatistics] = Field(description="one entry a metric the asset reported")


@router.get("/metrics/{asset_id}", response_model=AssetMetrics, responses=UNKNOWN_ASSET)
async def asset_metrics(
    pool: PoolDep,
    asset_id: AssetIdPath,
    hours: HoursQuery = 24,
) -> AssetMetrics:
    """Statistics of every metric the asset reported in the last `hours` (EMS's metrics table)."""
    since = datetime.now(UTC) - timedelta(hours=hours)
    async with pool.connection() as conn:
        await require_known_asset(conn, asset_id)
        rows = await queries.metric_statistics(conn, asset_id=asset_id, since=since)
    return AssetMetrics(
        asset_id=asset_id, hours=hours, metrics=[MetricStatistics(**r) for r in rows]
    )
