"""An asset's health, 0-100, from what the service knows of it, with the reasons listed.

100 is an asset with nothing to say against it over the window. Each of these takes points
away, each capped, so one cause cannot hide the others and the reasons add up to the score:

| cause | points off |
|---|---|
| an anomaly incident open now | critical 40, warning 25, info 10 |
| a security incident open now (`stream.security`: scan, exfiltration, ddos) | 35 |
| a capacity crossing predicted (`stream.predictions`) | critical 30, warning 20, info 10 |
| anomaly incidents resolved in the window | critical 10, warning 5, info 2 each; at most 20 |
| anomalous points | 20 x (anomaly rate / 5%), at most 20 |
| time spent in anomaly incidents | 15 x (share of the window / 50%), at most 15 |

Status: `good` from 85, `fair` from 60, `poor` from 35, `critical` below. The weights are
judgement, not fitted: an open critical incident alone makes an asset `fair` at best, an open
critical incident with a predicted crossing `poor`.

>>> health(HealthInputs(points=1000, anomalies=0)).score
100
>>> h = health(HealthInputs(points=1000, anomalies=10, open_severity="critical"))
>>> h.score, h.status, [r.cause for r in h.reasons]
(56, 'poor', ['open_incident', 'anomaly_rate'])
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stream.predictions import in_words

OPEN_INCIDENT = {"critical": 40.0, "warning": 25.0, "info": 10.0}
PREDICTION = {"critical": 30.0, "warning": 20.0, "info": 10.0}
SECURITY_POINTS = 35.0
PAST_INCIDENT = {"critical": 10.0, "warning": 5.0, "info": 2.0}
PAST_INCIDENTS_CAP = 20.0
RATE_POINTS, RATE_FULL = 20.0, 0.05
TIME_POINTS, TIME_FULL = 15.0, 0.5
STATUSES = ((85, "good"), (60, "fair"), (35, "poor"), (0, "critical"))


@dataclass(frozen=True)
class HealthInputs:
    """What the window holds for one asset."""

    points: int
    anomalies: int
    #: severity of the anomaly incident open now (None: none open)
    open_severity: str | None = None
    #: severities of the anomaly incidents resolved in the window
    resolved_severities: tuple[str, ...] = ()
    #: share of the window the asset spent in anomaly incidents (0-1)
    incident_share: float = 0.0
    #: severity of the open prediction and its soonest metric and hours (None: none open)
    prediction_severity: str | None = None
    prediction_metric: str | None = None
    prediction_hours: float | None = None
    #: the metric of the open anomaly incident's peak
    open_metric: str | None = None
    #: the patterns of the security incidents open now
    security_patterns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reason:
    cause: str
    points: float
    text: str


@dataclass(frozen=True)
class Health:
    score: int
    status: str
    reasons: list[Reason] = field(default_factory=list)


def status_of(score: float) -> str:
    return next(name for floor, name in STATUSES if score >= floor)


def health(x: HealthInputs) -> Health:
    """The health of one asset; its reasons, largest first."""
    reasons: list[Reason] = []
    if x.open_severity is not None:
        reasons.append(
            Reason(
                "open_incident",
                OPEN_INCIDENT.get(x.open_severity, OPEN_INCIDENT["info"]),
                f"a {x.open_severity} anomaly incident is open"
                + (f" (peak on {x.open_metric})" if x.open_metric else ""),
            )
        )
    if x.security_patterns:
        reasons.append(
            Reason(
                "security_incident",
                SECURITY_POINTS,
                f"a possible {' and '.join(sorted(x.security_patterns))} is open",
            )
        )
    if x.prediction_severity is not None:
        when = " " + in_words(x.prediction_hours) if x.prediction_hours is not None else ""
        reasons.append(
            Reason(
                "predicted_crossing",
                PREDICTION.get(x.prediction_severity, PREDICTION["info"]),
                f"{x.prediction_metric or 'a metric'} is predicted to reach its limit{when}",
            )
        )
    if x.resolved_severities:
        points = min(
            PAST_INCIDENTS_CAP,
            sum(PAST_INCIDENT.get(s, PAST_INCIDENT["info"]) for s in x.resolved_severities),
        )
        reasons.append(
            Reason(
                "past_incidents",
                points,
                f"{len(x.resolved_severities)} anomaly incident(s) resolved in the window",
            )
        )
    rate = x.anomalies / x.points if x.points else 0.0
    if rate > 0:
        reasons.append(
            Reason(
                "anomaly_rate",
                RATE_POINTS * min(1.0, rate / RATE_FULL),
                f"{x.anomalies} of {x.points} points anomalous ({rate:.2%})",
            )
        )
    if x.incident_share > 0:
        reasons.append(
            Reason(
                "time_in_incident",
                TIME_POINTS * min(1.0, x.incident_share / TIME_FULL),
                f"{x.incident_share:.0%} of the window in an anomaly incident",
            )
        )
    reasons.sort(key=lambda r: -r.points)
    score = max(0, round(100 - sum(r.points for r in reasons)))
    return Health(score=score, status=status_of(score), reasons=reasons)
