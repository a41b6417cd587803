"""Verifying and testing contact methods on real SQLite and PostgreSQL, through real channels
(aiosmtpd, a server that speaks Twilio's Messages API): codes that expire, allow a few tries
and are sent at most so often; test pages with what became of them; the test endpoint's
answers to whoever may and may not call it."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from pager.adapters.storage import tables as t
from pager.adapters.storage.verifications import SqlVerificationStore
from pager.application.accounts import User
from pager.application.contact import (
    CODE_LIFETIME,
    CODES_PER_HOUR,
    MAX_TRIES,
    TESTS_PER_HOUR,
    CannotSend,
    ContactMethods,
    MethodNotFound,
    PendingCode,
    TooMany,
    WrongCode,
)
from pager.application.ports import DeliveryFailed
from pager.bootstrap import App, bootstrap
from pager.config import Settings
from pager.domain.people import ContactMethod
from pager.entrypoints.http.app import create_app
from tests.support.clock import FakeClock
from tests.support.servers import Reply, SmtpSink, TwilioServer

ALICE, BOB, ADMIN = "alice@example.com", "bob@example.com", "admin@example.com"
PHONE, OTHER_PHONE = "+14155550100", "+14155550177"
TWILIO_FROM = "+14155550199"
CODE = re.compile(r"\b(\d{6})\b")
T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


@contextmanager
def container(
    database_url: str, clock: FakeClock, smtp: SmtpSink | None, twilio: TwilioServer | None
) -> Iterator[App]:
    settings: dict[str, Any] = {}
    if smtp is not None:
        settings["smtp_url"] = smtp.url()
    if twilio is not None:
        settings |= {
            "twilio_account_sid": twilio.account_sid,
            "twilio_auth_token": twilio.auth_token,
            "twilio_from": TWILIO_FROM,
            "twilio_base_url": twilio.url,
        }
    app = bootstrap(Settings(database_url=database_url, **settings), clock=clock)
    try:
        yield app
    finally:
        app.engine.dispose()


@pytest.fixture
def app(database_url: str, clock: FakeClock, smtp: SmtpSink, twilio: TwilioServer) -> Iterator[App]:
    with container(database_url, clock, smtp, twilio) as made:
        yield made


def person(app: App, email: str, *methods: ContactMethod, role: str = "responder") -> User:
    user = app.accounts.add_user(email, role)
    app.accounts.set_profile(email, contact_methods=methods)
    return user


def alice(app: App) -> User:
    return person(
        app,
        ALICE,
        ContactMethod("phone", "sms", PHONE, enabled=False),
        ContactMethod("mail", "email", ALICE),
        ContactMethod("desk", "voice", OTHER_PHONE, enabled=False),
    )


def enabled(app: App, email: str, method_id: str) -> bool:
    method = app.accounts.profile(email).method(method_id)
    assert method is not None
    return method.enabled


def code_in(twilio: TwilioServer, number: int = 1) -> str:
    sms = twilio.wait_for(number)[number - 1]
    found = CODE.search(sms.body)
    assert found, sms.body
    return found[1]


def stored_codes(app: App) -> list[dict[str, Any]]:
    with app.engine.connect() as conn:
        rows = conn.execute(sa.select(t.contact_verifications)).mappings()
        return [dict(row) for row in rows]


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def methods(app: App) -> ContactMethods:
    return app.contact_methods


# -- verification


def test_the_code_typed_back_enables_the_method_and_is_kept_only_hashed(
    app: App, twilio: TwilioServer, caplog: pytest.LogCaptureFixture
) -> None:
    user = alice(app)
    with caplog.at_level(logging.DEBUG):
        sent = run(methods(app).send_code(user, "phone"))
        code = code_in(twilio)

        (sms,) = twilio.messages
        assert (sms.to, sms.from_) == (PHONE, TWILIO_FROM)
        assert sent.expires_at == app.clock.now() + CODE_LIFETIME
        (row,) = stored_codes(app)
        assert code not in str(row)
        assert len(row["code_hash"]) == 64
        assert not enabled(app, ALICE, "phone")

        run(methods(app).verify(user, "phone", f" {code[:3]} {code[3:]} "))
    assert enabled(app, ALICE, "phone")
    assert stored_codes(app) == []  # a code works once
    assert all(code not in record.getMessage() for record in caplog.records)
    assert [r.getMessage() for r in caplog.records if "verified" in r.getMessage()] == [
        f"contact method phone of {ALICE} verified and enabled"
    ]


def test_a_wrong_code_says_how_many_tries_are_left_and_enables_nothing(
    app: App, twilio: TwilioServer
) -> None:
    user = alice(app)
    run(methods(app).send_code(user, "phone"))
    code = code_in(twilio)

    with pytest.raises(WrongCode) as failed:
        run(methods(app).verify(user, "phone", wrong(code)))
    assert failed.value.problems == (("code", f"wrong code: {MAX_TRIES - 1} tries left"),)
    with pytest.raises(WrongCode, match="the code is 6 digits"):
        run(methods(app).verify(user, "phone", "12345x"))
    assert not enabled(app, ALICE, "phone")
    run(methods(app).verify(user, "phone", code))  # a malformed code costs no try
    assert enabled(app, ALICE, "phone")


def test_after_too_many_tries_even_the_right_code_fails(app: App, twilio: TwilioServer) -> None:
    user = alice(app)
    run(methods(app).send_code(user, "phone"))
    code = code_in(twilio)
    for _ in range(MAX_TRIES - 1):
        with pytest.raises(WrongCode, match=r"tr(y|ies) left"):
            run(methods(app).verify(user, "phone", wrong(code)))
    with pytest.raises(WrongCode, match=f"{MAX_TRIES} wrong tries: send a new code"):
        run(methods(app).verify(user, "phone", wrong(code)))

    with pytest.raises(WrongCode, match=f"{MAX_TRIES} wrong tries"):
        run(methods(app).verify(user, "phone", code))
    assert not enabled(app, ALICE, "phone")


def test_tries_made_at_once_each_count(app: App, twilio: TwilioServer) -> None:
    """Guesses racing each other get no more than MAX_TRIES between them, on both databases."""
    user = alice(app)
    run(methods(app).send_code(user, "phone"))
    code = code_in(twilio)
    answers: list[str] = []
    lock = threading.Lock()

    def guess(number: int) -> None:
        try:
            run(methods(app).verify(user, "phone", f"{(int(code) + number) % 1_000_000:06d}"))
        except WrongCode as wrong_code:
            with lock:
                answers.append(wrong_code.problems[0][1])

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(1, 2 * MAX_TRIES + 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 2 * MAX_TRIES
    assert sum(answer.startswith("wrong code") for answer in answers) == MAX_TRIES
    (row,) = stored_codes(app)
    assert row["tries"] == MAX_TRIES
    with pytest.raises(WrongCode, match=f"{MAX_TRIES} wrong tries"):
        run(methods(app).verify(user, "phone", code))


def test_an_expired_code_fails_and_a_new_one_works(
    app: App, clock: FakeClock, twilio: TwilioServer
) -> None:
    user = alice(app)
    run(methods(app).send_code(user, "phone"))
    code = code_in(twilio)
    clock.advance(CODE_LIFETIME.total_seconds())

    with pytest.raises(WrongCode, match="that code has expired: send a new one"):
        run(methods(app).verify(user, "phone", code))
    assert not enabled(app, ALICE, "phone")

    run(methods(app).send_code(user, "phone"))
    run(methods(app).verify(user, "phone", code_in(twilio, 2)))
    assert enabled(app, ALICE, "phone")


def test_codes_are_sent_at_most_once_a_minute_and_a_few_times_an_hour(
    app: App, clock: FakeClock, twilio: TwilioServer
) -> None:
    user = alice(app)
    run(methods(app).send_code(user, "phone"))
    first = code_in(twilio)

    clock.advance(30)
    with pytest.raises(TooMany, match="a code was sent less than a minute ago: wait 31 s") as held:
        run(methods(app).send_code(user, "phone"))
    assert held.value.retry_after == 31
    assert len(twilio.messages) == 1

    clock.advance(31)
    run(methods(app).send_code(user, "phone"))
    second = code_in(twilio, 2)
    if second != first:  # one in a million they are the same
        with pytest.raises(WrongCode):  # a new code replaces the one before
            run(methods(app).verify(user, "phone", first))

    for _ in range(CODES_PER_HOUR - 2):
        clock.advance(61)
        run(methods(app).send_code(user, "phone"))
    clock.advance(61)
    with pytest.raises(TooMany, match=f"at most {CODES_PER_HOUR} codes an hour"):
        run(methods(app).send_code(user, "phone"))
    assert len(twilio.messages) == CODES_PER_HOUR


def test_no_second_code_goes_out_while_another_process_just_sent_one(
    app: App, clock: FakeClock, twilio: TwilioServer
) -> None:
    """The once-a-minute limit is the database's, so it holds across processes."""
    user = alice(app)
    other = bootstrap(app.settings, clock=clock, engine=app.engine)
    run(methods(app).send_code(user, "phone"))
    with pytest.raises(TooMany):
        run(methods(other).send_code(user, "phone"))
    assert len(twilio.wait_for(1)) == 1


def test_a_code_replaced_meanwhile_is_not_consumed_by_the_old_ones_hash(
    app: App, clock: FakeClock
) -> None:
    """The store consumes a code only by its own hash: a new code sent between a try's check
    and its consumption (by another request) is left for the person to type."""
    user_id = alice(app).id
    store = SqlVerificationStore(app.engine)
    now = clock.now()
    sent = PendingCode("a" * 64, 0, now, now + CODE_LIFETIME)
    assert store.replace(user_id, "phone", sent, unless_sent_after=now)
    assert not store.consume(user_id, "phone", "b" * 64)
    assert store.pending(user_id, "phone") == sent
    assert store.consume(user_id, "phone", "a" * 64)
    assert store.pending(user_id, "phone") is None


def test_a_code_for_one_number_does_not_enable_another(app: App, twilio: TwilioServer) -> None:
    user = alice(app)
    run(methods(app).send_code(user, "phone"))
    code = code_in(twilio)
    app.accounts.set_profile(
        ALICE, contact_methods=(ContactMethod("phone", "sms", OTHER_PHONE, enabled=False),)
    )

    with pytest.raises(WrongCode, match="wrong code"):
        run(methods(app).verify(user, "phone", code))
    assert not enabled(app, ALICE, "phone")


def test_verifying_one_phone_leaves_the_persons_other_unverified_phones_disabled(
    app: App, twilio: TwilioServer
) -> None:
    user = person(
        app,
        ALICE,
        ContactMethod("phone", "sms", PHONE, enabled=False),
        ContactMethod("cell", "sms", OTHER_PHONE, enabled=False),
    )
    run(methods(app).send_code(user, "phone"))

    run(methods(app).verify(user, "phone", code_in(twilio)))
    assert enabled(app, ALICE, "phone")
    assert not enabled(app, ALICE, "cell")
    assert app.accounts.profile(ALICE).contact_methods == (
        ContactMethod("phone", "sms", PHONE, enabled=True),
        ContactMethod("cell", "sms", OTHER_PHONE, enabled=False),
    )


def test_no_code_goes_where_none_is_needed_or_can_go(
    app: App, database_url: str, clock: FakeClock, twilio: TwilioServer
) -> None:
    user = alice(app)
    with pytest.raises(CannotSend, match="email methods need no code"):
        run(methods(app).send_code(user, "mail"))
    with pytest.raises(CannotSend, match="voice calls are not supported yet"):
        run(methods(app).send_code(user, "desk"))
    with pytest.raises(
        MethodNotFound, match=r"user 'alice@example\.com' has no contact method 'x'"
    ):
        run(methods(app).send_code(user, "x"))
    with pytest.raises(WrongCode, match="no code is waiting for this method: send one"):
        run(methods(app).verify(user, "phone", "123456"))
    with (
        container(database_url, clock, None, None) as unconfigured,
        pytest.raises(CannotSend) as unconfigured_sms,
    ):
        run(methods(unconfigured).send_code(user, "phone"))
    assert str(unconfigured_sms.value) == (
        "SMS is not configured on this Pager (no Twilio), so no code can be sent; an admin can "
        "enable the method instead"
    )
    run(methods(app).send_code(user, "phone"))
    run(methods(app).verify(user, "phone", code_in(twilio)))
    with pytest.raises(CannotSend, match="contact method 'phone' is enabled already"):
        run(methods(app).send_code(user, "phone"))
    assert len(twilio.messages) == 1
    assert stored_codes(app) == []


def test_a_code_twilio_refuses_is_said_and_forgotten(app: App, twilio: TwilioServer) -> None:
    user = alice(app)
    twilio.script(Reply.twilio_error(400, 21614, "'To' number is not a valid mobile number"))
    with pytest.raises(DeliveryFailed, match="not a valid mobile number"):
        run(methods(app).send_code(user, "phone"))
    assert stored_codes(app) == []
    run(methods(app).send_code(user, "phone"))  # no waiting out a minute for a code never sent
    assert len(twilio.wait_for(1)) == 1


# -- test pages and their endpoint


@contextmanager
def api(app: App, email: str) -> Iterator[TestClient]:
    token = app.accounts.create_token(email)
    with TestClient(create_app(app), headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


def test_a_test_page_goes_through_each_real_channel_and_says_what_became_of_it(
    app: App, smtp: SmtpSink, twilio: TwilioServer
) -> None:
    alice(app)
    app.accounts.set_profile(
        ALICE,
        contact_methods=(
            ContactMethod("phone", "sms", PHONE),
            ContactMethod("mail", "email", ALICE),
            ContactMethod("desk", "voice", OTHER_PHONE),
            ContactMethod("bad", "sms", "+15005550001"),
        ),
    )
    with api(app, ALICE) as client:
        answer = client.post(f"/api/v1/users/{ALICE}/contact-methods/mail/test")
        assert answer.status_code == 200, answer.text
        assert answer.json()["outcome"] == "sent"
        assert answer.json()["message"] == f"Test page sent to email {ALICE}."
        (mail,) = smtp.wait_for(1)
        assert mail.rcpt_tos == (ALICE,)
        assert mail.subject == "[Pager] Test page for mail"

        answer = client.post(f"/api/v1/users/{ALICE}/contact-methods/phone/test")
        (sms,) = twilio.wait_for(1)
        assert answer.json() == {
            "contact_method": "phone",
            "type": "sms",
            "outcome": "sent",
            "detail": sms.sid,
            "message": f"Test page sent to sms {PHONE}.",
        }
        assert sms.to == PHONE
        at = app.clock.now().strftime("%Y-%m-%d %H:%M")
        assert sms.body == (
            f"[Pager] Test page for {ALICE} (sms phone), asked by {ALICE} at {at} UTC. "
            "Pages reach you here."
        )

        twilio.script(Reply.twilio_error(400, 21211, "The 'To' number is not valid."))
        answer = client.post(f"/api/v1/users/{ALICE}/contact-methods/bad/test")
        assert answer.status_code == 200
        assert answer.json()["outcome"] == "failed"
        assert "The 'To' number is not valid. (Twilio error 21211)" in answer.json()["detail"]

        answer = client.post(f"/api/v1/users/{ALICE}/contact-methods/desk/test")
        assert answer.json()["outcome"] == "unsupported"
        assert answer.json()["detail"] == "voice calls are not supported yet"


def test_a_test_page_without_a_configured_channel_is_logged(
    database_url: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    with container(database_url, clock, None, None) as app:
        person(app, ALICE, ContactMethod("phone", "sms", PHONE))
        with api(app, ALICE) as client, caplog.at_level(logging.WARNING, "pager.notify"):
            answer = client.post(f"/api/v1/users/{ALICE}/contact-methods/phone/test")
    assert answer.status_code == 200
    assert answer.json()["outcome"] == "logged"
    assert answer.json()["detail"] == "no Twilio is configured"
    assert any(PHONE in record.getMessage() for record in caplog.records)


def test_the_test_endpoint_is_for_the_user_and_admins(app: App, smtp: SmtpSink) -> None:
    alice(app)
    person(app, BOB, ContactMethod("mail", "email", BOB))
    person(app, ADMIN, role="admin")
    with api(app, BOB) as bob:
        answer = bob.post(f"/api/v1/users/{ALICE}/contact-methods/mail/test")
        assert answer.status_code == 403
        assert answer.json()["error"]["message"] == (
            "only admins may test other users' contact methods"
        )
        # Someone else's unknown method is theirs to know about: 403 all the same.
        assert bob.post(f"/api/v1/users/{ALICE}/contact-methods/nope/test").status_code == 403

        answer = bob.post(f"/api/v1/users/{BOB}/contact-methods/nope/test")
        assert answer.status_code == 404
        assert answer.json()["error"]["message"] == (
            "user 'bob@example.com' has no contact method 'nope'"
        )
        answer = bob.post(f"/api/v1/users/{BOB}/contact-methods/Not_A_Slug/test")
        assert answer.status_code == 422
        assert "method_id" in answer.text
    with api(app, ADMIN) as admin:
        answer = admin.post(f"/api/v1/users/{ALICE}/contact-methods/mail/test")
        assert answer.status_code == 200
        assert answer.json()["outcome"] == "sent"
        answer = admin.post("/api/v1/users/carol@example.com/contact-methods/mail/test")
        assert answer.status_code == 404
        assert "carol@example.com" in answer.json()["error"]["message"]
    with TestClient(create_app(app)) as anonymous:
        assert anonymous.post(f"/api/v1/users/{ALICE}/contact-methods/mail/test").status_code == 401
    assert len(smtp.wait_for(1)) == 1


def test_test_pages_are_rate_limited(app: App, smtp: SmtpSink) -> None:
    person(app, ALICE, ContactMethod("mail", "email", ALICE))
    with api(app, ALICE) as client:
        for _ in range(TESTS_PER_HOUR):
            assert client.post(f"/api/v1/users/{ALICE}/contact-methods/mail/test").is_success
        answer = client.post(f"/api/v1/users/{ALICE}/contact-methods/mail/test")
    assert answer.status_code == 429
    assert int(answer.headers["Retry-After"]) > 0
    assert f"at most {TESTS_PER_HOUR} test pages an hour" in answer.json()["error"]["message"]
