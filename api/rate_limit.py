"""Per-client request budgets (RATE_LIMIT, e.g. "300/minute"), on the `limits` library.

A client is its API key when it sends one (clients behind one proxy stay apart), else its address.
The moving window lives in this process's memory: each API replica counts on its own.
"""

from __future__ import annotations

import time

from fastapi import HTTPException, Request
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


class RateLimiter:
    def __init__(self, rate: str) -> None:
        """`rate` in the limits notation ("300/minute", "10/second"); empty: unlimited."""
        self._item = parse(rate) if rate.strip() else None
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    @staticmethod
    def client_of(request: Request) -> str:
        key = request.headers.get("X-API-Key")
        if key:
            return f"key:{key}"
        return f"addr:{request.client.host if request.client else 'unknown'}"

    def check(self, request: Request) -> None:
        """Count the request; 429 with Retry-After once the client's budget is spent."""
        if self._item is None:
            return
        client = self.client_of(request)
        if not self._limiter.hit(self._item, client):
            reset_at, _ = self._limiter.get_window_stats(self._item, client)
            retry_after = max(1, int(reset_at - time.time()))
            raise HTTPException(
                429,
                detail=f"rate limit of {self._item} exceeded; retry in {retry_after} s",
                headers={"Retry-After": str(retry_after)},
            )
