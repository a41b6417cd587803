from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FastClock:
    """Time that starts now and runs `speed` times faster than the wall clock (demos, and
    tests of what takes minutes)."""

    def __init__(self, speed: float) -> None:
        self._start = datetime.now(UTC)
        self._started = time.monotonic()
        self._speed = speed

    def now(self) -> datetime:
        return self._start + timedelta(seconds=(time.monotonic() - self._started) * self._speed)
