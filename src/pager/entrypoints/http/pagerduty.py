"""PagerDuty's Events API v2, so that anything that pages PagerDuty (Alertmanager's
`pagerduty_configs`, Grafana's PagerDuty contact point, Zabbix's PagerDuty media type,
PagerDuty's own clients, ...) can page through Pager by changing its URL: `POST /v2/enqueue`
(alert events) and `POST /v2/change/enqueue` (change events, recorded on the service's
timeline; they page nobody).

Answers exactly as PagerDuty does, because clients check: 202
`{"status": "success", "message": "Event processed", "dedup_key"}` (a change event:
`{"status": "success", "message": "Change event processed"}`), or 400
`{"status": "invalid event", "message", "errors": [...]}` (Zabbix shows `errors[0]`).
The routing key is the service's integration key; an unknown one is an invalid event.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from pager.domain.commands import AcknowledgeAlert, ReportChange, ResolveAlert
from pager.domain.content import MAX_ENTRIES, MAX_KEY, NO_CONTENT, AlertContent, check_content
from pager.domain.content import MAX_LINKS as MAX_CONTENT_LINKS
from pager.domain.errors import ValidationFailed
from pager.domain.events import ChangeLink
from pager.domain.incident import MAX_MESSAGE_LENGTH
from pager.domain.severity import SEVERITIES, severity_of
from pager.domain.text import WHITESPACE
from pager.entrypoints.http.alerting import (
    clean,
    commit,
    detail_text,
    details,
    receive_alert,
    storable,
)
from pager.entrypoints.http.auth import integration_key
from pager.entrypoints.http.context import Context, context
from pager.entrypoints.http.errors import ApiError
from pager.entrypoints.http.limits import require_json

router = APIRouter(tags=["integrations"])
Ctx = Annotated[Context, Depends(context)]

ACTIONS = ("trigger", "acknowledge", "resolve")
MAX_SUMMARY = 1024
MAX_DEDUP_KEY = 255
MAX_LINKS = 20
MAX_DETAILS = 100
MAX_FIELD = 2048


class EventAccepted(BaseModel):
    status: Literal["success"]
    message: Literal["Event processed"]
    dedup_key: str


class ChangeAccepted(BaseModel):
    status: Literal["success"]
    message: Literal["Change event processed"]


class InvalidEvent(BaseModel):
    status: str
    message: str
    errors: list[str]


IGNORED: dict[str, Any] = {"description": "Accepted and ignored."}
KEPT_LABEL: dict[str, Any] = {"description": "Kept as a label of the alert, as `source` is."}
NOT_BLANK = f"[^{WHITESPACE}]"  # what `.strip()` leaves something of
EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["routing_key", "event_action"],
    "properties": {
        "routing_key": {
            "type": "string",
            "pattern": NOT_BLANK,
            "description": "The service's integration key; another is a 400.",
        },
        "event_action": {"type": "string", "enum": list(ACTIONS)},
        "dedup_key": {
            "type": ["string", "null"],
            "minLength": 1,
            "maxLength": MAX_DEDUP_KEY,
            "pattern": NOT_BLANK,
            "description": "Required to acknowledge or resolve; made up for a trigger without.",
        },
        "payload": {"description": "Required to trigger; ignored otherwise."},
        "client": {"description": "Who sent it (any JSON value, shown as text)."},
        "client_url": {
            "type": ["string", "null"],
            "description": "Kept as the alert's source link.",
        },
        "links": {
            "type": ["array", "null"],
            "description": f"At most {MAX_CONTENT_LINKS} `{{href, text}}`: kept with the alert.",
        },
        "images": {
            "type": ["array", "null"],
            "description": f"At most {MAX_CONTENT_LINKS} `{{src, href, alt}}`: kept.",
        },
    },
    # What each action needs: checked by the endpoint, stated here.
    "allOf": [
        {
            "if": {"properties": {"event_action": {"const": "trigger"}}},
            "then": {
                "required": ["payload"],
                "properties": {
                    "payload": {
                        "type": "object",
                        "required": ["summary", "source", "severity"],
                        "properties": {
                            "summary": {
                                "type": "string",
                                "pattern": NOT_BLANK,
                                "description": f"Cut to {MAX_SUMMARY} characters.",
                            },
                            "source": {"type": "string", "pattern": NOT_BLANK},
                            "severity": {"type": "string", "enum": list(SEVERITIES)},
                            "timestamp": IGNORED,
                            "component": KEPT_LABEL,
                            "group": KEPT_LABEL,
                            "class": KEPT_LABEL,
                            "custom_details": {
                                "description": f"Kept: at most {MAX_ENTRIES} entries, values "
                                "that are not text as compact JSON.",
                                "maxProperties": MAX_ENTRIES,
                                "propertyNames": {"minLength": 1, "maxLength": MAX_KEY},
                            },
                        },
                    }
                },
            },
        },
        {
            "if": {"properties": {"event_action": {"enum": ["acknowledge", "resolve"]}}},
            "then": {"required": ["dedup_key"], "properties": {"dedup_key": {"type": "string"}}},
        },
    ],
}


CHANGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["routing_key", "payload"],
    "properties": {
        "routing_key": {
            "type": "string",
            "pattern": NOT_BLANK,
            "description": "The service's integration key; another is a 400.",
        },
        "payload": {
            "type": "object",
            "required": ["summary"],
            "properties": {
                "summary": {
                    "type": "string",
                    "pattern": NOT_BLANK,
                    "description": f"Cut to {MAX_SUMMARY} characters.",
                },
                "source": {"type": ["string", "null"]},
                "timestamp": {"type": ["string", "null"]},
                "custom_details": {"type": ["object", "null"]},
            },
        },
        "links": {
            "type": ["array", "null"],
            "items": {
                "type": "object",
                "required": ["href"],
                "properties": {"href": {"type": "string"}, "text": IGNORED},
            },
        },
    },
}
ANSWERS: dict[int | str, dict[str, Any]] = {
    400: {"model": InvalidEvent, "description": "Invalid event"},
    413: {"model": InvalidEvent, "description": "Request body too large"},
    415: {"model": InvalidEvent, "description": "The body is not JSON"},
    429: {"model": InvalidEvent, "description": "Too many events for this routing key"},
}


class _Invalid(Exception):
    def __init__(self, *errors: str) -> None:
        super().__init__(errors)
        self.errors = errors


def _invalid(errors: tuple[str, ...]) -> JSONResponse:
    body = {"status": "invalid event", "message": "Event object is invalid", "errors": list(errors)}
    return JSONResponse(body, status_code=400)


def _string(event: dict[str, Any], field: str, where: str = "") -> str | None:
    value = event.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Invalid(f"'{where}{field}' must be a string")
    return value


@router.post(
    "/v2/enqueue",
    status_code=202,
    response_model=EventAccepted,
    responses=ANSWERS,
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": EVENT_SCHEMA}}}
    },
    summary="PagerDuty Events API v2",
)
async def enqueue(request: Request, ctx: Ctx) -> JSONResponse:
    try:
        event = await _event(request)
        action, key, payload = _parse(event)
        content = _content(event) if action == "trigger" else NO_CONTENT
        service_id = await _routing_key(ctx, event["routing_key"])
    except _Invalid as error:
        return _invalid(error.errors)
    by = clean(str(event.get("client") or "PagerDuty Events API"), 200)
    if action == "trigger":
        assert payload is not None
        await _trigger(ctx, service_id, key, payload, content)
    elif action == "acknowledge":
        await commit(ctx, [AcknowledgeAlert(service_id, key, by)])
    else:
        await commit(ctx, [ResolveAlert(service_id, key)])
    return JSONResponse(
        {"status": "success", "message": "Event processed", "dedup_key": key}, status_code=202
    )


@router.post(
    "/v2/change/enqueue",
    status_code=202,
    response_model=ChangeAccepted,
    responses=ANSWERS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": CHANGE_SCHEMA}},
        }
    },
    summary="PagerDuty Events API v2: change events",
)
async def change_enqueue(request: Request, ctx: Ctx) -> JSONResponse:
    """A change to the service (a deploy, a configuration change), recorded on its event
    stream (`GET /api/v1/services/{id}/events`); it pages nobody."""
    try:
        event = await _event(request)
        change = _parse_change(event)
        service_id = await _routing_key(ctx, event["routing_key"])
    except _Invalid as error:
        return _invalid(error.errors)
    await commit(ctx, [ReportChange(service_id, *change, by="pagerduty")])
    return JSONResponse({"status": "success", "message": "Change event processed"}, status_code=202)


async def _event(request: Request) -> dict[str, Any]:
    """The body as a JSON object: 415 if it says it is something else, else an invalid event."""
    require_json(request.headers.get("content-type", ""))
    raw = await request.body()
    try:
        event = json.loads(raw)
    except (ValueError, RecursionError):
        raise _Invalid("Event object is not valid JSON") from None
    if not isinstance(event, dict):
        raise _Invalid("Event object must be a JSON object")
    return event


async def _routing_key(ctx: Context, routing_key: str) -> str:
    """The routing key's service; past its rate, 429 (PagerDuty's "throttle event")."""
    try:
        return await run_in_threadpool(integration_key, ctx, routing_key)
    except ApiError as error:
        if error.status == 429:
            raise
        raise _Invalid("Invalid routing key") from None


def _routing_key_problem(event: dict[str, Any]) -> list[str]:
    routing_key = event.get("routing_key")
    if not isinstance(routing_key, str) or not routing_key.strip():
        return ["'routing_key' is missing or blank"]
    return []


def _parse(event: dict[str, Any]) -> tuple[str, str, dict[str, Any] | None]:
    errors = _routing_key_problem(event)
    action = event.get("event_action")
    if action not in ACTIONS:
        errors.append("'event_action' must be one of trigger, acknowledge, resolve")
    key = _string(event, "dedup_key")
    if key is not None and (not key.strip() or len(key) > MAX_DEDUP_KEY):
        errors.append(f"'dedup_key' must be 1 to {MAX_DEDUP_KEY} characters")
    if action in ("acknowledge", "resolve") and not key:
        errors.append(f"'dedup_key' is required to {action}")
    payload = event.get("payload")
    if action == "trigger":
        if not isinstance(payload, dict):
            errors.append("'payload' is missing or not an object")
        else:
            summary = _string(payload, "summary", "payload.")
            source = _string(payload, "source", "payload.")
            if not summary or not summary.strip():
                errors.append("'payload.summary' is missing or blank")
            if not source or not source.strip():
                errors.append("'payload.source' is missing or blank")
            if payload.get("severity") not in SEVERITIES:
                errors.append("'payload.severity' must be one of " + ", ".join(SEVERITIES))
    for name in ("links", "images"):
        if event.get(name) is not None and not isinstance(event[name], list):
            errors.append(f"'{name}' must be a list")
    if event.get("client_url") is not None and not isinstance(event["client_url"], str):
        errors.append("'client_url' must be a string")
    if errors:
        raise _Invalid(*errors)
    assert isinstance(action, str)
    return action, clean(key, MAX_DEDUP_KEY) if key else uuid.uuid4().hex, payload


async def _trigger(
    ctx: Context, service_id: str, key: str, payload: dict[str, Any], content: AlertContent
) -> None:
    summary = clean(str(payload["summary"]), MAX_SUMMARY).strip()
    await receive_alert(
        ctx,
        service_id,
        summary[:MAX_MESSAGE_LENGTH] or "alert",
        dedup_key=key,
        severity=severity_of(str(payload["severity"])),
        source="pagerduty",
        content=content,
    )


# The event's names for the content's fields.
_SENT_AS = {
    "labels": "payload",
    "details": "payload.custom_details",
    "links": "links",
    "images": "images",
    "source_url": "client_url",
    "content": "event",
}


def _content(event: dict[str, Any]) -> AlertContent:
    """What a trigger says beside its summary: the payload's source, component, group and
    class as labels, its custom details, the event's links and images; an invalid event
    past the bounds (nothing is cut)."""
    payload = event["payload"]
    labels = tuple(
        (name, detail_text(payload[name]))
        for name in ("source", "component", "group", "class")
        if payload.get(name) not in (None, "")
    )
    custom = payload.get("custom_details")
    client_url = event.get("client_url")
    content = AlertContent(
        labels=labels,
        details=details(custom) if isinstance(custom, dict) else _one_detail(custom),
        links=_links(event.get("links"), "href", "text"),
        images=_links(event.get("images"), "src", "alt"),
        source_url=storable(client_url) if isinstance(client_url, str) and client_url else None,
    )
    try:
        check_content(content, _SENT_AS)
    except ValidationFailed as refused:
        raise _Invalid(*(f"'{where}' {what}" for where, what in refused.problems)) from None
    return content


def _one_detail(value: Any) -> tuple[tuple[str, str], ...]:
    """custom_details that are not an object (PagerDuty takes a string too)."""
    return () if value is None else (("details", detail_text(value)),)


def _links(value: Any, href: str, text: str) -> tuple[ChangeLink, ...]:
    """The links (or images) that have an address; the others are not links."""
    if not isinstance(value, list):
        return ()
    return tuple(
        ChangeLink(
            storable(item[href]),
            storable(item[text]) if isinstance(item.get(text), str) else None,
        )
        for item in value
        if isinstance(item, dict) and isinstance(item.get(href), str) and item[href]
    )


ChangeFields = tuple[
    str, str | None, str | None, tuple[ChangeLink, ...], tuple[tuple[str, str], ...]
]


def _parse_change(event: dict[str, Any]) -> ChangeFields:
    """Summary, source, timestamp, links and details, made storable; what cannot be read is
    an invalid event, naming each problem."""
    errors = _routing_key_problem(event)
    payload = event.get("payload")
    if not isinstance(payload, dict):
        raise _Invalid(*errors, "'payload' is missing or not an object")
    summary = source = timestamp = None
    try:
        summary = _string(payload, "summary", "payload.")
        if not summary or not summary.strip():
            errors.append("'payload.summary' is missing or blank")
        source = _string(payload, "source", "payload.")
        timestamp = _string(payload, "timestamp", "payload.")
    except _Invalid as invalid:
        errors.extend(invalid.errors)
    details = payload.get("custom_details")
    if details is not None and not isinstance(details, dict):
        errors.append("'payload.custom_details' must be an object")
    links = event.get("links")
    if links is not None and not (
        isinstance(links, list)
        and all(isinstance(link, dict) and isinstance(link.get("href"), str) for link in links)
    ):
        errors.append("'links' must be a list of objects, each with an 'href' string")
    if errors:
        raise _Invalid(*errors)
    assert summary is not None
    return (
        clean(summary, MAX_SUMMARY),
        clean(source, MAX_FIELD) if source else None,
        clean(timestamp, 64) if timestamp else None,
        tuple(_link(link) for link in (links or ())[:MAX_LINKS]),
        tuple(
            (clean(str(name), 200), clean(_text(value), MAX_FIELD))
            for name, value in list((details or {}).items())[:MAX_DETAILS]
        ),
    )


def _link(link: dict[str, Any]) -> ChangeLink:
    text = link.get("text")
    return ChangeLink(
        clean(link["href"], MAX_FIELD), clean(text, MAX_FIELD) if isinstance(text, str) else None
    )


def _text(value: Any) -> str:
    """A detail's value as text: strings as they are, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
