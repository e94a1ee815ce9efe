"""The worker end to end on the real broker and database."""

from __future__ import annotations

import asyncio
import csv
import json
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from stream.agents import EXIT_BATCH_FAILED
from stream.demo_feed import DEMO_METRICS, synthetic_points
from stream.ensemble import MODEL_VERSION, build_engine, build_scorer
from stream.events import DLQ_HEADER_OFFSET, DLQ_HEADER_REASON, DLQ_HEADER_TRUNCATED
from stream.pipeline import RawMessage, process_batch
from tests.integration.conftest import (
    consume_all,
    count_in_db,
    env_for,
    produce,
    scores_in_db,
    wait_for_count,
    wait_until,
)

pytestmark = pytest.mark.integration


def feed_with_spikes(assets=5, ticks=150, spikes=((2, "cpu_usage", 80), (4, "latency_ms", 120))):
    """A quiet synthetic feed with spikes of 25 noise deviations at known points."""
    points = list(synthetic_points(assets=assets, ticks=ticks, anomaly_probability=0.0, seed=3))
    injected = set()
    for i, p in enumerate(points):
        tick = i // (assets * len(DEMO_METRICS))
        for asset, metric, at in spikes:
            if (p.asset_id, p.metric, tick) == (asset, metric, at):
                noise = DEMO_METRICS[metric][2]
                points[i] = replace(p, value=p.value + 25 * noise, injected=True)
                injected.add((asset, metric, int(p.timestamp.timestamp() * 1000)))
    return points, injected


def encoded(points):
    return [json.dumps(p.to_json()).encode() for p in points], [
        str(p.asset_id).encode() for p in points
    ]


def expected_scores(settings, values):
    """The scores the worker must produce: the same pure code, offline, in produce order."""
    messages = [RawMessage("t", 0, i, None, v) for i, v in enumerate(values)]
    result = process_batch(messages, build_engine(settings), model_version=MODEL_VERSION)
    return {
        (
            s.point.asset_id,
            s.point.metric,
            int(s.point.timestamp.timestamp() * 1000),
        ): s.verdict.score
        for s in result.scored
    }


def test_every_point_is_scored_and_spikes_reach_the_anomalies_topic(settings, start_worker):
    points, injected = feed_with_spikes()
    values, keys = encoded(points)
    worker = start_worker()
    worker.wait_ready()
    asyncio.run(produce(settings, values, keys))

    assert wait_for_count(settings, len(points)) == len(points)
    stored = scores_in_db(settings)
    assert set(stored) == set(expected_scores(settings, values))

    events = [
        json.loads(r.value) for r in asyncio.run(consume_all(settings, settings.anomalies_topic))
    ]
    anomalies = [e for e in events if e["type"] == "anomaly"]
    # the spikes are far apart: each opens an incident of its asset, resolved later or not
    assert {e["type"] for e in events} - {"anomaly"} <= {
        "incident.open",
        "incident.update",
        "incident.resolve",
    }
    found = {(a["asset_id"], a["metric"], int(a["event_id"].rsplit(":", 1)[1])) for a in anomalies}
    assert injected <= found
    # the events topic and the table agree on what was anomalous
    assert found == {k for k, (_, is_anomaly) in stored.items() if is_anomaly}
    spike = next(a for a in anomalies if a["asset_id"] == 2 and a["metric"] == "cpu_usage")
    assert spike["score"] >= settings.anomaly_threshold
    assert spike["threshold"] == settings.anomaly_threshold
    # every detector of the ensemble explains the event
    assert set(spike["detector_scores"]) == {d.name for d in build_scorer(settings).detectors}
    assert spike["driver"].split(":")[0] in spike["detector_scores"]
    assert spike["severity"] in {"info", "warning", "critical"}
    assert worker.counter("ems_ml_points_scored_total") == len(points)
    assert worker.counter("ems_ml_anomalies_total") == len(found)
    # the lag gauge (refreshed every 5 s) comes down to zero once everything is processed
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        lag = worker.samples("ems_ml_consumer_lag_messages")
        if lag and not any(lag):
            break
        time.sleep(0.5)
    assert lag and not any(lag), f"consumer lag samples: {lag}"


def test_malformed_and_hostile_messages_go_to_the_dead_letter_topic_and_the_rest_is_scored(
    settings, start_worker
):
    """Every kind of bad input, among them those that once crashed the agent, wedged the
    partition or ruined a series (issue #13): the good points around them are all stored, each
    bad message is dead-lettered with its reason, and the worker goes on and stops cleanly."""
    now_ms = int(time.time() * 1000)
    t0 = now_ms - 2 * 86_400_000  # two days ago, a minute a point
    good = [
        {"asset_id": 9, "metric": "cpu_usage", "value": 10.0 + i % 3, "timestamp": t0 + i * 60_000}
        for i in range(40)
    ]
    point = '{"asset_id": 9, "metric": "cpu_usage", "value": %s, "timestamp": %s}'
    bad = {
        b"this is not json": "not valid JSON",
        b'{"asset_id": 9, "metric": "cpu_usage", "timestamp": 5}': "value: Field required",
        (point % ('"x"', t0)).encode(): "must be a number",
        (point % ("NaN", t0)).encode(): "NaN",
        (point % ("1e999", t0)).encode(): "finite",
        b'{"asset_id": "srv-9", "metric": "cpu_usage", "value": 1, "timestamp": 5}': "asset_id",
        (point % ("1", '"soon"')).encode(): "ISO 8601",
        b"": "empty message",
        # a point older than what its series has already seen
        (point % ("1", t0)).encode(): "out of order",
        b"[" * 5000 + b"]" * 5000: "nested too deeply",
        (point % ("1" + "0" * 400, now_ms)).encode(): "at most 1e+15",
        (point % ("1e155", now_ms)).encode(): "at most 1e+15",
        (point % ("1", '"9999-12-15T00:00:00Z"')).encode(): "out of range",
        (point % ("1", '"0001-01-01T00:30:00+01:00"')).encode(): "out of range",
        (point % ("1", now_ms + 2 * 86_400_000)).encode(): "ahead of the worker's clock",
        b'{"asset_id": 9223372036854775808, "metric": "cpu_usage", "value": 1, "timestamp": '
        + str(now_ms).encode()
        + b"}": "at most 9223372036854775807",
        # accepted by the broker, too large to score, and too large to copy whole with headers
        b'{"pad": "' + b"x" * 1_000_000 + b'"}': "exceeds MAX_MESSAGE_BYTES",
    }
    values = []
    for i, p in enumerate(good):
        values.append(json.dumps(p).encode())
        if i >= 5 and i - 5 < len(bad):
            values.append(list(bad)[i - 5])
    worker = start_worker()
    worker.wait_ready()
    asyncio.run(produce(settings, values, [b"9"] * len(values)))

    assert wait_for_count(settings, len(good)) == len(good)
    letters = asyncio.run(consume_all(settings, settings.dlq_topic))
    assert len(letters) == len(bad)
    by_offset = {i: raw for i, raw in enumerate(values) if raw in bad}
    for letter in letters:
        headers = dict(letter.headers)
        raw = by_offset[int(headers[DLQ_HEADER_OFFSET])]
        assert bad[raw] in headers[DLQ_HEADER_REASON].decode()
        if DLQ_HEADER_TRUNCATED in headers:
            assert int(headers[DLQ_HEADER_TRUNCATED]) == len(raw) + 1  # value and key b"9"
            assert raw.startswith(letter.value)
        else:
            assert letter.value == raw
    assert count_in_db(settings) == len(good)
    assert worker.proc.poll() is None, "a malformed message must not stop the worker"
    worker.proc.terminate()
    assert worker.proc.wait(timeout=30) is not None, "the worker must stop on SIGTERM"


def test_a_worker_killed_mid_stream_loses_nothing_and_scores_nothing_twice(settings, start_worker):
    points = list(synthetic_points(assets=8, ticks=150, anomaly_probability=0.01, seed=11))
    values, keys = encoded(points)
    asyncio.run(produce(settings, values, keys))
    first = start_worker(BATCH_SIZE="50")
    first.wait_ready()
    reached = wait_for_count(settings, len(points) // 4)
    first.kill()
    assert len(points) // 4 <= reached < len(points), "the kill must land mid-stream"

    second = start_worker(BATCH_SIZE="50")
    second.wait_ready()
    assert wait_for_count(settings, len(points)) == len(points)
    # The restarted worker resumed from its saved state: every score is the one an uninterrupted
    # run gives. A point learnt twice, or a window lost, would change the scores after it.
    expected = expected_scores(settings, values)
    stored = scores_in_db(settings)
    assert stored.keys() == expected.keys()
    mismatched = [k for k in expected if abs(stored[k][0] - expected[k]) > 1e-9]
    assert mismatched == []


def test_a_worker_killed_after_checkpoints_of_deltas_goes_on_from_base_and_delta(
    settings, start_worker
):
    """Checkpoints after every batch store each row whole once and then as what changed since:
    a worker killed after them reads each row back as its base and last delta, goes on storing
    deltas onto the bases it read, and every score is that of one uninterrupted run."""
    points = list(synthetic_points(assets=4, ticks=80, anomaly_probability=0.01, seed=21))
    values, keys = encoded(points)
    half = len(values) // 2
    env = {"BATCH_SIZE": "40", "STATE_CHECKPOINT_SECONDS": "0"}
    stored_as = "ems_ml_checkpoint_rows_stored_total"
    first = start_worker(**env)
    first.wait_ready()
    asyncio.run(produce(settings, values[:half], keys[:half]))
    assert wait_for_count(settings, half) == half
    assert wait_until(lambda: first.samples(stored_as, kind="delta") >= [20.0], 20)
    first.kill()
    with psycopg.connect(settings.database_dsn) as conn:
        (with_delta,) = conn.execute(
            "SELECT count(*) FROM series_state WHERE delta IS NOT NULL"
        ).fetchone()
    # of the 20 series (4 assets x 5 metrics), those not just stored whole again as a new base
    assert with_delta >= 10

    second = start_worker(**env)
    second.wait_ready()
    asyncio.run(produce(settings, values[half:], keys[half:]))
    assert wait_for_count(settings, len(values)) == len(values)
    assert second.samples(stored_as, kind="delta")[0] > 0
    # the 20 bases it holds, packed: well under the 20 rows' 12.4 KB each
    assert 0 < second.samples("ems_ml_checkpoint_base_bytes")[0] < 20 * 12_360 / 2
    expected = expected_scores(settings, values)
    stored = scores_in_db(settings)
    assert stored.keys() == expected.keys()
    assert [k for k in expected if abs(stored[k][0] - expected[k]) > 1e-9] == []


def test_a_worker_told_not_to_store_deltas_stores_every_row_whole(settings, start_worker):
    """`CHECKPOINT_DELTAS=false`: no base held, every checkpoint's rows whole."""
    points = list(synthetic_points(assets=4, ticks=20, anomaly_probability=0.0, seed=4))
    values, keys = encoded(points)
    worker = start_worker(BATCH_SIZE="40", STATE_CHECKPOINT_SECONDS="0", CHECKPOINT_DELTAS="false")
    worker.wait_ready()
    asyncio.run(produce(settings, values, keys))
    assert wait_for_count(settings, len(values)) == len(values)
    stored_as = "ems_ml_checkpoint_rows_stored_total"
    assert wait_until(lambda: worker.samples(stored_as, kind="whole") >= [40.0], 20)
    assert worker.samples(stored_as, kind="delta") == [0.0]
    assert worker.samples("ems_ml_checkpoint_base_bytes") == [0.0]  # no base held
    with psycopg.connect(settings.database_dsn) as conn:
        assert conn.execute("SELECT count(delta) FROM series_state").fetchone() == (0,)


async def committed_and_end_offsets(settings) -> tuple[dict[int, int | None], dict[int, int]]:
    """The worker group's committed offset and the end offset of each input partition."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, group_id=settings.consumer_group
    )
    await consumer.start()
    try:
        parts = [
            TopicPartition(settings.metrics_topic, p) for p in range(settings.metrics_partitions)
        ]
        ends = await consumer.end_offsets(parts)
        return (
            {tp.partition: await consumer.committed(tp) for tp in parts},
            {tp.partition: offset for tp, offset in ends.items()},
        )
    finally:
        await consumer.stop()


def test_a_worker_stopped_with_sigterm_stores_and_commits_everything_it_scored(
    settings, start_worker
):
    """A stop between checkpoints (a minute apart here) still stores the rows and commits the
    offsets of every batch scored: the next worker has nothing to consume again."""
    points = list(synthetic_points(assets=4, ticks=40, anomaly_probability=0.0, seed=2))
    values, keys = encoded(points)
    worker = start_worker(STATE_CHECKPOINT_SECONDS="60")
    worker.wait_ready()
    asyncio.run(produce(settings, values, keys))
    assert wait_for_count(settings, len(points)) == len(points)
    committed, ends = asyncio.run(committed_and_end_offsets(settings))
    assert all(committed[p] in (None, 0) for p in ends), "nothing commits before a checkpoint"
    worker.proc.terminate()
    assert worker.proc.wait(timeout=30) == 0
    committed, ends = asyncio.run(committed_and_end_offsets(settings))
    assert {p: offset or 0 for p, offset in committed.items()} == ends  # None: an empty partition
    with psycopg.connect(settings.database_dsn) as conn:
        rows = conn.execute("SELECT count(*) FROM series_state").fetchone()[0]
    assert rows == len({(p.asset_id, p.metric) for p in points})


def test_two_workers_split_the_partitions_and_score_every_point_once(settings, start_worker):
    a, b = start_worker(), start_worker()
    a.wait_ready()
    b.wait_ready()
    points = list(synthetic_points(assets=12, ticks=60, anomaly_probability=0.01, seed=5))
    values, keys = encoded(points)
    asyncio.run(produce(settings, values, keys))

    assert wait_for_count(settings, len(points)) == len(points)
    scored_by_a = a.counter("ems_ml_points_scored_total")
    scored_by_b = b.counter("ems_ml_points_scored_total")
    assert scored_by_a > 0 and scored_by_b > 0, "both workers must own partitions"
    expected = expected_scores(settings, values)
    stored = scores_in_db(settings)
    assert [k for k in expected if abs(stored[k][0] - expected[k]) > 1e-9] == []


def test_a_database_that_refuses_a_batch_stops_the_worker_and_loses_nothing(settings, start_worker):
    """PostgreSQL up but refusing the rows (here a constraint an operator added): retrying
    cannot help and skipping would lose the batch, so the worker stops, saying why; once the
    database takes the rows again, a restarted worker stores every point exactly once."""
    now_ms = int(time.time() * 1000) - 86_400_000
    values = [
        json.dumps(
            {"asset_id": 3, "metric": "cpu_usage", "value": v, "timestamp": now_ms + i * 60_000}
        ).encode()
        for i, v in enumerate([10.0 + i % 3 for i in range(40)] + [5000.0] + [11.0] * 10)
    ]
    keys = [b"3"] * len(values)
    worker = start_worker()
    worker.wait_ready()
    asyncio.run(produce(settings, values[:40], keys[:40]))
    assert wait_for_count(settings, 40) == 40
    with psycopg.connect(settings.database_dsn) as conn:
        conn.execute("ALTER TABLE anomaly_scores ADD CONSTRAINT small CHECK (value < 1000)")
    asyncio.run(produce(settings, values[40:], keys[40:]))
    assert worker.proc.wait(timeout=60) == EXIT_BATCH_FAILED
    assert "refused by PostgreSQL: CheckViolation" in worker.log()
    with psycopg.connect(settings.database_dsn) as conn:
        conn.execute("ALTER TABLE anomaly_scores DROP CONSTRAINT small")
    start_worker().wait_ready()
    assert wait_for_count(settings, len(values)) == len(values)
    expected = expected_scores(settings, values)
    stored = scores_in_db(settings)
    assert [k for k in expected if abs(stored[k][0] - expected[k]) > 1e-9] == []


def stored_rows(settings) -> dict[str, int]:
    """The last offset each stored series row includes, by series key."""
    with psycopg.connect(settings.database_dsn) as conn:
        return dict(conn.execute("SELECT series_key, source_offset FROM series_state").fetchall())


def inserts_waiting_on_a_lock(settings) -> int:
    with psycopg.connect(settings.database_dsn) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            # the writer's COPY, or a replay's INSERT
            "AND (query LIKE 'COPY anomaly_scores %' OR query LIKE '%INSERT INTO anomaly_scores%')"
        ).fetchone()[0]


def test_rows_and_offsets_wait_for_the_scores_write_still_in_flight(settings, start_worker):
    """The worker scores the next batch while the last one's scores are being written, but a
    checkpoint (1 s here) stores no row and commits no offset ahead of the stored scores: with
    the insert held up by a lock, nothing moves, and a worker killed then leaves every point
    of the held batch for its successor, which stores them all, exactly as one run would."""
    points = list(synthetic_points(assets=2, ticks=30, anomaly_probability=0.0, seed=4))
    values, keys = encoded(points)
    first = len(DEMO_METRICS) * 2 * 10  # ten ticks, then the held batch
    # one batch of what comes after the lock: gathered for 2 s
    env = {"STATE_CHECKPOINT_SECONDS": "1", "BATCH_TIMEOUT_SECONDS": "2"}
    worker = start_worker(**env)
    worker.wait_ready()
    asyncio.run(produce(settings, values[:first], keys[:first]))
    assert wait_for_count(settings, first) == first
    assert wait_until(lambda: len(stored_rows(settings)) == 2 * len(DEMO_METRICS), 20)
    time.sleep(2)  # a checkpoint after the last of those batches
    rows_before = stored_rows(settings)
    committed_before, _ = asyncio.run(committed_and_end_offsets(settings))
    with psycopg.connect(settings.database_dsn) as lock:
        lock.execute("LOCK TABLE anomaly_scores IN ACCESS EXCLUSIVE MODE")
        asyncio.run(produce(settings, values[first:], keys[first:]))
        assert wait_until(lambda: inserts_waiting_on_a_lock(settings) == 1, 30), (
            "the held batch's insert must be waiting on the lock"
        )
        time.sleep(3)  # three checkpoints due
        assert stored_rows(settings) == rows_before
        assert asyncio.run(committed_and_end_offsets(settings))[0] == committed_before
        worker.kill()
    start_worker(**env).wait_ready()
    assert wait_for_count(settings, len(values)) == len(values)
    expected = expected_scores(settings, values)
    stored = scores_in_db(settings)
    assert stored.keys() == expected.keys()
    assert [k for k in expected if abs(stored[k][0] - expected[k]) > 1e-9] == []


def anomaly_keys(settings) -> set[tuple[int, str, int]]:
    """(asset, metric, epoch ms) of every anomaly event on the anomalies topic so far."""
    records = asyncio.run(consume_all(settings, settings.anomalies_topic, idle_seconds=1.0))
    events = [json.loads(r.value) for r in records]
    return {
        (e["asset_id"], e["metric"], int(e["event_id"].rsplit(":", 1)[1]))
        for e in events
        if e["type"] == "anomaly"
    }


def test_anomalies_go_out_while_a_write_is_held_up_and_the_backlog_stays_bounded(
    settings, start_worker
):
    """A write held up (here by a lock on the scores' table; in production an incident's hint
    list over dense series, or a slow database) holds back the storing of the batches after it
    and the checkpoints, not those batches' anomaly events: a spike produced after it reaches
    the anomalies topic while its score is not stored. The scoring runs at most
    WRITE_BACKLOG_POINTS points ahead of the writes, then waits; once the lock goes, every point
    is stored exactly as one run would store it."""
    # one asset: its points are on one partition, so they are scored in the order produced
    points, injected = feed_with_spikes(assets=1, ticks=120, spikes=((1, "cpu_usage", 85),))
    values, keys = encoded(points)
    per_tick = len(DEMO_METRICS)
    first, held = 70 * per_tick, 75 * per_tick
    backlog = 20 * per_tick  # ticks 70 to 90 may be scored ahead of the held write
    worker = start_worker(
        STATE_CHECKPOINT_SECONDS="1", BATCH_SIZE="20", WRITE_BACKLOG_POINTS=str(backlog)
    )
    worker.wait_ready()
    asyncio.run(produce(settings, values[:first], keys[:first]))
    assert wait_for_count(settings, first) == first
    with psycopg.connect(settings.database_dsn) as lock:
        lock.execute("LOCK TABLE anomaly_scores IN ACCESS EXCLUSIVE MODE")
        asyncio.run(produce(settings, values[first:held], keys[first:held]))
        assert wait_until(lambda: inserts_waiting_on_a_lock(settings) == 1, 30)
        time.sleep(2)  # checkpoints due: they wait behind the write, the scoring does not
        asyncio.run(produce(settings, values[held:], keys[held:]))
        assert wait_until(lambda: injected <= anomaly_keys(settings), 30), (
            "the spike's anomaly event must go out while the write before it is held up"
        )
        assert lock.execute("SELECT count(*) FROM anomaly_scores").fetchone()[0] == first
        time.sleep(3)  # the scoring has gone as far as the backlog lets it
        scored = worker.counter("ems_ml_points_scored_total")
        assert (86 - 70) * per_tick <= scored - first <= backlog, scored - first
    assert wait_for_count(settings, len(values)) == len(values)
    expected = expected_scores(settings, values)
    stored = scores_in_db(settings)
    assert stored.keys() == expected.keys()
    assert [k for k in expected if abs(stored[k][0] - expected[k]) > 1e-9] == []


def test_partitions_moving_between_workers_carry_their_states_exactly(settings, start_worker):
    """A worker killed: the survivor takes its partitions and goes on from the stored states; a
    new worker joins and takes some of them, is killed in turn, and the survivor gets them back:
    it must read what the other committed, not score on from what it held before. Every score is
    that of one uninterrupted run."""
    points = list(synthetic_points(assets=12, ticks=120, anomaly_probability=0.01, seed=8))
    values, keys = encoded(points)
    quarter = len(values) // 4
    parts = [slice(i * quarter, (i + 1) * quarter if i < 3 else None) for i in range(4)]

    def feed(part: int) -> None:
        asyncio.run(produce(settings, values[parts[part]], keys[parts[part]]))
        total = len(values) if part == 3 else (part + 1) * quarter
        assert wait_for_count(settings, total) == total

    a, b = start_worker(), start_worker()
    a.wait_ready()
    b.wait_ready()
    feed(0)
    assert a.counter("ems_ml_points_scored_total") > 0 and b.counter("ems_ml_points_scored_total")
    a.kill()
    feed(1)  # b alone
    c = start_worker()
    c.wait_ready()
    feed(2)  # b and c
    assert c.counter("ems_ml_points_scored_total") > 0, "partitions must move to the new worker"
    # each partition's lag is reported by its owner alone: b dropped those it gave to c
    lag = "ems_ml_consumer_lag_messages"
    assert wait_until(
        lambda: (
            c.samples(lag)
            and len(b.samples(lag)) + len(c.samples(lag)) == settings.metrics_partitions
        ),
        20,
    ), (b.samples(lag), c.samples(lag))
    c.kill()
    feed(3)  # b alone again, on the partitions c moved on
    expected = expected_scores(settings, values)
    stored = scores_in_db(settings)
    assert stored.keys() == expected.keys()
    assert [k for k in expected if abs(stored[k][0] - expected[k]) > 1e-9] == []


def test_replaying_a_csv_gives_the_scores_of_streaming_it_through_kafka(
    settings, start_worker, tmp_path
):
    points, _ = feed_with_spikes(assets=3, ticks=200)
    values, keys = encoded(points)
    worker = start_worker()
    worker.wait_ready()
    asyncio.run(produce(settings, values, keys))
    assert wait_for_count(settings, len(points)) == len(points)

    with open(tmp_path / "history.csv", "w") as f:
        f.write("asset_id,metric,timestamp,value\n")
        for raw in values:
            p = json.loads(raw)
            f.write(f"{p['asset_id']},{p['metric']},{p['timestamp']},{p['value']}\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ems_ml.cli",
            "replay",
            str(tmp_path / "history.csv"),
            "-o",
            str(tmp_path / "scores.csv"),
            "-q",
        ],
        capture_output=True,
        text=True,
        env=env_for(settings),
    )
    assert result.returncode == 0, result.stderr
    streamed = scores_in_db(settings)
    with open(tmp_path / "scores.csv", newline="") as f:
        replayed = {
            (
                int(r["asset_id"]),
                r["metric"],
                int(datetime.fromisoformat(r["timestamp"]).timestamp() * 1000),
            ): (float(r["score"]), r["is_anomaly"] == "1")
            for r in csv.DictReader(f)
        }
    assert replayed == streamed
