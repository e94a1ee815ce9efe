import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from stream.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_env_example_lists_every_setting_with_its_default():
    text = (ROOT / ".env.example").read_text()
    listed = dict(re.findall(r"^([A-Z_]+)=(.*)$", text, flags=re.MULTILINE))
    defaults = Settings(_env_file=None)
    for name in Settings.model_fields:
        assert name.upper() in listed, f"{name.upper()} missing from .env.example"
        value = getattr(defaults, name)
        value = value.get_secret_value() if hasattr(value, "get_secret_value") else value
        expected = str(value).lower() if isinstance(value, bool) else str(value)
        expected = "" if value is None else expected
        assert listed[name.upper()] == expected, name


def test_environment_overrides_defaults(monkeypatch):
    monkeypatch.setenv("ANOMALY_THRESHOLD", "0.8")
    monkeypatch.setenv("METRICS_TOPIC", "other.metrics")
    settings = Settings(_env_file=None)
    assert settings.anomaly_threshold == 0.8
    assert settings.dlq_topic == "other.metrics.dlq"


def test_invalid_settings_are_refused_at_start_up(monkeypatch):
    monkeypatch.setenv("ANOMALY_THRESHOLD", "1.5")
    with pytest.raises(ValidationError, match="anomaly_threshold"):
        Settings(_env_file=None)


def test_bad_metric_rules_are_refused_at_start_up_saying_what_is_wrong():
    with pytest.raises(ValidationError, match="METRIC_RULES"):
        Settings(_env_file=None, metric_rules='[{"pattern": "cpu_*", "direction": "sideways"}]')
    with pytest.raises(ValidationError, match="METRIC_RULES"):
        Settings(_env_file=None, metric_rules="cpu_*: up")
