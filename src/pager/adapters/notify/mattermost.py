"""Mattermost incoming webhooks: one Markdown message per notification, with the ack link."""

from __future__ import annotations

import httpx

from pager.adapters.notify.message import mattermost_text, wrong_target
from pager.adapters.notify.webhook import DEFAULT_TIMEOUT, USER_AGENT, post, refuse_private
from pager.application.ports import OutgoingNotification
from pager.domain.policy import MattermostTarget

USERNAME = "Pager"


class MattermostChannel:
    """Mattermost answers 200 `ok`; its errors are JSON `{"id", "message", ...}` (a deleted
    webhook: 400 "Invalid webhook."), whose `message` becomes the reason."""

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
        if not isinstance(target, MattermostTarget):
            raise wrong_target("Mattermost", target)
        if not self._allow_private:
            await refuse_private(target.url, "Mattermost")
        await post(
            self._client,
            target.url,
            provider="Mattermost",
            timeout=self._timeout,
            # A username is used only where the server lets integrations override it.
            json={"text": mattermost_text(notification), "username": USERNAME},
            headers={"User-Agent": USER_AGENT},
        )
        return None
