"""Low urgency end to end: `pagerd serve` (SQLite, then PostgreSQL) with a real SMTP server
and tests/support's TwilioServer. A warning from Alertmanager on a service that pages
warnings at low urgency emails level 1 and texts nobody; a critical alert on the same
incident raises it and texts level 1 (the person's phone and the level's own number)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Pager, start_pager
from tests.support.db import SKIP_MESSAGE, postgres_server_url, temporary_postgres_database
from tests.support.servers import SmtpSink, TwilioServer
from tests.support.worker import wait_until

DANA, DANA_SMS, DESK_SMS = "dana@example.com", "+14155550170", "+14155550171"
LEVEL_TWO = "+14155550172"
PROFILE = {
    "name": "Dana",
    "contact_methods": [
        {"id": "work", "type": "email", "address": DANA},
        {"id": "phone", "type": "sms", "phone": DANA_SMS},
    ],
    "notification_rules": [
        {"delay_minutes": 0, "contact_method": "work"},
        {"delay_minutes": 0, "contact_method": "phone"},
    ],
}


@pytest.fixture(scope="module")
def mail() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture(scope="module")
def twilio() -> Iterator[TwilioServer]:
    with TwilioServer() as server:
        yield server


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def served(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    mail: SmtpSink,
    twilio: TwilioServer,
) -> Iterator[Pager]:
    workdir = tmp_path_factory.mktemp(f"pager-urgency-{request.param}")
    env = {
        "PAGER_SMTP_URL": mail.url(),
        "PAGER_SMTP_FROM": "pager@example.com",
        "PAGER_TWILIO_ACCOUNT_SID": twilio.account_sid,
        "PAGER_TWILIO_AUTH_TOKEN": twilio.auth_token,
        "PAGER_TWILIO_FROM": "+15005550006",
        "PAGER_TWILIO_BASE_URL": twilio.url,
        "PAGER_WORKER_POLL_SECONDS": "0.2",
    }

    def serve(url: str) -> Iterator[Pager]:
        pagers = start_pager(url, workdir, env)
        pager = next(pagers)
        assert pager.admin.put(f"/api/v1/users/{DANA}", json=PROFILE).status_code == 201
        yield pager
        pagers.close()

    if request.param == "sqlite":
        yield from serve(f"sqlite:///{workdir / 'pager.db'}")
        return
    server = postgres_server_url()
    if server is None:
        pytest.skip(SKIP_MESSAGE)
    with temporary_postgres_database(server) as url:
        yield from serve(url)


def low_urgency_service(pager: Pager) -> tuple[str, str]:
    """Level 1 pages Dana (email and SMS) and the desk's phone; warnings are low urgency."""
    levels = [
        {"targets": [{"type": "user", "user": DANA}, {"type": "sms", "phone": DESK_SMS}]},
        {"targets": [{"type": "sms", "phone": LEVEL_TWO}]},
    ]
    policy_id = pager.policy(levels=levels)
    service_id = pager.new_id("svc")
    body = {
        "name": "Disks",
        "escalation_policy": policy_id,
        "low_urgency_severities": ["warning", "info"],
    }
    answer = pager.admin.put(f"/api/v1/services/{service_id}", json=body)
    assert answer.status_code == 201, answer.text
    assert answer.json()["low_urgency_severities"] == ["warning", "info"]
    return service_id, answer.json()["integration_key"]


def fire(pager: Pager, key: str, fingerprint: str, severity: str) -> dict[str, Any]:
    alert = {
        "status": "firing",
        "labels": {"alertname": "DiskFilling", "instance": "db-1", "severity": severity},
        "annotations": {"summary": "disk 91% full on db-1"},
        "fingerprint": fingerprint,
    }
    answer = pager.client(key).post(
        "/integrations/alertmanager", json={"version": "4", "alerts": [alert]}
    )
    assert answer.status_code == 202, answer.text
    [handled] = answer.json()["alerts"]
    return dict(handled)


def sent(pager: Pager, incident_id: str) -> list[str]:
    """The channels of the incident's pages that went out."""
    found = pager.incident(incident_id)["notifications"]
    return sorted(n["channel"] for n in found if n["status"] == "sent")


def test_a_warning_emails_only_and_a_critical_alert_then_texts_level_1(
    served: Pager, mail: SmtpSink, twilio: TwilioServer
) -> None:
    service_id, key = low_urgency_service(served)
    mails, texts = len(mail.messages), len(twilio.messages)
    incident_id = fire(served, key, "disk-a", "warning")["incident_id"]
    wait_until(lambda: sent(served, incident_id) == ["email"], what="the low-urgency email")
    [email] = [m for m in mail.messages[mails:] if DANA in m.rcpt_tos]
    assert "disk 91% full on db-1" in email.body
    assert email.subject.endswith("(level 1, low urgency)")
    assert "Escalation:  level 1, low urgency" in email.body
    shown = served.incident(incident_id)
    assert (shown["urgency"], shown["severity"]) == ("low", "warning")
    assert [n["channel"] for n in shown["notifications"]] == ["email"]
    assert [m.to for m in twilio.messages[texts:]] == []
    [step] = [e["data"] for e in shown["timeline"] if e["type"] == "LevelNotified"]
    assert sorted(held["target"] for held in step["held_back"]) == [
        f"sms {DESK_SMS}",
        f"user {DANA} (sms phone, after 0 min)",
    ]

    assert fire(served, key, "disk-b", "critical")["action"] == "attached"
    wait_until(lambda: sent(served, incident_id) == ["email", "sms", "sms"], what="the texts")
    assert sorted(m.to for m in twilio.messages[texts:]) == [DANA_SMS, DESK_SMS]
    shown = served.incident(incident_id)
    assert (shown["urgency"], shown["severity"], shown["level"]) == ("high", "critical", 1)
    assert [e["type"] for e in shown["timeline"] if e["type"] == "UrgencyRaised"] == [
        "UrgencyRaised"
    ]
    assert len([m for m in mail.messages[mails:] if DANA in m.rcpt_tos]) == 1
    assert all("low urgency" not in text.body for text in twilio.messages[texts:])
    assert served.get_service(service_id)["open_incident"]["urgency"] == "high"
