"""`GET /api/v1/health`: is the service able to do its job, and if not, why."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Literal

from aiokafka.admin import AIOKafkaAdminClient
from fastapi import APIRouter, Response
from pydantic import BaseModel

from api.deps import PoolDep, SettingsDep

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_SECONDS = 3.0


class DependencyStatus(BaseModel):
    status: Literal["up", "down"]
    detail: str | None = None


class HealthReport(BaseModel):
    status: Literal["healthy", "degraded", "unhealthy"]
    timestamp: datetime
    database: DependencyStatus
    kafka: DependencyStatus
    reasons: list[str]


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


@router.get("/health", response_model=HealthReport)
async def health(settings: SettingsDep, pool: PoolDep, response: Response) -> HealthReport:
    """Healthy when PostgreSQL and Kafka answer; unhealthy (503) without the database, which
    every endpoint needs; degraded without Kafka (stored scores are still served)."""
    database, kafka = await asyncio.gather(
        check_database(pool), check_kafka(settings.kafka_bootstrap_servers)
    )
    reasons = []
    if database.status == "down":
        reasons.append(f"database unreachable: {database.detail}")
    if kafka.status == "down":
        reasons.append(f"kafka unreachable: {kafka.detail}")
    if database.status == "down":
        status = "unhealthy"
        response.status_code = 503
    else:
        status = "degraded" if reasons else "healthy"
    return HealthReport(
        status=status,
        timestamp=datetime.now(UTC),
        database=database,
        kafka=kafka,
        reasons=reasons,
    )
