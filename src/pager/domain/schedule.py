"""On-call schedules: rotating layers, weekly restrictions and overrides, in the schedule's zone.

The model and its validation; who is on call when comes next.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Literal
from zoneinfo import available_timezones

from pager.domain.errors import ValidationFailed
from pager.domain.policy import EMAIL_PATTERN, ID_PATTERN, valid_id

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ShiftUnit = Literal["hours", "days", "weeks"]
# Long enough for any real rotation, short enough that a typo (10000 weeks) is caught.
MAX_SHIFT: Mapping[str, int] = {"hours": 10_000, "days": 1_000, "weeks": 100}
CLOCK_PATTERN = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")


@dataclass(frozen=True, slots=True)
class ShiftLength:
    """How long each shift lasts: `ShiftLength(12, "hours")`, `ShiftLength(2, "weeks")`."""

    count: int
    unit: ShiftUnit

    @property
    def period(self) -> timedelta:
        """Elapsed time for hours; for days and weeks, wall-clock time to add to a local time."""
        return timedelta(**{self.unit: self.count})


@dataclass(frozen=True, slots=True)
class Restriction:
    """A weekly window: on each of `days`, from `from_` ("HH:MM") to `to`, in the schedule's zone.

    A window whose `to` is not after its `from_` passes midnight and ends on the next day.
    """

    days: tuple[Weekday, ...]
    from_: str
    to: str


@dataclass(frozen=True, slots=True)
class Layer:
    """`users` take turns, one shift each, from `start` (a naive local date-time) on."""

    users: tuple[str, ...]
    shift: ShiftLength
    start: datetime
    restrictions: tuple[Restriction, ...] = ()


@dataclass(frozen=True, slots=True)
class Override:
    """During [start, end) `user` alone is on call; where overrides overlap, the one with the
    greatest (created_at, id) wins."""

    id: str
    user: str
    start: datetime
    end: datetime
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Schedule:
    id: str
    name: str
    time_zone: str
    layers: tuple[Layer, ...]
    overrides: tuple[Override, ...] = ()


# Validation.


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def validate_schedule(schedule: Schedule) -> Schedule:
    """Return the schedule if it is valid; raise ValidationFailed naming every wrong place."""
    problems: list[tuple[str, str]] = []
    if not valid_id(schedule.id):
        problems.append(("id", f"{schedule.id!r} must match {ID_PATTERN.pattern}"))
    if not schedule.name.strip():
        problems.append(("name", "must not be empty"))
    if schedule.time_zone not in _known_zones():
        problems.append(("time_zone", f"{schedule.time_zone!r} is not an IANA time zone"))
    if not schedule.layers:
        problems.append(("layers", "a schedule needs at least one layer"))
    for number, layer in enumerate(schedule.layers, start=1):
        problems.extend(_layer_problems(f"layer {number}", layer))
    seen: set[str] = set()
    for number, override in enumerate(schedule.overrides, start=1):
        problems.extend(_override_problems(number, override, seen))
    if problems:
        raise ValidationFailed(tuple(problems))
    return schedule


def _layer_problems(where: str, layer: Layer) -> Iterator[tuple[str, str]]:
    if not layer.users:
        yield f"{where} users", "a layer needs at least one user"
    for number, user in enumerate(layer.users, start=1):
        if not EMAIL_PATTERN.fullmatch(user):
            yield f"{where} user {number}", f"{user!r} is not an email address"
    problem = _shift_problem(layer.shift)
    if problem:
        yield f"{where} shift", problem
    if layer.start.utcoffset() is not None:
        yield f"{where} start", "must be a local date-time in the schedule's zone, without offset"
    for number, restriction in enumerate(layer.restrictions, start=1):
        yield from _restriction_problems(f"{where} restriction {number}", restriction)


def _shift_problem(shift: ShiftLength) -> str | None:
    limit = MAX_SHIFT.get(shift.unit)
    if limit is None:
        return f"{shift.unit!r} must be hours, days or weeks"
    if not 1 <= shift.count <= limit:
        return f"{shift.count} {shift.unit} must be from 1 to {limit:,} {shift.unit}"
    return None


def _restriction_problems(where: str, restriction: Restriction) -> Iterator[tuple[str, str]]:
    if not restriction.days:
        yield f"{where} days", "a restriction needs at least one day"
    for day in restriction.days:
        if day not in WEEKDAYS:
            yield f"{where} days", f"{day!r} is not one of {', '.join(WEEKDAYS)}"
    clocks_valid = True
    for name, value in (("from", restriction.from_), ("to", restriction.to)):
        if not CLOCK_PATTERN.fullmatch(value):
            clocks_valid = False
            yield f"{where} {name}", f"{value!r} is not a time of day as HH:MM"
    if clocks_valid and restriction.from_ == restriction.to:
        yield where, "from and to must differ"


def _override_problems(
    number: int, override: Override, seen: set[str]
) -> Iterator[tuple[str, str]]:
    # An override is named by its id when it has a usable one; "#" cannot be in an id.
    where = f"override {override.id}" if valid_id(override.id) else f"override #{number}"
    if not valid_id(override.id):
        yield f"{where} id", f"{override.id!r} must match {ID_PATTERN.pattern}"
    elif override.id in seen:
        yield f"{where} id", "another override has this id"
    seen.add(override.id)
    if not EMAIL_PATTERN.fullmatch(override.user):
        yield f"{where} user", f"{override.user!r} is not an email address"
    aware = True
    for name, value in (
        ("start", override.start),
        ("end", override.end),
        ("created_at", override.created_at),
    ):
        if value.utcoffset() is None:
            aware = False
            yield f"{where} {name}", "must be an instant with a time zone or offset"
    if aware and override.end <= override.start:
        yield f"{where} end", "must be after the start"
