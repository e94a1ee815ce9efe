"""The API's gate, before any route runs: rate limit, API key, body size.

An ASGI middleware, so that nothing of a request is read before it is allowed in: a client past
its budget is refused (429) before its key is checked, so keys cannot be guessed at full speed;
a wrong key (401) is refused before its body is read, and failed keys count against a stricter
budget of their own (`AUTH_FAILURE_LIMIT`); a body over `MAX_BODY_BYTES` is refused (413) as soon
as its declared length or the bytes read so far say so, never read whole into memory.

A client is its address: the socket's peer, or, behind a proxy, the last address of the
`TRUSTED_CLIENT_HEADER` the proxy sets (e.g. X-Forwarded-For). Never the key it sends: random keys
must not buy fresh budgets. `/api/v1/health` and `/metrics` are open and unlimited.
"""

from __future__ import annotations

import json
import secrets

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.rate_limit import RateLimiter, RateLimitExceeded

OPEN_PATHS = ("/api/v1/health",)
GUARDED_PREFIX = "/api/v1/"


def key_matches(supplied: str | None, expected: str) -> bool:
    """Constant-time comparison of any supplied header text (non-ASCII included) with the key."""
    if supplied is None:
        return False
    return secrets.compare_digest(supplied.encode(), expected.encode())


class RequestGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        api_key: str | None,
        limiter: RateLimiter,
        auth_failures: RateLimiter,
        max_body_bytes: int,
        trusted_client_header: str = "",
    ) -> None:
        self.app = app
        self._key = api_key
        self._limiter = limiter
        self._auth_failures = auth_failures
        self._max_body = max_body_bytes
        self._client_header = trusted_client_header.lower().encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or not path.startswith(GUARDED_PREFIX)
            or path.startswith(OPEN_PATHS)
        ):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        client = self.client_of(scope, headers)
        try:
            self._limiter.hit(client)
            if self._key is not None:
                self._auth_failures.check(client)  # too many wrong keys: not even compared
                supplied = headers.get(b"x-api-key")
                text = None if supplied is None else supplied.decode("latin-1")
                if not key_matches(text, self._key):
                    self._auth_failures.hit(client)
                    await _answer(send, 401, "missing or wrong X-API-Key header")
                    return
        except RateLimitExceeded as e:
            await _answer(send, 429, str(e), {"Retry-After": str(e.retry_after)})
            return
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self._max_body):
            await _answer(send, 413, f"request body over MAX_BODY_BYTES ({self._max_body})")
            return
        await self.app(scope, self._bounded(receive), send)

    def client_of(self, scope: Scope, headers: dict[bytes, bytes]) -> str:
        if self._client_header:
            forwarded = headers.get(self._client_header)
            if forwarded:
                return forwarded.decode("latin-1").split(",")[-1].strip()
        peer = scope.get("client")
        return peer[0] if peer else "unknown"

    def _bounded(self, receive: Receive) -> Receive:
        """`receive` that refuses, with a 413, a body longer than the limit (a chunked body
        declares no length)."""
        seen = 0

        async def bounded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self._max_body:
                    raise BodyTooLarge(self._max_body)
            return message

        return bounded


class BodyTooLarge(HTTPException):
    """A body without a declared length passed `MAX_BODY_BYTES` while being read: a 413, as the
    route's body parsing lets HTTP exceptions through."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over MAX_BODY_BYTES ({limit})")


async def _answer(send: Send, status: int, detail: str, extra: dict | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
