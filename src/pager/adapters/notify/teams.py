"""Microsoft Teams: an Adaptive Card posted to a channel's incoming webhook (a Workflows
"When a Teams webhook request is received" flow, or a legacy Office 365 connector)."""

from __future__ import annotations

import re

import httpx

from pager.adapters.notify.message import teams_message, wrong_target
from pager.adapters.notify.webhook import (
    DEFAULT_TIMEOUT,
    TRANSIENT_STATUSES,
    USER_AGENT,
    plain_text,
    post,
    refuse_private,
    response_text,
)
from pager.application.ports import DeliveryFailed, OutgoingNotification
from pager.domain.policy import TeamsTarget

# A legacy connector answers 200 even when Teams refused the message, saying so in the body.
_REFUSED = re.compile(r"returned HTTP error (\d{3})")


class TeamsChannel:
    """Teams answers 2xx: `1` from a connector, 202 and nothing from a workflow. Its errors
    are text (connectors) or `{"error": {"code", "message"}}` (workflows), and become the
    reason; a removed webhook is a 4xx, so permanent; 429 and 5xx are retried."""

    def __init__(
        self,
        *,
        client: httpx.AsyncClient | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        allow_private: bool = False,
    ) -> None:
        """With no `client`, each send opens and closes its own. Unless `allow_private`, a
        host that resolves to a non-public address is a permanent failure."""
        self._client = client
        self._timeout = timeout
        self._allow_private = allow_private

    async def send(self, notification: OutgoingNotification) -> str | None:
        target = notification.target
        if not isinstance(target, TeamsTarget):
            raise wrong_target("Teams", target)
        if not self._allow_private:
            await refuse_private(target.url, "Teams")
        response = await post(
            self._client,
            target.url,
            provider="Teams",
            timeout=self._timeout,
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
