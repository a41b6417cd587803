"""Group commit: concurrent commands share one transaction, so that a storm of alerts costs a
few commits a second instead of one per alert. Nobody waits for a batch to fill: while one
transaction commits, the next batch gathers; at low load a batch is a single command."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future

from pager.application.handlers import BatchCommand, Handlers, Outcome
from pager.domain.errors import DomainError

logger = logging.getLogger("pager.group_commit")

_Item = tuple[BatchCommand, "Future[Outcome]"]


class GroupCommitter:
    def __init__(self, handlers: Handlers, max_batch: int = 1000) -> None:
        self._handlers = handlers
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, command: BatchCommand) -> Future[Outcome]:
        """The future is set after the transaction holding the command has committed (or
        refused the command with a DomainError, or failed)."""
        future: Future[Outcome] = Future()
        self._ensure_started()
        self._queue.put((command, future))
        return future

    def submit_many(self, commands: Sequence[BatchCommand]) -> list[Future[Outcome]]:
        """Several commands, handled in this order (one webhook's alerts): queued together,
        they mostly share a transaction."""
        futures: list[Future[Outcome]] = [Future() for _ in commands]
        self._ensure_started()
        for command, future in zip(commands, futures, strict=True):
            self._queue.put((command, future))
        return futures

    def close(self) -> None:
        with self._lock:
            if self._thread is None:
                return
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="pager-group-commit", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(item)
            self._commit(batch)

    def _commit(self, batch: list[_Item]) -> None:
        try:
            results = self._handlers.execute_many([command for command, _ in batch])
        except Exception as error:  # the database is down, say: every caller hears of it
            logger.warning("a batch of %d commands failed: %s", len(batch), error)
            for _, future in batch:
                future.set_exception(error)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if isinstance(result, DomainError):
                future.set_exception(result)
            else:
                future.set_result(result)
