"""Small builders for domain objects used across integration and end-to-end tests."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from pager.adapters.clock import SystemClock
from pager.adapters.storage import tables as t
from pager.adapters.storage.accounts import SqlAccountStore
from pager.adapters.storage.codec import encode_layers
from pager.application.accounts import Accounts
from pager.domain.people import ContactMethod, NotificationRule, Person
from pager.domain.policy import (
    EmailTarget,
    EscalationPolicy,
    Level,
    ScheduleTarget,
    SmsTarget,
    Target,
    UserTarget,
)
from pager.domain.schedule import Layer, ShiftLength


def two_level_policy(
    policy_id: str = "ops", timeout: int = 60, repeat: int = 0
) -> EscalationPolicy:
    return EscalationPolicy(
        policy_id,
        "Ops on call",
        (
            Level((EmailTarget("alice@example.com"), SmsTarget("+14155550100")), timeout),
            Level((EmailTarget("bob@example.com"),), timeout),
        ),
        repeat,
    )


def single_level_policy(policy_id: str, *targets: Target, timeout: int = 60) -> EscalationPolicy:
    return EscalationPolicy(policy_id, policy_id, (Level(tuple(targets), timeout),))


def people_policy(policy_id: str = "ops", timeout: int = 600) -> EscalationPolicy:
    """One level that reaches two users, alice twice: as a user and through a schedule that
    has her on call (`add_people` makes them)."""
    return EscalationPolicy(
        policy_id,
        "Ops people",
        (
            Level(
                (UserTarget(ALICE.email), UserTarget(BOB.email), ScheduleTarget("primary")),
                timeout,
            ),
        ),
    )


ALICE = Person(
    "alice@example.com",
    "Alice",
    contact_methods=(
        ContactMethod("phone", "sms", "+14155550100"),
        ContactMethod("mail", "email", "alice@example.com"),
    ),
    rules=(NotificationRule(0, "phone"), NotificationRule(1, "mail")),
)
BOB = Person(
    "bob@example.com", "Bob", contact_methods=(ContactMethod("mail", "email", "bob@x.io"),)
)
# One notification per (person, contact method), however many targets reach them.
PEOPLE_PAGES = [
    "user:alice@example.com:mail",
    "user:alice@example.com:phone",
    "user:bob@example.com:mail",
]


def add_people(engine: Engine) -> None:
    """ALICE and BOB as users, and schedule `primary` with alice on call all week."""
    accounts = Accounts(SqlAccountStore(engine), SystemClock())
    for person in (ALICE, BOB):
        accounts.add_user(person.email, profile=person)
    layer = Layer((ALICE.email,), ShiftLength(1, "weeks"), datetime(2020, 1, 6))
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            t.schedules.insert().values(
                id="primary",
                name="Primary",
                time_zone="UTC",
                layers=encode_layers((layer,)),
                created_at=now,
                updated_at=now,
            )
        )
