"""On-call schedules as people manage them: define, read, delete, override, and ask who is on
call. The arithmetic is the domain's (`pager.domain.schedule`); this service checks what it
cannot see alone (that a schedule's people are users of Pager, that no policy still pages a
schedule being deleted, who may override whom) and keeps schedules in their store."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from pager.application.accounts import User, normalize_email
from pager.application.ports import Clock
from pager.domain.errors import Conflict, DomainError, NotFound, ValidationFailed
from pager.domain.people import Person
from pager.domain.policy import ID_PATTERN, USER_PATTERN, EscalationPolicy, UserTarget, valid_id
from pager.domain.readiness import Problem, problems
from pager.domain.schedule import (
    Layer,
    OnCall,
    Override,
    Schedule,
    Shift,
    next_change,
    shifts,
    validate_schedule,
)
from pager.ids import new_id

MAX_SHIFTS_SPAN = timedelta(days=366)
"""The longest range `shifts` answers for: a year of hourly shifts is 8,784 of them."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
READINESS_DAYS = 14
MAX_LAYERS = 20
MAX_LAYER_USERS = 100
MAX_RESTRICTIONS = 50


class ScheduleNotFound(NotFound):
    def __init__(self, schedule_id: str) -> None:
        super().__init__(f"schedule {schedule_id!r} does not exist")
        self.schedule_id = schedule_id


class OverrideNotFound(NotFound):
    def __init__(self, schedule_id: str, override_id: str) -> None:
        super().__init__(f"schedule {schedule_id!r} has no override {override_id!r}")


class ScheduleInUse(Conflict):
    def __init__(self, schedule_id: str, policies: tuple[str, ...]) -> None:
        names = ", ".join(policies)
        super().__init__(f"schedule {schedule_id!r} is used by escalation policies: {names}")
        self.schedule_id = schedule_id
        self.policies = policies


class NotAllowed(DomainError):
    """The caller may not do this (an HTTP 403)."""

    code = "forbidden"


@dataclass(frozen=True, slots=True)
class StoredOverride:
    override: Override
    created_by: str


class ScheduleStore(Protocol):
    def schedule(self, schedule_id: str, ending_after: datetime) -> Schedule | None:
        """The schedule with its overrides that end after `ending_after`."""
        ...

    def schedules(self, ending_after: datetime) -> list[Schedule]:
        """Every schedule by id, each with its overrides that end after `ending_after`."""
        ...

    def put(self, schedule: Schedule, at: datetime) -> bool:
        """Create or replace the schedule's name, zone and layers (its overrides stay);
        True if it was created."""
        ...

    def delete(self, schedule_id: str) -> bool:
        """Delete it and its overrides unless a policy pages it (raises ScheduleInUse, in
        the same transaction); False if there was no such schedule."""
        ...

    def add_override(self, schedule_id: str, override: Override, created_by: str) -> bool:
        """Store the override; False if one with its id exists. Raises ScheduleNotFound."""
        ...

    def override(self, schedule_id: str, override_id: str) -> StoredOverride | None: ...

    def delete_override(self, schedule_id: str, override_id: str) -> bool: ...

    def missing_users(self, emails: Sequence[str]) -> frozenset[str]:
        """Those of `emails` (lower case) that are no user's."""
        ...

    def people(self, emails: Sequence[str]) -> dict[str, Person]:
        """The users among `emails` (lower case), with their contact methods and rules."""
        ...


@dataclass(frozen=True, slots=True)
class OnCallNow:
    schedule: Schedule
    on_call: OnCall


class Schedules:
    def __init__(self, store: ScheduleStore, clock: Clock, ids: Callable[[], str] = new_id) -> None:
        self._store = store
        self._clock = clock
        self._ids = ids

    def schedule(self, schedule_id: str) -> Schedule:
        """The schedule with the overrides that have not ended."""
        found = self._store.schedule(schedule_id, self._clock.now())
        if found is None:
            raise ScheduleNotFound(schedule_id)
        return found

    def schedules(self, ended_overrides: bool = False) -> list[Schedule]:
        """Every schedule, with the overrides that have not ended (or with every one)."""
        return self._store.schedules(_EPOCH if ended_overrides else self._clock.now())

    def put(self, schedule: Schedule) -> bool:
        """Create (True) or replace (False) the schedule's name, zone and layers; the
        overrides it has stay. Raises ValidationFailed naming each wrong place, a layer's
        user who is not a user of Pager included; then nothing is written."""
        schedule = replace(schedule, layers=tuple(_lower(layer) for layer in schedule.layers))
        problems = list(_limits(schedule))
        try:
            validate_schedule(replace(schedule, overrides=()))
        except ValidationFailed as invalid:
            problems += invalid.problems
        problems += self._unknown_users(schedule)
        if problems:
            raise ValidationFailed(tuple(problems))
        return self._store.put(replace(schedule, overrides=()), self._clock.now())

    def delete(self, schedule_id: str) -> None:
        """Raises ScheduleInUse while a policy pages it."""
        if not self._store.delete(schedule_id):
            raise ScheduleNotFound(schedule_id)

    def shifts(self, schedule_id: str, start: datetime, end: datetime) -> tuple[Shift, ...]:
        """The final shifts within [start, end), overrides included (ended ones too)."""
        problems = []
        for name, value in (("start", start), ("end", end)):
            if value.utcoffset() is None:
                problems.append((name, "must be an instant with a time zone or offset"))
        if not problems and end <= start:
            problems.append(("end", "must be after the start"))
        elif not problems and end - start > MAX_SHIFTS_SPAN:
            problems.append(("end", f"must be at most {MAX_SHIFTS_SPAN.days} days after start"))
        if problems:
            raise ValidationFailed(tuple(problems))
        found = self._store.schedule(schedule_id, start)
        if found is None:
            raise ScheduleNotFound(schedule_id)
        return shifts(found, start, end)

    def on_call(self, at: datetime | None = None) -> list[OnCallNow]:
        """Every schedule: who is on call at `at` (now by default), until when, who next."""
        if at is not None and at.utcoffset() is None:
            raise ValidationFailed((("at", "must be an instant with a time zone or offset"),))
        at = at or self._clock.now()
        return [OnCallNow(s, next_change(s, at)) for s in self._store.schedules(at)]

    def problems(
        self, policies: Sequence[EscalationPolicy], days: int = READINESS_DAYS
    ) -> tuple[Problem, ...]:
        """What would page nobody in the next `days` days (see `pager.domain.readiness`)."""
        start = self._clock.now()
        schedules = {s.id: s for s in self._store.schedules(start)}
        emails = {
            user.lower()
            for schedule in schedules.values()
            for user in (
                *(u for layer in schedule.layers for u in layer.users),
                *(o.user for o in schedule.overrides),
            )
        }
        emails |= {
            target.user.lower()
            for policy in policies
            for level in policy.levels
            for target in level.targets
            if isinstance(target, UserTarget)
        }
        people = self._store.people(sorted(emails))
        return problems(policies, schedules, people, start, start + timedelta(days=days))

    # -- overrides

    def add_override(
        self,
        schedule_id: str,
        user: str,
        start: datetime,
        end: datetime,
        by: User,
        override_id: str | None = None,
    ) -> Override:
        """During [start, end) `user` alone is on call. Admins may override anyone; others
        may take a shift for themselves, or hand one that is wholly theirs to someone."""
        user = normalize_email(user)
        override = Override(override_id or self._ids(), user, start, end, self._clock.now())
        schedule = self.schedule(schedule_id)
        self._check_override(override)
        if not by.is_admin and user != by.email and not _theirs(schedule, by.email, start, end):
            raise NotAllowed(
                "you may take a shift for yourself, or hand on a time that is wholly yours; "
                "only admins may override others"
            )
        if not self._store.add_override(schedule_id, override, by.email):
            raise Conflict(f"schedule {schedule_id!r} already has an override {override.id!r}")
        return override

    def import_override(self, schedule_id: str, override: Override, by: str) -> bool:
        """Store a listed override unless one with its id is there (configuration as code:
        never removed, never changed). False if it was there."""
        override = replace(override, user=normalize_email(override.user))
        self._check_override(override)
        return self._store.add_override(schedule_id, override, by)

    def delete_override(self, schedule_id: str, override_id: str, by: User) -> None:
        """Admins may delete any override; others those they made or that are theirs."""
        stored = self._store.override(schedule_id, override_id)
        if stored is None:
            raise OverrideNotFound(schedule_id, override_id)
        mine = by.email in (stored.created_by, stored.override.user)
        if not by.is_admin and not mine:
            raise NotAllowed("only admins may delete others' overrides")
        if not self._store.delete_override(schedule_id, override_id):
            raise OverrideNotFound(schedule_id, override_id)

    def _check_override(self, override: Override) -> None:
        problems: list[tuple[str, str]] = []
        if not valid_id(override.id):
            problems.append(("id", f"{override.id!r} must match {ID_PATTERN.pattern}"))
        if not USER_PATTERN.fullmatch(override.user):
            problems.append(("user", f"{override.user!r} is not a user's email address"))
        elif override.user in self._store.missing_users((override.user,)):
            problems.append(("user", f"{override.user!r} is not a user of Pager"))
        aware = True
        for name, value in (("start", override.start), ("end", override.end)):
            if value.utcoffset() is None:
                aware = False
                problems.append((name, "must be an instant with a time zone or offset"))
        if aware and override.end <= override.start:
            problems.append(("end", "must be after the start"))
        if problems:
            raise ValidationFailed(tuple(problems))

    def _unknown_users(self, schedule: Schedule) -> list[tuple[str, str]]:
        emails = sorted({user for layer in schedule.layers for user in layer.users})
        missing = self._store.missing_users(emails)
        return [
            (f"layer {number} user {index}", f"{user!r} is not a user of Pager")
            for number, layer in enumerate(schedule.layers, start=1)
            for index, user in enumerate(layer.users, start=1)
            if user in missing
        ]


def _lower(layer: Layer) -> Layer:
    return replace(layer, users=tuple(normalize_email(user) for user in layer.users))


def _limits(schedule: Schedule) -> list[tuple[str, str]]:
    problems = []
    if len(schedule.name) > 200:
        problems.append(("name", "must be at most 200 characters"))
    if len(schedule.layers) > MAX_LAYERS:
        problems.append(("layers", f"at most {MAX_LAYERS}"))
    for number, layer in enumerate(schedule.layers, start=1):
        if len(layer.users) > MAX_LAYER_USERS:
            problems.append((f"layer {number} users", f"at most {MAX_LAYER_USERS}"))
        if len(layer.restrictions) > MAX_RESTRICTIONS:
            problems.append((f"layer {number} restrictions", f"at most {MAX_RESTRICTIONS}"))
    return problems


def _theirs(schedule: Schedule, email: str, start: datetime, end: datetime) -> bool:
    """Whether `email` is on call for all of [start, end)."""
    found = shifts(schedule, start, end)
    return len(found) == 1 and (found[0].user, found[0].start, found[0].end) == (email, start, end)
