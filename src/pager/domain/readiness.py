"""Readiness: what would page nobody over a coming span, found before an incident finds it.
Gaps in the schedules that policies page, people on call (or named by a policy) who have no
enabled contact method, and levels that can resolve to nobody; each with when."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pager.domain.people import Person, personal_pages
from pager.domain.policy import EscalationPolicy, ScheduleTarget, Target, UserTarget
from pager.domain.schedule import Schedule, Shift, shifts

ProblemKind = Literal["schedule_gap", "unreachable_user", "level_pages_nobody"]
Span = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing that would page nobody, first from `start` to `end` (UTC); `count` says how
    many such spans the window has. `schedule`, `policy`, `level` and `user` say where."""

    kind: ProblemKind
    start: datetime
    end: datetime
    message: str
    count: int = 1
    schedule: str | None = None
    policy: str | None = None
    level: int | None = None
    user: str | None = None


def problems(
    policies: Sequence[EscalationPolicy],
    schedules: Mapping[str, Schedule],
    people: Mapping[str, Person],
    start: datetime,
    end: datetime,
) -> tuple[Problem, ...]:
    """What would page nobody within [start, end): for the schedules that `policies` page,
    their gaps and the people on call with no enabled contact method; for each policy, the
    people it names with none, and each level that would page nobody at some instant.
    `people` is keyed by lower-case email; a missing one is no user of Pager."""
    paged = sorted({s for p in policies for s in _schedules_of(p) if s in schedules})
    shifts_of = {s: shifts(schedules[s], start, end) for s in paged}
    found: list[Problem] = []
    for schedule_id in paged:
        found += _gaps(schedule_id, shifts_of[schedule_id], start, end)
        found += _unreachable_on_call(schedule_id, shifts_of[schedule_id], people)
    for policy in policies:
        found += _unreachable_named(policy, people, start, end)
        for number, level in enumerate(policy.levels, start=1):
            spans = _nobody(level.targets, shifts_of, people, start, end)
            if spans:
                first, last = spans[0]
                found.append(
                    Problem(
                        "level_pages_nobody",
                        first,
                        last,
                        f"escalation policy {policy.id} level {number} would page nobody",
                        len(spans),
                        policy=policy.id,
                        level=number,
                    )
                )
    return tuple(sorted(found, key=lambda problem: problem.start))


def reachable(person: Person | None) -> bool:
    return person is not None and bool(personal_pages(person))


def _schedules_of(policy: EscalationPolicy) -> Iterator[str]:
    for level in policy.levels:
        for target in level.targets:
            if isinstance(target, ScheduleTarget):
                yield target.schedule


def _gaps(
    schedule_id: str, found: Sequence[Shift], start: datetime, end: datetime
) -> list[Problem]:
    covered = [(shift.start, shift.end) for shift in found]
    spans = _complement(covered, start, end)
    if not spans:
        return []
    first, last = spans[0]
    message = f"schedule {schedule_id} has nobody on call"
    return [Problem("schedule_gap", first, last, message, len(spans), schedule=schedule_id)]


def _unreachable_on_call(
    schedule_id: str, found: Sequence[Shift], people: Mapping[str, Person]
) -> list[Problem]:
    first_shift: dict[str, Shift] = {}
    for shift in found:
        first_shift.setdefault(shift.user, shift)
    return [
        Problem(
            "unreachable_user",
            shift.start,
            shift.end,
            f"{user} is on call on schedule {schedule_id} but {_why(people.get(user.lower()))}",
            schedule=schedule_id,
            user=user,
        )
        for user, shift in first_shift.items()
        if not reachable(people.get(user.lower()))
    ]


def _unreachable_named(
    policy: EscalationPolicy, people: Mapping[str, Person], start: datetime, end: datetime
) -> list[Problem]:
    named = dict.fromkeys(
        target.user
        for level in policy.levels
        for target in level.targets
        if isinstance(target, UserTarget)
    )
    return [
        Problem(
            "unreachable_user",
            start,
            end,
            f"escalation policy {policy.id} pages {user} but {_why(people.get(user.lower()))}",
            policy=policy.id,
            user=user,
        )
        for user in named
        if not reachable(people.get(user.lower()))
    ]


def _why(person: Person | None) -> str:
    if person is None:
        return "they are not a user of Pager"
    return "they have no enabled contact method"


def _nobody(
    targets: Sequence[Target],
    shifts_of: Mapping[str, Sequence[Shift]],
    people: Mapping[str, Person],
    start: datetime,
    end: datetime,
) -> list[Span]:
    """The spans of [start, end) in which none of `targets` would page anybody."""
    covered: list[Span] = []
    for target in targets:
        match target:
            case UserTarget(user=user):
                if reachable(people.get(user.lower())):
                    return []
            case ScheduleTarget(schedule=schedule_id):
                covered += [
                    (shift.start, shift.end)
                    for shift in shifts_of.get(schedule_id, ())
                    if reachable(people.get(shift.user.lower()))
                ]
            case _:  # an address: it is always paged
                return []
    return _complement(covered, start, end)


def _complement(spans: list[Span], start: datetime, end: datetime) -> list[Span]:
    """The parts of [start, end) that no one of `spans` covers, in order."""
    uncovered: list[Span] = []
    at = start
    for begin, finish in sorted(spans):
        if begin > at:
            uncovered.append((at, begin))
        at = max(at, finish)
    if at < end:
        uncovered.append((at, end))
    return uncovered
