"""`/api/v1/maintenance`: create, list and cancel maintenance windows (`stream.maintenance`).

During a window, the points it matches are scored and stored, but open no incident and send
nothing (no anomaly event, no EMS Core event, no capacity prediction). Workers read the windows
every MAINTENANCE_POLL_SECONDS, so a window takes effect within that time.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from psycopg.rows import dict_row
from pydantic import AwareDatetime, Field, model_validator

from api.deps import PoolDep
from api.responses import ApiModel, ErrorBody

router = APIRouter(tags=["maintenance"])

#: the longest window one request may set
MAX_DAYS = 31

_PATTERN = r"^[A-Za-z0-9_.:\-*?\[\]!]{1,200}$"


class WindowRequest(ApiModel):
    asset_id: int | None = Field(
        None, gt=0, le=2**63 - 1, description="the asset muted (absent: every asset)"
    )
    metric_pattern: str | None = Field(
        None,
        pattern=_PATTERN,
        description="fnmatch pattern of the metrics muted, e.g. cpu_* (absent: every metric)",
        examples=["cpu_*"],
    )
    starts_at: AwareDatetime | None = Field(
        None, description="start, with a time zone (absent: now)"
    )
    ends_at: AwareDatetime = Field(description="end (not included), with a time zone")
    reason: str = Field(
        min_length=1,
        max_length=500,
        pattern=r"^[^\x00]+$",  # PostgreSQL text holds no NUL
        description="why, for the people who see it",
    )

    @model_validator(mode="after")
    def _a_real_span(self):
        start = self.starts_at or datetime.now(UTC)
        if self.ends_at <= start:
            raise ValueError("endsAt must be after startsAt (or after now)")
        if self.ends_at - start > timedelta(days=MAX_DAYS):
            raise ValueError(f"a window lasts at most {MAX_DAYS} days")
        return self


class MaintenanceWindow(ApiModel):
    id: uuid.UUID
    asset_id: int | None = Field(description="the asset muted (null: every asset)")
    metric_pattern: str | None = Field(description="the metrics muted (null: every metric)")
    starts_at: datetime = Field(description="the window's start")
    ends_at: datetime = Field(description="its end (not included)")
    reason: str = Field(description="why, as given")
    created_at: datetime = Field(description="when it was created")
    cancelled_at: datetime | None = Field(description="when it was cancelled (null: it was not)")
    status: str = Field(description="upcoming, active, ended or cancelled")


class WindowList(ApiModel):
    windows: list[MaintenanceWindow] = Field(description="by start, newest first")


_COLUMNS = "id, asset_id, metric_pattern, starts_at, ends_at, reason, created_at, cancelled_at"
NOT_FOUND = {404: {"model": ErrorBody, "description": "No maintenance window has this id"}}


def _out(row: dict) -> MaintenanceWindow:
    now = datetime.now(UTC)
    status = (
        "cancelled"
        if row["cancelled_at"]
        else "upcoming"
        if row["starts_at"] > now
        else "active"
        if row["ends_at"] > now
        else "ended"
    )
    return MaintenanceWindow(**row, status=status)


@router.post("/maintenance", response_model=MaintenanceWindow, status_code=201)
async def create_window(pool: PoolDep, request: WindowRequest) -> MaintenanceWindow:
    """Mute an asset, a metric pattern or everything for a time range."""
    async with pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            f"INSERT INTO maintenance_windows ({_COLUMNS}) "
            "VALUES (%s, %s, %s, %s, %s, %s, now(), NULL) RETURNING " + _COLUMNS,
            (
                uuid.uuid4(),
                request.asset_id,
                request.metric_pattern,
                request.starts_at or datetime.now(UTC),
                request.ends_at,
                request.reason,
            ),
        )
        return _out(await cur.fetchone())


@router.get("/maintenance", response_model=WindowList)
async def list_windows(
    pool: PoolDep,
    ended: Annotated[
        bool, Query(description="Also the windows that ended or were cancelled (last 30 days)")
    ] = False,
) -> WindowList:
    """The maintenance windows active now or to come (with `ended`, the past month's too)."""
    where = (
        "starts_at > now() - interval '30 days' OR ends_at > now()"
        if ended
        else "cancelled_at IS NULL AND ends_at > now()"
    )
    async with pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            f"SELECT {_COLUMNS} FROM maintenance_windows WHERE {where} "
            "ORDER BY starts_at DESC LIMIT 1000"
        )
        return WindowList(windows=[_out(r) for r in await cur.fetchall()])


@router.delete("/maintenance/{window_id}", response_model=MaintenanceWindow, responses=NOT_FOUND)
async def cancel_window(pool: PoolDep, window_id: uuid.UUID) -> MaintenanceWindow:
    """Cancel a window (from the workers' next read on, its points alert again); cancelling a
    cancelled window changes nothing."""
    async with pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "UPDATE maintenance_windows SET cancelled_at = coalesce(cancelled_at, now()) "
            f"WHERE id = %s RETURNING {_COLUMNS}",
            (window_id,),
        )
        row = await cur.fetchone()
    if row is None:
        raise HTTPException(404, f"no maintenance window {window_id}")
    return _out(row)
