"""Events: what happened. Past-tense names; folded by `evolve` into state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pager.domain.commands import ReceiveAlert
from pager.domain.content import NO_CONTENT, AlertContent
from pager.domain.content import ChangeLink as ChangeLink  # named here since change events
from pager.domain.paging import OnCallAt, Page, Unreached
from pager.domain.policy import EscalationPolicy, ScheduleTarget, Target, UserTarget
from pager.domain.severity import Severity, Urgency

_People = UserTarget | ScheduleTarget

ResolveCause = Literal["healthy", "resolved", "alerts_resolved", "service_deleted"]


@dataclass(frozen=True, slots=True)
class ServiceCreated:
    service_id: str
    name: str
    policy_id: str
    at: datetime
    low_urgency_severities: tuple[Severity, ...] = ()
    """Alerts of these severities open low-urgency incidents (none: every one is high)."""


@dataclass(frozen=True, slots=True)
class ServiceUpdated:
    service_id: str
    name: str
    policy_id: str
    at: datetime
    low_urgency_severities: tuple[Severity, ...] = ()
    """Alerts of these severities open low-urgency incidents (none: every one is high)."""


@dataclass(frozen=True, slots=True)
class ServiceDeleted:
    service_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class IncidentOpened:
    """The alert that turned a healthy service unhealthy. `severity` is one of the four
    (events from before they were mapped hold the sender's word); `urgency` low pages
    level 1's email, chat and webhooks only, and never escalates."""

    incident_id: str
    service_id: str
    message: str
    dedup_key: str | None
    severity: str | None
    source: str
    at: datetime
    content: AlertContent = NO_CONTENT
    urgency: Urgency = "high"


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
    urgency: Urgency = "high"
    """Low: only the email, chat and webhook pages; no timer, no next level."""
    held_back: tuple[Unreached, ...] = ()
    """The pages low urgency did not send (SMS, voice), by address, and why."""

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
class UrgencyRaised:
    """A low-urgency incident is high urgency from now on: an alert of a severity the
    service does not page at low urgency came (`severity`, None: it had none), or someone
    escalated it. Level 1 is paged for what low urgency held back, with its ack timer
    (the LevelNotified follows), unless someone acknowledged it already."""

    incident_id: str
    cause: Literal["alert", "escalated"]
    severity: str | None
    by: str
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


@dataclass(frozen=True, slots=True)
class MaintenanceScheduled:
    service_id: str
    window_id: str
    start: datetime
    end: datetime
    by: str
    at: datetime


@dataclass(frozen=True, slots=True)
class MaintenanceStarted:
    """A window scheduled ahead began (its start timer): for the timeline."""

    service_id: str
    window_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class MaintenanceEnded:
    """A window is over: at its end, or `early` by someone (`by`); `started` False when it
    was cancelled before it began."""

    service_id: str
    window_id: str
    early: bool
    by: str
    at: datetime
    started: bool = True


@dataclass(frozen=True, slots=True)
class AlertSuppressed:
    """An alert during maintenance with no incident open: recorded, nobody paged. `held`:
    kept by its dedup key, to open the incident when the window ends if still firing."""

    service_id: str
    window_id: str
    alert: ReceiveAlert
    held: bool
    at: datetime


@dataclass(frozen=True, slots=True)
class SuppressedAlertsResolved:
    """Alerts held during maintenance stopped firing (by key, or the service was marked
    healthy): they will not open an incident."""

    service_id: str
    dedup_keys: tuple[str, ...]
    by: str
    at: datetime


@dataclass(frozen=True, slots=True)
class HeartbeatDefined:
    """A heartbeat created or changed; its deadline (`due_at`, of `generation`) runs from
    `at`, or, for a missed one, stays unset until its next ping."""

    service_id: str
    heartbeat_id: str
    interval_seconds: int
    grace_seconds: int
    generation: int
    due_at: datetime | None
    at: datetime


@dataclass(frozen=True, slots=True)
class HeartbeatRemoved:
    service_id: str
    heartbeat_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class HeartbeatPinged:
    """The job is alive: its next deadline is `due_at`, of `generation`."""

    service_id: str
    heartbeat_id: str
    generation: int
    due_at: datetime
    at: datetime


@dataclass(frozen=True, slots=True)
class HeartbeatMissed:
    """No ping before the deadline of `generation`; an alert follows."""

    service_id: str
    heartbeat_id: str
    generation: int
    last_ping_at: datetime | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Snoozed:
    """Acknowledged until `until` (snooze number `generation` of the incident): nobody is
    paged until then, when the incident is triggered again (SnoozeEnded)."""

    incident_id: str
    by: str
    until: datetime
    generation: int
    at: datetime


@dataclass(frozen=True, slots=True)
class SnoozeEnded:
    """The snooze ran out: the incident is triggered again, and the LevelNotified of level 1
    of its next round follows, whatever the policy's `repeat` says."""

    incident_id: str
    generation: int
    at: datetime


@dataclass(frozen=True, slots=True)
class Reassigned:
    """Someone paged `target` now: resolved at `at` into `pages` (each key marked with the
    reassignment's `number`, so a person paged by the level too is paged again), with what
    reached nobody and whom a schedule had on call, as a LevelNotified records them. The
    incident is triggered; the ack timer of its current `level` of `round` runs again from
    `at` (`timer_due_at`), or, once escalation is exhausted, not at all (None)."""

    incident_id: str
    by: str
    target: _People
    number: int
    level: int
    round: int
    pages: tuple[Page, ...]
    unreached: tuple[Unreached, ...]
    on_call: tuple[OnCallAt, ...]
    ack_timeout_seconds: int | None
    timer_due_at: datetime | None
    at: datetime

    @property
    def paged(self) -> tuple[Page, ...]:
        return self.pages


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
    | UrgencyRaised
    | MaintenanceScheduled
    | MaintenanceStarted
    | MaintenanceEnded
    | AlertSuppressed
    | SuppressedAlertsResolved
    | HeartbeatDefined
    | HeartbeatRemoved
    | HeartbeatPinged
    | HeartbeatMissed
    | Snoozed
    | SnoozeEnded
    | Reassigned
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
