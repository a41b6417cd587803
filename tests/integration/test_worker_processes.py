"""`pagerd worker` as real processes: killed with SIGKILL mid-escalation and started again;
three of them sharing one PostgreSQL database."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import pytest
import sqlalchemy as sa

from pager.adapters.storage import tables as t
from pager.bootstrap import App, bootstrap
from pager.config import Settings
from pager.domain.people import ContactMethod, NotificationRule, Person
from pager.domain.policy import EmailTarget, EscalationPolicy, Level, UserTarget
from tests.support.clock import FakeClock
from tests.support.servers import SmtpSink
from tests.support.worker import notification_statuses, wait_until

PAGERD = str(Path(sys.executable).with_name("pagerd"))


class WorkerProcess:
    started: ClassVar[list[WorkerProcess]] = []

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self._env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [PAGERD, "worker"], env=self._env, stdout=log, stderr=subprocess.STDOUT
            )
        WorkerProcess.started.append(self)
        return self

    def wait_started(self, timeout: float = 20.0) -> None:
        wait_until(lambda: "worker started" in self.log.read_text(), timeout, "worker start")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


def worker_env(database_url: str, smtp: SmtpSink, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PAGER_DATABASE_URL": database_url,
        "PAGER_SMTP_URL": smtp.url(),
        "PAGER_SMTP_FROM": "pager@example.com",
        "PAGER_WORKER_LEASE_SECONDS": "2",
        **extra,
    }


@pytest.fixture(autouse=True)
def no_worker_left_behind() -> Iterator[None]:
    yield
    while WorkerProcess.started:
        process = WorkerProcess.started.pop().process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def apps() -> Iterator[list[App]]:
    made: list[App] = []
    yield made
    for app in made:
        app.engine.dispose()


def setup_app(apps: list[App], database_url: str, policy: EscalationPolicy, *services: str) -> App:
    app = bootstrap(Settings(database_url=database_url))
    apps.append(app)
    app.handlers.define_policy(policy)
    for service in services:
        app.handlers.define_service(service, service.title(), policy.id)
    return app


def test_a_worker_killed_mid_escalation_loses_nothing(
    database_url: str, smtp: SmtpSink, tmp_path: Path, apps: list[App]
) -> None:
    policy = EscalationPolicy(
        "ops",
        "Ops",
        (
            Level((EmailTarget("alice@example.com"),), ack_timeout_seconds=2),
            Level((EmailTarget("bob@example.com"),), ack_timeout_seconds=1),
        ),
    )
    app = setup_app(apps, database_url, policy, "db")
    worker = WorkerProcess(worker_env(database_url, smtp), tmp_path / "worker.log")
    # The SMTP server takes the message, then waits before saying 250: the worker is killed
    # after the server has the email and before the worker could record it as sent.
    smtp.answer_delay = 30
    worker.start().wait_started()
    app.handlers.receive_alert("db", "disk full")
    [first] = smtp.wait_for(1, timeout=10)
    worker.kill()
    smtp.answer_delay = 0
    # The server has the email; the worker never heard its answer, so never recorded it.
    assert [(lv, s) for lv, _, s, _ in notification_statuses(app) if lv == 1] == [(1, "queued")]
    time.sleep(2.2)  # the level-1 ack timer falls due while no worker runs

    worker.start()
    mails = smtp.wait_for(3, timeout=20)
    wait_until(lambda: all(s == "sent" for _, _, s, _ in notification_statuses(app)))
    assert worker.terminate() == 0

    # On PostgreSQL the interrupted email waits out its claim, so it may come after level 2.
    alice = [m for m in mails if m.rcpt_tos == ("alice@example.com",)]
    bob = [m for m in mails if m.rcpt_tos == ("bob@example.com",)]
    assert len(alice) == 2, "the email the crash interrupted is sent again"
    assert bob, "the level-2 page that was pending is sent"
    # (On a slow machine level 2 may already have reached the server before the kill: then
    # it is repeated too, with its own id.)
    assert len({m.message["Message-ID"] for m in bob}) == 1
    assert alice[1].message["Message-ID"] == first.message["Message-ID"]
    assert bob[0].message["Message-ID"] != first.message["Message-ID"]
    assert [(lv, s) for lv, _, s, _ in notification_statuses(app)] == [(1, "sent"), (2, "sent")]


@pytest.mark.postgres
def test_three_workers_share_one_postgres_database(
    postgres_url: str, smtp: SmtpSink, tmp_path: Path, apps: list[App]
) -> None:
    services = [f"svc-{n:03d}" for n in range(100)]
    rounds = 5
    policy = EscalationPolicy(
        "ops",
        "Ops",
        (
            Level((EmailTarget("first@example.com"),), ack_timeout_seconds=1),
            Level((EmailTarget("second@example.com"),), ack_timeout_seconds=1),
        ),
    )
    app = setup_app(apps, postgres_url, policy, *services)
    env = worker_env(postgres_url, smtp, PAGER_WORKER_LEASE_SECONDS="60")
    workers = [WorkerProcess(env, tmp_path / f"worker-{n}.log").start() for n in range(3)]
    for worker in workers:
        worker.wait_started()

    incidents: list[str] = []
    for round_ in range(1, rounds + 1):
        for service in services:
            incidents.append(app.handlers.receive_alert(service, f"down ({round_})").incident_id)
        wait_until(
            lambda r=round_: exhausted(app) == r * len(services),
            timeout=30,
            what=f"round {round_} to run through both levels",
        )
        for service in services:
            app.handlers.mark_healthy(service)
    smtp.wait_for(2 * len(incidents), timeout=30)
    wait_until(lambda: all(s == "sent" for _, _, s, _ in notification_statuses(app)))
    assert [worker.terminate() for worker in workers] == [0, 0, 0]

    ids = Counter(mail.message["Message-ID"] for mail in smtp.messages)
    assert len(smtp.messages) == 2 * len(incidents) == 1000
    assert set(ids.values()) == {1}, "a notification was sent twice"
    per_incident = Counter(
        (incident_in(mail.body, incidents), mail.rcpt_tos[0]) for mail in smtp.messages
    )
    assert set(per_incident.values()) == {1}
    assert len(per_incident) == 1000

    fired = Counter[tuple[str, ...]]()
    busy = 0
    for worker in workers:
        found = re.findall(r"ack timer fired: (\w+) level (\d) round (\d)", worker.log.read_text())
        fired.update(found)
        busy += bool(found)
    assert len(fired) == 2 * len(incidents)  # each incident: the level-1 and level-2 timers
    assert set(fired.values()) == {1}, "a timer fired twice"
    assert busy >= 2, "the work was not shared between the workers"
    with app.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(t.timers)) == 0


def exhausted(app: App) -> int:
    with app.engine.connect() as conn:
        count = conn.scalar(
            sa.select(sa.func.count())
            .select_from(t.events)
            .where(t.events.c.type == "EscalationExhausted")
        )
        return count or 0


def incident_in(body: str, incidents: list[str]) -> str:
    return next(incident for incident in incidents if incident in body)


def test_a_worker_killed_before_a_rules_due_time_sends_it_once_after_restart(
    database_url: str, smtp: SmtpSink, tmp_path: Path, apps: list[App]
) -> None:
    """The step is made 55 s in the past (an injected clock in this process; the worker runs
    on the real one), so that the rule's 1-minute page falls due 5 s later."""
    clock = FakeClock(datetime.now(UTC) - timedelta(hours=1))
    app = bootstrap(Settings(database_url=database_url), clock=clock)
    apps.append(app)
    person = Person(
        "carol@example.com",
        contact_methods=(
            ContactMethod("now", "email", "carol-now@example.com"),
            ContactMethod("later", "email", "carol-later@example.com"),
        ),
        rules=(NotificationRule(0, "now"), NotificationRule(1, "later")),
    )
    app.accounts.add_user(person.email, profile=person)
    policy = EscalationPolicy("ops", "Ops", (Level((UserTarget(person.email),), 3600),))
    app.handlers.define_policy(policy)
    app.handlers.define_service("db", "Database", "ops")
    worker = WorkerProcess(worker_env(database_url, smtp), tmp_path / "worker.log")
    worker.start().wait_started()
    step_at = datetime.now(UTC) - timedelta(seconds=55)
    clock.advance((step_at - clock.now()).total_seconds())
    app.handlers.receive_alert("db", "disk full")
    [first] = smtp.wait_for(1, timeout=10)
    assert first.rcpt_tos == ("carol-now@example.com",)
    now = "user:carol@example.com:now"
    wait_until(lambda: (1, now, "sent", 1) in notification_statuses(app))
    worker.kill()  # the later page is queued, and not due yet
    later = "user:carol@example.com:later"
    assert (1, later, "queued", 0) in notification_statuses(app)
    wait_until(lambda: datetime.now(UTC) > step_at + timedelta(seconds=61), timeout=10)

    worker.start()
    mails = smtp.wait_for(2, timeout=20)
    wait_until(lambda: all(s == "sent" for _, _, s, _ in notification_statuses(app)))
    time.sleep(0.5)  # nothing more comes
    assert worker.terminate() == 0
    assert [m.rcpt_tos for m in smtp.messages] == [
        ("carol-now@example.com",),
        ("carol-later@example.com",),
    ]
    assert mails[1].message["Message-ID"] != first.message["Message-ID"]
