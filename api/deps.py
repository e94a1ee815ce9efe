"""What routes depend on: settings, database pool, API key check (as `Annotated` aliases)."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader
from psycopg_pool import AsyncConnectionPool

from api.guard import key_matches
from stream.config import Settings

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_pool(request: Request) -> AsyncConnectionPool:
    return request.app.state.pool


def get_http(request: Request) -> httpx.AsyncClient:
    """The process's one pooled HTTP client (a client per request would defeat pooling)."""
    return request.app.state.http


SettingsDep = Annotated[Settings, Depends(get_settings)]
PoolDep = Annotated[AsyncConnectionPool, Depends(get_pool)]
HttpDep = Annotated[httpx.AsyncClient, Depends(get_http)]


def require_api_key(
    settings: SettingsDep, supplied: Annotated[str | None, Security(_api_key_header)]
) -> None:
    """401 unless `API_KEY` is unset or the request's X-API-Key header matches it. The guard
    (`api.guard`) has refused a wrong key before the route is reached; this declares the key in
    the OpenAPI schema, and holds for an app mounted without the guard."""
    if settings.api_key is None:
        return
    if not key_matches(supplied, settings.api_key.get_secret_value()):
        raise HTTPException(status_code=401, detail="missing or wrong X-API-Key header")
