"""What an Opsgenie request came to, for `GET /v2/alerts/requests/{requestId}`: Opsgenie does
the work after answering 202, so its clients (the SDKs after every create, `retrieve_result`)
ask how it went. Pager has done the work by the time it answers, so the outcome is known
then, and the request id it answers with *is* that outcome, signed: any process that shares
the signing key (every `pagerd` on one database) can answer the poll, and nothing is kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from itsdangerous import BadSignature, URLSafeSerializer

MAX_REQUEST_ID = 1000
"""A request id is a few hundred characters at most (an alias is at most 512)."""


@dataclass(frozen=True, slots=True)
class RequestOutcome:
    service_id: str
    """Whose integration key made the request: only that key may ask about it."""
    action: str
    is_success: bool
    status: str
    alert_id: str
    alias: str
    processed_at: datetime


class RequestIds:
    """Request ids that carry their request's outcome, signed with the server's key (called
    on use: it may live in the database, which is not there yet when the app is built)."""

    def __init__(self, secret: Callable[[], bytes]) -> None:
        self._secret = secret

    def _serializer(self) -> URLSafeSerializer:
        return URLSafeSerializer(
            self._secret(),
            salt="pager.opsgenie.request",
            signer_kwargs={"digest_method": hashlib.sha256},
        )

    def issue(self, outcome: RequestOutcome) -> str:
        o = outcome
        fields = [o.service_id, o.action, o.is_success, o.status, o.alert_id, o.alias]
        issued: str = self._serializer().dumps([*fields, int(o.processed_at.timestamp())])
        return issued

    def find(self, request_id: str, service_id: str) -> RequestOutcome | None:
        """The outcome of the request, if `service_id`'s key made it (others look absent,
        as do ids Pager never issued)."""
        if len(request_id) > MAX_REQUEST_ID:
            return None
        try:
            fields = self._serializer().loads(request_id)
        except BadSignature:
            return None
        match fields:
            case [str(owner), str(action), bool(ok), str(status), str(alert), str(alias), int(at)]:
                if owner != service_id:
                    return None
                processed_at = datetime.fromtimestamp(at, UTC)
                return RequestOutcome(owner, action, ok, status, alert, alias, processed_at)
        return None
