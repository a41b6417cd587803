"""Microsoft Teams: an Adaptive Card posted to a channel's incoming webhook (a Workflows
"When a Teams webhook request is received" flow, or a legacy Office 365 connector)."""

from __future__ import annotations

import re

import httpx

from pager.adapters.notify.message import teams_message, wrong_target
from pager.adapters.notify.webhook import (
    TRANSIENT_STATUSES,
    USER_AGENT,
    HttpChannel,
    plain_text,
    response_text,
)
from pager.application.ports import DeliveryFailed, OutgoingNotification
from pager.domain.policy import TeamsTarget

# A legacy connector answers 200 even when Teams refused the message, saying so in the body.
_REFUSED = re.compile(r"returned HTTP error (\d{3})")


class TeamsChannel(HttpChannel):
    """Teams answers 2xx: `1` from a connector, 202 and nothing from a workflow. Its errors
    are text (connectors) or `{"error": {"code", "message"}}` (workflows), and become the
    reason; a removed webhook is a 4xx, so permanent; 429 and 5xx are retried."""

    async def send(self, notification: OutgoingNotification) -> str | None:
        target = notification.target
        if not isinstance(target, TeamsTarget):
            raise wrong_target("Teams", target)
        response = await self._post(
            target.url,
            "Teams",
            describe=teams_error,
            json=teams_message(notification),
            headers={"User-Agent": USER_AGENT},
        )
        refused = _REFUSED.search(response.text)
        if refused is not None:
            status = int(refused.group(1))
            raise DeliveryFailed(
                f"Teams refused the message: {plain_text(response.text)}",
                transient=status in TRANSIENT_STATUSES or status >= 500,
            )
        return None


def teams_error(response: httpx.Response) -> str:
    """A workflow's `error.message` (with its code), else the text a connector gave."""
    try:
        data = response.json()
    except ValueError:
        return response.text
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        code = error.get("code")
        return f"{code}: {error['message']}" if isinstance(code, str) else error["message"]
    return response_text(response)
