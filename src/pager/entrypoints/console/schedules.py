"""Schedules in the console: who is on call on each, a schedule's next 14 days as a timeline
that reads on a phone (server-rendered SVG bars, no script), and overrides in two taps:
"take this shift", or hand one's own to someone "until ..."."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from fastapi import Request
from starlette.responses import Response

from pager.application.schedules import NotAllowed
from pager.domain.errors import ValidationFailed
from pager.domain.policy import ID_PATTERN
from pager.domain.schedule import Schedule, Shift
from pager.entrypoints.console import web
from pager.entrypoints.console.web import ConsoleDep, FormDep, UserDep

router = web.router()
DAYS = 14
WIDTH = 1000
"""The SVG bars' width in their own units; a day's instants map onto it."""
COLOURS = 6
LISTED_SHIFTS = 12
"""The upcoming shifts listed under the timeline, each with its buttons."""


@dataclass(frozen=True, slots=True)
class Bar:
    """A piece of a shift within one day, in the day's SVG units."""

    user: str
    x: int
    width: int
    colour: int
    override: bool
    label: str


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    bars: tuple[Bar, ...]


@dataclass(frozen=True, slots=True)
class ShiftRow:
    shift: Shift
    label: str
    colour: int
    mine: bool
    takes_from: datetime
    """Where an override for it would start: the shift's start, or now if it has begun."""


def _schedule(c: web.Console, schedule_id: str) -> Schedule:
    if not ID_PATTERN.fullmatch(schedule_id):
        raise web.not_found("This schedule")
    return c.schedules.schedule(schedule_id)


@router.get("/schedules")
def schedule_list(request: Request, _user: UserDep, c: ConsoleDep) -> Response:
    return web.render(request, "schedules.html", oncall=c.schedules.on_call())


@router.get("/schedules/{schedule_id}")
def schedule_page(request: Request, schedule_id: str, user: UserDep, c: ConsoleDep) -> Response:
    schedule = _schedule(c, schedule_id)
    zone = ZoneInfo(schedule.time_zone)
    now = c.now()
    first = now.astimezone(zone).date()
    start = _midnight(first, zone)
    end = _midnight(first + timedelta(days=DAYS), zone)
    found = c.schedules.shifts(schedule.id, start, end)
    colours = _colours(schedule, found)
    days = tuple(_day(first + timedelta(days=n), zone, found, colours) for n in range(DAYS))
    rows = [
        ShiftRow(s, _span(s, zone), colours[s.user], s.user == user.email, max(s.start, now))
        for s in found
        if s.end > now
    ][:LISTED_SHIFTS]
    return web.render(
        request,
        "schedule.html",
        schedule=schedule,
        days=days,
        rows=rows,
        legend=sorted(colours.items(), key=lambda item: item[1]),
        oncall=c.schedules.on_call(now),
        users=[u.email for u in c.accounts.users()],
        zone=zone,
        width=WIDTH,
    )


@router.post("/schedules/{schedule_id}/overrides")
def add_override(
    request: Request, schedule_id: str, user: UserDep, form: FormDep, c: ConsoleDep
) -> Response:
    """ "Take this shift" (who: the signed-in user) or "hand over" (who: someone else, until
    a time in the schedule's zone)."""
    schedule = _schedule(c, schedule_id)
    zone = ZoneInfo(schedule.time_zone)
    back = f"/schedules/{schedule.id}"
    who = web.field(form, "user", 254) or user.email
    try:
        start = _instant(web.field(form, "start", 40), zone, "start")
        end = _instant(web.field(form, "end", 40), zone, "until")
        c.schedules.add_override(schedule.id, who, start, end, user)
    except (ValidationFailed, NotAllowed) as refused:
        web.session_of(request).flash(f"No override made: {refused.message}", "error")
        return web.redirect(request, back)
    local = end.astimezone(zone)
    web.session_of(request).flash(f"{who} is on call until {local:%a %d %b %H:%M}.")
    return web.redirect(request, back)


@router.post("/schedules/{schedule_id}/overrides/{override_id}/delete")
def delete_override(
    request: Request,
    schedule_id: str,
    override_id: str,
    user: UserDep,
    _form: FormDep,
    c: ConsoleDep,
) -> Response:
    schedule = _schedule(c, schedule_id)
    if not ID_PATTERN.fullmatch(override_id):
        raise web.not_found("This override")
    try:
        c.schedules.delete_override(schedule.id, override_id, user)
    except NotAllowed as refused:
        web.session_of(request).flash(refused.message, "error")
    else:
        web.session_of(request).flash("Override removed.")
    return web.redirect(request, f"/schedules/{schedule.id}")


def _instant(text: str, zone: ZoneInfo, name: str) -> datetime:
    """An instant from an ISO value the page wrote, or a datetime-local field (in `zone`)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(((name, "pick a date and time"),)) from None
    if moment.utcoffset() is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


def _colours(schedule: Schedule, found: tuple[Shift, ...]) -> dict[str, int]:
    """One colour per person, in the order the layers name them, then the rest."""
    named = [user for layer in schedule.layers for user in layer.users]
    colours: dict[str, int] = {}
    for user in [*named, *(s.user for s in found)]:
        colours.setdefault(user, len(colours) % COLOURS)
    return colours


def _day(day: date, zone: ZoneInfo, found: tuple[Shift, ...], colours: dict[str, int]) -> Day:
    begin, finish = _midnight(day, zone), _midnight(day + timedelta(days=1), zone)
    length = (finish - begin).total_seconds()  # 23 or 25 hours where the clocks change
    bars = []
    for shift in found:
        low, high = max(shift.start, begin), min(shift.end, finish)
        if low >= high:
            continue
        x = round((low - begin).total_seconds() / length * WIDTH)
        width = max(1, round((high - begin).total_seconds() / length * WIDTH) - x)
        bars.append(
            Bar(shift.user, x, width, colours[shift.user], shift.override, _span(shift, zone))
        )
    return Day(day, tuple(bars))


def _span(shift: Shift, zone: ZoneInfo) -> str:
    start, end = shift.start.astimezone(zone), shift.end.astimezone(zone)
    same_day = start.date() == end.date()
    until = f"{end:%H:%M}" if same_day else f"{end:%a %d %b %H:%M}"
    return f"{start:%a %d %b %H:%M} to {until}"
