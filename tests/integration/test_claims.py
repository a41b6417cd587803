"""The outbox's and the timers' claims, on both databases: what is claimed is nobody else's
until its lease runs out or it is given back; renewing a claim keeps it; a fired timer's row
goes, and the next level's comes."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pager.adapters.storage import tables as t
from pager.adapters.storage.outbox import SqlOutbox
from pager.adapters.storage.timers import SqlTimerQueue
from pager.adapters.storage.uow import SqlUnitOfWork, unit_of_work_factory
from pager.adapters.wakeup import PAGES, TIMERS
from pager.application.handlers import Handlers
from pager.application.ports import Attempt, ConcurrencyConflict
from pager.domain.commands import ReceiveAckTimeout
from pager.domain.content import AlertContent
from pager.domain.errors import DomainError
from pager.domain.policy import EmailTarget, SmsTarget
from tests.support.builders import two_level_policy
from tests.support.clock import FakeClock


@pytest.fixture
def handlers(engine: Engine, clock: FakeClock) -> Handlers:
    handlers = Handlers(lambda: SqlUnitOfWork(engine), clock)
    handlers.define_policy(two_level_policy(timeout=60))
    handlers.define_service("db", "Database", "ops")
    return handlers


def test_claimed_pages_carry_what_the_channels_need(
    engine: Engine, handlers: Handlers, clock: FakeClock
) -> None:
    incident_id = handlers.receive_alert("db", "disk full").incident_id
    handlers.receive_alert("db", "disk full")  # a second alert on the same incident
    claimed, next_due = SqlOutbox(engine).claim(clock.now())
    assert next_due is None
    by_target = {c.target: c for c in claimed}
    assert set(by_target) == {EmailTarget("alice@example.com"), SmsTarget("+14155550100")}
    page = by_target[EmailTarget("alice@example.com")]
    assert (page.incident_id, page.service_id, page.service_name) == (incident_id, "db", "Database")
    assert (page.message, page.alert_count, page.level, page.round) == ("disk full", 2, 1, 1)
    assert (page.attempts, page.created_at, page.opened_at) == (0, clock.now(), clock.now())


def test_each_page_carries_its_own_incidents_first_alert(
    engine: Engine, handlers: Handlers, clock: FakeClock
) -> None:
    handlers.define_service("web", "Web", "ops")
    disk = AlertContent(labels=(("instance", "db-1"),))
    latency = AlertContent(labels=(("route", "/checkout"),))
    db = handlers.receive_alert("db", "disk full", severity="critical", content=disk)
    web = handlers.receive_alert("web", "slow", severity="warning", content=latency)
    claimed, _ = SqlOutbox(engine).claim(clock.now())
    # Two incidents, two pages each: one row a page, with its own incident's alert.
    assert sorted((c.incident_id, c.severity, c.content) for c in claimed) == sorted(
        [(db.incident_id, "critical", disk)] * 2 + [(web.incident_id, "warning", latency)] * 2
    )


def test_a_claim_is_kept_until_its_lease_runs_out_or_it_is_given_back(
    engine: Engine, handlers: Handlers, clock: FakeClock
) -> None:
    handlers.receive_alert("db", "disk full")
    outbox = SqlOutbox(engine, lease_seconds=30)
    start = clock.now()
    first, _ = outbox.claim(start, limit=1)
    assert len(first) == 1
    rest, _ = outbox.claim(start)
    assert [c.id for c in rest] != [first[0].id]
    assert len(rest) == 1
    assert outbox.claim(start) == ([], None)  # both claimed: nothing due, nothing to wait for
    outbox.release([])  # nothing to give back
    outbox.release(first)
    again, _ = outbox.claim(start)
    assert [c.id for c in again] == [first[0].id]  # only what was given back
    # Renewed at +20 s, the claims hold until +50 s; unrenewed, a lease ends after 30 s.
    outbox.renew([first[0].id], start + timedelta(seconds=20))
    # The lease holds up to its last instant, and ends just after it.
    assert outbox.claim(start + timedelta(seconds=30)) == ([], None)
    renewed = [c.id for c in outbox.claim(start + timedelta(seconds=31))[0]]
    assert renewed == [rest[0].id]  # the other's lease ran out at +30 s
    lapsed = [c.id for c in outbox.claim(start + timedelta(seconds=51))[0]]
    assert lapsed == [first[0].id]
    outbox.release_all()
    assert {c.id for c in outbox.claim(start + timedelta(seconds=51))[0]} == {
        first[0].id,
        rest[0].id,
    }


def test_an_unclaimed_page_due_later_says_when(
    engine: Engine, handlers: Handlers, clock: FakeClock
) -> None:
    handlers.receive_alert("db", "disk full")
    outbox = SqlOutbox(engine)
    assert outbox.claim(clock.now() - timedelta(seconds=5)) == ([], clock.now())


def test_a_timer_falls_due_once_claimed_given_back_and_its_row_goes_when_it_fires(
    engine: Engine, handlers: Handlers, clock: FakeClock
) -> None:
    incident_id = handlers.receive_alert("db", "disk full").incident_id
    timers = SqlTimerQueue(engine, lease_seconds=30)
    due_at = clock.now() + timedelta(seconds=60)
    assert timers.claim_due(clock.now()) == ([], due_at)
    claimed, next_due = timers.claim_due(due_at)
    assert next_due is None
    [timer] = claimed
    assert (timer.kind, timer.subject, timer.service_id, timer.level, timer.round) == (
        "ack",
        incident_id,
        "db",
        1,
        1,
    )
    assert timer.due_at == due_at
    assert timers.claim_due(due_at) == ([], None)  # claimed: nobody else's meanwhile
    timers.release([])
    timers.release(claimed)
    assert [again.id for again in timers.claim_due(due_at)[0]] == [timer.id]
    assert timers.claim_due(due_at + timedelta(seconds=29)) == ([], None)
    assert [lapsed.id for lapsed in timers.claim_due(due_at + timedelta(seconds=31))[0]] == [
        timer.id
    ]
    timers.release_all()
    assert [freed.id for freed in timers.claim_due(due_at)[0]] == [timer.id]

    clock.advance(60)
    handlers.receive_ack_timeout("db", incident_id, 1, 1)
    assert timer_rows(engine) == [(incident_id, 2, 1, clock.now() + timedelta(seconds=60), None)]
    # A timer that fires again after its level has passed changes nothing, and its row goes.
    with engine.begin() as conn:
        conn.execute(
            t.timers.insert().values(
                subject=incident_id, service_id="db", level=1, round=1, due_at=due_at
            )
        )
    [result] = handlers.execute([ReceiveAckTimeout("db", incident_id, 1, 1)])
    assert isinstance(result, DomainError) or not result.events
    assert [row[1:3] for row in timer_rows(engine)] == [(2, 1)]


def timer_rows(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        timers = t.timers.c
        query = sa.select(timers.subject, timers.level, timers.round, timers.due_at)
        rows = conn.execute(query.add_columns(timers.claimed_until).order_by(timers.level))
        return [tuple(row) for row in rows]


def test_timers_are_claimed_earliest_first_up_to_the_limit(
    engine: Engine, clock: FakeClock
) -> None:
    handlers = Handlers(lambda: SqlUnitOfWork(engine), clock)
    handlers.define_policy(two_level_policy(timeout=60))
    for service in ("a", "b", "c"):
        handlers.define_service(service, service.upper(), "ops")
        handlers.receive_alert(service, "down")
        clock.advance(1)
    timers = SqlTimerQueue(engine)
    later = clock.now() + timedelta(seconds=120)
    claimed, _ = timers.claim_due(later, limit=2)
    assert [timer.service_id for timer in claimed] == ["a", "b"]
    rest, _ = timers.claim_due(later)
    assert [timer.service_id for timer in rest] == ["c"]  # not those claimed already


def test_each_attempt_is_recorded_with_its_number(
    engine: Engine, handlers: Handlers, clock: FakeClock
) -> None:
    handlers.receive_alert("db", "disk full")
    outbox = SqlOutbox(engine)
    claimed, _ = outbox.claim(clock.now())
    page = claimed[0]
    outbox.record([Attempt(page, clock.now(), "sent", provider_id="p-1")])
    with engine.connect() as conn:
        a = t.notification_attempts.c
        rows = conn.execute(sa.select(a.notification_id, a.attempt, a.outcome, a.provider_id))
        assert [tuple(row) for row in rows] == [(page.id, 1, "sent", "p-1")]
        n = t.notifications.c
        status = conn.execute(sa.select(n.status, n.attempts).where(n.id == page.id)).one()
    assert tuple(status) == ("sent", 1)


class ConflictingUnitOfWork(SqlUnitOfWork):
    """A unit of work whose commit loses the race the first `conflicts` times in all."""

    conflicts = 0
    commits = 0

    def commit(self) -> None:
        ConflictingUnitOfWork.commits += 1
        if ConflictingUnitOfWork.commits <= ConflictingUnitOfWork.conflicts:
            raise ConcurrencyConflict("another writer got there first")
        super().commit()


@pytest.mark.parametrize(("conflicts", "opened"), [(2, True), (3, False)])
def test_a_conflict_is_retried_up_to_max_attempts_then_raised(
    engine: Engine, clock: FakeClock, conflicts: int, opened: bool
) -> None:
    setup = Handlers(lambda: SqlUnitOfWork(engine), clock)
    setup.define_policy(two_level_policy())
    setup.define_service("db", "Database", "ops")
    ConflictingUnitOfWork.conflicts, ConflictingUnitOfWork.commits = conflicts, 0
    handlers = Handlers(lambda: ConflictingUnitOfWork(engine), clock, max_attempts=3)
    if opened:
        handlers.receive_alert("db", "disk full")
    else:
        with pytest.raises(ConcurrencyConflict):
            handlers.receive_alert("db", "disk full")
    assert ConflictingUnitOfWork.commits == min(conflicts + 1, 3)
    with engine.connect() as conn:
        assert len(conn.execute(sa.select(t.incidents)).all()) == int(opened)


def test_a_timer_not_yet_due_is_not_claimed_with_one_that_is(
    engine: Engine, clock: FakeClock
) -> None:
    handlers = Handlers(lambda: SqlUnitOfWork(engine), clock)
    handlers.define_policy(two_level_policy(timeout=60))
    for service in ("early", "late"):
        handlers.define_service(service, service.title(), "ops")
    handlers.receive_alert("early", "down")
    first_due = clock.now() + timedelta(seconds=60)
    clock.advance(30)
    handlers.receive_alert("late", "down")
    claimed, _ = SqlTimerQueue(engine).claim_due(first_due)
    assert [timer.service_id for timer in claimed] == ["early"]


def test_a_retry_waits_for_its_time_and_the_outbox_says_when(
    engine: Engine, handlers: Handlers, clock: FakeClock
) -> None:
    handlers.receive_alert("db", "disk full")
    outbox = SqlOutbox(engine)
    pages, _ = outbox.claim(clock.now())
    retry_at = clock.now() + timedelta(seconds=45)
    outbox.record(
        [Attempt(p, clock.now(), "retry", error="busy", retry_at=retry_at) for p in pages]
    )
    assert outbox.claim(clock.now() + timedelta(seconds=44)) == ([], retry_at)
    assert sorted(a.id for a in outbox.claim(retry_at)[0]) == sorted(p.id for p in pages)


def test_a_commit_that_queues_pages_and_timers_says_so_once_it_is_committed(
    engine: Engine, clock: FakeClock
) -> None:
    # What wakes this process's dispatcher and worker at once, rather than at their next poll.
    said: list[frozenset[str]] = []
    handlers = Handlers(unit_of_work_factory(engine, said.append), clock)
    handlers.define_policy(two_level_policy(timeout=60))
    handlers.define_service("db", "Database", "ops")
    assert said == []  # definitions queue nothing
    handlers.receive_alert("db", "disk full")
    assert said == [frozenset({PAGES, TIMERS})]  # level 1's pages and its ack timer
    handlers.receive_alert("db", "disk full")  # the same alert again: nothing new
    assert said == [frozenset({PAGES, TIMERS})]
