"""Ack links: `PAGER_PUBLIC_URL/ack/{token}`, where the token is the credential.

A token names the incident, the level and the target it was sent to, says when it expires,
and is signed (HMAC-SHA256 cut to 88 bits: a forger gets one online guess per request).
It is packed into bytes rather than JSON because it has to fit in an SMS with room left
for the alert: 48 characters for Pager's own incident ids. The target is named by 3 bytes
of a hash of its key, enough to tell apart the targets of one level.

    version (1) | incident id (16 raw, or 1 + up to 255 bytes of UTF-8) | level (1)
    | target (3) | expires, Unix seconds (4) | signature (11)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pager.application.ports import Clock
from pager.domain.policy import Target

DEFAULT_TTL_SECONDS = 24 * 3600
MAX_TOKEN_LENGTH = 200

_HEX_ID = 1  # a 32-character lowercase hex id (what Pager makes), packed as 16 bytes
_TEXT_ID = 2  # any other id, as length-prefixed UTF-8
_HEX_ID_PATTERN = re.compile(r"[0-9a-f]{32}")
_TAIL = struct.Struct(">B3sI")  # level, target tag, expiry
_MAC_BYTES = 11
_TAG_BYTES = 3
_PURPOSE = b"pager ack link v1"


class InvalidAckLink(Exception):
    """Not a token Pager made: mistyped, cut short, or forged."""


class ExpiredAckLink(InvalidAckLink):
    """Signed by Pager, but too old to use."""

    def __init__(self, claim: AckClaim) -> None:
        super().__init__(f"the ack link for incident {claim.incident_id} has expired")
        self.claim = claim


@dataclass(frozen=True, slots=True)
class AckClaim:
    incident_id: str
    level: int
    target_tag: bytes
    expires_at: datetime

    def names(self, target_key: str) -> bool:
        """Whether the link was sent to the target with this key (`Target.key`)."""
        return hmac.compare_digest(_tag(target_key), self.target_tag)


def _tag(target_key: str) -> bytes:
    return hashlib.sha256(target_key.encode("utf-8", "surrogatepass")).digest()[:_TAG_BYTES]


class AckLinks:
    def __init__(
        self,
        secret: Callable[[], bytes],
        clock: Clock,
        public_url: str,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
    ) -> None:
        self._secret = secret
        self._clock = clock
        self._public_url = public_url.rstrip("/")
        self._ttl = timedelta(seconds=ttl_seconds)

    def url(self, incident_id: str, level: int, target: Target) -> str:
        return f"{self._public_url}/ack/{self.token(incident_id, level, target)}"

    def token(self, incident_id: str, level: int, target: Target) -> str:
        expires = int((self._clock.now() + self._ttl).timestamp())
        body = _pack_id(incident_id) + _TAIL.pack(
            min(level, 0xFF), _tag(target.key), min(expires, 0xFFFFFFFF)
        )
        packed = body + self._mac(body)
        return base64.urlsafe_b64encode(packed).rstrip(b"=").decode("ascii")

    def verify(self, token: str) -> AckClaim:
        """The claim the token makes; InvalidAckLink or ExpiredAckLink if it cannot be used."""
        packed = _decode(token)
        if len(packed) <= _MAC_BYTES:
            raise InvalidAckLink("the ack link is cut short")
        body, mac = packed[:-_MAC_BYTES], packed[-_MAC_BYTES:]
        if not hmac.compare_digest(mac, self._mac(body)):
            raise InvalidAckLink("the ack link's signature does not match")
        incident_id, rest = _unpack_id(body)
        if len(rest) != _TAIL.size:
            raise InvalidAckLink("the ack link is malformed")
        level, tag, expires = _TAIL.unpack(rest)
        claim = AckClaim(incident_id, level, tag, datetime.fromtimestamp(expires, UTC))
        if self._clock.now() >= claim.expires_at:
            raise ExpiredAckLink(claim)
        return claim

    def _mac(self, body: bytes) -> bytes:
        key = hmac.new(self._secret(), _PURPOSE, hashlib.sha256).digest()
        return hmac.new(key, body, hashlib.sha256).digest()[:_MAC_BYTES]


def _pack_id(incident_id: str) -> bytes:
    if _HEX_ID_PATTERN.fullmatch(incident_id):
        return bytes([_HEX_ID]) + bytes.fromhex(incident_id)
    raw = incident_id.encode("utf-8", "surrogatepass")
    if len(raw) > 255:
        raise ValueError("an incident id is at most 255 bytes")
    return bytes([_TEXT_ID, len(raw)]) + raw


def _unpack_id(body: bytes) -> tuple[str, bytes]:
    kind = body[0]
    if kind == _HEX_ID and len(body) >= 17:
        return body[1:17].hex(), body[17:]
    if kind == _TEXT_ID and len(body) >= 2:
        end = 2 + body[1]
        try:
            return body[2:end].decode("utf-8"), body[end:]
        except UnicodeDecodeError:
            raise InvalidAckLink("the ack link is malformed") from None
    raise InvalidAckLink("the ack link is malformed")


def _decode(token: str) -> bytes:
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise InvalidAckLink("this is not an ack link")
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise InvalidAckLink("this is not an ack link") from None
