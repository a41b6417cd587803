"""The dashboard (what is on fire, refreshing by itself), incidents, and the buttons and
forms that act on them: acknowledge, resolve, escalate, un-acknowledge, snooze, reassign,
add a note."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi import Request
from starlette.datastructures import FormData
from starlette.responses import Response

from pager.application.queries import AlertView, IncidentView, ServiceView
from pager.domain.commands import AddNote, Reassign, ServiceCommand, Snooze, Unacknowledge
from pager.domain.content import followable
from pager.domain.errors import IncidentAlreadyResolved, NothingToEscalateTo, ValidationFailed
from pager.domain.incident import MAX_NOTE_LENGTH
from pager.domain.policy import ID_PATTERN, ScheduleTarget, UserTarget
from pager.entrypoints.console import display, timeline, web
from pager.entrypoints.console.web import ConsoleDep, FormDep, UserDep
from pager.entrypoints.http.schemas import INCIDENT_ID_REGEX

router = web.router()
_INCIDENT_ID = re.compile(INCIDENT_ID_REGEX)
STATUS_ORDER = {"triggered": 0, "acknowledged": 1, "resolved": 2}
STATUSES = ("open", "triggered", "acknowledged", "resolved")
MESSAGE_IN_BANNER = 80
SNOOZE_HOURS = (1, 4)


def open_first(incidents: list[IncidentView]) -> list[IncidentView]:
    """Triggered before acknowledged before resolved; newest first within each."""
    newest_first = sorted(incidents, key=lambda i: i.opened_at, reverse=True)
    return sorted(newest_first, key=lambda i: STATUS_ORDER.get(i.status, 3))


def unhealthy_first(services: list[ServiceView]) -> list[ServiceView]:
    return sorted(services, key=lambda s: (s.state != "unhealthy", s.name.lower(), s.id))


@router.get("/")
def dashboard(request: Request, _user: UserDep, c: ConsoleDep) -> Response:
    services = c.queries.services()
    incidents = open_first(c.queries.incidents(status="open", limit=200))
    return web.render(
        request,
        "dashboard.html",
        services=unhealthy_first(services),
        incidents=incidents,
        names={service.id: service.name for service in services},
        triggered=sum(1 for incident in incidents if incident.status == "triggered"),
        oncall=c.schedules.on_call(),
        problems=c.schedules.problems([view.policy for view in c.queries.policies()]),
    )


@router.get("/incidents")
def incident_list(
    request: Request, _user: UserDep, c: ConsoleDep, status: str = "", service: str = ""
) -> Response:
    status = status if status in STATUSES else ""
    service = service if ID_PATTERN.fullmatch(service) else ""
    incidents = c.queries.incidents(service or None, status or None, limit=200)
    return web.render(
        request,
        "incidents.html",
        incidents=incidents,
        names={s.id: s.name for s in c.queries.services()},
        chosen=status,
        service=service,
        statuses=STATUSES,
    )


@router.get("/incidents/{incident_id}")
def incident_page(incident_id: str, request: Request, _user: UserDep, c: ConsoleDep) -> Response:
    detail = c.queries.incident(checked_id(incident_id))
    if detail is None:
        raise web.not_found("This incident")
    service = c.queries.service(detail.incident.service)
    return web.render(
        request,
        "incident.html",
        incident=detail.incident,
        service_name=service.name if service else detail.incident.service,
        timeline=timeline.story(detail),
        notifications=detail.notifications,
        snoozed_until=detail.incident.snoozed_until,
        snooze_hours=SNOOZE_HOURS,
        users=sorted(user.email for user in c.accounts.users()),
        schedules=[(s.id, s.name) for s in c.schedules.schedules()],
        max_note=MAX_NOTE_LENGTH,
        alerts=[shown_alert(alert) for alert in detail.alerts[:ALERTS_SHOWN]],
        more_alerts=max(len(detail.alerts) - ALERTS_SHOWN, 0),
    )


ALERTS_SHOWN = 100  # a storm's incident holds thousands; the API lists every one


@dataclass(frozen=True, slots=True)
class ShownAlert:
    alert: AlertView
    chips: tuple[str, ...]
    links: tuple[tuple[str, str | None], ...]
    """(text, href): href None for an address a browser should not open (not http)."""


def shown_alert(alert: AlertView) -> ShownAlert:
    content = alert.content
    chips = tuple(f"{key}={value}" for key, value in content.labels)
    links = tuple((link.text or link.href, followable(link.href)) for link in content.references())
    return ShownAlert(alert, chips, links)


@router.post("/incidents/{incident_id}/acknowledge")
def acknowledge(
    incident_id: str, request: Request, user: UserDep, form: FormDep, c: ConsoleDep
) -> Response:
    incident_id = checked_id(incident_id)
    session = web.session_of(request)
    try:
        outcome = c.handlers.acknowledge(incident_id, user.email)
    except IncidentAlreadyResolved:
        session.flash(f"{named(c, incident_id)} was already resolved.", "error")
    else:
        if outcome.events:
            session.flash(f"Acknowledged {named(c, incident_id)}: nobody else will be paged.")
        else:
            session.flash(f"{named(c, incident_id)} was already acknowledged.")
    return web.redirect(request, web.local_path(form.get("next"), f"/incidents/{incident_id}"))


@router.post("/incidents/{incident_id}/resolve")
def resolve(
    incident_id: str, request: Request, user: UserDep, form: FormDep, c: ConsoleDep
) -> Response:
    incident_id = checked_id(incident_id)
    outcome = c.handlers.resolve(incident_id, user.email)
    which = named(c, incident_id)
    message = f"Resolved {which}." if outcome.events else f"{which} was already resolved."
    web.session_of(request).flash(message)
    return web.redirect(request, web.local_path(form.get("next"), f"/incidents/{incident_id}"))


@router.post("/incidents/{incident_id}/escalate")
def escalate(
    incident_id: str, request: Request, user: UserDep, form: FormDep, c: ConsoleDep
) -> Response:
    incident_id = checked_id(incident_id)
    session = web.session_of(request)
    which = named(c, incident_id)
    try:
        c.handlers.escalate(incident_id, user.email)
    except IncidentAlreadyResolved:
        session.flash(f"{which} was already resolved.", "error")
    except NothingToEscalateTo:
        session.flash(f"{which} has paged every level: there is no next level.", "error")
    else:
        detail = c.queries.incident(incident_id)
        level = detail.incident.level if detail else "the next"
        session.flash(f"Escalated {which}: level {level} is being paged.")
    return web.redirect(request, web.local_path(form.get("next"), f"/incidents/{incident_id}"))


@router.post("/incidents/{incident_id}/unacknowledge")
def unacknowledge(
    incident_id: str, request: Request, user: UserDep, form: FormDep, c: ConsoleDep
) -> Response:
    def command(service_id: str, incident_id: str) -> ServiceCommand:
        return Unacknowledge(service_id, incident_id, user.email)

    done = "Un-acknowledged {}: its escalation resumes from its current level."
    return _act(request, form, c, incident_id, command, done)


@router.post("/incidents/{incident_id}/snooze")
def snooze(
    incident_id: str, request: Request, user: UserDep, form: FormDep, c: ConsoleDep
) -> Response:
    """For `hours` (a button), or until a time (a datetime-local field, in the viewer's
    zone)."""
    zone = getattr(request.state, "time_zone", "UTC")
    try:
        until = _snooze_until(form, c.now(), ZoneInfo(zone))
    except ValidationFailed as refused:
        web.session_of(request).flash(f"Not snoozed: {refused.message}.", "error")
        return web.redirect(request, f"/incidents/{checked_id(incident_id)}")

    def command(service_id: str, incident_id: str) -> ServiceCommand:
        return Snooze(service_id, incident_id, until, user.email)

    done = f"Snoozed {{}} until {display.when(until, zone, seconds=False)}."
    return _act(request, form, c, incident_id, command, done)


@router.post("/incidents/{incident_id}/reassign")
def reassign(
    incident_id: str, request: Request, user: UserDep, form: FormDep, c: ConsoleDep
) -> Response:
    """`target` is `user:EMAIL` or `schedule:ID`, as the form's choices name them."""
    kind, _, name = web.field(form, "target", 300).partition(":")
    target = UserTarget(name) if kind == "user" else ScheduleTarget(name)

    def command(service_id: str, incident_id: str) -> ServiceCommand:
        return Reassign(service_id, incident_id, target, user.email)

    done = f"Reassigned {{}}: {target.label} is being paged."
    return _act(request, form, c, incident_id, command, done)


@router.post("/incidents/{incident_id}/notes")
def add_note(
    incident_id: str, request: Request, user: UserDep, form: FormDep, c: ConsoleDep
) -> Response:
    text = web.field(form, "text", MAX_NOTE_LENGTH)

    def command(service_id: str, incident_id: str) -> ServiceCommand:
        return AddNote(service_id, incident_id, text, user.email)

    return _act(request, form, c, incident_id, command, "Note added to {}.")


def _snooze_until(form: FormData, now: datetime, zone: ZoneInfo) -> datetime:
    """The time a snooze form asks for."""
    hours = web.field(form, "hours", 10)
    if hours:
        if not hours.isdigit() or int(hours) not in SNOOZE_HOURS:
            raise web.ConsoleError(400, "Bad form", "Snooze for 1 or 4 hours, or until a time.")
        return now + timedelta(hours=int(hours))
    try:
        moment = datetime.fromisoformat(web.field(form, "until", 40))
    except ValueError:
        raise ValidationFailed((("until", "pick a date and time"),)) from None
    if moment.utcoffset() is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def _act(
    request: Request,
    form: FormData,
    c: web.Console,
    incident_id: str,
    command: Callable[[str, str], ServiceCommand],
    done: str,
) -> Response:
    """Run the command on the incident, and say what it did (`done`, naming the incident)
    or why it was refused."""
    incident_id = checked_id(incident_id)
    session = web.session_of(request)
    which = named(c, incident_id)
    try:
        c.handlers.run(command(c.handlers.service_of(incident_id), incident_id))
    except IncidentAlreadyResolved:
        session.flash(f"{which} was already resolved.", "error")
    except ValidationFailed as refused:
        session.flash(f"Nothing done: {refused.message}.", "error")
    else:
        session.flash(done.format(which))
    return web.redirect(request, web.local_path(form.get("next"), f"/incidents/{incident_id}"))


def named(c: web.Console, incident_id: str) -> str:
    """The incident as a banner names it, so that a tap on a list says which one it was:
    "Checkout: “Disk full on db-1” (3f9c2a1b)"."""
    detail = c.queries.incident(incident_id)
    if detail is None:
        return f"incident {incident_id[:8]}"
    incident = detail.incident
    service = c.queries.service(incident.service)
    message = incident.message
    if len(message) > MESSAGE_IN_BANNER:
        message = message[: MESSAGE_IN_BANNER - 1].rstrip() + "…"
    return f"{service.name if service else incident.service}: “{message}” ({incident.id[:8]})"


def checked_id(incident_id: str) -> str:
    if not _INCIDENT_ID.fullmatch(incident_id):
        raise web.not_found("This incident")
    return incident_id
