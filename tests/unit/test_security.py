"""The security patterns on points whose answer is known."""

from datetime import UTC, datetime, timedelta

import pytest

from benchmarks.security import business_hours
from stream.config import Settings
from stream.ensemble import build_scorer
from stream.events import MetricPoint
from stream.features import SeriesState
from stream.pipeline import ScoredPoint, apply_point
from stream.scoring import PointScore
from stream.security import SecurityWatch, parse_security_metrics

T0 = datetime(2026, 8, 3, tzinfo=UTC)


def _no_season(key: str) -> None:
    return None


def watch() -> SecurityWatch:
    return SecurityWatch(parse_security_metrics(Settings(_env_file=None).security_metrics))


def scored(asset, metric, *, score, surging=False, minute=0, value=1.0):
    verdict = PointScore(
        score=score,
        is_anomaly=surging,
        detector_scores={},
        features=None,
        model_version="t",
        driver="zscore:value",
        expected=0.5,
        direction="above" if surging else "below",
    )
    point = MetricPoint(
        asset_id=asset, metric=metric, value=value, timestamp=T0 + timedelta(minutes=minute)
    )
    return ScoredPoint(point, verdict)


def test_a_connection_surge_with_flat_bandwidth_is_a_scan_and_with_busy_bandwidth_is_not():
    flat = [
        scored(1, "connections", score=0.9, surging=True, value=1500),
        scored(1, "bandwidth_in_mbps", score=0.1),
        scored(1, "bandwidth_out_mbps", score=0.2),
    ]
    (ref,) = watch().assess(flat, _no_season)
    assert (ref.pattern, ref.asset_id, ref.metric) == ("scan", 1, "connections")
    assert ref.evidence["connections"] == 1500
    busy = [*flat[:2], scored(1, "bandwidth_out_mbps", score=0.85)]
    assert watch().assess(busy, _no_season) == []
    # bandwidth whose anomaly goes on, its score halved as a repeat, is not flat either
    damped = scored(1, "bandwidth_out_mbps", score=0.45)
    damped = type(damped)(damped.point, damped.verdict._replace(ongoing=True))
    assert watch().assess([*flat[:2], damped], _no_season) == []
    alone = flat[:1]  # no bandwidth seen at that moment: nothing says it was flat
    assert watch().assess(alone, _no_season) == []


def test_ingress_surging_on_many_assets_at_once_is_a_ddos_for_each_of_them():
    w = watch()
    quiet = [scored(a, "bandwidth_in_mbps", score=0.1) for a in range(1, 9)]
    assert w.assess(quiet, _no_season) == []  # the worker learns its fleet: 8 assets
    surge = [scored(a, "bandwidth_in_mbps", score=0.95, surging=True, minute=1) for a in (1, 2, 3)]
    found = w.assess(surge, _no_season)
    assert sorted(r.asset_id for r in found) == [1, 2, 3] and {r.pattern for r in found} == {"ddos"}
    assert found[0].evidence == {"assets_surging": 3, "assets_seen": 8}


@pytest.mark.parametrize("fleet", [2, 20])
def test_a_surge_on_too_few_assets_or_too_small_a_share_is_no_ddos(fleet):
    w = watch()
    w.assess([scored(a, "bandwidth_in_mbps", score=0.1) for a in range(1, fleet + 1)], _no_season)
    surging = [scored(a, "bandwidth_in_mbps", score=0.95, surging=True) for a in range(1, 4)][
        : min(fleet, 3)
    ]
    assert [r for r in w.assess(surging, _no_season) if r.pattern == "ddos"] == []


def egress_series(days: int, night_boost: float = 0.0, at_hour: int = 3):
    """Three days of business-hours egress through the worker's scorer; on the last night, from
    `at_hour`, `night_boost` added for an hour. Yields each scored point with the state right
    after it, as a batch hands them over."""
    scorer, state = build_scorer(Settings(_env_file=None)), SeriesState()
    for i in range(days * 1440):
        ts = T0 + timedelta(minutes=i)
        value = 60 + 40 * business_hours(i % 1440) + ((i * 7919) % 13 - 6) / 2
        if i >= (days - 1) * 1440 + at_hour * 60 and i < (days - 1) * 1440 + at_hour * 60 + 60:
            value += night_boost
        point = MetricPoint(asset_id=5, metric="bandwidth_out_mbps", value=value, timestamp=ts)
        yield ScoredPoint(point, apply_point(state, point, scorer)), state


def test_sustained_egress_far_over_its_baseline_at_a_quiet_hour_is_an_exfiltration():
    w = watch()
    found = []
    for s, state in egress_series(4, night_boost=40.0):
        found += w.assess([s], {s.point.series_key: state.season}.get)
    assert found, "an hour of egress 40 over a night's 60 was not seen"
    assert {r.pattern for r in found} == {"exfiltration"}
    first = min(r.ts for r in found)
    assert T0 + timedelta(days=3, hours=3) <= first <= T0 + timedelta(days=3, hours=3, minutes=20)
    assert found[0].evidence["quiet_hour"] == 3


def test_the_same_egress_in_business_hours_is_no_exfiltration():
    w = watch()
    found = []
    for s, state in egress_series(4, night_boost=40.0, at_hour=13):
        found += w.assess([s], {s.point.series_key: state.season}.get)
    assert [r for r in found if r.pattern == "exfiltration"] == []


def test_security_metrics_are_configured_by_role_and_nonsense_is_refused():
    roles = parse_security_metrics('{"connections": ["tcp_sessions"], "egress": ["tx_*"]}')
    assert roles.role("tcp_sessions") == "connections" and roles.role("tx_bytes") == "egress"
    assert roles.role("cpu_usage") is None
    for bad in ("[", '{"ingres": ["x"]}', '{"egress": "tx_*x"}'):
        with pytest.raises(ValueError, match="SECURITY_METRICS"):
            parse_security_metrics(bad)
