""" "Call me until I answer": a notification rule may repeat. Its repeats are pages of the
step like any other (each its own key and due time, MAX_REPEATS in all), so whatever
cancels a step's pages not yet sent ends them; the dedup of one address keeps them; the
acknowledgement timer and the next level do not move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pager.domain.commands import ReceiveAlert
from pager.domain.errors import ValidationFailed
from pager.domain.events import IncidentOpened, LevelNotified
from pager.domain.incident import ServiceState, decide
from pager.domain.paging import resolve
from pager.domain.people import (
    MAX_REPEAT_MINUTES,
    MAX_REPEATS,
    ContactMethod,
    NotificationRule,
    Person,
    personal_pages,
    validate_person,
)
from pager.domain.policy import EscalationPolicy, Level, ScheduleTarget, SmsTarget, UserTarget
from pager.domain.schedule import Layer, Schedule, ShiftLength
from tests.unit.test_people import Directory

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
PHONE = ContactMethod("phone", "sms", "+14155550100")
CALL = ContactMethod("call", "voice", "+14155550100")
MAIL = ContactMethod("work", "email", "carol@example.com")


def carol(*rules: NotificationRule) -> Person:
    return Person("carol@example.com", "Carol", contact_methods=(PHONE, CALL, MAIL), rules=rules)


def problems(person: Person) -> tuple[tuple[str, str], ...]:
    with pytest.raises(ValidationFailed) as caught:
        validate_person(person)
    return caught.value.problems


# -- the rule


@pytest.mark.parametrize("minutes", [0, -5, MAX_REPEAT_MINUTES + 1])
def test_a_repeat_outside_its_bounds_is_refused_naming_the_rule(minutes: int) -> None:
    # given a rule that would repeat every `minutes`
    person = carol(NotificationRule(0, "work"), NotificationRule(0, "phone", minutes))
    # when it is checked, then the place and the bounds are said
    assert problems(person) == (
        ("notification rule 2 repeat_every_minutes", f"must be from 1 to {MAX_REPEAT_MINUTES}"),
    )


@pytest.mark.parametrize("minutes", [None, 1, MAX_REPEAT_MINUTES])
def test_a_repeat_within_its_bounds_or_none_is_valid(minutes: int | None) -> None:
    person = carol(NotificationRule(0, "phone", minutes))
    assert validate_person(person) is person


def test_a_persons_page_carries_its_rules_repeat() -> None:
    # given a rule that calls every 5 minutes from 2 minutes after the step
    person = carol(NotificationRule(0, "phone"), NotificationRule(2, "call", 5))
    # when the person is resolved into pages, then the repeat goes with the call
    assert [(p.method.id, p.delay_minutes, p.repeat_minutes) for p in personal_pages(person)] == [
        ("phone", 0, None),
        ("call", 2, 5),
    ]


@pytest.mark.parametrize(
    ("rules", "kept"),
    [
        ((NotificationRule(0, "call"), NotificationRule(0, "call", 5)), (0, 5)),
        ((NotificationRule(0, "call", 10), NotificationRule(0, "call", 3)), (0, 3)),
        ((NotificationRule(0, "call", 3), NotificationRule(0, "call", 10)), (0, 3)),
        ((NotificationRule(5, "call", 1), NotificationRule(2, "call")), (2, None)),
    ],
    ids=["a-repeat-wins-a-tie", "the-more-often", "first-the-more-often", "earlier-first"],
)
def test_two_rules_for_one_method_keep_the_earlier_then_the_more_insistent(
    rules: tuple[NotificationRule, ...], kept: tuple[int, int | None]
) -> None:
    (page,) = personal_pages(carol(*rules))
    assert (page.delay_minutes, page.repeat_minutes) == kept


# -- the level's pages


def test_a_repeating_rule_pages_again_every_so_often_each_page_its_own() -> None:
    # given Carol asks to be called 2 minutes after the step, then every 5 minutes
    level = Level((UserTarget("carol@example.com"),))
    directory = Directory(carol(NotificationRule(0, "work"), NotificationRule(2, "call", 5)))
    # when the level is resolved
    found = resolve(level, directory, NOW)
    # then her email goes once, and her phone rings MAX_REPEATS times, 5 minutes apart
    assert MAX_REPEATS == 10
    calls = [(p.key, p.delay_seconds) for p in found.pages if p.target.type == "voice"]
    assert calls == [("user:carol@example.com:call", 120)] + [
        (f"user:carol@example.com:call#{n}", 120 + (n - 1) * 300) for n in range(2, 11)
    ]
    vias = [p.via for p in found.pages]
    assert vias[0] == "user carol@example.com (email work, after 0 min)"
    assert vias[1] == "user carol@example.com (voice call, after 2 min, every 5 min): page 1 of 10"
    assert vias[2] == "user carol@example.com (voice call, after 2 min, every 5 min): page 2 of 10"
    assert vias[-1].endswith(": page 10 of 10")


def test_an_address_named_twice_keeps_the_repeats_of_the_rule_that_asked_for_them() -> None:
    # given a level that texts Carol's phone directly and pages Carol, whose rule texts
    # that phone at once and then every minute
    level = Level((SmsTarget(PHONE.address), UserTarget("carol@example.com")))
    directory = Directory(carol(NotificationRule(0, "phone", 1)))
    # when it is resolved
    found = resolve(level, directory, NOW)
    # then the phone is texted once per repeat, not once and not twice per repeat
    assert [(p.key, p.delay_seconds) for p in found.pages] == [
        ("user:carol@example.com:phone", 0),
        *((f"user:carol@example.com:phone#{n}", (n - 1) * 60) for n in range(2, 11)),
    ]


def test_a_person_reached_twice_gets_one_series_of_repeats() -> None:
    # given a level that names Carol and a schedule that has her on call
    primary = Schedule(
        "primary",
        "Primary",
        "UTC",
        (Layer(("carol@example.com",), ShiftLength(1, "days"), datetime(2026, 12, 1)),),
    )
    level = Level((UserTarget("carol@example.com"), ScheduleTarget("primary")))
    directory = Directory(carol(NotificationRule(0, "phone", 2)), schedules=(primary,))
    # when the level is resolved
    found = resolve(level, directory, NOW)
    # then her phone gets one series, as the user target named it
    assert [p.key for p in found.pages] == ["user:carol@example.com:phone"] + [
        f"user:carol@example.com:phone#{n}" for n in range(2, MAX_REPEATS + 1)
    ]
    assert all(p.via.startswith("user carol@example.com (") for p in found.pages)


def test_the_step_records_the_repeats_and_its_timer_does_not_move() -> None:
    # given a policy whose level 1 pages Carol, with 10 minutes to acknowledge
    policy = EscalationPolicy("ops", "Ops", (Level((UserTarget("carol@example.com"),), 600),))
    directory = Directory(carol(NotificationRule(0, "call", 3)))
    service = ServiceState("db", True, "Database", "ops")
    # when an alert opens an incident
    events = decide(service, ReceiveAlert("db", "inc-1", "disk full"), policy, NOW, directory)
    # then the step holds every repeat, and the timer is the level's own
    opened, step = events
    assert isinstance(opened, IncidentOpened)
    assert isinstance(step, LevelNotified)
    assert step.pages is not None
    assert [p.delay_seconds for p in step.pages] == [n * 180 for n in range(MAX_REPEATS)]
    assert step.timer_due_at == NOW + timedelta(seconds=600)


rules = st.builds(
    NotificationRule,
    delay_minutes=st.integers(0, 30),
    contact_method=st.sampled_from(["phone", "call", "work"]),
    repeat_every_minutes=st.none() | st.integers(1, MAX_REPEAT_MINUTES),
)


@given(st.lists(rules, max_size=6), st.booleans())
def test_every_page_has_its_own_key_and_an_address_one_series(
    asked: list[NotificationRule], also_direct: bool
) -> None:
    targets = (UserTarget("carol@example.com"),)
    if also_direct:
        targets = (SmsTarget(PHONE.address), *targets)
    found = resolve(Level(targets), Directory(carol(*asked)), NOW)
    keys = [p.key for p in found.pages]
    assert len(keys) == len(set(keys))
    per_address: dict[str, list[int]] = {}
    for page in found.pages:
        per_address.setdefault(page.target.key, []).append(page.delay_seconds)
    for delays in per_address.values():
        assert len(delays) in (1, MAX_REPEATS)
        assert delays == sorted(delays)
        assert len(set(delays)) == len(delays)
