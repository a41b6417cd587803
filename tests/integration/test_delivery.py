"""Delivery under failure and under load, with real parts: an SMTP server (aiosmtpd) that is
down for a while or slow to answer, the real worker and dispatcher, both databases.

- A transient failure never ends a page before PAGER_DELIVERY_MAX_SECONDS; past it, the page
  fails loudly (the incident, the metrics, one ERROR line).
- A page is sent once in a healthy system however long it waits for a connection: its
  claim is extended while it is in flight, and the dispatcher never starts a page it holds.
- What is recorded is what happened: a page delivered while its incident was acknowledged is
  `sent`; a page written to the log for want of a provider is `logged`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from pager.adapters.notify.dispatcher import Dispatcher, RetryPolicy
from pager.adapters.storage.outbox import SqlOutbox
from pager.application.ports import Attempt, Channel, ClaimedNotification, OutgoingNotification
from pager.bootstrap import App, bootstrap, build_channels
from pager.config import Settings
from pager.domain.policy import EmailTarget, EscalationPolicy, Level, SmsTarget, Target
from pager.entrypoints.http.schemas import IncidentOut
from pager.entrypoints.worker import DispatcherModule, Worker, build_worker
from tests.support.servers import SmtpSink
from tests.support.worker import notification_statuses, running, running_worker, wait_until

ALICE, PHONE = "alice@example.com", "+14155550100"


def oncall(count: int) -> tuple[EmailTarget, ...]:
    return tuple(EmailTarget(f"oncall{n:02d}@example.com") for n in range(count))


@pytest.fixture
def apps() -> Iterator[list[App]]:
    made: list[App] = []
    yield made
    for app in made:
        app.engine.dispose()


def pager(apps: list[App], database_url: str, targets: Sequence[Target], **settings: object) -> App:
    """Pager with one service whose policy pages `targets` and does not escalate meanwhile."""
    app = bootstrap(
        Settings(database_url=database_url, smtp_from="pager@example.com", **settings)  # type: ignore[arg-type]
    )
    apps.append(app)
    app.handlers.define_policy(
        EscalationPolicy("ops", "Ops", (Level(tuple(targets), ack_timeout_seconds=3600),))
    )
    app.handlers.define_service("db", "Database", "ops")
    return app


def metric(name: str, channel: str = "email") -> float:
    return REGISTRY.get_sample_value(name, {"channel": channel}) or 0.0


def statuses(app: App) -> Counter[str]:
    return Counter(status for _, _, status, _ in notification_statuses(app))


def attempts(app: App) -> list[int]:
    return [count for _, _, _, count in notification_statuses(app)]


# --- item 1: the time bound, not a count of attempts, ends delivery ---------------------------


def test_a_mail_server_down_longer_than_the_old_attempt_limit_loses_no_page(
    database_url: str, smtp: SmtpSink, apps: list[App]
) -> None:
    # Backoff scaled down (and the worker polling often enough to follow it) so that eight
    # attempts, the old limit, take about a second: the old code failed all 20 for good.
    app = pager(
        apps,
        database_url,
        oncall(20),
        smtp_url=smtp.url(),
        delivery_backoff_base_seconds=0.05,
        delivery_backoff_max_seconds=0.2,
        worker_poll_seconds=0.05,
    )
    failed_before = metric("pager_notifications_failed_total")
    smtp.stop()
    down_at = time.monotonic()
    with running_worker(app):
        app.handlers.receive_alert("db", "disk full")
        wait_until(
            lambda: min(attempts(app)) > 8 or "failed" in statuses(app),
            timeout=20,
            what="every page tried more than 8 times",
        )
        assert statuses(app) == {"queued": 20}
        time.sleep(max(0.0, 3.0 - (time.monotonic() - down_at)))  # down for 3 s in all
        smtp.start()  # same port
        smtp.wait_for(20, timeout=20)
        wait_until(lambda: statuses(app) == {"sent": 20}, timeout=10, what="all recorded sent")
    assert sorted(mail.rcpt_tos[0] for mail in smtp.messages) == [t.address for t in oncall(20)]
    assert min(attempts(app)) > 8
    assert metric("pager_notifications_failed_total") == failed_before


def test_a_retry_is_made_when_due_not_at_the_next_poll(
    database_url: str, smtp: SmtpSink, apps: list[App]
) -> None:
    # The worker would not look again for a minute: only the retry's own due time wakes it.
    app = pager(
        apps,
        database_url,
        oncall(1),
        smtp_url=smtp.url(),
        delivery_backoff_base_seconds=0.05,
        delivery_backoff_max_seconds=0.1,
        worker_poll_seconds=60,
    )
    smtp.stop()
    with running_worker(app):
        wait_until(lambda: app.handoff.attached, what="the dispatcher takes handoffs")
        app.handlers.receive_alert("db", "disk full")
        wait_until(lambda: min(attempts(app), default=0) >= 1, what="the first attempt")
        smtp.start()
        smtp.wait_for(1, timeout=10)
        wait_until(lambda: statuses(app) == {"sent": 1}, timeout=10, what="recorded sent")


def test_a_transient_failure_past_the_time_limit_fails_loudly_once(
    database_url: str, smtp: SmtpSink, apps: list[App], caplog: pytest.LogCaptureFixture
) -> None:
    app = pager(
        apps,
        database_url,
        oncall(1),
        smtp_url=smtp.url(),
        delivery_backoff_base_seconds=0.05,
        delivery_backoff_max_seconds=0.1,
        delivery_max_seconds=0.5,
    )
    failed_before = metric("pager_notifications_failed_total")
    smtp.stop()
    with caplog.at_level(logging.ERROR, logger="pager.dispatcher"), running_worker(app):
        incident_id = app.handlers.receive_alert("db", "disk full").incident_id
        wait_until(lambda: statuses(app) == {"failed": 1}, timeout=10, what="failed")
    detail = app.queries.incident(incident_id)
    assert detail is not None
    (page,) = detail.notifications
    assert page.attempts > 1
    assert page.last_error is not None
    assert "not delivered within 0.5 s (PAGER_DELIVERY_MAX_SECONDS)" in page.last_error
    assert f"port {smtp.port}" in page.last_error  # what went wrong, too
    assert detail.timeline[-1].data["outcome"] == "failed"
    # Loud: on the incident (detail, list, the service's open incident), in the metrics, and
    # in the log, once.
    assert detail.incident.failed_notifications == 1
    assert IncidentOut.of(detail.incident).failed_notifications == 1
    assert [i.failed_notifications for i in app.queries.incidents()] == [1]
    service = app.queries.service("db")
    assert service is not None
    assert service.open_incident is not None
    assert service.open_incident.failed_notifications == 1
    assert metric("pager_notifications_failed_total") == failed_before + 1
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and page.id in r.getMessage()]
    assert len(errors) == 1
    assert "failed for good" in errors[0].getMessage()


def test_a_refused_address_fails_at_once_however_long_the_time_limit(
    database_url: str, smtp: SmtpSink, apps: list[App]
) -> None:
    app = pager(apps, database_url, (EmailTarget(ALICE),), smtp_url=smtp.url())
    smtp.refuse(ALICE)
    with running_worker(app):
        incident_id = app.handlers.receive_alert("db", "disk full").incident_id
        wait_until(lambda: statuses(app) == {"failed": 1}, what="failed")
    assert attempts(app) == [1]
    detail = app.queries.incident(incident_id)
    assert detail is not None
    assert detail.incident.failed_notifications == 1
    assert "refused recipient" in (detail.notifications[0].last_error or "")


def test_the_retry_rule_is_bounded_by_time_alone() -> None:
    retry = RetryPolicy(max_seconds=3600, base_seconds=1, cap_seconds=60)
    queued = datetime(2026, 1, 1, tzinfo=UTC)
    deadline = queued + timedelta(seconds=3600)
    # Any number of attempts within the limit is retried, a provider's Retry-After honoured...
    for attempt in (1, 8, 100, 100_000):
        now = queued + timedelta(seconds=10)
        at = retry.retry_at(attempt, queued, now, retry_after=None)
        assert at is not None
        assert now + timedelta(seconds=min(60, 2 ** (attempt - 1)) / 2) <= at
        assert at <= now + timedelta(seconds=60)
    later = retry.retry_at(1, queued, queued, retry_after=120)
    assert later == queued + timedelta(seconds=120)
    # ...the last attempt falls on the limit, not before it, and past it there is none.
    assert retry.retry_at(9, queued, deadline - timedelta(seconds=1), None) == deadline
    assert retry.retry_at(9, queued, queued, retry_after=7200) == deadline
    assert retry.retry_at(9, queued, deadline, None) is None
    assert retry.retry_at(1, queued, deadline + timedelta(seconds=5), None) is None


# --- item 2: no duplicate page in a healthy system ---------------------------------------------


@pytest.mark.parametrize("path", ["handoff", "claim"])
def test_a_slow_mail_server_gets_each_page_exactly_once(
    database_url: str, smtp: SmtpSink, apps: list[App], path: str
) -> None:
    # 30 pages, 8 pooled connections, each message answered after 1 s, a 1 s lease: most
    # pages wait several leases for a connection.
    smtp.answer_delay = 1.0
    app = pager(apps, database_url, oncall(30), smtp_url=smtp.url(), worker_lease_seconds=1.0)
    # "handoff": the worker's own process commits the alert and hands the pages over (as in
    # `pagerd serve`); "claim": another process commits it, the worker claims the pages.
    alerting = app
    if path == "claim":
        alerting = bootstrap(Settings(database_url=database_url))
        apps.append(alerting)
    with running_worker(app):
        if path == "handoff":
            wait_until(lambda: app.handoff.attached, what="the dispatcher takes handoffs")
        alerting.handlers.receive_alert("db", "disk full")
        smtp.wait_for(30, timeout=30)
        wait_until(lambda: statuses(app) == {"sent": 30}, timeout=10, what="all recorded sent")
    # The worker has stopped: nothing is still on its way.
    ids = Counter(mail.message["Message-ID"] for mail in smtp.messages)
    assert len(smtp.messages) == 30, f"{len(smtp.messages)} emails for 30 pages"
    assert set(ids.values()) == {1}
    assert attempts(app) == [1] * 30


def test_a_page_waiting_in_one_dispatcher_is_never_taken_by_another(
    database_url: str, smtp: SmtpSink, apps: list[App]
) -> None:
    # Two dispatchers on one database (two workers on PostgreSQL): the one that claimed the
    # pages first keeps them while they wait for its connections, though its 1 s claims
    # would have lapsed three times over.
    smtp.answer_delay = 1.0
    app = pager(apps, database_url, oncall(30), smtp_url=smtp.url(), worker_lease_seconds=1.0)
    other = Dispatcher(
        SqlOutbox(app.engine, lease_seconds=1.0), build_channels(app.settings), app.clock
    )
    second = Worker([DispatcherModule(other)], app.clock, app.wakeup, app.engine, 0.1)
    with running_worker(app), running(second):
        app.handlers.receive_alert("db", "disk full")
        smtp.wait_for(30, timeout=30)
        wait_until(lambda: statuses(app) == {"sent": 30}, timeout=10, what="all recorded sent")
    assert len(smtp.messages) == 30, f"{len(smtp.messages)} emails for 30 pages"
    assert len({mail.message["Message-ID"] for mail in smtp.messages}) == 30


def test_a_retry_due_at_once_is_sent_though_the_attempt_before_is_still_finishing(
    database_url: str, smtp: SmtpSink, apps: list[App], caplog: pytest.LogCaptureFixture
) -> None:
    # Backoff of a millisecond: a page is often claimed for its retry between the commit that
    # recorded its failed attempt and the end of that attempt's task. That is no duplicate,
    # and must not wait out the (60 s) claim it was given.
    app = pager(
        apps,
        database_url,
        oncall(30),
        smtp_url=smtp.url(),
        delivery_backoff_base_seconds=0.001,
        delivery_backoff_max_seconds=0.002,
        worker_poll_seconds=0.01,
    )
    smtp.stop()
    with caplog.at_level(logging.WARNING, logger="pager.dispatcher"), running_worker(app):
        app.handlers.receive_alert("db", "disk full")
        wait_until(lambda: min(attempts(app)) > 40, timeout=20, what="many quick retries")
        smtp.start()
        wait_until(lambda: statuses(app) == {"sent": 30}, timeout=15, what="all recorded sent")
    assert len(smtp.messages) == 30
    assert not [r for r in caplog.records if "claimed again" in r.getMessage()]


class NoRenewals:
    """The real outbox, except that extending claims fails (as when the database does not
    answer for a while): the claims of pages in flight lapse."""

    def __init__(self, outbox: SqlOutbox) -> None:
        self._outbox = outbox
        self.lease = outbox.lease

    def claim(
        self, now: datetime, limit: int = 100
    ) -> tuple[list[ClaimedNotification], datetime | None]:
        return self._outbox.claim(now, limit)

    def record(self, attempts: Sequence[Attempt]) -> None:
        self._outbox.record(attempts)

    def release(self, claimed: list[ClaimedNotification]) -> None:
        self._outbox.release(claimed)

    def renew(self, ids: Sequence[str], now: datetime) -> None:
        raise ConnectionError("the database is unreachable")


def test_a_page_claimed_again_while_in_flight_is_not_sent_again(
    database_url: str, smtp: SmtpSink, apps: list[App], caplog: pytest.LogCaptureFixture
) -> None:
    smtp.answer_delay = 2.0
    app = pager(apps, database_url, (EmailTarget(ALICE),), smtp_url=smtp.url())
    outbox = NoRenewals(SqlOutbox(app.engine, lease_seconds=0.3))
    dispatcher = Dispatcher(outbox, build_channels(app.settings), app.clock)
    worker = Worker([DispatcherModule(dispatcher)], app.clock, app.wakeup, app.engine, 0.1)
    with running(worker):
        app.handlers.receive_alert("db", "disk full")
        smtp.wait_for(1)
        wait_until(lambda: statuses(app) == {"sent": 1}, timeout=10, what="recorded sent")
    # Claimed again every 0.3 s while the server held it for 2 s; the worker has stopped,
    # so nothing else is on its way.
    assert len(smtp.messages) == 1
    [page_id] = {r.args[0] for r in caplog.records if "claimed again" in r.getMessage()}
    assert f"notification {page_id} was claimed again while in flight; not sent twice" in [
        r.getMessage() for r in caplog.records
    ]


# --- item 3: what really happened ------------------------------------------------------------


def test_a_page_in_flight_when_the_incident_is_acknowledged_is_recorded_sent(
    database_url: str, smtp: SmtpSink, apps: list[App]
) -> None:
    smtp.hold = threading.Event()  # the server has the message; its 250 waits for the test
    app = pager(apps, database_url, (EmailTarget(ALICE),), smtp_url=smtp.url())
    with running_worker(app):
        incident_id = app.handlers.receive_alert("db", "disk full").incident_id
        smtp.wait_for(1)
        app.handlers.acknowledge(incident_id, ALICE)
        assert statuses(app) == {"cancelled": 1}  # not sent yet, as far as anyone knows
        smtp.hold.set()
        wait_until(lambda: statuses(app) == {"sent": 1}, timeout=10, what="recorded sent")
    assert_sent_after_the_ack(app, incident_id)


class HeldAfterSending:
    """The real SMTP channel, holding back the news of each accepted page until the test
    lets it go: the provider has it, the dispatcher has not recorded it yet."""

    def __init__(self, inner: Channel) -> None:
        self._inner = inner
        self.accepted = threading.Event()
        self.go = threading.Event()

    async def send(self, notification: OutgoingNotification) -> str | None:
        answer = await self._inner.send(notification)
        self.accepted.set()
        await asyncio.to_thread(self.go.wait, 10)
        return answer

    async def close(self) -> None:
        await self._inner.close()  # type: ignore[attr-defined]


def test_a_page_accepted_before_the_ack_and_recorded_after_it_is_recorded_sent(
    database_url: str, smtp: SmtpSink, apps: list[App]
) -> None:
    app = pager(apps, database_url, (EmailTarget(ALICE),), smtp_url=smtp.url())
    channels = dict(build_channels(app.settings))
    held = HeldAfterSending(channels["email"])
    channels["email"] = held
    with running_worker(app, channels):
        incident_id = app.handlers.receive_alert("db", "disk full").incident_id
        assert held.accepted.wait(10)
        app.handlers.acknowledge(incident_id, ALICE)
        held.go.set()
        wait_until(lambda: statuses(app) == {"sent": 1}, timeout=10, what="recorded sent")
    assert len(smtp.messages) == 1
    assert_sent_after_the_ack(app, incident_id)


def assert_sent_after_the_ack(app: App, incident_id: str) -> None:
    detail = app.queries.incident(incident_id)
    assert detail is not None
    (page,) = detail.notifications
    assert (page.status, page.attempts, page.last_error) == ("sent", 1, None)
    assert page.sent_at is not None
    kinds = [(e.type, e.data.get("outcome")) for e in detail.timeline]
    assert kinds.index(("Acknowledged", None)) < kinds.index(("NotificationAttempted", "sent"))
    assert detail.incident.failed_notifications == 0


# --- item 4: honest statuses -----------------------------------------------------------------


def test_with_no_provider_configured_pages_are_logged_not_sent(
    database_url: str, apps: list[App], caplog: pytest.LogCaptureFixture
) -> None:
    app = pager(apps, database_url, (EmailTarget(ALICE), SmsTarget(PHONE)))
    before = {
        (name, channel): metric(name, channel)
        for name in ("pager_notifications_logged_total", "pager_notifications_sent_total")
        for channel in ("email", "sms")
    }
    with caplog.at_level(logging.INFO, logger="pager"), running_worker(app):
        incident_id = app.handlers.receive_alert("db", "disk full").incident_id
        wait_until(lambda: statuses(app) == {"logged": 2}, what="both logged")
    detail = app.queries.incident(incident_id)
    assert detail is not None
    assert {(n.channel, n.status, n.sent_at) for n in detail.notifications} == {
        ("email", "logged", None),
        ("sms", "logged", None),
    }
    outcomes = [e.data["outcome"] for e in detail.timeline if e.type == "NotificationAttempted"]
    assert outcomes == ["logged", "logged"]
    assert detail.incident.failed_notifications == 0
    for channel in ("email", "sms"):
        logged = ("pager_notifications_logged_total", channel)
        sent = ("pager_notifications_sent_total", channel)
        assert metric(*logged) == before[logged] + 1
        assert metric(*sent) == before[sent]
    pages = [r.getMessage() for r in caplog.records if r.name == "pager.notify"]
    assert len(pages) == 2
    assert all("disk full" in page and incident_id in page for page in pages)
    # An ack link is a credential: it has no place in a log.
    assert not [r for r in caplog.records if "/ack/" in r.getMessage()]
    assert not [r for r in caplog.records if r.name == "pager.dispatcher" and " sent " in r.msg]


@pytest.mark.parametrize(
    ("settings", "unconfigured"),
    [
        ({}, ["email (PAGER_SMTP_URL)", "SMS (PAGER_TWILIO_"]),
        ({"smtp_url": "smtp://127.0.0.1:2525"}, ["SMS (PAGER_TWILIO_"]),
        (
            {"twilio_account_sid": "AC1", "twilio_auth_token": "t", "twilio_from": "+15005550006"},
            ["email (PAGER_SMTP_URL)"],
        ),
    ],
    ids=["neither", "smtp only", "twilio only"],
)
def test_the_worker_says_in_one_line_at_start_which_channels_go_to_the_log(
    sqlite_url: str,
    apps: list[App],
    caplog: pytest.LogCaptureFixture,
    settings: Mapping[str, str],
    unconfigured: list[str],
) -> None:
    app = bootstrap(Settings(database_url=sqlite_url, **settings))  # type: ignore[arg-type]
    apps.append(app)
    with caplog.at_level(logging.INFO, logger="pager"):
        build_worker(app)
    lines = [r for r in caplog.records if "written to the log" in r.getMessage()]
    assert len(lines) == 1
    (line,) = lines
    assert line.levelno == logging.WARNING
    text = line.getMessage()
    for name in ("email (PAGER_SMTP_URL)", "SMS (PAGER_TWILIO_"):
        assert (name in text) is (name in unconfigured), text
    assert "recorded as logged, not sent" in text


def test_with_every_provider_configured_the_worker_says_nothing_of_the_log(
    sqlite_url: str, apps: list[App], caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        database_url=sqlite_url,
        smtp_url="smtp://127.0.0.1:2525",  # type: ignore[arg-type]
        twilio_account_sid="AC1",
        twilio_auth_token="t",  # type: ignore[arg-type]
        twilio_from="+15005550006",
    )
    app = bootstrap(settings)
    apps.append(app)
    with caplog.at_level(logging.INFO, logger="pager"):
        build_worker(app)
    assert not [r for r in caplog.records if "written to the log" in r.getMessage()]
