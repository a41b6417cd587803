"""Events: what happened. Past-tense names; folded by `evolve` into state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pager.domain.content import NO_CONTENT, AlertContent
from pager.domain.content import ChangeLink as ChangeLink  # named here since change events
from pager.domain.paging import OnCallAt, Page, Unreached
from pager.domain.policy import EscalationPolicy, ScheduleTarget, Target, UserTarget

_People = UserTarget | ScheduleTarget

ResolveCause = Literal["healthy", "resolved", "alerts_resolved", "service_deleted"]


@dataclass(frozen=True, slots=True)
class ServiceCreated:
    service_id: str
    name: str
    policy_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ServiceUpdated:
    service_id: str
    name: str
    policy_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ServiceDeleted:
    service_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class IncidentOpened:
    """The alert that turned a healthy service unhealthy."""

    incident_id: str
    service_id: str
    message: str
    dedup_key: str | None
    severity: str | None
    source: str
    at: datetime
    content: AlertContent = NO_CONTENT


@dataclass(frozen=True, slots=True)
class AlertAttached:
    """A later alert for an open incident: counted, nobody notified."""

    incident_id: str
    message: str
    dedup_key: str | None
    severity: str | None
    source: str
    at: datetime
    content: AlertContent = NO_CONTENT


@dataclass(frozen=True, slots=True)
class LevelNotified:
    """One level's step: the level's `targets` as the policy named them, resolved at `at`
    into `pages` (which person by which method, after how long, and why), what reached
    nobody (`unreached`) and whom each schedule had on call (`on_call`), so that the
    timeline says who was paged even after people and schedules change. Its ack timer is
    set to `timer_due_at`; None when the level paged nobody, and the next level followed at
    once. `pages` is None in events from before people could be paged: then every target
    was an address, paged at once."""

    incident_id: str
    policy_id: str
    level: int
    round: int
    targets: tuple[Target, ...]
    ack_timeout_seconds: int
    timer_due_at: datetime | None
    at: datetime
    pages: tuple[Page, ...] | None = None
    unreached: tuple[Unreached, ...] = ()
    on_call: tuple[OnCallAt, ...] = ()

    @property
    def paged(self) -> tuple[Page, ...]:
        """The pages of this step, whenever the event was written."""
        if self.pages is not None:
            return self.pages
        return tuple(Page(t, t.key) for t in self.targets if not isinstance(t, _People))


@dataclass(frozen=True, slots=True)
class EscalationExhausted:
    """The last level timed out with no repeat left: the incident stays open and triggered."""

    incident_id: str
    level: int
    round: int
    at: datetime


@dataclass(frozen=True, slots=True)
class Acknowledged:
    incident_id: str
    by: str
    at: datetime


@dataclass(frozen=True, slots=True)
class AlertResolved:
    incident_id: str
    dedup_key: str
    at: datetime


@dataclass(frozen=True, slots=True)
class IncidentResolved:
    """The incident is over and the service healthy again."""

    incident_id: str
    by: str
    cause: ResolveCause
    at: datetime


@dataclass(frozen=True, slots=True)
class Unacknowledged:
    """The incident is triggered again; its current level's ack timer runs again from `at`
    (`timer_due_at`), or, once escalation is exhausted, not at all (None)."""

    incident_id: str
    by: str
    level: int
    round: int
    ack_timeout_seconds: int | None
    timer_due_at: datetime | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Escalated:
    """Someone asked for the next level now (from `level` of `round`); the LevelNotified of
    that level follows. An acknowledged incident is triggered again by it."""

    incident_id: str
    by: str
    level: int
    round: int
    at: datetime


@dataclass(frozen=True, slots=True)
class NoteAdded:
    incident_id: str
    text: str
    by: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ChangeReported:
    """A change to the service, recorded on its timeline; nobody is paged."""

    service_id: str
    summary: str
    source: str | None
    timestamp: str | None
    links: tuple[ChangeLink, ...]
    details: tuple[tuple[str, str], ...]
    by: str
    at: datetime


ServiceEvent = (
    ServiceCreated
    | ServiceUpdated
    | ServiceDeleted
    | IncidentOpened
    | AlertAttached
    | LevelNotified
    | EscalationExhausted
    | Acknowledged
    | AlertResolved
    | IncidentResolved
    | Unacknowledged
    | Escalated
    | NoteAdded
    | ChangeReported
)


@dataclass(frozen=True, slots=True)
class PolicyCreated:
    policy: EscalationPolicy
    at: datetime


@dataclass(frozen=True, slots=True)
class PolicyChanged:
    policy: EscalationPolicy
    at: datetime


@dataclass(frozen=True, slots=True)
class PolicyDeleted:
    policy_id: str
    at: datetime


PolicyEvent = PolicyCreated | PolicyChanged | PolicyDeleted
