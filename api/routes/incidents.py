"""`GET /api/v1/incidents/{incident_id}`: one incident and its root-cause hints.

The hints (`stream.root_cause`, read by `stream.hints`) rank what moved around the incident's
start: the asset's own metrics and other assets' series with anomalies then, those whose scores
move with the incident's first, then the changes that held, then by onset.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, HTTPException
from pydantic import Field

from api import queries
from api.deps import PoolDep
from api.responses import ApiModel, ErrorBody
from api.routes.assets import Incident, crossings_of, priority_of
from stream import hints, root_cause

router = APIRouter(tags=["assets"])


class HintOut(ApiModel):
    asset_id: int
    metric: str
    onset: datetime = Field(description="its first score of at least 0.6 near the incident's start")
    lead_seconds: float = Field(
        description="how long before the incident's start it moved (negative: after)"
    )
    correlation: float = Field(
        description="Pearson correlation of its scores with the incident's peak metric's, at "
        "the lead between their onsets"
    )
    sustained: float = Field(
        description="median score of its 10 points after the onset: a change that held (at "
        "least 0.25) or a blip"
    )
    peak_score: float = Field(description="its highest score in the window")
    reason: str = Field(description="the hint, for a person")


class IncidentDetail(Incident):
    asset_id: int
    window_start: datetime = Field(description="the hints look from here ...")
    window_end: datetime = Field(description="... to here")
    hints: list[HintOut] = Field(description="what moved, most likely cause first")


@router.get(
    "/incidents/{incident_id}",
    response_model=IncidentDetail,
    responses={404: {"model": ErrorBody, "description": "No incident has this id"}},
)
async def get_incident(pool: PoolDep, incident_id: UUID) -> IncidentDetail:
    """The incident with its ranked root-cause hints and their reasons."""
    async with pool.connection() as conn:
        row = await queries.incident(conn, incident_id)
        if row is None:
            raise HTTPException(404, f"no incident {incident_id}")
        found = await hints.for_incident(conn, row)
    start, end = root_cause.window(row["started_at"])
    fields = {k: v for k, v in row.items() if k != "details"}
    return IncidentDetail(
        **fields,
        crossings=crossings_of(row),
        priority=priority_of(row),
        window_start=start,
        window_end=end,
        hints=[HintOut(**h) for h in hints.as_details(found)],
    )
