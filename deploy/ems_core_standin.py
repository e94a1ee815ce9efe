"""A small stand-in for EMS Core's HTTP API, for development and tests (`ems-ml stack up`).

It answers `GET /health` and keeps events posted to `POST /api/v1/events` in memory, listing them at
`GET /api/v1/events`. The ML service talks to it over HTTP exactly as to the real EMS Core.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI

app = FastAPI(title="EMS Core stand-in", version="0.1.0")

_events: list[dict[str, Any]] = []
_ids = itertools.count(1)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok", "service": "ems-core-standin"}


@app.post("/api/v1/events", status_code=201)
async def create_event(event: dict[str, Any]) -> dict[str, Any]:
    stored = {**event, "id": next(_ids), "created_at": datetime.now(UTC).isoformat()}
    _events.append(stored)
    return stored


@app.get("/api/v1/events")
async def list_events() -> list[dict[str, Any]]:
    return _events
