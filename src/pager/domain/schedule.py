"""On-call schedules: rotating layers, weekly restrictions and overrides, in the schedule's zone.

A layer's day and week shifts hand off at the same wall-clock time whatever the daylight-saving
rules do; its hour shifts count elapsed time. A local time the clocks skip means the first
instant after the gap; one they show twice means its first occurrence. Every instant returned
is an aware UTC datetime. The functions expect a schedule that `validate_schedule` accepts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Literal
from zoneinfo import ZoneInfo, available_timezones

from pager.domain.errors import ValidationFailed
from pager.domain.policy import ID_PATTERN, USER_PATTERN, valid_id

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ShiftUnit = Literal["hours", "days", "weeks"]
# Long enough for any real rotation, short enough that a typo (10000 weeks) is caught.
MAX_SHIFT: Mapping[str, int] = {"hours": 10_000, "days": 1_000, "weeks": 100}
CLOCK_PATTERN = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")

_ONE_DAY = timedelta(days=1)
_ONE_SECOND = timedelta(seconds=1)


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


@dataclass(frozen=True, slots=True)
class Shift:
    """`user` on call during [start, end), UTC; `override` if an override made any of it."""

    user: str
    start: datetime
    end: datetime
    override: bool = False


@dataclass(frozen=True, slots=True)
class OnCall:
    """Who is on call now, until when (None: no change within the horizon), and who after."""

    users: tuple[str, ...]
    until: datetime | None
    next: tuple[str, ...]


def on_call(schedule: Schedule, at: datetime) -> tuple[str, ...]:
    """The emails on call at the aware instant `at`: one, or none.

    The latest-created override covering `at` wins; else the last layer that has somebody
    then (after its start, inside one of its windows). The cost is one shift-index computation
    per layer and a look at each override, whenever the layers started.
    """
    at = _utc(at)
    override = _latest_override(schedule.overrides, at)
    if override is not None:
        return (override.user,)
    zone = ZoneInfo(schedule.time_zone)
    for layer in reversed(schedule.layers):
        user = _layer_user(layer, zone, at)
        if user is not None:
            return (user,)
    return ()


def shifts(schedule: Schedule, start: datetime, end: datetime) -> tuple[Shift, ...]:
    """The final shifts within [start, end) (aware instants), in time order.

    Each shift is half-open and non-empty, clipped to [start, end), in UTC; no two overlap,
    and two that touch have different users (adjacent shifts of one user are merged, an
    override's with a layer's too). A time nobody covers is a gap between shifts. For every
    instant t in [start, end), the shift covering t holds `on_call(schedule, t)`, and
    `shifts(s, a, c)` is `shifts(s, a, b)` followed by `shifts(s, b, c)`, merged at b.
    """
    start, end = _utc(start), _utc(end)
    if end <= start:
        return ()
    zone = ZoneInfo(schedule.time_zone)
    timeline: list[Shift] = []
    for layer in schedule.layers:
        timeline = _paint(timeline, _layer_shifts(layer, zone, start, end))
    # Overrides are painted among themselves first: few and short, unlike the timeline.
    covers: list[Shift] = []
    for override in sorted(schedule.overrides, key=_precedence):
        cover = Shift(override.user, _utc(override.start), _utc(override.end), override=True)
        covers = _paint(covers, _intersect([cover], [(start, end)]))
    return tuple(_merge(_paint(timeline, covers)))


def next_change(
    schedule: Schedule, at: datetime, horizon: timedelta = timedelta(days=92)
) -> OnCall:
    """Who is on call at `at`, until when, and who right after (nobody, in a gap).

    `until` is None when nothing changes within `horizon` (positive) of `at`. Derived from
    `shifts`, over a span that doubles from a day until it sees a change.
    """
    at = _utc(at)
    span = _ONE_DAY
    while True:
        span = min(span, horizon)
        found = _first_change(shifts(schedule, at, at + span), at, at + span)
        if found.until is not None or span == horizon:
            return found
        span *= 2


def _first_change(ahead: tuple[Shift, ...], at: datetime, end: datetime) -> OnCall:
    now = ahead[0] if ahead and ahead[0].start == at else None
    users = (now.user,) if now else ()
    until = now.end if now else (ahead[0].start if ahead else end)
    if until == end:
        return OnCall(users, None, ())
    after = tuple(shift.user for shift in ahead if shift.start == until)
    return OnCall(users, until, after)


# Time zone arithmetic.


def _utc(at: datetime) -> datetime:
    if at.utcoffset() is None:
        raise ValueError(f"{at!r} is not an aware instant")
    return at.astimezone(UTC)


def _wall(at: datetime, zone: ZoneInfo) -> datetime:
    """What `zone`'s clocks show at the instant `at`, as a naive date-time."""
    return at.astimezone(zone).replace(tzinfo=None)


def _instant(local: datetime, zone: ZoneInfo) -> datetime:
    """The first instant at which `zone`'s clocks show `local`, or reach it if they skip it."""
    early, late = (local.replace(fold=0), local) if local.fold else (local, local.replace(fold=1))
    first, second = _offset(zone, early), _offset(zone, late)
    # PEP 495: the two folds differ only where the clocks show the time twice (the first
    # offset is then the larger) or skip it (the smaller).
    if first >= second:
        return (early - first).replace(tzinfo=UTC)
    return _gap_end(early, zone)


def _offset(zone: ZoneInfo, local: datetime) -> timedelta:
    offset = zone.utcoffset(local)
    assert offset is not None  # a ZoneInfo always has one
    return offset


def _gap_end(local: datetime, zone: ZoneInfo) -> datetime:
    """The instant the clocks jump forward over the skipped `local`."""
    # Read with the offset after the jump, `local` is an instant before it; with the offset
    # before, one after it. The jump itself is on a whole second (tz data has no finer).
    before = local.replace(tzinfo=zone, fold=1).astimezone(UTC).replace(microsecond=0)
    after = local.replace(tzinfo=zone, fold=0).astimezone(UTC).replace(microsecond=0)
    after += _ONE_SECOND
    offset_before = before.astimezone(zone).utcoffset()
    while after - before > _ONE_SECOND:
        middle = before + (after - before) // _ONE_SECOND // 2 * _ONE_SECOND
        if middle.astimezone(zone).utcoffset() == offset_before:
            before = middle
        else:
            after = middle
    return after


# One layer.


def _layer_user(layer: Layer, zone: ZoneInfo, at: datetime) -> str | None:
    """The user this layer has on call at `at`, if any."""
    first = _instant(layer.start, zone)
    if not layer.users or at < first or not _in_window(layer, zone, at):
        return None
    return _user(layer, _shift_index(layer, zone, first, at))


def _user(layer: Layer, index: int) -> str:
    return layer.users[index % len(layer.users)]


def _handoff(layer: Layer, zone: ZoneInfo, first: datetime, index: int) -> datetime:
    """When the layer's shift `index` begins (shift 0 at `first`, the layer's start)."""
    if layer.shift.unit == "hours":
        return first + index * layer.shift.period
    return _instant(layer.start + index * layer.shift.period, zone)


def _shift_index(layer: Layer, zone: ZoneInfo, first: datetime, at: datetime) -> int:
    """The index of the layer's shift that covers `at`, computed, not counted."""
    period = layer.shift.period
    if layer.shift.unit == "hours":
        return (at - first) // period
    # Counted in local days, the estimate can be one off where the clocks repeat an hour:
    # start one shift early and step forward.
    index = (_wall(at, zone) - layer.start) // period - 1
    while _handoff(layer, zone, first, index + 1) <= at:
        index += 1
    return index


def _layer_shifts(layer: Layer, zone: ZoneInfo, start: datetime, end: datetime) -> list[Shift]:
    """The layer's shifts within [start, end), cut to its windows."""
    if not layer.users:
        return []
    return _intersect(list(_rotation(layer, zone, start, end)), _windows(layer, zone, start, end))


def _rotation(layer: Layer, zone: ZoneInfo, start: datetime, end: datetime) -> Iterator[Shift]:
    """The layer's shifts clipped to [start, end), ignoring its windows; some may be empty."""
    first = _instant(layer.start, zone)
    index = _shift_index(layer, zone, first, max(start, first))
    begin = _handoff(layer, zone, first, index)
    while begin < end:
        finish = _handoff(layer, zone, first, index + 1)
        yield Shift(_user(layer, index), max(begin, start), min(finish, end))
        index, begin = index + 1, finish


Span = tuple[datetime, datetime]


def _windows(layer: Layer, zone: ZoneInfo, start: datetime, end: datetime) -> list[Span]:
    """The layer's restriction windows that may meet [start, end), as sorted disjoint spans."""
    if not layer.restrictions:
        return [(start, end)]
    # A window may have started the day before; see _in_window for the day after.
    first, last = _wall(start, zone).date() - _ONE_DAY, _wall(end, zone).date() + _ONE_DAY
    return _union(sorted(_windows_from(layer, zone, first, last)))


def _in_window(layer: Layer, zone: ZoneInfo, at: datetime) -> bool:
    if not layer.restrictions:
        return True
    # Yesterday's window may pass midnight; tomorrow's may have begun where the clocks fell
    # back past midnight (St John's, until 2011, went from 00:01 back to 23:01).
    today = _wall(at, zone).date()
    windows = _windows_from(layer, zone, today - _ONE_DAY, today + _ONE_DAY)
    return any(begin <= at < finish for begin, finish in windows)


def _windows_from(layer: Layer, zone: ZoneInfo, first: date, last: date) -> Iterator[Span]:
    """The layer's windows that start on the days from `first` to `last`."""
    for offset in range((last - first).days + 1):
        day = first + offset * _ONE_DAY
        for restriction in layer.restrictions:
            if WEEKDAYS[day.weekday()] in restriction.days:
                yield _window(restriction, day, zone)


def _window(restriction: Restriction, day: date, zone: ZoneInfo) -> Span:
    begin, finish = _clock(restriction.from_), _clock(restriction.to)
    last_day = day if finish > begin else day + _ONE_DAY
    return (
        _instant(datetime.combine(day, begin), zone),
        _instant(datetime.combine(last_day, finish), zone),
    )


@cache
def _clock(hh_mm: str) -> time:
    hours, minutes = hh_mm.split(":")
    return time(int(hours), int(minutes))


# Layers and overrides together.


def _latest_override(overrides: Sequence[Override], at: datetime) -> Override | None:
    covering = (o for o in overrides if _utc(o.start) <= at < _utc(o.end))
    return max(covering, key=_precedence, default=None)


def _precedence(override: Override) -> tuple[datetime, str]:
    return (_utc(override.created_at), override.id)


def _union(spans: list[Span]) -> list[Span]:
    """Sorted spans, overlapping or touching ones joined."""
    joined: list[Span] = []
    for begin, finish in spans:
        if joined and begin <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(joined[-1][1], finish))
        else:
            joined.append((begin, finish))
    return joined


def _intersect(pieces: list[Shift], spans: list[Span]) -> list[Shift]:
    """The non-empty parts of sorted disjoint `pieces` inside sorted disjoint `spans`."""
    inside: list[Shift] = []
    i = j = 0
    while i < len(pieces) and j < len(spans):
        piece, (begin, finish) = pieces[i], spans[j]
        low, high = max(piece.start, begin), min(piece.end, finish)
        if low < high:
            inside.append(Shift(piece.user, low, high, piece.override))
        if piece.end <= finish:
            i += 1
        else:
            j += 1
    return inside


def _paint(base: list[Shift], top: list[Shift]) -> list[Shift]:
    """`top` laid over `base` (both sorted and disjoint): where `top` has someone, it wins."""
    return sorted([*top, *_outside(base, top)], key=lambda shift: shift.start)


def _outside(pieces: list[Shift], holes: list[Shift]) -> list[Shift]:
    """The parts of sorted disjoint `pieces` that no one of sorted disjoint `holes` covers."""
    outside: list[Shift] = []
    j = 0
    for piece in pieces:
        while j < len(holes) and holes[j].end <= piece.start:
            j += 1
        begin, k = piece.start, j
        while k < len(holes) and holes[k].start < piece.end:
            if begin < holes[k].start:
                outside.append(Shift(piece.user, begin, holes[k].start, piece.override))
            begin, k = holes[k].end, k + 1
        if begin < piece.end:
            outside.append(Shift(piece.user, begin, piece.end, piece.override))
    return outside


def _merge(pieces: list[Shift]) -> list[Shift]:
    """Sorted disjoint pieces, with touching pieces of one user joined."""
    merged: list[Shift] = []
    for piece in pieces:
        last = merged[-1] if merged else None
        if last and last.end == piece.start and last.user == piece.user:
            merged[-1] = Shift(last.user, last.start, piece.end, last.override or piece.override)
        else:
            merged.append(piece)
    return merged


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
        if not USER_PATTERN.fullmatch(user):
            yield f"{where} user {number}", f"{user!r} is not a user's email address"
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
    if not USER_PATTERN.fullmatch(override.user):
        yield f"{where} user", f"{override.user!r} is not a user's email address"
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
