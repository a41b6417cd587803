"""The Slack app: pages posted with the bot token through Slack's Web API (`slack_sdk`), with
Acknowledge / Resolve / Escalate buttons, and what answering a button press needs: who the
Slack user is (their email, looked up once) and the message updated in place."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from pager.adapters.notify.message import (
    SLACK_ACTIONS,
    level_text,
    one_line,
    slack_blocks,
    slack_escape,
    slack_page,
    slack_summary,
    utc,
    wrong_target,
)
from pager.adapters.notify.webhook import DEFAULT_TIMEOUT, TRANSIENT_STATUSES, plain_text
from pager.application.ports import DeliveryFailed, OutgoingNotification
from pager.application.queries import IncidentDetail, TimelineEntry
from pager.domain.policy import SlackTarget

logger = logging.getLogger("pager.slack")

SLACK_API = "https://slack.com/api/"
NOT_CONFIGURED = "the Slack app is not configured (PAGER_SLACK_BOT_TOKEN)"
# A press waits for users.info before Slack's 3 s are up; past this it is recorded as the
# Slack user instead.
LOOKUP_TIMEOUT = 2
USER_CACHE_SIZE = 10_000
USER_CACHE_SECONDS = 3600.0
# Slack's errors that say "later" rather than "never".
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "rate_limited", "service_unavailable", "fatal_error", "internal_error",
     "request_timeout", "team_added_to_org"}
)  # fmt: skip
_TOKEN_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
     "not_allowed_token_type"}
)  # fmt: skip

Render = Callable[[], Awaitable[tuple[str, list[dict[str, Any]]] | None]]


@dataclass(frozen=True, slots=True)
class SlackUser:
    id: str
    email: str | None
    """From the profile; None when Slack gave none (no `users:read.email`, a bot, ...)."""


class SlackApiFailed(Exception):
    """A Web API call that did not go through; `failure` says why, as a page's reason."""

    def __init__(self, failure: DeliveryFailed) -> None:
        super().__init__(failure.reason)
        self.failure = failure


class SlackWebApi:
    """The Web API calls Pager makes with the bot token. One per process: it keeps the
    Slack users it has looked up, and the message updates under way."""

    def __init__(
        self,
        token: str,
        base_url: str = SLACK_API,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        cache_size: int = USER_CACHE_SIZE,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._token = token
        self._cache_size = cache_size
        self._base_url = base_url
        self._timeout = max(int(timeout), 1)
        self._monotonic = monotonic
        self._users: OrderedDict[str, tuple[float, SlackUser]] = OrderedDict()
        self._looking_up: dict[str, asyncio.Future[SlackUser]] = {}
        self._updating: dict[tuple[str, str], bool] = {}
        """Messages being updated, and whether another update was asked for meanwhile."""

    def _client(self, timeout: int | None = None) -> AsyncWebClient:
        # A session per call: pages are posted from the worker's loop and presses answered
        # on the server's, and an aiohttp session belongs to one loop.
        return AsyncWebClient(
            token=self._token, base_url=self._base_url, timeout=timeout or self._timeout
        )

    async def post_page(self, notification: OutgoingNotification) -> str:
        """Post the page to its channel; returns `channel/ts`, the message's id in Slack.
        Raises DeliveryFailed."""
        target = notification.target
        if not isinstance(target, SlackTarget) or target.channel is None:
            raise wrong_target("Slack app", target)
        channel = target.channel
        text, blocks = slack_page(notification)
        try:
            answer = await self._call(
                "chat.postMessage",
                lambda client: client.chat_postMessage(channel=channel, text=text, blocks=blocks),
                channel=channel,
            )
        except SlackApiFailed as failed:
            raise failed.failure from failed
        posted, ts = answer.get("channel"), answer.get("ts")
        return f"{posted or channel}/{ts}"

    async def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        """Replace a message the app posted. Raises SlackApiFailed."""
        await self._call(
            "chat.update",
            lambda client: client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks),
            channel=channel,
        )

    async def tell(self, channel: str, user: str, text: str) -> None:
        """A message only `user` sees, in `channel`. Raises SlackApiFailed."""
        await self._call(
            "chat.postEphemeral",
            lambda client: client.chat_postEphemeral(channel=channel, user=user, text=text),
            channel=channel,
        )

    async def refresh(self, channel: str, ts: str, render: Render) -> None:
        """Update the message to what `render` says now (None: leave it). Updates asked for
        while one is under way are folded into one more, rendered after it: a burst of
        presses on one message costs two calls, not one each (chat.update is rate-limited),
        and the last update shows the last state."""
        key = (channel, ts)
        if key in self._updating:
            self._updating[key] = True
            return
        self._updating[key] = False
        try:
            while True:
                rendered = await render()
                if rendered is not None:
                    try:
                        await self.update(channel, ts, *rendered)
                    except SlackApiFailed as failed:
                        logger.warning("could not update Slack message %s/%s: %s", *key, failed)
                if not self._updating[key]:
                    return
                self._updating[key] = False
        finally:
            del self._updating[key]

    async def user(self, user_id: str) -> SlackUser:
        """The Slack user with their email (users.info), from the cache when it was looked
        up within the hour; concurrent lookups of one user share one call. A failed lookup
        is not kept: the user has no email this time, and is looked up again next time."""
        cached = self._users.get(user_id)
        if cached is not None and cached[0] > self._monotonic():
            self._users.move_to_end(user_id)
            return cached[1]
        pending = self._looking_up.get(user_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[SlackUser] = asyncio.get_running_loop().create_future()
        self._looking_up[user_id] = future
        try:
            found = await self._look_up(user_id)
            future.set_result(found)
            return found
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: nobody else may be waiting for it
            raise
        finally:
            del self._looking_up[user_id]

    async def _look_up(self, user_id: str) -> SlackUser:
        try:
            answer = await self._call(
                "users.info", lambda client: client.users_info(user=user_id), LOOKUP_TIMEOUT
            )
        except SlackApiFailed as failed:
            logger.warning("could not look up Slack user %s: %s", user_id, failed)
            return SlackUser(user_id, None)
        profile = (answer.get("user") or {}).get("profile") or {}
        email = profile.get("email")
        found = SlackUser(user_id, email if isinstance(email, str) and email else None)
        self._users[user_id] = (self._monotonic() + USER_CACHE_SECONDS, found)
        self._users.move_to_end(user_id)
        while len(self._users) > self._cache_size:
            self._users.popitem(last=False)
        return found

    async def _call(
        self,
        method: str,
        call: Callable[[AsyncWebClient], Awaitable[AsyncSlackResponse]],
        timeout: int | None = None,
        *,
        channel: str | None = None,
    ) -> dict[str, Any]:
        """The answer's data; raises SlackApiFailed, classified."""
        try:
            response = await call(self._client(timeout))
        except SlackApiError as error:
            raise SlackApiFailed(api_failure(method, error, channel)) from error
        except (TimeoutError, aiohttp.ServerTimeoutError) as error:
            raise SlackApiFailed(
                DeliveryFailed(f"Slack {method}: timed out", transient=True)
            ) from error
        except aiohttp.ClientError as error:
            reason = plain_text(f"{type(error).__name__}: {error}")
            raise SlackApiFailed(
                DeliveryFailed(f"Slack {method}: could not connect ({reason})", transient=True)
            ) from error
        except SlackClientError as error:  # what slack_sdk found wrong with what we sent
            raise SlackApiFailed(
                DeliveryFailed(f"Slack {method}: {plain_text(str(error))}", transient=False)
            ) from error
        data = response.data
        return data if isinstance(data, dict) else {}


def api_failure(method: str, error: SlackApiError, channel: str | None) -> DeliveryFailed:
    """A Slack API error as a reason a person can act on, classified as Slack means it."""
    response = error.response
    status = getattr(response, "status_code", None) or getattr(response, "status", None)
    data = getattr(response, "data", None)
    code = data.get("error") if isinstance(data, dict) else None
    headers = getattr(response, "headers", None) or {}
    if not isinstance(code, str) or not code:
        reason = f"Slack {method} answered HTTP {status}"
        transient = isinstance(status, int) and (status in TRANSIENT_STATUSES or status >= 500)
        return DeliveryFailed(reason, transient=transient, retry_after=_seconds(headers))
    where = f"channel {channel}" if channel else "the channel"
    match code:
        case "channel_not_found":
            reason = f"{where} was not found: check its id, and invite the app to a private one"
        case "not_in_channel":
            reason = f"the app is not in {where}: invite it (/invite @app) or add chat:write.public"
        case "is_archived":
            reason = f"{where} is archived"
        case "missing_scope":
            needed = data.get("needed") if isinstance(data, dict) else None
            reason = f"the bot token lacks the scope {needed or 'this call needs'}"
        case _ if code in _TOKEN_ERRORS:
            reason = "the bot token was refused: check PAGER_SLACK_BOT_TOKEN"
        case "ratelimited" | "rate_limited":
            reason = "rate-limited by Slack"
        case _:
            reason = "refused"
    transient = code in TRANSIENT_ERRORS or (
        isinstance(status, int) and (status in TRANSIENT_STATUSES or status >= 500)
    )
    return DeliveryFailed(
        f"Slack {method}: {reason} ({plain_text(code, 60)})",
        transient=transient,
        retry_after=_seconds(headers),
    )


def _seconds(headers: Any) -> float | None:
    try:
        value = headers.get("Retry-After")
    except AttributeError:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        return float(value.strip())
    return None


# What a press (or anyone else) did, as the updated message says it.
_DONE = {
    "Acknowledged": (":white_check_mark:", "Acknowledged"),
    "Unacknowledged": (":leftwards_arrow_with_hook:", "Unacknowledged"),
    "Escalated": (":arrow_double_up:", "Escalated"),
    "IncidentResolved": (":large_green_circle:", "Resolved"),
}
# The buttons that still make sense in each state.
_BUTTONS = {
    "triggered": SLACK_ACTIONS,
    "acknowledged": ("pager_resolve", "pager_escalate"),
    "resolved": (),
}


def incident_message(
    detail: IncidentDetail, service_name: str, incident_url: str | None
) -> tuple[str, list[dict[str, Any]]]:
    """A Slack app page's message as the incident is now: its summary, who did what and
    when, and the buttons that still make sense (none once it is resolved)."""
    incident = detail.incident
    opened_at = utc(incident.opened_at)
    summary = slack_summary(
        service_name=service_name,
        message=incident.message,
        step=level_text(incident.level, incident.round),
        alert_count=incident.alert_count,
        opened=opened_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        incident_id=incident.id,
        incident_url=incident_url,
    )
    status = [line for entry in detail.timeline if (line := _said(entry, opened_at))]
    actions = _BUTTONS.get(incident.status, ())
    headline = f"{one_line(service_name, 80)}: {one_line(incident.message, 200)}"
    text = f"{headline} ({status[-1]})" if status else headline
    return text, slack_blocks(summary, incident.id, actions, status)


def _said(entry: TimelineEntry, opened_at: datetime) -> str | None:
    done = _DONE.get(entry.type)
    if done is None:
        return None
    emoji, verb = done
    by = entry.data.get("by")
    at = utc(entry.at)
    # The day only when it is not the day the incident opened.
    when = at.strftime("%H:%M UTC" if at.date() == opened_at.date() else "%Y-%m-%d %H:%M UTC")
    if entry.type == "Escalated":
        verb += f" from {level_text(entry.data.get('level', 0), entry.data.get('round', 1))}"
    who = f" by {slack_escape(one_line(str(by), 200))}" if by else ""
    return f"{emoji} {verb}{who} at {when}"
