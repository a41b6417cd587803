"""The dispatcher: sends claimed notifications through their channels, after the commit that
queued them, and records every attempt. Transient failures are retried with exponential
backoff and jitter for as long as the delivery time limit allows; permanent ones are final.
While pages are in flight their claims are kept alive, so that nobody sends them twice."""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pager import metrics
from pager.adapters.handoff import Handoff
from pager.application.ports import (
    Attempt,
    Channel,
    ClaimedNotification,
    Clock,
    DeliveryFailed,
    Outbox,
    OutgoingNotification,
)

logger = logging.getLogger("pager.dispatcher")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """A transient failure is tried again, with capped exponential backoff and jitter, until
    `max_seconds` after the page was queued: time alone ends delivery, never a count of
    attempts, so that a provider down for any time within the limit loses no page. (A page
    whose incident is acknowledged or resolved meanwhile is cancelled instead.)"""

    max_seconds: float = 3600.0
    base_seconds: float = 1.0
    cap_seconds: float = 60.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Jittered exponential backoff after attempt number `attempt`; a provider's
        Retry-After is honoured."""
        # The exponent is bounded: a long limit with a short cap makes attempts by the
        # thousand, and 2.0 ** 1024 overflows.
        ceiling = min(self.cap_seconds, self.base_seconds * 2.0 ** min(attempt - 1, 64))
        delay = random.uniform(ceiling / 2, ceiling)
        return max(delay, retry_after or 0.0)

    def retry_at(
        self, attempt: int, created_at: datetime, now: datetime, retry_after: float | None
    ) -> datetime | None:
        """When to try again after attempt number `attempt` failed transiently at `now`; None
        once the page has been queued for `max_seconds`. The last try falls on the limit
        itself, however long the backoff or the Retry-After."""
        deadline = created_at + timedelta(seconds=self.max_seconds)
        if now >= deadline:
            return None
        return min(now + timedelta(seconds=self.delay(attempt, retry_after)), deadline)


def links_none(_: ClaimedNotification) -> tuple[str | None, str | None]:
    return None, None


def no_reply_code(_: ClaimedNotification) -> str | None:
    return None


class Dispatcher:
    def __init__(
        self,
        outbox: Outbox,
        channels: Mapping[str, Channel],
        clock: Clock,
        retry: RetryPolicy | None = None,
        links: Callable[[ClaimedNotification], tuple[str | None, str | None]] = links_none,
        concurrency: int = 50,
        reply_code: Callable[[ClaimedNotification], str | None] = no_reply_code,
    ) -> None:
        self._outbox = outbox
        self._channels = channels
        self._clock = clock
        self._retry = retry or RetryPolicy()
        self._links = links
        self._reply_code = reply_code
        self._concurrency = concurrency
        self._in_flight: dict[asyncio.Task[None], ClaimedNotification] = {}
        self._holding: dict[str, asyncio.Task[None]] = {}
        """Which task holds each page in flight: one claimed again meanwhile is not started
        twice."""
        self._renewer: asyncio.Task[None] | None = None
        self.wake: Callable[[], None] = lambda: None
        """Wakes the worker loop that ticks this dispatcher: when a send slot frees up, or a
        retry falls due before the loop would look again."""
        self._to_record: list[tuple[Attempt, asyncio.Future[None]]] = []
        self._recorder: asyncio.Task[None] | None = None
        self._next_due: datetime | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._arriving = 0
        """Handed over (`accept`) and not yet started on the loop."""
        self._arriving_lock = threading.Lock()
        self._detach: Callable[[], None] = lambda: None

    def take_handoffs(self, handoff: Handoff, lease: timedelta) -> None:
        """Take the pages this process's commits queue straight from them (see `handoff`),
        from now on; call on the loop this dispatcher runs on."""
        self._loop = asyncio.get_running_loop()
        self._detach = handoff.attach(self, lease)

    def room(self) -> int:
        return self._concurrency - len(self._in_flight) - self._arriving

    def accept(self, claimed: Sequence[ClaimedNotification]) -> None:
        """Pages claimed for this dispatcher by a commit in another thread: sent at once."""
        assert self._loop is not None, "take_handoffs first"
        with self._arriving_lock:
            self._arriving += len(claimed)
        try:
            self._loop.call_soon_threadsafe(self._start_handed, list(claimed))
        except RuntimeError:  # the loop is closed: the claims lapse, and are sent after all
            with self._arriving_lock:
                self._arriving -= len(claimed)

    def _start_handed(self, claimed: list[ClaimedNotification]) -> None:
        with self._arriving_lock:
            self._arriving -= len(claimed)
        self._start(claimed)

    def _start(self, claimed: Sequence[ClaimedNotification]) -> int:
        started = 0
        for notification in claimed:
            holder = self._holding.get(notification.id)
            # Claimed again with as many attempts recorded: its claim lapsed while it was in
            # flight (the renewal failed or came late), and the send under way records it.
            # (With more, the holder's attempt is recorded, a retry is due and the holder is
            # only finishing: that retry is sent.)
            if holder is not None and notification.attempts <= self._in_flight[holder].attempts:
                logger.warning(
                    "notification %s was claimed again while in flight; not sent twice",
                    notification.id,
                )
                continue
            task = asyncio.create_task(self._deliver(notification))
            self._in_flight[task] = notification
            self._holding[notification.id] = task
            task.add_done_callback(self._done)
            started += 1
        if started and (self._renewer is None or self._renewer.done()):
            self._renewer = asyncio.create_task(self._renew_claims())
        return started

    async def tick(self) -> int:
        """Claim what is due, up to the free capacity, and start sending it without waiting:
        a slow provider must not hold back the next page. Returns how many it started."""
        free = self.room()
        if free <= 0:
            return 0
        claimed, self._next_due = await asyncio.to_thread(
            self._outbox.claim, self._clock.now(), free
        )
        return self._start(claimed)

    def _done(self, task: asyncio.Task[None]) -> None:
        notification = self._in_flight.pop(task, None)
        if notification is not None and self._holding.get(notification.id) is task:
            del self._holding[notification.id]
        if len(self._in_flight) == self._concurrency - 1:  # it was full: look for more now
            self.wake()

    async def next_due_at(self) -> datetime | None:
        """As the last tick found it (the worker asks right after a tick that did nothing)."""
        if self.room() <= 0:
            return None  # woken by `wake` instead
        return self._next_due

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Let sends in flight finish (up to the grace period); give the rest back."""
        self._detach()
        await asyncio.sleep(0)  # pages handed over just before: in flight now
        await self._stop_sends(grace_seconds)
        if self._renewer is not None:
            self._renewer.cancel()
            await asyncio.gather(self._renewer, return_exceptions=True)
        for channel in self._channels.values():
            close = getattr(channel, "close", None)
            if close is not None:
                await close()

    async def _stop_sends(self, grace_seconds: float) -> None:
        if not self._in_flight:
            return
        _, pending = await asyncio.wait(list(self._in_flight), timeout=grace_seconds)
        unfinished = [self._in_flight[task] for task in pending]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.to_thread(self._outbox.release, unfinished)

    async def _renew_claims(self) -> None:
        """While pages are in flight, extend their claims every third of the lease, all in
        one statement: a page waiting for a pooled connection or a slow provider is never
        taken for one its sender abandoned, by this process or another."""
        period = self._outbox.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(period)
            ids = list(self._holding)
            if not ids:
                return  # started again by the next page
            try:
                await asyncio.to_thread(self._outbox.renew, ids, self._clock.now())
            except Exception:
                # The claims may lapse; the in-flight set still keeps this process from
                # sending a page twice.
                logger.exception("could not extend the claims of %d pages in flight", len(ids))

    async def _deliver(self, claimed: ClaimedNotification) -> None:
        try:
            await self._send(claimed)
        except Exception:
            # Most likely the database is unreachable: the claim lapses and another attempt
            # is made (at least once), so this is logged, not lost.
            logger.exception("could not record the delivery of notification %s", claimed.id)

    async def _send(self, claimed: ClaimedNotification) -> None:
        incident_url, ack_url = self._links(claimed)
        outgoing = OutgoingNotification(
            id=claimed.id,
            incident_id=claimed.incident_id,
            service_id=claimed.service_id,
            service_name=claimed.service_name,
            message=claimed.message,
            level=claimed.level,
            round=claimed.round,
            target=claimed.target,
            attempt=claimed.attempts + 1,
            opened_at=claimed.opened_at,
            alert_count=claimed.alert_count,
            incident_url=incident_url,
            ack_url=ack_url,
            reply_code=self._reply_code(claimed),
            severity=claimed.severity,
            content=claimed.content,
            urgency=claimed.urgency,
        )
        channel_name = claimed.target.type
        channel = self._channels.get(channel_name)
        if channel is None:
            # A page of a type this Pager has no channel for: failed for good, with the
            # reason, so the incident shows it (never retried, never silently dropped).
            reason = f"{channel_name} pages are not yet supported"
            await self._failed(claimed, DeliveryFailed(reason, transient=False))
            return
        try:
            provider_id = await channel.send(outgoing)
        except DeliveryFailed as failure:
            await self._failed(claimed, failure)
        except Exception as error:  # a bug in a channel must not stop the others
            logger.exception("channel %s crashed on notification %s", channel_name, claimed.id)
            await self._failed(claimed, DeliveryFailed(f"internal error: {error}", transient=True))
        else:
            if getattr(channel, "delivers", True) is False:  # the log: nobody got it
                await self._record(Attempt(claimed, self._clock.now(), "logged"))
                metrics.DELIVERY_ATTEMPTS.labels(channel_name, "logged").inc()
                metrics.NOTIFICATIONS_LOGGED.labels(channel_name).inc()
                return
            await self._record(Attempt(claimed, self._clock.now(), "sent", provider_id=provider_id))
            metrics.DELIVERY_ATTEMPTS.labels(channel_name, "sent").inc()
            metrics.NOTIFICATIONS_SENT.labels(channel_name).inc()
            logger.info(
                "sent %s notification %s (incident %s, level %d, attempt %d)",
                channel_name,
                claimed.id,
                claimed.incident_id,
                claimed.level,
                outgoing.attempt,
            )

    async def _failed(self, claimed: ClaimedNotification, failure: DeliveryFailed) -> None:
        channel_name = claimed.target.type
        now = self._clock.now()
        attempt = claimed.attempts + 1
        retry_at = None
        if failure.transient:
            retry_at = self._retry.retry_at(attempt, claimed.created_at, now, failure.retry_after)
        if retry_at is not None:
            metrics.DELIVERY_ATTEMPTS.labels(channel_name, "retry").inc()
            logger.warning(
                "%s notification %s failed (attempt %d), retrying at %s: %s",
                channel_name,
                claimed.id,
                attempt,
                retry_at.isoformat(timespec="seconds"),
                failure.reason,
            )
            await self._record(Attempt(claimed, now, "retry", failure.reason, retry_at=retry_at))
            if self._next_due is None or retry_at < self._next_due:
                # The loop sleeps until what it last saw due, or a poll: not past this retry.
                self._next_due = retry_at
                self.wake()
            return
        reason = failure.reason
        if failure.transient:
            reason = (
                f"not delivered within {self._retry.max_seconds:.10g} s "
                f"(PAGER_DELIVERY_MAX_SECONDS), after {attempt} attempts: {reason}"
            )
        metrics.DELIVERY_ATTEMPTS.labels(channel_name, "failed").inc()
        metrics.NOTIFICATIONS_FAILED.labels(channel_name).inc()
        logger.error(
            "%s notification %s (incident %s, level %d) failed for good: %s",
            channel_name,
            claimed.id,
            claimed.incident_id,
            claimed.level,
            reason,
        )
        await self._record(Attempt(claimed, now, "failed", reason))

    async def _record(self, attempt: Attempt) -> None:
        """Queue the attempt for the recorder, which writes whatever has gathered in one
        transaction; return once it is committed."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._to_record.append((attempt, done))
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.create_task(self._write_records())
        await done

    async def _write_records(self) -> None:
        while self._to_record:
            # The pages have gone out: let the attempts that finish on this turn of the loop
            # join them, in one transaction. (Waiting longer would hold their send slots.)
            await asyncio.sleep(0)
            batch, self._to_record = self._to_record, []
            try:
                await asyncio.to_thread(self._outbox.record, [attempt for attempt, _ in batch])
            except Exception as error:
                for _, done in batch:
                    done.set_exception(error)
            else:
                for _, done in batch:
                    done.set_result(None)
