"""Every Prometheus metric of the stream worker, declared once, with what it counts.

Names follow Prometheus conventions: `_total` counters, `_seconds` histograms, base units.
"""

from prometheus_client import Counter, Gauge, Histogram

# Points read from the input topic; a message that is not even JSON counts as one.
POINTS_CONSUMED = Counter("ems_ml_points_consumed_total", "Metric points consumed from Kafka")
# Points scored and written to anomaly_scores, by metric name.
POINTS_SCORED = Counter("ems_ml_points_scored_total", "Metric points scored", ["metric"])
# Points whose combined score reached the threshold (after warm-up), by metric name.
ANOMALIES = Counter("ems_ml_anomalies_total", "Anomalous points detected", ["metric"])
# Messages set aside on the dead-letter topic, by the first word of the reason.
DEAD_LETTERS = Counter(
    "ems_ml_dead_letters_total", "Messages sent to the dead-letter topic", ["kind"]
)
# Points skipped because a restarted worker had already applied their message.
REPLAYED = Counter("ems_ml_points_replayed_total", "Points skipped as already applied (replays)")
# Points scored again after a crash or a rebalance (their message was past the last
# checkpoint) whose scores were already stored: skipped by the key, counted once committed.
SCORES_ALREADY_STORED = Counter(
    "ems_ml_scores_already_stored_total",
    "Scored points whose score was already stored (a replay past the checkpoint), not stored again",
)
# Transient failures of a sink that were retried, by sink (postgres, kafka).
SINK_RETRIES = Counter("ems_ml_sink_retries_total", "Retried sink failures", ["sink"])
# Wall time from a batch handed over by the consumer to its results being durable.
BATCH_SECONDS = Histogram(
    "ems_ml_batch_duration_seconds",
    "Time to score a batch and make its results durable",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
# Where a batch's time goes: decode, restore (rows read from PostgreSQL), score, publish
# (anomalies and dead letters, until acknowledged), write_wait (for the write of the batch
# before), checkpoint; and write (scores and incidents), which runs beside the next batch.
BATCH_PHASE_SECONDS = Histogram(
    "ems_ml_batch_phase_seconds",
    "Time a batch spends in each phase",
    ["phase"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
BATCH_SIZE = Histogram(
    "ems_ml_batch_messages", "Messages per batch", buckets=(1, 10, 50, 100, 250, 500, 1000, 5000)
)
# Series rows stored by one checkpoint (`BatchHandler.checkpoint`), and how long it took.
CHECKPOINT_ROWS = Histogram(
    "ems_ml_checkpoint_rows",
    "Series rows stored by a checkpoint",
    buckets=(1, 10, 100, 1000, 10_000, 100_000),
)
# How checkpoints stored their rows: as what changed since the row's base, or whole (a new base).
CHECKPOINT_ROWS_STORED = Counter(
    "ems_ml_checkpoint_rows_stored_total",
    "Series rows stored by checkpoints, by how: delta (changes since the row's base) or whole",
    ["kind"],
)
# The bytes of the bases the worker holds (each series' row as last stored whole, packed), which
# its checkpoints store the rows' changes against (`CHECKPOINT_DELTAS`).
CHECKPOINT_BASE_BYTES = Gauge(
    "ems_ml_checkpoint_base_bytes",
    "Bytes of the series rows the worker holds as last stored whole, for checkpoints' deltas",
)
CHECKPOINT_SECONDS = Histogram(
    "ems_ml_checkpoint_duration_seconds",
    "Time to store a checkpoint's rows",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
# Messages in the partition after the last one this worker processed.
CONSUMER_LAG = Gauge(
    "ems_ml_consumer_lag_messages", "Messages not yet processed", ["topic", "partition"]
)
# EMS Core outbox: rows delivered (by kind: open, update, resolve), failed attempts, retried
# attempts (a row's second try and later), and rows waiting.
EMS_CORE_DELIVERED = Counter(
    "ems_ml_ems_core_delivered_total", "Incident changes delivered to EMS Core", ["kind"]
)
EMS_CORE_FAILURES = Counter("ems_ml_ems_core_failures_total", "Failed EMS Core deliveries")
EMS_CORE_RETRIES = Counter("ems_ml_ems_core_retries_total", "EMS Core delivery retries")
EMS_CORE_BACKLOG = Gauge("ems_ml_ems_core_backlog", "Outbox rows not yet delivered to EMS Core")
# Incident changes published on the anomalies topic, by kind.
INCIDENT_EVENTS = Counter("ems_ml_incident_events_total", "Incident changes", ["kind"])
HINT_SCORES_HELD = Gauge(
    "ems_ml_hint_scores_held",
    "Scores the worker holds for root-cause hint lists (16 bytes each; at most MAX_HELD_POINTS)",
)
