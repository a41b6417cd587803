"""The fast clock of demos and end-to-end tests (PAGER_CLOCK_SPEED)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from pager.adapters.clock import FastClock


def test_a_fast_clock_starts_now_and_runs_faster() -> None:
    before = datetime.now(UTC)
    clock = FastClock(speed=3600)
    started = clock.now()
    assert before <= started < before + timedelta(days=1)  # from now, not from some epoch
    time.sleep(0.01)
    assert clock.now() - started >= timedelta(seconds=36)  # 10 ms at 3600 times
