"""Incidents delivered to EMS Core (the stand-in, over HTTP) exactly once, whatever happens."""

from __future__ import annotations

import asyncio
import json
import random
import time
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from tests.integration.conftest import consume_all, produce, wait_for_count, wait_until

pytestmark = pytest.mark.integration

T0 = datetime(2026, 4, 1, tzinfo=UTC)


@pytest.fixture
def standin(base_settings):
    """The stand-in's control switches, reset after the test."""
    url = base_settings.ems_core_url.rstrip("/")

    def control(**switches):
        return httpx.post(f"{url}/_control", json=switches, timeout=5).json()

    def events(asset_id):
        return httpx.get(f"{url}/api/v1/events", params={"asset_id": asset_id}, timeout=5).json()

    control(fail_ratio=0.0, delay_seconds=0.0, down=False)
    yield control, events
    control(fail_ratio=0.0, delay_seconds=0.0, down=False)


def asset_ids(n):
    base = random.randrange(10**6, 10**9)
    return list(range(base, base + n))


def incident_feed(assets, *, normal=120, spikes=3, gap_minutes=1, growth=1.5):
    """Per asset: a quiet cpu_usage series, then `spikes` spikes between quiet points, each
    `growth` times the last (every one rarer than the one before, so most are anomalies despite
    repeat damping), then enough quiet points for the incident to resolve. The noise is the same
    on every run (seeded by the number of assets, not by their random ids), so a rare false
    positive of the detector in the quiet lead-in cannot make a delivery test flaky."""
    rng = random.Random(len(assets))
    messages = []
    for asset in assets:
        t = T0
        values = [50 + rng.gauss(0, 1) for _ in range(normal)]
        for i in range(spikes):
            values += [100 * growth**i, 50 + rng.gauss(0, 1)]
        values += [50 + rng.gauss(0, 1) for _ in range(70)]
        for v in values:
            body = {
                "asset_id": asset,
                "metric": "cpu_usage",
                "value": v,
                "timestamp": t.isoformat(),
            }
            messages.append((str(asset).encode(), json.dumps(body).encode()))
            t += timedelta(minutes=gap_minutes)
    return messages


def outbox(settings):
    with psycopg.connect(settings.database_dsn) as conn:
        return conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE sent_at IS NULL), coalesce(max(attempts), 0) "
            "FROM ems_outbox"
        ).fetchone()


def outbox_rows(settings):
    with psycopg.connect(settings.database_dsn) as conn:
        return conn.execute(
            "SELECT id, kind, attempts, sent_at IS NOT NULL, last_error FROM ems_outbox ORDER BY id"
        ).fetchall()


def delivered_once(settings, events, asset):
    """True when EMS Core holds exactly one event per incident the worker opened for `asset`, and
    nothing else: exactly-once delivery, whatever the detector decided counts as an incident."""
    with psycopg.connect(settings.database_dsn) as conn:
        opened = sorted(
            str(row[0])
            for row in conn.execute(
                "SELECT ems_event_id FROM incidents WHERE asset_id = %s", (asset,)
            ).fetchall()
        )
    received = sorted(str(e["id"]) for e in events(asset))
    return bool(opened) and opened == received


def send(settings, messages):
    keys, values = zip(*messages, strict=True)
    asyncio.run(produce(settings, list(values), list(keys)))


@pytest.fixture
def quick(settings):
    """Incidents resolve after an anomaly-free hour of event time (the feeds' points are a minute
    apart; repeat damping can leave ~40 minutes between the anomalies of one burst)."""
    return settings.model_copy(update={"incident_quiet_seconds": 3600.0})


def start(start_worker, settings, **env):
    # the feeds' cpu_usage bursts to absurd values: no capacity prediction joins their anomaly
    # incidents here (tests/integration/test_predictions.py has those)
    worker = start_worker(
        INCIDENT_QUIET_SECONDS=str(settings.incident_quiet_seconds), CAPACITY_RULES="[]", **env
    )
    worker.wait_ready()
    return worker


def test_a_burst_of_anomalies_makes_one_incident_one_event(quick, start_worker, standin):
    _, events = standin
    (asset,) = asset_ids(1)
    # 1.06^500 x 100 is 4e14: the burst stays within the contract's values (at most 1e15)
    messages = incident_feed([asset], normal=150, spikes=500, growth=1.06)
    start(start_worker, quick)
    send(quick, messages)
    assert wait_for_count(quick, len(messages)) == len(messages)
    burst_start = T0 + timedelta(minutes=150)
    with psycopg.connect(quick.database_dsn) as conn:
        anomalies, in_burst = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE ts >= %s) FROM anomaly_scores "
            "WHERE asset_id = %s AND is_anomaly",
            (burst_start, asset),
        ).fetchone()
    # the ensemble flags the burst's onset and each clear escalation, however many of the 500
    # that is: the incident is what counts here
    assert in_burst >= 1
    assert wait_until(lambda: outbox(quick)[1] == 0 and outbox(quick)[0] >= 2, timeout=30), (
        outbox_rows(quick)
    )
    # the burst is one event (a stray false positive in the quiet lead-in may be another)
    burst = [e for e in events(asset) if e["started_at"] >= burst_start.isoformat()]
    assert len(burst) == 1 and len(events(asset)) <= 3
    (event,) = burst
    assert event["status"] == "resolved" and event["source"] == "ml-service"
    assert event["details"]["anomalies"] == in_burst
    assert event["severity"] == "critical"
    # the root-cause hint: the asset's one metric moved first, at the incident's start
    assert event["details"]["hints"][0]["metric"] == "cpu_usage"
    assert "Moved first: cpu_usage moved at the incident's start" in event["description"]
    # the topic carries the points and the incident's open ... resolve
    kinds = [
        json.loads(r.value).get("type")
        for r in asyncio.run(consume_all(quick, quick.anomalies_topic))
    ]
    assert kinds.count("anomaly") == anomalies
    assert kinds.count("incident.open") == kinds.count("incident.resolve") == len(events(asset))


def test_an_ems_core_outage_delays_but_loses_and_duplicates_nothing(quick, start_worker, standin):
    control, events = standin
    assets = asset_ids(3)
    control(down=True)
    start(start_worker, quick)
    send(quick, incident_feed(assets))
    assert wait_until(lambda: outbox(quick)[2] >= 2, timeout=60), "deliveries must be retried"
    time.sleep(3)  # a stretch more of outage while retries continue
    total, pending, _ = outbox(quick)
    assert total == pending > 0, "nothing can be delivered while EMS Core is down"
    control(down=False)
    assert wait_until(lambda: outbox(quick)[1] == 0, timeout=60)
    assert all(delivered_once(quick, events, a) for a in assets)
    assert all(e["status"] == "resolved" for a in assets for e in events(a))


def final_states(settings, assets):
    """incident's EMS event id -> what EMS Core must finally show: (status, severity, anomalies)."""
    with psycopg.connect(settings.database_dsn) as conn:
        rows = conn.execute(
            "SELECT ems_event_id, status, severity, anomalies FROM incidents "
            "WHERE asset_id = ANY(%s)",
            (list(assets),),
        ).fetchall()
    return {str(e): (status, severity, n) for e, status, severity, n in rows}


def joining_feed(assets, minutes=260):
    """Per asset: quiet cpu_usage, latency_ms and memory_usage, then a spike in each, ten minutes
    apart (an incident opens, and two metrics join it: two updates, where the spikes fall in
    different batches), then quiet until it resolves. The same noise on every run."""
    rng = random.Random(len(assets))
    spikes = {"cpu_usage": (150, 900.0), "latency_ms": (160, 400.0), "memory_usage": (170, 99.0)}
    normal = {"cpu_usage": (50, 1.0), "latency_ms": (20, 0.5), "memory_usage": (40, 0.5)}
    messages = []
    for asset in assets:
        for i in range(minutes):
            t = (T0 + timedelta(minutes=i)).isoformat()
            for metric, (at, spike) in spikes.items():
                mean, sd = normal[metric]
                value = spike if i == at else mean + rng.gauss(0, sd)
                body = {"asset_id": asset, "metric": metric, "value": value, "timestamp": t}
                messages.append((str(asset).encode(), json.dumps(body).encode()))
    return messages


def test_failing_and_slow_answers_still_deliver_each_incident_once_and_in_order(
    quick, start_worker, standin
):
    control, events = standin
    assets = asset_ids(5)
    control(fail_ratio=0.5, fail_status=500, delay_seconds=0.3)
    # polled more often than a failed row's first backoff (0.5-1.5 s): the rows behind it in
    # its incident are due before it is
    start(start_worker, quick, OUTBOX_POLL_SECONDS="0.2", BATCH_SIZE="20")
    send(quick, joining_feed(assets))
    assert wait_until(lambda: outbox(quick)[0] > 0 and outbox(quick)[1] == 0, timeout=120)
    assert all(delivered_once(quick, events, a) for a in assets)
    # every change reached EMS Core in its incident's order: a resolve overtaken by an earlier
    # update (retried later) would leave the event open, or with an older count
    shown = {
        str(e["id"]): (e["status"], e["severity"], e["details"]["anomalies"])
        for a in assets
        for e in events(a)
    }
    assert shown == final_states(quick, assets)
    assert outbox(quick)[2] >= 2, "some deliveries must have been retried"


def transactions_left_idle(settings, longer_than_seconds):
    """Sessions of the test's database idle inside a transaction for longer than that."""
    with psycopg.connect(settings.database_dsn) as conn:
        return conn.execute(
            "SELECT pid, left(query, 80) FROM pg_stat_activity WHERE datname = %s "
            "AND state = 'idle in transaction' AND now() - state_change > %s",
            (settings.database_name, timedelta(seconds=longer_than_seconds)),
        ).fetchall()


def test_a_slow_ems_core_holds_no_database_transaction_open(quick, start_worker, standin):
    """Each EMS Core call takes 3 s: were it made inside a transaction, that transaction would
    sit idle for 3 s holding incident and outbox rows the score writer needs."""
    control, events = standin
    assets = asset_ids(3)
    control(delay_seconds=3.0)
    start(start_worker, quick, EMS_CORE_TIMEOUT_SECONDS="10")
    send(quick, incident_feed(assets))
    seen = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not (outbox(quick)[0] > 0 and outbox(quick)[1] == 0):
        seen += transactions_left_idle(quick, longer_than_seconds=1.0)
        time.sleep(0.2)
    assert outbox(quick)[1] == 0 and outbox(quick)[0] > 0, "everything must be delivered"
    assert seen == []
    assert all(delivered_once(quick, events, a) for a in assets)


def test_a_worker_killed_between_send_and_mark_creates_no_duplicate(quick, start_worker, standin):
    control, events = standin
    (asset,) = asset_ids(1)
    # EMS Core stores the event at once but answers only after 20 s: the worker has sent and
    # not yet marked when it is killed
    control(delay_seconds=20.0)
    worker = start(start_worker, quick)
    send(quick, incident_feed([asset]))
    assert wait_until(lambda: len(events(asset)) == 1, timeout=60)
    worker.kill()
    assert outbox(quick)[1] >= 1, "the send must not be marked yet"
    control(delay_seconds=0.0)
    start(start_worker, quick)
    assert wait_until(lambda: outbox(quick)[1] == 0, timeout=60)
    (event,) = events(asset)
    assert event["status"] == "resolved"


def test_auto_create_alerts_off_keeps_ems_core_out_but_the_topic_informed(
    quick, start_worker, standin
):
    _, events = standin
    (asset,) = asset_ids(1)
    messages = incident_feed([asset])
    start(start_worker, quick, AUTO_CREATE_ALERTS="false")
    send(quick, messages)
    assert wait_for_count(quick, len(messages)) == len(messages)
    kinds = [
        json.loads(r.value).get("type")
        for r in asyncio.run(consume_all(quick, quick.anomalies_topic))
    ]
    assert "incident.open" in kinds
    assert outbox(quick)[0] == 0
    assert events(asset) == []


def test_anomalies_of_several_metrics_of_one_asset_make_one_incident_listing_them(
    quick, start_worker, standin
):
    _, events = standin
    (asset,) = asset_ids(1)
    rng = random.Random(2)  # the same noise on every run
    messages = []
    for i in range(200):
        t = (T0 + timedelta(minutes=i)).isoformat()
        cpu = 900.0 if i == 150 else 50 + rng.gauss(0, 1)
        latency = 400.0 if i == 152 else 20 + rng.gauss(0, 0.5)
        for metric, value in (("cpu_usage", cpu), ("latency_ms", latency)):
            body = {"asset_id": asset, "metric": metric, "value": value, "timestamp": t}
            messages.append((str(asset).encode(), json.dumps(body).encode()))
    start(start_worker, quick)
    send(quick, messages)
    assert wait_for_count(quick, len(messages)) == len(messages)
    assert wait_until(lambda: outbox(quick)[0] > 0 and outbox(quick)[1] == 0, timeout=30)
    spikes = [
        e for e in events(asset) if e["started_at"] >= (T0 + timedelta(minutes=150)).isoformat()
    ]
    assert len(spikes) == 1
    assert spikes[0]["details"]["metrics"] == ["cpu_usage", "latency_ms"]


def test_an_asset_that_falls_silent_has_its_incident_resolved_by_the_wall_clock(
    settings, start_worker, standin
):
    _, events = standin
    quiet = settings.model_copy(update={"incident_quiet_seconds": 4.0})
    (asset,) = asset_ids(1)
    # a quiet lead-in and one spike, its last point: its event time stands still from there
    messages = incident_feed([asset], normal=120, spikes=1)[:-71]
    start(start_worker, quiet)
    send(quiet, messages)
    assert wait_for_count(quiet, len(messages)) == len(messages)
    spike_at = T0 + timedelta(minutes=120)

    def spike_incident():
        return [e for e in events(asset) if e["started_at"] == spike_at.isoformat()]

    assert wait_until(lambda: spike_incident() and spike_incident()[0]["resolved_at"], timeout=30)
    (event,) = spike_incident()
    assert event["status"] == "resolved"
    # resolved as of the quiet period after its last anomaly, in the asset's own time
    assert datetime.fromisoformat(event["resolved_at"]) == spike_at + timedelta(seconds=4)
    published = [
        json.loads(r.value)
        for r in asyncio.run(consume_all(quiet, quiet.anomalies_topic))
        if json.loads(r.value).get("asset_id") == asset
    ]
    assert [p["type"] for p in published if p["type"].startswith("incident.")][-1] == (
        "incident.resolve"
    )
