"""Commands: what someone asks Pager to do. Imperative names; handled by `decide`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pager.domain.content import NO_CONTENT, AlertContent, ChangeLink
from pager.domain.policy import EscalationPolicy, ScheduleTarget, UserTarget
from pager.domain.severity import Severity


@dataclass(frozen=True, slots=True)
class DefineService:
    """Create the service, or change its name, policy or the severities it pages at low
    urgency."""

    service_id: str
    name: str
    policy_id: str
    low_urgency_severities: tuple[Severity, ...] = ()


@dataclass(frozen=True, slots=True)
class DeleteService:
    service_id: str


@dataclass(frozen=True, slots=True)
class ReceiveAlert:
    """An alert for a service. `incident_id` is the id to use if this alert opens an incident."""

    service_id: str
    incident_id: str
    message: str
    dedup_key: str | None = None
    severity: Severity | None = None
    source: str = "api"
    content: AlertContent = NO_CONTENT


@dataclass(frozen=True, slots=True)
class Acknowledge:
    service_id: str
    incident_id: str
    by: str


@dataclass(frozen=True, slots=True)
class AcknowledgeAlert:
    """Acknowledge the open incident if the alert with this dedup key is firing on it (the
    PagerDuty and Opsgenie acknowledge-by-key calls); nothing otherwise."""

    service_id: str
    dedup_key: str
    by: str


@dataclass(frozen=True, slots=True)
class ReceiveAckTimeout:
    """The ack timer of `level` in `round` of an incident has run out (delivered at least once)."""

    service_id: str
    incident_id: str
    level: int
    round: int


@dataclass(frozen=True, slots=True)
class MarkHealthy:
    service_id: str
    by: str = "api"


@dataclass(frozen=True, slots=True)
class Resolve:
    service_id: str
    incident_id: str
    by: str


@dataclass(frozen=True, slots=True)
class ResolveAlert:
    """A monitoring tool says the alert with this dedup key has stopped firing."""

    service_id: str
    dedup_key: str


@dataclass(frozen=True, slots=True)
class Unacknowledge:
    """Put an acknowledged incident back: triggered again, escalating from its current level."""

    service_id: str
    incident_id: str
    by: str


@dataclass(frozen=True, slots=True)
class Escalate:
    """Page the next level now, as if the current one had timed out; an acknowledged
    incident is triggered again for it, a low-urgency one raised to high urgency. Refused
    once every level and round is done."""

    service_id: str
    incident_id: str
    by: str


@dataclass(frozen=True, slots=True)
class AddNote:
    """Words for the timeline of an incident of the service, open or resolved (the caller
    found the incident's service, so the incident exists)."""

    service_id: str
    incident_id: str
    text: str
    by: str


@dataclass(frozen=True, slots=True)
class Snooze:
    """Acknowledge the incident until `until`; then it is triggered again, from level 1 of
    its next round. Snoozing a snoozed incident moves the time."""

    service_id: str
    incident_id: str
    until: datetime
    by: str


@dataclass(frozen=True, slots=True)
class EndSnooze:
    """The snooze timer of an incident has run out; `generation` says which snooze set it, so
    that a timer superseded by a later snooze (or ended by an acknowledgement) is stale."""

    service_id: str
    incident_id: str
    generation: int


@dataclass(frozen=True, slots=True)
class Reassign:
    """Page `target` (a user or a schedule's people) now, recorded; an acknowledged incident
    is triggered again, and the current level's ack timer runs again from now."""

    service_id: str
    incident_id: str
    target: UserTarget | ScheduleTarget
    by: str


@dataclass(frozen=True, slots=True)
class ReportChange:
    """A change to the service (a deploy, a configuration change) for its timeline: context
    for responders; it pages nobody. `timestamp` is when the sender says it happened, as it
    said it."""

    service_id: str
    summary: str
    source: str | None = None
    timestamp: str | None = None
    links: tuple[ChangeLink, ...] = ()
    details: tuple[tuple[str, str], ...] = ()
    by: str = "api"


@dataclass(frozen=True, slots=True)
class ScheduleMaintenance:
    """A maintenance window for the service: from `start` (the past means now) to `end`."""

    service_id: str
    window_id: str
    start: datetime
    end: datetime
    by: str


@dataclass(frozen=True, slots=True)
class EndMaintenance:
    """End a window now: early, if it is in force; cancelled, if it has not begun."""

    service_id: str
    window_id: str
    by: str


@dataclass(frozen=True, slots=True)
class ReceiveMaintenanceStart:
    """A window's start timer fired (at least once)."""

    service_id: str
    window_id: str


@dataclass(frozen=True, slots=True)
class ReceiveMaintenanceEnd:
    """A window's end timer fired (at least once)."""

    service_id: str
    window_id: str


@dataclass(frozen=True, slots=True)
class DefineHeartbeat:
    """Create the service's heartbeat, or change its interval or grace."""

    service_id: str
    heartbeat_id: str
    interval_seconds: int
    grace_seconds: int


@dataclass(frozen=True, slots=True)
class RemoveHeartbeat:
    service_id: str
    heartbeat_id: str


@dataclass(frozen=True, slots=True)
class PingHeartbeat:
    service_id: str
    heartbeat_id: str


@dataclass(frozen=True, slots=True)
class ReceiveHeartbeatDeadline:
    """The timer of a heartbeat's `generation` has run out (delivered at least once).
    `incident_id` is the id to use if the missed heartbeat opens an incident."""

    service_id: str
    heartbeat_id: str
    generation: int
    incident_id: str


ServiceCommand = (
    DefineService
    | DeleteService
    | ReceiveAlert
    | Acknowledge
    | AcknowledgeAlert
    | ReceiveAckTimeout
    | MarkHealthy
    | Resolve
    | ResolveAlert
    | Unacknowledge
    | Escalate
    | AddNote
    | ReportChange
    | ScheduleMaintenance
    | EndMaintenance
    | ReceiveMaintenanceStart
    | ReceiveMaintenanceEnd
    | DefineHeartbeat
    | RemoveHeartbeat
    | PingHeartbeat
    | ReceiveHeartbeatDeadline
    | Snooze
    | EndSnooze
    | Reassign
)


@dataclass(frozen=True, slots=True)
class DefinePolicy:
    """Create the policy or replace its levels, name and repeat."""

    policy: EscalationPolicy


@dataclass(frozen=True, slots=True)
class DeletePolicy:
    """`used_by` are the services that name this policy, as the caller found them."""

    policy_id: str
    used_by: tuple[str, ...] = ()


PolicyCommand = DefinePolicy | DeletePolicy
