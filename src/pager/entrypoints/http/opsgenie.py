"""Opsgenie's Alert API, the calls that monitoring tools and Opsgenie's SDKs make: create,
acknowledge, unacknowledge, snooze, escalate, close, add note (and Alertmanager's
`update_alerts` calls, accepted and ignored); the reads are in `opsgenie_alerts`. Teams
leaving Opsgenie point their tools' API URL at Pager and use the service's integration key
as the GenieKey.

An Opsgenie alert is a Pager incident: its id is the incident's id, and `alias` is the dedup
key of one of its alerts. Opsgenie answers 202 `{"result": "Request will be processed",
"took", "requestId"}` and does the work later; Pager does it before answering, so errors (an
unknown incident id, say) come back at once, in the same shape plus `error`, and the
request id it answers with carries the outcome, for `GET /v2/alerts/requests/{requestId}`
(`opsgenie_requests`).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from pager.application.queries import IncidentView, OpeningAlert
from pager.domain.commands import (
    Acknowledge,
    AcknowledgeAlert,
    AddNote,
    Escalate,
    Resolve,
    ResolveAlert,
    ServiceCommand,
    Snooze,
    Unacknowledge,
)
from pager.domain.content import (
    MAX_ENTITY,
    MAX_ENTRIES,
    MAX_TAG,
    MAX_TAGS,
    MAX_VALUE,
    AlertContent,
    check_content,
)
from pager.domain.errors import ValidationFailed
from pager.domain.incident import MAX_NOTE_LENGTH
from pager.domain.severity import severity_of
from pager.entrypoints.http.alerting import clean, commit, details, receive_alert, storable
from pager.entrypoints.http.auth import GenieKeyService
from pager.entrypoints.http.context import Context, context
from pager.entrypoints.http.errors import not_found, responses
from pager.entrypoints.http.limits import json_body
from pager.entrypoints.http.opsgenie_requests import RequestOutcome
from pager.entrypoints.http.schedule_schemas import Instant
from pager.entrypoints.http.schemas import INCIDENT_ID_REGEX, NO_NUL, Stated, Storable
from pager.entrypoints.http.schemas import Key as DetailKey

router = APIRouter(prefix="/v2/alerts", tags=["integrations"], dependencies=[Depends(json_body)])
Ctx = Annotated[Context, Depends(context)]
Identifier = Annotated[str, Path(min_length=1, max_length=512)]
IdentifierType = Annotated[
    Literal["id", "alias"],
    Query(
        alias="identifierType",
        description="`id` is Pager's incident id; `alias` the dedup key of one of its open "
        "alerts (or, for an incident whose first alert had none, its id).",
    ),
]
MAX_OPSGENIE_MESSAGE = 130
MAX_ALIAS = 512
ERRORS = responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503)
MISSING = "Alert does not exist"


Tag = Annotated[str, Field(min_length=1, max_length=MAX_TAG), Storable, Stated(NO_NUL)]


class CreateAlert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    message: Annotated[str, Field(min_length=1, max_length=15_000)]
    alias: Annotated[str, Field(min_length=1, max_length=MAX_ALIAS)] | None = None
    description: Annotated[str, Field(max_length=MAX_VALUE)] | None = None
    priority: Literal["P1", "P2", "P3", "P4", "P5"] = "P3"
    details: Annotated[dict[DetailKey, Any], Field(max_length=MAX_ENTRIES)] | None = None
    source: Annotated[str, Field(max_length=MAX_VALUE)] | None = None
    entity: Annotated[str, Field(max_length=MAX_ENTITY)] | None = None
    user: str | None = None
    note: str | None = None
    tags: Annotated[list[Tag], Field(max_length=MAX_TAGS)] | None = None

    def content(self) -> AlertContent:
        """Its details, tags, entity, description and source, kept (never cut: the
        domain refuses what is past its bounds, naming the field)."""
        annotations = (("description", storable(self.description)),) if self.description else ()
        content = AlertContent(
            labels=(("source", storable(self.source)),) if self.source else (),
            annotations=annotations,
            details=details(self.details),
            tags=tuple(storable(tag) for tag in self.tags or ()),
            entity=storable(self.entity) if self.entity else None,
        )
        try:
            check_content(content)
        except ValidationFailed as refused:
            raise refused.renamed(_SENT_AS) from None
        return content


# Opsgenie's names for where the content keeps what it sent.
_SENT_AS = {"annotations.description": "description", "labels.source": "source"}


class AlertAction(BaseModel):
    model_config = ConfigDict(extra="ignore")

    user: str | None = None
    source: str | None = None
    note: str | None = None
    """Opsgenie adds it to the alert's notes; so does Pager, to the incident's timeline."""


class AddNoteBody(AlertAction):
    note: Annotated[str, Field(min_length=1, max_length=MAX_NOTE_LENGTH)]


class SnoozeBody(AlertAction):
    endTime: Instant


class EscalationRef(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    name: str | None = None


class EscalateBody(AlertAction):
    escalation: EscalationRef
    """Which Opsgenie escalation: a Pager service has one policy, whose next level is paged."""


class Accepted(BaseModel):
    result: Literal["Request will be processed"] = "Request will be processed"
    took: float
    requestId: str


def took(request: Request) -> float:
    started: float = request.state.started
    return round(time.monotonic() - started, 3)


def answered(
    ctx: Context,
    request: Request,
    service_id: str,
    action: str,
    status: str,
    reached: tuple[str, str] | None,
) -> Accepted:
    """202, with the request's outcome in its requestId: done (`status`) on the incident
    and alias `reached`, or nothing done (None: no such open alert)."""
    alert_id, alias = reached or ("", "")
    outcome = RequestOutcome(
        service_id,
        action,
        reached is not None,
        status if reached is not None else MISSING,
        alert_id,
        alias,
        ctx.container.clock.now(),
    )
    return Accepted(took=took(request), requestId=ctx.opsgenie_requests.issue(outcome))


@router.post("", status_code=202, responses=ERRORS, summary="Opsgenie: create alert")
async def create_alert(
    body: CreateAlert, service_id: GenieKeyService, ctx: Ctx, request: Request
) -> Accepted:
    """`alias` is the dedup key: a second alert with an open alias changes nothing."""
    message = clean(body.message, MAX_OPSGENIE_MESSAGE).strip()
    if not message:
        message = "alert"
    alias = clean(body.alias, MAX_ALIAS) if body.alias else None
    outcome = await receive_alert(
        ctx,
        service_id,
        message,
        dedup_key=alias,
        severity=severity_of(body.priority),
        source="opsgenie",
        content=body.content(),
    )
    incident_id = outcome.incident_id
    if alias is None:
        opened = outcome.action == "opened"
        alias = incident_id if opened else await run_in_threadpool(alias_of, ctx, incident_id)
    status = "Created alert" if outcome.action == "opened" else "Alert deduplicated"
    return answered(ctx, request, service_id, "Create", status, (incident_id, alias))


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
    """By alias: the incident on which that alert is firing, if any (else nothing is done,
    and the request's status says so)."""
    by = _by(body)
    target = await _target(ctx, service_id, identifier, identifier_type)
    if isinstance(target, Key):
        command: ServiceCommand = AcknowledgeAlert(service_id, target.alias, by)
    else:
        command = Acknowledge(service_id, target, by)
    reached = await _act(ctx, command, target, body)
    return answered(ctx, request, service_id, "Acknowledge", "Acknowledged alert", reached)


@router.post(
    "/{identifier}/unacknowledge",
    status_code=202,
    responses=ERRORS,
    summary="Opsgenie: unacknowledge alert",
)
async def unacknowledge_alert(
    identifier: Identifier,
    service_id: GenieKeyService,
    ctx: Ctx,
    request: Request,
    identifier_type: IdentifierType = "id",
    body: AlertAction | None = None,
) -> Accepted:
    """The incident is triggered again, and its escalation resumes from its current level
    (that level's ack timeout runs again from now). A resolved incident is a 409."""
    incident_id = await _incident(ctx, service_id, identifier, identifier_type)
    command = Unacknowledge(service_id, incident_id, _by(body))
    reached = await _act(ctx, command, incident_id, body)
    return answered(ctx, request, service_id, "UnAcknowledge", "Unacknowledged alert", reached)


@router.post(
    "/{identifier}/snooze", status_code=202, responses=ERRORS, summary="Opsgenie: snooze alert"
)
async def snooze_alert(
    identifier: Identifier,
    body: SnoozeBody,
    service_id: GenieKeyService,
    ctx: Ctx,
    request: Request,
    identifier_type: IdentifierType = "id",
) -> Accepted:
    """Acknowledged until `endTime` (at most 7 days ahead), then triggered again from level 1
    of the next round. A resolved incident is a 409."""
    incident_id = await _incident(ctx, service_id, identifier, identifier_type)
    command = Snooze(service_id, incident_id, body.endTime, _by(body))
    reached = await _act(ctx, command, incident_id, body)
    return answered(ctx, request, service_id, "Snooze", "Snoozed alert", reached)


@router.post(
    "/{identifier}/escalate",
    status_code=202,
    responses=ERRORS,
    summary="Opsgenie: escalate alert to next",
)
async def escalate_alert(
    identifier: Identifier,
    body: EscalateBody,
    service_id: GenieKeyService,
    ctx: Ctx,
    request: Request,
    identifier_type: IdentifierType = "id",
) -> Accepted:
    """The next level of the service's policy now (`escalation` names Opsgenie's; a service
    has one). A 409 once every level has been paged, or when the incident is resolved."""
    incident_id = await _incident(ctx, service_id, identifier, identifier_type)
    command = Escalate(service_id, incident_id, _by(body))
    reached = await _act(ctx, command, incident_id, body)
    return answered(ctx, request, service_id, "EscalateToNext", "Escalated alert", reached)


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
    target = await _target(ctx, service_id, identifier, identifier_type)
    if isinstance(target, Key):
        command: ServiceCommand = ResolveAlert(service_id, target.alias)
    else:
        command = Resolve(service_id, target, _by(body))
    reached = await _act(ctx, command, target, body)
    return answered(ctx, request, service_id, "Close", "Closed alert", reached)


@router.post("/{identifier}/notes", status_code=202, responses=ERRORS, summary="Opsgenie: add note")
async def add_note(
    identifier: Identifier,
    body: AddNoteBody,
    service_id: GenieKeyService,
    ctx: Ctx,
    request: Request,
    identifier_type: IdentifierType = "id",
) -> Accepted:
    """On the incident's timeline; an incident takes notes after it is resolved, too."""
    incident_id = await _incident(ctx, service_id, identifier, identifier_type)
    await commit(ctx, [_note(service_id, incident_id, body.note, body)])
    reached = (incident_id, await run_in_threadpool(alias_of, ctx, incident_id))
    return answered(ctx, request, service_id, "AddNote", "Added note", reached)


@router.put(
    "/{identifier}/message",
    status_code=202,
    responses=ERRORS,
    summary="Opsgenie: update message (accepted, ignored)",
)
def update_message(
    identifier: Identifier,
    service_id: GenieKeyService,
    ctx: Ctx,
    request: Request,
    _identifier_type: IdentifierType = "id",
) -> Accepted:
    """Alertmanager's `update_alerts` sends this after each create; an incident keeps the
    message of its first alert."""
    status = "Message kept: an incident keeps its first alert's message"
    return answered(ctx, request, service_id, "UpdateMessage", status, ("", ""))


@router.put(
    "/{identifier}/description",
    status_code=202,
    responses=ERRORS,
    summary="Opsgenie: update description (accepted, ignored)",
)
def update_description(
    identifier: Identifier,
    service_id: GenieKeyService,
    ctx: Ctx,
    request: Request,
    _identifier_type: IdentifierType = "id",
) -> Accepted:
    status = "Description kept as it was: an alert keeps the description it was created with"
    return answered(ctx, request, service_id, "UpdateDescription", status, ("", ""))


# -- finding the incident an identifier names, within the caller's service


@dataclass(frozen=True, slots=True)
class Key:
    """An alias to act on by key: the dedup key of an alert that may be firing."""

    alias: str


async def _target(
    ctx: Context, service_id: str, identifier: str, identifier_type: str
) -> str | Key:
    """By id, the incident's id (404 unless it is one of the service's incidents). By alias,
    the key to act on by key, or the id of the open incident whose id the alias is (its
    first alert had no alias, so the request status gave its id as the alias)."""
    if identifier_type == "id":
        await run_in_threadpool(check_owner, ctx, service_id, identifier)
        return identifier
    alias = clean(identifier, MAX_ALIAS)
    incident = await run_in_threadpool(open_incident_by_alias, ctx, service_id, alias)
    if incident is not None and alias not in incident.dedup_keys:
        return incident.id
    return Key(alias)


async def _incident(ctx: Context, service_id: str, identifier: str, identifier_type: str) -> str:
    """The id of the incident the identifier names; by alias, an open one (else 404)."""
    if identifier_type == "id":
        await run_in_threadpool(check_owner, ctx, service_id, identifier)
        return identifier
    alias = clean(identifier, MAX_ALIAS)
    incident = await run_in_threadpool(open_incident_by_alias, ctx, service_id, alias)
    if incident is None:
        raise not_found(f"{MISSING}: no open alert has the alias {alias!r}")
    return incident.id


async def _act(
    ctx: Context, command: ServiceCommand, target: str | Key, body: AlertAction | None
) -> tuple[str, str] | None:
    """Commit `command` (and the body's note, if any, once the incident is known); the
    incident and alias it reached, or None for an alias firing on no open incident."""
    note = body.note if body is not None else None
    if isinstance(target, Key):
        outcome, *_ = await commit(ctx, [command])
        incident = outcome.before.incident
        if incident is None or target.alias not in incident.open_keys:
            return None
        if note:
            await commit(ctx, [_note(command.service_id, incident.id, note, body)])
        return incident.id, target.alias
    notes = [_note(command.service_id, target, note, body)] if note else []
    await commit(ctx, [command, *notes])
    return target, await run_in_threadpool(alias_of, ctx, target)


def _note(service_id: str, incident_id: str, text: str, body: AlertAction | None) -> AddNote:
    return AddNote(service_id, incident_id, clean(text, MAX_NOTE_LENGTH), _by(body))


def _by(body: AlertAction | None) -> str:
    user = body.user if body is not None else None
    return clean(user, 200) if user else "opsgenie"


def check_owner(ctx: Context, service_id: str, incident_id: str) -> None:
    """An integration key reaches only its own service's incidents (others look absent)."""
    well_formed = re.fullmatch(INCIDENT_ID_REGEX, incident_id) is not None
    if not well_formed or ctx.queries.incident_service(incident_id) != service_id:
        raise not_found(f"{MISSING}: no incident {incident_id!r}")


def open_incident_by_alias(ctx: Context, service_id: str, alias: str) -> IncidentView | None:
    """The service's open incident, if an alert with this alias is firing on it, or the
    alias is its id."""
    service = ctx.queries.service(service_id)
    incident = service.open_incident if service is not None else None
    if incident is not None and (alias in incident.dedup_keys or alias == incident.id):
        return incident
    return None


def alias_of(ctx: Context, incident_id: str) -> str:
    return alert_alias(incident_id, ctx.queries.opening_alerts([incident_id]).get(incident_id))


def alert_alias(incident_id: str, opening: OpeningAlert | None) -> str:
    """An incident's alias: its first alert's dedup key, or its id if that had none."""
    return (opening.dedup_key if opening else None) or incident_id
