"""Maintenance windows from the service page: "for 1 h", "for 2 h" or "until ...", the
window in force with "End now", and what the windows recorded (the service's timeline)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi import Request
from starlette.responses import Response

from pager.application.queries import StreamEvent
from pager.domain.errors import DomainError, ValidationFailed
from pager.domain.policy import ID_PATTERN
from pager.entrypoints.console import display, web
from pager.entrypoints.console.web import ConsoleDep, FormDep, UserDep

router = web.router()
HOURS = ("1", "2", "4", "8")


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the service's maintenance timeline."""

    at: datetime
    kind: str
    text: str


def timeline(events: list[StreamEvent], zone: str) -> list[Entry]:
    """Each event as a line, its times in the viewer's `zone`."""
    return [Entry(event.at, event.type, _text(event, zone)) for event in events]


def _text(event: StreamEvent, zone: str) -> str:
    data = event.data
    match event.type:
        case "MaintenanceScheduled":
            start, end = (display.when(datetime.fromisoformat(data[k]), zone, seconds=False)
                          for k in ("start", "end"))  # fmt: skip
            return f"Maintenance window set by {data['by']}, {start} to {end}"
        case "MaintenanceStarted":
            return "Maintenance window began"
        case "MaintenanceEnded" if not data.get("started", True):
            return f"Maintenance window cancelled by {data['by']}"
        case "MaintenanceEnded" if data.get("early"):
            return f"Maintenance window ended early by {data['by']}"
        case "MaintenanceEnded":
            return "Maintenance window ended"
        case "AlertSuppressed":
            alert = data["alert"]
            key = f" (key {alert['dedup_key']})" if alert.get("dedup_key") else ""
            return f"Alert during maintenance, nobody paged: {alert['message']}{key}"
        case _:
            return f"Stopped firing during maintenance: {', '.join(data['dedup_keys'])}"


@router.post("/services/{service_id}/maintenance")
def start_maintenance(
    service_id: str, request: Request, user: UserDep, form: FormDep, c: ConsoleDep
) -> Response:
    """A window from now: for `hours`, or until `until` (a datetime-local field, in the
    user's time zone)."""
    back = f"/services/{service_id}"
    zone = ZoneInfo(getattr(request.state, "time_zone", "UTC"))
    hours, until = web.field(form, "hours", 4), web.field(form, "until", 40)
    try:
        end = _end(hours, until, c.now(), zone)
        c.handlers.schedule_maintenance(service_id, None, end, user.email)
    except DomainError as refused:
        web.session_of(request).flash(f"No maintenance window set: {refused.message}", "error")
        return web.redirect(request, back)
    local = end.astimezone(zone)
    web.session_of(request).flash(
        f"In maintenance until {local:%a %d %b %H:%M}: alerts page nobody."
    )
    return web.redirect(request, back)


def _end(hours: str, until: str, now: datetime, zone: ZoneInfo) -> datetime:
    if hours in HOURS:
        return now + timedelta(hours=int(hours))
    try:
        moment = datetime.fromisoformat(until)
    except ValueError:
        raise ValidationFailed((("until", "pick a date and time"),)) from None
    if moment.utcoffset() is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


@router.post("/services/{service_id}/maintenance/{window_id}/end")
def end_maintenance(
    service_id: str,
    window_id: str,
    request: Request,
    user: UserDep,
    _form: FormDep,
    c: ConsoleDep,
) -> Response:
    """End it now (or cancel it, if it has not begun)."""
    if not ID_PATTERN.fullmatch(service_id) or not ID_PATTERN.fullmatch(window_id):
        raise web.not_found("This maintenance window")
    try:
        c.handlers.end_maintenance(service_id, window_id, user.email)
    except DomainError as refused:
        web.session_of(request).flash(refused.message, "error")
    else:
        web.session_of(request).flash("Maintenance ended: alerts page again.")
    return web.redirect(request, f"/services/{service_id}")
