"""The worker with real parts: an SMTP server (aiosmtpd) and a Twilio-speaking HTTP server in
the test process, real databases, and policies with 1 s ack timeouts."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from pager.adapters.handoff import Handoff
from pager.adapters.storage import tables as t
from pager.adapters.wakeup import Wakeup
from pager.application.ports import ClaimedNotification
from pager.bootstrap import App, bootstrap
from pager.config import Settings
from pager.domain.policy import EmailTarget, EscalationPolicy, Level, SmsTarget, WebhookTarget
from pager.entrypoints.worker import TimersModule
from tests.support.servers import Reply, SmtpSink, TwilioServer, WebhookReceiver
from tests.support.worker import notification_statuses, running_worker, wait_until

ALICE, BOB, ALICE_PHONE = "alice@example.com", "bob@example.com", "+14155550100"


@pytest.fixture
def app(database_url: str, smtp: SmtpSink, twilio: TwilioServer) -> Iterator[App]:
    settings = Settings(
        database_url=database_url,
        smtp_url=smtp.url(),
        smtp_from="pager@example.com",
        twilio_account_sid=twilio.account_sid,
        twilio_auth_token=twilio.auth_token,
        twilio_from="+15005550006",
        twilio_base_url=twilio.url,
        delivery_backoff_base_seconds=0.1,
        delivery_backoff_max_seconds=0.5,
    )
    app = bootstrap(settings)
    app.handlers.define_policy(
        EscalationPolicy(
            "ops",
            "Ops",
            (
                Level((EmailTarget(ALICE), SmsTarget(ALICE_PHONE)), ack_timeout_seconds=1),
                Level((EmailTarget(BOB),), ack_timeout_seconds=1),
            ),
        )
    )
    app.handlers.define_service("db", "Database", "ops")
    yield app
    app.engine.dispose()


def test_level_one_by_email_and_sms_then_the_timeout_pages_level_two(
    app: App, smtp: SmtpSink, twilio: TwilioServer
) -> None:
    with running_worker(app):
        started = time.monotonic()
        incident_id = app.handlers.receive_alert("db", "disk full on db-1").incident_id
        [mail] = smtp.wait_for(1)
        [sms] = twilio.wait_for(1)
        assert mail.rcpt_tos == (ALICE,)
        assert "disk full on db-1" in mail.subject
        assert incident_id in mail.body
        assert sms.to == ALICE_PHONE
        assert len(sms.body) <= 160
        second = smtp.wait_for(2, timeout=5)[1]
        assert second.rcpt_tos == (BOB,)
        assert time.monotonic() - started >= 1.0  # not before the ack timeout
        wait_until(lambda: all(s == "sent" for _, _, s, _ in notification_statuses(app)))
    assert notification_statuses(app) == [
        (1, f"email:{ALICE}", "sent", 1),
        (1, f"sms:{ALICE_PHONE}", "sent", 1),
        (2, f"email:{BOB}", "sent", 1),
    ]


def test_a_page_queued_in_the_workers_process_goes_out_without_waiting_for_a_claim(
    app: App, smtp: SmtpSink
) -> None:
    # As in `pagerd serve`: the commit that queues the page claims it for this process's
    # dispatcher and hands it over. Here nothing else would send it for a minute: the worker
    # polls once a minute and hears of no commit.
    app.settings = app.settings.model_copy(update={"worker_poll_seconds": 60.0})
    app.wakeup = Wakeup()
    with running_worker(app):
        wait_until(lambda: app.handoff.attached, what="the dispatcher takes handoffs")
        time.sleep(0.2)  # its first poll is over
        app.handlers.receive_alert("db", "disk full")
        [mail] = smtp.wait_for(1, timeout=5)
        assert mail.rcpt_tos == (ALICE,)
        wait_until(lambda: ("email:" + ALICE, "sent") in statuses(app), what="recorded sent")
    assert (f"email:{ALICE}", "sent") in statuses(app)
    assert not app.handoff.attached


def test_handoff_reserves_only_the_room_the_dispatcher_has() -> None:
    class Receiver:
        def __init__(self) -> None:
            self.taken: list[ClaimedNotification] = []

        def room(self) -> int:
            return 2 - len(self.taken)

        def accept(self, claimed: Sequence[ClaimedNotification]) -> None:
            self.taken.extend(claimed)

    handoff = Handoff()
    assert handoff.reserve() is None  # no dispatcher in this process
    receiver = Receiver()
    detach = handoff.attach(receiver, timedelta(seconds=30))
    assert handoff.reserve() == timedelta(seconds=30)
    assert handoff.reserve() == timedelta(seconds=30)
    assert handoff.reserve() is None  # full: left for a claim
    handoff.cancel(1)  # a transaction that reserved one rolled back
    assert handoff.reserve() is not None
    page = ClaimedNotification(
        "n1", "i1", "db", "Database", "disk full", 1, datetime.now(UTC), 1, 1,
        EmailTarget(ALICE), 0, datetime.now(UTC),
    )  # fmt: skip
    handoff.deliver([page, page])
    assert receiver.taken == [page, page]
    assert handoff.reserve() is None  # both slots are in flight now
    detach()
    assert not handoff.attached


def statuses(app: App) -> list[tuple[str, str]]:
    return [(target, status) for _, target, status, _ in notification_statuses(app)]


def test_an_acknowledgement_stops_the_escalation(app: App, smtp: SmtpSink) -> None:
    with running_worker(app):
        incident_id = app.handlers.receive_alert("db", "disk full").incident_id
        smtp.wait_for(1)
        app.handlers.acknowledge(incident_id, ALICE)
        time.sleep(2.0)  # two ack timeouts
    assert [m.rcpt_tos for m in smtp.messages] == [(ALICE,)]


def test_a_healthy_event_stops_the_escalation(app: App, smtp: SmtpSink) -> None:
    with running_worker(app):
        app.handlers.receive_alert("db", "disk full")
        smtp.wait_for(1)
        app.handlers.mark_healthy("db")
        time.sleep(2.0)
    assert [m.rcpt_tos for m in smtp.messages] == [(ALICE,)]
    with app.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(t.timers)) == 0


def test_mail_server_down_for_a_while_then_back_loses_nothing(
    app: App, smtp: SmtpSink, twilio: TwilioServer
) -> None:
    smtp.stop()
    with running_worker(app):
        app.handlers.receive_alert("db", "disk full")
        twilio.wait_for(1)
        time.sleep(0.5)  # a few failed attempts
        smtp.start()  # same port
        mails = smtp.wait_for(2, timeout=10)  # level 1's, and level 2's after the timeout
        assert sorted(m.rcpt_tos for m in mails) == [(ALICE,), (BOB,)]
        wait_until(lambda: all(s == "sent" for _, _, s, _ in notification_statuses(app)))
    statuses = notification_statuses(app)
    assert [(level, key, status) for level, key, status, _ in statuses] == [
        (1, f"email:{ALICE}", "sent"),
        (1, f"sms:{ALICE_PHONE}", "sent"),
        (2, f"email:{BOB}", "sent"),
    ]
    assert statuses[0][3] > 1  # the first email took more than one attempt
    with app.engine.connect() as conn:
        outcomes = conn.scalars(
            sa.select(t.notification_attempts.c.outcome)
            .join(
                t.notifications, t.notifications.c.id == t.notification_attempts.c.notification_id
            )
            .where(t.notifications.c.target_key == f"email:{ALICE}")
            .order_by(t.notification_attempts.c.attempt)
        ).all()
    assert outcomes[-1] == "sent"
    assert set(outcomes[:-1]) == {"retry"}


def test_twilio_answering_500_then_201_is_retried_and_sent_once(
    app: App, twilio: TwilioServer
) -> None:
    twilio.script(Reply.twilio_error(500, 20500, "Internal Server Error"))
    with running_worker(app):
        app.handlers.receive_alert("db", "disk full")
        twilio.wait_for(1, timeout=5)
        wait_until(lambda: "sent" in {s for _, k, s, _ in notification_statuses(app) if "sms" in k})
        time.sleep(0.3)
    assert len(twilio.requests) == 2
    assert len(twilio.messages) == 1
    sms = [row for row in notification_statuses(app) if row[1].startswith("sms:")]
    assert sms == [(1, f"sms:{ALICE_PHONE}", "sent", 2)]


def test_twilio_answering_400_fails_for_good_without_a_retry(
    app: App, twilio: TwilioServer
) -> None:
    twilio.script(Reply.twilio_error(400, 21211, "The 'To' number is not a valid phone number."))
    with running_worker(app):
        app.handlers.receive_alert("db", "disk full")
        wait_until(
            lambda: "failed" in {s for _, k, s, _ in notification_statuses(app) if "sms" in k}
        )
        time.sleep(0.5)
    assert len(twilio.requests) == 1
    with app.engine.connect() as conn:
        row = conn.execute(
            sa.select(t.notifications.c.status, t.notifications.c.last_error).where(
                t.notifications.c.channel == "sms"
            )
        ).one()
    assert row.status == "failed"
    assert "not a valid phone number" in row.last_error


def test_a_webhook_whose_name_resolves_to_this_machine_is_refused_when_sent(
    database_url: str,
) -> None:
    with WebhookReceiver() as hook:
        target = WebhookTarget(f"http://localhost:{hook.port}/hook")
        # Defined where private targets are allowed (the session's setting), sent where not.
        before = bootstrap(Settings(database_url=database_url))
        before.handlers.define_policy(EscalationPolicy("hooks", "Hooks", (Level((target,)),)))
        before.handlers.define_service("api", "API", "hooks")
        before.engine.dispose()
        app = bootstrap(Settings(database_url=database_url, allow_private_targets=False))
        try:
            with running_worker(app):
                app.handlers.receive_alert("api", "down")
                wait_until(lambda: [row[2] for row in notification_statuses(app)] == ["failed"])
            with app.engine.connect() as conn:
                row = conn.execute(
                    sa.select(t.notifications.c.attempts, t.notifications.c.last_error)
                ).one()
        finally:
            app.engine.dispose()
    assert not hook.requests
    assert row.attempts == 1
    assert re.fullmatch(
        r"webhook localhost: not sent, localhost resolves to (127\.0\.0\.1|::1), which is a "
        r"loopback address; set PAGER_ALLOW_PRIVATE_TARGETS=true on the server to allow it",
        row.last_error,
    ), row.last_error


def test_a_timer_of_a_kind_this_version_does_not_know_is_left_and_said_the_others_fire(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    outcome = app.handlers.receive_alert("db", "disk full")
    now = app.clock.now()
    with app.engine.begin() as conn:
        conn.execute(
            t.timers.insert().values(
                kind="later", subject="x", service_id="db", level=0, round=0, due_at=now
            )
        )
        conn.execute(t.timers.update().where(t.timers.c.kind == "ack").values(due_at=now))
    module = TimersModule(app.worker_parts().timers, app.handlers, app.clock)
    with caplog.at_level(logging.ERROR, logger="pager"):
        assert asyncio.run(module.tick()) == 2
    [said] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "unknown kind 'later'" in said
    with app.engine.connect() as conn:
        left = conn.execute(sa.select(t.timers.c.kind, t.timers.c.subject, t.timers.c.level))
        assert sorted(left) == [("ack", outcome.incident_id, 2), ("later", "x", 0)]
