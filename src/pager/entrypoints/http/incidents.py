"""/api/v1/alerts and /api/v1/incidents."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query

from pager.domain.commands import Acknowledge, Escalate, Resolve
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
    incident is triggered again. A 409 once every level and round has been paged, or when
    the incident is resolved."""
    service_id = ctx.handlers.service_of(incident_id)
    commit_blocking(ctx, [Escalate(service_id, incident_id, _by(caller, body))])
    return _detail(ctx, incident_id)


def _by(caller: Caller, body: ByIn | None) -> str:
    return body.by if body is not None and body.by else caller.name


def _detail(ctx: Context, incident_id: str) -> IncidentDetailOut:
    detail = ctx.queries.incident(incident_id)
    if detail is None:
        raise not_found(f"incident {incident_id!r} does not exist")
    return IncidentDetailOut.of_detail(detail)
