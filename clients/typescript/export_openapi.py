"""Writes the API's OpenAPI schema to clients/typescript/openapi.json, the input of the generated
types (`npm run generate`). Run from the repository:

    .venv/bin/python clients/typescript/export_openapi.py
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from api.main import create_app  # noqa: E402
from stream.config import Settings  # noqa: E402


def schema() -> dict:
    """The schema the API serves at /openapi.json (settings do not change it)."""
    return create_app(Settings(_env_file=None)).openapi()


if __name__ == "__main__":
    (HERE / "openapi.json").write_text(json.dumps(schema(), indent=2, sort_keys=True) + "\n")
