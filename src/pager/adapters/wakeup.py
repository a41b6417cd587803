"""Wakes this process's worker loops when a transaction has queued work for them."""

from __future__ import annotations

import threading
from collections.abc import Callable

TIMERS = "timers"
"""Work for the timers module: ack timers were queued."""
PAGES = "pages"
"""Work for the dispatcher: pages were queued that no dispatcher has claimed yet."""
EVERYTHING = frozenset({TIMERS, PAGES})


class Wakeup:
    """Thread-safe fan-out: handlers call `notify` after a commit that wrote timers or
    notifications, saying which; each worker loop subscribes a callback."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[Callable[[frozenset[str]], None]] = []

    def subscribe(self, callback: Callable[[frozenset[str]], None]) -> Callable[[], None]:
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers.remove(callback)

        return unsubscribe

    def notify(self, topics: frozenset[str] = EVERYTHING) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            callback(topics)
