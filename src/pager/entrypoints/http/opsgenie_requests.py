"""What each Opsgenie request this process answered came to, for `GET
/v2/alerts/requests/{requestId}`: Opsgenie does the work after answering 202, so its clients
(the SDKs after every create, `retrieve_result`) ask how it went. Pager has done the work by
the time it answers, so the outcome is known then and kept here, in memory, for the last
`size` requests: a client asks within seconds. Behind several `pagerd api` processes, a
request is known only to the process that answered it (the load balancer should keep a
client on one process, as it does for the console's sessions, or the poll is answered 404
like a request Opsgenie has not processed yet)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime


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


class RequestLog:
    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._outcomes: OrderedDict[str, RequestOutcome] = OrderedDict()
        self._lock = threading.Lock()

    def record(self, request_id: str, outcome: RequestOutcome) -> None:
        with self._lock:
            self._outcomes[request_id] = outcome
            if len(self._outcomes) > self._size:
                self._outcomes.popitem(last=False)

    def find(self, request_id: str, service_id: str) -> RequestOutcome | None:
        """The outcome of the request, if `service_id`'s key made it (others look absent)."""
        with self._lock:
            outcome = self._outcomes.get(request_id)
        if outcome is None or outcome.service_id != service_id:
            return None
        return outcome
