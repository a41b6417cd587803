"""SMS through Twilio's Messages API (or anything that speaks it, such as a test server)."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

import httpx

from pager.adapters.notify.message import SMS_LIMIT, sms_text, wrong_target
from pager.adapters.notify.webhook import DEFAULT_TIMEOUT, USER_AGENT, post
from pager.application.ports import DirectMessage, OutgoingNotification
from pager.domain.policy import SmsTarget

TWILIO_API = "https://api.twilio.com"


@dataclass(frozen=True, slots=True)
class TwilioSettings:
    account_sid: str
    auth_token: str = field(repr=False)
    from_: str
    """A phone number in E.164, or a Messaging Service SID (`MG...`)."""
    base_url: str = TWILIO_API
    timeout: float = DEFAULT_TIMEOUT

    @property
    def messages_url(self) -> str:
        return self._account_url("Messages.json")

    @property
    def calls_url(self) -> str:
        return self._account_url("Calls.json")

    def _account_url(self, resource: str) -> str:
        account = quote(self.account_sid, safe="")
        return f"{self.base_url.rstrip('/')}/2010-04-01/Accounts/{account}/{resource}"


class TwilioSmsChannel:
    """Sends one text of at most 160 characters; returns Twilio's message SID."""

    def __init__(
        self, settings: TwilioSettings, *, client: httpx.AsyncClient | None = None
    ) -> None:
        """With no `client`, each send opens and closes its own."""
        self._settings = settings
        self._client = client

    async def send(self, notification: OutgoingNotification) -> str | None:
        target = notification.target
        if not isinstance(target, SmsTarget):
            raise wrong_target("SMS", target)
        return await self._text(target.phone, sms_text(notification))

    async def send_message(self, message: DirectMessage) -> str | None:
        """A test page or a verification code: its text, cut to one SMS."""
        target = message.target
        if not isinstance(target, SmsTarget):
            raise wrong_target("SMS", target)
        return await self._text(target.phone, message.text[:SMS_LIMIT])

    async def _text(self, phone: str, body: str) -> str | None:
        settings = self._settings
        sender = "MessagingServiceSid" if is_messaging_service(settings.from_) else "From"
        response = await post(
            self._client,
            settings.messages_url,
            provider="Twilio",
            timeout=settings.timeout,
            describe=twilio_error,
            data={"To": phone, sender: settings.from_, "Body": body},
            auth=(settings.account_sid, settings.auth_token),
            headers={"User-Agent": USER_AGENT},
        )
        return twilio_sid(response)


def is_messaging_service(sender: str) -> bool:
    return sender.startswith("MG")


def twilio_sid(response: httpx.Response) -> str | None:
    """The `sid` of what Twilio's answer made (a message, a call), if it names one."""
    try:
        sid = response.json().get("sid")
    except (ValueError, AttributeError):
        return None
    return sid if isinstance(sid, str) else None


def twilio_error(response: httpx.Response) -> str:
    """Twilio's `message`, with its error `code` (documented at twilio.com/docs/errors/CODE)."""
    try:
        data = response.json()
    except ValueError:
        return response.text
    if not isinstance(data, dict):
        return response.text
    message = data.get("message")
    code = data.get("code")
    text = message if isinstance(message, str) else response.text
    return f"{text} (Twilio error {code})" if code is not None else text
