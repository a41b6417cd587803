"""A person paged by their rules, end to end: `pagerd serve` with the SMTP server and the
Twilio-speaking server of tests/support/servers.py; the user, policy and service made over
the API. The step is made by this process with an injected clock 55 s in the past (the
server runs on the real one), so that a 1-minute rule falls due a few seconds later: the
SMS comes first, the email later, and after an acknowledgement nothing more."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pager.bootstrap import App, bootstrap
from pager.config import Settings
from tests.e2e.conftest import Pager, start_pager
from tests.support.clock import FakeClock
from tests.support.servers import SmtpSink, TwilioServer
from tests.support.worker import wait_until

CAROL = "carol@example.com"
PROFILE = {
    "name": "Carol",
    "time_zone": "America/Chicago",
    "contact_methods": [
        {"id": "phone", "type": "sms", "phone": "+14155550123"},
        {"id": "mail", "type": "email", "address": CAROL},
    ],
    "notification_rules": [
        {"delay_minutes": 0, "contact_method": "phone"},
        {"delay_minutes": 1, "contact_method": "mail"},
    ],
}


@pytest.fixture
def served(
    tmp_path: Path, smtp: SmtpSink, twilio: TwilioServer
) -> Iterator[tuple[Pager, App, FakeClock]]:
    url = f"sqlite:///{tmp_path / 'pager.db'}"
    env = {
        "PAGER_SMTP_URL": smtp.url(),
        "PAGER_SMTP_FROM": "pager@example.com",
        "PAGER_TWILIO_ACCOUNT_SID": twilio.account_sid,
        "PAGER_TWILIO_AUTH_TOKEN": twilio.auth_token,
        "PAGER_TWILIO_FROM": "+15005550006",
        "PAGER_TWILIO_BASE_URL": twilio.url,
        "PAGER_WORKER_POLL_SECONDS": "0.2",
    }
    pagers = start_pager(url, tmp_path, env)
    pager = next(pagers)
    assert pager.admin.put(f"/api/v1/users/{CAROL}", json=PROFILE).status_code == 201
    level = {"ack_timeout_seconds": 3600, "targets": [{"type": "user", "user": CAROL}]}
    policy = pager.policy(levels=[level])
    pager.service("people", policy)
    clock = FakeClock(datetime.now(UTC) - timedelta(hours=1))
    app = bootstrap(Settings(database_url=url), clock=clock)
    yield pager, app, clock
    app.engine.dispose()
    pagers.close()


def step_55_seconds_ago(app: App, clock: FakeClock, message: str) -> str:
    clock.advance((datetime.now(UTC) - timedelta(seconds=55) - clock.now()).total_seconds())
    return app.handlers.receive_alert("people", message).incident_id


def test_sms_first_then_the_email_a_minute_after_the_step(
    served: tuple[Pager, App, FakeClock], smtp: SmtpSink, twilio: TwilioServer
) -> None:
    pager, app, clock = served
    incident_id = step_55_seconds_ago(app, clock, "disk full")
    [sms] = twilio.wait_for(1, timeout=10)
    assert sms.to == "+14155550123"
    assert smtp.messages == []  # not due for another few seconds
    [mail] = smtp.wait_for(1, timeout=15)
    assert mail.rcpt_tos == (CAROL,)
    assert incident_id in mail.body

    def pages() -> list[tuple[str, str, str]]:
        shown = pager.incident(incident_id)
        return sorted((n["channel"], n["status"], n["via"]) for n in shown["notifications"])

    # The mail is in the sink a moment before its sender records the send.
    wait_until(lambda: all(status != "queued" for _, status, _ in pages()), what="recorded")
    assert pages() == [
        ("email", "sent", f"user {CAROL} (email mail, after 1 min)"),
        ("sms", "sent", f"user {CAROL} (sms phone, after 0 min)"),
    ]


def test_nothing_more_after_the_acknowledgement(
    served: tuple[Pager, App, FakeClock], smtp: SmtpSink, twilio: TwilioServer
) -> None:
    pager, app, clock = served
    incident_id = step_55_seconds_ago(app, clock, "disk full")
    twilio.wait_for(1, timeout=10)
    acked = pager.admin.post(f"/api/v1/incidents/{incident_id}/acknowledge", json={})
    assert acked.status_code == 200, acked.text
    due = clock.now() + timedelta(minutes=1)
    # Past the email's due time, and a few of the worker's polls.
    time.sleep((due - datetime.now(UTC)).total_seconds() + 1.5)
    assert smtp.messages == []
    assert len(twilio.messages) == 1
    statuses = {n["channel"]: n["status"] for n in pager.incident(incident_id)["notifications"]}
    assert statuses == {"sms": "sent", "email": "cancelled"}
