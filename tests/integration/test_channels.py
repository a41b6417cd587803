"""The notification channels against real servers on 127.0.0.1: SMTP (aiosmtpd), a Twilio
Messages API, a webhook receiver and a Slack incoming webhook."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pager.adapters.notify.email import SmtpChannel, SmtpSettings
from pager.adapters.notify.log import LogChannel
from pager.adapters.notify.message import sms_text
from pager.adapters.notify.slack import SlackChannel
from pager.adapters.notify.sms import TwilioSettings, TwilioSmsChannel
from pager.adapters.notify.webhook import WebhookChannel
from pager.application.ports import (
    Channel,
    DeliveryFailed,
    DirectMessage,
    Messenger,
    OutgoingNotification,
)
from pager.domain.policy import EmailTarget, SlackTarget, SmsTarget, Target, WebhookTarget
from tests.support.servers import (
    Certificate,
    Reply,
    SlackReceiver,
    SmtpSink,
    TwilioServer,
    Unresponsive,
    WebhookReceiver,
    free_port,
)

SENDER = "Pager <pager@example.com>"
ONCALL = "oncall@example.com"
PHONE = "+14155550100"
TWILIO_FROM = "+14155550199"
INCIDENT = "7f3a9c2e-5b1d-4c8e-9a0f-1e2d3c4b5a69"
NOTIFICATION = "0b9e4f7a-2c6d-4e8f-8a1b-3c5d7e9f1a2b"
ACK_URL = "https://pager.example.com/ack/eyJpIjoiN2YzYSJ9.Zk3xQw.s1gn"
INCIDENT_URL = f"https://pager.example.com/incidents/{INCIDENT}"
OPENED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def notification(target: Target, **changes: object) -> OutgoingNotification:
    base = OutgoingNotification(
        id=NOTIFICATION,
        incident_id=INCIDENT,
        service_id="checkout",
        service_name="Checkout API",
        message="HTTP 5xx above 5% for 5 minutes",
        level=2,
        round=1,
        target=target,
        attempt=1,
        opened_at=OPENED,
        alert_count=3,
        incident_url=INCIDENT_URL,
        ack_url=ACK_URL,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def webhook_channel(**options: Any) -> WebhookChannel:
    """The webhook channel, allowed to page this machine (the test servers are on it)."""
    return WebhookChannel(allow_private=True, **options)


def slack_channel(**options: Any) -> SlackChannel:
    """The Slack channel, allowed to page this machine (the test servers are on it)."""
    return SlackChannel(allow_private=True, **options)


def send(channel: Channel, outgoing: OutgoingNotification) -> str | None:
    async def send_and_settle() -> str | None:
        try:
            return await channel.send(outgoing)
        finally:
            # A connection being closed finishes on a later turn of the loop; the worker's
            # loop lives on, but asyncio.run would end under it and leave it half-closed.
            await asyncio.sleep(0.02)

    return asyncio.run(send_and_settle())


def failure(channel: Channel, outgoing: OutgoingNotification) -> DeliveryFailed:
    with pytest.raises(DeliveryFailed) as raised:
        send(channel, outgoing)
    return raised.value


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return Certificate.create(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(secret="whsec-correct-horse") as server:
        yield server


@pytest.fixture
def slack() -> Iterator[SlackReceiver]:
    with SlackReceiver() as server:
        yield server


@pytest.fixture
def unresponsive() -> Iterator[Unresponsive]:
    with Unresponsive() as server:
        yield server


@pytest.fixture
def nobody() -> str:
    """An http URL on a port where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


# --- email -----------------------------------------------------------------------------------


def smtp_channel(url: str, **settings: object) -> SmtpChannel:
    return SmtpChannel(replace(SmtpSettings.from_url(url, SENDER), **settings))  # type: ignore[arg-type]


def test_email_arrives_with_what_a_woken_engineer_needs(smtp: SmtpSink) -> None:
    answer = send(smtp_channel(smtp.url()), notification(EmailTarget(ONCALL)))

    (mail,) = smtp.wait_for(1)
    assert answer == "2.0.0 Ok: queued as 1"
    assert mail.mail_from == "pager@example.com"
    assert mail.rcpt_tos == (ONCALL,)
    assert (mail.tls, mail.login) == (False, None)
    message = mail.message
    assert message["Message-ID"] == f"<{NOTIFICATION}@pager>"
    assert message["Subject"] == "[Pager] Checkout API: HTTP 5xx above 5% for 5 minutes (level 2)"
    assert message["From"] == SENDER
    assert message["To"] == ONCALL
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["References"] == f"<incident-{INCIDENT}@pager>"
    assert message["Date"] is not None
    body = mail.body
    for expected in (
        "Checkout API (checkout)",
        "HTTP 5xx above 5% for 5 minutes",
        "Escalation:  level 2",
        "Alerts:      3",
        "2024-05-01 12:00:00 UTC",
        INCIDENT,
        f"Acknowledge: {ACK_URL}",
        f"Incident:    {INCIDENT_URL}",
    ):
        assert expected in body
    assert body.index(ACK_URL) < body.index("Service:"), "the ack link comes first"


def test_email_without_public_url_has_no_links_and_shows_the_round(smtp: SmtpSink) -> None:
    outgoing = notification(EmailTarget(ONCALL), ack_url=None, incident_url=None, round=2)
    send(smtp_channel(smtp.url()), outgoing)

    (mail,) = smtp.wait_for(1)
    assert mail.subject.endswith("(level 2, round 2)")
    assert "Acknowledge" not in mail.body
    assert "https://" not in mail.body


def test_a_low_urgency_page_says_so_in_the_email_and_the_webhook(
    smtp: SmtpSink, receiver: WebhookReceiver
) -> None:
    send(smtp_channel(smtp.url()), notification(EmailTarget(ONCALL), level=1, urgency="low"))
    (mail,) = smtp.wait_for(1)
    assert mail.subject.endswith("(level 1, low urgency)")
    assert "Escalation:  level 1, low urgency" in mail.body
    assert "because you are on level 1 of the escalation policy" in mail.body

    target = WebhookTarget(receiver.url + "/hooks/pager", secret="whsec-correct-horse")
    assert send(webhook_channel(), notification(target, urgency="low")) is None
    (request,) = receiver.wait_for(1)
    assert request.json()["incident"]["urgency"] == "low"


def test_email_subject_is_one_line_and_short(smtp: SmtpSink) -> None:
    message = "disk full on db-1\nand db-2\n" + "x" * 300
    send(smtp_channel(smtp.url()), notification(EmailTarget(ONCALL), message=message))

    (mail,) = smtp.wait_for(1)
    assert "\n" not in mail.subject
    assert mail.subject.startswith("[Pager] Checkout API: disk full on db-1 and db-2 xxx")
    assert "..." in mail.subject
    assert len(mail.subject) < 150
    assert message in mail.body.replace("\r\n", "\n")


def test_email_carries_text_in_any_language(smtp: SmtpSink) -> None:
    channel = SmtpChannel(SmtpSettings.from_url(smtp.url(), "Pagér <pager@example.com>"))
    outgoing = notification(
        EmailTarget(ONCALL), service_name="Caisse ✓", message="HTTP 5xx — für 5 Minuten"
    )
    send(channel, outgoing)

    (mail,) = smtp.wait_for(1)
    assert mail.subject == "[Pager] Caisse ✓: HTTP 5xx — für 5 Minuten (level 2)"
    assert mail.message["From"] == "Pagér <pager@example.com>"
    assert "HTTP 5xx — für 5 Minuten" in mail.body
    assert mail.data.isascii()  # encoded for any server, SMTPUTF8 or not


def test_email_pool_sends_a_storm_over_a_few_connections(smtp: SmtpSink) -> None:
    smtp.answer_delay = 0.02  # each send holds its connection a while: sends overlap
    channel = SmtpChannel(SmtpSettings.from_url(smtp.url(), SENDER), keep_alive=True, pool_size=3)

    async def storm() -> None:
        outgoing = [notification(EmailTarget(f"oncall{n}@example.com")) for n in range(30)]
        await asyncio.gather(*(channel.send(item) for item in outgoing))
        await channel.close()
        await asyncio.sleep(0.02)

    asyncio.run(storm())

    mails = smtp.wait_for(30)
    assert sorted(m.rcpt_tos[0] for m in mails) == sorted(
        f"oncall{n}@example.com" for n in range(30)
    )
    assert len({mail.peer for mail in mails}) <= 3


@pytest.mark.parametrize("security", ["plain", "starttls", "tls"])
@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_email_logs_in_over_each_transport(
    certificate: Certificate, security: str, mechanism: str
) -> None:
    users = {"pager@example.com": "p@ss:w/rd"}
    sink = SmtpSink(security=security, certificate=certificate, users=users, mechanisms=[mechanism])  # type: ignore[arg-type]
    with sink:
        channel = SmtpChannel(
            SmtpSettings.from_url(sink.url("pager@example.com", "p@ss:w/rd"), SENDER),
            tls_context=certificate.client_context(),
        )
        send(channel, notification(EmailTarget(ONCALL)))

        (mail,) = sink.wait_for(1)
    assert mail.login == "pager@example.com"
    assert mail.tls is (security != "plain")


def test_email_wrong_password_is_permanent_and_never_shows_the_password(
    certificate: Certificate,
) -> None:
    with SmtpSink(security="starttls", certificate=certificate, users={"pager": "right"}) as sink:
        channel = SmtpChannel(
            SmtpSettings.from_url(sink.url("pager", "wrong-secret"), SENDER),
            tls_context=certificate.client_context(),
        )
        failed = failure(channel, notification(EmailTarget(ONCALL)))
        assert sink.messages == []
    assert failed.transient is False
    assert "rejected the login as 'pager'" in failed.reason
    assert "535" in failed.reason
    assert "wrong-secret" not in failed.reason


@pytest.mark.parametrize(
    "answer",
    [
        "550 5.1.1 <gone@example.com>: User unknown",
        "500 5.5.2 User unknown: syntax error",  # the first permanent code
    ],
)
def test_email_to_a_refused_recipient_is_permanent(smtp: SmtpSink, answer: str) -> None:
    smtp.refuse("gone@example.com", answer)
    failed = failure(smtp_channel(smtp.url()), notification(EmailTarget("gone@example.com")))

    assert failed.transient is False
    assert "refused recipient gone@example.com" in failed.reason
    assert answer.split(" User")[0] in failed.reason
    assert "User unknown" in failed.reason


def test_email_to_a_recipient_refused_for_now_is_transient(smtp: SmtpSink) -> None:
    smtp.refuse(ONCALL, "450 4.2.1 Mailbox busy, try again later")
    failed = failure(smtp_channel(smtp.url()), notification(EmailTarget(ONCALL)))

    assert failed.transient is True
    assert "450 4.2.1" in failed.reason


def test_email_to_a_server_that_is_down_is_transient() -> None:
    port = free_port()
    failed = failure(smtp_channel(f"smtp://127.0.0.1:{port}"), notification(EmailTarget(ONCALL)))

    assert failed.transient is True
    assert f"127.0.0.1 on port {port}" in failed.reason


def test_email_to_a_silent_server_times_out_transiently(unresponsive: Unresponsive) -> None:
    channel = smtp_channel(f"smtp://127.0.0.1:{unresponsive.port}", timeout=0.3)
    failed = failure(channel, notification(EmailTarget(ONCALL)))

    assert failed.transient is True
    assert "timed out" in failed.reason.lower()


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_email_to_an_untrusted_certificate_is_permanent(
    certificate: Certificate, security: str
) -> None:
    with SmtpSink(security=security, certificate=certificate) as sink:  # type: ignore[arg-type]
        failed = failure(smtp_channel(sink.url()), notification(EmailTarget(ONCALL)))
        assert sink.messages == []
    assert failed.transient is False
    assert "TLS failed" in failed.reason
    assert "certificate verify failed" in failed.reason


def test_email_starttls_to_a_server_without_it_is_permanent(smtp: SmtpSink) -> None:
    failed = failure(smtp_channel(smtp.url() + "?starttls=true"), notification(EmailTarget(ONCALL)))

    assert failed.transient is False
    assert "STARTTLS" in failed.reason


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.com", ("mail.example.com", 25, "plain", None, None)),
        ("smtp://mail.example.com:2525", ("mail.example.com", 2525, "plain", None, None)),
        (
            "smtp://u:p@mail.example.com?starttls=true",
            ("mail.example.com", 587, "starttls", "u", "p"),
        ),
        (
            "smtp://u@mail.example.com:587?starttls=false",
            ("mail.example.com", 587, "plain", "u", None),
        ),
        (
            "smtps://a%40b.c:p%40ss%3A1@smtp.example.com",
            ("smtp.example.com", 465, "tls", "a@b.c", "p@ss:1"),
        ),
        ("smtps://u:@[::1]:4650", ("::1", 4650, "tls", "u", "")),
    ],
)
def test_smtp_url_is_parsed(url: str, expected: tuple[object, ...]) -> None:
    settings = SmtpSettings.from_url(url, SENDER)
    parsed = (settings.host, settings.port, settings.security, settings.username, settings.password)
    assert parsed == expected
    assert "p@ss" not in repr(settings)


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("http://u:hunter2@mail.example.com", "scheme"),
        ("mail.example.com:25", "scheme"),
        ("smtp://u:hunter2@:25", "no host"),
        ("smtp://u:hunter2@mail.example.com:99999", "port must be a number"),
        ("smtp://u:hunter2@mail.example.com:abc", "port must be a number"),
        ("smtp://u:hunter2@mail.example.com:0", "port must be a number"),
        ("smtp://u:hunter2@[::1:25", "Invalid IPv6 URL"),
        ("smtp://u:hunter2@mail.example.com?start_tls=true", "unknown option start_tls"),
        ("smtp://u:hunter2@mail.example.com?starttls=maybe", "starttls must be"),
        ("smtps://u:hunter2@mail.example.com?starttls=true", "already TLS"),
    ],
)
def test_bad_smtp_url_is_a_clear_error_without_the_password(url: str, complaint: str) -> None:
    with pytest.raises(ValueError, match="bad SMTP URL") as raised:
        SmtpSettings.from_url(url, SENDER)
    assert complaint in str(raised.value)
    assert "hunter2" not in str(raised.value)


def test_bad_sender_address_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="bad sender address 'pager'"):
        SmtpSettings.from_url("smtp://mail.example.com", "pager")


# --- SMS ------------------------------------------------------------------------------------


def twilio_channel(base_url: str, **settings: object) -> TwilioSmsChannel:
    base = TwilioSettings(
        account_sid="AC" + "0" * 32, auth_token="test-token", from_=TWILIO_FROM, base_url=base_url
    )
    return TwilioSmsChannel(replace(base, **settings))  # type: ignore[arg-type]


def test_sms_is_sent_through_twilio(twilio: TwilioServer) -> None:
    sid = send(twilio_channel(twilio.url), notification(SmsTarget(PHONE)))

    (sms,) = twilio.wait_for(1)
    (request,) = twilio.requests
    assert sid == sms.sid
    assert sid is not None
    assert sid.startswith("SM")
    assert request.path == f"/2010-04-01/Accounts/AC{'0' * 32}/Messages.json"
    assert request.header("Content-Type") == "application/x-www-form-urlencoded"
    assert request.form() == {"To": PHONE, "From": TWILIO_FROM, "Body": sms.body}
    assert sms.body == (
        f"[Pager] Checkout API: HTTP 5xx above 5% for 5 minutes (level 2, #7f3a9c2e) Ack: {ACK_URL}"
    )


def test_sms_from_a_messaging_service(twilio: TwilioServer) -> None:
    send(twilio_channel(twilio.url, from_="MG" + "1" * 32), notification(SmsTarget(PHONE)))

    (request,) = twilio.requests.wait_for(1)
    assert request.form()["MessagingServiceSid"] == "MG" + "1" * 32
    assert "From" not in request.form()


def test_long_sms_keeps_the_ack_link_within_160_characters(twilio: TwilioServer) -> None:
    send(twilio_channel(twilio.url), notification(SmsTarget(PHONE), message="y" * 500))

    (sms,) = twilio.wait_for(1)
    assert len(sms.body) == 160
    assert sms.body.endswith(f"... (level 2, #7f3a9c2e) Ack: {ACK_URL}")


def test_sms_drops_an_ack_link_too_long_to_leave_room_for_the_message() -> None:
    long_ack = "https://pager.example.com/ack/" + "t" * 120
    text = sms_text(notification(SmsTarget(PHONE), ack_url=long_ack))

    assert text == "[Pager] Checkout API: HTTP 5xx above 5% for 5 minutes (level 2, #7f3a9c2e)"


@given(
    service=st.text(max_size=200),
    message=st.text(max_size=2000),
    ack=st.none() | st.text(max_size=300),
    level=st.integers(1, 10**6),
    round_=st.integers(1, 10**6),
)
def test_sms_text_never_exceeds_160_characters(
    service: str, message: str, ack: str | None, level: int, round_: int
) -> None:
    outgoing = notification(
        SmsTarget(PHONE),
        service_name=service,
        message=message,
        ack_url=ack,
        level=level,
        round=round_,
    )
    assert len(sms_text(outgoing)) <= 160


def test_sms_after_a_twilio_500_is_transient_and_the_retry_goes_through(
    twilio: TwilioServer,
) -> None:
    twilio.script(Reply.twilio_error(500, 20500, "An internal server error has occurred"))
    channel = twilio_channel(twilio.url)

    failed = failure(channel, notification(SmsTarget(PHONE)))
    assert failed.transient is True
    assert "HTTP 500" in failed.reason
    assert "An internal server error has occurred (Twilio error 20500)" in failed.reason

    assert send(channel, notification(SmsTarget(PHONE), attempt=2)) is not None
    assert len(twilio.requests) == 2
    assert len(twilio.messages) == 1


def test_sms_rate_limited_is_transient_with_retry_after(twilio: TwilioServer) -> None:
    twilio.script(Reply.twilio_error(429, 20429, "Too Many Requests", {"Retry-After": "7"}))
    failed = failure(twilio_channel(twilio.url), notification(SmsTarget(PHONE)))

    assert failed.transient is True
    assert failed.retry_after == 7.0


def test_sms_to_an_invalid_number_is_permanent_with_twilios_message(twilio: TwilioServer) -> None:
    failed = failure(twilio_channel(twilio.url), notification(SmsTarget("4155550100")))

    assert failed.transient is False
    assert failed.retry_after is None
    assert failed.reason == (
        "Twilio answered HTTP 400: The 'To' number 4155550100 is not a valid phone number. "
        "(Twilio error 21211)"
    )
    assert twilio.messages == []


def test_sms_with_a_wrong_auth_token_is_permanent_without_the_token(twilio: TwilioServer) -> None:
    channel = twilio_channel(twilio.url, auth_token="not-the-token")
    failed = failure(channel, notification(SmsTarget(PHONE)))

    assert failed.transient is False
    assert "HTTP 401: Authenticate (Twilio error 20003)" in failed.reason
    assert "not-the-token" not in failed.reason


def test_sms_with_twilio_down_is_transient(nobody: str) -> None:
    failed = failure(twilio_channel(nobody), notification(SmsTarget(PHONE)))

    assert failed.transient is True
    assert failed.reason.startswith("Twilio: could not connect")


def test_sms_with_twilio_silent_times_out_transiently(unresponsive: Unresponsive) -> None:
    failed = failure(twilio_channel(unresponsive.url, timeout=0.3), notification(SmsTarget(PHONE)))

    assert failed.transient is True
    assert failed.reason == "Twilio: timed out waiting for the answer"


# --- webhook --------------------------------------------------------------------------------


def test_webhook_posts_the_documented_payload_signed(receiver: WebhookReceiver) -> None:
    target = WebhookTarget(receiver.url + "/hooks/pager", secret="whsec-correct-horse")
    assert send(webhook_channel(), notification(target)) is None

    (request,) = receiver.wait_for(1)
    assert request.method == "POST"
    assert request.path == "/hooks/pager"
    assert request.header("Content-Type") == "application/json"
    assert request.header("Idempotency-Key") == NOTIFICATION
    assert receiver.verify(request)
    assert not receiver.verify(request, secret="another-secret")
    assert request.json() == {
        "event": "incident.notify",
        "notification_id": NOTIFICATION,
        "attempt": 1,
        "incident": {
            "id": INCIDENT,
            "service": "checkout",
            "service_name": "Checkout API",
            "message": "HTTP 5xx above 5% for 5 minutes",
            "level": 2,
            "round": 1,
            "urgency": "high",
            "alert_count": 3,
            "opened_at": "2024-05-01T12:00:00Z",
            "url": INCIDENT_URL,
        },
        "alert": {
            "severity": None,
            "labels": {},
            "annotations": {},
            "runbook": None,
            "dashboard": None,
            "links": [],
            "images": [],
            "details": {},
            "tags": [],
            "entity": None,
            "source_url": None,
        },
        "ack_url": ACK_URL,
    }


def test_webhook_without_a_secret_is_unsigned() -> None:
    with WebhookReceiver() as receiver:
        send(webhook_channel(), notification(WebhookTarget(receiver.url), attempt=3))
        (request,) = receiver.wait_for(1)
    assert request.header("X-Pager-Signature") is None
    assert request.header("Idempotency-Key") == NOTIFICATION
    assert request.json()["attempt"] == 3


def test_webhook_resend_carries_the_same_idempotency_key(receiver: WebhookReceiver) -> None:
    target = WebhookTarget(receiver.url, secret="whsec-correct-horse")
    send(webhook_channel(), notification(target, attempt=1))
    send(webhook_channel(), notification(target, attempt=2))

    first, second = receiver.wait_for(2)
    assert first.header("Idempotency-Key") == second.header("Idempotency-Key") == NOTIFICATION


def test_webhook_signed_with_the_wrong_secret_is_refused_for_good(
    receiver: WebhookReceiver,
) -> None:
    target = WebhookTarget(receiver.url, secret="whsec-stale")
    failed = failure(webhook_channel(), notification(target))

    assert failed.transient is False
    assert failed.reason == "webhook 127.0.0.1 answered HTTP 401: bad signature"


@pytest.mark.parametrize(
    ("reply", "transient", "retry_after", "reason"),
    [
        (Reply.text(500, "boom"), True, None, "HTTP 500: boom"),
        (Reply.text(503, "", {"Retry-After": "120"}), True, 120.0, "HTTP 503"),
        (
            Reply.json(429, {"error": "slow down"}, {"Retry-After": "3"}),
            True,
            3.0,
            "HTTP 429: slow down",
        ),
        (Reply.text(408, "request timeout"), True, None, "HTTP 408"),
        (Reply.json(400, {"message": "unknown event"}), False, None, "HTTP 400: unknown event"),
        (Reply.text(404, "Not Found"), False, None, "HTTP 404: Not Found"),
        (Reply.text(410, "gone"), False, None, "HTTP 410: gone"),
        (
            Reply(301, b"", {"Location": "https://x.example/"}),
            False,
            None,
            "redirects are not followed",
        ),
    ],
)
def test_webhook_failures_are_classified(
    receiver: WebhookReceiver,
    reply: Reply,
    transient: bool,
    retry_after: float | None,
    reason: str,
) -> None:
    receiver.script(reply)
    target = WebhookTarget(receiver.url, secret="whsec-correct-horse")
    failed = failure(webhook_channel(), notification(target))

    assert failed.transient is transient
    assert failed.retry_after == retry_after
    assert reason in failed.reason


def test_webhook_retry_after_may_be_a_date(receiver: WebhookReceiver) -> None:
    receiver.script(Reply.text(503, "", {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}))
    failed = failure(webhook_channel(), notification(WebhookTarget(receiver.url)))

    assert failed.transient is True
    assert failed.retry_after == 0.0  # long past


def test_webhook_to_nobody_is_transient(nobody: str) -> None:
    failed = failure(webhook_channel(), notification(WebhookTarget(nobody + "/hook")))

    assert failed.transient is True
    assert failed.reason.startswith("webhook 127.0.0.1: could not connect")


def test_webhook_to_a_silent_server_times_out_transiently(unresponsive: Unresponsive) -> None:
    failed = failure(webhook_channel(timeout=0.3), notification(WebhookTarget(unresponsive.url)))

    assert failed.transient is True
    assert "timed out" in failed.reason


def test_webhook_to_an_unsupported_url_is_permanent() -> None:
    failed = failure(webhook_channel(), notification(WebhookTarget("ftp://127.0.0.1/hook")))

    assert failed.transient is False
    assert "invalid URL" in failed.reason


REFUSED = (
    r"(webhook localhost|webhook 127\.0\.0\.1|Slack): not sent, "
    r"(localhost resolves to (127\.0\.0\.1|::1), which|127\.0\.0\.1) is a loopback address; "
    r"set PAGER_ALLOW_PRIVATE_TARGETS=true on the server to allow it"
)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
@pytest.mark.parametrize("kind", ["webhook", "slack"])
def test_a_host_that_is_this_machine_is_refused_for_good_unless_allowed(
    host: str, kind: str
) -> None:
    with WebhookReceiver() as receiver:
        url = f"http://{host}:{receiver.port}/hook"
        target = WebhookTarget(url) if kind == "webhook" else SlackTarget(url)
        channel = WebhookChannel() if kind == "webhook" else SlackChannel()

        failed = failure(channel, notification(target))

        assert failed.transient is False
        assert re.fullmatch(REFUSED, failed.reason), failed.reason
        assert not receiver.requests
        allowed = webhook_channel() if kind == "webhook" else slack_channel()
        assert send(allowed, notification(target)) is None
        assert len(receiver.wait_for(1)) == 1


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        pytest.param(
            Reply(
                502,
                b"<html><head><title>502 Bad Gateway</title><style>p{}</style></head>"
                b"<body><h1>502 Bad Gateway</h1><hr><center>nginx</center>" + b"x" * 50_000,
                {"Content-Type": "text/html"},
            ),
            "webhook 127.0.0.1 answered HTTP 502: 502 Bad Gateway",
            id="html-page-by-its-title",
        ),
        pytest.param(
            Reply(
                400,
                b"<p>Bad <b>payload</b> &amp; <script>alert(1)</script>more</p>",
                {"Content-Type": "text/html"},
            ),
            "webhook 127.0.0.1 answered HTTP 400: Bad payload & more",
            id="html-without-tags-or-scripts",
        ),
        pytest.param(
            Reply.text(400, "line one\n\x1b[31mline\ttwo\r\n"),
            "webhook 127.0.0.1 answered HTTP 400: line one [31mline two",
            id="control-characters",
        ),
        pytest.param(
            Reply.json(422, {"message": "a < b and c > d"}),
            "webhook 127.0.0.1 answered HTTP 422: a < b and c > d",
            id="text-that-only-looks-like-markup",
        ),
    ],
)
def test_a_receivers_answer_is_kept_short_and_plain(
    receiver: WebhookReceiver, reply: Reply, reason: str
) -> None:
    receiver.script(reply)
    failed = failure(webhook_channel(), notification(WebhookTarget(receiver.url)))

    assert failed.reason == reason


def test_twilios_answer_is_kept_short_and_plain(twilio: TwilioServer) -> None:
    page = b"<!DOCTYPE html><html><head><title>Service\nUnavailable</title></head>" + b"." * 9000
    twilio.script(Reply(503, page, {"Content-Type": "text/html"}))
    failed = failure(twilio_channel(twilio.url), notification(SmsTarget(PHONE)))

    assert failed.reason == "Twilio answered HTTP 503: Service Unavailable"


def test_a_long_answer_is_cut_to_200_characters(receiver: WebhookReceiver) -> None:
    receiver.script(Reply.text(400, "word " * 10_000))
    failed = failure(webhook_channel(), notification(WebhookTarget(receiver.url)))

    detail = failed.reason.removeprefix("webhook 127.0.0.1 answered HTTP 400: ")
    assert len(detail) <= 200
    assert detail.startswith("word word")
    assert detail.endswith("...")


def test_webhook_can_share_a_client_that_it_leaves_open(receiver: WebhookReceiver) -> None:
    target = WebhookTarget(receiver.url, secret="whsec-correct-horse")

    async def twice() -> None:
        async with httpx.AsyncClient() as client:
            channel = webhook_channel(client=client)
            await channel.send(notification(target))
            await channel.send(notification(target, attempt=2))
            assert not client.is_closed

    asyncio.run(twice())
    assert [r.json()["attempt"] for r in receiver.wait_for(2)] == [1, 2]


# --- Slack ----------------------------------------------------------------------------------


def test_slack_gets_a_message_with_the_ack_link(slack: SlackReceiver) -> None:
    outgoing = notification(SlackTarget(slack.hook_url), message="p99 > 2s & rising <fast>")
    assert send(slack_channel(), outgoing) is None

    (request,) = slack.wait_for(1)
    assert request.header("Content-Type") == "application/json"
    text = request.json()["text"]
    assert "*Checkout API*: p99 &gt; 2s &amp; rising &lt;fast&gt;" in text
    assert "Level 2" in text
    assert "3 alerts" in text
    assert f"`{INCIDENT}`" in text
    assert f"<{ACK_URL}|Acknowledge>" in text
    assert f"<{INCIDENT_URL}|Open incident>" in text


def test_slack_without_links_still_says_what_is_wrong(slack: SlackReceiver) -> None:
    send(
        slack_channel(), notification(SlackTarget(slack.hook_url), ack_url=None, incident_url=None)
    )

    (request,) = slack.wait_for(1)
    assert "|Acknowledge>" not in request.json()["text"]
    assert "HTTP 5xx above 5% for 5 minutes" in request.json()["text"]


def test_slack_hook_that_no_longer_exists_is_permanent_and_hides_the_url(
    slack: SlackReceiver,
) -> None:
    gone = slack.url + "/services/T00000000/B00000000/REVOKEDxSECRET"
    failed = failure(slack_channel(), notification(SlackTarget(gone)))

    assert failed.transient is False
    assert failed.reason == "Slack answered HTTP 404: no_service"
    assert "REVOKED" not in failed.reason


@pytest.mark.parametrize(
    ("reply", "transient", "retry_after"),
    [
        (Reply.text(400, "invalid_payload"), False, None),
        (Reply.text(403, "action_prohibited"), False, None),
        (Reply.text(410, "channel_is_archived"), False, None),
        (Reply.text(500, "rollup_error"), True, None),
        (Reply.text(429, "rate_limited", {"Retry-After": "30"}), True, 30.0),
    ],
)
def test_slack_failures_are_classified(
    slack: SlackReceiver, reply: Reply, transient: bool, retry_after: float | None
) -> None:
    slack.script(reply)
    failed = failure(slack_channel(), notification(SlackTarget(slack.hook_url)))

    assert failed.transient is transient
    assert failed.retry_after == retry_after
    assert failed.reason == f"Slack answered HTTP {reply.status}: {reply.body.decode()}"


def test_slack_down_is_transient(nobody: str) -> None:
    failed = failure(slack_channel(), notification(SlackTarget(nobody + "/services/T/B/X")))

    assert failed.transient is True


# --- log, and every channel --------------------------------------------------------------------


def test_log_channel_logs_a_warning_and_never_fails(caplog: pytest.LogCaptureFixture) -> None:
    outgoing = notification(SlackTarget("https://hooks.slack.com/services/T/B/SECRET"))
    with caplog.at_level(logging.WARNING, logger="pager.notify"):
        assert send(LogChannel(), outgoing) is None

    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.name == "pager.notify"
    text = record.getMessage()
    for expected in (
        "Checkout API",
        "HTTP 5xx above 5%",
        "level 2",
        INCIDENT,
        NOTIFICATION,
        INCIDENT_URL,
    ):
        assert expected in text
    assert "slack hooks.slack.com" in text
    assert "SECRET" not in text
    # The ack link acknowledges without a login: a credential, so never in a log.
    assert ACK_URL not in text
    assert "/ack/" not in text
    assert LogChannel.delivers is False  # its pages are recorded as logged, not sent


@pytest.mark.parametrize(
    ("channel", "target"),
    [
        (SmtpChannel(SmtpSettings.from_url("smtp://127.0.0.1:1", SENDER)), SmsTarget(PHONE)),
        (twilio_channel("http://127.0.0.1:1"), EmailTarget(ONCALL)),
        (webhook_channel(), SlackTarget("http://127.0.0.1:1/")),
        (slack_channel(), WebhookTarget("http://127.0.0.1:1/")),
    ],
    ids=["email", "sms", "webhook", "slack"],
)
def test_a_channel_refuses_another_channels_target(channel: Channel, target: Target) -> None:
    failed = failure(channel, notification(target))

    assert failed.transient is False
    assert f"cannot send to a {target.type} target" in failed.reason


# --- messages outside any incident (test pages, verification codes) ---------------------------


DIRECT_ID = "5c2e8a1f-7b3d-4f6e-9a0c-2d4e6f8a0b1c"


def direct(target: Target, text: str = "Pager code: 123456.") -> DirectMessage:
    return DirectMessage(DIRECT_ID, target, "Your Pager verification code", text)


def send_message(channel: Messenger, message: DirectMessage) -> str | None:
    async def send_and_settle() -> str | None:
        try:
            return await channel.send_message(message)
        finally:
            await asyncio.sleep(0.02)

    return asyncio.run(send_and_settle())


def test_a_message_goes_by_email_as_it_is(smtp: SmtpSink) -> None:
    send_message(smtp_channel(smtp.url()), direct(EmailTarget(ONCALL), "Pager code: 123456.\n"))

    (mail,) = smtp.wait_for(1)
    assert mail.rcpt_tos == (ONCALL,)
    assert mail.subject == "Your Pager verification code"
    assert mail.body.strip() == "Pager code: 123456."
    assert mail.message["Message-ID"] == f"<{DIRECT_ID}@pager>"
    assert "X-Pager-Incident" not in mail.message


def test_a_message_goes_by_sms_cut_to_160_characters(twilio: TwilioServer) -> None:
    sid = send_message(twilio_channel(twilio.url), direct(SmsTarget(PHONE), "x" * 300))

    (sms,) = twilio.wait_for(1)
    assert sid == sms.sid
    assert (sms.to, sms.from_, sms.body) == (PHONE, TWILIO_FROM, "x" * 160)


def test_a_message_twilio_refuses_fails_with_its_answer(twilio: TwilioServer) -> None:
    with pytest.raises(DeliveryFailed) as raised:
        send_message(twilio_channel(twilio.url), direct(SmsTarget("+1555")))

    assert raised.value.transient is False
    assert "+1555 is not a valid phone number. (Twilio error 21211)" in raised.value.reason


def test_the_log_channel_logs_a_message_without_its_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="pager.notify"):
        assert send_message(LogChannel(), direct(SmsTarget(PHONE), "Pager code: 987654.")) is None

    (record,) = caplog.records
    text = record.getMessage()
    assert "Your Pager verification code" in text
    assert PHONE in text
    assert "987654" not in text


def test_a_messenger_refuses_another_channels_target() -> None:
    smtp = SmtpChannel(SmtpSettings.from_url("smtp://127.0.0.1:1", SENDER))
    with pytest.raises(DeliveryFailed, match="cannot send to a sms target"):
        send_message(smtp, direct(SmsTarget(PHONE)))
    with pytest.raises(DeliveryFailed, match="cannot send to a email target"):
        send_message(twilio_channel("http://127.0.0.1:1"), direct(EmailTarget(ONCALL)))
