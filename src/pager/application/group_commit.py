"""Group commit: concurrent commands share one transaction, so that a storm of alerts costs a
few commits a second instead of one per alert. Nobody waits for a batch to fill: while one
transaction commits, the next batch gathers; at low load a batch is a single command. The
one wait (a millisecond at most) is for callers the last batch answered, when it answered
several: on a few busy connections they send again at once."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from pager.application.handlers import Handlers, Outcome, Result
from pager.domain.commands import ServiceCommand

logger = logging.getLogger("pager.group_commit")


@dataclass(slots=True)
class _Group:
    """Commands queued together, with one future: for one command its outcome (a refusal
    raised), for several the list of their outcomes and refusals, in order. The future is
    an asyncio one, of `loop`, for a caller on an event loop."""

    commands: Sequence[ServiceCommand]
    future: Future[Any] | asyncio.Future[Any]
    single: bool
    loop: asyncio.AbstractEventLoop | None = None
    queued_at: float = field(default_factory=time.monotonic)

    def outcome(self, results: Sequence[Result]) -> Any:
        if not self.single:
            return list(results)
        return results[0]  # a DomainError is raised


def _settle(future: Future[Any] | asyncio.Future[Any], outcome: Any) -> None:
    if future.cancelled():  # an asyncio caller that went away
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _settle_all(settled: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for future, outcome in settled:
        _settle(future, outcome)


class GroupCommitter:
    def __init__(
        self, handlers: Handlers, max_batch: int = 1000, gather_seconds: float = 0.001
    ) -> None:
        self._handlers = handlers
        self._max_batch = max_batch
        self._gather = gather_seconds
        self._queue: queue.SimpleQueue[_Group | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, command: ServiceCommand) -> Future[Outcome]:
        """The future is set after the transaction holding the command has committed (or
        refused the command with a DomainError, or failed)."""
        future: Future[Outcome] = Future()
        self._put(_Group((command,), future, single=True))
        return future

    def submit_many(self, commands: Sequence[ServiceCommand]) -> Future[list[Result]]:
        """Several commands, handled in this order and committed in one transaction (one
        webhook's alerts); the future holds each one's outcome or refusal. One future for
        them all: a future per command cost more than deciding the command."""
        future: Future[list[Result]] = Future()
        if not commands:
            future.set_result([])
            return future
        self._put(_Group(commands, future, single=False))
        return future

    def submit_async(self, commands: Sequence[ServiceCommand]) -> asyncio.Future[list[Result]]:
        """`submit_many` for a caller on a running event loop. The batch's asyncio callers
        are settled with one call into each loop, not one each: a storm's requests are
        answered by the dozen."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Result]] = loop.create_future()
        if not commands:
            future.set_result([])
            return future
        self._put(_Group(commands, future, single=False, loop=loop))
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
        answered = 0  # callers the last batch answered...
        answered_at = 0.0  # ...and when
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            size = len(first.commands)
            back = int(first.queued_at > answered_at)
            deadline = None
            while size < self._max_batch:
                try:
                    if deadline is None:
                        group = self._queue.get_nowait()
                    else:
                        group = self._queue.get(timeout=max(deadline - time.monotonic(), 0))
                except queue.Empty:
                    # Callers on a few connections send again as soon as they are answered:
                    # when the last batch answered several, a moment's wait for them lets
                    # them share this transaction's commit, rather than half of them wait
                    # for a commit of their own (docs/benchmarks.md, "Against Alertmanager").
                    if deadline is not None or answered < 2 or back >= answered:
                        break
                    deadline = time.monotonic() + self._gather
                    continue
                if group is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(group)
                size += len(group.commands)
                back += group.queued_at > answered_at
                if deadline is not None and back >= answered:
                    deadline = None  # all are back: take what else is queued, then commit
            answered, answered_at = len(batch), self._commit(batch)

    def _commit(self, batch: list[_Group]) -> float:
        """Decide and commit the batch, then answer its callers; the time they were
        answered (just before)."""
        commands = [command for group in batch for command in group.commands]
        outcomes: list[Any]
        try:
            results = self._handlers.execute(commands)
        except Exception as error:  # the database is down, say: every caller hears of it
            logger.debug("a batch of %d commands failed: %s", len(commands), error)
            outcomes = [error] * len(batch)
        else:
            outcomes = []
            start = 0
            for group in batch:
                end = start + len(group.commands)
                outcomes.append(group.outcome(results[start:end]))
                start = end
        answered_at = time.monotonic()
        loops: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]]
        loops = defaultdict(list)
        for group, outcome in zip(batch, outcomes, strict=True):
            if group.loop is None:
                _settle(group.future, outcome)
            else:
                assert isinstance(group.future, asyncio.Future)
                loops[group.loop].append((group.future, outcome))
        for loop, settled in loops.items():
            try:
                loop.call_soon_threadsafe(_settle_all, settled)
            except RuntimeError:  # that loop is closed: nobody is waiting any more
                logger.debug("dropped %d outcomes for a closed event loop", len(settled))
        return answered_at
