"""Pages queued by a commit in this process, handed straight to this process's dispatcher.

Without it, a page goes: commit, wake the worker, claim it in a transaction of its own, send.
With it, the transaction that queues the page also claims it for this process's dispatcher
(as a claim would: `claimed_until`, for the worker's lease), and right after the commit the
page is handed over and sent: one transaction, no wait. The guarantees are a claim's: if
this process dies before sending, the lease runs out (on SQLite, the next start releases
it) and the page is sent by whoever claims it next. Only as many pages are handed over as
the dispatcher has room for; the others are queued unclaimed and claimed as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Protocol

from pager.application.ports import ClaimedNotification


class Receiver(Protocol):
    def room(self) -> int:
        """How many more pages it could start sending now (any thread may ask)."""
        ...

    def accept(self, claimed: Sequence[ClaimedNotification]) -> None:
        """Start sending these (called from the committing thread; must not block)."""
        ...


class Handoff:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._receiver: Receiver | None = None
        self._lease = timedelta(0)
        self._reserved = 0

    def attach(self, receiver: Receiver, lease: timedelta) -> Callable[[], None]:
        """From now on, reserve room in `receiver`; returns the function that stops it."""
        with self._lock:
            self._receiver, self._lease = receiver, lease

        def detach() -> None:
            with self._lock:
                if self._receiver is receiver:
                    self._receiver = None

        return detach

    @property
    def attached(self) -> bool:
        with self._lock:
            return self._receiver is not None

    def reserve(self) -> timedelta | None:
        """Room for one more page in the transaction being written: the lease to claim it
        for, or None (no dispatcher here, or no room: leave it to a claim)."""
        with self._lock:
            if self._receiver is None or self._receiver.room() <= self._reserved:
                return None
            self._reserved += 1
            return self._lease

    def cancel(self, count: int) -> None:
        """The transaction that reserved `count` pages did not commit."""
        with self._lock:
            self._reserved -= count

    def deliver(self, claimed: Sequence[ClaimedNotification]) -> None:
        """The transaction that reserved these committed: hand them over."""
        with self._lock:
            receiver = self._receiver
        if receiver is not None:
            receiver.accept(claimed)  # it counts them in its room before this returns
        # Detached meanwhile (stopping): the claims lapse and the pages go out after all.
        self.cancel(len(claimed))
