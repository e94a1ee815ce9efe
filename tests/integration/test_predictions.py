"""A disk that fills is predicted to EMS Core once, escalates, and resolves when it is cleaned."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.integration.conftest import consume_all, produce, wait_for_count, wait_until
from tests.integration.test_ems_core import asset_ids, outbox, standin  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration

T0 = datetime(2026, 5, 4, tzinfo=UTC)
STEP = timedelta(minutes=5)


def filling_disk(asset: int) -> list[tuple[bytes, bytes]]:
    """disk_usage from 50% rising 8 points a day for three days (90% would be reached on day 5),
    then cleaned up to 40% and flat for a day; the same noise on every run."""
    rng = random.Random(7)
    values = [50 + 8 * i / 288 + rng.gauss(0, 0.3) for i in range(3 * 288)]
    values += [40 + rng.gauss(0, 0.3) for _ in range(288)]
    return [
        (
            str(asset).encode(),
            json.dumps(
                {
                    "asset_id": asset,
                    "metric": "disk_usage",
                    "value": v,
                    "timestamp": (T0 + i * STEP).isoformat(),
                }
            ).encode(),
        )
        for i, v in enumerate(values)
    ]


def prediction_rows(settings, asset):
    with psycopg.connect(settings.database_dsn) as conn:
        return conn.execute(
            "SELECT status, severity, metrics, ems_event_id, details FROM incidents "
            "WHERE asset_id = %s AND kind = 'prediction'",
            (asset,),
        ).fetchall()


def test_a_filling_disk_is_predicted_once_escalates_and_resolves_when_cleaned(
    settings,
    start_worker,
    standin,  # noqa: F811
):
    _, events = standin
    (asset,) = asset_ids(1)
    messages = filling_disk(asset)
    start_worker().wait_ready()
    # a series is assessed after each batch's last point of it (and once its line spans a day),
    # so the feed goes in three parts whatever the batches: 25 hours (90% then four days away:
    # info), the rest of the fill (two days away at its end: warning), the clean-up
    fill_end = 3 * 288
    for part, stored in (
        (messages[:300], 300),
        (messages[300:fill_end], fill_end),
        (messages[fill_end:], len(messages)),
    ):
        keys, values = zip(*part, strict=True)
        asyncio.run(produce(settings, list(values), list(keys)))
        assert wait_for_count(settings, stored) == stored
    assert wait_until(lambda: outbox(settings)[1] == 0, timeout=30)

    ((status, severity, metrics, event_id, _),) = prediction_rows(settings, asset)
    assert status == "resolved" and metrics == ["disk_usage"]
    # at the end of the fill, 90% was two days away: a warning (within 72 hours)
    assert severity == "warning"
    predicted = [e for e in events(asset) if e["details"].get("kind") == "prediction"]
    assert [str(e["id"]) for e in predicted] == [str(event_id)]
    (event,) = predicted
    assert event["status"] == "resolved" and event["severity"] == "warning"
    assert "disk_usage" in event["title"] and event["source"] == "ml-service"
    bodies = [
        json.loads(r.value) for r in asyncio.run(consume_all(settings, settings.anomalies_topic))
    ]
    kinds = [b.get("type") for b in bodies if str(b.get("type", "")).startswith("prediction.")]
    assert kinds[0] == "prediction.open" and kinds[-1] == "prediction.resolve"
    assert kinds.count("prediction.open") == kinds.count("prediction.resolve") == 1
    assert "prediction.update" in kinds  # info (four days away) -> warning
    ids = [b["event_id"] for b in bodies if str(b.get("type", "")).startswith("prediction.")]
    assert len(ids) == len(set(ids))
    # while the disk filled, 90% was predicted for day 5 (the stored details hold the latest
    # outlook, which the clean-up may already have moved)
    (escalated,) = [b for b in bodies if b.get("type") == "prediction.update"]
    crossing = escalated["details"]["crossings"]["disk_usage"]
    assert escalated["severity"] == "warning"
    assert abs(
        datetime.fromisoformat(crossing["crossing_at"]) - (T0 + timedelta(days=5))
    ) < timedelta(hours=12), crossing
