"""Limits and error answers the API documents in its OpenAPI schema, beside each success."""

from __future__ import annotations

from typing import Annotated

from fastapi import HTTPException, Path, Query
from psycopg import AsyncConnection
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from api import queries

# No request reads more than this much history or returns more rows than this: they are in the
# schema (parameter bounds), so clients see them before they call.
MAX_HOURS = 720
MAX_SECONDS = MAX_HOURS * 3600
MAX_PAGE_SIZE = 1000


#: the path parameter of every per-asset route: a positive BIGINT
AssetIdPath = Annotated[int, Path(gt=0, le=2**63 - 1)]
#: the look-back window of the read routes
HoursQuery = Annotated[float, Query(gt=0, le=MAX_HOURS, description="How far back to read")]


async def require_known_asset(conn: AsyncConnection, asset_id: int | None) -> None:
    """Raise the 404 of an asset EMS does not list and that has no metrics or scores (`None`:
    no asset asked for, nothing to check)."""
    if asset_id is not None and not await queries.asset_known(conn, asset_id):
        raise HTTPException(404, f"asset {asset_id} is unknown: no metrics or scores")


def unprocessable(field: str, message: str) -> HTTPException:
    """A 422 shaped like FastAPI's own validation errors, naming the field and why."""
    return HTTPException(
        422, detail=[{"loc": ["body", field], "msg": message, "type": "value_error"}]
    )


#: what the fields that recur across the API's bodies mean, wherever they stand (camelCase, as on
#: the wire); a field of its own kind says so in its `Field(description=...)`, which wins
COMMON_FIELDS = {
    "assetId": "EMS asset id",
    "hours": "the window read, in hours back from now",
    "metric": "metric name, as the producer sent it",
    "timestamp": "when the value was measured (UTC)",
    "value": "the metric's value",
    "score": "combined anomaly score in [0, 1]",
    "detectorScores": "each detector's score in [0, 1], by detector name",
    "driver": "what set the score: <detector>:<feature>",
    "modelVersion": "the streaming ensemble's or the trained model's version that scored it",
    "expected": "what the point was expected to be (null while the series is too young)",
    "lower": "lowest value that would have scored under the threshold",
    "upper": "highest value that would have scored under the threshold",
    "direction": "above or below the expected value",
    "modelType": "kind of model; the service trains anomaly_detection models",
    "version": "model version",
    "metricNames": "these metrics only (all when absent)",
    "series": "series trained on",
    "samples": "points trained on",
    "path": "where the trainer saved the model's snapshot",
    "isActive": "the model workers warm-start series from",
    "trainedAt": "when training finished (UTC)",
    "parameters": "the training's settings",
    "quality": "anomaly rate, score quantiles and the threshold at ANOMALY_CONTAMINATION",
    "id": "identifier",
    "total": "rows matching, over all pages",
    "limit": "page size asked for",
    "offset": "rows skipped before this page",
    "items": "this page's rows, newest first",
    "mean": "mean over the window",
    "min": "smallest value in the window",
    "max": "largest value in the window",
    "p95": "95th percentile",
    "p99": "99th percentile",
}


def _describe_common_fields(schema: dict, model: type) -> None:
    for name, prop in schema.get("properties", {}).items():
        if "description" not in prop and name in COMMON_FIELDS:
            prop["description"] = COMMON_FIELDS[name]


class ApiModel(BaseModel):
    """Every request and answer body of the API: camelCase on the wire (`assetId`, `isAnomaly`),
    the casing of the seed's requests and of its TypeScript front end; snake_case in Python, and
    accepted in requests too. Keys of free-form maps (detector names, the seed's
    `anomaly_detection` model type, stored parameters) are data and keep their own spelling.
    Fields that recur are described once (`COMMON_FIELDS`)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, json_schema_extra=_describe_common_fields
    )


class ErrorBody(BaseModel):
    detail: str = Field(description="why the request was refused", examples=["asset 9 is unknown"])


UNKNOWN_ASSET = {404: {"model": ErrorBody, "description": "The asset has no metrics or scores"}}
PROTECTED = {
    401: {"model": ErrorBody, "description": "API_KEY is set and X-API-Key is missing or wrong"},
    413: {"model": ErrorBody, "description": "The request body is over MAX_BODY_BYTES"},
    429: {
        "model": ErrorBody,
        "description": "RATE_LIMIT (or AUTH_FAILURE_LIMIT) exceeded for this client address",
    },
    503: {"model": ErrorBody, "description": "The database is unavailable; retry after a while"},
}
