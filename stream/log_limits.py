"""Repeated log lines, limited: an outage must not bury the log under thousands of the same line.

`RepeatFilter` lets through the first `burst` records of the same origin (logger, level and
message template: the same line with other numbers or addresses counts as a repeat) in each
`window_seconds`, drops the rest, and says how many it dropped on the first record of that origin
it lets through again. Installed on the service's log handler (`stream.config`), so it limits
our lines and those of aiokafka, uvicorn and psycopg alike.
"""

from __future__ import annotations

import logging
import time


class RepeatFilter(logging.Filter):
    """At most `burst` records of one origin per `window_seconds`.

    >>> f = RepeatFilter(burst=2, window_seconds=60)
    >>> records = [logging.LogRecord("kafka", logging.ERROR, "", 0, "node %s down", (i,), None)
    ...            for i in range(5)]
    >>> [f.filter(r) for r in records]
    [True, True, False, False, False]
    >>> f.dropped[("kafka", logging.ERROR, "node %s down")]
    3
    """

    def __init__(self, burst: int = 10, window_seconds: float = 60.0) -> None:
        super().__init__()
        self.burst = burst
        self.window = window_seconds
        #: origin -> (window start, records let through in it)
        self._seen: dict[tuple, tuple[float, int]] = {}
        #: origin -> records dropped since one was last let through
        self.dropped: dict[tuple, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        origin = (record.name, record.levelno, str(record.msg))
        now = time.monotonic()
        start, passed = self._seen.get(origin, (now, 0))
        if now - start >= self.window:
            start, passed = now, 0
        if passed >= self.burst:
            self.dropped[origin] = self.dropped.get(origin, 0) + 1
            self._seen[origin] = (start, passed)
            return False
        self._seen[origin] = (start, passed + 1)
        dropped = self.dropped.pop(origin, 0)
        if dropped:
            record.msg = f"{record.msg} [{dropped} more like this in the last {self.window:g} s]"
        if len(self._seen) > 10_000:  # bounded memory whatever the variety of messages
            self._seen.clear()
        return True
