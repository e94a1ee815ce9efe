"""`GET /api/v1/health`: is the service able to do its job, and if not, why."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import httpx
from aiokafka.admin import AIOKafkaAdminClient
from fastapi import APIRouter, Response
from pydantic import Field

from api.deps import HttpDep, PoolDep, SettingsDep
from api.responses import ApiModel
from stream import models_store
from stream.ensemble import MODEL_VERSION

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_SECONDS = 3.0


class DependencyStatus(ApiModel):
    status: Literal["up", "down"] = Field(description="whether it answered")
    detail: str | None = Field(None, description="why it is down")


class ModelStatus(ApiModel):
    loaded: bool = Field(description="whether it scores")
    version: str | None
    detail: str | None = Field(
        None, description="why an active model is not loaded (no snapshot under MODELS_DIR)"
    )


class HealthDetails(ApiModel):
    """Everything the seed's health answer has no field for."""

    database: DependencyStatus = Field(description="PostgreSQL")
    kafka: DependencyStatus = Field(description="the Kafka brokers")
    ems_core: DependencyStatus = Field(description="EMS Core's REST API")
    ems_core_backlog: int | None = Field(
        description="incident changes waiting to reach EMS Core (null when the database cannot say)"
    )
    models: dict[str, ModelStatus] = Field(
        description="per model type: the streaming ensemble always, a trained model when one "
        "is active"
    )
    api_key_required: bool = Field(description="whether API calls need X-API-Key (API_KEY set)")
    reasons: list[str] = Field(description="why the status is not healthy")
    warnings: list[str] = Field(
        [], description="what an operator should know though the service works"
    )


class HealthReport(ApiModel):
    """The seed's health answer, field for field, so a client written against it keeps working;
    the rest under `details`."""

    status: Literal["healthy", "degraded", "unhealthy"] = Field(
        description="unhealthy (503) without the database; degraded without Kafka or EMS Core"
    )
    timestamp: datetime
    database: bool = Field(description="PostgreSQL answers")
    redis: None = Field(None, description="always null: the service uses no Redis (the seed's)")
    models: dict[str, bool] = Field(
        description="`anomaly_detection`: whether a model that detects anomalies is loaded; the "
        "streaming ensemble always is, so true. Which model, and the trained one: `details`",
        examples=[{"anomaly_detection": True}],
    )
    details: HealthDetails = Field(description="what the seed's answer has no field for")


async def check_database(pool) -> DependencyStatus:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            async with pool.connection() as conn:
                await conn.execute("SELECT 1")
        return DependencyStatus(status="up")
    except Exception as e:  # any failure to answer means down; the text says which
        return DependencyStatus(status="down", detail=f"{type(e).__name__}: {e}"[:300])


async def check_kafka(bootstrap_servers: str) -> DependencyStatus:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, request_timeout_ms=int(CHECK_TIMEOUT_SECONDS * 1000)
    )
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await admin.start()
            await admin.list_topics()
        return DependencyStatus(status="up")
    except Exception as e:
        return DependencyStatus(status="down", detail=f"{type(e).__name__}: {e}"[:300])
    finally:
        await admin.close()


async def check_ems_core(client: httpx.AsyncClient, base_url: str) -> DependencyStatus:
    try:
        answer = await client.get(f"{base_url.rstrip('/')}/health", timeout=CHECK_TIMEOUT_SECONDS)
        if answer.status_code < 500:
            return DependencyStatus(status="up")
        return DependencyStatus(status="down", detail=f"HTTP {answer.status_code}")
    except httpx.HTTPError as e:
        return DependencyStatus(status="down", detail=f"{type(e).__name__}: {e}"[:300])


async def outbox_backlog(pool) -> int | None:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            async with pool.connection() as conn:
                cur = await conn.execute("SELECT count(*) FROM ems_outbox WHERE sent_at IS NULL")
                return (await cur.fetchone())[0]
    except Exception:  # the database check reports why
        return None


async def model_status(pool, models_dir: Path) -> dict[str, ModelStatus]:
    models = {"streaming": ModelStatus(loaded=True, version=MODEL_VERSION)}
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            async with pool.connection() as conn:
                active = await models_store.active(conn)
    except Exception:  # the database check reports why; here the trained model is just unknown
        active = None
    trained = ModelStatus(loaded=False, version=None)
    if active is not None:
        version, recorded = active
        try:
            models_store.locate(models_dir, version, recorded)
            trained = ModelStatus(loaded=True, version=version)
        except FileNotFoundError as e:
            trained = ModelStatus(
                loaded=False, version=version, detail=f"{e}; the streaming ensemble answers"
            )
    models[models_store.MODEL_TYPE] = trained
    return models


@router.get(
    "/health",
    response_model=HealthReport,
    responses={503: {"model": HealthReport, "description": "Unhealthy: the database is down"}},
)
async def health(
    settings: SettingsDep, pool: PoolDep, http: HttpDep, response: Response
) -> HealthReport:
    """Healthy when PostgreSQL, Kafka and EMS Core answer; unhealthy (503) without the database,
    which every endpoint needs; degraded without Kafka or EMS Core (stored scores are still
    served)."""
    database, kafka, ems_core, backlog, models = await asyncio.gather(
        check_database(pool),
        check_kafka(settings.kafka_bootstrap_servers),
        check_ems_core(http, settings.ems_core_url),
        outbox_backlog(pool),
        model_status(pool, Path(settings.models_dir)),
    )
    warnings = []
    if settings.api_key is None:
        warnings.append("API_KEY is not set: every endpoint is open to anyone who can reach it")
    trained = models[models_store.MODEL_TYPE]
    if trained.detail:
        warnings.append(f"active model not loaded: {trained.detail}")
    reasons = []
    if database.status == "down":
        reasons.append(f"database unreachable: {database.detail}")
    if kafka.status == "down":
        reasons.append(f"kafka unreachable: {kafka.detail}")
    if ems_core.status == "down":
        reasons.append(f"EMS Core unreachable at {settings.ems_core_url}: {ems_core.detail}")
    if database.status == "down":
        status = "unhealthy"
        response.status_code = 503
    else:
        status = "degraded" if reasons else "healthy"
    return HealthReport(
        status=status,
        timestamp=datetime.now(UTC),
        database=database.status == "up",
        models={"anomaly_detection": any(m.loaded for m in models.values())},
        details=HealthDetails(
            database=database,
            kafka=kafka,
            ems_core=ems_core,
            ems_core_backlog=backlog,
            models=models,
            api_key_required=settings.api_key is not None,
            reasons=reasons,
            warnings=warnings,
        ),
    )
