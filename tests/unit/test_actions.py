"""What responders do with an incident: snooze it (acknowledged until a time, then level 1 of
the next round), un-acknowledge it, reassign it (page a user or a schedule now), add a note."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from pager.application.ports import DueTimer, TimerKey
from pager.application.timers import SNOOZE, command_for, fired_by
from pager.domain.commands import (
    Acknowledge,
    AddNote,
    EndSnooze,
    Escalate,
    Reassign,
    ReceiveAckTimeout,
    Resolve,
    Snooze,
    Unacknowledge,
)
from pager.domain.errors import IncidentAlreadyResolved, ValidationFailed
from pager.domain.events import (
    Escalated,
    EscalationExhausted,
    IncidentResolved,
    NoteAdded,
    Reassigned,
    Snoozed,
    SnoozeEnded,
    Unacknowledged,
)
from pager.domain.incident import MAX_SNOOZE
from pager.domain.paging import OnCallAt, Page, Unreached
from pager.domain.people import ContactMethod, Person
from pager.domain.policy import EmailTarget, ScheduleTarget, UserTarget
from pager.domain.schedule import Layer, Schedule, ShiftLength
from tests.unit.scenario import (
    INCIDENT,
    POLICY,
    SERVICE,
    acked,
    at,
    created,
    given,
    notified,
    page_level_1,
)

HOUR = 3600
DAVE = Person("dave@example.com", "Dave", contact_methods=(ContactMethod("m", "email", "d@x.io"),))
NIGHT = Schedule(
    "night",
    "Night",
    "UTC",
    (Layer(("dave@example.com",), ShiftLength(1, "days"), datetime(2024, 5, 1)),),
)
EMPTY = Schedule("empty", "Empty", "UTC", ())


class Directory:
    def person(self, email: str) -> Person | None:
        return DAVE if email == DAVE.email else None

    def schedule(self, schedule_id: str) -> Schedule | None:
        return {"night": NIGHT, "empty": EMPTY}.get(schedule_id)


PEOPLE = Directory()
DAVE_PAGE = Page(EmailTarget("d@x.io"), "user:dave@example.com:m", 0, "")


def snooze(seconds: float, now: float = 10) -> Snooze:
    return Snooze(SERVICE, INCIDENT, at(now + seconds), "alice")


def snoozed(until: float, generation: int = 1, now: float = 10) -> Snoozed:
    return Snoozed(INCIDENT, "alice", at(until), generation, at(now))


# -- snooze


def test_snoozing_a_triggered_incident_acknowledges_it_until_then() -> None:
    history = given(created(), *page_level_1()).when(snooze(HOUR), now=at(10))
    after = history.then(snoozed(10 + HOUR)).state.incident
    assert after is not None
    assert (after.status, after.acknowledged_by, after.acknowledged_at) == (
        "acknowledged",
        "alice",
        at(10),
    )
    assert after.snoozed_until == at(10 + HOUR)


def test_at_its_time_a_snooze_pages_level_1_of_the_next_round_whatever_repeat_says() -> None:
    assert POLICY.repeat == 0  # no second round by timeouts
    history = given(created(), *page_level_1(), snoozed(10 + HOUR))
    ended = history.when(EndSnooze(SERVICE, INCIDENT, 1), now=at(10 + HOUR))
    after = ended.then(
        SnoozeEnded(INCIDENT, 1, at(10 + HOUR)), notified(1, 2, now=at(10 + HOUR))
    ).state.incident
    assert after is not None
    assert (after.status, after.level, after.round, after.snoozed_until) == (
        "triggered",
        1,
        2,
        None,
    )


def test_after_a_snooze_the_escalation_goes_on_and_ends_after_that_round() -> None:
    woke = at(10 + HOUR)
    history = given(
        created(), *page_level_1(), snoozed(10 + HOUR), SnoozeEnded(INCIDENT, 1, woke),
        notified(1, 2, now=woke),
    )  # fmt: skip
    later = woke + timedelta(seconds=60)
    nxt = history.when(ReceiveAckTimeout(SERVICE, INCIDENT, 1, 2), now=later).then(
        notified(2, 2, now=later)
    )
    done = later + timedelta(seconds=120)
    nxt.when(ReceiveAckTimeout(SERVICE, INCIDENT, 2, 2), now=done).then(
        EscalationExhausted(INCIDENT, 2, 2, done)
    )


def test_an_exhausted_incident_snoozed_escalates_again_at_its_time() -> None:
    history = given(
        created(), *page_level_1(), notified(2, now=at(60)),
        EscalationExhausted(INCIDENT, 2, 1, at(180)), snoozed(200 + HOUR, now=200),
    )  # fmt: skip
    woke = at(200 + HOUR)
    after = (
        history.when(EndSnooze(SERVICE, INCIDENT, 1), now=woke)
        .then(SnoozeEnded(INCIDENT, 1, woke), notified(1, 2, now=woke))
        .state.incident
    )
    assert after is not None
    assert not after.exhausted


def test_snoozing_again_moves_the_time_and_leaves_the_first_timer_stale() -> None:
    history = given(created(), *page_level_1(), snoozed(10 + HOUR))
    history = history.when(snooze(4 * HOUR, now=20), now=at(20)).then(
        snoozed(20 + 4 * HOUR, generation=2, now=20)
    )
    history.when(EndSnooze(SERVICE, INCIDENT, 1), now=at(10 + HOUR)).then()
    woke = at(20 + 4 * HOUR)
    history.when(EndSnooze(SERVICE, INCIDENT, 2), now=woke).then(
        SnoozeEnded(INCIDENT, 2, woke), notified(1, 2, now=woke)
    )


def test_a_snoozed_incident_pages_nobody_when_its_old_ack_timer_fires() -> None:
    history = given(created(), *page_level_1(), snoozed(10 + HOUR))
    history.when(ReceiveAckTimeout(SERVICE, INCIDENT, 1, 1), now=at(60)).then()


def test_acknowledging_a_snoozed_incident_ends_the_snooze_and_its_timer_is_stale() -> None:
    history = given(created(), *page_level_1(), snoozed(10 + HOUR))
    history = history.when(Acknowledge(SERVICE, INCIDENT, "bob"), now=at(30)).then(
        acked("bob", at(30))
    )
    after = history.state.incident
    assert after is not None
    assert after.snoozed_until is None
    assert after.status == "acknowledged"
    history.when(EndSnooze(SERVICE, INCIDENT, 1), now=at(10 + HOUR)).then()
    history.when(Acknowledge(SERVICE, INCIDENT, "bob"), now=at(40)).then()


def test_unacknowledging_a_snoozed_incident_resumes_now_and_its_timer_is_stale() -> None:
    history = given(created(), *page_level_1(), snoozed(10 + HOUR))
    history = history.when(Unacknowledge(SERVICE, INCIDENT, "bob"), now=at(30)).then(
        Unacknowledged(INCIDENT, "bob", 1, 1, 60, at(90), at(30))
    )
    after = history.state.incident
    assert after is not None
    assert after.snoozed_until is None
    assert after.status == "triggered"
    history.when(EndSnooze(SERVICE, INCIDENT, 1), now=at(10 + HOUR)).then()


def test_resolving_a_snoozed_incident_leaves_its_timer_stale() -> None:
    history = given(created(), *page_level_1(), snoozed(10 + HOUR))
    history = history.when(Resolve(SERVICE, INCIDENT, "bob"), now=at(30)).then(
        IncidentResolved(INCIDENT, "bob", "resolved", at(30))
    )
    history.when(EndSnooze(SERVICE, INCIDENT, 1), now=at(10 + HOUR)).then()


def test_escalating_a_snoozed_incident_ends_the_snooze() -> None:
    history = given(created(), *page_level_1(), snoozed(10 + HOUR))
    history = history.when(Escalate(SERVICE, INCIDENT, "bob"), now=at(30)).then(
        Escalated(INCIDENT, "bob", 1, 1, at(30)), notified(2, now=at(30))
    )
    history.when(EndSnooze(SERVICE, INCIDENT, 1), now=at(10 + HOUR)).then()


@pytest.mark.parametrize("seconds", [0, -1, MAX_SNOOZE.total_seconds() + 1])
def test_a_snooze_ends_after_now_and_within_seven_days(seconds: float) -> None:
    refused = given(created(), *page_level_1()).when(snooze(seconds), now=at(10))
    assert refused.raises(ValidationFailed).problems[0][0] == "until"


def test_a_snooze_of_exactly_seven_days_is_allowed() -> None:
    seconds = MAX_SNOOZE.total_seconds()
    given(created(), *page_level_1()).when(snooze(seconds), now=at(10)).then(snoozed(10 + seconds))


def test_a_snooze_time_without_an_offset_is_refused() -> None:
    naive = Snooze(SERVICE, INCIDENT, datetime(2024, 5, 1, 13, 0), "alice")
    refused = given(created(), *page_level_1()).when(naive, now=at(10))
    assert refused.raises(ValidationFailed).problems[0][0] == "until"


def test_snoozing_a_resolved_incident_raises_incident_already_resolved() -> None:
    history = given(
        created(), *page_level_1(), IncidentResolved(INCIDENT, "bob", "resolved", at(5))
    )
    history.when(snooze(HOUR), now=at(10)).raises(IncidentAlreadyResolved)


def test_a_stray_snooze_timer_changes_nothing() -> None:
    given(created(), *page_level_1()).when(EndSnooze(SERVICE, INCIDENT, 1), now=at(10)).then()
    given(created()).when(EndSnooze(SERVICE, INCIDENT, 1), now=at(10)).then()


def test_the_snooze_timer_is_keyed_by_its_generation() -> None:
    timer = DueTimer(7, SNOOZE, INCIDENT, SERVICE, 3, 0, at(10))
    command = command_for(timer)
    assert command == EndSnooze(SERVICE, INCIDENT, 3)
    assert fired_by(command) == TimerKey(SNOOZE, INCIDENT, 3, 0)


# -- reassign


def reassigned(
    target: UserTarget | ScheduleTarget,
    pages: tuple[Page, ...],
    *,
    number: int = 1,
    unreached: tuple[Unreached, ...] = (),
    on_call: tuple[OnCallAt, ...] = (),
    now: float = 30,
    level: int = 1,
    timeout: int | None = 60,
) -> Reassigned:
    due = None if timeout is None else at(now + timeout)
    return Reassigned(
        INCIDENT, "bob", target, number, level, 1, pages, unreached, on_call, timeout, due, at(now)
    )


def keyed(page: Page, number: int, via: str) -> Page:
    return replace(page, key=f"{page.key}/reassign-{number}", via=via)


DAVE_VIA = "user dave@example.com (email m, after 0 min)"


def test_reassigning_a_triggered_incident_pages_the_user_now_and_restarts_the_timer() -> None:
    target = UserTarget(DAVE.email)
    history = given(created(), *page_level_1()).when(
        Reassign(SERVICE, INCIDENT, target, "bob"), now=at(30), directory=PEOPLE
    )
    history = history.then(reassigned(target, (keyed(DAVE_PAGE, 1, DAVE_VIA),)))
    # The level's old timer is overtaken: level 2 follows the new one, 60 s from the reassign.
    after = history.state.incident
    assert after is not None
    assert (after.level, after.round, after.reassigns) == (1, 1, 1)


def test_reassigning_an_acknowledged_incident_triggers_it_again() -> None:
    target = UserTarget(DAVE.email)
    history = given(created(), *page_level_1(), acked(now=at(10))).when(
        Reassign(SERVICE, INCIDENT, target, "bob"), now=at(30), directory=PEOPLE
    )
    after = history.then(reassigned(target, (keyed(DAVE_PAGE, 1, DAVE_VIA),))).state.incident
    assert after is not None
    assert (after.status, after.acknowledged_by) == ("triggered", None)


def test_reassigning_twice_to_the_same_person_pages_them_twice() -> None:
    target = UserTarget(DAVE.email)
    history = given(created(), *page_level_1(), reassigned(target, (DAVE_PAGE,)))
    history.when(Reassign(SERVICE, INCIDENT, target, "bob"), now=at(40), directory=PEOPLE).then(
        reassigned(target, (keyed(DAVE_PAGE, 2, DAVE_VIA),), number=2, now=40)
    )


def test_reassigning_to_a_schedule_pages_whoever_is_on_call() -> None:
    target = ScheduleTarget("night")
    via = "schedule night: dave@example.com (email m, after 0 min)"
    given(created(), *page_level_1()).when(
        Reassign(SERVICE, INCIDENT, target, "bob"), now=at(30), directory=PEOPLE
    ).then(
        reassigned(
            target,
            (keyed(DAVE_PAGE, 1, via),),
            on_call=(OnCallAt("night", ("dave@example.com",)),),
        )
    )


def test_reassigning_to_a_schedule_with_nobody_on_call_records_it_unreached() -> None:
    target = ScheduleTarget("empty")
    history = given(created(), *page_level_1()).when(
        Reassign(SERVICE, INCIDENT, target, "bob"), now=at(30), directory=PEOPLE
    )
    after = history.then(
        reassigned(
            target,
            (),
            unreached=(Unreached("schedule empty", "nobody is on call"),),
            on_call=(OnCallAt("empty", ()),),
        )
    ).state.incident
    assert after is not None
    assert after.unreached == 1


def test_reassigning_an_exhausted_incident_pages_and_sets_no_timer() -> None:
    target = UserTarget(DAVE.email)
    history = given(
        created(), *page_level_1(), notified(2, now=at(60)),
        EscalationExhausted(INCIDENT, 2, 1, at(180)),
    )  # fmt: skip
    history.when(Reassign(SERVICE, INCIDENT, target, "bob"), now=at(200), directory=PEOPLE).then(
        reassigned(target, (keyed(DAVE_PAGE, 1, DAVE_VIA),), now=200, level=2, timeout=None)
    )


def test_reassigning_a_snoozed_incident_ends_the_snooze() -> None:
    target = UserTarget(DAVE.email)
    history = given(created(), *page_level_1(), snoozed(10 + HOUR)).when(
        Reassign(SERVICE, INCIDENT, target, "bob"), now=at(30), directory=PEOPLE
    )
    history = history.then(reassigned(target, (keyed(DAVE_PAGE, 1, DAVE_VIA),)))
    history.when(EndSnooze(SERVICE, INCIDENT, 1), now=at(10 + HOUR)).then()


@pytest.mark.parametrize(
    ("target", "field"),
    [(UserTarget("nobody@example.com"), "user"), (ScheduleTarget("nope"), "schedule")],
)
def test_reassigning_to_someone_unknown_is_refused_naming_the_field(
    target: UserTarget | ScheduleTarget, field: str
) -> None:
    refused = given(created(), *page_level_1()).when(
        Reassign(SERVICE, INCIDENT, target, "bob"), now=at(30), directory=PEOPLE
    )
    assert refused.raises(ValidationFailed).problems[0][0] == field


def test_reassigning_a_resolved_incident_raises_incident_already_resolved() -> None:
    history = given(
        created(), *page_level_1(), IncidentResolved(INCIDENT, "bob", "resolved", at(5))
    )
    history.when(
        Reassign(SERVICE, INCIDENT, UserTarget(DAVE.email), "bob"), now=at(30), directory=PEOPLE
    ).raises(IncidentAlreadyResolved)


# -- notes and un-acknowledging, on the timeline


def test_a_note_is_an_event_and_changes_nothing_else() -> None:
    history = given(created(), *page_level_1(), acked(now=at(5)))
    before = history.state
    after = history.when(AddNote(SERVICE, INCIDENT, "  rolling back  ", "bob"), now=at(6)).then(
        NoteAdded(INCIDENT, "rolling back", "bob", at(6))
    )
    assert after.state == before


def test_a_blank_note_is_refused_naming_the_text() -> None:
    refused = given(created(), *page_level_1()).when(AddNote(SERVICE, INCIDENT, " ", "bob"))
    assert refused.raises(ValidationFailed).problems[0][0] == "text"


def test_unacknowledging_then_the_level_times_out_pages_the_next_level() -> None:
    history = given(
        created(), *page_level_1(), acked(now=at(10)),
        Unacknowledged(INCIDENT, "bob", 1, 1, 60, at(90), at(30)),
    )  # fmt: skip
    history.when(ReceiveAckTimeout(SERVICE, INCIDENT, 1, 1), now=at(90)).then(
        notified(2, now=at(90))
    )
