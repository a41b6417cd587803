"""People: validation names every wrong place, and a level resolves into pages (which
contact method, after how long) once per person and method, with what reached nobody said."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pager.domain.commands import ReceiveAckTimeout, ReceiveAlert
from pager.domain.errors import ValidationFailed
from pager.domain.events import EscalationExhausted, IncidentOpened, LevelNotified
from pager.domain.incident import ServiceState, decide, evolve
from pager.domain.paging import NO_ONE, OnCallAt, Page, Unreached, resolve, unknown_references
from pager.domain.people import (
    ContactMethod,
    NotificationRule,
    Person,
    known_time_zone,
    personal_pages,
    validate_person,
)
from pager.domain.policy import (
    EmailTarget,
    EscalationPolicy,
    Level,
    ScheduleTarget,
    SmsTarget,
    UserTarget,
    VoiceTarget,
)
from pager.domain.schedule import Layer, Schedule, ShiftLength

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
SMS = ContactMethod("phone", "sms", "+14155550100")
MAIL = ContactMethod("work", "email", "alice@example.com")
CALL = ContactMethod("call", "voice", "+14155550100")
ALICE = Person(
    "alice@example.com",
    "Alice",
    "Europe/Paris",
    (SMS, MAIL, CALL),
    (NotificationRule(0, "phone"), NotificationRule(5, "work"), NotificationRule(2, "call")),
)
BOB = Person("bob@example.com", "Bob", contact_methods=(ContactMethod("mail", "email", "b@x.io"),))
PRIMARY = Schedule(
    "primary",
    "Primary",
    "UTC",
    (
        Layer(
            ("alice@example.com", "bob@example.com"), ShiftLength(1, "days"), datetime(2026, 12, 1)
        ),
    ),
)


class Directory:
    def __init__(self, *people: Person, schedules: tuple[Schedule, ...] = ()) -> None:
        self._people = {p.email: p for p in people}
        self._schedules = {s.id: s for s in schedules}

    def person(self, email: str) -> Person | None:
        return self._people.get(email)

    def schedule(self, schedule_id: str) -> Schedule | None:
        return self._schedules.get(schedule_id)


# -- validation


def places(person: Person) -> list[str]:
    with pytest.raises(ValidationFailed) as caught:
        validate_person(person)
    return [where for where, _ in caught.value.problems]


def test_a_valid_person_passes() -> None:
    assert validate_person(ALICE) is ALICE
    assert validate_person(Person("x@example.com")) is not None  # no methods, no rules: valid


def test_every_wrong_place_is_named() -> None:
    person = Person(
        "not an email",
        "bad\x00name",
        "Mars/Olympus_Mons",
        (
            ContactMethod("Phone!", "sms", "0612345678"),
            ContactMethod("mail", "email", "nope"),
            ContactMethod("mail", "pigeon", "coo"),  # type: ignore[arg-type]
        ),
        (NotificationRule(-1, "mail"), NotificationRule(5, "fax")),
    )
    assert places(person) == [
        "email",
        "name",
        "time_zone",
        "contact method 1 id",
        "contact method 1 phone",
        "contact method 2 address",
        "contact method 3 type",
        "contact method 3 id",
        "notification rule 1 delay_minutes",
        "notification rule 2 contact_method",
    ]


@pytest.mark.parametrize(
    ("name", "known"),
    [("UTC", True), ("Europe/Paris", True), ("America/New_York", True), ("Mars/Base", False),
     ("", False), (" UTC", False), ("../etc/passwd", False), ("/etc/localtime", False)],
)  # fmt: skip
def test_time_zones_are_iana_names(name: str, known: bool) -> None:
    assert known_time_zone(name) is known


# -- a person's pages


def test_rules_become_pages_in_the_order_of_their_delays() -> None:
    pages = personal_pages(ALICE)
    assert [(p.method.id, p.delay_minutes) for p in pages] == [
        ("phone", 0),
        ("call", 2),
        ("work", 5),
    ]


def test_without_rules_every_enabled_method_at_once() -> None:
    person = Person(
        "c@example.com",
        contact_methods=(SMS, ContactMethod("off", "email", "c@x.io", enabled=False), MAIL),
    )
    assert [(p.method.id, p.delay_minutes) for p in personal_pages(person)] == [
        ("phone", 0),
        ("work", 0),
    ]


def test_a_disabled_method_or_a_rule_for_a_missing_one_pages_nobody() -> None:
    person = Person(
        "d@example.com",
        contact_methods=(ContactMethod("phone", "sms", "+14155550100", enabled=False),),
        rules=(NotificationRule(0, "phone"), NotificationRule(1, "gone")),
    )
    assert personal_pages(person) == ()


def test_two_rules_for_one_method_page_it_once_at_the_earlier_delay() -> None:
    person = Person(
        "e@example.com",
        contact_methods=(SMS,),
        rules=(NotificationRule(10, "phone"), NotificationRule(3, "phone")),
    )
    assert [(p.method.id, p.delay_minutes) for p in personal_pages(person)] == [("phone", 3)]


methods = st.builds(
    ContactMethod,
    id=st.sampled_from(["a", "b", "c", "d"]),
    type=st.sampled_from(["email", "sms", "voice"]),
    address=st.just("+14155550100"),
    enabled=st.booleans(),
)
rules = st.builds(
    NotificationRule,
    delay_minutes=st.integers(0, 60),
    contact_method=st.sampled_from(["a", "b", "c", "x"]),
)


@given(st.lists(methods, max_size=4, unique_by=lambda m: m.id), st.lists(rules, max_size=6))
def test_pages_are_one_per_enabled_method_with_its_earliest_delay(
    contact: list[ContactMethod], asked: list[NotificationRule]
) -> None:
    person = Person("p@example.com", contact_methods=tuple(contact), rules=tuple(asked))
    pages = personal_pages(person)
    ids = [p.method.id for p in pages]
    assert len(ids) == len(set(ids))  # one page per method
    assert all(p.method.enabled for p in pages)
    assert [p.delay_minutes for p in pages] == sorted(p.delay_minutes for p in pages)
    enabled = {m.id for m in contact if m.enabled}
    if asked:
        for page in pages:
            delays = [r.delay_minutes for r in asked if r.contact_method == page.method.id]
            assert page.delay_minutes == min(delays)  # delays preserved
        assert set(ids) == {r.contact_method for r in asked} & enabled
    else:
        assert set(ids) == enabled
        assert all(p.delay_minutes == 0 for p in pages)


# -- a level's resolution


def test_a_user_target_pages_their_methods_by_their_rules() -> None:
    found = resolve(Level((UserTarget("alice@example.com"),)), Directory(ALICE), NOW)
    assert [(p.target, p.delay_seconds, p.key) for p in found.pages] == [
        (SmsTarget("+14155550100"), 0, "user:alice@example.com:phone"),
        (VoiceTarget("+14155550100"), 120, "user:alice@example.com:call"),
        (EmailTarget("alice@example.com"), 300, "user:alice@example.com:work"),
    ]
    assert found.pages[0].via == "user alice@example.com (sms phone, after 0 min)"
    assert found.unreached == ()


def test_a_person_reached_through_two_targets_is_paged_once_per_method() -> None:
    level = Level(
        (UserTarget("alice@example.com"), ScheduleTarget("primary"), EmailTarget("ops@x.io"))
    )
    found = resolve(level, Directory(ALICE, BOB, schedules=(PRIMARY,)), NOW)
    keys = [p.key for p in found.pages]
    assert keys == [
        "user:alice@example.com:phone",
        "user:alice@example.com:call",
        "user:alice@example.com:work",
        "email:ops@x.io",
    ]  # alice is on call today: the schedule adds nobody new
    assert found.on_call == (OnCallAt("primary", ("alice@example.com",)),)


def test_an_address_that_two_targets_come_to_is_paged_once_at_the_earlier_delay() -> None:
    # The level names alice's phone and her email, and pages her: her phone is texted once,
    # as the level named it (first, and at once); her email once, at once as named rather
    # than after her rule's 5 minutes.
    level = Level(
        (SmsTarget("+14155550100"), UserTarget("alice@example.com"), EmailTarget(MAIL.address))
    )
    found = resolve(level, Directory(ALICE), NOW)
    assert [(p.key, p.delay_seconds) for p in found.pages] == [
        ("sms:+14155550100", 0),
        ("user:alice@example.com:call", 120),
        ("email:alice@example.com", 0),
    ]
    assert [p.target.key for p in found.pages] == [
        "sms:+14155550100",
        "voice:+14155550100",
        "email:alice@example.com",
    ]


def test_a_schedule_pages_whoever_is_on_call_at_the_step() -> None:
    tomorrow = NOW + timedelta(days=1)
    found = resolve(
        Level((ScheduleTarget("primary"),)), Directory(ALICE, BOB, schedules=(PRIMARY,)), tomorrow
    )
    assert [p.target for p in found.pages] == [EmailTarget("b@x.io")]
    assert found.pages[0].via.startswith("schedule primary: bob@example.com")
    assert found.on_call == (OnCallAt("primary", ("bob@example.com",)),)


def test_what_reaches_nobody_is_said() -> None:
    nobody = Person("n@example.com")  # no contact method at all
    late = Schedule(
        "late",
        "Late",
        "UTC",
        (Layer(("z@example.com",), ShiftLength(1, "days"), datetime(2030, 1, 1)),),
    )
    level = Level(
        (
            UserTarget("gone@example.com"),
            UserTarget("n@example.com"),
            ScheduleTarget("nowhere"),
            ScheduleTarget("late"),
            ScheduleTarget("primary"),
        )
    )
    found = resolve(level, Directory(nobody, schedules=(late, PRIMARY)), NOW)
    assert found.pages == ()
    assert found.unreached == (
        Unreached("user gone@example.com", "gone@example.com is not a user of Pager"),
        Unreached("user n@example.com", "n@example.com has no enabled contact method"),
        Unreached("schedule nowhere", "there is no such schedule"),
        Unreached("schedule late", "nobody is on call"),
        Unreached(
            "schedule primary (alice@example.com)", "alice@example.com is not a user of Pager"
        ),
    )


def test_addresses_resolve_as_they_are() -> None:
    level = Level((EmailTarget("a@x.io"), SmsTarget("+14155550100")))
    assert resolve(level, NO_ONE, NOW).pages == (
        Page(EmailTarget("a@x.io"), "email:a@x.io"),
        Page(SmsTarget("+14155550100"), "sms:+14155550100"),
    )


# -- the step


POLICY = EscalationPolicy(
    "ops",
    "Ops",
    (
        Level((UserTarget("gone@example.com"),), 60),
        Level((ScheduleTarget("primary"),), 120),
        Level((EmailTarget("lead@x.io"),), 300),
    ),
)
OPEN = ReceiveAlert("db", "inc-1", "disk full")
SERVICE = ServiceState("db", True, "Database", "ops")


def test_a_level_that_pages_nobody_is_recorded_and_the_next_level_paged_at_once() -> None:
    events = decide(SERVICE, OPEN, POLICY, NOW, Directory(ALICE, BOB, schedules=(PRIMARY,)))
    assert isinstance(events[0], IncidentOpened)
    first, second = events[1:]
    assert isinstance(first, LevelNotified)
    assert isinstance(second, LevelNotified)
    assert (first.level, first.pages, first.timer_due_at) == (1, (), None)
    assert first.unreached == (
        Unreached("user gone@example.com", "gone@example.com is not a user of Pager"),
    )
    assert second.level == 2
    assert second.timer_due_at == NOW + timedelta(seconds=120)
    assert second.pages is not None
    assert second.pages[0].key == "user:alice@example.com:phone"
    state = SERVICE
    for event in events:
        state = evolve(state, event)
    assert state.incident is not None
    assert (state.incident.level, state.incident.unreached) == (2, 1)


def test_when_every_level_pages_nobody_the_escalation_ends_at_once() -> None:
    empty = EscalationPolicy(
        "ops", "Ops", (Level((UserTarget("gone@example.com"),), 60),), repeat=1
    )
    events = decide(SERVICE, OPEN, empty, NOW, NO_ONE)
    assert [type(e).__name__ for e in events] == [
        "IncidentOpened",
        "LevelNotified",  # round 1
        "LevelNotified",  # round 2: the repeat
        "EscalationExhausted",
    ]
    assert isinstance(events[-1], EscalationExhausted)
    assert (events[-1].level, events[-1].round) == (1, 2)


def test_a_timeout_resolves_the_next_level_at_its_own_instant() -> None:
    state = SERVICE
    directory = Directory(ALICE, BOB, schedules=(PRIMARY,))
    for event in decide(SERVICE, OPEN, POLICY, NOW, directory):
        state = evolve(state, event)
    later = NOW + timedelta(days=1)  # bob's day now
    [third] = decide(state, ReceiveAckTimeout("db", "inc-1", 2, 1), POLICY, later, directory)
    assert isinstance(third, LevelNotified)
    assert third.level == 3
    assert third.pages == (Page(EmailTarget("lead@x.io"), "email:lead@x.io"),)


def test_an_event_from_before_people_pages_its_targets() -> None:
    old = LevelNotified("inc-1", "ops", 1, 1, (EmailTarget("a@x.io"),), 60, NOW, NOW)
    assert old.pages is None
    assert old.paged == (Page(EmailTarget("a@x.io"), "email:a@x.io"),)


def test_a_policy_may_name_only_users_and_schedules_that_exist() -> None:
    directory = Directory(ALICE, schedules=(PRIMARY,))
    assert unknown_references(POLICY, directory) == (
        ("level 1 target 1", "user 'gone@example.com' does not exist"),
    )
    broken = EscalationPolicy(
        "x", "X", (Level((ScheduleTarget("nope"), UserTarget("alice@example.com"))),)
    )
    assert unknown_references(broken, directory) == (
        ("level 1 target 1", "schedule 'nope' does not exist"),
    )


def test_the_new_targets_have_keys_labels_and_checks() -> None:
    from pager.domain.policy import target_problem

    assert (VoiceTarget("+14155550100").key, VoiceTarget("+14155550100").label) == (
        "voice:+14155550100",
        "voice +14155550100",
    )
    assert (UserTarget("Alice@Example.com").key, UserTarget("a@x.io").label) == (
        "user:alice@example.com",
        "user a@x.io",
    )
    assert (ScheduleTarget("primary").key, ScheduleTarget("primary").label) == (
        "schedule:primary",
        "schedule primary",
    )
    assert target_problem(VoiceTarget("0612")) is not None
    assert target_problem(UserTarget("nobody")) == "'nobody' is not a user's email address"
    assert target_problem(ScheduleTarget("Not An Id")) is not None
    assert target_problem(UserTarget("a@x.io")) is None
    assert target_problem(ScheduleTarget("primary")) is None


def test_a_person_has_bounded_lists() -> None:
    many = tuple(ContactMethod(f"m{n}", "email", "a@x.io") for n in range(21))
    rules_ = tuple(NotificationRule(0, "m1") for _ in range(51))
    assert "contact_methods" in places(Person("a@x.io", contact_methods=many))
    assert "notification_rules" in places(Person("a@x.io", contact_methods=many[:2], rules=rules_))


def test_a_new_step_says_what_it_paged_and_the_empty_directory_has_nobody() -> None:
    page = Page(EmailTarget("a@x.io"), "email:a@x.io")
    new = LevelNotified("inc-1", "ops", 1, 1, (EmailTarget("a@x.io"),), 60, NOW, NOW, (page,))
    assert new.paged == (page,)
    assert NO_ONE.schedule("primary") is None
    assert NO_ONE.person("a@x.io") is None


def test_defining_a_policy_that_names_a_missing_user_is_refused_naming_the_place() -> None:
    from pager.domain.commands import DefinePolicy
    from pager.domain.policy_stream import PolicyState, decide_policy

    with pytest.raises(ValidationFailed) as refused:
        decide_policy(PolicyState("ops"), DefinePolicy(POLICY), NOW, directory=Directory(ALICE))
    assert refused.value.problems == (
        ("level 1 target 1", "user 'gone@example.com' does not exist"),
        ("level 2 target 1", "schedule 'primary' does not exist"),
    )
