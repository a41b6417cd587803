"""Readiness: what would page nobody over the coming days, each with when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pager.domain.people import ContactMethod, Person
from pager.domain.policy import EmailTarget, EscalationPolicy, Level, ScheduleTarget, UserTarget
from pager.domain.readiness import Problem, problems
from pager.domain.schedule import Layer, Override, Restriction, Schedule, ShiftLength

START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
END = START + timedelta(days=14)
ANN = Person(
    "ann@example.com", contact_methods=(ContactMethod("work", "email", "ann@example.com"),)
)
BOB = Person(
    "bob@example.com",
    contact_methods=(ContactMethod("work", "email", "bob@example.com", enabled=False),),
)
PEOPLE = {p.email: p for p in (ANN, BOB)}

ALWAYS = Schedule(
    "always",
    "Always",
    "UTC",
    (Layer(("ann@example.com",), ShiftLength(1, "weeks"), datetime(2026, 1, 5)),),
)
DAYTIME = Schedule(
    "daytime",
    "Daytime",
    "UTC",
    (
        Layer(
            ("ann@example.com",),
            ShiftLength(1, "weeks"),
            datetime(2026, 1, 5),
            (Restriction(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "09:00", "17:00"),),
        ),
    ),
)
HANDOVER = Schedule(
    "handover",
    "Handover",
    "UTC",
    (
        Layer(
            ("ann@example.com", "bob@example.com", "ghost@example.com"),
            ShiftLength(1, "days"),
            datetime(2026, 3, 2),
        ),
    ),
)
SCHEDULES = {s.id: s for s in (ALWAYS, DAYTIME, HANDOVER)}


def policy(*levels: tuple[object, ...]) -> EscalationPolicy:
    return EscalationPolicy("ops", "Ops", tuple(Level(tuple(targets)) for targets in levels))  # type: ignore[arg-type]


def test_a_policy_that_always_reaches_someone_has_no_problem() -> None:
    assert problems([policy((ScheduleTarget("always"),))], SCHEDULES, PEOPLE, START, END) == ()


def test_a_schedule_that_no_policy_pages_is_not_looked_at() -> None:
    assert (
        problems([policy((EmailTarget("team@example.com"),))], SCHEDULES, PEOPLE, START, END) == ()
    )


def test_a_gap_and_the_level_that_would_page_nobody_in_it() -> None:
    found = problems([policy((ScheduleTarget("daytime"),))], SCHEDULES, PEOPLE, START, END)
    assert found == (
        Problem(
            "schedule_gap",
            START,
            START + timedelta(hours=9),
            "schedule daytime has nobody on call",
            15,
            schedule="daytime",
        ),
        Problem(
            "level_pages_nobody",
            START,
            START + timedelta(hours=9),
            "escalation policy ops level 1 would page nobody",
            15,
            policy="ops",
            level=1,
        ),
    )


def test_a_second_target_or_an_address_covers_the_gap() -> None:
    covered = [policy((ScheduleTarget("daytime"), ScheduleTarget("always")))]
    assert [p.kind for p in problems(covered, SCHEDULES, PEOPLE, START, END)] == ["schedule_gap"]
    addressed = [policy((ScheduleTarget("daytime"), EmailTarget("team@example.com")))]
    assert [p.kind for p in problems(addressed, SCHEDULES, PEOPLE, START, END)] == ["schedule_gap"]
    person = [policy((ScheduleTarget("daytime"), UserTarget("Ann@example.com")))]
    assert [p.kind for p in problems(person, SCHEDULES, PEOPLE, START, END)] == ["schedule_gap"]


def test_people_on_call_who_cannot_be_reached_and_when() -> None:
    found = problems([policy((ScheduleTarget("handover"),))], SCHEDULES, PEOPLE, START, END)
    day = timedelta(days=1)
    assert [(p.kind, p.user, p.start, p.message) for p in found] == [
        (
            "unreachable_user",
            "bob@example.com",
            START + day,
            "bob@example.com is on call on schedule handover but they have no enabled contact "
            "method",
        ),
        (
            "level_pages_nobody",
            None,
            START + day,
            "escalation policy ops level 1 would page nobody",
        ),
        (
            "unreachable_user",
            "ghost@example.com",
            START + 2 * day,
            "ghost@example.com is on call on schedule handover but they are not a user of Pager",
        ),
    ]
    assert found[1].count == 5  # bob's and ghost's days joined: days 2-3, 5-6, ...
    assert found[1].end == START + 3 * day


def test_people_a_policy_names_who_cannot_be_reached() -> None:
    found = problems(
        [
            policy(
                (UserTarget("bob@example.com"), UserTarget("bob@example.com")),
                (ScheduleTarget("nope"),),
            )
        ],
        SCHEDULES,
        PEOPLE,
        START,
        END,
    )
    assert [(p.kind, p.level, p.start, p.end) for p in found] == [
        ("unreachable_user", None, START, END),
        ("level_pages_nobody", 1, START, END),
        ("level_pages_nobody", 2, START, END),
    ]
    assert found[0].message == (
        "escalation policy ops pages bob@example.com but they have no enabled contact method"
    )


def test_an_override_fills_a_gap() -> None:
    covered = Override("o", "ann@example.com", START, END, START)
    schedule = Schedule("daytime", "Daytime", "UTC", DAYTIME.layers, (covered,))
    assert (
        problems([policy((ScheduleTarget("daytime"),))], {"daytime": schedule}, PEOPLE, START, END)
        == ()
    )
