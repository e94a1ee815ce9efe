"""Per-metric alerting rules operators set by metric name pattern (`METRIC_RULES`).

Some deviations are never news for a metric: free memory rising, latency falling, CPU moving by
half a percentage point. A rule names metrics by a shell-style pattern (`fnmatch`: `cpu_*`,
`*latency*`) and says

- `direction`: `both` (default), `up` (only values above the expected value alarm) or `down`;
- `min_deviation`: the smallest distance from the expected value, in the metric's own unit, that
  may alarm (default 0).

The first rule whose pattern matches a metric applies; a metric no rule matches alarms both ways
at any distance. A rule changes only whether a point is an anomaly: it is scored, stored and
explained the same, and learnt from the same. A stuck value (`flatline`) is no deviation from the
expected value, so the rules do not apply to it.

`METRIC_RULES` is JSON, e.g. `[{"pattern": "cpu_*", "direction": "up", "min_deviation": 5},
{"pattern": "free_*", "direction": "down"}]`.

>>> rules = parse_rules('[{"pattern": "cpu_*", "direction": "up", "min_deviation": 5}]')
>>> rules.for_metric("cpu_usage").allows(expected=40.0, value=47.0)
True
>>> rules.for_metric("cpu_usage").allows(expected=40.0, value=43.0)
False
>>> rules.for_metric("cpu_usage").allows(expected=40.0, value=20.0)
False
>>> rules.for_metric("latency_ms") is None
True
"""

from __future__ import annotations

import fnmatch
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from stream.json_setting import parse_json_setting


class MetricRule(BaseModel):
    """What may alarm for the metrics matching `pattern`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pattern: str = Field(min_length=1, description="fnmatch pattern of metric names")
    direction: Literal["both", "up", "down"] = "both"
    min_deviation: float = Field(0.0, ge=0.0, allow_inf_nan=False)

    def allows(self, *, expected: float, value: float) -> bool:
        """Whether a deviation from `expected` to `value` may alarm under this rule."""
        deviation = value - expected
        if self.direction == "up" and deviation < 0 or self.direction == "down" and deviation > 0:
            return False
        return abs(deviation) >= self.min_deviation


class MetricRules:
    """The configured rules, looked up by metric name (each name's answer is remembered)."""

    def __init__(self, rules: list[MetricRule]) -> None:
        self.rules = list(rules)
        self._by_metric: dict[str, MetricRule | None] = {}

    def for_metric(self, metric: str) -> MetricRule | None:
        if metric not in self._by_metric:
            self._by_metric[metric] = next(
                (r for r in self.rules if fnmatch.fnmatchcase(metric, r.pattern)), None
            )
        return self._by_metric[metric]


_RULE_LIST = TypeAdapter(list[MetricRule])


def parse_rules(text: str) -> MetricRules:
    """Rules from `METRIC_RULES` (JSON list; empty: none). Raises ValueError saying what is
    wrong."""
    if not text.strip():
        return MetricRules([])
    return MetricRules(parse_json_setting("METRIC_RULES", text, _RULE_LIST, "a list of rules"))
