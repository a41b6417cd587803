"""Work run in separate processes (multiprocessing, spawn) by concurrency tests."""

from __future__ import annotations

import threading
import time
from typing import Any

from pager.adapters.clock import SystemClock
from pager.adapters.storage.engine import create_engine
from pager.adapters.storage.uow import SqlUnitOfWork
from pager.application.handlers import Handlers


def fire_alerts(
    database_url: str, service_id: str, threads: int, start_at: float, results: Any
) -> None:
    """Send `threads` alerts for one service at once, starting at wall time `start_at`."""
    engine = create_engine(database_url)
    handlers = Handlers(lambda: SqlUnitOfWork(engine), SystemClock())
    barrier = threading.Barrier(threads)
    actions: list[str] = []

    def one(n: int) -> None:
        barrier.wait()
        time.sleep(max(0.0, start_at - time.time()))
        actions.append(handlers.receive_alert(service_id, f"alert {n}").action)

    workers = [threading.Thread(target=one, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    engine.dispose()
    results.put(actions)
