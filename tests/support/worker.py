"""Run Pager's worker in a background thread of the test process."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import sqlalchemy as sa

from pager.adapters.storage import tables as t
from pager.application.ports import Channel
from pager.bootstrap import App
from pager.entrypoints.worker import Worker, build_worker


@contextmanager
def running_worker(app: App, channels: Mapping[str, Channel] | None = None) -> Iterator[Worker]:
    """The worker of `app` (sending through `channels`, by default those its settings
    configure), stopped on leaving: sends in flight are waited for."""
    with running(build_worker(app, channels)) as worker:
        yield worker


@contextmanager
def running(worker: Worker) -> Iterator[Worker]:
    """Run `worker` in a background thread; stop it on leaving."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(worker.run(),))
    thread.start()
    try:
        yield worker
    finally:
        loop.call_soon_threadsafe(worker.stop)
        thread.join(timeout=30)
        loop.close()
        assert not thread.is_alive(), "the worker did not stop"


def wait_until(condition: Callable[[], object], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.02)


def notification_statuses(app: App) -> list[tuple[int, str, str, int]]:
    """(level, target key, status, attempts) of every notification, in a stable order."""
    n = t.notifications
    with app.engine.connect() as conn:
        rows = conn.execute(
            sa.select(n.c.level, n.c.target_key, n.c.status, n.c.attempts).order_by(
                n.c.round, n.c.level, n.c.target_key
            )
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]
