"""Calls and SMS replies end to end: `pagerd serve` (SQLite, then PostgreSQL) paging through
tests/support's TwilioServer, which answers the calls and the texts as a person would and
calls Pager back as Twilio does, signed as Twilio signs, at the address Pager gave it (the
one it listens on: PAGER_PUBLIC_URL is unset). Users, policies and services are made over
the API; what happened is read back from it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from twilio.request_validator import RequestValidator

from pager.bootstrap import bootstrap
from pager.config import Settings
from tests.e2e.conftest import Pager, start_pager
from tests.support.clock import FakeClock
from tests.support.db import SKIP_MESSAGE, postgres_server_url, temporary_postgres_database
from tests.support.servers import Call, Sms, TwilioServer, spoken
from tests.support.worker import wait_until

TWILIO_NUMBER = "+15005550006"
CAROL, CAROL_VOICE, CAROL_SMS = "carol@example.com", "+14155550131", "+14155550132"
DAVE, DAVE_SMS = "dave@example.com", "+14155550141"
LEVEL_TWO = "+14155550150"
PROFILES = {
    CAROL: {
        "name": "Carol",
        "contact_methods": [
            {"id": "desk", "type": "voice", "phone": CAROL_VOICE},
            {"id": "phone", "type": "sms", "phone": CAROL_SMS},
        ],
        "notification_rules": [
            {"delay_minutes": 0, "contact_method": "desk"},
            {"delay_minutes": 1, "contact_method": "phone"},
        ],
    },
    DAVE: {"name": "Dave", "contact_methods": [{"id": "phone", "type": "sms", "phone": DAVE_SMS}]},
}


@pytest.fixture(scope="module")
def twilio() -> Iterator[TwilioServer]:
    with TwilioServer() as server:
        yield server


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, twilio: TwilioServer
) -> Iterator[Pager]:
    workdir = tmp_path_factory.mktemp(f"pager-twilio-{request.param}")
    env = {
        "PAGER_TWILIO_ACCOUNT_SID": twilio.account_sid,
        "PAGER_TWILIO_AUTH_TOKEN": twilio.auth_token,
        "PAGER_TWILIO_FROM": TWILIO_NUMBER,
        "PAGER_TWILIO_BASE_URL": twilio.url,
        "PAGER_WORKER_POLL_SECONDS": "0.2",
    }

    def serve(url: str) -> Iterator[Pager]:
        pagers = start_pager(url, workdir, env)
        pager = next(pagers)
        for email, profile in PROFILES.items():
            answer = pager.admin.put(f"/api/v1/users/{email}", json=profile)
            assert answer.status_code == 201, answer.text
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


def service(pager: Pager, *targets: dict[str, Any], timeout: int = 3600) -> str:
    """A service whose level 1 pages `targets`, level 2 an SMS to LEVEL_TWO."""
    levels = [
        {"ack_timeout_seconds": timeout, "targets": list(targets)},
        {"ack_timeout_seconds": timeout, "targets": [{"type": "sms", "phone": LEVEL_TWO}]},
    ]
    service_id, _ = pager.service(policy_id=pager.policy(levels=levels))
    return service_id


def alert(pager: Pager, service_id: str) -> str:
    answer = pager.admin.post(
        "/api/v1/alerts", json={"service": service_id, "message": "disk full on db-1"}
    )
    assert answer.status_code == 202, answer.text
    incident_id: str = answer.json()["incident_id"]
    return incident_id


def new_call(twilio: TwilioServer, seen: int, to: str) -> Call:
    (call,) = [c for c in twilio.calls.wait_for(seen + 1, timeout=15)[seen:] if c.to == to]
    return call


def new_text(twilio: TwilioServer, seen: int, to: str, timeout: float = 15) -> Sms:
    deadline = datetime.now(UTC) + timedelta(seconds=timeout)
    while True:
        found = [m for m in twilio.messages[seen:] if m.to == to]
        if found:
            return found[0]
        remaining = (deadline - datetime.now(UTC)).total_seconds()
        assert remaining > 0, f"no text to {to}"
        twilio.messages.wait_for(len(twilio.messages) + 1, timeout=remaining)


def called(pager: Pager, twilio: TwilioServer, **policy: Any) -> tuple[str, Call]:
    seen = len(twilio.calls)
    incident_id = alert(pager, service(pager, {"type": "user", "user": CAROL}, **policy))
    call = new_call(twilio, seen, CAROL_VOICE)
    wait_until(lambda: _voice(pager, incident_id)["status"] == "sent", what="the call recorded")
    return incident_id, call


def _voice(pager: Pager, incident_id: str) -> dict[str, Any]:
    (voice,) = [n for n in pager.incident(incident_id)["notifications"] if n["channel"] == "voice"]
    return voice


def acknowledgements(pager: Pager, incident_id: str) -> list[str]:
    timeline = pager.incident(incident_id)["timeline"]
    return [e["data"]["by"] for e in timeline if e["type"] == "Acknowledged"]


def reply_code(sms: Sms) -> str:
    found = re.search(r"Reply 1 ([0-9]{4}) to acknowledge, 2 \1 to resolve$", sms.body)
    assert found is not None, sms.body
    return found[1]


def text_back(pager: Pager, twilio: TwilioServer, sender: str, body: str) -> str:
    answer = twilio.text_in(f"{pager.url}/integrations/twilio/sms", sender, TWILIO_NUMBER, body)
    assert answer.status_code == 200, answer.text
    (message,) = ET.fromstring(answer.content).iter("Message")
    return message.text or ""


def test_a_call_answered_with_1_acknowledges_as_the_person(
    served: Pager, twilio: TwilioServer
) -> None:
    incident_id, call = called(served, twilio)
    assert call.url == f"{served.url}/integrations/twilio/voice/{_voice(served, incident_id)['id']}"
    leg = twilio.answer_call(call, digits="1")
    assert "disk full on db-1" in spoken(leg.twiml)[0]
    assert leg.answer is not None
    assert spoken(leg.answer) == ["Acknowledged. Thank you."]
    shown = served.incident(incident_id)
    assert (shown["status"], shown["acknowledged_by"]) == ("acknowledged", CAROL)
    assert acknowledgements(served, incident_id) == [CAROL]


def test_a_call_answered_with_2_escalates_to_level_2(served: Pager, twilio: TwilioServer) -> None:
    incident_id, call = called(served, twilio)
    seen = len(twilio.messages)
    leg = twilio.answer_call(call, digits="2")
    assert leg.answer is not None
    assert spoken(leg.answer) == ["Escalated to level 2."]
    assert new_text(twilio, seen, LEVEL_TWO).to == LEVEL_TWO
    shown = served.incident(incident_id)
    assert (shown["status"], shown["level"]) == ("triggered", 2)
    assert [e["data"]["by"] for e in shown["timeline"] if e["type"] == "Escalated"] == [CAROL]


def test_an_unanswered_call_is_a_failed_attempt_and_the_next_rule_and_level_still_come(
    served: Pager, twilio: TwilioServer
) -> None:
    """The step is made from this process 55 s in the past (the server runs on the real
    clock), so that Carol's 1-minute rule and the 60 s level fall due seconds from now."""
    service_id = service(served, {"type": "user", "user": CAROL}, timeout=60)
    clock = FakeClock(datetime.now(UTC) - timedelta(seconds=55))
    app = bootstrap(Settings(database_url=served.process.database_url), clock=clock)
    calls, texts = len(twilio.calls), len(twilio.messages)
    try:
        incident_id = app.handlers.receive_alert(service_id, "disk full").incident_id
    finally:
        app.engine.dispose()
    call = new_call(twilio, calls, CAROL_VOICE)
    wait_until(lambda: _voice(served, incident_id)["status"] == "sent", what="the call recorded")
    assert twilio.finish_call(call, "no-answer").status_code == 204
    voice = _voice(served, incident_id)
    assert (voice["status"], voice["last_error"]) == ("failed", "call not answered (no-answer)")
    assert served.incident(incident_id)["failed_notifications"] == 1

    assert new_text(twilio, texts, CAROL_SMS).to == CAROL_SMS  # her next rule
    assert new_text(twilio, texts, LEVEL_TWO).to == LEVEL_TWO  # the next level, on time
    metrics = served.anonymous.get("/metrics").text
    assert re.search(r'pager_notifications_failed_total\{channel="voice"\} [1-9]', metrics)


def test_an_sms_reply_with_the_code_acknowledges(served: Pager, twilio: TwilioServer) -> None:
    seen = len(twilio.messages)
    incident_id = alert(served, service(served, {"type": "user", "user": DAVE}))
    code = reply_code(new_text(twilio, seen, DAVE_SMS))
    assert text_back(served, twilio, DAVE_SMS, f"1 {code}").endswith(": Acknowledged. Thank you.")
    assert acknowledgements(served, incident_id) == [DAVE]
    said = text_back(served, twilio, DAVE_SMS, f" 1-{code} ")
    assert said.endswith(f": Already acknowledged by {DAVE}.")


def test_a_reply_from_another_number_or_with_a_wrong_code_changes_nothing(
    served: Pager, twilio: TwilioServer
) -> None:
    seen = len(twilio.messages)
    incident_id = alert(served, service(served, {"type": "user", "user": DAVE}))
    code = reply_code(new_text(twilio, seen, DAVE_SMS))
    seen = len(twilio.messages)
    elsewhere = alert(served, service(served, {"type": "sms", "phone": "+14155550160"}))
    others_code = reply_code(new_text(twilio, seen, "+14155550160"))
    wrong = f"{(int(code) + 1) % 10000:04d}"
    replies = [
        ("+14155550999", f"1 {code}"),
        ("+14155550160", f"1 {code}" if code != others_code else f"1 {wrong}"),
        (DAVE_SMS, f"1 {wrong if wrong != others_code else code[::-1]}"),
        (DAVE_SMS, f"1 {others_code}" if others_code != code else "1 x"),
        (DAVE_SMS, "yes"),
    ]
    for sender, body in replies:
        said = text_back(served, twilio, sender, body)
        assert said.startswith("Pager: to act on a page, reply with 1 and its code"), said
    for incident in (incident_id, elsewhere):
        assert served.incident(incident)["status"] == "triggered"


def test_missing_or_forged_signatures_are_403_and_change_nothing(
    served: Pager, twilio: TwilioServer
) -> None:
    incident_id, call = called(served, twilio)
    press = call.url + "/gather"
    params = twilio.call_params(call, "in-progress") | {"Digits": "1"}
    assert RequestValidator(twilio.auth_token).validate(press, params, twilio.sign(press, params))
    for signature in (None, "Zm9yZ2Vk", twilio.sign(press, params | {"Digits": "2"})):
        assert twilio.post(press, params, signature=signature).status_code == 403
    ended = twilio.call_params(call, "no-answer")
    assert twilio.post(call.url + "/status", ended, signature=None).status_code == 403
    shown = served.incident(incident_id)
    assert (shown["status"], shown["failed_notifications"]) == ("triggered", 0)


def test_fifty_concurrent_presses_and_replies_acknowledge_once(
    served: Pager, twilio: TwilioServer
) -> None:
    calls, texts = len(twilio.calls), len(twilio.messages)
    targets = ({"type": "user", "user": CAROL}, {"type": "user", "user": DAVE})
    incident_id = alert(served, service(served, *targets))
    call = new_call(twilio, calls, CAROL_VOICE)
    code = reply_code(new_text(twilio, texts, DAVE_SMS))
    wait_until(lambda: _voice(served, incident_id)["status"] == "sent", what="the call recorded")

    def press(_: int) -> str:
        answer = twilio.press(call.url + "/gather", call, "1")
        assert answer.status_code == 200, answer.text
        (said,) = spoken(ET.fromstring(answer.content))
        return said

    def text(_: int) -> str:
        return text_back(served, twilio, DAVE_SMS, f"1 {code}")

    with ThreadPoolExecutor(max_workers=50) as pool:
        presses = [pool.submit(press, n) for n in range(25)]
        replies = [pool.submit(text, n) for n in range(25)]
        said = [f.result() for f in presses] + [f.result() for f in replies]
    acknowledged = [s for s in said if s.endswith("Acknowledged. Thank you.")]
    assert len(acknowledged) == 1, said
    (by,) = acknowledgements(served, incident_id)
    assert by in (CAROL, DAVE)
    assert all(s.endswith(f"Already acknowledged by {by}.") for s in said if s not in acknowledged)
