"""Property-based requests from the OpenAPI schema (schemathesis): never a server error.

Every operation gets generated requests, valid and invalid; each answer must not be a 5xx, must
match the documented response schema, and must keep the documented status codes.
"""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from pydantic import SecretStr
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.main import create_app

pytestmark = pytest.mark.integration

API_KEY = "fuzz-key"


@pytest.fixture
def api_schema(seeded, tmp_path):
    # no rate limit: the fuzzer sends hundreds of requests; models land in the test's folder;
    # a key, so the fuzzer's checks that bad credentials are refused have something to refuse
    app_settings = seeded.model_copy(
        update={"rate_limit": "", "models_dir": str(tmp_path), "api_key": SecretStr(API_KEY)}
    )
    app = create_app(app_settings)
    with TestClient(app):  # runs the lifespan: pool and HTTP client open
        yield schemathesis.openapi.from_asgi("/openapi.json", app)


def test_no_request_makes_the_api_fail(api_schema):
    # (schemathesis's own pytest plugin does not run under pytest 9; its strategies do)
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 6
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=80,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            response = case.call(headers={"X-API-Key": API_KEY})
            where = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500, f"{where}: {response.status_code} {response.text}"
            # a valid request may still be refused for the data it asks about (too little history
            # to train on, by design a 422); every other check applies
            case.validate_response(response, excluded_checks=[positive_data_acceptance])

        check()
