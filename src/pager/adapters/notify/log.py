"""The channel of last resort: with no provider configured for a channel (SMTP, Twilio), its
notifications go to the log, and are recorded as `logged`, not `sent`."""

from __future__ import annotations

import logging

from pager.adapters.notify.message import step
from pager.application.ports import DirectMessage, OutgoingNotification

logger = logging.getLogger("pager.notify")


class LogChannel:
    """Logs each notification at WARNING, so that an unconfigured channel is noticed; never
    fails. The line never carries the ack link (it acknowledges without a login: a
    credential); it names the incident's page instead."""

    delivers = False  # its pages are recorded as logged, not sent (see `Channel`)

    async def send(self, notification: OutgoingNotification) -> str | None:
        n = notification
        logger.warning(
            "no channel configured for %s; not sent: [%s] %s (%s, incident %s, notification %s)%s",
            n.target.label,
            n.service_name,
            n.message,
            step(n),
            n.incident_id,
            n.id,
            f"; see {n.incident_url}" if n.incident_url else "",
            extra={
                "notification_id": n.id,
                "incident_id": n.incident_id,
                "service_id": n.service_id,
            },
        )
        return None

    async def send_message(self, message: DirectMessage) -> str | None:
        """Logs its subject only: the text may hold a verification code."""
        logger.warning(
            "no channel configured for %s; not sent: %s (message %s)",
            message.target.label,
            message.subject,
            message.id,
            extra={"message_id": message.id},
        )
        return None
