"""Limits and error answers the API documents in its OpenAPI schema, beside each success."""

from __future__ import annotations

from fastapi import HTTPException
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

# No request reads more than this much history or returns more rows than this: they are in the
# schema (parameter bounds), so clients see them before they call.
MAX_HOURS = 720
MAX_SECONDS = MAX_HOURS * 3600
MAX_PAGE_SIZE = 1000


def unprocessable(field: str, message: str) -> HTTPException:
    """A 422 shaped like FastAPI's own validation errors, naming the field and why."""
    return HTTPException(
        422, detail=[{"loc": ["body", field], "msg": message, "type": "value_error"}]
    )


class ApiModel(BaseModel):
    """Every request and answer body of the API: camelCase on the wire (`assetId`, `isAnomaly`),
    the casing of the seed's requests and of its TypeScript front end; snake_case in Python, and
    accepted in requests too. Keys of free-form maps (detector names, the seed's
    `anomaly_detection` model type, stored parameters) are data and keep their own spelling."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class ErrorBody(BaseModel):
    detail: str


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
