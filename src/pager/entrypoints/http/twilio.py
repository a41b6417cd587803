"""Twilio's requests to Pager: what a call says and its key presses (`/voice/{id}`,
`/voice/{id}/gather`), how a call ended (`/voice/{id}/status`), and SMS replies (`/sms`,
the number's "A message comes in" webhook).

Each is verified before anything else with Twilio's `X-Twilio-Signature`, over the URL as
PAGER_PUBLIC_URL spells it and the posted form (`twilio.request_validator`): missing or
wrong, it is a 403 and changes nothing. Then it is an ordinary command (`Acknowledge`,
`Escalate`, `Resolve`) as the person the page went to, through group commit. Answers are
TwiML. Not in the OpenAPI document: these are Twilio's webhooks, not an API for clients."""

from __future__ import annotations

import hmac
import logging
import re
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import ImmutableMultiDict
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from pager import metrics
from pager.adapters.notify.message import one_line, short_id
from pager.adapters.notify.voice import voice_url
from pager.application.ports import PageSent
from pager.domain.commands import Acknowledge, Escalate, Resolve
from pager.domain.errors import IncidentAlreadyResolved, NothingToEscalateTo
from pager.domain.events import Acknowledged, LevelNotified
from pager.domain.policy import SmsTarget, VoiceTarget
from pager.entrypoints.http.alerting import commit_blocking
from pager.entrypoints.http.context import Context, context
from pager.entrypoints.http.errors import ApiError, forbidden

logger = logging.getLogger("pager.twilio")
router = APIRouter(prefix="/integrations/twilio", tags=["integrations"], include_in_schema=False)
NotificationId = Annotated[str, Path(max_length=64)]

SIGNATURE_HEADER = "X-Twilio-Signature"
SPOKEN_MESSAGE_LIMIT = 200
MENU = "Press 1 to acknowledge, 2 to escalate."
SMS_HELP = (
    "Pager: to act on a page, reply with 1 and its code to acknowledge, "
    "or 2 and its code to resolve, as in: 1 4821"
)
# "1 4821", "1-4821", " 14821 ": an action digit, then the page's four digits.
SMS_REPLY = re.compile(r"\s*([12])\s*[-.:#]?\s*([0-9]{4})\s*[.!]?\s*")
UNANSWERED = {
    "busy": "call not answered (busy)",
    "no-answer": "call not answered (no-answer)",
    "canceled": "call not answered (canceled)",
    "failed": "call could not be placed (failed)",
}


class Signed:
    """The posted form of a request that carries Twilio's signature for it."""

    def __init__(self, params: ImmutableMultiDict[str, str]) -> None:
        self.params = params

    def get(self, name: str) -> str:
        return self.params.get(name) or ""


async def signed(request: Request, ctx: Annotated[Context, Depends(context)]) -> Signed:
    """404 when Twilio is not configured; 403 without a valid signature."""
    token = ctx.container.settings.twilio_auth_token
    if token is None or not token.get_secret_value():
        raise ApiError(
            404,
            "not_configured",
            "Twilio is not configured on this Pager (PAGER_TWILIO_AUTH_TOKEN)",
        )
    body = await request.body()
    params = ImmutableMultiDict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        raise forbidden(f"the {SIGNATURE_HEADER} header is missing")
    if not RequestValidator(token.get_secret_value()).validate(
        _public_url(ctx, request), params, signature
    ):
        raise forbidden(
            f"the {SIGNATURE_HEADER} header does not match this request (checked against "
            "PAGER_PUBLIC_URL and the Twilio auth token)"
        )
    return Signed(params)


Ctx = Annotated[Context, Depends(context)]
Form = Annotated[Signed, Depends(signed)]


def _public_url(ctx: Context, request: Request) -> str:
    """The URL Twilio requested, as Pager gave it out (behind a proxy, the one it sees is
    another)."""
    query = request.scope.get("query_string", b"").decode("latin-1")
    url = ctx.container.settings.links_url + request.scope["path"]
    return f"{url}?{query}" if query else url


def _twiml(document: VoiceResponse | MessagingResponse) -> Response:
    return Response(str(document), media_type="application/xml")


# -- voice calls


@router.post("/voice/{notification_id}")
async def call_answered(notification_id: NotificationId, form: Form, ctx: Ctx) -> Response:
    """What the call says: the page, then the menu (once more if nothing is pressed)."""
    page = await run_in_threadpool(_call_page, ctx, notification_id)
    if page is None:
        return _say_goodbye("This page is no longer known to Pager.")
    if page.incident_status == "resolved":
        return _say_goodbye(f"{_spoken_page(page)} This incident is resolved.")
    intro = _spoken_page(page)
    if page.incident_status == "acknowledged" and page.acknowledged_by:
        intro += f" It was acknowledged by {page.acknowledged_by}."
    return _menu(ctx, page, intro)


@router.post("/voice/{notification_id}/gather")
async def key_pressed(notification_id: NotificationId, form: Form, ctx: Ctx) -> Response:
    """1 acknowledges, 2 escalates, as the person the call went to; anything else: the menu
    again."""
    page = await run_in_threadpool(_call_page, ctx, notification_id)
    if page is None:
        return _say_goodbye("This page is no longer known to Pager.")
    digits = form.get("Digits")
    by = _person(page) or f"{_phone(page)} (voice call)"
    if digits == "1":
        said = await run_in_threadpool(_acknowledge, ctx, page, by)
    elif digits == "2":
        said = await run_in_threadpool(_escalate, ctx, page, by)
    else:
        return _menu(ctx, page, "That is not one of the choices.")
    return _say_goodbye(said)


@router.post("/voice/{notification_id}/status", status_code=204)
async def call_ended(notification_id: NotificationId, form: Form, ctx: Ctx) -> Response:
    """A call nobody answered, or that could not be placed, is a failed attempt of its page:
    the incident shows it. (The person's later rules and the next level are pages and timers
    of their own, and come as they would.) Any other status changes nothing."""
    status = form.get("CallStatus")
    reason = UNANSWERED.get(status)
    if reason is not None:
        call_sid = form.get("CallSid") or None
        failed = await run_in_threadpool(
            ctx.container.sent_pages.call_failed,
            notification_id,
            ctx.container.clock.now(),
            reason,
            call_sid,
        )
        if failed:
            metrics.DELIVERY_ATTEMPTS.labels("voice", "failed").inc()
            metrics.NOTIFICATIONS_FAILED.labels("voice").inc()
            logger.warning("voice notification %s failed: %s", notification_id, reason)
    return Response(status_code=204)


def _call_page(ctx: Context, notification_id: str) -> PageSent | None:
    page = ctx.container.sent_pages.page(notification_id)
    return page if page is not None and isinstance(page.target, VoiceTarget) else None


def _spoken_page(page: PageSent) -> str:
    message = one_line(page.message, SPOKEN_MESSAGE_LIMIT)
    return f"This is Pager, for {one_line(page.service_name, 80)}: {message}. Level {page.level}."


def _menu(ctx: Context, page: PageSent, intro: str) -> Response:
    response = VoiceResponse()
    action = voice_url(ctx.container.settings.links_url, page.id) + "/gather"
    for text in (f"{intro} {MENU}", MENU):  # Twilio goes on to the next verb on no input
        gather = response.gather(num_digits=1, action=action, method="POST", timeout=6)
        gather.say(text)
    response.say("Nothing was pressed. Goodbye.")
    response.hangup()
    return _twiml(response)


def _say_goodbye(text: str) -> Response:
    response = VoiceResponse()
    response.say(text)
    response.hangup()
    return _twiml(response)


# -- SMS replies


@router.post("/sms")
async def text_received(form: Form, ctx: Ctx) -> Response:
    """ "1 CODE" acknowledges, "2 CODE" resolves the incident of an SMS page texted to the
    sender with that code; anything else is answered with one help line."""
    said = await run_in_threadpool(_reply, ctx, form.get("From"), form.get("Body"))
    response = MessagingResponse()
    response.message(said)
    return _twiml(response)


def _reply(ctx: Context, sender: str, body: str) -> str:
    parsed = SMS_REPLY.fullmatch(body)
    if parsed is None or not sender:
        return SMS_HELP
    action, code = parsed.groups()
    page = _page_with_code(ctx, sender, code)
    if page is None:
        return SMS_HELP
    by = _person(page) or f"{sender} (SMS reply)"
    incident = f"#{short_id(page.incident_id)} ({one_line(page.service_name, 40)})"
    if action == "1":
        return f"{incident}: {_acknowledge(ctx, page, by)}"
    return f"{incident}: {_resolve(ctx, page, by)}"


def _page_with_code(ctx: Context, phone: str, code: str) -> PageSent | None:
    """The newest incident texted to `phone` whose reply code is `code`."""
    codes = ctx.container.reply_codes
    seen: set[str] = set()
    for page in ctx.container.sent_pages.texted(phone):
        if page.incident_id in seen:
            continue
        seen.add(page.incident_id)
        if hmac.compare_digest(codes.code(page.incident_id), code):
            return page
    return None


# -- the commands, and what the person is told


def _acknowledge(ctx: Context, page: PageSent, by: str) -> str:
    try:
        [outcome] = commit_blocking(ctx, [Acknowledge(page.service_id, page.incident_id, by)])
    except IncidentAlreadyResolved:
        return "This incident is resolved."
    if any(isinstance(event, Acknowledged) for event in outcome.events):
        return "Acknowledged. Thank you."
    incident = outcome.before.incident
    who = incident.acknowledged_by if incident is not None else None
    return f"Already acknowledged by {who or 'someone'}."


def _escalate(ctx: Context, page: PageSent, by: str) -> str:
    try:
        [outcome] = commit_blocking(ctx, [Escalate(page.service_id, page.incident_id, by)])
    except IncidentAlreadyResolved:
        return "This incident is resolved."
    except NothingToEscalateTo:
        return "Every level has been paged already: there is no level to escalate to."
    steps = [event for event in outcome.events if isinstance(event, LevelNotified)]
    if not steps:
        return "Escalated."
    step = steps[-1]
    where = f"level {step.level}" + (f", round {step.round}" if step.round > 1 else "")
    return f"Escalated to {where}."


def _resolve(ctx: Context, page: PageSent, by: str) -> str:
    [outcome] = commit_blocking(ctx, [Resolve(page.service_id, page.incident_id, by)])
    return "Resolved. Thank you." if outcome.events else "This incident is resolved."


def _person(page: PageSent) -> str | None:
    """The user a person's page went to (its key is `user:{email}:{method}`)."""
    if not page.target_key.startswith("user:"):
        return None
    return page.target_key.removeprefix("user:").rpartition(":")[0] or None


def _phone(page: PageSent) -> str:
    target = page.target
    return target.phone if isinstance(target, VoiceTarget | SmsTarget) else target.label
