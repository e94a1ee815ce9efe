"""`POST /api/v1/anomaly/train`: train (warm-start) the detectors from EMS's stored metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api import queries
from api.deps import PoolDep, SettingsDep
from api.responses import MAX_SECONDS, UNKNOWN_ASSET, ApiModel, require_known_asset, unprocessable
from stream import models_store
from stream.ensemble import build_scorer
from stream.events import METRIC_NAME_PATTERN

router = APIRouter(tags=["models"])

# Most stored points one training may read; more answers 422.
MAX_TRAINING_POINTS = 2_000_000


class TrainRequest(ApiModel):
    """Field names as the EMS front end sends them (camelCase); snake_case is accepted too."""

    model_config = ConfigDict(extra="forbid")

    model_type: Literal["anomaly_detection"] = "anomaly_detection"
    time_range: Annotated[
        int, Field(gt=0, le=MAX_SECONDS, description="Seconds of history to train on")
    ] = 86400
    asset_id: Annotated[int | None, Field(gt=0, le=2**63 - 1)] = None
    metric_names: Annotated[
        list[Annotated[str, Field(pattern=METRIC_NAME_PATTERN)]] | None, Field(max_length=100)
    ] = None


class TrainResponse(ApiModel):
    model_type: str
    version: str
    series: int
    samples: int
    path: str
    is_active: bool
    trained_at: datetime
    parameters: dict[str, Any]
    quality: dict[str, Any]


@router.post(
    "/anomaly/train", response_model=TrainResponse, status_code=201, responses=UNKNOWN_ASSET
)
async def train(request: TrainRequest, settings: SettingsDep, pool: PoolDep) -> TrainResponse:
    """Replays the history of every selected series through the streaming detectors and saves
    their states as a new model version, made active: running workers adopt it within
    `MODEL_POLL_SECONDS`, and their scores then record its version. The work runs off the event
    loop, so the API keeps answering other requests meanwhile."""
    since = datetime.now(UTC) - timedelta(seconds=request.time_range)
    async with pool.connection() as conn:
        await require_known_asset(conn, request.asset_id)
        history = await queries.metric_history(
            conn,
            since=since,
            asset_id=request.asset_id,
            metric_names=request.metric_names,
            limit=MAX_TRAINING_POINTS + 1,
        )
    if len(history) > MAX_TRAINING_POINTS:
        raise unprocessable("timeRange", f"more than {MAX_TRAINING_POINTS} points; narrow it")
    try:
        # off the event loop: a history may hold up to two million series to name
        await run_in_threadpool(models_store.check_history, history, settings.min_training_samples)
    except models_store.TrainingError as e:
        raise unprocessable("timeRange", str(e)) from e

    def build_and_save():
        model = models_store.train(
            history, build_scorer(settings), contamination=settings.anomaly_contamination
        )
        return model, models_store.save(model, Path(settings.models_dir))

    model, path = await run_in_threadpool(build_and_save)
    async with pool.connection() as conn:
        await models_store.register(conn, model, path)
    return TrainResponse(
        model_type=models_store.MODEL_TYPE,
        version=model.version,
        series=len(model.states),
        samples=model.samples,
        path=str(path),
        is_active=True,
        trained_at=datetime.now(UTC),
        parameters=model.parameters,
        quality=model.quality,
    )
