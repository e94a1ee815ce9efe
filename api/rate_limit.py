"""Per-client request budgets (e.g. "300/minute"), on the `limits` library.

The moving window lives in this process's memory: each API replica counts on its own. Who a client
is (its address) is decided by the caller (`api.guard`).
"""

from __future__ import annotations

import time

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


class RateLimitExceeded(Exception):
    """The client has spent its budget; `retry_after`: seconds until it may try again."""

    def __init__(self, rate: str, retry_after: int) -> None:
        super().__init__(f"rate limit of {rate} exceeded; retry in {retry_after} s")
        self.retry_after = retry_after


class RateLimiter:
    def __init__(self, rate: str) -> None:
        """`rate` in the limits notation ("300/minute", "10/second"); empty: unlimited."""
        self._item = parse(rate) if rate.strip() else None
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def hit(self, client: str) -> None:
        """Count a request of `client`; raises `RateLimitExceeded` once the budget is spent."""
        if self._item is not None and not self._limiter.hit(self._item, client):
            raise self._exceeded(client)

    def check(self, client: str) -> None:
        """Raise `RateLimitExceeded` if `client` has no budget left, without counting."""
        if self._item is not None and not self._limiter.test(self._item, client):
            raise self._exceeded(client)

    def _exceeded(self, client: str) -> RateLimitExceeded:
        reset_at, _ = self._limiter.get_window_stats(self._item, client)
        return RateLimitExceeded(str(self._item), max(1, int(reset_at - time.time())))
