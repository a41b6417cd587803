"""Voice calls through Twilio's Calls API (or anything that speaks it, such as a test server).

Twilio fetches what the call says from Pager (`{public_url}/integrations/twilio/voice/{id}`,
the page's TwiML, with "press 1 to acknowledge, 2 to escalate") and posts how the call ended
to `.../status`: a call nobody answers becomes a failed attempt of its page there. Both need
Pager reachable from Twilio at PAGER_PUBLIC_URL."""

from __future__ import annotations

import httpx

from pager.adapters.notify.message import wrong_target
from pager.adapters.notify.sms import TwilioSettings, twilio_error, twilio_sid
from pager.adapters.notify.webhook import USER_AGENT, post
from pager.application.ports import OutgoingNotification
from pager.domain.policy import VoiceTarget

RING_SECONDS = 30
"""How long a call rings before Twilio gives up on it (`no-answer`)."""


def voice_url(public_url: str, notification_id: str) -> str:
    """Where a call fetches its TwiML; the key press and status routes hang below it."""
    return f"{public_url.rstrip('/')}/integrations/twilio/voice/{notification_id}"


class TwilioVoiceChannel:
    """Places one call per page; returns Twilio's call SID. `settings.from_` must be a phone
    number: a Messaging Service cannot call."""

    def __init__(
        self,
        settings: TwilioSettings,
        public_url: str,
        *,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        """With no `client`, each send opens and closes its own."""
        self._settings = settings
        self._public_url = public_url
        self._client = client

    async def send(self, notification: OutgoingNotification) -> str | None:
        target = notification.target
        if not isinstance(target, VoiceTarget):
            raise wrong_target("voice", target)
        settings = self._settings
        twiml = voice_url(self._public_url, notification.id)
        response = await post(
            self._client,
            settings.calls_url,
            provider="Twilio",
            timeout=settings.timeout,
            describe=twilio_error,
            data={
                "To": target.phone,
                "From": settings.from_,
                "Url": twiml,
                "Method": "POST",
                "StatusCallback": f"{twiml}/status",
                "StatusCallbackMethod": "POST",
                "Timeout": str(RING_SECONDS),
            },
            auth=(settings.account_sid, settings.auth_token),
            headers={"User-Agent": USER_AGENT},
        )
        return twilio_sid(response)
