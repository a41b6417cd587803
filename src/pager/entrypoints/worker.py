"""The background worker: one loop per module (GoAlert's engine, in small): the timers
module fires due timers, the dispatcher module sends queued notifications. Each loop is
woken at once when work is committed (in process: Wakeup; PostgreSQL: LISTEN/NOTIFY) and
otherwise polls at most every `poll_seconds`."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Protocol

import psycopg
from sqlalchemy.engine import Engine

from pager import metrics
from pager.adapters.handoff import Handoff
from pager.adapters.notify.dispatcher import Dispatcher
from pager.adapters.storage.engine import outage
from pager.adapters.storage.uow import WORK_CHANNEL
from pager.adapters.wakeup import EVERYTHING, PAGES, TIMERS, Wakeup
from pager.application.handlers import Handlers
from pager.application.ports import Channel, Clock, DueTimer, TimerQueue
from pager.application.timers import UnknownTimer, command_for
from pager.bootstrap import App
from pager.domain.errors import DomainError
from pager.domain.events import IncidentOpened, LevelNotified

logger = logging.getLogger("pager.worker")


class Module(Protocol):
    name: str
    topic: str
    """The kind of work (`pager.adapters.wakeup`) a commit wakes this module for."""

    async def tick(self) -> int:
        """Do what is due now; return how much was done (0: nothing was due)."""
        ...

    async def next_due_at(self) -> datetime | None:
        """When this module next has work, if it knows; asked right after a tick that did
        nothing."""
        ...

    async def stop(self) -> None:
        """Finish or give back what this module holds."""
        ...

    def bind(self, wake: Callable[[], None]) -> None:
        """Learn how to wake its own loop (when capacity frees up, say)."""
        ...


class TimersModule:
    name = "timers"
    topic = TIMERS

    def __init__(
        self, queue: TimerQueue, handlers: Handlers, clock: Clock, batch: int = 200
    ) -> None:
        self._queue = queue
        self._handlers = handlers
        self._clock = clock
        self._batch = batch
        self._held: list[DueTimer] = []
        self._next_due: datetime | None = None

    async def tick(self) -> int:
        due, self._next_due = await asyncio.to_thread(
            self._queue.claim_due, self._clock.now(), self._batch
        )
        if due:
            self._held = due
            await asyncio.to_thread(self._fire, due)
            self._held = []
        return len(due)

    def _fire(self, timers: list[DueTimer]) -> None:
        """All claimed timers in one transaction: each one's command and its removal."""
        known: list[DueTimer] = []
        commands = []
        for timer in timers:
            try:
                commands.append(command_for(timer))
            except UnknownTimer as unknown:
                logger.error("%s; left for a version that knows it", unknown)
                continue
            known.append(timer)
        results = self._handlers.execute(commands)
        fired_at = self._clock.now()
        for timer, result in zip(known, results, strict=True):
            lateness = (fired_at - timer.due_at).total_seconds()
            if isinstance(result, DomainError):
                logger.warning("dropped %s timer of %s: %s", timer.kind, timer.subject, result)
                continue
            metrics.TIMER_LATENESS.observe(max(0.0, lateness))
            logger.info(
                "%s timer fired: %s level %d round %d, %.0f ms late: %s",
                timer.kind,
                timer.subject,
                timer.level,
                timer.round,
                lateness * 1000,
                ", ".join(type(e).__name__ for e in result.events) or "nothing to do",
            )
            for event in result.events:
                if isinstance(event, LevelNotified):
                    metrics.ESCALATIONS.inc()
                elif isinstance(event, IncidentOpened):  # a missed heartbeat, a window's end
                    metrics.INCIDENTS_OPENED.inc()

    async def next_due_at(self) -> datetime | None:
        """As the last tick found it (the worker asks right after a tick that did nothing)."""
        return self._next_due

    async def stop(self) -> None:
        await asyncio.to_thread(self._queue.release, self._held)

    def bind(self, wake: Callable[[], None]) -> None:
        pass


class DispatcherModule:
    name = "dispatcher"
    topic = PAGES

    def __init__(
        self,
        dispatcher: Dispatcher,
        handoff: Handoff | None = None,
        lease: timedelta = timedelta(seconds=60),
    ) -> None:
        """With `handoff`, pages queued by this process's commits go straight to the
        dispatcher (see `pager.adapters.handoff`)."""
        self._dispatcher = dispatcher
        self._handoff = handoff
        self._lease = lease

    async def tick(self) -> int:
        return await self._dispatcher.tick()

    async def next_due_at(self) -> datetime | None:
        return await self._dispatcher.next_due_at()

    async def stop(self) -> None:
        await self._dispatcher.stop()

    def bind(self, wake: Callable[[], None]) -> None:
        self._dispatcher.wake = wake
        if self._handoff is not None:
            self._dispatcher.take_handoffs(self._handoff, self._lease)


class Worker:
    def __init__(
        self,
        modules: list[Module],
        clock: Clock,
        wakeup: Wakeup,
        engine: Engine,
        poll_seconds: float = 1.0,
    ) -> None:
        self._modules = modules
        self._clock = clock
        self._wakeup = wakeup
        self._engine = engine
        self._poll = poll_seconds
        self._events = {module.name: asyncio.Event() for module in modules}
        self._stopping = asyncio.Event()

    def wake(self, topics: frozenset[str] = EVERYTHING) -> None:
        """Wake the module loops that have work of these kinds. Call from the worker's own
        event loop."""
        for module in self._modules:
            if module.topic in topics:
                self._events[module.name].set()

    def stop(self) -> None:
        self._stopping.set()
        self.wake()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()

        def wake_from_any_thread(topics: frozenset[str]) -> None:
            loop.call_soon_threadsafe(self.wake, topics)

        unsubscribe = self._wakeup.subscribe(wake_from_any_thread)
        for module in self._modules:
            module.bind(functools.partial(self.wake, frozenset({module.topic})))
        tasks = [asyncio.create_task(self._loop(module)) for module in self._modules]
        if self._engine.dialect.name == "postgresql":
            tasks.append(asyncio.create_task(self._listen()))
        logger.info("worker started: %s", ", ".join(m.name for m in self._modules))
        try:
            await self._stopping.wait()
        finally:
            unsubscribe()
            for module in self._modules:
                await module.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            logger.info("worker stopped")

    async def _loop(self, module: Module) -> None:
        event = self._events[module.name]
        while not self._stopping.is_set():
            event.clear()  # before the tick: a wake-up during the tick is not lost
            try:
                if await module.tick():
                    continue
                wait = await self._wait_for(module)
            except Exception as error:
                reason = outage(error)
                if reason is None:
                    logger.exception("worker module %s failed; retrying", module.name)
                else:  # one line a poll, not a traceback, while the database is away
                    logger.error("worker module %s: %s; retrying", module.name, reason)
                wait = self._poll
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), timeout=wait)

    async def _wait_for(self, module: Module) -> float:
        due = await module.next_due_at()
        if due is None:
            return self._poll
        seconds = (due - self._clock.now()).total_seconds()
        return min(self._poll, max(0.0, seconds))

    async def _listen(self) -> None:
        """LISTEN for commits made by other processes (pagerd api) on PostgreSQL."""
        url = self._engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while not self._stopping.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {WORK_CHANNEL}")
                    self.wake()  # anything committed while we were not listening
                    async for _ in conn.notifies():
                        self.wake()
            except (psycopg.Error, OSError) as error:
                logger.warning("LISTEN %s lost (%s); polling until it is back", WORK_CHANNEL, error)
                await asyncio.sleep(self._poll)


def build_worker(app: App, channels: Mapping[str, Channel] | None = None) -> Worker:
    """The worker of `app`: its timers module and its dispatcher (sending through
    `channels`, by default those the settings configure). Raises ValueError for a bad
    channel setting."""
    settings = app.settings
    parts = app.worker_parts(channels)
    modules: list[Module] = [
        TimersModule(parts.timers, app.handlers, app.clock),
        DispatcherModule(
            parts.dispatcher, app.handoff, timedelta(seconds=settings.worker_lease_seconds)
        ),
    ]
    return Worker(modules, app.clock, app.wakeup, app.engine, settings.worker_poll_seconds)
