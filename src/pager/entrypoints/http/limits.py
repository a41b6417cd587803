"""Request body size limit (413) and a per-credential rate limit (429)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pager.entrypoints.http.errors import ApiError


class BodyLimitMiddleware:
    """Reads the whole body (up to `max_bytes`) before the app sees it, so that a body over
    the limit is answered with 413 whatever the endpoint, and never half-processed."""

    def __init__(self, app: ASGIApp, max_bytes: int, reject: Callable[[Scope], ASGIApp]) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.reject = reject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            body = await read_within(scope, receive, self.max_bytes)
        except TooLarge:
            await self.reject(scope)(scope, receive, send)
            return
        if body is None:  # the client went away
            return
        await self.app(scope, replay(body, receive), send)


class TooLarge(Exception):
    """The request body is over the limit (said by its Content-Length, or found reading)."""


async def read_within(scope: Scope, receive: Receive, max_bytes: int) -> bytes | None:
    """The whole request body; TooLarge once it is over `max_bytes` (before reading any of
    it when its Content-Length says so). None if the client went away."""
    declared = _content_length(scope)
    if declared is not None and declared > max_bytes:
        raise TooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """`receive` for the app: the body read already, then whatever the server says next
    (a disconnect)."""
    pending = [body]

    async def replayed() -> Message:
        if pending:
            return {"type": "http.request", "body": pending.pop(), "more_body": False}
        return await receive()

    return replayed


def require_json(content_type: str) -> None:
    """Refuse (415) a body whose Content-Type says it is something other than JSON; a body
    without one is taken as JSON, as many monitoring tools send it."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media and media != "application/json" and not media.endswith("+json"):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"the body must be JSON (Content-Type: application/json), not {media}",
        )


async def json_body(request: Request) -> None:
    """A route dependency: `require_json` for a request that has a body."""
    headers = request.headers
    if headers.get("content-length", "0") != "0" or "transfer-encoding" in headers:
        require_json(headers.get("content-type", ""))


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """A token bucket per credential: `rate` requests a second on average, bursts of
    `burst`. Per process; with several processes each has its own budget."""

    def __init__(
        self, rate: float, burst: int, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._burst = max(burst, 1)
        self._now = monotonic
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        """Take one token for `key`, or raise a 429 ApiError saying when to come back."""
        if self._rate <= 0:
            return
        with self._lock:
            now = self._now()
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) > 100_000:  # forget idle credentials now and then
                    self._buckets.clear()
                bucket = self._buckets[key] = _Bucket(float(self._burst), now)
            bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
            bucket.updated = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return
            wait = (1 - bucket.tokens) / self._rate
        raise ApiError(
            429,
            "rate_limited",
            "too many requests for this credential; retry later",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )

    def forget(self, key: str) -> None:
        """Give `key` its whole burst again."""
        with self._lock:
            self._buckets.pop(key, None)
