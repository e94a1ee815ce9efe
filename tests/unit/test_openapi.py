"""The OpenAPI schema explains itself: every field of every body has a description, every
operation says what it does, and every body is camelCase, the casing of the seed's clients."""

import re

from api.main import create_app
from stream.config import Settings

FASTAPIS_OWN = {"HTTPValidationError", "ValidationError"}


def schema() -> dict:
    return create_app(Settings(_env_file=None)).openapi()


def test_every_field_has_a_description():
    missing = [
        f"{name}.{field}"
        for name, component in schema()["components"]["schemas"].items()
        if name not in FASTAPIS_OWN
        for field, spec in component.get("properties", {}).items()
        if not spec.get("description")
    ]
    assert missing == []


def test_every_operation_says_what_it_does():
    for path, operations in schema()["paths"].items():
        for method, operation in operations.items():
            assert operation.get("description") or operation.get("summary"), (method, path)


def test_every_body_field_is_camel_case():
    snake = [
        f"{name}.{field}"
        for name, component in schema()["components"]["schemas"].items()
        if name not in FASTAPIS_OWN
        for field in component.get("properties", {})
        if re.search(r"_", field)
    ]
    assert snake == []
