"""The FastAPI sidecar: `ems-ml api` serves it on `HOST`:`PORT` (default 0.0.0.0:8000)."""

from __future__ import annotations

import asyncio
import gc
import logging
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from fastapi import Depends, FastAPI, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST
from psycopg_pool import AsyncConnectionPool

from api import metrics
from api.asset_health import STATUSES
from api.deps import require_api_key
from api.errors import add_error_handlers
from api.guard import RequestGuard
from api.rate_limit import RateLimiter
from api.responses import PROTECTED
from api.routes import (
    asset_health,
    asset_metrics,
    assets,
    detect,
    forecast,
    health,
    incidents,
    maintenance,
    models,
    scores,
    train,
)
from stream.config import Settings
from stream.sinks.postgres import ensure_schema

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
HEALTH_STATUSES = tuple(name for _, name in STATUSES)
UI_DIR = Path(__file__).parent / "ui"


async def _ensure_schema(pool: AsyncConnectionPool) -> None:
    """The tables the API reads exist even if no worker has started yet; a database that is down
    now is reported by /health rather than stopping the API."""
    try:
        async with pool.connection(timeout=5) as conn:
            await ensure_schema(conn)
    except Exception as e:  # noqa: BLE001 - any failure here only delays readiness
        log.warning("could not create the schema at start-up: %s", e)


async def _refresh_health_metrics(pool: AsyncConnectionPool) -> None:
    """Keep the health aggregates of /metrics current (`api.metrics.ASSETS_BY_HEALTH`); a
    database that is down leaves them as they were until it is back."""
    while True:
        now = datetime.now(UTC)
        try:
            async with pool.connection(timeout=5) as conn:
                found = await asset_health.assess_all(conn, since=now - timedelta(days=1), now=now)
            metrics.record_health(
                [h.score for h in found], [h.status for h in found], HEALTH_STATUSES
            )
        except Exception as e:  # noqa: BLE001 - a metric refresh must never stop the API
            log.warning("could not refresh the asset health metrics: %s", e)
        await asyncio.sleep(metrics.HEALTH_REFRESH_SECONDS)


def _warm_engine(window_size: int) -> None:
    """Compile the scoring engine and the root-cause ranking (or load them from their cache) so
    that the first detect, train or incident request does not wait for it (half a minute on a
    machine that never compiled it)."""
    try:
        from stream import root_cause
        from stream.engine.core import warm

        log.info("scoring engine ready in %.1f s", warm(window_size))
        log.info("root-cause ranking ready in %.1f s", root_cause.warm())
    except Exception:  # the request that needs it will say what is wrong
        log.exception("could not compile the scoring engine")
    # Everything loaded so far (the modules, numba's and the engine's objects) lives as long as
    # the process: set aside from the cycle collector, whose every full pass went through all
    # of it, 60-100 ms with the GIL held and every request waiting (README, Benchmarks).
    gc.freeze()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # open=False + open(wait=False): the API starts even while the database is down, and
        # /health says so instead of the process failing to boot.
        # a request waits at most DATABASE_WAIT_SECONDS for a connection, then answers 503
        pool = AsyncConnectionPool(
            settings.database_dsn,
            min_size=1,
            max_size=10,
            open=False,
            timeout=settings.database_wait_seconds,
        )
        await pool.open(wait=False)
        app.state.pool = pool
        await _ensure_schema(pool)
        app.state.http = httpx.AsyncClient(timeout=httpx.Timeout(5.0))
        refresher = asyncio.create_task(_refresh_health_metrics(pool))
        # in a thread: the API answers meanwhile (a detect request waits for the compile)
        warming = asyncio.create_task(asyncio.to_thread(_warm_engine, settings.window_size))
        try:
            yield
        finally:
            refresher.cancel()
            warming.cancel()
            await app.state.http.aclose()
            await pool.close()

    app = FastAPI(
        title="EMS ML Service",
        version="0.1.0",
        description="Anomaly scores, models and metric statistics of the EMS ML Service.",
        lifespan=lifespan,
        debug=settings.debug,
    )
    app.state.settings = settings
    app.include_router(health.router, prefix=API_PREFIX)
    # everything but health (and /metrics below) needs the API key when API_KEY is set, and
    # counts against the client's RATE_LIMIT: enforced by the guard before a route runs; the
    # dependency puts the key in the OpenAPI schema
    protected = [Depends(require_api_key)]
    for module in (
        scores,
        asset_metrics,
        asset_health,
        assets,
        incidents,
        maintenance,
        forecast,
        models,
        detect,
        train,
    ):
        app.include_router(
            module.router, prefix=API_PREFIX, dependencies=protected, responses=PROTECTED
        )
    add_error_handlers(app)
    if settings.api_key is None:
        log.warning(
            "API_KEY is not set: every endpoint is open to anyone who can reach %s:%d",
            settings.host,
            settings.port,
        )
    app.add_middleware(
        RequestGuard,
        api_key=settings.api_key.get_secret_value() if settings.api_key else None,
        limiter=RateLimiter(settings.rate_limit),
        auth_failures=RateLimiter(settings.auth_failure_limit),
        max_body_bytes=settings.max_body_bytes,
        trusted_client_header=settings.trusted_client_header,
    )
    # added after the guard, so outside it: preflights are answered, refusals carry CORS headers
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Content-Type", "X-API-Key"],
        )

    # the operators' page: static files that read the REST API above (no CDN, nothing to build)
    app.mount("/ui", StaticFiles(directory=UI_DIR, html=True), name="ui")

    # outermost: every request counts, the guard's refusals and CORS preflights included
    app.add_middleware(metrics.RequestMetrics, fastapi_app=app)

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        """The API's own Prometheus metrics (`api.metrics`: its requests and its process, not
        the worker's), at exactly /metrics (no redirect for scrapers)."""
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return app


def run_api(settings: Settings) -> None:
    import uvicorn

    from stream.config import configure_logging, logging_dict_config

    configure_logging(settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=logging_dict_config(settings.log_level),
    )
