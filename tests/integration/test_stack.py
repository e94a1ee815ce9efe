"""`ems-ml stack`: idempotent, and says where things are."""

import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def ems_ml(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ems_ml.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_stack_up_twice_reuses_the_running_services(base_settings):
    result = ems_ml("stack", "up")
    assert result.returncode == 0, result.stderr
    assert "kafka: already running on 127.0.0.1:9092" in result.stdout
    assert "postgres: already running on 127.0.0.1:5432" in result.stdout
    assert "logs: " in result.stdout


def test_stack_status_reports_each_service_and_its_log(base_settings):
    result = ems_ml("stack", "status")
    assert result.returncode == 0, result.stderr
    for service in ("kafka", "postgres", "ems-core"):
        assert f"{service}: answering" in result.stdout
    assert "kafka.log" in result.stdout
