"""A small stand-in for EMS Core's events API, for development and tests (`ems-ml stack up`).

The ML service talks to it over HTTP exactly as to the real EMS Core:

- `GET /health`
- `POST /api/v1/events`: stores an event and answers 201 with it and its `id`. With an
  `Idempotency-Key` header, a key seen before answers 200 with the event first stored under it,
  storing nothing.
- `PATCH /api/v1/events/{id}`: changes an event's fields (an incident's update or resolution);
  an `Idempotency-Key` seen before is answered without changing anything again.
- `GET /api/v1/events?asset_id=&source=&status=`: the stored events, oldest first.

Event JSON accepted: `asset_id`, `severity` (info | warning | critical), `title`, `description`,
`source` (`ml-service`), `metric`, `score`, `started_at`, `resolved_at`, `details` (the anomaly
details: incident id, metrics, anomalies, peak score, duration); other fields are kept as sent.

Switches for tests, at `POST /_control`: `{"fail_ratio": 0.5, "fail_status": 503}` answers that
share of event calls with that status, spread evenly (0.5: every other call), not at random, so a
test cannot meet an unlucky run of failures; `{"delay_seconds": 3}` stores first, then waits that
long before answering (a slow EMS Core, or a client that gives up after EMS Core stored the event);
`{"down": true}` answers 503 to everything, `/health` included (an outage; `ems-ml stack down`
gives a refused connection instead); `{"reset": true}` forgets every event and switch. Events live
in memory.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

app = FastAPI(title="EMS Core stand-in", version="0.2.0")


class EventIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    asset_id: int
    severity: Literal["info", "warning", "critical"]
    title: str
    description: str | None = None
    source: str = "ml-service"
    metric: str | None = None
    score: float | None = None
    started_at: str | None = None
    resolved_at: str | None = None
    details: dict[str, Any] | None = None


class Control(BaseModel):
    fail_ratio: float | None = None
    fail_status: int | None = None
    delay_seconds: float | None = None
    down: bool | None = None
    reset: bool = False


_events: dict[int, dict[str, Any]] = {}
_by_key: dict[str, int] = {}
_ids = itertools.count(1)
_switches = {"fail_ratio": 0.0, "fail_status": 500, "delay_seconds": 0.0, "down": False}
_calls = {"posts": 0, "patches": 0, "failed": 0}
_failure_debt = [0.0]


def _maybe_fail() -> None:
    # error diffusion: each call adds the ratio to a debt; a whole unit of debt is one failure
    _failure_debt[0] += _switches["fail_ratio"]
    if _failure_debt[0] >= 1.0:
        _failure_debt[0] -= 1.0
        _calls["failed"] += 1
        raise HTTPException(_switches["fail_status"], "stand-in told to fail")


async def _delay() -> None:
    if _switches["delay_seconds"]:
        await asyncio.sleep(_switches["delay_seconds"])


@app.middleware("http")
async def outage(request: Request, call_next):
    """`down`: every answer but the control switch is 503, /health included."""
    if _switches["down"] and not request.url.path.startswith("/_control"):
        return JSONResponse({"detail": "EMS Core is down"}, status_code=503)
    return await call_next(request)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok", "service": "ems-core-standin"}


@app.post("/api/v1/events", status_code=201)
async def create_event(
    event: EventIn, idempotency_key: str | None = Header(default=None)
) -> JSONResponse:
    _maybe_fail()
    _calls["posts"] += 1
    if idempotency_key is not None and idempotency_key in _by_key:
        await _delay()
        return JSONResponse(_events[_by_key[idempotency_key]], status_code=200)
    event_id = next(_ids)
    stored = {
        **event.model_dump(),
        "id": event_id,
        "status": "resolved" if event.resolved_at else "open",
        "created_at": datetime.now(UTC).isoformat(),
        "updates": 0,
    }
    _events[event_id] = stored
    if idempotency_key is not None:
        _by_key[idempotency_key] = event_id
    await _delay()  # stored first: a client that gives up now has still created the event
    return JSONResponse(stored, status_code=201)


@app.patch("/api/v1/events/{event_id}")
async def update_event(
    event_id: int, changes: dict[str, Any], idempotency_key: str | None = Header(default=None)
) -> dict[str, Any]:
    _maybe_fail()
    _calls["patches"] += 1
    if event_id not in _events:
        raise HTTPException(404, f"no event {event_id}")
    stored = _events[event_id]
    if idempotency_key is None or idempotency_key not in _by_key:
        stored.update({k: v for k, v in changes.items() if k != "id"})
        stored["status"] = "resolved" if stored.get("resolved_at") else "open"
        stored["updates"] += 1
        if idempotency_key is not None:
            _by_key[idempotency_key] = event_id
    await _delay()
    return stored


@app.get("/api/v1/events")
async def list_events(
    asset_id: int | None = None, source: str | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    return [
        e
        for e in _events.values()
        if (asset_id is None or e["asset_id"] == asset_id)
        and (source is None or e.get("source") == source)
        and (status is None or e["status"] == status)
    ]


@app.post("/_control")
async def control(change: Control) -> dict[str, Any]:
    if change.reset:
        _events.clear()
        _by_key.clear()
        _switches.update(fail_ratio=0.0, fail_status=500, delay_seconds=0.0, down=False)
        _calls.update(posts=0, patches=0, failed=0)
        _failure_debt[0] = 0.0
    for name in ("fail_ratio", "fail_status", "delay_seconds", "down"):
        value = getattr(change, name)
        if value is not None:
            _switches[name] = value
    return {"switches": _switches, "calls": _calls, "events": len(_events)}
