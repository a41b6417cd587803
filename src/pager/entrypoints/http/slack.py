"""`POST /integrations/slack/actions`: the Slack app's interactivity request URL, where Slack
posts the presses of the Acknowledge / Resolve / Escalate buttons on Pager's pages.

Every request is verified first, with `slack_sdk`'s own check of Slack's `v0` signature
(the signing secret, and a timestamp within 5 minutes, so a replay is refused): anything
else is a 403 and changes nothing. A press acts as the Pager user whose email is the Slack
user's, or else is recorded as that Slack user, through group commit like every command;
it is committed before Slack is answered, and the message is updated afterwards (Slack wants
its answer within 3 s, and chat.update need not hold it up).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from slack_sdk.signature import Clock as SlackClock
from slack_sdk.signature import SignatureVerifier
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from pager.adapters.notify.slack_app import SlackApiFailed, SlackWebApi, incident_message
from pager.application.accounts import UserNotFound
from pager.application.ports import Clock
from pager.domain.commands import Acknowledge, Escalate, Resolve, ServiceCommand
from pager.domain.errors import DomainError, IncidentNotFound
from pager.domain.text import INVISIBLE
from pager.entrypoints.http.alerting import commit
from pager.entrypoints.http.context import Context, context
from pager.entrypoints.http.errors import ApiError, forbidden, not_found
from pager.entrypoints.http.schemas import INCIDENT_ID_REGEX

logger = logging.getLogger("pager.slack")
router = APIRouter(tags=["integrations"])
Ctx = Annotated[Context, Depends(context)]

COMMANDS: Mapping[str, type[Acknowledge | Resolve | Escalate]] = {
    "pager_ack": Acknowledge,
    "pager_resolve": Resolve,
    "pager_escalate": Escalate,
}
WINDOW_SECONDS = 5 * 60  # slack_sdk's, as Slack documents it
MAX_BY = 200
_INCIDENT_ID = re.compile(INCIDENT_ID_REGEX)
_SLACK_ID = re.compile(r"[A-Z0-9]{1,40}")
_INVISIBLE = re.compile(f"[{INVISIBLE}]+")


@dataclass(frozen=True, slots=True)
class Press:
    """One press of a Pager button, as the block_actions payload says it."""

    action: str
    incident_id: str
    user_id: str
    user_name: str
    channel: str | None
    ts: str | None


class _Clock(SlackClock):
    """Pager's clock, for slack_sdk's timestamp window (tests move it)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def now(self) -> float:
        return self._clock.now().timestamp()


# Slack is this endpoint's only caller, and its shape is Slack's: it is described in the
# README rather than in the API's schema.
@router.post("/integrations/slack/actions", include_in_schema=False)
async def actions(request: Request, background: BackgroundTasks, ctx: Ctx) -> Response:
    secret = ctx.container.settings.slack_signing_secret
    if secret is None or not secret.get_secret_value().strip():
        raise not_found(
            "the Slack app is not configured on this Pager (PAGER_SLACK_SIGNING_SECRET)"
        )
    body = await request.body()
    verify(secret.get_secret_value(), ctx.container.clock, body, request.headers)
    press = parse(body)
    # What is not a press of a Pager button on a Pager incident is answered 200 and changes
    # nothing: Slack shows the presser a bare error for anything else, which tells them
    # less than the log tells the operator.
    if press is None:
        return Response(status_code=200)
    try:
        service_id = await run_in_threadpool(ctx.handlers.service_of, press.incident_id)
    except IncidentNotFound:
        logger.info(
            "Slack press %s by %s names no incident (%s)",
            press.action, press.user_id, press.incident_id[:60],
        )  # fmt: skip
        return Response(status_code=200)
    by = await who(ctx, press)
    command: ServiceCommand = COMMANDS[press.action](service_id, press.incident_id, by)
    refused = None
    try:
        await commit(ctx, [command])
    except DomainError as error:
        refused = str(error)
        logger.info("Slack press %s by %s refused: %s", press.action, by, refused)
    else:
        logger.info("Slack press %s on incident %s by %s", press.action, press.incident_id, by)
    app = ctx.container.slack_app
    if app is not None:
        background.add_task(_afterwards, ctx, app, press, refused)
    else:
        logger.warning("a Slack press cannot update its message: %s", "no PAGER_SLACK_BOT_TOKEN")
    return Response(status_code=200)


def verify(secret: str, clock: Clock, body: bytes, headers: Mapping[str, str]) -> None:
    """Slack's `v0` signature over the body, within the 5-minute window; ApiError 403."""
    timestamp = headers.get("X-Slack-Request-Timestamp")
    signature = headers.get("X-Slack-Signature")
    if not timestamp or not signature:
        raise forbidden(
            "not signed by Slack: X-Slack-Request-Timestamp and X-Slack-Signature are required"
        )
    verifier = SignatureVerifier(secret, clock=_Clock(clock))
    try:
        if verifier.is_valid(body, timestamp, signature):
            return
    except (ValueError, UnicodeDecodeError):  # a timestamp that is no integer, a body not UTF-8
        pass
    try:
        age = abs(clock.now().timestamp() - int(timestamp))
    except ValueError:
        raise forbidden("X-Slack-Request-Timestamp is not a Unix time") from None
    if age > WINDOW_SECONDS:
        raise forbidden(
            "X-Slack-Request-Timestamp is more than 5 minutes from Pager's clock: a replayed "
            "request, or a clock that is wrong"
        )
    raise forbidden("X-Slack-Signature does not verify with the signing secret")


def parse(body: bytes) -> Press | None:
    """The press a verified request carries; None (logged) for anything that is not a press
    of a Pager button. ApiError 400 for a body that is not Slack's shape at all."""
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=True)
        payload = json.loads(form["payload"][-1])
    except (UnicodeDecodeError, ValueError, KeyError):
        raise _bad("the body must be a form with a `payload` of JSON") from None
    if not isinstance(payload, dict):
        raise _bad("the `payload` must be a JSON object")
    kind = payload.get("type")
    if kind != "block_actions":
        logger.info("Slack interaction of type %.40r ignored", kind)
        return None
    found = payload.get("actions")
    action = found[0] if isinstance(found, list) and found else None
    user = payload.get("user")
    if not isinstance(action, dict) or not isinstance(user, dict):
        raise _bad("a block_actions payload has `actions` and a `user`")
    action_id, value, user_id = action.get("action_id"), action.get("value"), user.get("id")
    if not isinstance(user_id, str) or not _SLACK_ID.fullmatch(user_id):
        raise _bad("the payload's `user` has no Slack user `id`")
    if action_id not in COMMANDS or not isinstance(value, str):
        logger.info("Slack action %.60r by %s is not a Pager button; ignored", action_id, user_id)
        return None
    if not _INCIDENT_ID.fullmatch(value):
        logger.info("Slack press %s by %s names no incident (%.60r)", action_id, user_id, value)
        return None
    name = user.get("username") or user.get("name")
    # Shown on the timeline and in the message: on one line, nothing hidden in it.
    shown = " ".join(_INVISIBLE.sub(" ", name).split())[:80] if isinstance(name, str) else ""
    return Press(
        action=str(action_id),
        incident_id=value,
        user_id=user_id,
        user_name=shown or user_id,
        channel=_text(payload, "container", "channel_id") or _text(payload, "channel", "id"),
        ts=_text(payload, "container", "message_ts") or _text(payload, "message", "ts"),
    )


async def who(ctx: Context, press: Press) -> str:
    """The Pager user with the Slack user's email, or else the Slack user."""
    app = ctx.container.slack_app
    slack_user = await app.user(press.user_id) if app is not None else None
    if slack_user is not None and slack_user.email is not None:
        try:
            user = await run_in_threadpool(ctx.accounts.user, slack_user.email)
        except UserNotFound:
            pass
        else:
            return user.email
    return f"@{press.user_name} (Slack {press.user_id})"[:MAX_BY]


async def _afterwards(ctx: Context, app: SlackWebApi, press: Press, refused: str | None) -> None:
    """After Slack has its answer: say a refusal to the presser alone, and show the incident
    as it now is in the message."""
    try:
        if refused is not None and press.channel is not None:
            try:
                await app.tell(press.channel, press.user_id, f":warning: {refused}")
            except SlackApiFailed as failed:
                logger.warning("could not tell Slack user %s: %s", press.user_id, failed)
        if press.channel is not None and press.ts is not None:

            async def render() -> tuple[str, list[dict[str, Any]]] | None:
                return await asyncio.to_thread(_render, ctx, press.incident_id)

            await app.refresh(press.channel, press.ts, render)
    except Exception:  # after the answer, nobody else would hear of it
        logger.exception("could not update the Slack message of incident %s", press.incident_id)


def _render(ctx: Context, incident_id: str) -> tuple[str, list[dict[str, Any]]] | None:
    detail = ctx.queries.incident(incident_id)
    if detail is None:
        return None
    service = ctx.queries.service(detail.incident.service)
    name = service.name if service is not None else detail.incident.service
    url = f"{ctx.container.settings.links_url}/incidents/{incident_id}"
    return incident_message(detail, name, url)


def _text(payload: dict[str, Any], part: str, key: str) -> str | None:
    found = payload.get(part)
    value = found.get(key) if isinstance(found, dict) else None
    return value if isinstance(value, str) and value else None


def _bad(message: str) -> ApiError:
    return ApiError(400, "bad_request", message)
