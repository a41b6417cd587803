"""The read side: what the API, the console and the CLI show, as views, and the port that
reads them (`ReadModel`). Its SQL lives in `pager.adapters.storage.queries`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from pager.domain.content import AlertContent
from pager.domain.policy import EscalationPolicy
from pager.domain.severity import Severity, Urgency

REDACTED = "[redacted]"
MAINTENANCE_EVENTS = (
    "MaintenanceScheduled",
    "MaintenanceStarted",
    "MaintenanceEnded",
    "AlertSuppressed",
    "SuppressedAlertsResolved",
)
OPEN_STATUSES = ("triggered", "acknowledged")


@dataclass(frozen=True, slots=True)
class IncidentView:
    id: str
    service: str
    status: str
    message: str
    alert_count: int
    level: int
    round: int
    dedup_keys: tuple[str, ...]
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    failed_notifications: int = 0
    """Its pages that failed for good: nobody got them, and nobody will try again."""
    unreached: int = 0
    """Level targets that paged nobody (a user without an enabled method, nobody on call)."""
    urgency: Urgency = "high"
    severity: Severity | None = None
    """The highest severity of its alerts."""
    snoozed_until: datetime | None = None
    """While snoozed: when it is triggered again."""


@dataclass(frozen=True, slots=True)
class OpeningAlert:
    """What the alert that opened an incident said about itself."""

    dedup_key: str | None
    severity: str | None
    source: str


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: datetime
    type: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class NotificationView:
    id: str
    channel: str
    target: dict[str, Any]
    level: int
    round: int
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    via: str | None = None
    """Why it went there: the user (or schedule) and contact method, as resolved."""


@dataclass(frozen=True, slots=True)
class AlertView:
    """One alert of an incident, as its sender said it; `resolved_at` is when it stopped
    firing (its key resolved, or the incident with it)."""

    message: str
    dedup_key: str | None
    severity: str | None
    source: str
    received_at: datetime
    resolved_at: datetime | None
    content: AlertContent

    @property
    def status(self) -> Literal["firing", "resolved"]:
        return "firing" if self.resolved_at is None else "resolved"


@dataclass(frozen=True, slots=True)
class IncidentDetail:
    incident: IncidentView
    timeline: tuple[TimelineEntry, ...]
    notifications: tuple[NotificationView, ...]
    alerts: tuple[AlertView, ...] = ()
    """Its alerts in the order they came, the first one first."""


@dataclass(frozen=True, slots=True)
class MaintenanceView:
    id: str
    service: str
    start: datetime
    end: datetime
    created_by: str
    created_at: datetime
    ended_at: datetime | None
    ended_by: str | None
    suppressed: int
    """Alerts recorded during it, which paged nobody."""
    in_force: bool
    """Begun and not ended, as the read side's clock says."""


@dataclass(frozen=True, slots=True)
class ServiceView:
    id: str
    name: str
    escalation_policy: str
    state: str
    open_incident: IncidentView | None
    created_at: datetime
    updated_at: datetime
    low_urgency_severities: tuple[Severity, ...] = ()
    maintenance: tuple[MaintenanceView, ...] = ()
    """Its windows in force or to come, soonest first."""

    @property
    def in_maintenance(self) -> bool:
        return any(window.in_force for window in self.maintenance)


@dataclass(frozen=True, slots=True)
class HeartbeatView:
    id: str
    service: str
    interval_seconds: int
    grace_seconds: int
    state: str
    """`new` (never pinged), `ok` or `missed`."""
    defined_at: datetime
    last_ping_at: datetime | None
    due_at: datetime | None
    """When a ping is due at the latest; None once missed (the next ping re-arms it)."""


@dataclass(frozen=True, slots=True)
class PolicyView:
    policy: EscalationPolicy
    used_by: tuple[str, ...]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class StreamEvent:
    version: int
    type: str
    at: datetime
    incident_id: str | None
    data: dict[str, Any]


def redact(value: Any) -> Any:
    """A copy of JSON-like `value` with every webhook secret replaced."""
    if isinstance(value, dict):
        return {
            key: (REDACTED if key == "secret" and item is not None else redact(item))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


class ReadModel(Protocol):
    """Reads only: the read models and the event store, as the views above."""

    def services(self) -> list[ServiceView]: ...

    def service(self, service_id: str) -> ServiceView | None: ...

    def maintenance_windows(
        self, service_id: str, *, ended: bool = False, limit: int = 100
    ) -> list[MaintenanceView]:
        """The service's windows in force or to come, soonest first; `ended`: those over
        instead, the latest first."""
        ...

    def maintenance_window(self, window_id: str) -> MaintenanceView | None: ...

    def maintenance_timeline(self, service_id: str, limit: int = 50) -> list[StreamEvent]:
        """The service's maintenance events (windows, the alerts they recorded), newest
        first."""
        ...

    def policies(self) -> list[PolicyView]: ...

    def heartbeats(self, service_id: str | None = None) -> list[HeartbeatView]:
        """In id order; a service's only, if given."""
        ...

    def heartbeat(self, heartbeat_id: str) -> HeartbeatView | None: ...

    def policy(self, policy_id: str) -> PolicyView | None: ...

    def incidents(
        self,
        service_id: str | None = None,
        status: str | None = None,
        limit: int = 100,
        *,
        offset: int = 0,
        acknowledged: bool | None = None,
        oldest_first: bool = False,
    ) -> list[IncidentView]:
        """Newest first (or oldest), from the `offset`th; `status` "open" is triggered or
        acknowledged; `acknowledged`: whether someone acknowledged it (and nobody took that
        back), open or resolved since."""
        ...

    def incident_count(
        self,
        service_id: str | None = None,
        status: str | None = None,
        *,
        acknowledged: bool | None = None,
    ) -> int:
        """How many `incidents` there are with these filters, whatever the limit."""
        ...

    def opening_alerts(self, incident_ids: Sequence[str]) -> dict[str, OpeningAlert]:
        """The alert that opened each of these incidents (those that exist)."""
        ...

    def incident(self, incident_id: str) -> IncidentDetail | None:
        """With its timeline (events and delivery attempts, in time order) and pages."""
        ...

    def incident_service(self, incident_id: str) -> str | None: ...

    def open_incident_count(self) -> int: ...

    def service_events(
        self, service_id: str, after: int = 0, limit: int = 100
    ) -> list[StreamEvent] | None:
        """Events after version `after`, oldest first; None if the service never existed."""
        ...

    def ready(self) -> str | None:
        """None if the database answers and is at the newest schema; else what is wrong."""
        ...
