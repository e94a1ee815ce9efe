"""The worker's input: batches of records from the partitions the consumer group gives this
worker, their offsets committed only when the worker says the rows that include them are stored.

A plain aiokafka consumer, not faust's stream of events: faust's handling of each event (its
Event objects, the stream's channel, per-message acks, the consumer thread's hand-over) cost
about 150 us a message on this machine, so a faust worker that only takes and acks could not do
more than 6,000 points/s (`benchmarks.faust_floor` at 3070547, README). `getmany` hands over a
partition's records as one list, and what we commit is one offset per partition.

Contract with the batch handler (`stream.agents.BatchHandler`):
- `batches()` yields each batch as `RawMessage`s, in offset order within each partition, with
  the generation of the assignment it was fetched in;
- `commit(offsets)` commits, for each (topic, partition), the next offset to read; a commit
  that fails (the group is rebalancing) is only logged: the stored rows already include those
  messages, so consuming them again skips them;
- `on_revoked`, given at construction, is awaited when partitions are taken away, before the
  group moves them (aiokafka's rebalance listener), and a new generation begins: a batch of an
  earlier generation must not be scored, another worker may own its partitions by now.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from stream.config import Settings
from stream.pipeline import RawMessage

log = logging.getLogger(__name__)


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, owner: InputConsumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked) -> None:
        self._owner.generation += 1
        await self._owner.on_revoked()

    async def on_partitions_assigned(self, assigned) -> None:
        if assigned:
            log.info("assigned partitions %s", sorted(tp.partition for tp in assigned))


class InputConsumer:
    """The input topic's records for this worker, in batches, offsets committed by the caller
    only.

    A batch waits at most `BATCH_TIMEOUT_SECONDS` from its first record for `BATCH_FILL`
    records; once it holds them it takes what has arrived already, without waiting, up to
    `BATCH_SIZE`. So a worker that keeps up scores a batch as soon as it is worth a batch's
    fixed costs (a produce, a write transaction), and one that is behind, where every record
    has arrived already, takes `BATCH_SIZE` at a time (README, Benchmarks: e2e and latency)."""

    def __init__(self, settings: Settings, *, on_revoked: Callable[[], Awaitable[None]]) -> None:
        session = settings.consumer_session_timeout_seconds
        self.topic = settings.metrics_topic
        self.on_revoked = on_revoked
        #: bumped before each revocation's handler runs (see the module's contract)
        self.generation = 0
        self._batch_size = settings.batch_size
        self._within = settings.batch_timeout_seconds
        self._fill = min(settings.batch_fill, settings.batch_size)
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=settings.consumer_group,
            group_instance_id=settings.consumer_instance_id or None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # a worker that died (SIGKILL, lost host) frees its partitions after this long
            session_timeout_ms=int(session * 1000),
            heartbeat_interval_ms=int(min(3.0, session / 3) * 1000),
            max_poll_records=settings.batch_size,
        )
        self._consumer.subscribe([self.topic], listener=_Rebalance(self))

    async def start(self) -> None:
        await self._consumer.start()

    async def stop(self) -> None:
        """Leave the group (its partitions move at once, not after the session timeout)."""
        await self._consumer.stop()

    async def batches(self, *, idle_seconds: float = 0.5) -> AsyncIterator[tuple[int, list]]:
        """Yield (generation, messages) for each batch; an empty list after `idle_seconds`
        without a record, so the caller can look at the clock (checkpoints, a stop)."""
        new = RawMessage._make
        while True:
            fetched = await self._consumer.getmany(
                timeout_ms=int(idle_seconds * 1000), max_records=self._batch_size
            )
            generation = self.generation
            records = _flatten(fetched)
            deadline = time.monotonic() + self._within
            while records and len(records) < self._batch_size:
                if len(records) >= self._fill:
                    wait_ms = 0  # filled: only what has arrived already
                else:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    wait_ms = max(1, int(left * 1000))
                more = _flatten(
                    await self._consumer.getmany(
                        timeout_ms=wait_ms, max_records=self._batch_size - len(records)
                    )
                )
                if self.generation != generation:
                    records, generation = more, self.generation
                    continue
                if not more and wait_ms == 0:
                    break
                records.extend(more)
            yield (
                generation,
                [new((r.topic, r.partition, r.offset, r.key, r.value)) for r in records],
            )

    async def commit(self, offsets: Mapping[tuple[str, int], int]) -> None:
        """Commit each (topic, partition)'s next offset to read, where the partition is still
        this worker's."""
        owned = self._consumer.assignment()
        wanted = {
            TopicPartition(topic, partition): offset
            for (topic, partition), offset in offsets.items()
            if TopicPartition(topic, partition) in owned
        }
        if not wanted:
            return
        try:
            await self._consumer.commit(wanted)
        except (CommitFailedError, KafkaError) as e:
            # the rows are stored: the messages after the last commit are consumed again and
            # skipped, so a lost commit costs time, not correctness
            log.warning("offsets not committed (consumed again, then skipped): %s", e)

    def owned_partitions(self) -> set[int]:
        return {tp.partition for tp in self._consumer.assignment() if tp.topic == self.topic}

    def highwater(self, partition: int) -> int | None:
        """The partition's end offset as last fetched (None before a fetch)."""
        return self._consumer.highwater(TopicPartition(self.topic, partition))


def _flatten(fetched: Mapping[TopicPartition, list]) -> list:
    return [record for records in fetched.values() for record in records]
