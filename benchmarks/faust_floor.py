"""A faust agent that only takes and acks the worker's input: the ceiling faust itself puts on a
worker, started by `benchmarks.e2e` as its second reference.

    .venv/bin/python -m benchmarks.faust_floor EXPECTED RESULT_FILE

Runs the worker's faust app (`stream.app.create_app`, the settings from the environment, as
`ems-ml worker` reads them) with one agent that takes batches of `BATCH_SIZE` events within
`BATCH_TIMEOUT_SECONDS`, as the scoring agent does, and acks them without looking at them. Once
`EXPECTED` events are taken it writes the rate, from the first batch to the last, to
`RESULT_FILE` and exits.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import faust

from stream.app import create_app
from stream.config import Settings


def main() -> None:
    expected, result = int(sys.argv[1]), Path(sys.argv[2])
    settings = Settings()
    stream_app = create_app(settings)
    seen = {"n": 0, "first": 0.0}

    @stream_app.app.agent(stream_app.metrics_topic, name="take-and-ack")
    async def take_and_ack(stream) -> None:
        async for events in stream.take_events(
            settings.batch_size, within=settings.batch_timeout_seconds
        ):
            if not seen["first"]:
                seen["first"] = time.perf_counter()
            seen["n"] += len(events)
            for event in events:
                event.ack()
            if seen["n"] >= expected:
                seconds = time.perf_counter() - seen["first"]
                result.write_text(f"{seen['n'] / seconds}\n")
                os._exit(0)

    worker = faust.Worker(stream_app.app, loglevel="WARNING", quiet=True)
    worker.spinner = None
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
