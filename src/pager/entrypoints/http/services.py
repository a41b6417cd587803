"""/api/v1/services: monitored services, their integration keys, health and event stream."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from pager.application.accounts import IssuedKey
from pager.application.queries import ServiceView
from pager.domain.commands import MarkHealthy
from pager.domain.events import ServiceCreated
from pager.entrypoints.http.alerting import commit_blocking
from pager.entrypoints.http.auth import AdminCaller, AnyCaller, Caller, UserCaller
from pager.entrypoints.http.context import Context, context
from pager.entrypoints.http.errors import forbidden, not_found, responses
from pager.entrypoints.http.schemas import (
    ID_REGEX,
    EventList,
    EventOut,
    ServiceIn,
    ServiceList,
    ServiceOut,
)

router = APIRouter(prefix="/api/v1/services", tags=["services"])
Ctx = Annotated[Context, Depends(context)]
ServiceId = Annotated[str, Path(pattern=ID_REGEX)]


@router.get("", responses=responses(401, 403, 429))
def list_services(caller: UserCaller, ctx: Ctx) -> ServiceList:
    """Every service with its state and open incident."""
    return ServiceList(services=[_out(ctx, caller, view) for view in ctx.queries.services()])


@router.get("/{service_id}", responses=responses(401, 403, 404, 422, 429))
def get_service(service_id: ServiceId, caller: UserCaller, ctx: Ctx) -> ServiceOut:
    return _service(ctx, caller, service_id)


@router.put(
    "/{service_id}",
    responses={
        **responses(400, 401, 403, 404, 413, 422, 429),
        201: {"model": ServiceOut, "description": "Created; the answer holds its integration key"},
    },
)
def put_service(
    service_id: ServiceId, body: ServiceIn, caller: AdminCaller, ctx: Ctx, response: Response
) -> ServiceOut:
    """Create the service (201, with its new integration key) or change its name, policy or
    low-urgency severities (200). The integration key is shown only here and on rotation."""
    outcome = ctx.handlers.define_service(
        service_id, body.name, body.escalation_policy, tuple(body.low_urgency_severities)
    )
    issued: IssuedKey | None
    if any(isinstance(event, ServiceCreated) for event in outcome.events):
        response.status_code = 201
        issued = ctx.accounts.rotate_integration_key(service_id)
    else:
        # A service made some other way (or whose key was lost) gets its key now.
        issued = ctx.accounts.ensure_integration_key(service_id)
    return _service(ctx, caller, service_id, issued)


@router.delete("/{service_id}", status_code=204, responses=responses(401, 403, 404, 422, 429))
def delete_service(service_id: ServiceId, _caller: AdminCaller, ctx: Ctx) -> Response:
    """Resolves its open incident, if any, and revokes its integration key."""
    ctx.handlers.delete_service(service_id)
    ctx.accounts.forget_integration_key(service_id)
    return Response(status_code=204)


@router.post("/{service_id}/integration-key", responses=responses(401, 403, 404, 422, 429))
def rotate_integration_key(service_id: ServiceId, caller: AdminCaller, ctx: Ctx) -> ServiceOut:
    """A new integration key; the old one stops working at once."""
    if ctx.queries.service(service_id) is None:
        raise not_found(f"service {service_id!r} does not exist")
    issued = ctx.accounts.rotate_integration_key(service_id)
    return _service(ctx, caller, service_id, issued)


@router.post("/{service_id}/healthy", responses=responses(401, 403, 404, 422, 429))
def mark_healthy(service_id: ServiceId, caller: AnyCaller, ctx: Ctx) -> ServiceOut:
    """The service is healthy again: its open incident is resolved. Takes an API token or
    the service's own integration key."""
    if not caller.may_act_for(service_id):
        raise forbidden("an integration key may only act for its own service")
    commit_blocking(ctx, [MarkHealthy(service_id, caller.name)])
    return _service(ctx, caller, service_id)


@router.get("/{service_id}/events", responses=responses(401, 403, 404, 422, 429))
def service_events(
    service_id: ServiceId,
    _caller: UserCaller,
    ctx: Ctx,
    after: Annotated[int, Query(ge=0, le=2**31 - 1, description="A version.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EventList:
    """The service's event stream, oldest first, from the version after `after`."""
    events = ctx.queries.service_events(service_id, after, limit)
    if events is None:
        raise not_found(f"service {service_id!r} does not exist")
    last = events[-1].version if events else after
    return EventList(service=service_id, events=[EventOut.of(e) for e in events], last_version=last)


def _service(
    ctx: Context, caller: Caller, service_id: str, issued: IssuedKey | None = None
) -> ServiceOut:
    view = ctx.queries.service(service_id)
    if view is None:
        raise not_found(f"service {service_id!r} does not exist")
    return _out(ctx, caller, view, issued)


def _out(
    ctx: Context, caller: Caller, view: ServiceView, issued: IssuedKey | None = None
) -> ServiceOut:
    """Admins see the key's hint (and the key itself right after it is made); others not."""
    if caller.user is None or not caller.user.is_admin:
        return ServiceOut.of(view)
    if issued is not None:
        return ServiceOut.of(view, issued=issued)
    return ServiceOut.of(view, key=ctx.accounts.integration_key(view.id))
