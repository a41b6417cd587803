"""Opsgenie's heartbeat ping, `/v2/heartbeats/{name}/ping` (GET, POST, PUT or HEAD, with
`Authorization: GenieKey <the service's integration key>`), so that jobs that pinged
Opsgenie ping Pager unchanged. Answered as Opsgenie answers, once the ping is committed."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel

from pager.domain.policy import valid_id
from pager.entrypoints.http.auth import GenieKeyService
from pager.entrypoints.http.context import Context, context
from pager.entrypoints.http.errors import not_found, responses
from pager.entrypoints.http.heartbeats import ping
from pager.entrypoints.http.opsgenie import took

router = APIRouter(prefix="/v2/heartbeats", tags=["integrations"])
Ctx = Annotated[Context, Depends(context)]
Name = Annotated[str, Path(min_length=1, max_length=512)]
ERRORS = responses(401, 403, 404, 429, 503)
SUMMARY = "Opsgenie: ping heartbeat"


class PingAccepted(BaseModel):
    result: str
    took: float
    requestId: str


@router.post("/{name}/ping", status_code=202, responses=ERRORS, summary=SUMMARY)
@router.get("/{name}/ping", status_code=202, responses=ERRORS, summary=SUMMARY,
            operation_id="opsgenie_ping_heartbeat_by_get")  # fmt: skip
@router.put("/{name}/ping", status_code=202, responses=ERRORS, summary=SUMMARY,
            operation_id="opsgenie_ping_heartbeat_by_put")  # fmt: skip
@router.head("/{name}/ping", status_code=202, responses=ERRORS, summary=SUMMARY,
             operation_id="opsgenie_ping_heartbeat_by_head")  # fmt: skip
async def ping_heartbeat(
    name: Name, service_id: GenieKeyService, ctx: Ctx, request: Request
) -> PingAccepted:
    """`name` is the heartbeat's id; a heartbeat of another service is not found."""
    if not valid_id(name):
        raise not_found(f"Heartbeat with name [{name}] does not exist")
    await ping(ctx, service_id, name)
    result = f"PING - Heartbeat [{name}] is updated"
    return PingAccepted(result=result, took=took(request), requestId=str(uuid.uuid4()))
