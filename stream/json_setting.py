"""Settings given as JSON (`METRIC_RULES`, `CAPACITY_RULES`, `SECURITY_METRICS`): read the same way.

>>> from pydantic import TypeAdapter
>>> parse_json_setting("LIMITS", "[1, 2]", TypeAdapter(list[int]), "a list of numbers")
[1, 2]
>>> parse_json_setting("LIMITS", "[1, x]", TypeAdapter(list[int]), "a list of numbers")
Traceback (most recent call last):
...
ValueError: LIMITS must be a list of numbers in JSON: Expecting value: line 1 column 5 (char 4)
"""

from __future__ import annotations

import json

from pydantic import TypeAdapter, ValidationError


def parse_json_setting(name: str, text: str, adapter: TypeAdapter, what: str):
    """`text`, the value of the setting `name`, parsed as JSON and validated by `adapter`.
    Raises ValueError naming the setting, what it must be (`what`) and what is wrong."""
    try:
        return adapter.validate_python(json.loads(text))
    except (json.JSONDecodeError, ValidationError) as e:
        raise ValueError(f"{name} must be {what} in JSON: {e}") from e
