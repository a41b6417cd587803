"""Group commit: concurrent commands share one transaction, so that a storm of alerts costs a
few commits a second instead of one per alert. Nobody waits for a batch to fill: while one
transaction commits, the next batch gathers; at low load a batch is a single command."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from pager.application.handlers import BatchCommand, Handlers, Outcome
from pager.domain.errors import DomainError

logger = logging.getLogger("pager.group_commit")

Result = Outcome | DomainError


@dataclass(slots=True)
class _Group:
    """Commands queued together, with one future: for one command its outcome (a refusal
    raised), for several the list of their outcomes and refusals, in order."""

    commands: Sequence[BatchCommand]
    future: Future[Any]
    single: bool

    def settle(self, results: Sequence[Result]) -> None:
        if not self.single:
            self.future.set_result(list(results))
        elif isinstance(results[0], DomainError):
            self.future.set_exception(results[0])
        else:
            self.future.set_result(results[0])


class GroupCommitter:
    def __init__(self, handlers: Handlers, max_batch: int = 1000) -> None:
        self._handlers = handlers
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Group | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, command: BatchCommand) -> Future[Outcome]:
        """The future is set after the transaction holding the command has committed (or
        refused the command with a DomainError, or failed)."""
        future: Future[Outcome] = Future()
        self._put(_Group((command,), future, single=True))
        return future

    def submit_many(self, commands: Sequence[BatchCommand]) -> Future[list[Result]]:
        """Several commands, handled in this order and committed in one transaction (one
        webhook's alerts); the future holds each one's outcome or refusal. One future for
        them all: a future per command cost more than deciding the command."""
        future: Future[list[Result]] = Future()
        if not commands:
            future.set_result([])
            return future
        self._put(_Group(commands, future, single=False))
        return future

    def close(self) -> None:
        with self._lock:
            if self._thread is None:
                return
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _put(self, group: _Group) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="pager-group-commit", daemon=True
                    )
                    self._thread.start()
        self._queue.put(group)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            size = len(first.commands)
            while size < self._max_batch:
                try:
                    group = self._queue.get_nowait()
                except queue.Empty:
                    break
                if group is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(group)
                size += len(group.commands)
            self._commit(batch)

    def _commit(self, batch: list[_Group]) -> None:
        commands = [command for group in batch for command in group.commands]
        try:
            results = self._handlers.execute_many(commands)
        except Exception as error:  # the database is down, say: every caller hears of it
            logger.warning("a batch of %d commands failed: %s", len(commands), error)
            for group in batch:
                group.future.set_exception(error)
            return
        start = 0
        for group in batch:
            end = start + len(group.commands)
            group.settle(results[start:end])
            start = end
