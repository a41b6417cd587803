"""POST /v2/enqueue: PagerDuty's Events API v2, so that anything that pages PagerDuty
(Alertmanager's `pagerduty_configs`, Grafana's PagerDuty contact point, Zabbix's PagerDuty
media type, ...) can page through Pager by changing its URL.

Answers exactly as PagerDuty does, because clients check: 202
`{"status": "success", "message": "Event processed", "dedup_key"}`, or 400
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

from pager.domain.commands import AcknowledgeAlert, ResolveAlert
from pager.domain.incident import MAX_MESSAGE_LENGTH
from pager.domain.text import WHITESPACE
from pager.entrypoints.http.alerting import clean, commit, receive_alert
from pager.entrypoints.http.auth import integration_key
from pager.entrypoints.http.context import Context, context
from pager.entrypoints.http.errors import ApiError
from pager.entrypoints.http.limits import require_json

router = APIRouter(tags=["integrations"])
Ctx = Annotated[Context, Depends(context)]

ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")
MAX_SUMMARY = 1024
MAX_DEDUP_KEY = 255


class EventAccepted(BaseModel):
    status: Literal["success"]
    message: Literal["Event processed"]
    dedup_key: str


class InvalidEvent(BaseModel):
    status: str
    message: str
    errors: list[str]


IGNORED: dict[str, Any] = {"description": "Accepted and ignored."}
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
        "client_url": IGNORED,
        "links": IGNORED,
        "images": IGNORED,
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
                            "component": IGNORED,
                            "group": IGNORED,
                            "class": IGNORED,
                            "custom_details": IGNORED,
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
    responses={
        400: {"model": InvalidEvent, "description": "Invalid event"},
        413: {"model": InvalidEvent, "description": "Request body too large"},
        415: {"model": InvalidEvent, "description": "The body is not JSON"},
        429: {"model": InvalidEvent, "description": "Too many events for this routing key"},
    },
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": EVENT_SCHEMA}}}
    },
    summary="PagerDuty Events API v2",
)
async def enqueue(request: Request, ctx: Ctx) -> JSONResponse:
    require_json(request.headers.get("content-type", ""))
    raw = await request.body()
    try:
        event = json.loads(raw)
    except (ValueError, RecursionError):
        return _invalid(("Event object is not valid JSON",))
    if not isinstance(event, dict):
        return _invalid(("Event object must be a JSON object",))
    try:
        action, key, payload = _parse(event)
    except _Invalid as error:
        return _invalid(error.errors)
    try:
        service_id = await run_in_threadpool(integration_key, ctx, event["routing_key"])
    except ApiError as error:
        if error.status == 429:
            raise
        return _invalid(("Invalid routing key",))
    by = clean(str(event.get("client") or "PagerDuty Events API"), 200)
    if action == "trigger":
        assert payload is not None
        await _trigger(ctx, service_id, key, payload)
    elif action == "acknowledge":
        await commit(ctx, [AcknowledgeAlert(service_id, key, by)])
    else:
        await commit(ctx, [ResolveAlert(service_id, key)])
    return JSONResponse(
        {"status": "success", "message": "Event processed", "dedup_key": key}, status_code=202
    )


def _parse(event: dict[str, Any]) -> tuple[str, str, dict[str, Any] | None]:
    errors: list[str] = []
    routing_key = event.get("routing_key")
    if not isinstance(routing_key, str) or not routing_key.strip():
        errors.append("'routing_key' is missing or blank")
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
    if errors:
        raise _Invalid(*errors)
    assert isinstance(action, str)
    return action, clean(key, MAX_DEDUP_KEY) if key else uuid.uuid4().hex, payload


async def _trigger(ctx: Context, service_id: str, key: str, payload: dict[str, Any]) -> None:
    summary = clean(str(payload["summary"]), MAX_SUMMARY).strip()
    await receive_alert(
        ctx,
        service_id,
        summary[:MAX_MESSAGE_LENGTH] or "alert",
        dedup_key=key,
        severity=str(payload["severity"]),
        source="pagerduty",
    )
