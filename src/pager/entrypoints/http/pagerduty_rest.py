"""A small part of PagerDuty's REST API v2, for incidents, so that scripts written against
it (`pagerduty.RestApiV2Client`, say) work against Pager by changing their base URL to
`<Pager>/pagerduty`: read an incident, acknowledge, resolve, escalate or reassign it
(`PUT /incidents/{id}`), snooze it, add and read its notes.

Callers send a user's API token as `Authorization: Token token=<API token>` (the same
tokens Pager's own API takes as `Bearer`); the acting user is the token's (PagerDuty's
`From` header is ignored). Every action goes through the commands Pager's own API commits
(`incidents`), and errors come back in PagerDuty's shape (`errors.render`):
`{"error": {"message", "code", "errors"}}`, with input PagerDuty refuses answered 400.

PagerDuty's REST API cannot un-acknowledge (a PUT acknowledges or resolves): that is
Pager's `POST /api/v1/incidents/{id}/unacknowledge`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from pager.application.handlers import Outcome
from pager.application.queries import IncidentDetail, TimelineEntry
from pager.domain.commands import (
    Acknowledge,
    AddNote,
    Escalate,
    Reassign,
    Resolve,
    ServiceCommand,
    Snooze,
)
from pager.domain.errors import ValidationFailed
from pager.domain.events import NoteAdded
from pager.domain.incident import MAX_SNOOZE
from pager.domain.policy import UserTarget
from pager.entrypoints.http.action_schemas import NoteText
from pager.entrypoints.http.alerting import commit_blocking
from pager.entrypoints.http.auth import Caller, identify
from pager.entrypoints.http.context import Context, context
from pager.entrypoints.http.errors import ApiError, forbidden, not_found, unauthorized
from pager.entrypoints.http.limits import json_body
from pager.entrypoints.http.schemas import INCIDENT_ID_REGEX

token_scheme = APIKeyHeader(
    name="Authorization",
    auto_error=False,
    scheme_name="PagerDutyToken",
    description="`Token token=<API token>`, as PagerDuty's REST API clients send it.",
)
router = APIRouter(prefix="/pagerduty", tags=["pagerduty"], dependencies=[Depends(json_body)])
Ctx = Annotated[Context, Depends(context)]
IncidentId = Annotated[str, Path(pattern=INCIDENT_ID_REGEX)]
MAX_SNOOZE_SECONDS = int(MAX_SNOOZE.total_seconds())


async def _token_user(ctx: Ctx, header: Annotated[str | None, Depends(token_scheme)]) -> Caller:
    """The user whose API token `Token token=<token>` is (a 401 for none or another)."""
    scheme, _, rest = (header or "").strip().partition(" ")
    name, _, token = rest.strip().partition("=")
    if scheme.lower() != "token" or name.strip().lower() != "token":
        raise unauthorized("use `Authorization: Token token=<API token>`")
    caller = identify(ctx, token.strip())
    if caller.user is None:
        raise forbidden("this API takes a user's API token, not an integration key")
    return caller


TokenUser = Annotated[Caller, Depends(_token_user)]


# -- what it takes


class _Body(BaseModel):
    # Strict (`true` is not 1), and lenient about what else PagerDuty's objects carry.
    model_config = ConfigDict(extra="ignore", strict=True)


def _no_unacknowledging(value: object) -> object:
    if value == "triggered":
        raise PydanticCustomError(
            "unacknowledge",
            "must be acknowledged or resolved: PagerDuty's REST API cannot un-acknowledge; "
            "use Pager's POST /api/v1/incidents/{id}/unacknowledge",
        )
    return value


Status = Annotated[Literal["acknowledged", "resolved"], BeforeValidator(_no_unacknowledging)]


class UserReference(_Body):
    id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    type: Literal["user_reference", "user"] = Field(
        description="Pager assigns to users only (not escalation policies)."
    )


class Assignment(_Body):
    assignee: UserReference


class IncidentChange(_Body):
    type: Literal["incident", "incident_reference"] | None = None
    status: Status | None = Field(
        default=None,
        description="`acknowledged` or `resolved`. To trigger an acknowledged incident "
        "again, use Pager's `POST /api/v1/incidents/{id}/unacknowledge`.",
    )
    escalation_level: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="The incident's next level (its `escalation_level` + 1): paged now. "
        "Pager escalates to the next level only; another is a 400.",
    )
    assignments: Annotated[list[Assignment], Field(min_length=1, max_length=1)] | None = Field(
        default=None,
        description="One user (by the `id` Pager's `/api/v1/users` gives): paged now.",
    )


class UpdateIncident(_Body):
    incident: IncidentChange


class NoteContent(_Body):
    content: NoteText


class CreateNote(_Body):
    note: NoteContent


class SnoozeIncident(_Body):
    duration: Annotated[int, Field(ge=1, le=MAX_SNOOZE_SECONDS)] = Field(
        description="Seconds: acknowledged until then, then triggered again from level 1 "
        f"of the next round. At most {MAX_SNOOZE.days} days."
    )


# -- what it answers


class Reference(BaseModel):
    id: str
    type: str
    summary: str


class IncidentOut(BaseModel):
    id: str
    type: Literal["incident"] = "incident"
    summary: str
    title: str
    status: Literal["triggered", "acknowledged", "resolved"]
    urgency: Literal["high", "low"]
    escalation_level: int
    created_at: datetime
    resolved_at: datetime | None
    html_url: str
    self_url: str = Field(serialization_alias="self")
    service: Reference


class IncidentAnswer(BaseModel):
    incident: IncidentOut


class NoteOut(BaseModel):
    id: str
    user: Reference | None = Field(description="None when no Pager user wrote it.")
    content: str
    created_at: datetime


class NoteAnswer(BaseModel):
    note: NoteOut


class NoteList(BaseModel):
    notes: list[NoteOut]


class PagerDutyErrorDetail(BaseModel):
    message: str
    code: int
    errors: list[str]


class PagerDutyError(BaseModel):
    error: PagerDutyErrorDetail


def _answers(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": PagerDutyError} for status in statuses}


READ_ERRORS = _answers(400, 401, 403, 404, 429, 503)
ERRORS = _answers(400, 401, 403, 404, 413, 415, 429, 503)


# -- the endpoints


@router.get("/incidents/{incident_id}", responses=READ_ERRORS, summary="PagerDuty: get an incident")
def get_incident(incident_id: IncidentId, _caller: TokenUser, ctx: Ctx) -> IncidentAnswer:
    return IncidentAnswer(incident=_incident(ctx, _detail(ctx, incident_id)))


@router.put("/incidents/{incident_id}", responses=ERRORS, summary="PagerDuty: update an incident")
def update_incident(
    incident_id: IncidentId, body: UpdateIncident, caller: TokenUser, ctx: Ctx
) -> IncidentAnswer:
    """`escalation_level` (the next one) escalates, `assignments` reassigns, `status`
    acknowledges or resolves, each as Pager's own API does it: one of them a request, so
    that a refusal never leaves half of a request done."""
    service_id = ctx.handlers.service_of(incident_id)
    change, by = body.incident, caller.name
    given = [
        name
        for name in ("status", "escalation_level", "assignments")
        if getattr(change, name) is not None
    ]
    if len(given) > 1:
        raise _invalid(
            "incident", f"must change one of status, escalation_level and assignments, not {given}"
        )
    commands: list[ServiceCommand] = []
    if change.escalation_level is not None:
        level, following = _next_level(ctx, _detail(ctx, incident_id))
        if change.escalation_level != following:
            raise _invalid(
                "incident.escalation_level",
                f"must be {following}: the incident is at level {level}, and Pager escalates "
                "to the next level only",
            )
        commands.append(Escalate(service_id, incident_id, by))
    if change.assignments is not None:
        [assignment] = change.assignments
        email = _user_email(ctx, assignment.assignee.id)
        commands.append(Reassign(service_id, incident_id, UserTarget(email), by))
    if change.status == "acknowledged":
        commands.append(Acknowledge(service_id, incident_id, by))
    elif change.status == "resolved":
        commands.append(Resolve(service_id, incident_id, by))
    if commands:
        commit_blocking(ctx, commands)
    return IncidentAnswer(incident=_incident(ctx, _detail(ctx, incident_id)))


@router.post(
    "/incidents/{incident_id}/snooze",
    status_code=201,
    responses=ERRORS,
    summary="PagerDuty: snooze an incident",
)
def snooze_incident(
    incident_id: IncidentId, body: SnoozeIncident, caller: TokenUser, ctx: Ctx
) -> IncidentAnswer:
    """Pager's snooze: acknowledged until `duration` from now (a resolved incident is a
    400)."""
    service_id = ctx.handlers.service_of(incident_id)
    until = ctx.container.clock.now() + timedelta(seconds=body.duration)
    _commit(ctx, [Snooze(service_id, incident_id, until, caller.name)], {"until": "duration"})
    return IncidentAnswer(incident=_incident(ctx, _detail(ctx, incident_id)))


@router.get(
    "/incidents/{incident_id}/notes",
    responses=READ_ERRORS,
    summary="PagerDuty: list an incident's notes",
)
def list_notes(incident_id: IncidentId, _caller: TokenUser, ctx: Ctx) -> NoteList:
    """The notes on the incident's timeline, oldest first."""
    detail = _detail(ctx, incident_id)
    users = _users_by_email(ctx)
    return NoteList(notes=[_note(detail, number, entry, users) for number, entry in _notes(detail)])


@router.post(
    "/incidents/{incident_id}/notes",
    status_code=201,
    responses=ERRORS,
    summary="PagerDuty: create a note on an incident",
)
def create_note(
    incident_id: IncidentId, body: CreateNote, caller: TokenUser, ctx: Ctx
) -> NoteAnswer:
    """On the incident's timeline, open or resolved; it pages nobody."""
    service_id = ctx.handlers.service_of(incident_id)
    command = AddNote(service_id, incident_id, body.note.content, caller.name)
    [outcome] = _commit(ctx, [command], {"text": "note.content"})
    [added] = [event for event in outcome.events if isinstance(event, NoteAdded)]
    detail = _detail(ctx, incident_id)
    number, entry = [
        (number, entry)
        for number, entry in _notes(detail)
        if (entry.at, entry.data.get("by")) == (added.at, added.by)
    ][-1]
    return NoteAnswer(note=_note(detail, number, entry, _users_by_email(ctx)))


# -- helpers


def _commit(
    ctx: Context, commands: Sequence[ServiceCommand], sent_as: Mapping[str, str]
) -> list[Outcome]:
    """`commit_blocking`, with the domain's names for refused fields made the body's."""
    try:
        return commit_blocking(ctx, commands)
    except ValidationFailed as refused:
        raise refused.renamed(sent_as) from None


def _invalid(field: str, problem: str) -> ApiError:
    return ApiError(400, "invalid", f"{field} {problem}", problems=((field, problem),))


def _detail(ctx: Context, incident_id: str) -> IncidentDetail:
    detail = ctx.queries.incident(incident_id)
    if detail is None:
        raise not_found(f"incident {incident_id!r} does not exist")
    return detail


def _next_level(ctx: Context, detail: IncidentDetail) -> tuple[int, int]:
    """The incident's level, and the level escalating pages: the next, or after the last
    level, level 1 (of the next round, if the policy repeats; else Pager refuses, saying
    every level was paged)."""
    level = detail.incident.level
    service = ctx.queries.service(detail.incident.service)
    policy = ctx.queries.policy(service.escalation_policy) if service is not None else None
    levels = len(policy.policy.levels) if policy is not None else level + 1
    return level, level + 1 if level < levels else 1


def _user_email(ctx: Context, user_id: str) -> str:
    user = ctx.accounts.user_by_id(user_id)
    if user is None:
        raise _invalid("incident.assignments.0.assignee.id", f"names no Pager user: {user_id!r}")
    return user.email


def _users_by_email(ctx: Context) -> dict[str, str]:
    return {user.email: user.id for user in ctx.accounts.users()}


def _incident(ctx: Context, detail: IncidentDetail) -> IncidentOut:
    view = detail.incident
    base = ctx.container.settings.links_url
    service = ctx.queries.service(view.service)
    status = view.status
    assert status in ("triggered", "acknowledged", "resolved")
    return IncidentOut(
        id=view.id,
        summary=view.message,
        title=view.message,
        status=status,
        urgency=view.urgency,
        escalation_level=view.level,
        created_at=view.opened_at,
        resolved_at=view.resolved_at,
        html_url=f"{base}/incidents/{view.id}",
        self_url=f"{base}/pagerduty/incidents/{view.id}",
        service=Reference(
            id=view.service,
            type="service_reference",
            summary=service.name if service is not None else view.service,
        ),
    )


def _notes(detail: IncidentDetail) -> list[tuple[int, TimelineEntry]]:
    """The incident's notes, numbered from 1 in the order they were added."""
    entries = [entry for entry in detail.timeline if entry.type == "NoteAdded"]
    return list(enumerate(sorted(entries, key=lambda entry: entry.at), start=1))


def _note(
    detail: IncidentDetail, number: int, entry: TimelineEntry, users: Mapping[str, str]
) -> NoteOut:
    by = str(entry.data.get("by", ""))
    user_id = users.get(by)
    user = None if user_id is None else Reference(id=user_id, type="user_reference", summary=by)
    return NoteOut(
        id=f"{detail.incident.id}.{number}",
        user=user,
        content=str(entry.data.get("text", "")),
        created_at=entry.at,
    )
