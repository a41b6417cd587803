"""The concurrency guarantee of DESIGN.md section 1, on both databases: concurrent alerts give
one incident and one notification per target (per contact method for a level of people); an
acknowledgement racing the ack timeout never leaves a level-2 page to be sent after the
acknowledgement, nor one racing a rule's due time a delayed page."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pager.adapters.storage import tables as t
from pager.adapters.storage.accounts import SqlAccountStore
from pager.adapters.storage.codec import decode_event
from pager.adapters.storage.uow import SqlUnitOfWork, service_stream
from pager.application.accounts import Accounts, UserInUse
from pager.application.handlers import Handlers
from pager.bootstrap import bootstrap
from pager.config import Settings
from pager.domain.errors import ValidationFailed
from pager.domain.events import Acknowledged, LevelNotified
from pager.domain.people import ContactMethod, NotificationRule, Person
from pager.domain.policy import EscalationPolicy, Level, ScheduleTarget, UserTarget
from tests.support.builders import PEOPLE_PAGES, add_people, people_policy, two_level_policy
from tests.support.clock import FakeClock
from tests.support.servers import SmtpSink
from tests.support.worker import running_worker, wait_until
from tests.support.workload import fire_alerts

ALERTS = 50


def run_at_once(*calls: Callable[[], object]) -> None:
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call: Callable[[], object]) -> None:
        barrier.wait()
        try:
            call()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def alerts_from_processes(postgres_url: str, service: str, processes_count: int = 5) -> list[str]:
    """ALERTS alerts for `service` from `processes_count` processes at once (threads in
    each), on PostgreSQL; each alert's action."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    start_at = time.time() + 3.0  # every process is up and waiting by then
    threads = ALERTS // processes_count
    processes = [
        context.Process(
            target=fire_alerts, args=(postgres_url, service, threads, start_at, results)
        )
        for _ in range(processes_count)
    ]
    for process in processes:
        process.start()
    actions = [action for _ in processes for action in results.get(timeout=60)]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    return actions


@pytest.fixture
def handlers(engine: Engine, clock: FakeClock) -> Handlers:
    handlers = Handlers(lambda: SqlUnitOfWork(engine), clock)
    handlers.define_policy(two_level_policy())
    handlers.define_service("db", "Database", "ops")
    return handlers


def assert_one_incident_one_page_per_target(engine: Engine) -> None:
    with engine.connect() as conn:
        incidents = conn.execute(sa.select(t.incidents.c.id, t.incidents.c.alert_count)).all()
        outbox = conn.execute(sa.select(t.notifications.c.target_key)).scalars().all()
        timers = conn.execute(sa.select(t.timers.c.level)).scalars().all()
    assert len(incidents) == 1
    assert incidents[0].alert_count == ALERTS
    assert sorted(outbox) == ["email:alice@example.com", "sms:+14155550100"]
    assert timers == [1]


def test_concurrent_alerts_on_threads_open_one_incident(engine: Engine, handlers: Handlers) -> None:
    actions: list[str] = []
    run_at_once(
        *[lambda: actions.append(handlers.receive_alert("db", "disk full").action)] * ALERTS
    )
    assert Counter(actions) == {"opened": 1, "attached": ALERTS - 1}
    assert_one_incident_one_page_per_target(engine)


@pytest.mark.postgres
def test_concurrent_alerts_from_separate_processes_open_one_incident(postgres_url: str) -> None:
    from pager.adapters.storage.engine import create_engine

    engine = create_engine(postgres_url)
    handlers = Handlers(lambda: SqlUnitOfWork(engine), FakeClock())
    handlers.define_policy(two_level_policy())
    handlers.define_service("db", "Database", "ops")

    assert Counter(alerts_from_processes(postgres_url, "db")) == {
        "opened": 1,
        "attached": ALERTS - 1,
    }
    assert_one_incident_one_page_per_target(engine)
    engine.dispose()


def test_an_acknowledgement_racing_the_ack_timeout(
    engine: Engine, handlers: Handlers, clock: FakeClock
) -> None:
    race_the_ack_timeout(engine, handlers, clock, "db")


def test_an_acknowledgement_racing_the_ack_timeout_with_schedule_levels(
    engine: Engine, clock: FakeClock
) -> None:
    """The same race when each level pages a schedule (alice on call) and a person: level 2
    resolved at the timeout's instant is never left to go out after the ack."""
    add_people(engine)
    handlers = Handlers(lambda: SqlUnitOfWork(engine), clock)
    handlers.define_policy(
        EscalationPolicy(
            "rota",
            "Rota",
            (
                Level((ScheduleTarget("primary"),), 60),
                Level((ScheduleTarget("primary"), UserTarget("bob@example.com")), 60),
            ),
        )
    )
    handlers.define_service("rota", "Rota", "rota")
    race_the_ack_timeout(engine, handlers, clock, "rota")


def race_the_ack_timeout(
    engine: Engine, handlers: Handlers, clock: FakeClock, service: str
) -> None:
    winners: Counter[str] = Counter()
    for _ in range(100):
        incident_id = handlers.receive_alert(service, "disk full").incident_id
        clock.advance(60)
        run_at_once(
            lambda i=incident_id: handlers.acknowledge(i, "alice"),
            lambda i=incident_id: handlers.receive_ack_timeout(service, i, 1, 1),
        )
        winners[first_of_race(engine, incident_id, service)] += 1
        with engine.connect() as conn:
            pending_level_2 = conn.scalar(
                sa.select(sa.func.count())
                .select_from(t.notifications)
                .where(
                    t.notifications.c.incident_id == incident_id,
                    t.notifications.c.level == 2,
                    t.notifications.c.status != "cancelled",
                )
            )
            status = conn.scalar(
                sa.select(t.incidents.c.status).where(t.incidents.c.id == incident_id)
            )
        assert status == "acknowledged"
        assert pending_level_2 == 0, "a level-2 page would go out after the acknowledgement"
        handlers.mark_healthy(service)
    assert sum(winners.values()) == 100


def first_of_race(engine: Engine, incident_id: str, service: str) -> str:
    """Which of the two commands committed first, read from the stream, checking that nothing
    was notified after the acknowledgement."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.events.c.type, t.events.c.data)
            .where(t.events.c.stream_id == service_stream(service))
            .order_by(t.events.c.version)
        ).all()
    events = [decode_event(row.type, row.data) for row in rows]
    mine = [e for e in events if getattr(e, "incident_id", None) == incident_id]
    kinds = [
        "ack" if isinstance(e, Acknowledged) else f"level {e.level}"
        for e in mine
        if isinstance(e, Acknowledged | LevelNotified)
    ]
    assert kinds in (["level 1", "ack"], ["level 1", "level 2", "ack"])
    return "ack" if kinds == ["level 1", "ack"] else "timeout"


# -- people: one notification per (incident, round, level, contact method)


def people_handlers(engine: Engine, clock: FakeClock) -> Handlers:
    add_people(engine)
    handlers = Handlers(lambda: SqlUnitOfWork(engine), clock)
    handlers.define_policy(people_policy())
    handlers.define_service("people", "People", "ops")
    return handlers


def assert_one_page_per_contact_method(engine: Engine) -> None:
    with engine.connect() as conn:
        incidents = conn.execute(sa.select(t.incidents.c.alert_count)).scalars().all()
        outbox = conn.execute(sa.select(t.notifications.c.target_key)).scalars().all()
    assert incidents == [ALERTS]
    assert sorted(outbox) == PEOPLE_PAGES


def test_concurrent_alerts_for_a_level_of_people_page_each_method_once(
    engine: Engine, clock: FakeClock
) -> None:
    handlers = people_handlers(engine, clock)
    run_at_once(*[lambda: handlers.receive_alert("people", "disk full")] * ALERTS)
    assert_one_page_per_contact_method(engine)


@pytest.mark.postgres
def test_concurrent_alerts_for_people_from_separate_processes(postgres_url: str) -> None:
    from pager.adapters.storage.engine import create_engine

    engine = create_engine(postgres_url)
    people_handlers(engine, FakeClock())
    assert Counter(alerts_from_processes(postgres_url, "people")) == {
        "opened": 1,
        "attached": ALERTS - 1,
    }
    assert_one_page_per_contact_method(engine)
    engine.dispose()


def test_an_acknowledgement_racing_a_rules_due_time(
    database_url: str, clock: FakeClock, smtp: SmtpSink
) -> None:
    """However the ack and the dispatcher's claim of a page falling due interleave, nothing
    is left to go out after the ack: the page is cancelled and never sent, or it was claimed
    first and is sent exactly once (and recorded so)."""
    app = bootstrap(
        Settings(
            database_url=database_url,
            smtp_url=smtp.url(),
            smtp_from="pager@example.com",
            worker_poll_seconds=0.01,
        ),
        clock=clock,
    )
    dana = Person(
        "dana@example.com",
        contact_methods=(ContactMethod("mail", "email", "dana@example.com"),),
        rules=(NotificationRule(1, "mail"),),
    )
    app.accounts.add_user(dana.email, profile=dana)
    app.handlers.define_policy(
        EscalationPolicy("later", "Later", (Level((UserTarget(dana.email),), 3600),))
    )
    app.handlers.define_service("later", "Later", "later")
    outcomes: Counter[str] = Counter()
    with running_worker(app):
        for _ in range(TRIALS):
            incident_id = app.handlers.receive_alert("later", "disk full").incident_id
            run_at_once(
                lambda: clock.advance(60),
                lambda i=incident_id: app.handlers.acknowledge(i, "dana@example.com"),
            )
            # Settled: not queued, and no claim left (a page claimed before the ack is being
            # sent, and keeps its claim until its attempt is recorded).
            wait_until(
                lambda i=incident_id: page_status(app.engine, i) in ("cancelled", "sent"),
                timeout=5,
            )
            time.sleep(0.05)  # a send of a page cancelled unclaimed would show by now
            status = page_status(app.engine, incident_id)
            delivered = [m for m in smtp.messages if incident_id in m.body]
            assert (status, len(delivered)) in (("cancelled", 0), ("sent", 1)), status
            outcomes[status] += 1
            app.handlers.mark_healthy("later")
    assert sum(outcomes.values()) == TRIALS, outcomes
    app.engine.dispose()


TRIALS = 20


def page_status(engine: Engine, incident_id: str) -> str:
    """The incident's one page's status, "+" added while it is claimed."""
    n = t.notifications.c
    with engine.connect() as conn:
        status, claimed = conn.execute(
            sa.select(n.status, n.claimed_until).where(n.incident_id == incident_id)
        ).one()
    return f"{status}+" if claimed is not None else str(status)


def test_a_user_removed_while_a_policy_comes_to_target_them(
    engine: Engine, clock: FakeClock
) -> None:
    """Whichever commits first, no policy is left targeting a user that is gone: the policy
    is refused (the user is gone) or the removal is (a policy targets them)."""
    handlers = Handlers(lambda: SqlUnitOfWork(engine), clock)
    accounts = Accounts(SqlAccountStore(engine), clock)
    won: Counter[str] = Counter()
    for trial in range(RACES):
        email = f"user{trial}@example.com"
        accounts.add_user(email)
        policy = EscalationPolicy(f"p{trial}", "P", (Level((UserTarget(email),), 60),))
        outcome: list[str] = []

        def define(policy: EscalationPolicy = policy, outcome: list[str] = outcome) -> None:
            try:
                handlers.define_policy(policy)
                outcome.append("policy")
            except ValidationFailed:
                outcome.append("policy refused")

        def remove(email: str = email, outcome: list[str] = outcome) -> None:
            try:
                accounts.delete_user(email)
                outcome.append("removed")
            except UserInUse:
                outcome.append("removal refused")

        run_at_once(define, remove)
        assert sorted(outcome) in (["policy", "removal refused"], ["policy refused", "removed"])
        won["policy" if "policy" in outcome else "removal"] += 1
    assert sum(won.values()) == RACES


RACES = 20
