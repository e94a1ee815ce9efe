"""The priority of an incident: which one a person should look at first.

A score from 0 to 100, each part capped, and the label EMS shows (`P1` from 70, `P2` from 50,
`P3` from 30, `P4` below):

| part | points |
|---|---|
| severity | critical 40, warning 25, info 10 |
| duration | 1 a 3 minutes, at most 20 (an hour) |
| breadth across metrics | 10 a metric beyond the first, at most 20 |
| breadth across assets | 5 an other asset whose anomaly incident began near its start, at most 15 |
| asset criticality (EMS's `assets.criticality`, where it has it) | high / critical 15, medium 8 |
| recurrence | 3 an earlier incident of the asset in the last 7 days, at most 15 |

The weights are judgement, not fitted, as the severity rules are.

>>> p = priority_of(severity="critical", minutes=30, metrics=2, other_assets=1, criticality="high",
...                 recurrences=0)
>>> p.score, p.label
(80, 'P1')
>>> priority_of(severity="info", minutes=0, metrics=1, other_assets=0).label
'P4'
"""

from __future__ import annotations

from dataclasses import dataclass

SEVERITY_POINTS = {"critical": 40, "warning": 25, "info": 10}
CRITICALITY_POINTS = {"critical": 15, "high": 15, "medium": 8}
LABELS = ((70, "P1"), (50, "P2"), (30, "P3"), (0, "P4"))
#: how far back earlier incidents count as recurrences
RECURRENCE_DAYS = 7


@dataclass(frozen=True, slots=True)
class Priority:
    score: int
    label: str
    #: the points of each part, for the event's details
    parts: dict[str, float]


def priority_of(
    *,
    severity: str,
    minutes: float,
    metrics: int,
    other_assets: int,
    criticality: str | None = None,
    recurrences: int = 0,
) -> Priority:
    """The priority of an incident from what it is and what surrounds it."""
    parts = {
        "severity": float(SEVERITY_POINTS.get(severity, SEVERITY_POINTS["info"])),
        "duration": min(20.0, max(0.0, minutes) / 3),
        "metrics": min(20.0, 10.0 * max(0, metrics - 1)),
        "assets": min(15.0, 5.0 * other_assets),
        "criticality": float(CRITICALITY_POINTS.get((criticality or "").lower(), 0)),
        "recurrence": min(15.0, 3.0 * recurrences),
    }
    score = round(min(100.0, sum(parts.values())))
    label = next(name for floor, name in LABELS if score >= floor)
    return Priority(score=score, label=label, parts=parts)
