"""Commands: what someone asks Pager to do. Imperative names; handled by `decide`."""

from __future__ import annotations

from dataclasses import dataclass

from pager.domain.content import NO_CONTENT, AlertContent
from pager.domain.events import ChangeLink
from pager.domain.policy import EscalationPolicy


@dataclass(frozen=True, slots=True)
class DefineService:
    """Create the service, or change its name or policy."""

    service_id: str
    name: str
    policy_id: str


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
    severity: str | None = None
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
    incident is triggered again for it. Refused once every level and round is done."""

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
