"""/api/v1/heartbeats: a job pings its heartbeat; a ping that does not come within the
interval and grace raises an alert on the heartbeat's service (key `heartbeat:{id}`), and the
next ping resolves it. Admins define them (committed on their own, as services are); the
service's integration key pings them (through group commit, as alerts are)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, Field

from pager.application.heartbeats import Heartbeats
from pager.application.queries import HeartbeatView
from pager.domain.commands import PingHeartbeat
from pager.domain.events import HeartbeatPinged
from pager.domain.heartbeat import MAX_GRACE_SECONDS, MAX_INTERVAL_SECONDS, MIN_INTERVAL_SECONDS
from pager.entrypoints.http.alerting import commit
from pager.entrypoints.http.auth import AdminCaller, BearerKeyService, UserCaller
from pager.entrypoints.http.context import Context, context
from pager.entrypoints.http.errors import not_found, responses
from pager.entrypoints.http.schemas import ID_REGEX, Id, Integer, Request

router = APIRouter(prefix="/api/v1/heartbeats", tags=["heartbeats"])
Ctx = Annotated[Context, Depends(context)]
HeartbeatId = Annotated[str, Path(pattern=ID_REGEX)]


class HeartbeatIn(Request):
    service: Id
    interval_seconds: Integer = Field(
        ge=MIN_INTERVAL_SECONDS,
        le=MAX_INTERVAL_SECONDS,
        description="How often the job pings: a ping is due this long after the last.",
    )
    grace_seconds: Integer = Field(
        0, ge=0, le=MAX_GRACE_SECONDS, description="How late a ping may be."
    )


class HeartbeatOut(BaseModel):
    id: str
    service: str
    interval_seconds: int
    grace_seconds: int
    state: str = Field(description="`new` (never pinged), `ok` or `missed`.")
    defined_at: datetime
    last_ping_at: datetime | None
    due_at: datetime | None = Field(description="The latest a ping may come; none once missed.")

    @classmethod
    def of(cls, view: HeartbeatView) -> HeartbeatOut:
        return cls(
            id=view.id,
            service=view.service,
            interval_seconds=view.interval_seconds,
            grace_seconds=view.grace_seconds,
            state=view.state,
            defined_at=view.defined_at,
            last_ping_at=view.last_ping_at,
            due_at=view.due_at,
        )


class HeartbeatList(BaseModel):
    heartbeats: list[HeartbeatOut]


class Pinged(BaseModel):
    id: str
    state: str = Field(description="`ok`: a missed heartbeat's alert is resolved by the ping.")
    last_ping_at: datetime
    due_at: datetime


@router.get("", responses=responses(401, 403, 422, 429))
def list_heartbeats(
    _caller: UserCaller,
    ctx: Ctx,
    service: Annotated[str | None, Query(pattern=ID_REGEX)] = None,
) -> HeartbeatList:
    return HeartbeatList(heartbeats=[HeartbeatOut.of(v) for v in ctx.queries.heartbeats(service)])


@router.get("/{heartbeat_id}", responses=responses(401, 403, 404, 422, 429))
def get_heartbeat(heartbeat_id: HeartbeatId, _caller: UserCaller, ctx: Ctx) -> HeartbeatOut:
    return HeartbeatOut.of(_heartbeat(ctx, heartbeat_id))


@router.put(
    "/{heartbeat_id}",
    responses={
        **responses(400, 401, 403, 404, 413, 422, 429),
        201: {"model": HeartbeatOut, "description": "Created"},
    },
)
def put_heartbeat(
    heartbeat_id: HeartbeatId,
    body: HeartbeatIn,
    _caller: AdminCaller,
    ctx: Ctx,
    response: Response,
) -> HeartbeatOut:
    """Create the heartbeat (201; its first ping is due an interval and grace from now),
    change it (a new interval counts from now), or move it to another service."""
    heartbeats = Heartbeats(ctx.handlers, ctx.queries)
    if heartbeats.define(heartbeat_id, body.service, body.interval_seconds, body.grace_seconds):
        response.status_code = 201
    return HeartbeatOut.of(_heartbeat(ctx, heartbeat_id))


@router.delete("/{heartbeat_id}", status_code=204, responses=responses(401, 403, 404, 422, 429))
def delete_heartbeat(heartbeat_id: HeartbeatId, _caller: AdminCaller, ctx: Ctx) -> Response:
    """A missed heartbeat's alert is resolved with it."""
    Heartbeats(ctx.handlers, ctx.queries).remove(heartbeat_id)
    return Response(status_code=204)


async def ping(ctx: Context, service_id: str, heartbeat_id: str) -> HeartbeatPinged:
    """The heartbeat pinged, if it is one of the service's (another service's is absent)."""
    [outcome] = await commit(ctx, [PingHeartbeat(service_id, heartbeat_id)])
    [pinged] = [e for e in outcome.events if isinstance(e, HeartbeatPinged)]
    return pinged


_PING_ERRORS = responses(401, 403, 404, 422, 429, 503)


@router.post("/{heartbeat_id}/ping", responses=_PING_ERRORS, summary="Ping a heartbeat")
@router.get(
    "/{heartbeat_id}/ping",
    responses=_PING_ERRORS,
    summary="Ping a heartbeat (GET, for clients that can only fetch a URL)",
    operation_id="ping_heartbeat_by_get",
)
async def ping_heartbeat(
    heartbeat_id: HeartbeatId, service_id: BearerKeyService, ctx: Ctx
) -> Pinged:
    """Authenticate with `Authorization: Bearer <the service's integration key>`. The next
    ping is due an interval (and grace) from now; a missed heartbeat's alert is resolved."""
    pinged = await ping(ctx, service_id, heartbeat_id)
    return Pinged(id=heartbeat_id, state="ok", last_ping_at=pinged.at, due_at=pinged.due_at)


def _heartbeat(ctx: Context, heartbeat_id: str) -> HeartbeatView:
    view = ctx.queries.heartbeat(heartbeat_id)
    if view is None:
        raise not_found(f"heartbeat {heartbeat_id!r} does not exist")
    return view
