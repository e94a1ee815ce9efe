"""`POST /api/v1/anomaly/detect`: score stored metrics of a time range and return the anomalies."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
from fastapi import APIRouter
from pydantic import ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api import queries
from api.deps import PoolDep, SettingsDep
from api.responses import MAX_SECONDS, UNKNOWN_ASSET, ApiModel, require_known_asset, unprocessable
from stream import models_store
from stream.ensemble import MODEL_VERSION, build_engine
from stream.events import METRIC_NAME_PATTERN
from stream.features import SeriesState
from stream.history import History, micros

if TYPE_CHECKING:
    from stream.engine.core import Engine

log = logging.getLogger(__name__)
router = APIRouter(tags=["anomaly"])

# Most stored points one request may score; more answers 422 (narrow the range or the asset).
MAX_DETECT_POINTS = 500_000


class DetectRequest(ApiModel):
    """Field names as the EMS front end sends them (camelCase); snake_case is accepted too."""

    model_config = ConfigDict(extra="forbid")

    asset_id: Annotated[
        int | None, Field(gt=0, le=2**63 - 1, description="one asset; all when absent")
    ] = None
    metric_names: Annotated[
        list[Annotated[str, Field(pattern=METRIC_NAME_PATTERN)]] | None,
        Field(max_length=100, description="these metrics only", examples=[["cpu_usage"]]),
    ] = None
    time_range: Annotated[
        int, Field(gt=0, le=MAX_SECONDS, description="Seconds back from now to report")
    ] = 3600
    threshold: Annotated[
        float, Field(ge=0.0, le=1.0, description="score at which a point is reported")
    ] = 0.7


class DetectedAnomaly(ApiModel):
    asset_id: int
    metric: str
    timestamp: datetime
    value: float
    score: float
    detector_scores: dict[str, float]
    driver: str
    #: the trained model that scored it, or the streaming ensemble's version
    model_version: str
    #: what the series was expected to be, the band of values that score under the threshold,
    #: and whether the value lies above or below the expected value
    expected: float | None = None
    lower: float | None = None
    upper: float | None = None
    direction: str | None = None


class DetectResponse(ApiModel):
    threshold: float = Field(description="the threshold used")
    time_range: int = Field(description="seconds reported")
    points_scored: int = Field(description="points scored in the range")
    anomalies: list[DetectedAnomaly] = Field(description="the points at or over the threshold")
    counts_per_asset: dict[int, int] = Field(
        description="anomalies per asset id", examples=[{"7": 2}]
    )


def starting_states(model_states: dict[str, dict], report_from: datetime) -> dict[str, SeriesState]:
    """States from the active model for the series whose training ended before the range: they
    are scored from what the model learnt. The others learn from the stored history instead (a
    model that has already seen part of the range cannot judge it afresh)."""
    start_ms = int(report_from.timestamp() * 1000)
    states = {}
    for key, data in model_states.items():
        state = SeriesState.from_dict(data)
        if state.last_ts_ms is not None and state.last_ts_ms < start_ms:
            states[key] = state
    return states


def detect_in(
    history: History, engine: Engine, report_from: datetime, states: dict[str, SeriesState]
) -> tuple[int, list[DetectedAnomaly]]:
    """Score the time-ordered `history` from `states` with the compiled engine; count and
    return the anomalies from `report_from` on. Points a model state has already learnt are
    refused as out of order, and not counted."""
    from stream.engine import combine

    for key, state in states.items():
        engine.load(key, state)
    keys = history.per_point(history.keys)
    scored_batch = engine.score_batch(
        keys, history.values, history.epochs(), history.per_point(history.metrics)
    )
    verdicts = scored_batch.verdicts
    start = micros(report_from)
    counted = (verdicts[:, combine.REFUSED] != verdicts[:, combine.REFUSED]) & (
        history.micros >= start
    )
    # verdicts are built for the anomalies only: a range can hold millions of points
    anomalous = np.flatnonzero(counted & (verdicts[:, combine.IS_ANOMALY] > 0)).tolist()
    versions = []
    for i in anomalous:
        state = states.get(keys[i])
        versions.append((state.model_version if state else None) or MODEL_VERSION)
    found = []
    for i, verdict in zip(
        anomalous, scored_batch.take(anomalous).verdicts_of(versions), strict=True
    ):
        code = int(history.series[i])
        asset_id, metric = history.assets[code], history.metrics[code]
        ts, value = history.timestamp(i), float(history.values[i])
        found.append(
            DetectedAnomaly(
                asset_id=asset_id,
                metric=metric,
                timestamp=ts,
                value=value,
                **verdict.reported(),
            )
        )
    return int(counted.sum()), found


@router.post("/anomaly/detect", response_model=DetectResponse, responses=UNKNOWN_ASSET)
async def detect(request: DetectRequest, settings: SettingsDep, pool: PoolDep) -> DetectResponse:
    """Scores the stored metrics of the last `timeRange` seconds (one asset or all) with the
    current models: a series the active trained model covers starts from its trained state.

    Any other series first learns from the history before the range (as much again as the range, at
    least 24 hours, within 30 days), so the range is judged against what came before it.
    """
    now = datetime.now(UTC)
    report_from = now - timedelta(seconds=request.time_range)
    lookback = min(max(request.time_range, 86400), MAX_SECONDS - request.time_range)
    async with pool.connection() as conn:
        await require_known_asset(conn, request.asset_id)
        active = await models_store.active(conn)
        history = await queries.metric_history(
            conn,
            since=report_from - timedelta(seconds=lookback),
            asset_id=request.asset_id,
            metric_names=request.metric_names,
            limit=MAX_DETECT_POINTS + 1,
        )
    if len(history) > MAX_DETECT_POINTS:
        raise unprocessable(
            "timeRange", f"more than {MAX_DETECT_POINTS} stored points; narrow it or pick an asset"
        )
    engine = build_engine(settings.model_copy(update={"anomaly_threshold": request.threshold}))

    def run():  # CPU-bound: off the event loop, so other requests are served meanwhile
        states = {}
        if active is not None:
            version, recorded = active
            try:
                path = models_store.locate(Path(settings.models_dir), version, recorded)
                _, model_states = models_store.load(path)
            except (OSError, ValueError) as e:
                # the streaming ensemble answers instead; /health says the model is unavailable
                log.warning(
                    "active model %s cannot be loaded, detecting without it: %s", version, e
                )
            else:
                states = starting_states(model_states, report_from)
        return detect_in(history, engine, report_from, states)

    scored, found = await run_in_threadpool(run)
    return DetectResponse(
        threshold=request.threshold,
        time_range=request.time_range,
        points_scored=scored,
        anomalies=found,
        counts_per_asset=dict(Counter(a.asset_id for a in found)),
    )
