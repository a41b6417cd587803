"""Opsgenie's Alert API, the reads its SDKs and scripts make: request status (polled after
every create), get alert, list alerts, count alerts; in Opsgenie's shapes, mapped onto
Pager's incidents, within the service of the GenieKey.

An alert is an incident: `id` is the incident's id, `tinyId` the first 8 characters of it,
`alias` its first alert's dedup key (its id if that had none), `status` open or closed,
`acknowledged` whether someone acknowledged it, `count` its alerts, `priority` its first
alert's (Pager's severities mapped to P1-P5), `owner` who acknowledged it. Pager keeps no
tags, descriptions or details of alerts yet, so those are not in the answers.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel

from pager.application.queries import IncidentView, OpeningAlert
from pager.domain.severity import severity_of
from pager.domain.text import WHITESPACE
from pager.entrypoints.http.auth import GenieKeyService
from pager.entrypoints.http.context import Context, context
from pager.entrypoints.http.errors import ApiError, not_found, responses
from pager.entrypoints.http.opsgenie import (
    MISSING,
    Identifier,
    IdentifierType,
    alert_alias,
    check_owner,
    open_incident_by_alias,
    took,
)
from pager.entrypoints.http.opsgenie_requests import MAX_REQUEST_ID

router = APIRouter(prefix="/v2/alerts", tags=["integrations"])
Ctx = Annotated[Context, Depends(context)]
ERRORS = responses(401, 403, 404, 422, 429, 503)
UNKNOWN_REQUEST = "Request not found. It might not be processed, yet."
# Back from severities to Opsgenie's priorities (P4 and P5 both came in as info).
PRIORITIES = {"critical": "P1", "error": "P2", "warning": "P3", "info": "P5"}
MAX_WINDOW = 20_000  # Opsgenie's limit for offset + limit
_W = f"[{WHITESPACE}]"


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" for c in word)


_SEP = f"{_W}*[:=]{_W}*"
_QUERY_TERM = (
    f"(?:{_any_case('status')}{_SEP}(?:{_any_case('open')}|{_any_case('closed')})"
    f"|{_any_case('acknowledged')}{_SEP}(?:{_any_case('true')}|{_any_case('false')})"
    f"|{_any_case('and')})"
)
# What `_filters` understands, stated for the OpenAPI document (JSON schema regexes have no
# case-insensitive flag, hence the classes).
QUERY_PATTERN = f"^{_W}*(?:{_QUERY_TERM}(?:{_W}+{_QUERY_TERM})*)?{_W}*$"
SearchQuery = Annotated[
    str | None,
    Query(
        max_length=1000,
        pattern=QUERY_PATTERN,
        description="Opsgenie's search syntax, the part Pager understands: `status:open` or "
        "`status:closed`, `acknowledged:true` or `acknowledged:false`, joined by AND.",
    ),
]
# Not in the OpenAPI document: Pager has no saved searches, and refuses the parameter (422).
SavedSearch = Annotated[str | None, Query(alias="searchIdentifier", include_in_schema=False)]


class RequestStatus(BaseModel):
    success: bool
    action: str
    processedAt: str
    integrationId: str
    isSuccess: bool
    status: str
    alertId: str
    alias: str


class RequestStatusAnswer(BaseModel):
    data: RequestStatus
    took: float
    requestId: str


class AlertIntegration(BaseModel):
    id: str
    name: str
    type: Literal["API"] = "API"


class AlertReport(BaseModel):
    ackTime: int | None = None
    """Milliseconds from opening to acknowledgement."""
    closeTime: int | None = None
    """Milliseconds from opening to resolution."""
    acknowledgedBy: str | None = None
    closedBy: str | None = None


class Alert(BaseModel):
    id: str
    tinyId: str
    alias: str
    message: str
    status: Literal["open", "closed"]
    acknowledged: bool
    snoozed: bool = False
    snoozedUntil: str | None = None
    count: int
    createdAt: str
    updatedAt: str
    source: str
    owner: str
    priority: str
    integration: AlertIntegration
    report: AlertReport


class AlertAnswer(BaseModel):
    data: Alert
    took: float
    requestId: str


class Paging(BaseModel):
    first: str
    last: str
    next: str | None = None
    prev: str | None = None


class AlertList(BaseModel):
    data: list[Alert]
    paging: Paging
    took: float
    requestId: str


class Count(BaseModel):
    count: int


class CountAnswer(BaseModel):
    data: Count
    took: float
    requestId: str


@router.get(
    "/requests/{request_id}",
    responses=ERRORS,
    response_model_exclude_none=True,
    summary="Opsgenie: get request status",
)
def request_status(
    request_id: Annotated[str, Path(min_length=1, max_length=MAX_REQUEST_ID)],
    service_id: GenieKeyService,
    ctx: Ctx,
    request: Request,
) -> RequestStatusAnswer:
    """What a create, acknowledge, unacknowledge, close or add-note request came to (its id
    says, signed). An id Pager did not give, or another key's, is a 404, as Opsgenie
    answers for a request it has not processed yet."""
    outcome = ctx.opsgenie_requests.find(request_id, service_id)
    if outcome is None:
        raise not_found(UNKNOWN_REQUEST)
    status = RequestStatus(
        success=outcome.is_success,
        action=outcome.action,
        processedAt=_instant(outcome.processed_at),
        integrationId=service_id,
        isSuccess=outcome.is_success,
        status=outcome.status,
        alertId=outcome.alert_id,
        alias=outcome.alias,
    )
    return RequestStatusAnswer(data=status, took=took(request), requestId=_new_id())


@router.get(
    "/count", responses=ERRORS, response_model_exclude_none=True, summary="Opsgenie: count alerts"
)
def count_alerts(
    service_id: GenieKeyService,
    ctx: Ctx,
    request: Request,
    query: SearchQuery = None,
    search_identifier: SavedSearch = None,
) -> CountAnswer:
    status, acknowledged = _filters(query, search_identifier)
    count = ctx.queries.incident_count(service_id, status, acknowledged=acknowledged)
    return CountAnswer(data=Count(count=count), took=took(request), requestId=_new_id())


@router.get(
    "/{identifier}",
    responses=ERRORS,
    response_model_exclude_none=True,
    summary="Opsgenie: get alert",
)
def get_alert(
    identifier: Identifier,
    service_id: GenieKeyService,
    ctx: Ctx,
    request: Request,
    identifier_type: IdentifierType = "id",
) -> AlertAnswer:
    """By id, any incident of the service; by alias, its open incident on which an alert
    with that alias is firing."""
    incident: IncidentView | None
    if identifier_type == "alias":
        incident = open_incident_by_alias(ctx, service_id, identifier)
        if incident is None:
            raise not_found(f"{MISSING}: no open alert has the alias {identifier!r}")
    else:
        check_owner(ctx, service_id, identifier)
        detail = ctx.queries.incident(identifier)
        if detail is None:  # gone since: a deleted database row
            raise not_found(f"{MISSING}: no incident {identifier!r}")
        incident = detail.incident
    [alert] = _alerts(ctx, service_id, [incident])
    return AlertAnswer(data=alert, took=took(request), requestId=_new_id())


@router.get("", responses=ERRORS, response_model_exclude_none=True, summary="Opsgenie: list alerts")
def list_alerts(
    service_id: GenieKeyService,
    ctx: Ctx,
    request: Request,
    query: SearchQuery = None,
    search_identifier: SavedSearch = None,
    offset: Annotated[int, Query(ge=0, le=MAX_WINDOW)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    sort: Annotated[
        Literal["createdAt"], Query(description="Pager sorts by creation time only.")
    ] = "createdAt",
    order: Literal["asc", "desc"] = "desc",
) -> AlertList:
    """The service's incidents, newest first unless `order=asc`."""
    status, acknowledged = _filters(query, search_identifier)
    if offset + limit > MAX_WINDOW:
        raise _invalid("offset", f"offset + limit must be at most {MAX_WINDOW}")
    queries = ctx.queries
    incidents = queries.incidents(
        service_id,
        status,
        limit,
        offset=offset,
        acknowledged=acknowledged,
        oldest_first=order == "asc",
    )
    total = queries.incident_count(service_id, status, acknowledged=acknowledged)
    last = max(total - 1, 0) // limit * limit
    paging = Paging(
        first=_page(request, 0, limit),
        last=_page(request, last, limit),
        next=_page(request, offset + limit, limit) if offset + limit < total else None,
        prev=_page(request, max(offset - limit, 0), limit) if offset > 0 else None,
    )
    return AlertList(
        data=_alerts(ctx, service_id, incidents),
        paging=paging,
        took=took(request),
        requestId=_new_id(),
    )


def _alerts(ctx: Context, service_id: str, incidents: list[IncidentView]) -> list[Alert]:
    opening = ctx.queries.opening_alerts([incident.id for incident in incidents])
    service = ctx.queries.service(service_id)
    integration = AlertIntegration(id=service_id, name=service.name if service else service_id)
    return [_alert(incident, opening.get(incident.id), integration) for incident in incidents]


def _alert(
    incident: IncidentView, opening: OpeningAlert | None, integration: AlertIntegration
) -> Alert:
    opened = incident.opened_at
    changed = [at for at in (incident.acknowledged_at, incident.resolved_at) if at is not None]
    severity = opening.severity if opening else None
    return Alert(
        id=incident.id,
        tinyId=incident.id[:8],
        alias=alert_alias(incident.id, opening),
        message=incident.message,
        status="closed" if incident.status == "resolved" else "open",
        acknowledged=incident.acknowledged_at is not None,
        snoozed=incident.snoozed_until is not None,
        snoozedUntil=_instant(incident.snoozed_until) if incident.snoozed_until else None,
        count=incident.alert_count,
        createdAt=_instant(opened),
        updatedAt=_instant(max([opened, *changed])),
        source=opening.source if opening else "pager",
        owner=incident.acknowledged_by or "",
        priority=_priority(severity),
        integration=integration,
        report=AlertReport(
            ackTime=_millis(opened, incident.acknowledged_at),
            closeTime=_millis(opened, incident.resolved_at),
            acknowledgedBy=incident.acknowledged_by,
            closedBy=incident.resolved_by,
        ),
    )


def _priority(severity: str | None) -> str:
    """The alert's priority back: as sent by an Opsgenie client before severities were
    mapped, else its severity's (P3 when it has none)."""
    if severity in ("P1", "P2", "P3", "P4", "P5"):
        return severity
    return PRIORITIES.get(severity_of(severity) or "", "P3")


def _millis(start: datetime, end: datetime | None) -> int | None:
    return None if end is None else int((end - start).total_seconds() * 1000)


def _instant(at: datetime) -> str:
    """As Opsgenie writes times: UTC, milliseconds, Z."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_TERM = re.compile(r"(status|acknowledged):(\S+)", re.IGNORECASE)
_QUERY_HELP = (
    "Pager understands status:open, status:closed, acknowledged:true and acknowledged:false, "
    "joined by AND"
)


def _filters(query: str | None, saved_search: str | None) -> tuple[str | None, bool | None]:
    """The incidents' status ("open", "resolved") and acknowledgement that `query` asks for."""
    if saved_search is not None:
        raise _invalid("searchIdentifier", "Pager has no saved searches; use query")
    status: str | None = None
    acknowledged: bool | None = None
    words = re.sub(r"\s*[:=]\s*", ":", query or "").split()
    for word in words:
        if word.upper() == "AND":
            continue
        term = _TERM.fullmatch(word)
        value = term.group(2).lower() if term else ""
        if term and term.group(1).lower() == "status" and value in ("open", "closed"):
            status = "open" if value == "open" else "resolved"
        elif term and term.group(1).lower() == "acknowledged" and value in ("true", "false"):
            acknowledged = value == "true"
        else:
            raise _invalid("query", f"{word!r} is not understood: {_QUERY_HELP}")
    return status, acknowledged


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(422, "invalid", f"{field}: {message}", problems=[(field, message)])


def _page(request: Request, offset: int, limit: int) -> str:
    return str(request.url.include_query_params(offset=offset, limit=limit))


def _new_id() -> str:
    return str(uuid.uuid4())
