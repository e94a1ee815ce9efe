"""`GET /api/v1/forecast/{asset_id}`: a series' forecast and, for a bounded metric, its outlook.

A read, not a fit: the worker's forecaster learns with every point (`stream.forecast`) and its
state is stored with the series' (`series_state`); this route decodes it and projects it
forward at the series' own interval, with the 80% and 95% intervals its own past errors give.
A bounded metric (`CAPACITY_RULES`) also gets when its forecast reaches the limit and how
likely that is within `CAPACITY_HORIZON_HOURS` (`stream.capacity`).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import Field

from api import queries
from api.deps import PoolDep, SettingsDep
from api.responses import MAX_HOURS, UNKNOWN_ASSET, ApiModel, AssetIdPath, require_known_asset
from stream import capacity, forecast
from stream.capacity import parse_capacity_rules
from stream.events import METRIC_NAME_PATTERN, series_key

router = APIRouter(tags=["forecast"])

#: the most points one forecast returns; a longer horizon widens the step between them
MAX_POINTS = 500


class ForecastPoint(ApiModel):
    timestamp: datetime = Field(description="the time forecast (UTC)")
    value: float = Field(description="point forecast")
    lower80: float = Field(description="lower end of the 80% interval")
    upper80: float = Field(description="upper end of the 80% interval")
    lower95: float = Field(description="lower end of the 95% interval")
    upper95: float = Field(description="upper end of the 95% interval")
    calibrated: bool = Field(
        description="false where the interval borrows a shorter horizon's errors (too few "
        "forecasts this far ahead checked yet)"
    )


class CapacityOutlook(ApiModel):
    capacity: float = Field(description="the metric's capacity, in its own unit (CAPACITY_RULES)")
    limit: float = Field(description="the value that counts as full: capacity x threshold")
    level: float = Field(description="the trend's value now, seasonal component included")
    slope_per_day: float = Field(description="the trend's change per day")
    hours_to_crossing: float | None = Field(
        description="hours until the forecast reaches the limit (0: there now; null: not within "
        "30 days)"
    )
    crossing_at: datetime | None = Field(description="when it does (null: not within 30 days)")
    probability: float = Field(description="probability of reaching the limit within the horizon")
    horizon_hours: float = Field(description="CAPACITY_HORIZON_HOURS")


class Forecast(ApiModel):
    asset_id: int
    metric: str
    last_point_at: datetime = Field(description="the series' newest point: the forecast's origin")
    interval_seconds: float = Field(description="the series' own sampling interval (learnt)")
    step_seconds: float = Field(description="time between two forecast points")
    horizon_hours: float = Field(description="how far ahead was asked")
    model: str = Field(description="the forecaster's version", examples=[forecast.VERSION])
    points: list[ForecastPoint] = Field(
        description="oldest first; empty while the series is too young to forecast"
    )
    capacity: CapacityOutlook | None = Field(
        description="for a bounded metric (CAPACITY_RULES) whose trend has enough points"
    )


@router.get("/forecast/{asset_id}", response_model=Forecast, responses=UNKNOWN_ASSET)
async def get_forecast(
    pool: PoolDep,
    settings: SettingsDep,
    asset_id: AssetIdPath,
    metric: Annotated[
        str, Query(pattern=METRIC_NAME_PATTERN, description="The metric to forecast")
    ],
    horizon: Annotated[
        float, Query(gt=0, le=MAX_HOURS, description="How far ahead, in hours")
    ] = 24,
) -> Forecast:
    """Forecast of one of the asset's series `horizon` hours ahead, at its own interval (at most
    500 points: a longer horizon widens the step), with 80% and 95% intervals."""
    async with pool.connection() as conn:
        await require_known_asset(conn, asset_id)
        payload = await queries.series_state(
            conn, group=settings.consumer_group, key=series_key(asset_id, metric)
        )
    if payload is None:
        raise HTTPException(404, f"asset {asset_id} has no scored series {metric!r}")
    # imported here: numba loads with the engine, at start-up in the API (`api.main`)
    from stream.engine.stored import as_state

    state = as_state(payload)
    last = datetime.fromtimestamp(state.last_ts_ms / 1000, UTC)
    interval = state.season["interval"] if state.season else 0.0
    points: list[forecast.ForecastPoint] = []
    step_points = 1
    if state.forecast is not None and interval > 0:
        total = max(1, math.floor(horizon * 3600 / interval))
        step_points = max(1, math.ceil(total / MAX_POINTS))
        steps = list(range(step_points, total + 1, step_points))
        points = forecast.predict(state.forecast, state.season, last, interval, steps)
    return Forecast(
        asset_id=asset_id,
        metric=metric,
        last_point_at=last,
        interval_seconds=interval,
        step_seconds=interval * step_points,
        horizon_hours=horizon,
        model=forecast.VERSION,
        points=[ForecastPoint(**_point(p)) for p in points],
        capacity=_outlook(settings, metric, state, last),
    )


def _point(p: forecast.ForecastPoint) -> dict:
    return {
        "timestamp": p.timestamp,
        "value": p.value,
        "lower80": p.lower80,
        "upper80": p.upper80,
        "lower95": p.lower95,
        "upper95": p.upper95,
        "calibrated": p.calibrated,
    }


def _outlook(settings, metric: str, state, last: datetime) -> CapacityOutlook | None:
    rule = parse_capacity_rules(settings.capacity_rules).for_metric(metric)
    if rule is None or state.trend is None or state.season is None:
        return None
    seen = capacity.outlook(
        state.trend, state.season, last, rule.limit, settings.capacity_horizon_hours
    )
    if seen is None:
        return None
    return CapacityOutlook(
        capacity=rule.capacity,
        limit=rule.limit,
        level=seen.level,
        slope_per_day=seen.slope_per_day,
        hours_to_crossing=seen.hours_to_crossing,
        crossing_at=seen.crossing_at(last),
        probability=seen.probability,
        horizon_hours=seen.horizon_hours,
    )
