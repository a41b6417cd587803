"""Mattermost incoming webhooks: one Markdown message per notification, with the ack link."""

from __future__ import annotations

from pager.adapters.notify.message import mattermost_text, wrong_target
from pager.adapters.notify.webhook import USER_AGENT, HttpChannel
from pager.application.ports import OutgoingNotification
from pager.domain.policy import MattermostTarget

USERNAME = "Pager"


class MattermostChannel(HttpChannel):
    """Mattermost answers 200 `ok`; its errors are JSON `{"id", "message", ...}` (a deleted
    webhook: 400 "Invalid webhook."), whose `message` becomes the reason."""

    async def send(self, notification: OutgoingNotification) -> str | None:
        target = notification.target
        if not isinstance(target, MattermostTarget):
            raise wrong_target("Mattermost", target)
        await self._post(
            target.url,
            "Mattermost",
            # A username is used only where the server lets integrations override it.
            json={"text": mattermost_text(notification), "username": USERNAME},
            headers={"User-Agent": USER_AGENT},
        )
        return None
