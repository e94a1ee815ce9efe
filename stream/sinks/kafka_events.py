"""Publishes anomaly events, incidents' changes and dead letters through the worker's Kafka
producer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from stream.errors import PublishError
from stream.events import (
    AnomalyEvent,
    dead_letter_copy,
    dead_letter_headers,
    event_id_for,
    severity_for,
)
from stream.pipeline import DeadLetter, ScoredPoint
from stream.sinks.topic_outbox import TopicMessage


def anomaly_event(scored: ScoredPoint, threshold: float) -> AnomalyEvent:
    point, verdict = scored.point, scored.verdict
    return AnomalyEvent(
        event_id=event_id_for(point),
        asset_id=point.asset_id,
        metric=point.metric,
        timestamp=point.timestamp,
        value=point.value,
        threshold=threshold,
        severity=severity_for(verdict.score),
        **verdict.reported(),
    )


class EventPublisher:
    """Sends a batch's anomalies, incident changes and dead letters and waits until the broker
    has them all."""

    def __init__(
        self, *, producer: AIOKafkaProducer, anomalies: str, dead_letters: str, threshold: float
    ) -> None:
        """`producer` is started and stopped by its owner (`stream.worker`), with `acks="all"`:
        an event counts as published once every in-sync replica has it."""
        self._producer = producer
        self._anomalies = anomalies
        self._dead_letters = dead_letters
        self._threshold = threshold

    async def publish(
        self,
        anomalies: Sequence[ScoredPoint],
        dead_letters: Sequence[DeadLetter],
        incidents: Sequence[TopicMessage] = (),
    ) -> None:
        """Raises `PublishError` if any message was not acknowledged by the broker."""
        pending = []
        try:
            for change in incidents:
                pending.append(
                    await self._producer.send(
                        self._anomalies,
                        key=str(change.asset_id).encode(),
                        value=json.dumps(change.body).encode(),
                    )
                )
            for scored in anomalies:
                event = anomaly_event(scored, self._threshold)
                pending.append(
                    await self._producer.send(
                        self._anomalies,
                        key=str(event.asset_id).encode(),
                        value=event.model_dump_json().encode(),
                    )
                )
            for letter in dead_letters:
                m = letter.message
                key, value, cut = dead_letter_copy(m.key, m.value)
                headers = dead_letter_headers(letter.reason, m.topic, m.partition, m.offset)
                pending.append(
                    await self._producer.send(
                        self._dead_letters, key=key, value=value, headers=headers + cut
                    )
                )
            # Each send returned a future that resolves when the broker acknowledges the record.
            await asyncio.gather(*pending)
        except Exception as e:  # aiokafka raises several unrelated types; all mean "not delivered"
            raise PublishError(f"publishing {len(pending)} events failed: {e!r}") from e
