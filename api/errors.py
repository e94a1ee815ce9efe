"""Error answers that no request can turn into a 500: the database down, a body that cannot be
echoed back as JSON."""

from __future__ import annotations

import logging
import math

import psycopg
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout

log = logging.getLogger(__name__)

#: what a client is told to wait before it tries again while the database is down
RETRY_AFTER_SECONDS = 5


def json_safe(value):
    """`value` with every non-finite float as text: a validation error echoes the input, and
    JSON has no NaN or infinity.

    >>> json_safe({"input": [float("nan"), 1.5, {"x": float("-inf")}]})
    {'input': ['nan', 1.5, {'x': '-inf'}]}
    """
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            status_code=422, content={"detail": json_safe(jsonable_encoder(exc.errors()))}
        )

    @app.exception_handler(PoolTimeout)
    @app.exception_handler(psycopg.OperationalError)
    async def database_down(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable for %s: %s", request.url.path, exc)
        return JSONResponse(
            status_code=503,
            content={"detail": f"database unavailable, retry later: {type(exc).__name__}"},
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
