"""The dispatcher with hand-written fakes for its ports (the outbox, the channels, the clock):
what each attempt records and logs, Retry-After against the backoff, the time limit, and a
full dispatcher waking its loop as soon as a send slot frees up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from pager.adapters.handoff import Handoff
from pager.adapters.notify.dispatcher import Dispatcher, RetryPolicy
from pager.application.ports import (
    Attempt,
    ClaimedNotification,
    DeliveryFailed,
    OutgoingNotification,
)
from pager.domain.policy import EmailTarget
from tests.support.clock import FakeClock

QUEUED = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)


def page(number: int, attempts: int = 0) -> ClaimedNotification:
    return ClaimedNotification(
        id=f"n{number}",
        incident_id="i1",
        service_id="db",
        service_name="Database",
        message="disk full",
        alert_count=3,
        opened_at=QUEUED,
        level=2,
        round=1,
        target=EmailTarget(f"oncall{number}@example.com"),
        attempts=attempts,
        created_at=QUEUED,
    )


class FakeOutbox:
    def __init__(self, *pages: ClaimedNotification) -> None:
        self.queued = list(pages)
        self.recorded: list[Attempt] = []
        self.released: list[ClaimedNotification] = []
        self.limits: list[int] = []

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=30)

    def claim(
        self, now: datetime, limit: int = 100
    ) -> tuple[list[ClaimedNotification], datetime | None]:
        self.limits.append(limit)
        claimed, self.queued = self.queued[:limit], self.queued[limit:]
        return claimed, None

    def renew(self, ids: Sequence[str], now: datetime) -> None:
        pass

    def record(self, attempts: Sequence[Attempt]) -> None:
        self.recorded.extend(attempts)

    def release(self, claimed: list[ClaimedNotification]) -> None:
        self.released.extend(claimed)


class FailingChannel:
    def __init__(self, failure: DeliveryFailed) -> None:
        self.failure = failure
        self.sent: list[OutgoingNotification] = []

    async def send(self, notification: OutgoingNotification) -> str | None:
        self.sent.append(notification)
        raise self.failure


class HeldChannel:
    """Sends once the test lets it go."""

    def __init__(self) -> None:
        self.go = asyncio.Event()

    async def send(self, notification: OutgoingNotification) -> str | None:
        await self.go.wait()
        return f"provider-{notification.id}"


async def deliver(dispatcher: Dispatcher) -> None:
    await dispatcher.tick()
    await dispatcher.stop(grace_seconds=5)


def test_a_permanent_failure_is_recorded_and_logged_once_for_good(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outbox = FakeOutbox(page(1, attempts=2))
    channel = FailingChannel(DeliveryFailed("refused recipient", transient=False))
    clock = FakeClock(QUEUED + timedelta(seconds=5))
    dispatcher = Dispatcher(outbox, {"email": channel}, clock)
    with caplog.at_level(logging.ERROR, logger="pager.dispatcher"):
        asyncio.run(deliver(dispatcher))
    [sent] = channel.sent
    assert sent == OutgoingNotification(
        id="n1",
        incident_id="i1",
        service_id="db",
        service_name="Database",
        message="disk full",
        level=2,
        round=1,
        target=EmailTarget("oncall1@example.com"),
        attempt=3,
        opened_at=QUEUED,
        alert_count=3,
        incident_url=None,
        ack_url=None,
    )
    [attempt] = outbox.recorded
    assert (attempt.outcome, attempt.error, attempt.at) == (
        "failed",
        "refused recipient",
        clock.now(),
    )
    assert attempt.retry_at is None
    assert [r.getMessage() for r in caplog.records] == [
        "email notification n1 (incident i1, level 2) failed for good: refused recipient"
    ]


def test_a_transient_failure_at_the_time_limit_says_so(caplog: pytest.LogCaptureFixture) -> None:
    outbox = FakeOutbox(page(1, attempts=6))
    channel = FailingChannel(DeliveryFailed("connection refused", transient=True))
    clock = FakeClock(QUEUED + timedelta(seconds=600))
    dispatcher = Dispatcher(outbox, {"email": channel}, clock, RetryPolicy(max_seconds=600))
    with caplog.at_level(logging.ERROR, logger="pager.dispatcher"):
        asyncio.run(deliver(dispatcher))
    [attempt] = outbox.recorded
    reason = (
        "not delivered within 600 s (PAGER_DELIVERY_MAX_SECONDS), after 7 attempts: "
        "connection refused"
    )
    assert (attempt.outcome, attempt.error) == ("failed", reason)
    assert [r.getMessage() for r in caplog.records] == [
        f"email notification n1 (incident i1, level 2) failed for good: {reason}"
    ]


def test_a_retry_is_logged_once_as_a_warning_naming_channel_page_and_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outbox = FakeOutbox(page(1))
    channel = FailingChannel(DeliveryFailed("connection refused", transient=True, retry_after=5))
    dispatcher = Dispatcher(outbox, {"email": channel}, FakeClock(QUEUED), RetryPolicy())
    with caplog.at_level(logging.WARNING, logger="pager.dispatcher"):
        asyncio.run(deliver(dispatcher))
    assert [r.getMessage() for r in caplog.records] == [
        "email notification n1 failed (attempt 1), retrying at 2026-01-01T03:00:05+00:00: "
        "connection refused"
    ]


@pytest.mark.parametrize(("attempt", "low", "high"), [(1, 1.0, 2.0), (2, 2.0, 4.0), (3, 4.0, 8.0)])
def test_the_backoff_doubles_from_its_base_after_each_attempt(
    attempt: int, low: float, high: float
) -> None:
    # Jittered within the upper half of its ceiling: base x 2^(attempt - 1).
    policy = RetryPolicy(base_seconds=2.0, cap_seconds=1000.0)
    delays = [policy.delay(attempt, None) for _ in range(200)]
    assert all(low <= delay <= high for delay in delays)
    assert max(delays) > (low + high) / 2  # the whole upper half is used


def test_a_retry_honours_retry_after_and_wakes_the_loop_for_it() -> None:
    outbox = FakeOutbox(page(1))
    channel = FailingChannel(DeliveryFailed("rate limited", transient=True, retry_after=90))
    clock = FakeClock(QUEUED)
    dispatcher = Dispatcher(outbox, {"email": channel}, clock, RetryPolicy(cap_seconds=2))
    woken: list[bool] = []
    dispatcher.wake = lambda: woken.append(True)
    asyncio.run(deliver(dispatcher))
    [attempt] = outbox.recorded
    assert (attempt.outcome, attempt.error) == ("retry", "rate limited")
    assert attempt.retry_at == QUEUED + timedelta(seconds=90)
    assert woken == [True]
    assert asyncio.run(dispatcher.next_due_at()) == QUEUED + timedelta(seconds=90)


def test_a_full_dispatcher_claims_nothing_and_wakes_its_loop_when_a_slot_frees_up() -> None:
    async def scenario() -> tuple[list[int], list[bool], list[int]]:
        outbox = FakeOutbox(page(1), page(2), page(3))
        channel = HeldChannel()
        dispatcher = Dispatcher(outbox, {"email": channel}, FakeClock(QUEUED), concurrency=2)
        woken: list[bool] = []
        dispatcher.wake = lambda: woken.append(True)
        started = [await dispatcher.tick()]
        started.append(await dispatcher.tick())  # full: no claim at all
        assert await dispatcher.next_due_at() is None  # it waits to be woken instead
        rooms = [dispatcher.room()]
        channel.go.set()
        for _ in range(2000):  # the attempts are recorded in a thread: 2 s at most
            if dispatcher.room() == 2:
                break
            await asyncio.sleep(0.001)
        rooms.append(dispatcher.room())
        started.append(await dispatcher.tick())
        await dispatcher.stop(grace_seconds=5)
        assert [a.outcome for a in outbox.recorded] == ["sent"] * 3
        assert [a.provider_id for a in outbox.recorded] == [
            "provider-n1",
            "provider-n2",
            "provider-n3",
        ]
        assert outbox.limits == [2, 2]
        return started, woken, rooms

    started, woken, rooms = asyncio.run(scenario())
    assert started == [2, 0, 1]
    assert rooms == [0, 2]
    assert woken == [True]  # once, when the first of the two slots freed up


def test_a_sent_page_is_one_info_line_naming_channel_page_incident_and_attempt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    channel = HeldChannel()
    channel.go.set()
    dispatcher = Dispatcher(FakeOutbox(page(1, attempts=2)), {"email": channel}, FakeClock(QUEUED))
    with caplog.at_level(logging.INFO, logger="pager.dispatcher"):
        asyncio.run(deliver(dispatcher))
    assert [r.getMessage() for r in caplog.records] == [
        "sent email notification n1 (incident i1, level 2, attempt 3)"
    ]


class OutboxWithMoreLater(FakeOutbox):
    """Says a retry is due later, as a claim that found one does."""

    def claim(
        self, now: datetime, limit: int = 100
    ) -> tuple[list[ClaimedNotification], datetime | None]:
        claimed, _ = super().claim(now, limit)
        return claimed, QUEUED + timedelta(seconds=30)


def test_a_full_dispatcher_waits_to_be_woken_even_with_a_retry_due_later() -> None:
    async def scenario() -> tuple[int, datetime | None]:
        channel = HeldChannel()
        dispatcher = Dispatcher(
            OutboxWithMoreLater(page(1), page(2)),
            {"email": channel},
            FakeClock(QUEUED),
            concurrency=2,
        )
        await dispatcher.tick()
        room, due = dispatcher.room(), await dispatcher.next_due_at()
        channel.go.set()
        await dispatcher.stop(grace_seconds=5)
        return room, due

    assert asyncio.run(scenario()) == (0, None)  # a freed slot wakes it, not the clock


def test_a_dispatcher_with_one_slot_free_still_wakes_for_what_is_due_next() -> None:
    async def scenario() -> tuple[int, datetime | None]:
        channel = HeldChannel()
        dispatcher = Dispatcher(
            OutboxWithMoreLater(page(1)), {"email": channel}, FakeClock(QUEUED), concurrency=2
        )
        await dispatcher.tick()
        room, due = dispatcher.room(), await dispatcher.next_due_at()
        channel.go.set()
        await dispatcher.stop(grace_seconds=5)
        return room, due

    assert asyncio.run(scenario()) == (1, QUEUED + timedelta(seconds=30))


def test_pages_handed_over_take_their_slots_before_the_loop_starts_them() -> None:
    async def scenario() -> list[int]:
        channel = HeldChannel()
        dispatcher = Dispatcher(FakeOutbox(), {"email": channel}, FakeClock(QUEUED), concurrency=5)
        dispatcher.take_handoffs(Handoff(), timedelta(seconds=30))
        dispatcher.accept([page(1), page(2)])
        rooms = [dispatcher.room()]  # handed over, not yet started on the loop
        await asyncio.sleep(0)
        rooms.append(dispatcher.room())  # started: in flight
        channel.go.set()
        await dispatcher.stop(grace_seconds=5)
        rooms.append(dispatcher.room())
        return rooms

    assert asyncio.run(scenario()) == [3, 3, 5]


def test_stopping_gives_back_what_is_still_in_flight_after_the_grace_period() -> None:
    async def scenario() -> FakeOutbox:
        outbox = FakeOutbox(page(1))
        dispatcher = Dispatcher(outbox, {"email": HeldChannel()}, FakeClock(QUEUED))
        await dispatcher.tick()
        await dispatcher.stop(grace_seconds=0.01)
        return outbox

    outbox = asyncio.run(scenario())
    assert [p.id for p in outbox.released] == ["n1"]
    assert outbox.recorded == []


class CrashingChannel:
    async def send(self, notification: OutgoingNotification) -> str | None:
        raise RuntimeError("boom")


def test_a_channel_that_crashes_is_retried_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    outbox = FakeOutbox(page(1))
    dispatcher = Dispatcher(outbox, {"email": CrashingChannel()}, FakeClock(QUEUED))
    with caplog.at_level(logging.ERROR, logger="pager.dispatcher"):
        asyncio.run(deliver(dispatcher))
    [attempt] = outbox.recorded
    assert (attempt.outcome, attempt.error) == ("retry", "internal error: boom")
    assert [r.getMessage() for r in caplog.records] == ["channel email crashed on notification n1"]


def test_each_outcome_is_counted_by_channel() -> None:
    def count(outcome: str) -> float:
        labels = {"channel": "email", "outcome": outcome}
        return REGISTRY.get_sample_value("pager_delivery_attempts_total", labels) or 0.0

    async def scenario() -> None:
        channel = HeldChannel()
        channel.go.set()
        await deliver(Dispatcher(FakeOutbox(page(1)), {"email": channel}, FakeClock(QUEUED)))

    def delivered() -> float:
        labels = {"channel": "email"}
        return REGISTRY.get_sample_value("pager_notifications_sent_total", labels) or 0.0

    sent, failed, emails = count("sent"), count("failed"), delivered()
    asyncio.run(scenario())
    refused = FailingChannel(DeliveryFailed("refused", transient=False))
    asyncio.run(deliver(Dispatcher(FakeOutbox(page(2)), {"email": refused}, FakeClock(QUEUED))))
    assert (count("sent") - sent, count("failed") - failed) == (1.0, 1.0)
    assert delivered() - emails == 1.0  # by its channel
    logged = count("logged")
    asyncio.run(deliver(Dispatcher(FakeOutbox(page(3)), {"email": LogOnly()}, FakeClock(QUEUED))))
    assert count("logged") - logged == 1.0


class LogOnly:
    """Like the log channel: it writes the page down, and nobody gets it."""

    delivers = False

    async def send(self, notification: OutgoingNotification) -> str | None:
        return None
