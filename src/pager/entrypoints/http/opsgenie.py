"""Opsgenie's Alert API, the part that monitoring tools use: create, acknowledge, close
(and Alertmanager's `update_alerts` calls, accepted and ignored). Teams leaving Opsgenie
point their tools' API URL at Pager and use the service's integration key as the GenieKey.

Opsgenie answers 202 `{"result": "Request will be processed", "took", "requestId"}` and does
the work later; Pager does it before answering, so errors (an unknown incident id, say)
come back at once, in the same shape plus `error`.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from pager.domain.commands import (
    Acknowledge,
    AcknowledgeAlert,
    Resolve,
    ResolveAlert,
    ServiceCommand,
)
from pager.entrypoints.http.alerting import clean, commit, receive_alert
from pager.entrypoints.http.auth import GenieKeyService
from pager.entrypoints.http.context import Context, context
from pager.entrypoints.http.errors import not_found, responses
from pager.entrypoints.http.limits import json_body
from pager.entrypoints.http.schemas import INCIDENT_ID_REGEX

router = APIRouter(prefix="/v2/alerts", tags=["integrations"], dependencies=[Depends(json_body)])
Ctx = Annotated[Context, Depends(context)]
Identifier = Annotated[str, Path(min_length=1, max_length=512)]
IdentifierType = Annotated[
    Literal["id", "alias"],
    Query(alias="identifierType", description="`id` is Pager's incident id."),
]
MAX_OPSGENIE_MESSAGE = 130
ERRORS = responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503)


class CreateAlert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    message: Annotated[str, Field(min_length=1, max_length=15_000)]
    alias: Annotated[str, Field(min_length=1, max_length=512)] | None = None
    description: str | None = None
    priority: Literal["P1", "P2", "P3", "P4", "P5"] = "P3"
    details: dict[str, Any] | None = None
    source: str | None = None
    entity: str | None = None
    user: str | None = None
    note: str | None = None
    tags: list[str] | None = None


class AlertAction(BaseModel):
    model_config = ConfigDict(extra="ignore")

    user: str | None = None
    source: str | None = None
    note: str | None = None


class Accepted(BaseModel):
    result: Literal["Request will be processed"] = "Request will be processed"
    took: float
    requestId: str


def _accepted(request: Request) -> Accepted:
    took = time.monotonic() - request.state.started
    return Accepted(took=round(took, 3), requestId=str(uuid.uuid4()))


@router.post("", status_code=202, responses=ERRORS, summary="Opsgenie: create alert")
async def create_alert(
    body: CreateAlert, service_id: GenieKeyService, ctx: Ctx, request: Request
) -> Accepted:
    """`alias` is the dedup key: a second alert with an open alias changes nothing."""
    message = clean(body.message, MAX_OPSGENIE_MESSAGE).strip()
    if not message:
        message = "alert"
    await receive_alert(
        ctx,
        service_id,
        message,
        dedup_key=clean(body.alias, 512) if body.alias else None,
        severity=body.priority,
        source="opsgenie",
    )
    return _accepted(request)


@router.post(
    "/{identifier}/acknowledge",
    status_code=202,
    responses=ERRORS,
    summary="Opsgenie: acknowledge alert",
)
async def acknowledge_alert(
    identifier: Identifier,
    service_id: GenieKeyService,
    ctx: Ctx,
    request: Request,
    identifier_type: IdentifierType = "id",
    body: AlertAction | None = None,
) -> Accepted:
    by = _by(body)
    if identifier_type == "alias":
        command: ServiceCommand = AcknowledgeAlert(service_id, clean(identifier, 512), by)
    else:
        await run_in_threadpool(_check_owner, ctx, service_id, identifier)
        command = Acknowledge(service_id, identifier, by)
    await commit(ctx, [command])
    return _accepted(request)


@router.post(
    "/{identifier}/close", status_code=202, responses=ERRORS, summary="Opsgenie: close alert"
)
async def close_alert(
    identifier: Identifier,
    service_id: GenieKeyService,
    ctx: Ctx,
    request: Request,
    identifier_type: IdentifierType = "id",
    body: AlertAction | None = None,
) -> Accepted:
    """By alias: that alert stopped firing (the incident ends with its last open alias).
    By id: the incident is resolved."""
    if identifier_type == "alias":
        command: ServiceCommand = ResolveAlert(service_id, clean(identifier, 512))
    else:
        await run_in_threadpool(_check_owner, ctx, service_id, identifier)
        command = Resolve(service_id, identifier, _by(body))
    await commit(ctx, [command])
    return _accepted(request)


@router.put(
    "/{identifier}/message",
    status_code=202,
    responses=ERRORS,
    summary="Opsgenie: update message (accepted, ignored)",
)
def update_message(
    identifier: Identifier,
    _service_id: GenieKeyService,
    request: Request,
    _identifier_type: IdentifierType = "id",
) -> Accepted:
    """Alertmanager's `update_alerts` sends this after each create; an incident keeps the
    message of its first alert."""
    return _accepted(request)


@router.put(
    "/{identifier}/description",
    status_code=202,
    responses=ERRORS,
    summary="Opsgenie: update description (accepted, ignored)",
)
def update_description(
    identifier: Identifier,
    _service_id: GenieKeyService,
    request: Request,
    _identifier_type: IdentifierType = "id",
) -> Accepted:
    return _accepted(request)


def _by(body: AlertAction | None) -> str:
    user = body.user if body is not None else None
    return clean(user, 200) if user else "opsgenie"


def _check_owner(ctx: Context, service_id: str, incident_id: str) -> None:
    """An integration key reaches only its own service's incidents (others look absent)."""
    well_formed = re.fullmatch(INCIDENT_ID_REGEX, incident_id) is not None
    if not well_formed or ctx.queries.incident_service(incident_id) != service_id:
        raise not_found(f"incident {incident_id!r} does not exist")
