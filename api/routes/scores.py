"""`GET /api/v1/anomaly/scores/{asset_id}`: the score history the worker wrote."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field

from api import queries
from api.deps import PoolDep
from api.responses import (
    MAX_PAGE_SIZE,
    UNKNOWN_ASSET,
    ApiModel,
    AssetIdPath,
    HoursQuery,
    require_known_asset,
)
from stream.events import METRIC_NAME_PATTERN

router = APIRouter(tags=["anomaly"])


class ScoreRow(ApiModel):
    """One scored point, as the worker stored it."""

    asset_id: int = Field(examples=[7])
    metric: str = Field(examples=["cpu_usage"])
    timestamp: datetime
    value: float = Field(examples=[97.5])
    score: float = Field(examples=[0.83])
    is_anomaly: bool = Field(description="score at or over the threshold, after warm-up")
    detector_scores: dict[str, float] = Field(
        examples=[{"zscore": 0.91, "mad": 0.88, "iqr": 0.9, "shift": 0.2}]
    )
    driver: str | None = Field(examples=["zscore:value"])
    model_version: str = Field(examples=["ensemble-v8"])
    expected: float | None = None
    lower_bound: float | None = Field(None, description="lowest value scoring under the threshold")
    upper_bound: float | None = Field(None, description="highest value scoring under the threshold")
    direction: str | None = None


class ScorePage(ApiModel):
    asset_id: int
    hours: float
    total: int
    limit: int
    offset: int
    items: list[ScoreRow]


@router.get("/anomaly/scores/{asset_id}", response_model=ScorePage, responses=UNKNOWN_ASSET)
async def anomaly_scores(
    pool: PoolDep,
    asset_id: AssetIdPath,
    hours: HoursQuery = 24,
    metric: Annotated[str | None, Query(pattern=METRIC_NAME_PATTERN)] = None,
    only_anomalies: Annotated[
        bool, Query(alias="onlyAnomalies", description="Only anomalous points")
    ] = False,
    # the snake_case spelling this parameter had before the API went camelCase, still honoured
    only_anomalies_snake: Annotated[
        bool, Query(alias="only_anomalies", include_in_schema=False)
    ] = False,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> ScorePage:
    """Scores of one asset, newest first, paginated."""
    since = datetime.now(UTC) - timedelta(hours=hours)
    async with pool.connection() as conn:
        await require_known_asset(conn, asset_id)
        total, rows = await queries.score_page(
            conn,
            asset_id=asset_id,
            since=since,
            metric=metric,
            only_anomalies=only_anomalies or only_anomalies_snake,
            limit=limit,
            offset=offset,
        )
    return ScorePage(
        asset_id=asset_id,
        hours=hours,
        total=total,
        limit=limit,
        offset=offset,
        items=[ScoreRow(**row) for row in rows],
    )
