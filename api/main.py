"""The FastAPI sidecar: `ems-ml api` serves it on `HOST`:`PORT` (default 0.0.0.0:8000)."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from psycopg_pool import AsyncConnectionPool

from api.routes import health
from stream.config import Settings

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # open=False + open(wait=False): the API starts even while the database is down, and
        # /health says so instead of the process failing to boot.
        pool = AsyncConnectionPool(settings.database_dsn, min_size=1, max_size=10, open=False)
        await pool.open(wait=False)
        app.state.pool = pool
        try:
            yield
        finally:
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

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        """The API's Prometheus metrics, at exactly /metrics (no redirect for scrapers)."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

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
