"""/api/v1/alerts and /api/v1/incidents."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query

from pager.domain.commands import (
    Acknowledge,
    AddNote,
    Escalate,
    Reassign,
    Resolve,
    ServiceCommand,
    Snooze,
    Unacknowledge,
)
from pager.entrypoints.http.action_schemas import NoteIn, ReassignIn, SnoozeIn
from pager.entrypoints.http.alerting import commit, commit_blocking, counted
from pager.entrypoints.http.auth import Caller, UserCaller
from pager.entrypoints.http.context import Context, context
from pager.entrypoints.http.errors import forbidden, not_found, responses
from pager.entrypoints.http.schemas import (
    INCIDENT_ID_REGEX,
    AlertAccepted,
    AlertIn,
    ByIn,
    Id,
    IncidentDetailOut,
    IncidentList,
    IncidentOut,
)

router = APIRouter(prefix="/api/v1", tags=["incidents"])
Ctx = Annotated[Context, Depends(context)]
IncidentId = Annotated[str, Path(pattern=INCIDENT_ID_REGEX)]


async def accept_alert(ctx: Context, body: AlertIn, caller: Caller) -> AlertAccepted:
    """What POST /api/v1/alerts does (`ingest` answers it)."""
    if not caller.may_act_for(body.service):
        raise forbidden("an integration key may only send alerts for its own service")
    command = ctx.handlers.alert_command(
        body.service,
        body.message,
        dedup_key=body.dedup_key,
        severity=body.severity,
        content=body.content(),
    )
    [outcome] = await commit(ctx, [command])
    result = counted(command, outcome)
    return AlertAccepted(incident_id=result.incident_id, action=result.action)


@router.get("/incidents", responses=responses(401, 403, 422, 429))
def list_incidents(
    _caller: UserCaller,
    ctx: Ctx,
    service: Annotated[Id | None, Query()] = None,
    status: Annotated[
        Literal["triggered", "acknowledged", "resolved", "open"] | None,
        Query(description="`open` is triggered or acknowledged."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> IncidentList:
    """Newest first."""
    views = ctx.queries.incidents(service, status, limit)
    return IncidentList(incidents=[IncidentOut.of(view) for view in views])


@router.get("/incidents/{incident_id}", responses=responses(401, 403, 404, 422, 429))
def get_incident(incident_id: IncidentId, _caller: UserCaller, ctx: Ctx) -> IncidentDetailOut:
    """With its timeline (events and delivery attempts) and its notifications."""
    return _detail(ctx, incident_id)


@router.post(
    "/incidents/{incident_id}/acknowledge",
    responses=responses(400, 401, 403, 404, 409, 413, 422, 429),
)
def acknowledge(
    incident_id: IncidentId, caller: UserCaller, ctx: Ctx, body: ByIn | None = None
) -> IncidentDetailOut:
    """Stops the escalation. Acknowledging twice is harmless; a resolved incident is a 409."""
    service_id = ctx.handlers.service_of(incident_id)
    commit_blocking(ctx, [Acknowledge(service_id, incident_id, _by(caller, body))])
    return _detail(ctx, incident_id)


@router.post(
    "/incidents/{incident_id}/resolve",
    responses=responses(400, 401, 403, 404, 413, 422, 429),
)
def resolve(
    incident_id: IncidentId, caller: UserCaller, ctx: Ctx, body: ByIn | None = None
) -> IncidentDetailOut:
    """Ends the incident; its service is healthy again. Resolving twice is harmless."""
    service_id = ctx.handlers.service_of(incident_id)
    commit_blocking(ctx, [Resolve(service_id, incident_id, _by(caller, body))])
    return _detail(ctx, incident_id)


@router.post(
    "/incidents/{incident_id}/escalate",
    responses=responses(400, 401, 403, 404, 409, 413, 422, 429),
)
def escalate(
    incident_id: IncidentId, caller: UserCaller, ctx: Ctx, body: ByIn | None = None
) -> IncidentDetailOut:
    """Pages the next level now, as if the current one had timed out; an acknowledged
    incident is triggered again, a low-urgency one raised to high urgency. A 409 once every
    level and round has been paged (a low-urgency incident then stays low), or when the
    incident is resolved."""
    service_id = ctx.handlers.service_of(incident_id)
    commit_blocking(ctx, [Escalate(service_id, incident_id, _by(caller, body))])
    return _detail(ctx, incident_id)


@router.post(
    "/incidents/{incident_id}/unacknowledge",
    responses=responses(400, 401, 403, 404, 409, 413, 422, 429),
)
def unacknowledge(
    incident_id: IncidentId, caller: UserCaller, ctx: Ctx, body: ByIn | None = None
) -> IncidentDetailOut:
    """Triggered again: the escalation resumes from the current level, whose ack timeout
    runs again from now (a snooze ends). Harmless on a triggered incident; a resolved one is
    a 409."""
    return _act(
        ctx,
        incident_id,
        lambda service_id: Unacknowledge(service_id, incident_id, _by(caller, body)),
    )


@router.post(
    "/incidents/{incident_id}/notes",
    status_code=201,
    responses=responses(400, 401, 403, 404, 413, 422, 429),
)
def add_note(
    incident_id: IncidentId, body: NoteIn, caller: UserCaller, ctx: Ctx
) -> IncidentDetailOut:
    """A note on the incident's timeline, open or resolved; it pages nobody."""
    by = body.by or caller.name
    return _act(
        ctx, incident_id, lambda service_id: AddNote(service_id, incident_id, body.text, by)
    )


@router.post(
    "/incidents/{incident_id}/snooze",
    responses=responses(400, 401, 403, 404, 409, 413, 422, 429),
)
def snooze(
    incident_id: IncidentId, body: SnoozeIn, caller: UserCaller, ctx: Ctx
) -> IncidentDetailOut:
    """Acknowledged until `until`, then triggered again from level 1 of the next round
    (even when the policy repeats no more). Acknowledging, un-acknowledging, escalating or
    reassigning ends the snooze; a resolved incident is a 409."""
    by = body.by or caller.name
    return _act(
        ctx, incident_id, lambda service_id: Snooze(service_id, incident_id, body.until, by)
    )


@router.post(
    "/incidents/{incident_id}/reassign",
    responses=responses(400, 401, 403, 404, 409, 413, 422, 429),
)
def reassign(
    incident_id: IncidentId, body: ReassignIn, caller: UserCaller, ctx: Ctx
) -> IncidentDetailOut:
    """Pages `user`, or whoever `schedule` has on call, now (by their own rules), recorded
    on the timeline with what reached nobody. The incident is triggered (if acknowledged)
    and its current level's ack timeout runs again from now, so the next level follows only
    if they do not acknowledge. An unknown user or schedule is a 422; a resolved incident a
    409."""
    target, by = body.target(), body.by or caller.name
    return _act(ctx, incident_id, lambda service_id: Reassign(service_id, incident_id, target, by))


def _act(
    ctx: Context, incident_id: str, command: Callable[[str], ServiceCommand]
) -> IncidentDetailOut:
    """The command for the incident's service, committed; the incident as it is then."""
    commit_blocking(ctx, [command(ctx.handlers.service_of(incident_id))])
    return _detail(ctx, incident_id)


def _by(caller: Caller, body: ByIn | None) -> str:
    return body.by if body is not None and body.by else caller.name


def _detail(ctx: Context, incident_id: str) -> IncidentDetailOut:
    detail = ctx.queries.incident(incident_id)
    if detail is None:
        raise not_found(f"incident {incident_id!r} does not exist")
    return IncidentDetailOut.of_detail(detail)
