"""Slack incoming webhooks: one mrkdwn message per notification, with the ack link."""

from __future__ import annotations

import httpx

from pager.adapters.notify.message import slack_text, wrong_target
from pager.adapters.notify.webhook import DEFAULT_TIMEOUT, USER_AGENT, post, refuse_private
from pager.application.ports import OutgoingNotification
from pager.domain.policy import SlackTarget


class SlackChannel:
    """Slack answers 200 `ok`; its errors are a bare code in the body (`no_service`,
    `invalid_payload`, `channel_is_archived`, ...), which becomes the reason."""

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
        if not isinstance(target, SlackTarget) or target.url is None:
            raise wrong_target("Slack incoming-webhook", target)
        if not self._allow_private:
            await refuse_private(target.url, "Slack")
        await post(
            self._client,
            target.url,
            provider="Slack",
            timeout=self._timeout,
            describe=lambda response: response.text,
            json={"text": slack_text(notification)},
            headers={"User-Agent": USER_AGENT},
        )
        return None
