"""How the worker's consumer cuts the input topic into batches, on a real broker."""

from __future__ import annotations

import asyncio
import time

from stream.config import Settings
from stream.consumer import InputConsumer
from tests.integration.conftest import produce


async def _nothing() -> None:
    return None


async def _batches(settings: Settings, expected: int, *, deadline_seconds: float = 60) -> list:
    """The non-empty batches a fresh consumer takes until it holds `expected` records, each
    with the seconds from the consumer's start to its arrival."""
    consumer = InputConsumer(settings, on_revoked=_nothing)
    await consumer.start()
    started = time.monotonic()
    taken: list[tuple[float, list]] = []
    try:
        batches = consumer.batches(idle_seconds=0.5)
        while sum(len(b) for _, b in taken) < expected:
            assert time.monotonic() - started < deadline_seconds, "records did not all arrive"
            _, messages = await anext(batches)
            if messages:
                taken.append((time.monotonic() - started, messages))
        await batches.aclose()
    finally:
        await consumer.stop()
    return taken


def test_a_backlog_comes_in_batches_beyond_the_fill_and_within_the_batch_size(settings: Settings):
    # a worker catching up: every record has arrived before it asks
    asyncio.run(produce(settings, [b'{"n": %d}' % i for i in range(3000)]))
    tuned = settings.model_copy(update={"batch_size": 1000, "batch_fill": 100})

    taken = asyncio.run(_batches(tuned, 3000))

    sizes = [len(messages) for _, messages in taken]
    assert max(sizes) <= 1000
    assert max(sizes) > 100, f"batches stopped at the fill: {sizes}"
    seen = [(m.partition, m.offset) for _, messages in taken for m in messages]
    assert len(seen) == len(set(seen)) == 3000


def test_a_filled_batch_does_not_wait_for_the_timeout(settings: Settings):
    asyncio.run(produce(settings, [b'{"n": %d}' % i for i in range(60)], keys=[b"one"] * 60))
    # without the fill, the batch would wait its 20 s for more records, or for 5,000
    tuned = settings.model_copy(
        update={"batch_size": 5000, "batch_fill": 50, "batch_timeout_seconds": 20.0}
    )

    taken = asyncio.run(_batches(tuned, 60))

    first_at, first = taken[0]
    assert len(first) == 60
    assert first_at < 15.0, f"the filled batch came {first_at:.1f} s after the start"
