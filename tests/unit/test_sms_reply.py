"""An SMS page with its reply line: within 160 characters whatever the service, the alert,
the level and the ack link; the reply line whole and last; the ack link dropped before the
message is squeezed. And the reply code: four digits per incident, from the secret key."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from pager.adapters.notify.message import SMS_MIN_MESSAGE, sms_text
from pager.adapters.reply_codes import ReplyCodes
from pager.application.ports import OutgoingNotification
from pager.domain.policy import SmsTarget

INCIDENT = "7f3a9c2e" + "0" * 24
REPLY = " Reply 1 4821 to acknowledge, 2 4821 to resolve"
SHORT_ACK = "https://p.io/ack/abc"
LONG_ACK = "https://pager.example.com/ack/" + "t" * 48


def page(**changes: object) -> OutgoingNotification:
    base = OutgoingNotification(
        id="n1",
        incident_id=INCIDENT,
        service_id="checkout",
        service_name="Checkout API",
        message="HTTP 5xx above 5% for 5 minutes",
        level=2,
        round=1,
        target=SmsTarget("+14155550100"),
        attempt=1,
        opened_at=datetime(2026, 1, 1, tzinfo=UTC),
        reply_code="4821",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_the_reply_line_ends_the_text() -> None:
    assert sms_text(page()) == (
        "[Pager] Checkout API: HTTP 5xx above 5% for 5 minutes (level 2, #7f3a9c2e)" + REPLY
    )


def test_an_ack_link_that_fits_stays_before_the_reply_line() -> None:
    text = sms_text(page(ack_url=SHORT_ACK))
    assert text.endswith(f"(level 2, #7f3a9c2e) Ack: {SHORT_ACK}{REPLY}")
    assert len(text) <= 160


def test_an_ack_link_that_leaves_no_room_for_the_message_goes_first() -> None:
    text = sms_text(page(ack_url=LONG_ACK, message="m" * 300))
    assert "Ack:" not in text
    assert text.endswith(f"... (level 2, #7f3a9c2e){REPLY}")
    assert len(text) == 160


def test_a_long_service_name_is_cut_before_the_message_falls_below_its_minimum() -> None:
    text = sms_text(page(service_name="S" * 200, message="m" * 300, level=99, round=99))
    assert len(text) <= 160
    assert text.endswith(REPLY)
    message = text.split(": ", 1)[1].split(" (level", 1)[0]
    assert message.startswith("mmm")
    assert len(message) >= SMS_MIN_MESSAGE


def test_without_a_reply_code_there_is_no_reply_line() -> None:
    assert "Reply" not in sms_text(page(reply_code=None, ack_url=LONG_ACK))


@given(
    service=st.text(max_size=200),
    message=st.text(max_size=2000),
    ack=st.none() | st.text(max_size=300),
    level=st.integers(1, 10**6),
    round_=st.integers(1, 10**6),
)
def test_never_over_160_characters_and_the_reply_line_is_whole(
    service: str, message: str, ack: str | None, level: int, round_: int
) -> None:
    text = sms_text(
        page(service_name=service, message=message, ack_url=ack, level=level, round=round_)
    )
    assert len(text) <= 160
    assert text.endswith(REPLY)


def test_a_reply_code_is_four_digits_the_same_everywhere_for_an_incident() -> None:
    codes = ReplyCodes(lambda: b"k" * 32)
    code = codes.code(INCIDENT)
    assert len(code) == 4
    assert code.isdigit()
    assert ReplyCodes(lambda: b"k" * 32).code(INCIDENT) == code


def test_reply_codes_differ_between_incidents_and_between_secret_keys() -> None:
    codes = ReplyCodes(lambda: b"k" * 32)
    incidents = [f"{n:032x}" for n in range(200)]
    assert len({codes.code(incident) for incident in incidents}) > 180  # ~2 collide in 10,000
    other = ReplyCodes(lambda: b"j" * 32)
    assert sum(codes.code(i) == other.code(i) for i in incidents) < 5
