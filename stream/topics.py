"""Creates the service's Kafka topics when they do not exist yet."""

from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from stream.config import Settings
from stream.errors import PublishError

log = logging.getLogger(__name__)


async def ensure_topics(settings: Settings, *, replication_factor: int = 1) -> None:
    """Create the input, anomalies and dead-letter topics, each with `METRICS_PARTITIONS`."""
    wanted = [settings.metrics_topic, settings.anomalies_topic, settings.dlq_topic]
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, request_timeout_ms=15000
    )
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t not in existing]
        if not missing:
            return
        try:
            await admin.create_topics(
                [NewTopic(t, settings.metrics_partitions, replication_factor) for t in missing]
            )
            log.info("created topics %s", ", ".join(missing))
        except TopicAlreadyExistsError:
            pass  # another worker created it meanwhile
    except KafkaError as e:
        raise PublishError(
            f"cannot create topics on {settings.kafka_bootstrap_servers}: {e}"
        ) from e
    finally:
        await admin.close()
