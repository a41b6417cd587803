"""Slack: incoming webhooks (one mrkdwn message per notification, with the ack link), and
channels the Slack app posts to (`slack_app`)."""

from __future__ import annotations

import httpx

from pager.adapters.notify.message import slack_text, wrong_target
from pager.adapters.notify.slack_app import NOT_CONFIGURED, SlackWebApi
from pager.adapters.notify.webhook import DEFAULT_TIMEOUT, USER_AGENT, HttpChannel
from pager.application.ports import DeliveryFailed, OutgoingNotification
from pager.domain.policy import SlackTarget


class SlackChannel(HttpChannel):
    """Both shapes of Slack target. An incoming webhook answers 200 `ok`; its errors are a
    bare code in the body (`no_service`, `invalid_payload`, `channel_is_archived`, ...),
    which becomes the reason. A channel is posted to by `app`; without one (no bot token),
    its pages fail for good, saying so."""

    def __init__(
        self,
        *,
        client: httpx.AsyncClient | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        allow_private: bool = False,
        app: SlackWebApi | None = None,
    ) -> None:
        super().__init__(client=client, timeout=timeout, allow_private=allow_private)
        self._app = app

    async def send(self, notification: OutgoingNotification) -> str | None:
        target = notification.target
        if not isinstance(target, SlackTarget):
            raise wrong_target("Slack", target)
        if target.channel is not None:
            if self._app is None:
                raise DeliveryFailed(NOT_CONFIGURED, transient=False)
            return await self._app.post_page(notification)
        if target.url is None:
            raise wrong_target("Slack", target)
        await self._post(
            target.url,
            "Slack",
            describe=lambda response: response.text,
            json={"text": slack_text(notification)},
            headers={"User-Agent": USER_AGENT},
        )
        return None
