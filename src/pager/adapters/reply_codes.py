"""SMS reply codes: the four digits an SMS page asks to be replied with ("Reply 1 4821 to
acknowledge"). A code names its incident among the pages one phone has had, no more; it
is no credential on its own: a reply acts only when it comes (through Twilio's signed
webhook) from a number that incident's page was texted to. Derived from the server's
secret key, so every process agrees on it and nothing needs storing."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

_PURPOSE = b"pager sms reply code v1"
DIGITS = 4


class ReplyCodes:
    def __init__(self, secret: Callable[[], bytes]) -> None:
        self._secret = secret

    def code(self, incident_id: str) -> str:
        """Four decimal digits, the same for an incident wherever they are worked out."""
        key = hmac.new(self._secret(), _PURPOSE, hashlib.sha256).digest()
        mac = hmac.new(key, incident_id.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return f"{int.from_bytes(mac.digest()[:8], 'big') % 10**DIGITS:0{DIGITS}d}"
