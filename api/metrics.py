"""The API's own Prometheus metrics: its requests and its process, in a registry of their own.

The worker's metrics (`stream.metrics`) live in prometheus_client's default registry, which the
API fills too as soon as it imports the scoring code. Served from the API they read 0 (the API
scores nothing), and a Prometheus scraping the API beside the workers would add those zeros to
every `sum()`. So the API's `/metrics` serves this registry only.

Requests are labelled by route template (`/api/v1/metrics/{asset_id}`), never by raw path, so the
number of series stays bounded whatever clients ask for; a path that matches no route is
"unmatched".
"""

from __future__ import annotations

import re
import time

from fastapi import FastAPI
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from starlette.routing import Mount, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

REQUESTS = Counter(
    "ems_ml_api_requests_total",
    "HTTP requests answered, by method, route template and status code",
    ["method", "route", "status"],
    registry=REGISTRY,
)
REQUEST_SECONDS = Histogram(
    "ems_ml_api_request_duration_seconds",
    "Time from a request's arrival to the end of its answer",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
IN_PROGRESS = Gauge(
    "ems_ml_api_requests_in_progress", "Requests being answered now", registry=REGISTRY
)

# Asset health as aggregates, never one series per asset (100k assets would be 100k series):
# refreshed by the API every HEALTH_REFRESH_SECONDS over the last 24 hours (`api.asset_health`)
ASSETS_BY_HEALTH = Gauge(
    "ems_ml_assets_by_health",
    "Assets with scores or an open incident in the last 24 hours, by health status",
    ["status"],
    registry=REGISTRY,
)
LOWEST_HEALTH = Gauge(
    "ems_ml_asset_health_lowest",
    "The lowest asset health score (0-100) over the last 24 hours; 100 with no asset",
    registry=REGISTRY,
)
HEALTH_REFRESH_SECONDS = 60.0


def record_health(scores: list[int], statuses: list[str], known: tuple[str, ...]) -> None:
    """Set the health aggregates from every asset's score and status."""
    for status in known:
        ASSETS_BY_HEALTH.labels(status=status).set(statuses.count(status))
    LOWEST_HEALTH.set(min(scores, default=100))


UNMATCHED = "unmatched"
#: methods labelled by name; any other token a client sends counts as "other", so that made-up
#: methods cannot grow the number of series
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def exposition() -> bytes:
    """This registry in Prometheus' text format."""
    return generate_latest(REGISTRY)


def route_templates(app: FastAPI) -> list[tuple[re.Pattern, str]]:
    """Every path template the app serves (its OpenAPI paths, and the routes left out of the
    schema such as /metrics and /docs), as (regex, template), templates without parameters
    first so that a fixed path wins over a parameter."""
    paths = set(app.openapi().get("paths", {}))
    for route in app.router.routes:
        if isinstance(route, Mount):  # static files: one template for everything under it
            paths.add(route.path + "/{path:path}")
        elif isinstance(getattr(route, "path", None), str):
            paths.add(route.path)
    ordered = sorted(paths, key=lambda p: ("{" in p, p))
    return [(compile_path(p)[0], p) for p in ordered]


class RequestMetrics:
    """ASGI middleware counting and timing every HTTP request, answered or refused; the
    outermost layer, so the guard's refusals and CORS preflights count too."""

    def __init__(self, app: ASGIApp, fastapi_app: FastAPI) -> None:
        self.app = app
        self._fastapi_app = fastapi_app
        self._templates: list[tuple[re.Pattern, str]] | None = None

    def route(self, path: str) -> str:
        """The template of the route `path` is for, whether or not the request reached it (one
        the guard refused never does), or `UNMATCHED`. Matched on the app's own templates, not
        on what the router leaves in the scope, which differs between FastAPI versions."""
        if self._templates is None:  # built at the first request: every route is known by then
            self._templates = route_templates(self._fastapi_app)
        return next((t for regex, t in self._templates if regex.match(path)), UNMATCHED)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets if the app fails before answering

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        IN_PROGRESS.inc()
        try:
            await self.app(scope, receive, record_status)
        finally:
            IN_PROGRESS.dec()
            route = self.route(scope.get("path", ""))
            method = scope.get("method", "")
            method = method if method in METHODS else "other"
            REQUESTS.labels(method, route, str(status)).inc()
            REQUEST_SECONDS.labels(method, route).observe(time.perf_counter() - started)
