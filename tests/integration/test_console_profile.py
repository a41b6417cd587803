"""The console's profile page in process (FastAPI's TestClient) on real SQLite and PostgreSQL,
with a server that speaks Twilio's Messages API: contact methods added, verified with the
code the server received, tested, removed; rules; name and time zone, and times shown in it;
who may see whose profile; bad input named, nothing half-written."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest

from pager.domain.people import ContactMethod, NotificationRule, Person
from tests.integration.test_console import ADMIN, RESPONDER, Console, make_console
from tests.support.clock import FakeClock
from tests.support.servers import SmtpSink, TwilioServer

PHONE = "+14155550100"
CODE = re.compile(r"\b(\d{6})\b")
FLASH = re.compile(r'<p class="flash \w+" role="\w+">([^<]*)</p>')


@pytest.fixture
def console(
    database_url: str, clock: FakeClock, twilio: TwilioServer, smtp: SmtpSink
) -> Iterator[Console]:
    with make_console(
        database_url,
        clock,
        smtp_url=smtp.url(),
        twilio_account_sid=twilio.account_sid,
        twilio_auth_token=twilio.auth_token,
        twilio_from="+14155550199",
        twilio_base_url=twilio.url,
    ) as made:
        yield made


def profile(console: Console, email: str = RESPONDER) -> Person:
    return console.app.accounts.profile(email)


def flashes(page: str) -> list[str]:
    return [html.unescape(text) for text in FLASH.findall(page)]


def test_a_phone_added_for_oneself_is_enabled_by_the_code_sent_to_it(
    console: Console, twilio: TwilioServer
) -> None:
    browser = console.responder
    assert browser.get("/profile", follow_redirects=False).headers["location"] == (
        f"/profile/{RESPONDER}"
    )
    answer = browser.post(
        f"/profile/{RESPONDER}/methods", {"type": "sms", "address": " +1 (415) 555-0100 "}
    )
    assert answer.status_code == 303
    assert profile(console).contact_methods == (ContactMethod("sms", "sms", PHONE, enabled=False),)
    (sms,) = twilio.wait_for(1)
    assert sms.to == PHONE
    code = CODE.search(sms.body)
    assert code

    page = browser.get(f"/profile/{RESPONDER}").text
    assert any("Code sent to +14155550100" in text for text in flashes(page))
    assert "not verified" in page

    wrong = f"{(int(code[1]) + 1) % 1_000_000:06d}"
    answer = browser.post(f"/profile/{RESPONDER}/methods/sms/verify", {"code": wrong})
    assert answer.status_code == 422
    assert "wrong code: 4 tries left" in answer.text
    assert not profile(console).contact_methods[0].enabled

    answer = browser.post(f"/profile/{RESPONDER}/methods/sms/verify", {"code": code[1]})
    assert answer.status_code == 303
    assert profile(console).contact_methods[0].enabled
    page = browser.get(f"/profile/{RESPONDER}").text
    assert "SMS +14155550100 is verified: Pager pages you there now." in flashes(page)


def test_a_bad_phone_is_named_and_nothing_is_added(console: Console, twilio: TwilioServer) -> None:
    answer = console.responder.post(
        f"/profile/{RESPONDER}/methods", {"type": "sms", "address": "0800 FLOWERS"}
    )
    assert answer.status_code == 422
    assert 'id="address-error"' in answer.text
    assert "is not an E.164 phone number such as +14155550100" in answer.text
    assert 'value="0800 FLOWERS"' in answer.text  # no retyping
    answer = console.responder.post(
        f"/profile/{RESPONDER}/methods", {"type": "pigeon", "address": "x"}
    )
    assert answer.status_code == 422
    assert "must be one of email, sms, voice" in answer.text
    assert profile(console).contact_methods == ()
    assert len(twilio.requests) == 0


def test_an_admin_adds_a_phone_for_someone_else_enabled_as_given(
    console: Console, twilio: TwilioServer
) -> None:
    answer = console.admin.post(f"/profile/{RESPONDER}/methods", {"type": "sms", "address": PHONE})
    assert answer.status_code == 303
    assert profile(console).contact_methods == (ContactMethod("sms", "sms", PHONE),)
    assert len(twilio.requests) == 0  # no code: an admin's word is enough
    page = console.admin.get("/admin").text
    assert f'href="/profile/{RESPONDER}"' in page


def test_nobody_but_admins_opens_anothers_profile(console: Console) -> None:
    answer = console.responder.get(f"/profile/{ADMIN}")
    assert answer.status_code == 403
    assert "only your own profile" in answer.text
    answer = console.responder.post(
        f"/profile/{ADMIN}/methods", {"type": "email", "address": "x@example.com"}
    )
    assert answer.status_code == 403
    assert profile(console, ADMIN).contact_methods == ()
    assert console.admin.get(f"/profile/{RESPONDER}").status_code == 200
    assert console.admin.get("/profile/nobody@example.com").status_code == 404


def test_send_test_shows_what_became_of_it(console: Console, smtp: SmtpSink) -> None:
    console.app.accounts.set_profile(
        RESPONDER, contact_methods=(ContactMethod("mail", "email", RESPONDER),)
    )
    answer = console.responder.post(f"/profile/{RESPONDER}/methods/mail/test")
    assert answer.status_code == 303
    (mail,) = smtp.wait_for(1)
    assert mail.rcpt_tos == (RESPONDER,)
    page = console.responder.get(f"/profile/{RESPONDER}").text
    assert f"Test page sent to email {RESPONDER}." in flashes(page)
    assert console.responder.post(f"/profile/{RESPONDER}/methods/nope/test").status_code == 404


def test_rules_are_added_and_removed_and_a_removed_method_takes_its_rules(
    console: Console,
) -> None:
    console.app.accounts.set_profile(
        RESPONDER,
        contact_methods=(
            ContactMethod("sms", "sms", PHONE),
            ContactMethod("mail", "email", RESPONDER),
        ),
    )
    browser = console.responder
    base = f"/profile/{RESPONDER}"
    assert browser.post(f"{base}/rules", {"contact_method": "sms", "delay": "0"}).status_code == 303
    assert (
        browser.post(f"{base}/rules", {"contact_method": "mail", "delay": "5"}).status_code == 303
    )
    page = browser.get(base).text
    assert "SMS +14155550100 at once" in page
    assert f"Email {RESPONDER} after 5 min" in page

    answer = browser.post(f"{base}/rules", {"contact_method": "mail", "delay": "soon"})
    assert answer.status_code == 422
    assert "a whole number of minutes from 0 to 1440" in answer.text
    answer = browser.post(f"{base}/rules", {"contact_method": "fax", "delay": "1"})
    assert answer.status_code == 422
    assert "'fax' is not one of theirs" in html.unescape(answer.text)
    assert len(profile(console).rules) == 2

    stale = {"index": "1", "contact_method": "mail", "delay": "5"}
    browser.post(f"{base}/rules/delete", stale)
    assert "the rules changed meanwhile: look again" in flashes(browser.get(base).text)
    browser.post(f"{base}/rules/delete", {"index": "1", "contact_method": "sms", "delay": "0"})
    assert profile(console).rules == (NotificationRule(5, "mail"),)

    browser.post(f"{base}/methods/mail/delete")
    assert profile(console).rules == ()
    assert [m.id for m in profile(console).contact_methods] == ["sms"]


def test_a_repeating_rule_is_added_shown_and_removed(console: Console) -> None:
    console.app.accounts.set_profile(
        RESPONDER, contact_methods=(ContactMethod("call", "voice", PHONE),)
    )
    browser = console.responder
    base = f"/profile/{RESPONDER}"
    rule = {"contact_method": "call", "delay": "2", "repeat": "5"}
    assert browser.post(f"{base}/rules", rule).status_code == 303
    assert profile(console).rules == (NotificationRule(2, "call", 5),)
    page = browser.get(base).text
    assert "Voice call +14155550100 after 2 min, then every 5 min until acknowledged" in page

    for wrong in ("0", "61", "often"):
        answer = browser.post(f"{base}/rules", {**rule, "repeat": wrong})
        assert answer.status_code == 422
        assert "blank, or a whole number of minutes from 1 to 60" in answer.text
        assert (
            'id="rule-repeat" name="repeat" class="short" inputmode="numeric" value="' + wrong
            in (answer.text)
        )
    assert len(profile(console).rules) == 1

    once = {
        "index": "1",
        "contact_method": "call",
        "delay": "2",
    }  # the rule as if it did not repeat
    browser.post(f"{base}/rules/delete", once)
    assert "the rules changed meanwhile: look again" in flashes(browser.get(base).text)
    browser.post(f"{base}/rules/delete", {**once, "repeat": "5"})
    assert profile(console).rules == ()


def test_name_and_time_zone_are_saved_and_times_are_shown_in_it(console: Console) -> None:
    browser = console.responder
    base = f"/profile/{RESPONDER}"
    answer = browser.post(f"{base}/details", {"name": "Rita", "time_zone": "Mars/Olympus"})
    assert answer.status_code == 422
    assert 'id="time_zone-error"' in answer.text
    assert "'Mars/Olympus' is not an IANA time zone" in html.unescape(answer.text)
    assert profile(console).name == ""

    incident_id = console.open_incident()
    assert "2026-01-01 03:00:00 UTC" in browser.get(f"/incidents/{incident_id}").text
    answer = browser.post(f"{base}/details", {"name": "Rita", "time_zone": "Europe/Paris"})
    assert answer.status_code == 303
    assert (profile(console).name, profile(console).time_zone) == ("Rita", "Europe/Paris")
    page = browser.get(f"/incidents/{incident_id}").text
    assert "2026-01-01 04:00:00 CET" in page
    assert "03:00:00 UTC" not in page
    # Each viewer sees their own zone.
    assert "2026-01-01 03:00:00 UTC" in console.admin.get(f"/incidents/{incident_id}").text


def test_only_admins_enable_a_phone_without_its_code(
    console: Console, twilio: TwilioServer
) -> None:
    console.app.accounts.set_profile(
        RESPONDER,
        contact_methods=(
            ContactMethod("sms", "sms", PHONE, enabled=False),
            ContactMethod("mail", "email", RESPONDER, enabled=False),
        ),
    )
    base = f"/profile/{RESPONDER}"
    answer = console.responder.post(f"{base}/methods/sms/enable")
    assert answer.status_code == 403
    assert "type back the code" in answer.text
    assert console.responder.post(f"{base}/methods/mail/enable").status_code == 303
    assert [m.enabled for m in profile(console).contact_methods] == [False, True]

    assert console.admin.post(f"{base}/methods/sms/enable").status_code == 303
    assert [m.enabled for m in profile(console).contact_methods] == [True, True]
    assert console.responder.post(f"{base}/methods/sms/disable").status_code == 303
    assert [m.enabled for m in profile(console).contact_methods] == [False, True]
    assert "SMS +14155550100 gets no pages now." in flashes(console.responder.get(base).text)
    assert console.responder.post(f"{base}/methods/fax/disable").status_code == 404
    assert len(twilio.requests) == 0
