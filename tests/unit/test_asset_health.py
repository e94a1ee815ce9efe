"""Asset health scores on inputs whose answer is known."""

import pytest

from api.asset_health import HealthInputs, health


def test_an_asset_with_nothing_against_it_is_100_and_good():
    verdict = health(HealthInputs(points=5000, anomalies=0))
    assert (verdict.score, verdict.status, verdict.reasons) == (100, "good", [])


def test_an_open_critical_incident_and_a_critical_prediction_make_an_asset_critical():
    verdict = health(
        HealthInputs(
            points=1000,
            anomalies=0,
            open_severity="critical",
            open_metric="cpu_usage",
            prediction_severity="critical",
            prediction_metric="disk_usage",
            prediction_hours=12.0,
        )
    )
    assert verdict.score == 30 and verdict.status == "critical"
    assert [r.cause for r in verdict.reasons] == ["open_incident", "predicted_crossing"]
    assert "cpu_usage" in verdict.reasons[0].text
    assert "disk_usage" in verdict.reasons[1].text and "in 12.0 hours" in verdict.reasons[1].text


@pytest.mark.parametrize(
    ("inputs", "points_off"),
    [
        (HealthInputs(points=100, anomalies=50), 20.0),  # rate capped at 20
        (HealthInputs(points=1000, anomalies=25), 10.0),  # 2.5% of a full 5%
        (HealthInputs(points=1, anomalies=0, resolved_severities=("critical",) * 9), 20.0),
        (HealthInputs(points=1, anomalies=0, resolved_severities=("warning", "info")), 7.0),
        (HealthInputs(points=1, anomalies=0, incident_share=0.25), 7.5),
        (HealthInputs(points=1, anomalies=0, incident_share=1.0), 15.0),
    ],
)
def test_each_cause_takes_its_share_and_no_more_than_its_cap(inputs, points_off):
    verdict = health(inputs)
    assert sum(r.points for r in verdict.reasons) == pytest.approx(points_off)
    assert verdict.score == round(100 - points_off)


def test_the_reasons_add_up_to_what_the_score_lost_largest_first():
    verdict = health(
        HealthInputs(
            points=2000,
            anomalies=30,
            open_severity="warning",
            resolved_severities=("info", "critical"),
            incident_share=0.1,
        )
    )
    assert 100 - verdict.score == pytest.approx(sum(r.points for r in verdict.reasons), abs=0.5)
    assert [r.points for r in verdict.reasons] == sorted(
        (r.points for r in verdict.reasons), reverse=True
    )
    assert verdict.status == "poor"  # 100 - 25 - 12 - 6 - 3


def test_an_open_security_incident_is_a_reason_of_its_own():
    verdict = health(HealthInputs(points=100, anomalies=0, security_patterns=("scan",)))
    assert verdict.score == 65 and verdict.reasons[0].cause == "security_incident"
    assert "possible scan" in verdict.reasons[0].text
