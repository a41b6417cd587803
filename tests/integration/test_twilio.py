"""Voice calls and SMS replies through Twilio, on SQLite and PostgreSQL: the real handlers,
storage, worker and HTTP app (a TestClient), and tests/support's TwilioServer, which takes
the calls and texts and calls Pager back as Twilio does, signed as Twilio signs. A key press
acknowledges or escalates as the person called; an unanswered call is a failed attempt of
its page, and the person's next rule and the next level still come; an SMS reply with the
page's code acknowledges or resolves, anything else gets the help line and changes nothing;
an unsigned or forged request is a 403 and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from xml.etree import ElementTree as ET

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from twilio.request_validator import RequestValidator

from pager.adapters.storage import tables as t
from pager.bootstrap import App, bootstrap
from pager.config import Settings
from pager.domain.people import ContactMethod, NotificationRule, Person
from pager.domain.policy import (
    EscalationPolicy,
    Level,
    SmsTarget,
    Target,
    UserTarget,
    VoiceTarget,
)
from pager.entrypoints.http.app import create_app
from pager.entrypoints.http.schemas import IncidentDetailOut
from pager.entrypoints.http.twilio import SMS_HELP
from tests.support.clock import FakeClock
from tests.support.servers import Call, TwilioServer, spoken
from tests.support.worker import running_worker, wait_until

PUBLIC = "https://pager.example.com"
SMS_URL = f"{PUBLIC}/integrations/twilio/sms"
TWILIO_NUMBER = "+15005550006"
ALICE = Person(
    "alice@example.com",
    "Alice",
    contact_methods=(
        ContactMethod("desk", "voice", "+14155550101"),
        ContactMethod("phone", "sms", "+14155550100"),
    ),
    rules=(NotificationRule(0, "desk"), NotificationRule(1, "phone")),
)
BOB = Person(
    "bob@example.com",
    "Bob",
    contact_methods=(ContactMethod("phone", "sms", "+14155550102"),),
)
LEVEL_TWO = SmsTarget("+14155550200")


def settings(database_url: str, twilio: TwilioServer, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "public_url": PUBLIC,
        "twilio_account_sid": twilio.account_sid,
        "twilio_auth_token": twilio.auth_token,
        "twilio_from": TWILIO_NUMBER,
        "twilio_base_url": twilio.url,
        "worker_poll_seconds": 0.05,
    }
    return Settings(**(values | changes))


@pytest.fixture
def app(database_url: str, clock: FakeClock, twilio: TwilioServer) -> Iterator[App]:
    app = bootstrap(settings(database_url, twilio), clock=clock)
    for person in (ALICE, BOB):
        app.accounts.add_user(person.email, profile=person)
    yield app
    app.engine.dispose()


@pytest.fixture
def client(app: App, twilio: TwilioServer) -> Iterator[TestClient]:
    """Pager's HTTP app, where the Twilio server's callbacks go."""
    with TestClient(create_app(app)) as client:
        twilio.via = client
        yield client
    twilio.via = None


def policy(app: App, *targets: Target, service: str = "db", name: str = "Database") -> None:
    """Level 1 pages `targets`, level 2 an SMS to LEVEL_TWO; ten minutes each."""
    levels = (Level(targets, 600), Level((LEVEL_TWO,), 600))
    app.handlers.define_policy(EscalationPolicy(f"{service}-ops", "Ops", levels))
    app.handlers.define_service(service, name, f"{service}-ops")


def detail(app: App, incident_id: str) -> dict[str, Any]:
    found = app.queries.incident(incident_id)
    assert found is not None
    return IncidentDetailOut.of_detail(found).model_dump(mode="json")


def events(app: App, incident_id: str, kind: str) -> list[dict[str, Any]]:
    return [e["data"] for e in detail(app, incident_id)["timeline"] if e["type"] == kind]


def page_status(app: App, channel: str) -> list[tuple[str, str | None]]:
    n = t.notifications.c
    with app.engine.connect() as conn:
        rows = conn.execute(
            sa.select(n.status, n.last_error).where(n.channel == channel).order_by(n.created_at)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def called(app: App, twilio: TwilioServer, *targets: Target) -> tuple[str, Call]:
    """An incident whose level 1 pages `targets` (a call among them), and the call, placed."""
    policy(app, *targets)
    incident_id = app.handlers.receive_alert("db", "disk full on db-1").incident_id
    (call,) = twilio.calls.wait_for(1)
    wait_until(lambda: page_status(app, "voice") == [("sent", None)], what="the call recorded")
    return incident_id, call


def failed_calls() -> float:
    return REGISTRY.get_sample_value("pager_notifications_failed_total", {"channel": "voice"}) or 0


# -- calls


def test_a_voice_page_is_a_call_whose_twiml_pager_serves(
    app: App, client: TestClient, twilio: TwilioServer
) -> None:
    with running_worker(app):
        incident_id, call = called(app, twilio, UserTarget(ALICE.email))
    (notification,) = [
        n for n in detail(app, incident_id)["notifications"] if n["channel"] == "voice"
    ]
    base = f"{PUBLIC}/integrations/twilio/voice/{notification['id']}"
    request = next(r for r in twilio.requests if r.path.endswith("/Calls.json"))
    assert request.form() == {
        "To": "+14155550101",
        "From": TWILIO_NUMBER,
        "Url": base,
        "Method": "POST",
        "StatusCallback": f"{base}/status",
        "StatusCallbackMethod": "POST",
        "Timeout": "30",
    }
    with app.engine.connect() as conn:
        provider_id = conn.scalar(sa.select(t.notification_attempts.c.provider_id))
    assert provider_id == call.sid
    assert call.sid.startswith("CA")

    leg = twilio.answer_call(call)
    gathers = leg.twiml.findall("Gather")
    assert [(g.get("numDigits"), g.get("action"), g.get("method")) for g in gathers] == [
        ("1", f"{base}/gather", "POST")
    ] * 2  # said once more when nothing is pressed
    first, again, goodbye = spoken(leg.twiml)
    assert "Database" in first
    assert "disk full on db-1" in first
    assert "Level 1" in first
    assert first.endswith("Press 1 to acknowledge, 2 to escalate.")
    assert again == "Press 1 to acknowledge, 2 to escalate."
    assert goodbye == "Nothing was pressed. Goodbye."
    assert leg.twiml.find("Hangup") is not None


def test_pressing_1_acknowledges_as_the_person_called(
    app: App, client: TestClient, twilio: TwilioServer
) -> None:
    with running_worker(app):
        incident_id, call = called(app, twilio, UserTarget(ALICE.email))
        leg = twilio.answer_call(call, digits="1")
        assert leg.answer is not None
        assert spoken(leg.answer) == ["Acknowledged. Thank you."]
        assert [e["by"] for e in events(app, incident_id, "Acknowledged")] == [ALICE.email]

        again = twilio.answer_call(call, digits="1")
    assert again.answer is not None
    assert "It was acknowledged by alice@example.com." in spoken(again.twiml)[0]
    assert spoken(again.answer) == ["Already acknowledged by alice@example.com."]
    assert len(events(app, incident_id, "Acknowledged")) == 1


def test_a_direct_voice_target_acknowledges_as_its_number(
    app: App, client: TestClient, twilio: TwilioServer
) -> None:
    with running_worker(app):
        incident_id, call = called(app, twilio, VoiceTarget("+14155550199"))
        twilio.answer_call(call, digits="1")
    assert detail(app, incident_id)["acknowledged_by"] == "+14155550199 (voice call)"


def test_pressing_2_escalates_to_the_next_level_and_past_the_last_says_so(
    app: App, client: TestClient, twilio: TwilioServer
) -> None:
    with running_worker(app):
        incident_id, call = called(app, twilio, UserTarget(ALICE.email))
        leg = twilio.answer_call(call, digits="2")
        assert leg.answer is not None
        assert spoken(leg.answer) == ["Escalated to level 2."]
        (sms,) = twilio.wait_for(1)
        assert sms.to == LEVEL_TWO.phone
        assert [e["by"] for e in events(app, incident_id, "Escalated")] == [ALICE.email]

        last = twilio.answer_call(call, digits="2")
    assert last.answer is not None
    assert spoken(last.answer) == [
        "Every level has been paged already: there is no level to escalate to."
    ]
    assert detail(app, incident_id)["level"] == 2


def test_another_key_says_the_menu_again_and_changes_nothing(
    app: App, client: TestClient, twilio: TwilioServer
) -> None:
    with running_worker(app):
        incident_id, call = called(app, twilio, UserTarget(ALICE.email))
        leg = twilio.answer_call(call, digits="9")
    assert leg.answer is not None
    assert leg.answer.find("Gather") is not None
    assert spoken(leg.answer)[0] == (
        "That is not one of the choices. Press 1 to acknowledge, 2 to escalate."
    )
    assert detail(app, incident_id)["status"] == "triggered"


def test_a_call_about_a_resolved_incident_says_so(
    app: App, client: TestClient, twilio: TwilioServer
) -> None:
    with running_worker(app):
        incident_id, call = called(app, twilio, UserTarget(ALICE.email))
    app.handlers.mark_healthy("db")
    leg = twilio.answer_call(call)
    assert leg.twiml.find("Gather") is None
    assert spoken(leg.twiml)[0].endswith("This incident is resolved.")
    pressed = twilio.press(f"{call.url}/gather", call, "1")
    assert spoken(ET.fromstring(pressed.content)) == ["This incident is resolved."]
    assert detail(app, incident_id)["acknowledged_by"] is None


def test_an_unanswered_call_is_a_failed_attempt_and_the_next_rule_and_level_still_come(
    app: App, client: TestClient, twilio: TwilioServer, clock: FakeClock
) -> None:
    before = failed_calls()
    with running_worker(app):
        incident_id, call = called(app, twilio, UserTarget(ALICE.email))
        assert twilio.finish_call(call, "no-answer").status_code == 204
        assert page_status(app, "voice") == [("failed", "call not answered (no-answer)")]
        assert twilio.finish_call(call, "no-answer").status_code == 204  # Twilio may repeat

        clock.advance(60)  # Alice's second rule: an SMS a minute after the step
        (sms,) = twilio.wait_for(1)
        assert sms.to == "+14155550100"
        clock.advance(600)  # level 1 timed out
        (_, level_two) = twilio.wait_for(2)
        assert level_two.to == LEVEL_TWO.phone
    shown = detail(app, incident_id)
    assert shown["failed_notifications"] == 1
    (voice,) = [n for n in shown["notifications"] if n["channel"] == "voice"]
    assert (voice["status"], voice["attempts"]) == ("failed", 2)
    attempts = [e["data"] for e in shown["timeline"] if e["data"].get("channel") == "voice"]
    assert [(a["outcome"], a.get("error")) for a in attempts] == [
        ("sent", None),
        ("failed", "call not answered (no-answer)"),
    ]
    assert failed_calls() == before + 1


@pytest.mark.parametrize("status", ["completed", "in-progress", "ringing"])
def test_a_call_that_was_answered_changes_nothing(
    app: App, client: TestClient, twilio: TwilioServer, status: str
) -> None:
    with running_worker(app):
        incident_id, call = called(app, twilio, UserTarget(ALICE.email))
        assert twilio.finish_call(call, status, duration=20).status_code == 204
    assert page_status(app, "voice") == [("sent", None)]
    assert detail(app, incident_id)["failed_notifications"] == 0


def test_only_a_sent_call_can_become_a_failed_one(
    app: App, client: TestClient, twilio: TwilioServer, clock: FakeClock
) -> None:
    policy(app, UserTarget(BOB.email))
    with running_worker(app):
        incident_id = app.handlers.receive_alert("db", "disk full").incident_id
        twilio.wait_for(1)
        wait_until(lambda: page_status(app, "sms") == [("sent", None)])
    (sms,) = [n for n in detail(app, incident_id)["notifications"] if n["channel"] == "sms"]
    assert not app.sent_pages.call_failed(sms["id"], clock.now(), "x", None)
    assert not app.sent_pages.call_failed("0" * 32, clock.now(), "x", None)
    assert page_status(app, "sms") == [("sent", None)]


# -- SMS replies


def texted(app: App, twilio: TwilioServer, *targets: Target, service: str = "db") -> str:
    policy(app, *targets, service=service, name=service.title())
    incident_id = app.handlers.receive_alert(service, "disk full").incident_id
    twilio.messages.wait_for(len(twilio.messages) + len(targets))
    wait_until(lambda: ("queued", None) not in page_status(app, "sms"), what="the texts sent")
    return incident_id


def reply(twilio: TwilioServer, sender: str, body: str) -> str:
    answer = twilio.text_in(SMS_URL, sender, TWILIO_NUMBER, body)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/xml")
    (message,) = ET.fromstring(answer.content).iter("Message")
    return message.text or ""


def test_an_sms_page_ends_with_its_reply_code(
    app: App, client: TestClient, twilio: TwilioServer
) -> None:
    with running_worker(app):
        incident_id = texted(app, twilio, UserTarget(BOB.email))
    (sms,) = twilio.messages
    code = app.reply_codes.code(incident_id)
    assert sms.body.endswith(f"Reply 1 {code} to acknowledge, 2 {code} to resolve")
    assert len(sms.body) <= 160


@pytest.mark.parametrize("shape", ["1 {code}", "1-{code}", " 1{code} ", "1 {code}.", "1\n{code}"])
def test_replying_1_and_the_code_acknowledges_as_the_person_texted(
    app: App, client: TestClient, twilio: TwilioServer, shape: str
) -> None:
    with running_worker(app):
        incident_id = texted(app, twilio, UserTarget(BOB.email))
        code = app.reply_codes.code(incident_id)
        said = reply(twilio, BOB.contact_methods[0].address, shape.format(code=code))
    assert said == f"#{incident_id[:8]} (Db): Acknowledged. Thank you."
    assert [e["by"] for e in events(app, incident_id, "Acknowledged")] == [BOB.email]


def test_a_reply_to_a_direct_sms_target_acknowledges_as_its_number(
    app: App, client: TestClient, twilio: TwilioServer
) -> None:
    with running_worker(app):
        incident_id = texted(app, twilio, SmsTarget("+14155550103"))
        reply(twilio, "+14155550103", f"1 {app.reply_codes.code(incident_id)}")
    assert detail(app, incident_id)["acknowledged_by"] == "+14155550103 (SMS reply)"


def test_replying_2_resolves_and_later_replies_say_it_is_resolved(
    app: App, client: TestClient, twilio: TwilioServer
) -> None:
    with running_worker(app):
        incident_id = texted(app, twilio, UserTarget(BOB.email))
        code = app.reply_codes.code(incident_id)
        phone = BOB.contact_methods[0].address
        assert reply(twilio, phone, f"2 {code}").endswith(": Resolved. Thank you.")
        assert reply(twilio, phone, f"1 {code}").endswith(": This incident is resolved.")
        assert reply(twilio, phone, f"2 {code}").endswith(": This incident is resolved.")
    shown = detail(app, incident_id)
    assert (shown["status"], shown["resolved_by"]) == ("resolved", BOB.email)


def test_a_reply_to_an_acknowledged_incident_names_who_acknowledged_it(
    app: App, client: TestClient, twilio: TwilioServer
) -> None:
    with running_worker(app):
        incident_id = texted(app, twilio, UserTarget(BOB.email))
        app.handlers.acknowledge(incident_id, "carol@example.com")
        said = reply(
            twilio, BOB.contact_methods[0].address, f"1 {app.reply_codes.code(incident_id)}"
        )
    assert said.endswith(": Already acknowledged by carol@example.com.")
    assert [e["by"] for e in events(app, incident_id, "Acknowledged")] == ["carol@example.com"]


def test_replies_that_are_not_a_page_s_get_the_help_line_and_change_nothing(
    app: App, client: TestClient, twilio: TwilioServer
) -> None:
    with running_worker(app):
        incident_id = texted(app, twilio, UserTarget(BOB.email))
        other = texted(app, twilio, SmsTarget("+14155550104"), service="web")
        code, others_code = app.reply_codes.code(incident_id), app.reply_codes.code(other)
        bob = BOB.contact_methods[0].address
        wrong = f"{(int(code) + 1) % 10000:04d}"
        # (Two incidents' codes agree once in 10,000: then the other's is taken as wrong.)
        others_code = others_code if others_code != code else wrong
        for sender, body in [
            ("+14155550999", f"1 {code}"),  # a number the page did not go to
            ("+14155550104", f"1 {code}"),  # a number of another service's page
            (bob, f"1 {wrong}"),
            (bob, f"1 {others_code}"),  # the code of another service's page
            (bob, f"3 {code}"),
            (bob, "ack"),
            (bob, ""),
            (bob, f"1 {code} 1 {code}"),
        ]:
            assert reply(twilio, sender, body) == SMS_HELP, (sender, body)
    for incident in (incident_id, other):
        assert detail(app, incident)["status"] == "triggered"
    assert len(SMS_HELP) <= 160


# -- signatures


def routes(app: App) -> list[str]:
    n = t.notifications.c
    with app.engine.connect() as conn:
        voice = conn.scalar(sa.select(n.id).where(n.channel == "voice"))
    base = f"{PUBLIC}/integrations/twilio/voice/{voice}"
    return [base, f"{base}/gather", f"{base}/status", SMS_URL]


def test_the_test_server_signs_as_twilio_s_validator_expects(twilio: TwilioServer) -> None:
    params = twilio.text_params("+14155550102", TWILIO_NUMBER, "1 4821")
    signature = twilio.sign(SMS_URL, params)
    validator = RequestValidator(twilio.auth_token)
    assert validator.validate(SMS_URL, params, signature)
    assert not validator.validate(SMS_URL, params | {"Body": "2 4821"}, signature)
    assert not RequestValidator("another").validate(SMS_URL, params, signature)


def test_a_webhook_url_with_a_query_is_verified_with_its_query(
    client: TestClient, twilio: TwilioServer
) -> None:
    # Twilio signs the URL as set in its console, query included.
    url = f"{SMS_URL}?team=ops"
    params = twilio.text_params("+14155550999", TWILIO_NUMBER, "ack")
    answer = twilio.post(url, params)
    assert answer.status_code == 200, answer.text
    [message] = ET.fromstring(answer.content).iter("Message")
    assert message.text == SMS_HELP
    without_query = twilio.post(url, params, signature=twilio.sign(SMS_URL, params))
    assert without_query.status_code == 403, without_query.text


@pytest.mark.parametrize("forgery", ["missing", "wrong", "another url", "other params"])
def test_an_unsigned_or_forged_request_is_403_and_changes_nothing(
    app: App, client: TestClient, twilio: TwilioServer, forgery: str
) -> None:
    with running_worker(app):
        incident_id, call = called(app, twilio, UserTarget(ALICE.email), UserTarget(BOB.email))
    code = app.reply_codes.code(incident_id)
    bob = BOB.contact_methods[0].address
    for url in routes(app):
        if url == SMS_URL:
            params = twilio.text_params(bob, TWILIO_NUMBER, f"1 {code}")
        else:
            status = "no-answer" if url.endswith("/status") else "in-progress"
            params = twilio.call_params(call, status) | {"Digits": "1"}
        signature = {
            "missing": None,
            "wrong": "c2lnbmF0dXJl",
            "another url": twilio.sign(url.replace(PUBLIC, "http://127.0.0.1:8080"), params),
            "other params": twilio.sign(url, params | {"Digits": "2", "Body": "x"}),
        }[forgery]
        answer = twilio.post(url, params, signature=signature)
        assert answer.status_code == 403, (url, answer.text)
        assert "X-Twilio-Signature" in answer.json()["error"]["message"]
    shown = detail(app, incident_id)
    assert (shown["status"], shown["failed_notifications"]) == ("triggered", 0)
    assert page_status(app, "voice") == [("sent", None)]


def test_without_twilio_configured_the_routes_say_so(
    database_url: str, clock: FakeClock, twilio: TwilioServer
) -> None:
    app = bootstrap(settings(database_url, twilio, twilio_auth_token=None), clock=clock)
    with TestClient(create_app(app)) as client:
        twilio.via = client
        answer = twilio.text_in(SMS_URL, "+14155550102", TWILIO_NUMBER, "1 4821")
        twilio.via = None
    assert answer.status_code == 404
    assert "PAGER_TWILIO_AUTH_TOKEN" in answer.json()["error"]["message"]
    app.engine.dispose()
