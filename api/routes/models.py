"""`GET /api/v1/models`: every model with its metadata, and which version is active."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import Field

from api import queries
from api.deps import PoolDep
from api.responses import ApiModel
from stream.ensemble import MODEL_VERSION

router = APIRouter(tags=["models"])


class ModelInfo(ApiModel):
    """A trained model: the detectors' states after replaying the selected history."""

    id: int
    model_type: str = Field(examples=["anomaly_detection"])
    version: str = Field(examples=["ad-20261201T120000Z"])
    series: str | None
    samples: int | None
    parameters: dict[str, Any]
    quality: dict[str, Any] | None
    path: str | None
    is_active: bool
    trained_at: datetime


class ModelList(ApiModel):
    streaming_version: str = Field(
        description="the streaming ensemble's version: it scores every series no trained model "
        "covers",
        examples=["ensemble-v8"],
    )
    models: list[ModelInfo] = Field(description="every trained model, newest first")


@router.get("/models", response_model=ModelList)
async def list_models(pool: PoolDep) -> ModelList:
    async with pool.connection() as conn:
        rows = await queries.models(conn)
    return ModelList(streaming_version=MODEL_VERSION, models=[ModelInfo(**r) for r in rows])
