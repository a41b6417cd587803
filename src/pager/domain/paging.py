"""Who a level pages, resolved at the instant of its step: address targets as they are; a
user through their own notification rules; a schedule into whoever it has on call then, each
through their rules. A person reached through two targets of one level is paged once per
contact method, and an address once however many targets come to it. What reached nobody
is said, never dropped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from pager.domain.people import Person, personal_pages
from pager.domain.policy import (
    Address,
    EscalationPolicy,
    Level,
    ScheduleTarget,
    UserTarget,
)
from pager.domain.schedule import Schedule, on_call


@dataclass(frozen=True, slots=True)
class Page:
    """One notification of a step: to `target`, `delay_seconds` after it. `key` is what makes
    it one (an address target's own key, or a person's contact method), and `via` says why
    it goes there ("" for an address the level names)."""

    target: Address
    key: str
    delay_seconds: int = 0
    via: str = ""


@dataclass(frozen=True, slots=True)
class Unreached:
    """A level target that paged nobody, and why."""

    target: str
    reason: str


@dataclass(frozen=True, slots=True)
class OnCallAt:
    """Whom a schedule had on call at the step."""

    schedule: str
    users: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Resolution:
    pages: tuple[Page, ...]
    unreached: tuple[Unreached, ...] = ()
    on_call: tuple[OnCallAt, ...] = ()


class Directory(Protocol):
    """People and schedules as they are now."""

    def person(self, email: str) -> Person | None: ...

    def schedule(self, schedule_id: str) -> Schedule | None: ...


class NoOne:
    """A directory with nobody in it: for policies that name addresses only."""

    def person(self, email: str) -> Person | None:
        return None

    def schedule(self, schedule_id: str) -> Schedule | None:
        return None


NO_ONE = NoOne()


def resolve(level: Level, directory: Directory, at: datetime) -> Resolution:
    """The pages `level` makes at `at`, in the order its targets name them."""
    pages: dict[str, Page] = {}
    unreached: list[Unreached] = []
    on_calls: list[OnCallAt] = []
    for target in level.targets:
        match target:
            case UserTarget(user=email):
                found = _person_pages(directory.person(email), email, f"user {email}")
                if isinstance(found, str):
                    unreached.append(Unreached(target.label, found))
                    continue
                _add(pages, found)
            case ScheduleTarget(schedule=schedule_id):
                schedule = directory.schedule(schedule_id)
                if schedule is None:
                    unreached.append(Unreached(target.label, "there is no such schedule"))
                    continue
                users = on_call(schedule, at)
                on_calls.append(OnCallAt(schedule_id, users))
                if not users:
                    unreached.append(Unreached(target.label, "nobody is on call"))
                for email in users:
                    via = f"schedule {schedule_id}: {email}"
                    found = _person_pages(directory.person(email), email, via)
                    if isinstance(found, str):
                        unreached.append(Unreached(f"{target.label} ({email})", found))
                        continue
                    _add(pages, found)
            case _:
                _add(pages, (Page(target, target.key),))
    return Resolution(tuple(pages.values()), tuple(unreached), tuple(on_calls))


def _person_pages(person: Person | None, email: str, via: str) -> tuple[Page, ...] | str:
    """The person's pages, or why there are none."""
    if person is None:
        return f"{email} is not a user of Pager"
    found = personal_pages(person)
    if not found:
        return f"{email} has no enabled contact method"
    key = person.email.lower()
    return tuple(
        Page(
            page.method.target,
            f"user:{key}:{page.method.id}",
            page.delay_minutes * 60,
            f"{via} ({page.method.type} {page.method.id}, after {page.delay_minutes} min)",
        )
        for page in found
    )


def _add(pages: dict[str, Page], found: tuple[Page, ...]) -> None:
    """Once per address: a person reached twice, or a phone that the level names and that
    is also the phone of the person on call, is paged once, at the earlier of the two
    delays (else as first named). Nobody is woken twice by one step."""
    for page in found:
        known = pages.get(page.target.key)
        if known is None or page.delay_seconds < known.delay_seconds:
            pages[page.target.key] = page


def unknown_references(
    policy: EscalationPolicy, directory: Directory
) -> tuple[tuple[str, str], ...]:
    """Each target of `policy` that names a user or a schedule `directory` does not have,
    as (where, what) like every validation problem."""
    problems = []
    for number, level in enumerate(policy.levels, start=1):
        for index, target in enumerate(level.targets, start=1):
            where = f"level {number} target {index}"
            match target:
                case UserTarget(user=email) if directory.person(email) is None:
                    problems.append((where, f"user {email!r} does not exist"))
                case ScheduleTarget(schedule=schedule) if directory.schedule(schedule) is None:
                    problems.append((where, f"schedule {schedule!r} does not exist"))
    return tuple(problems)
