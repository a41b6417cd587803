""" "Call me until I answer" through the real handlers, outbox, timers and dispatcher (SQLite
and PostgreSQL, an injected clock, a local Twilio): a repeating rule texts at 0, r, 2r...
until the incident is acknowledged, then its pages not yet sent are cancelled; the level's
acknowledgement timer and the next level keep their time. Rules stored before repeats
read back as rules that page once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from pager.adapters.storage import tables as t
from pager.adapters.storage.codec import decode_person, encode_rules
from pager.bootstrap import App, bootstrap
from pager.config import Settings
from pager.domain.people import MAX_REPEATS, ContactMethod, NotificationRule, Person
from pager.domain.policy import EmailTarget, EscalationPolicy, Level, UserTarget
from tests.support.clock import FakeClock
from tests.support.servers import SmtpSink, TwilioServer
from tests.support.worker import running_worker, wait_until

EVERY = 60  # seconds: the rule's repeat
TIMEOUT = 150  # seconds: level 1's time to acknowledge
CAROL = Person(
    "carol@example.com",
    "Carol",
    contact_methods=(ContactMethod("phone", "sms", "+14155550100"),),
    rules=(NotificationRule(0, "phone", EVERY // 60),),
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
    app.accounts.add_user(CAROL.email, profile=CAROL)
    app.handlers.define_policy(
        EscalationPolicy(
            "ops",
            "Ops",
            (
                Level((UserTarget(CAROL.email),), ack_timeout_seconds=TIMEOUT),
                Level((EmailTarget("lead@example.com"),), ack_timeout_seconds=3600),
            ),
        )
    )
    app.handlers.define_service("db", "Database", "ops")
    yield app
    app.engine.dispose()


def pages(app: App) -> list[tuple[int, str, str, float]]:
    """(level, key, status, seconds after the incident opened it is due) of each page."""
    n, i = t.notifications.c, t.incidents.c
    with app.engine.connect() as conn:
        rows = conn.execute(
            sa.select(n.level, n.target_key, n.status, n.next_attempt_at, i.opened_at)
            .join(t.incidents, i.id == n.incident_id)
            .order_by(n.level, n.next_attempt_at)
        )
        return [(lv, key, st, (due - at).total_seconds()) for lv, key, st, due, at in rows]


def sent(app: App) -> int:
    return sum(1 for _, _, status, _ in pages(app) if status == "sent")


def test_a_repeating_rule_texts_every_minute_until_acknowledged_and_no_later(
    app: App, clock: FakeClock, twilio: TwilioServer, smtp: SmtpSink
) -> None:
    with running_worker(app):
        incident_id = app.handlers.receive_alert("db", "disk full").incident_id
        # Given the step queued every repeat of Carol's rule, a minute apart:
        assert [(key, due) for _, key, _, due in pages(app)] == [
            ("user:carol@example.com:phone", 0.0),
            *((f"user:carol@example.com:phone#{n}", (n - 1) * 60.0) for n in range(2, 11)),
        ]
        twilio.wait_for(1)
        # when the minutes pass, a text each minute;
        for texts in (2, 3):
            clock.advance(EVERY)
            twilio.wait_for(texts)
        wait_until(lambda: sent(app) == 3)
        assert len(twilio.messages) == 3
        # the level's timer runs out at its own time and pages level 2, her texts go on;
        clock.advance(TIMEOUT - 2 * EVERY)
        (mail,) = smtp.wait_for(1)
        assert mail.rcpt_tos == ("lead@example.com",)
        clock.advance(3 * EVERY - TIMEOUT)
        twilio.wait_for(4)
        wait_until(lambda: sent(app) == 5)
        # when Carol acknowledges, what is not yet sent is cancelled.
        app.handlers.acknowledge(incident_id, CAROL.email)
        clock.advance(3600)
        wait_until(lambda: all(s != "queued" for _, _, s, _ in pages(app)))

    level_2 = [(key, due) for level, key, _, due in pages(app) if level == 2]
    assert level_2 == [("email:lead@example.com", float(TIMEOUT))]
    statuses = [status for level, _, status, _ in pages(app) if level == 1]
    assert statuses == ["sent"] * 4 + ["cancelled"] * (MAX_REPEATS - 4)
    assert len(twilio.messages) == 4
    assert {sms.to for sms in twilio.messages} == {"+14155550100"}


def test_the_timeline_says_which_repeat_each_page_is(app: App) -> None:
    incident_id = app.handlers.receive_alert("db", "disk full").incident_id
    found = app.queries.incident(incident_id)
    assert found is not None
    vias = [n.via for n in found.notifications]
    assert vias[0] == "user carol@example.com (sms phone, after 0 min, every 1 min): page 1 of 10"
    assert vias[-1] == (
        "user carol@example.com (sms phone, after 0 min, every 1 min): page 10 of 10"
    )


def test_rules_stored_before_repeats_read_back_as_paging_once(app: App) -> None:
    # A users row written before repeats: rules without the field.
    with app.engine.begin() as conn:
        conn.execute(
            t.users.update()
            .where(t.users.c.email == CAROL.email)
            .values(notification_rules=[{"delay_minutes": 2, "contact_method": "phone"}])
        )
    assert app.accounts.profile(CAROL.email).rules == (NotificationRule(2, "phone"),)
    assert decode_person(
        "x@example.com", "", "UTC", [], '[{"delay_minutes": 0, "contact_method": "m"}]'
    ).rules == (NotificationRule(0, "m", None),)
    assert encode_rules((NotificationRule(0, "m", 5),)) == [
        {"delay_minutes": 0, "contact_method": "m", "repeat_every_minutes": 5}
    ]
