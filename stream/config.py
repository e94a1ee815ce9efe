"""The one settings object of the service, read from environment variables and `.env`.

Every variable is declared once here, typed, with its default and what it means. The worker, the API
and the CLI all build their collaborators from a `Settings` instance, so tests can build another one
pointing at other topics, databases or ports.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from stream.capacity import DEFAULT_CAPACITY_RULES, parse_capacity_rules
from stream.events import InputLimits
from stream.log_limits import RepeatFilter
from stream.security import DEFAULT_SECURITY_METRICS, parse_security_metrics

LOG_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
LOG_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


class Settings(BaseSettings):
    """Service settings; the field name in upper case is the environment variable."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # --- database (EMS's PostgreSQL; our tables live beside EMS's own) ---
    database_host: str = Field("127.0.0.1", description="PostgreSQL host")
    database_port: int = Field(5432, description="PostgreSQL port")
    database_name: str = Field("ems_db", description="Database holding EMS's and our tables")
    database_user: str = Field("postgres", description="PostgreSQL user")
    database_password: SecretStr = Field(SecretStr("postgres"), description="PostgreSQL password")

    # --- EMS Core ---
    ems_core_url: str = Field(
        "http://localhost:3100", description="Base URL of EMS Core's REST API"
    )

    # --- API server ---
    host: str = Field("0.0.0.0", description="Address the API listens on")
    port: int = Field(8000, description="Port the API listens on")
    debug: bool = Field(False, description="Debug mode: verbose errors and logs")
    log_level: str = Field("INFO", description="Log level: DEBUG, INFO, WARNING, ERROR")

    api_key: SecretStr | None = Field(
        None,
        description="When set, API calls need it in the X-API-Key header (/health, /metrics open)",
    )
    cors_origins: str = Field(
        "", description="Comma-separated origins allowed by CORS (the EMS front end); empty: none"
    )
    rate_limit: str = Field(
        "300/minute",
        description="Requests per client address, e.g. 300/minute; empty: no limit",
    )
    auth_failure_limit: str = Field(
        "10/minute",
        description="Wrong or missing API keys per client address before it gets 429s",
    )
    trusted_client_header: str = Field(
        "",
        description="Behind a proxy: the header whose last address is the client's "
        "(e.g. X-Forwarded-For); empty: the connection's address",
    )
    max_body_bytes: int = Field(
        1_048_576, ge=1_024, description="Largest request body the API reads; larger: 413"
    )
    database_wait_seconds: float = Field(
        3.0, gt=0, description="How long an API request waits for the database before a 503"
    )

    # --- detection ---
    anomaly_threshold: float = Field(
        0.7, ge=0.0, le=1.0, description="A point whose combined score reaches this is an anomaly"
    )
    anomaly_contamination: float = Field(
        0.1, gt=0.0, lt=0.5, description="Expected share of anomalous points, used by training"
    )
    auto_create_alerts: bool = Field(
        True, description="Deliver incidents to EMS Core as events (the topic gets them anyway)"
    )
    incident_quiet_seconds: float = Field(
        900, gt=0, description="Anomaly-free time (event time) after which an incident resolves"
    )
    incident_flap_seconds: float = Field(
        900,
        ge=0,
        description="An anomaly this soon after its asset's incident resolved reopens it "
        "(flapping stays one incident); 0: never",
    )
    ems_core_timeout_seconds: float = Field(5.0, gt=0, description="Timeout of each EMS Core call")
    outbox_poll_seconds: float = Field(
        1.0, gt=0, description="How often a worker delivers pending incident changes to EMS Core"
    )
    min_training_samples: int = Field(
        100, ge=1, description="Fewest points a series needs to train"
    )
    metric_rules: str = Field(
        "",
        description="Per-metric alerting rules, a JSON list of {pattern, direction: both|up|down,"
        " min_deviation} (see stream/metric_rules.py); empty: every metric alarms both ways",
    )
    # --- forecasts and capacity (stream/forecast.py, stream/capacity.py) ---
    capacity_rules: str = Field(
        DEFAULT_CAPACITY_RULES,
        description="Bounded metrics, a JSON list of {pattern, capacity, threshold (share, 0.9)}"
        " (see stream/capacity.py); []: none",
    )
    capacity_trend_hours: float = Field(
        24.0, gt=0, description="Event time over which the capacity trend's weights halve"
    )
    capacity_horizon_hours: float = Field(
        168.0, gt=0, le=720, description="A crossing predicted sooner than this is a prediction"
    )
    capacity_confidence: float = Field(
        0.9,
        gt=0.5,
        lt=1.0,
        description="Probability of crossing within the horizon that opens a prediction "
        "(it resolves under 0.5)",
    )
    security_metrics: str = Field(
        DEFAULT_SECURITY_METRICS,
        description="Network metrics for the security patterns, a JSON map of ingress, egress, "
        "connections to lists of fnmatch patterns (see stream/security.py); {}: none",
    )
    maintenance_poll_seconds: float = Field(
        10.0, gt=0, description="How often workers read the maintenance windows"
    )
    window_size: int = Field(5, ge=2, le=256, description="Points in the rolling feature window")
    warmup_points: int = Field(
        30, ge=2, description="Points a series must have seen before it may raise an anomaly"
    )

    # --- Kafka / stream worker ---
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092", description="Comma-separated host:port list of the Kafka brokers"
    )
    metrics_topic: str = Field("ems.metrics", description="Input topic of metric events")
    anomalies_topic: str = Field("ems.anomalies", description="Output topic of anomaly events")
    dead_letter_topic: str = Field(
        "", description="Topic for messages that cannot be scored; default: <METRICS_TOPIC>.dlq"
    )
    metrics_partitions: int = Field(4, ge=1, description="Partitions of the input topic")
    consumer_group: str = Field("ems-ml-worker", description="Kafka consumer group of the workers")
    consumer_session_timeout_seconds: float = Field(
        10.0,
        ge=6,
        description="How long a silent worker keeps its partitions before the group moves them",
    )
    consumer_instance_id: str = Field(
        "",
        description="Static group membership: this worker's own stable id (unique in the group); "
        "a restarted worker with it takes its partitions back at once; empty: dynamic",
    )
    batch_size: int = Field(5000, ge=1, description="Most events scored and written in one batch")
    batch_timeout_seconds: float = Field(
        0.05,
        gt=0,
        description="Longest wait for a batch's BATCH_FILL events before it is processed anyway",
    )
    batch_fill: int = Field(
        500,
        ge=1,
        description="Events a batch waits for (at most BATCH_TIMEOUT_SECONDS); once it holds "
        "them it takes only what has arrived already, up to BATCH_SIZE",
    )
    state_checkpoint_seconds: float = Field(
        5.0,
        ge=0,
        description="How often the series rows batches changed are stored; their offsets commit "
        "after; 0: after every batch",
    )
    checkpoint_deltas: bool = Field(
        True,
        description="Checkpoints store a row as what changed since it was last stored whole; the "
        "worker then holds that row too, packed (about 5 KB a series); false: every row whole",
    )
    write_backlog_points: int = Field(
        50_000,
        ge=1,
        description="Scored points whose storing may wait behind a slow write while later "
        "batches are scored and their anomalies published; past it, scoring waits",
    )
    worker_metrics_port: int = Field(
        9464, ge=0, description="Port of the worker's Prometheus endpoint; 0 disables it"
    )
    max_message_bytes: int = Field(
        900_000, ge=1_000, description="Largest input message scored; a larger one is dead-lettered"
    )
    max_point_age_days: float = Field(
        3650, gt=0, description="Oldest point accepted, in days before the worker's clock"
    )
    max_point_ahead_seconds: float = Field(
        3600,
        ge=0,
        description="Furthest a point may be dated ahead of the worker's clock",
    )

    models_dir: str = Field(".cache/models", description="Folder of trained model snapshots")
    model_poll_seconds: float = Field(
        5.0, gt=0, description="How often workers look for a newly trained model version"
    )

    # --- local stack (`ems-ml stack`), for development and tests ---
    kafka_version: str = Field("4.1.1", description="Apache Kafka version `ems-ml stack` runs")
    stack_dir: str = Field(
        ".stack", description="Folder of the local stack's data, pid files and logs"
    )

    @property
    def input_limits(self) -> InputLimits:
        """What the worker accepts beyond the wire schema (`stream.events.InputLimits`)."""
        return InputLimits(
            max_message_bytes=self.max_message_bytes,
            max_age=timedelta(days=self.max_point_age_days),
            max_ahead=timedelta(seconds=self.max_point_ahead_seconds),
        )

    @field_validator("api_key", mode="before")
    @classmethod
    def _empty_key_is_no_key(cls, value):
        # `API_KEY=` in a .env copied from .env.example means "no key", not "the empty key"
        return None if value in ("", None) else value

    @field_validator("metric_rules")
    @classmethod
    def _valid_rules(cls, value: str) -> str:
        from stream.metric_rules import parse_rules  # raises ValueError naming what is wrong

        parse_rules(value)
        return value

    @field_validator("capacity_rules")
    @classmethod
    def _valid_capacity_rules(cls, value: str) -> str:
        parse_capacity_rules(value)  # raises ValueError naming what is wrong
        return value

    @field_validator("security_metrics")
    @classmethod
    def _valid_security_metrics(cls, value: str) -> str:
        parse_security_metrics(value)  # raises ValueError naming what is wrong
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in logging.getLevelNamesMapping():
            raise ValueError(f"unknown log level {value!r}")
        return level

    @property
    def dlq_topic(self) -> str:
        """The dead-letter topic: `DEAD_LETTER_TOPIC`, or the input topic with `.dlq` appended."""
        return self.dead_letter_topic or f"{self.metrics_topic}.dlq"

    @property
    def database_dsn(self) -> str:
        """A libpq connection string; the password is only revealed here."""
        from psycopg.conninfo import make_conninfo

        return make_conninfo(
            host=self.database_host,
            port=self.database_port,
            dbname=self.database_name,
            user=self.database_user,
            password=self.database_password.get_secret_value(),
            connect_timeout=5,
        )


def configure_logging(level: str) -> None:
    """Log as `2026-01-21 10:30:00 - app.main - INFO - message` on stderr, at most 10 lines of
    one origin a minute (`log_limits.RepeatFilter`)."""
    logging.basicConfig(level=level, format=LOG_FORMAT, datefmt=LOG_DATE_FORMAT, force=True)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RepeatFilter())


def logging_dict_config(level: str) -> dict:
    """The same format as a dictConfig, for uvicorn (the API), which takes one."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": LOG_FORMAT, "datefmt": LOG_DATE_FORMAT}},
        "filters": {"repeats": {"()": RepeatFilter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "plain",
                "filters": ["repeats"],
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
    }
