"""The committed TypeScript client (clients/typescript) matches the API: the schema it was
generated from is the one the API serves, the generated types are what the generator makes of
it today, and the hand-written `mlApi` type-checks against them."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "typescript"
sys.path.insert(0, str(CLIENT))

from export_openapi import schema  # noqa: E402

REGENERATE = (
    "clients/typescript: .venv/bin/python clients/typescript/export_openapi.py && "
    "(cd clients/typescript && npm run generate)"
)


@pytest.fixture(scope="module")
def tools() -> Path:
    """clients/typescript/node_modules/.bin, installed from the lock file when missing."""
    assert shutil.which("npm"), "npm is not installed (Node.js 18+ is needed for these tests)"
    bin_dir = CLIENT / "node_modules" / ".bin"
    if not (bin_dir / "openapi-typescript").exists() or not (bin_dir / "tsc").exists():
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=CLIENT, capture_output=True, text=True,
            timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    return bin_dir


def test_the_committed_schema_is_the_one_the_api_serves():
    committed = json.loads((CLIENT / "openapi.json").read_text())
    assert committed == json.loads(json.dumps(schema())), f"out of date; regenerate {REGENERATE}"


def test_the_generated_types_are_up_to_date(tools, tmp_path):
    out = tmp_path / "schema.ts"
    done = subprocess.run(
        [str(tools / "openapi-typescript"), "openapi.json", "-o", str(out),
         "--default-non-nullable", "false"],
        cwd=CLIENT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert out.read_text() == (CLIENT / "src" / "schema.ts").read_text(), (
        f"out of date; regenerate {REGENERATE}"
    )


def test_the_client_type_checks_against_the_generated_types(tools):
    done = subprocess.run(
        [str(tools / "tsc"), "--noEmit", "-p", "."], cwd=CLIENT, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_endpoint_has_a_client_function():
    source = (CLIENT / "src" / "index.ts").read_text()
    paths = {p.removeprefix("/api/v1") for p in schema()["paths"]}
    for path in paths:
        stem = path.split("{")[0].rstrip("/")
        assert f'"{stem}' in source or f"`{stem}" in source, f"no mlApi call for {path}"
    for seed_name in ("health", "detectAnomalies", "trainModel", "getMetrics",
                      "getAnomalyScores", "listModels"):  # fmt: skip
        assert f"{seed_name}:" in source, seed_name
