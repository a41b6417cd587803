"""A level that targets users, through the real handlers, storage and dispatcher (SQLite and
PostgreSQL, an injected clock): each user is resolved at the step into one notification per
contact method at their rule's delay, queued durably for its due time; an acknowledgement or
a healthy event cancels what is not yet sent; the event records who was paged, how and why;
a user who reaches nobody is recorded, flagged and skipped to the next level at once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from pager.adapters.storage import tables as t
from pager.bootstrap import App, bootstrap
from pager.config import Settings
from pager.domain.people import ContactMethod, NotificationRule, Person
from pager.domain.policy import EmailTarget, EscalationPolicy, Level, UserTarget
from pager.entrypoints.http.schemas import IncidentDetailOut
from tests.support.clock import FakeClock
from tests.support.servers import SmtpSink, TwilioServer
from tests.support.worker import running_worker, wait_until

ALICE = Person(
    "alice@example.com",
    "Alice",
    "Europe/Paris",
    (
        ContactMethod("phone", "sms", "+14155550100"),
        ContactMethod("mail", "email", "alice@example.com"),
        ContactMethod("desk", "voice", "+14155550101"),
        ContactMethod("old", "email", "alice@old.example.com", enabled=False),
    ),
    (
        NotificationRule(0, "phone"),
        NotificationRule(1, "mail"),
        NotificationRule(0, "mail"),  # the earlier of two rules for one method
        NotificationRule(2, "desk"),
        NotificationRule(0, "old"),  # disabled: never paged
    ),
)
BOB = Person(  # no rules: every enabled method at once
    "bob@example.com",
    "Bob",
    contact_methods=(
        ContactMethod("mail", "email", "bob@example.com"),
        ContactMethod("phone", "sms", "+14155550102"),
    ),
)
NOBODY = Person(
    "nobody@example.com", contact_methods=(ContactMethod("m", "email", "n@x.io", False),)
)


@pytest.fixture
def app(database_url: str, clock: FakeClock, smtp: SmtpSink, twilio: TwilioServer) -> Iterator[App]:
    app = bootstrap(
        Settings(
            database_url=database_url,
            smtp_url=smtp.url(),
            smtp_from="pager@example.com",
            twilio_account_sid=twilio.account_sid,
            twilio_auth_token=twilio.auth_token,
            twilio_from="+15005550006",
            twilio_base_url=twilio.url,
            worker_poll_seconds=0.05,
        ),
        clock=clock,
    )
    for person in (ALICE, BOB, NOBODY):
        app.accounts.add_user(person.email, profile=person)
    yield app
    app.engine.dispose()


def policy(app: App, *levels: Level) -> None:
    app.handlers.define_policy(EscalationPolicy("ops", "Ops", levels))
    app.handlers.define_service("db", "Database", "ops")


def notifications(app: App) -> list[tuple[int, str, str, float, str | None]]:
    """(level, target key, status, delay in seconds after the incident opened, via)."""
    n, i = t.notifications.c, t.incidents.c
    with app.engine.connect() as conn:
        rows = conn.execute(
            sa.select(n.level, n.target_key, n.status, n.next_attempt_at, i.opened_at, n.via)
            .join(t.incidents, t.incidents.c.id == n.incident_id)
            .order_by(n.level, n.next_attempt_at, n.target_key)
        )
        return [
            (level, key, status, (due - opened).total_seconds(), via)
            for level, key, status, due, opened, via in rows
        ]


def detail(app: App, incident_id: str) -> dict[str, Any]:
    found = app.queries.incident(incident_id)
    assert found is not None
    return IncidentDetailOut.of_detail(found).model_dump(mode="json")


def test_a_user_is_paged_once_per_enabled_method_at_their_rules_delays(app: App) -> None:
    policy(app, Level((UserTarget(ALICE.email), UserTarget(BOB.email)), ack_timeout_seconds=600))
    app.handlers.receive_alert("db", "disk full")
    assert [(key, status, delay) for _, key, status, delay, _ in notifications(app)] == [
        ("user:alice@example.com:mail", "queued", 0.0),
        ("user:alice@example.com:phone", "queued", 0.0),
        ("user:bob@example.com:mail", "queued", 0.0),
        ("user:bob@example.com:phone", "queued", 0.0),
        ("user:alice@example.com:desk", "queued", 120.0),
    ]
    vias = {key: via for _, key, _, _, via in notifications(app)}
    assert vias["user:alice@example.com:desk"] == "user alice@example.com (voice desk, after 2 min)"
    assert vias["user:bob@example.com:phone"] == "user bob@example.com (sms phone, after 0 min)"


def test_the_timeline_keeps_who_was_paged_after_the_user_changes(app: App) -> None:
    policy(app, Level((UserTarget(ALICE.email),), ack_timeout_seconds=600))
    incident_id = app.handlers.receive_alert("db", "disk full").incident_id
    app.accounts.set_profile(ALICE.email, contact_methods=(), notification_rules=())
    (step,) = [e for e in detail(app, incident_id)["timeline"] if e["type"] == "LevelNotified"]
    pages = [(p["key"], p["delay_seconds"], p["via"]) for p in step["data"]["pages"]]
    assert pages == [
        ("user:alice@example.com:phone", 0, "user alice@example.com (sms phone, after 0 min)"),
        ("user:alice@example.com:mail", 0, "user alice@example.com (email mail, after 0 min)"),
        ("user:alice@example.com:desk", 120, "user alice@example.com (voice desk, after 2 min)"),
    ]
    shown = detail(app, incident_id)["notifications"]
    assert {n["via"] for n in shown} == {p[2] for p in pages}


@pytest.mark.parametrize("how", ["acknowledged", "healthy"])
def test_an_ack_or_a_healthy_event_cancels_the_pages_not_yet_sent(
    app: App, clock: FakeClock, smtp: SmtpSink, twilio: TwilioServer, how: str
) -> None:
    policy(app, Level((UserTarget(ALICE.email),), ack_timeout_seconds=600))
    with running_worker(app):
        incident_id = app.handlers.receive_alert("db", "disk full").incident_id
        smtp.wait_for(1)
        twilio.wait_for(1)
        wait_until(lambda: [s for _, _, s, _, _ in notifications(app)].count("sent") == 2)
        clock.advance(60)
        if how == "acknowledged":
            app.handlers.acknowledge(incident_id, "alice@example.com")
        else:
            app.handlers.mark_healthy("db")
        clock.advance(3600)
        wait_until(lambda: all(s != "queued" for _, _, s, _, _ in notifications(app)))
    assert [(k, s) for _, k, s, _, _ in notifications(app)] == [
        ("user:alice@example.com:mail", "sent"),
        ("user:alice@example.com:phone", "sent"),
        ("user:alice@example.com:desk", "cancelled"),
    ]
    assert (len(smtp.messages), len(twilio.messages)) == (1, 1)


def test_a_voice_page_is_a_call_through_twilio(
    app: App, clock: FakeClock, twilio: TwilioServer
) -> None:
    policy(app, Level((UserTarget(ALICE.email),), ack_timeout_seconds=600))
    with running_worker(app):
        incident_id = app.handlers.receive_alert("db", "disk full").incident_id
        clock.advance(120)
        wait_until(lambda: all(s != "queued" for _, _, s, _, _ in notifications(app)))
    (voice,) = [n for n in detail(app, incident_id)["notifications"] if n["channel"] == "voice"]
    assert voice["status"] == "sent"
    (call,) = twilio.calls
    assert call.to == "+14155550101"


def test_a_user_who_reaches_nobody_is_flagged_and_the_next_level_is_paged_at_once(
    app: App,
) -> None:
    policy(
        app,
        Level((UserTarget(NOBODY.email),), ack_timeout_seconds=600),
        Level((EmailTarget("ops@example.com"),), ack_timeout_seconds=600),
    )
    incident_id = app.handlers.receive_alert("db", "disk full").incident_id
    assert [(level, key, delay) for level, key, _, delay, _ in notifications(app)] == [
        (2, "email:ops@example.com", 0.0)
    ]
    shown = detail(app, incident_id)
    assert shown["unreached"] == 1
    assert shown["level"] == 2
    (first, _) = [e for e in shown["timeline"] if e["type"] == "LevelNotified"]
    assert first["data"]["unreached"] == [
        {
            "target": "user nobody@example.com",
            "reason": "nobody@example.com has no enabled contact method",
        }
    ]
    assert first["data"]["timer_due_at"] is None


def test_a_user_gone_since_the_policy_named_them_is_recorded_not_skipped_silently(
    app: App,
) -> None:
    policy(
        app,
        Level((UserTarget(BOB.email), EmailTarget("ops@example.com")), ack_timeout_seconds=600),
    )
    with app.engine.begin() as conn:  # as a database from before the check, or a race, may
        conn.execute(t.users.delete().where(t.users.c.email == BOB.email))
    incident_id = app.handlers.receive_alert("db", "disk full").incident_id
    assert [key for _, key, _, _, _ in notifications(app)] == ["email:ops@example.com"]
    shown = detail(app, incident_id)
    assert shown["unreached"] == 1
    (step,) = [e for e in shown["timeline"] if e["type"] == "LevelNotified"]
    assert step["data"]["unreached"] == [
        {"target": "user bob@example.com", "reason": "bob@example.com is not a user of Pager"}
    ]
    assert step["data"]["timer_due_at"] is not None  # the level paged somebody: it waits


def test_a_delayed_page_waits_in_the_outbox_for_its_due_time(
    app: App, clock: FakeClock, smtp: SmtpSink, twilio: TwilioServer
) -> None:
    slow = Person(
        "slow@example.com",
        contact_methods=(
            ContactMethod("phone", "sms", "+14155550109"),
            ContactMethod("mail", "email", "slow@example.com"),
        ),
        rules=(NotificationRule(0, "phone"), NotificationRule(1, "mail")),
    )
    app.accounts.add_user(slow.email, profile=slow)
    policy(app, Level((UserTarget(slow.email),), ack_timeout_seconds=600))
    with running_worker(app):
        app.handlers.receive_alert("db", "disk full")
        twilio.wait_for(1)
        clock.advance(59)
        wait_until(lambda: "sent" in [s for _, _, s, _, _ in notifications(app)])
        assert smtp.messages == []
        clock.advance(timedelta(seconds=1).total_seconds())
        (mail,) = smtp.wait_for(1)
    assert mail.rcpt_tos == ("slow@example.com",)
