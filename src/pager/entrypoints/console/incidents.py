"""The dashboard (what is on fire, refreshing by itself), incidents, and the buttons that
acknowledge and resolve them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi import Request
from starlette.responses import Response

from pager.application.queries import AlertView, IncidentView, ServiceView
from pager.domain.content import followable
from pager.domain.errors import IncidentAlreadyResolved, NothingToEscalateTo
from pager.domain.policy import ID_PATTERN
from pager.entrypoints.console import timeline, web
from pager.entrypoints.console.web import ConsoleDep, FormDep, UserDep
from pager.entrypoints.http.schemas import INCIDENT_ID_REGEX

router = web.router()
_INCIDENT_ID = re.compile(INCIDENT_ID_REGEX)
STATUS_ORDER = {"triggered": 0, "acknowledged": 1, "resolved": 2}
STATUSES = ("open", "triggered", "acknowledged", "resolved")
MESSAGE_IN_BANNER = 80


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
