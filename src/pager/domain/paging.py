"""Who a level pages, resolved at the instant of its step: address targets as they are; a
user through their own notification rules; a schedule into whoever it has on call then, each
through their rules. A person reached through two targets of one level is paged once per
contact method, and an address once however many targets come to it. A repeating rule's
repeats are pages of the step like any other, each at its own time, so that what cancels
a step's pages not yet sent (an acknowledgement) ends them. What reached nobody is said,
never dropped."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from pager.domain.people import MAX_REPEATS, Person, personal_pages, urgency
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
    it one (an address target's own key, or a person's contact method, with `#n` for the
    n-th page of a repeating rule), and `via` says why it goes there ("" for an address the
    level names)."""

    target: Address
    key: str
    delay_seconds: int = 0
    via: str = ""


@dataclass(frozen=True, slots=True)
class _Series:
    """A page, and with `every` its repeats: that many seconds apart, MAX_REPEATS in all."""

    first: Page
    every: int | None = None

    @property
    def precedence(self) -> tuple[int, bool, int]:
        return urgency(self.first.delay_seconds, self.every)

    def pages(self) -> tuple[Page, ...]:
        if self.every is None:
            return (self.first,)
        return tuple(self._nth(n, self.every) for n in range(1, MAX_REPEATS + 1))

    def _nth(self, n: int, every: int) -> Page:
        first = self.first
        return replace(
            first,
            key=first.key if n == 1 else f"{first.key}#{n}",
            delay_seconds=first.delay_seconds + (n - 1) * every,
            via=f"{first.via}: page {n} of {MAX_REPEATS}",
        )


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
    """The pages `level` makes at `at`, in the order its targets name them (a repeating
    rule's pages together)."""
    pages: dict[str, _Series] = {}
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
                _add(pages, (_Series(Page(target, target.key)),))
    paged = tuple(page for series in pages.values() for page in series.pages())
    return Resolution(paged, tuple(unreached), tuple(on_calls))


def _person_pages(person: Person | None, email: str, via: str) -> tuple[_Series, ...] | str:
    """The person's pages, or why there are none."""
    if person is None:
        return f"{email} is not a user of Pager"
    found = personal_pages(person)
    if not found:
        return f"{email} has no enabled contact method"
    key = person.email.lower()
    series = []
    for page in found:
        method, every = page.method, page.repeat_minutes
        how = f"{method.type} {method.id}, after {page.delay_minutes} min"
        if every is not None:
            how += f", every {every} min"
        first = Page(method.target, f"user:{key}:{method.id}", page.delay_minutes * 60,
                     f"{via} ({how})")  # fmt: skip
        series.append(_Series(first, None if every is None else every * 60))
    return tuple(series)


def _add(pages: dict[str, _Series], found: tuple[_Series, ...]) -> None:
    """Once per address: a person reached twice, or a phone that the level names and that
    is also the phone of the person on call, is paged once, at the earlier of the two
    delays (on a tie, the one that repeats, more often; else as first named), with that
    one's repeats. Nobody is woken twice by one step, unless they asked to be."""
    for series in found:
        address = series.first.target.key
        known = pages.get(address)
        if known is None or series.precedence < known.precedence:
            pages[address] = series


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
