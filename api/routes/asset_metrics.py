"""`GET /api/v1/metrics/{asset_id}`: an asset's metrics with per-metric statistics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import Field

from api import queries
from api.deps import PoolDep
from api.responses import MAX_HOURS, UNKNOWN_ASSET, ApiModel

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
    metrics: list[MetricStatistics]


@router.get("/metrics/{asset_id}", response_model=AssetMetrics, responses=UNKNOWN_ASSET)
async def asset_metrics(
    pool: PoolDep,
    asset_id: Annotated[int, Path(gt=0, le=2**63 - 1)],
    hours: Annotated[float, Query(gt=0, le=MAX_HOURS, description="How far back to read")] = 24,
) -> AssetMetrics:
    """Statistics of every metric the asset reported in the last `hours` (EMS's metrics table)."""
    since = datetime.now(UTC) - timedelta(hours=hours)
    async with pool.connection() as conn:
        if not await queries.asset_known(conn, asset_id):
            raise HTTPException(404, f"asset {asset_id} is unknown: no metrics or scores")
        rows = await queries.metric_statistics(conn, asset_id=asset_id, since=since)
    return AssetMetrics(
        asset_id=asset_id, hours=hours, metrics=[MetricStatistics(**r) for r in rows]
    )
