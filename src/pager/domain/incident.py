"""A monitored service and its incidents: the escalation rules as `decide` and `evolve`.

A service's state is the fold of its event stream. `decide` is pure: it reads the state,
the command, the service's *current* escalation policy and the time, and returns the
events that follow (possibly none). It never reads a clock and never does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import reduce
from typing import Literal, assert_never, cast

from pager.domain import heartbeat
from pager.domain.commands import (
    Acknowledge,
    AcknowledgeAlert,
    AddNote,
    DefineHeartbeat,
    DefineService,
    DeleteService,
    EndMaintenance,
    EndSnooze,
    Escalate,
    MarkHealthy,
    PingHeartbeat,
    Reassign,
    ReceiveAckTimeout,
    ReceiveAlert,
    ReceiveHeartbeatDeadline,
    ReceiveMaintenanceEnd,
    ReceiveMaintenanceStart,
    RemoveHeartbeat,
    ReportChange,
    Resolve,
    ResolveAlert,
    ScheduleMaintenance,
    ServiceCommand,
    Snooze,
    Unacknowledge,
)
from pager.domain.content import check_content
from pager.domain.errors import (
    DomainError,
    HeartbeatNotFound,
    IncidentAlreadyResolved,
    MaintenanceNotFound,
    NothingToEscalateTo,
    PolicyNotFound,
    ServiceNotFound,
    ValidationFailed,
)
from pager.domain.events import (
    Acknowledged,
    AlertAttached,
    AlertResolved,
    AlertSuppressed,
    ChangeReported,
    Escalated,
    EscalationExhausted,
    HeartbeatDefined,
    HeartbeatMissed,
    HeartbeatPinged,
    HeartbeatRemoved,
    IncidentOpened,
    IncidentResolved,
    LevelNotified,
    MaintenanceEnded,
    MaintenanceScheduled,
    MaintenanceStarted,
    NoteAdded,
    Reassigned,
    ServiceCreated,
    ServiceDeleted,
    ServiceEvent,
    ServiceUpdated,
    Snoozed,
    SnoozeEnded,
    SuppressedAlertsResolved,
    Unacknowledged,
    UrgencyRaised,
)
from pager.domain.heartbeat import Heartbeat
from pager.domain.maintenance import (
    MAX_HELD_ALERTS,
    MaintenanceWindow,
    check_window,
    find,
    in_maintenance,
)
from pager.domain.paging import NO_ONE, Directory, Page, Unreached, resolve
from pager.domain.policy import ID_PATTERN, EscalationPolicy, Level, UserTarget, valid_id
from pager.domain.severity import (
    LOW_URGENCY_CHANNELS,
    SEVERITIES,
    Severity,
    Urgency,
    highest,
    severity_of,
    urgency_of,
)

MAX_MESSAGE_LENGTH = 4096
MAX_NOTE_LENGTH = 25_000  # Opsgenie's limit for a note
MAX_SUMMARY_LENGTH = 1024  # PagerDuty's limit for a change event's summary
MAX_SNOOZE = timedelta(days=7)  # a snooze puts paging off for a while, never for good


@dataclass(frozen=True, slots=True)
class OpenIncident:
    id: str
    status: Literal["triggered", "acknowledged"]
    message: str
    alert_count: int
    opened_at: datetime
    level: int = 0
    round: int = 1
    open_keys: frozenset[str] = frozenset()  # dedup keys of the alerts still firing
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    exhausted: bool = False
    unreached: int = 0
    """How many level targets reached nobody so far (the incident is flagged for it)."""
    urgency: Urgency = "high"
    severity: Severity | None = None
    """The highest severity of its alerts (None: none of them had one)."""
    snoozed_until: datetime | None = None
    """While snoozed (acknowledged until then): when it is triggered again."""
    snoozes: int = 0
    """How many times it was snoozed: the generation of its snooze timer."""
    reassigns: int = 0
    """How many times it was reassigned: each reassignment's pages carry its number."""


@dataclass(frozen=True, slots=True)
class ServiceState:
    service_id: str
    exists: bool = False
    name: str = ""
    policy_id: str = ""
    incident: OpenIncident | None = None
    low_urgency_severities: tuple[Severity, ...] = ()
    maintenance: tuple[MaintenanceWindow, ...] = ()
    """Its maintenance windows, in force or to come (bounded: MAX_WINDOWS)."""
    held: tuple[ReceiveAlert, ...] = ()
    """Alerts received during maintenance and still firing, one per dedup key, oldest first;
    only while no incident is open."""
    heartbeats: tuple[Heartbeat, ...] = ()  # in id order

    @property
    def healthy(self) -> bool:
        return self.incident is None


def decide(
    state: ServiceState,
    command: ServiceCommand,
    policy: EscalationPolicy | None,
    now: datetime,
    directory: Directory = NO_ONE,
) -> tuple[ServiceEvent, ...]:
    """The events that `command` causes. `policy` is the service's current policy, if any;
    `directory` has the people and schedules its levels name, as they are now."""
    if isinstance(command, DefineService):
        return _define(state, command, policy, now)
    if not state.exists:
        raise ServiceNotFound(command.service_id)
    match command:
        case DeleteService():
            return _delete(state, now)
        case ReceiveAlert():
            return _receive_alert(state, command, policy, now, directory)
        case Acknowledge():
            return _acknowledge(state, command, now)
        case AcknowledgeAlert():
            incident = state.incident
            if incident is None or not _fires(incident.open_keys, command.dedup_key):
                return ()
            return _acknowledge(state, Acknowledge(state.service_id, incident.id, command.by), now)
        case ReceiveAckTimeout():
            return _ack_timeout(state, command, policy, now, directory)
        case MarkHealthy():
            if state.incident is None and state.held:
                keys = _held_keys(state)
                return (SuppressedAlertsResolved(state.service_id, keys, command.by, now),)
            return _resolve_open(state, command.by, "healthy", now)
        case Resolve():
            if state.incident is None or state.incident.id != command.incident_id:
                return ()
            return _resolve_open(state, command.by, "resolved", now)
        case ResolveAlert():
            return _resolve_alert(state, command, now)
        case Unacknowledge():
            return _unacknowledge(state, command, policy, now)
        case Escalate():
            return _escalate(state, command, policy, now, directory)
        case AddNote():
            text = _text("text", command.text, MAX_NOTE_LENGTH)
            return (NoteAdded(command.incident_id, text, command.by, now),)
        case ReportChange():
            return (_change(state, command, now),)
        case ScheduleMaintenance():
            return _schedule(state, command, now)
        case EndMaintenance():
            window = find(state.maintenance, command.window_id)
            if window is None:
                raise MaintenanceNotFound(state.service_id, command.window_id)
            return _end_window(state, window, command.by, policy, now, directory)
        case ReceiveMaintenanceStart():
            window = find(state.maintenance, command.window_id)
            if window is None or window.started:
                return ()  # ended, cancelled or a second firing
            return (MaintenanceStarted(state.service_id, window.id, now),)
        case ReceiveMaintenanceEnd():
            window = find(state.maintenance, command.window_id)
            if window is None:
                return ()  # ended early, or a second firing
            return _end_window(state, window, None, policy, now, directory)
        case DefineHeartbeat():
            return _define_heartbeat(state, command, now)
        case RemoveHeartbeat():
            return _remove_heartbeat(state, command, now)
        case PingHeartbeat():
            return _ping(state, command, now)
        case ReceiveHeartbeatDeadline():
            return _heartbeat_deadline(state, command, policy, now, directory)
        case Snooze():
            return _snooze(state, command, now)
        case EndSnooze():
            return _end_snooze(state, command, policy, now, directory)
        case Reassign():
            return _reassign(state, command, policy, now, directory)
        case _:
            assert_never(command)


def evolve(state: ServiceState, event: ServiceEvent) -> ServiceState:
    """The state after `event`. Total: every event applies to the state its stream implies."""
    match event:
        case ServiceCreated() | ServiceUpdated():
            return replace(
                state,
                exists=True,
                name=event.name,
                policy_id=event.policy_id,
                low_urgency_severities=event.low_urgency_severities,
            )
        case ServiceDeleted():
            return ServiceState(state.service_id)
        case IncidentOpened():
            opened = OpenIncident(
                event.incident_id,
                "triggered",
                event.message,
                1,
                event.at,
                open_keys=frozenset((event.dedup_key,)) if event.dedup_key else frozenset(),
                urgency=event.urgency,
                severity=severity_of(event.severity),
            )
            # The alerts held during maintenance are the incident's now (they attach next).
            return _with_incident(state, opened, held=())
        case NoteAdded() | ChangeReported():
            return state  # words for the timeline: they change nothing the rules read
        case MaintenanceScheduled() | MaintenanceStarted() | MaintenanceEnded():
            return _with_windows(state, event)
        case AlertSuppressed():
            return replace(state, held=(*state.held, event.alert)) if event.held else state
        case SuppressedAlertsResolved():
            gone = set(event.dedup_keys)
            return replace(state, held=tuple(a for a in state.held if a.dedup_key not in gone))
        case HeartbeatDefined() | HeartbeatRemoved() | HeartbeatPinged() | HeartbeatMissed():
            return _evolve_heartbeat(state, event)
    incident = state.incident
    assert incident is not None, f"{type(event).__name__} needs an open incident"
    keys: frozenset[str]
    # The two events of every storm are built field by field: dataclasses.replace costs
    # several times a constructor call, and this runs for every alert.
    match event:
        case AlertAttached():
            keys = incident.open_keys
            if event.dedup_key and event.dedup_key not in keys:
                keys = keys | {event.dedup_key}
            severity = highest(incident.severity, severity_of(event.severity))
            incident = _with_alerts(incident, 1, keys, severity)
        case LevelNotified():
            incident = OpenIncident(
                incident.id,
                incident.status,
                incident.message,
                incident.alert_count,
                incident.opened_at,
                event.level,
                event.round,
                incident.open_keys,
                incident.acknowledged_at,
                incident.acknowledged_by,
                incident.exhausted,
                incident.unreached + len(event.unreached),
                incident.urgency,
                incident.severity,
                incident.snoozed_until,
                incident.snoozes,
                incident.reassigns,
            )
        case EscalationExhausted():
            incident = replace(incident, exhausted=True)
        case Acknowledged():
            incident = replace(
                incident,
                status="acknowledged",
                acknowledged_at=event.at,
                acknowledged_by=event.by,
                snoozed_until=None,
            )
        case Unacknowledged() | Escalated():
            incident = _triggered(incident)
        case Snoozed():
            if incident.status == "triggered":
                incident = replace(incident, acknowledged_at=event.at, acknowledged_by=event.by)
            incident = replace(
                incident, status="acknowledged", snoozed_until=event.until, snoozes=event.generation
            )
        case SnoozeEnded():
            incident = replace(_triggered(incident), exhausted=False)
        case Reassigned():
            incident = replace(
                _triggered(incident),
                reassigns=event.number,
                unreached=incident.unreached + len(event.unreached),
            )
        case AlertResolved():
            incident = replace(incident, open_keys=incident.open_keys - {event.dedup_key})
        case UrgencyRaised():
            incident = replace(incident, urgency="high")
        case IncidentResolved():
            return replace(state, incident=None)
        case _:
            assert_never(event)
    return _with_incident(state, incident)


def _triggered(incident: OpenIncident) -> OpenIncident:
    return replace(
        incident,
        status="triggered",
        acknowledged_at=None,
        acknowledged_by=None,
        snoozed_until=None,
    )


def _with_alerts(
    incident: OpenIncident, alerts: int, keys: frozenset[str], severity: Severity | None
) -> OpenIncident:
    """`incident` with `alerts` more alerts attached, these keys firing and this severity."""
    return OpenIncident(
        incident.id,
        incident.status,
        incident.message,
        incident.alert_count + alerts,
        incident.opened_at,
        incident.level,
        incident.round,
        keys,
        incident.acknowledged_at,
        incident.acknowledged_by,
        incident.exhausted,
        incident.unreached,
        incident.urgency,
        severity,
        incident.snoozed_until,
        incident.snoozes,
        incident.reassigns,
    )


def _with_incident(
    state: ServiceState, incident: OpenIncident, held: tuple[ReceiveAlert, ...] | None = None
) -> ServiceState:
    return ServiceState(
        state.service_id,
        state.exists,
        state.name,
        state.policy_id,
        incident,
        state.low_urgency_severities,
        maintenance=state.maintenance,
        held=state.held if held is None else held,
        heartbeats=state.heartbeats,
    )


def _with_windows(
    state: ServiceState, event: MaintenanceScheduled | MaintenanceStarted | MaintenanceEnded
) -> ServiceState:
    windows = state.maintenance
    if isinstance(event, MaintenanceScheduled):
        started = event.start <= event.at
        window = MaintenanceWindow(event.window_id, event.start, event.end, event.by, started)
        windows = (*windows, window)
    elif isinstance(event, MaintenanceStarted):
        windows = tuple(replace(w, started=True) if w.id == event.window_id else w
                        for w in windows)  # fmt: skip
    else:
        windows = tuple(w for w in windows if w.id != event.window_id)
    return replace(state, maintenance=windows)


def fold(state: ServiceState, events: Iterable[ServiceEvent]) -> ServiceState:
    return reduce(evolve, events, state)


def _define(
    state: ServiceState, command: DefineService, policy: EscalationPolicy | None, now: datetime
) -> tuple[ServiceEvent, ...]:
    problems: list[tuple[str, str]] = []
    if not valid_id(command.service_id):
        problems.append(("id", f"{command.service_id!r} must match {ID_PATTERN.pattern}"))
    if not command.name.strip():
        problems.append(("name", "must not be empty"))
    low = command.low_urgency_severities
    if set(low) - set(SEVERITIES):
        problems.append(("low_urgency_severities", f"must be among {', '.join(SEVERITIES)}"))
    elif len(set(low)) != len(low):
        problems.append(("low_urgency_severities", "must name each severity at most once"))
    if problems:
        raise ValidationFailed(tuple(problems))
    if policy is None or policy.id != command.policy_id:
        raise PolicyNotFound(command.policy_id)
    low = tuple(severity for severity in SEVERITIES if severity in low)
    defined = (command.service_id, command.name, command.policy_id, now)
    if not state.exists:
        return (ServiceCreated(*defined, low_urgency_severities=low),)
    if (state.name, state.policy_id, state.low_urgency_severities) == (*defined[1:3], low):
        return ()
    return (ServiceUpdated(*defined, low_urgency_severities=low),)


def _delete(state: ServiceState, now: datetime) -> tuple[ServiceEvent, ...]:
    deleted = ServiceDeleted(state.service_id, now)
    removed = tuple(HeartbeatRemoved(state.service_id, b.id, now) for b in state.heartbeats)
    if state.incident is None:
        return (*removed, deleted)
    resolved = IncidentResolved(state.incident.id, "system", "service_deleted", now)
    return (resolved, *removed, deleted)


def _receive_alert(
    state: ServiceState,
    command: ReceiveAlert,
    policy: EscalationPolicy | None,
    now: datetime,
    directory: Directory,
) -> tuple[ServiceEvent, ...]:
    message = _alert_message(command)
    incident = state.incident
    if incident is None and in_maintenance(state.maintenance, now):
        return _suppress(state, replace(command, message=message), now)
    urgency = urgency_of(command.severity, state.low_urgency_severities)
    if incident is not None:
        if _fires(incident.open_keys, command.dedup_key):
            return ()
        attached = _attached(incident.id, message, command, now)
        if incident.urgency == "low" and urgency == "high":
            raised = UrgencyRaised(incident.id, "alert", command.severity, command.source, now)
            return (attached, raised, *_page_held_back(state, incident, policy, now, directory))
        return (attached,)
    policy = _require_policy(state, policy)
    opened = IncidentOpened(
        command.incident_id,
        state.service_id,
        message,
        command.dedup_key,
        command.severity,
        command.source,
        now,
        command.content,
        urgency=urgency,
    )
    return (opened, *_steps(command.incident_id, policy, 1, 1, now, directory, urgency))


def _page_held_back(
    state: ServiceState,
    incident: OpenIncident,
    policy: EscalationPolicy | None,
    now: datetime,
    directory: Directory,
) -> tuple[ServiceEvent, ...]:
    """Level 1 again, as it is now, at high urgency: what low urgency held back (its email,
    chat and webhook pages went out already), with its ack timer; nothing while someone
    has acknowledged the incident (un-acknowledging it resumes the escalation)."""
    if incident.status == "acknowledged":
        return ()
    policy = _require_policy(state, policy)
    return _steps(incident.id, policy, 1, 1, now, directory, sent=LOW_URGENCY_CHANNELS)


def _suppress(state: ServiceState, alert: ReceiveAlert, now: datetime) -> tuple[ServiceEvent, ...]:
    """Recorded, nobody paged; held by its key unless it is held already (a re-send: nothing
    to record) or too many are."""
    key = alert.dedup_key
    if key is not None and key in _held_keys(state):
        return ()
    window = next(w for w in state.maintenance if w.in_force(now))
    held = key is not None and len(state.held) < MAX_HELD_ALERTS
    return (AlertSuppressed(state.service_id, window.id, alert, held, now),)


def _held_keys(state: ServiceState) -> tuple[str, ...]:
    return tuple(alert.dedup_key for alert in state.held if alert.dedup_key is not None)


def _schedule(
    state: ServiceState, command: ScheduleMaintenance, now: datetime
) -> tuple[ServiceEvent, ...]:
    window = MaintenanceWindow(command.window_id, command.start, command.end, command.by)
    known = find(state.maintenance, window.id)
    if known is not None and (known.start, known.end) == (window.start, window.end):
        return ()  # the same window again (a configuration file applied twice)
    check_window(state.maintenance, window, now)
    scheduled = MaintenanceScheduled(
        state.service_id, window.id, window.start, window.end, window.by, now
    )
    return (scheduled,)


def _end_window(
    state: ServiceState,
    window: MaintenanceWindow,
    by: str | None,
    policy: EscalationPolicy | None,
    now: datetime,
    directory: Directory,
) -> tuple[ServiceEvent, ...]:
    """The window is over (`by` someone, early; None: at its end). If it was the last in
    force, the alerts still held come again now: the first opens the incident and pages
    level 1, as any alert does, the others attach to it."""
    early = by is not None
    ended = MaintenanceEnded(
        state.service_id, window.id, early, by or "system", now, window.in_force(now)
    )
    after = evolve(state, ended)
    if after.incident is not None or not after.held or in_maintenance(after.maintenance, now):
        return (ended,)
    events: list[ServiceEvent] = [ended]
    for alert in after.held:
        decided = _receive_alert(after, alert, policy, now, directory)
        events.extend(decided)
        after = fold(after, decided)
    return tuple(events)


def _alert_message(command: ReceiveAlert) -> str:
    """The alert's message, once its message and content are found within bounds."""
    check_content(command.content)
    return _text("message", command.message, MAX_MESSAGE_LENGTH)


def _attached(
    incident_id: str, message: str, command: ReceiveAlert, now: datetime
) -> AlertAttached:
    return AlertAttached(
        incident_id,
        message,
        command.dedup_key,
        command.severity,
        command.source,
        now,
        command.content,
    )


def _fires(firing: frozenset[str] | set[str], key: str | None) -> bool:
    """Whether an alert with this dedup key is still firing on the incident: then its trigger
    (a monitoring tool re-sends every few minutes) restarts nothing, and acknowledging or
    resolving it by key reaches the incident."""
    return key is not None and key in firing


PolicyLookup = Callable[[str], EscalationPolicy | None]
"""A policy by its id, as it is now (None: there is none)."""


@dataclass(frozen=True, slots=True)
class Decided:
    """What `decide_all` decided, command by command: the state each was decided on and its
    events, or its refusal; every event in order, each with the state after it; the final
    state."""

    results: tuple[tuple[ServiceState, tuple[ServiceEvent, ...]] | DomainError, ...]
    events: tuple[ServiceEvent, ...]
    states: tuple[ServiceState, ...]
    state: ServiceState


def decide_all(
    state: ServiceState,
    commands: Sequence[ServiceCommand],
    policies: PolicyLookup,
    now: datetime,
    directory: Directory = NO_ONE,
) -> Decided:
    """`decide` then `evolve` for each command in turn, one service's commands in their
    order: a command sees what the ones before it did, and a refused one changes nothing.
    The policy a command needs is looked up only then (a service's current one, or the one a
    DefineService names).

    Consecutive alerts while an incident is open are decided as one run: the same events and
    final state as one by one, but the incident is rebuilt once for the run instead of once
    per alert (a webhook brings a hundred, and in a storm an incident holds hundreds of
    firing keys, which each rebuild copied). The events of a run all carry the state after
    the whole run, and each alert of it is decided on the state before the run."""
    results: list[tuple[ServiceState, tuple[ServiceEvent, ...]] | DomainError] = []
    events: list[ServiceEvent] = []
    states: list[ServiceState] = []
    start = 0
    while start < len(commands):
        command = commands[start]
        if isinstance(command, ReceiveAlert) and state.exists and state.incident is not None:
            end = start + 1
            while end < len(commands) and isinstance(commands[end], ReceiveAlert):
                end += 1
            alerts = cast(Sequence[ReceiveAlert], commands[start:end])
            state, done = _attach_run(state, alerts, now, results, events, states)
            start += done
            if done:
                continue
            # The first alert raises a low-urgency incident's urgency: decided on its own.
        start += 1
        try:
            policy = _policy_for(state, command, policies)
            decided = decide(state, command, policy, now, directory)
        except DomainError as refused:
            results.append(refused)
            continue
        results.append((state, decided))
        for event in decided:
            state = evolve(state, event)
            events.append(event)
            states.append(state)
    return Decided(tuple(results), tuple(events), tuple(states), state)


def _policy_for(
    state: ServiceState, command: ServiceCommand, policies: PolicyLookup
) -> EscalationPolicy | None:
    """The policy `decide` needs for this command, looked up only if it needs one."""
    if isinstance(command, DefineService):
        return policies(command.policy_id)
    if isinstance(
        command,
        ReceiveAckTimeout
        | Unacknowledge
        | Escalate
        | EndSnooze
        | Reassign
        | EndMaintenance
        | ReceiveMaintenanceEnd,
    ) or (
        isinstance(command, ReceiveAlert | ReceiveHeartbeatDeadline)
        and (state.incident is None or state.incident.urgency == "low")
    ):
        return policies(state.policy_id)
    return None


def _attach_run(
    state: ServiceState,
    alerts: Sequence[ReceiveAlert],
    now: datetime,
    results: list[tuple[ServiceState, tuple[ServiceEvent, ...]] | DomainError],
    events: list[ServiceEvent],
    states: list[ServiceState],
) -> tuple[ServiceState, int]:
    """`decide_all` for alerts on an open incident: each attaches, changes nothing (its key
    is still firing) or is refused; the incident is rebuilt once, at the end. On a
    low-urgency incident the run stops before an alert that raises the urgency: the state
    after the alerts before it, and how many those were."""
    incident = state.incident
    assert incident is not None
    low = state.low_urgency_severities if incident.urgency == "low" else None
    firing = set(incident.open_keys)
    severity = incident.severity
    attached: list[ServiceEvent] = []
    done = 0
    for command in alerts:
        try:
            message = _alert_message(command)
        except ValidationFailed as refused:
            results.append(refused)
            done += 1
            continue
        key = command.dedup_key
        if _fires(firing, key):
            results.append((state, ()))
            done += 1
            continue
        if low is not None and urgency_of(command.severity, low) == "high":
            break
        event = _attached(incident.id, message, command, now)
        results.append((state, (event,)))
        attached.append(event)
        done += 1
        severity = highest(severity, command.severity)
        if key:
            firing.add(key)
    if not attached:
        return state, done
    keys = incident.open_keys if len(firing) == len(incident.open_keys) else frozenset(firing)
    after = _with_incident(state, _with_alerts(incident, len(attached), keys, severity))
    events.extend(attached)
    states.extend(after for _ in attached)
    return after, done


def _acknowledge(
    state: ServiceState, command: Acknowledge, now: datetime
) -> tuple[ServiceEvent, ...]:
    incident = state.incident
    if incident is None or incident.id != command.incident_id:
        raise IncidentAlreadyResolved(command.incident_id)
    if incident.status == "acknowledged" and incident.snoozed_until is None:
        return ()
    # A snoozed incident acknowledged stays acknowledged, with no time limit.
    return (Acknowledged(incident.id, command.by, now),)


def _unacknowledge(
    state: ServiceState, command: Unacknowledge, policy: EscalationPolicy | None, now: datetime
) -> tuple[ServiceEvent, ...]:
    """Triggered again; the escalation resumes where it stood: the current level's timer runs
    again from now (that level is not paged again), unless every level and round is done."""
    incident = state.incident
    if incident is None or incident.id != command.incident_id:
        raise IncidentAlreadyResolved(command.incident_id)
    if incident.status == "triggered":
        return ()
    timeout, due = _current_timer(state, incident, policy, now)
    unacknowledged = Unacknowledged(
        incident.id, command.by, incident.level, incident.round, timeout, due, now
    )
    return (unacknowledged,)


def _current_timer(
    state: ServiceState, incident: OpenIncident, policy: EscalationPolicy | None, now: datetime
) -> tuple[int | None, datetime | None]:
    """The current level's ack timeout and its timer's due time run again from now; none
    once every level and round is done, or at low urgency (it does not escalate)."""
    if incident.exhausted or incident.urgency == "low":
        return None, None
    policy = _require_policy(state, policy)
    # Below a policy shrunk under the current level, its last level's timeout: then the
    # round ends, as `_ack_timeout` decides.
    timeout = policy.level(min(max(incident.level, 1), len(policy.levels))).ack_timeout_seconds
    return timeout, now + timedelta(seconds=timeout)


def _open(state: ServiceState, incident_id: str) -> OpenIncident:
    """The open incident with this id; else it is resolved (the caller found it exists)."""
    incident = state.incident
    if incident is None or incident.id != incident_id:
        raise IncidentAlreadyResolved(incident_id)
    return incident


def _snooze(state: ServiceState, command: Snooze, now: datetime) -> tuple[ServiceEvent, ...]:
    incident = _open(state, command.incident_id)
    if command.until.utcoffset() is None:
        raise ValidationFailed((("until", "must say its UTC offset"),))
    if not now < command.until <= now + MAX_SNOOZE:
        days = MAX_SNOOZE.days
        raise ValidationFailed((("until", f"must be in the next {days} days, after now"),))
    generation = incident.snoozes + 1
    return (Snoozed(incident.id, command.by, command.until, generation, now),)


def _end_snooze(
    state: ServiceState,
    command: EndSnooze,
    policy: EscalationPolicy | None,
    now: datetime,
    directory: Directory,
) -> tuple[ServiceEvent, ...]:
    """Level 1 of the next round, even past the policy's repeat: the snooze put the
    escalation off, it did not finish it."""
    incident = state.incident
    if (
        incident is None
        or incident.id != command.incident_id
        or incident.snoozed_until is None
        or incident.snoozes != command.generation
    ):
        return ()  # stale: acknowledged, un-acknowledged, snoozed again or resolved since
    policy = _require_policy(state, policy)
    ended = SnoozeEnded(incident.id, command.generation, now)
    following = _steps(incident.id, policy, 1, incident.round + 1, now, directory, incident.urgency)
    return (ended, *following)


def _reassign(
    state: ServiceState,
    command: Reassign,
    policy: EscalationPolicy | None,
    now: datetime,
    directory: Directory,
) -> tuple[ServiceEvent, ...]:
    """The target's pages now, each key marked with the reassignment's number (a person
    the level paged is paged again); the escalation gives them the current level's timeout
    before the next level."""
    incident = _open(state, command.incident_id)
    target = command.target
    if isinstance(target, UserTarget):
        if directory.person(target.user) is None:
            raise ValidationFailed((("user", f"there is no user {target.user!r}"),))
    elif directory.schedule(target.schedule) is None:
        raise ValidationFailed((("schedule", f"there is no schedule {target.schedule!r}"),))
    timeout, due = _current_timer(state, incident, policy, now)
    number = incident.reassigns + 1
    found = resolve(Level((target,)), directory, now)
    pages = tuple(replace(page, key=f"{page.key}/reassign-{number}") for page in found.pages)
    reassigned = Reassigned(
        incident.id,
        command.by,
        target,
        number,
        incident.level,
        incident.round,
        pages,
        found.unreached,
        found.on_call,
        timeout,
        due,
        now,
    )
    return (reassigned,)


def _change(state: ServiceState, command: ReportChange, now: datetime) -> ChangeReported:
    return ChangeReported(
        state.service_id,
        _text("summary", command.summary, MAX_SUMMARY_LENGTH),
        command.source,
        command.timestamp,
        command.links,
        command.details,
        command.by,
        now,
    )


def _text(field: str, value: str, max_length: int) -> str:
    """`value` without surrounding whitespace, if it has 1 to `max_length` characters then."""
    text = value.strip()
    if not text or len(text) > max_length:
        raise ValidationFailed(((field, f"must be between 1 and {max_length} characters"),))
    return text


def _ack_timeout(
    state: ServiceState,
    command: ReceiveAckTimeout,
    policy: EscalationPolicy | None,
    now: datetime,
    directory: Directory,
) -> tuple[ServiceEvent, ...]:
    incident = state.incident
    if (
        incident is None
        or incident.id != command.incident_id
        or incident.status != "triggered"
        or incident.exhausted
        or incident.urgency == "low"
        or (incident.level, incident.round) != (command.level, command.round)
    ):
        return ()  # stale, duplicate or overtaken: timers fire at least once
    policy = _require_policy(state, policy)
    following = _after(policy, incident.level, incident.round)
    if following is None:
        return (EscalationExhausted(incident.id, incident.level, incident.round, now),)
    return _steps(incident.id, policy, *following, now, directory)


def _escalate(
    state: ServiceState,
    command: Escalate,
    policy: EscalationPolicy | None,
    now: datetime,
    directory: Directory,
) -> tuple[ServiceEvent, ...]:
    """The next level now, whatever the current one's timer says (it is overtaken: when it
    fires, it is stale). Acknowledged or not; never past the last level and round. A
    low-urgency incident is raised to high urgency by it: someone wants more people."""
    incident = state.incident
    if incident is None or incident.id != command.incident_id:
        raise IncidentAlreadyResolved(command.incident_id)
    policy = _require_policy(state, policy)
    following = None if incident.exhausted else _after(policy, incident.level, incident.round)
    if following is None:
        raise NothingToEscalateTo(incident.id)
    escalated = Escalated(incident.id, command.by, incident.level, incident.round, now)
    steps = _steps(incident.id, policy, *following, now, directory)
    if incident.urgency == "low":
        return (UrgencyRaised(incident.id, "escalated", None, command.by, now), escalated, *steps)
    return (escalated, *steps)


def _resolve_open(
    state: ServiceState, by: str, cause: Literal["healthy", "resolved"], now: datetime
) -> tuple[ServiceEvent, ...]:
    if state.incident is None:
        return ()
    return (IncidentResolved(state.incident.id, by, cause, now),)


def _resolve_alert(
    state: ServiceState, command: ResolveAlert, now: datetime
) -> tuple[ServiceEvent, ...]:
    incident = state.incident
    if incident is None and command.dedup_key in _held_keys(state):
        keys = (command.dedup_key,)
        return (SuppressedAlertsResolved(state.service_id, keys, "integration", now),)
    if incident is None or not _fires(incident.open_keys, command.dedup_key):
        return ()
    resolved = AlertResolved(incident.id, command.dedup_key, now)
    if len(incident.open_keys) > 1:
        return (resolved,)
    return (resolved, IncidentResolved(incident.id, "integration", "alerts_resolved", now))


def _require_policy(state: ServiceState, policy: EscalationPolicy | None) -> EscalationPolicy:
    if policy is None or policy.id != state.policy_id:
        raise PolicyNotFound(state.policy_id)
    return policy


def _after(policy: EscalationPolicy, level: int, round_: int) -> tuple[int, int] | None:
    """The step after `level` of `round_`: the next level, or level 1 of the next round
    while `repeat` allows; None after the last."""
    if level < len(policy.levels):
        return level + 1, round_
    if round_ <= policy.repeat:
        return 1, round_ + 1
    return None


def _steps(
    incident_id: str,
    policy: EscalationPolicy,
    level: int,
    round_: int,
    now: datetime,
    directory: Directory,
    urgency: Urgency = "high",
    sent: frozenset[str] = frozenset(),
) -> tuple[ServiceEvent, ...]:
    """The step to `level` of `round_`, its targets resolved now; while a level pages
    nobody, the next one at once (recorded, never a silent wait for its timeout), until a
    level pages someone or the last is done. At low urgency, this level's email, chat and
    webhook pages only, and nothing after it: no timer, no next level. The first step
    leaves out pages on the channels in `sent` (they went out already)."""
    events: list[ServiceEvent] = []
    step: tuple[int, int] | None = (level, round_)
    while step is not None:
        level, round_ = step
        found = resolve(policy.level(level), directory, now)
        pages = found.pages
        held: tuple[Unreached, ...] = ()
        if urgency == "low":
            pages, held = _low_urgency(found.pages)
        elif sent:
            pages, sent = tuple(p for p in pages if p.target.type not in sent), frozenset()
        timeout = policy.level(level).ack_timeout_seconds
        due = now + timedelta(seconds=timeout) if found.pages and urgency == "high" else None
        events.append(
            LevelNotified(
                incident_id,
                policy.id,
                level,
                round_,
                policy.level(level).targets,
                timeout,
                due,
                now,
                pages,
                found.unreached,
                found.on_call,
                urgency=urgency,
                held_back=held,
            )
        )
        if found.pages or urgency == "low":
            return tuple(events)
        step = _after(policy, level, round_)
    events.append(EscalationExhausted(incident_id, level, round_, now))
    return tuple(events)


def _low_urgency(pages: tuple[Page, ...]) -> tuple[tuple[Page, ...], tuple[Unreached, ...]]:
    """The pages low urgency sends, and what it holds back (once per address)."""
    sent = tuple(page for page in pages if page.target.type in LOW_URGENCY_CHANNELS)
    held = {
        page.target.key: Unreached(
            page.via or page.target.label,
            f"low urgency: {page.target.type} is paged at high urgency only",
        )
        for page in pages
        if page.target.type not in LOW_URGENCY_CHANNELS
    }
    return sent, tuple(held.values())


# -- heartbeats: a missed one raises an alert and its next ping resolves it, as an
# integration's alert and resolve would


def _define_heartbeat(
    state: ServiceState, command: DefineHeartbeat, now: datetime
) -> tuple[ServiceEvent, ...]:
    interval, grace = command.interval_seconds, command.grace_seconds
    heartbeat.validate(command.heartbeat_id, interval, grace)
    beat = heartbeat.find(state.heartbeats, command.heartbeat_id)
    if beat is not None and (beat.interval_seconds, beat.grace_seconds) == (interval, grace):
        return ()
    if beat is None and len(state.heartbeats) >= heartbeat.MAX_HEARTBEATS:
        limit = heartbeat.MAX_HEARTBEATS
        raise ValidationFailed((("service", f"has {limit} heartbeats, the most it may have"),))
    generation = heartbeat.next_generation(beat.generation if beat else 0, now)
    # A changed heartbeat waits its new interval from now; a missed one waits for a ping.
    due = None if beat is not None and beat.missed else heartbeat.deadline(interval, grace, now)
    return (
        HeartbeatDefined(
            state.service_id, command.heartbeat_id, interval, grace, generation, due, now
        ),
    )


def _remove_heartbeat(
    state: ServiceState, command: RemoveHeartbeat, now: datetime
) -> tuple[ServiceEvent, ...]:
    """Gone, and its alert with it, if it was missed."""
    beat = _heartbeat(state, command.heartbeat_id)
    removed = HeartbeatRemoved(state.service_id, beat.id, now)
    if not beat.missed:
        return (removed,)
    return (removed, *_resolve_alert(state, _heartbeat_resolved(state, beat), now))


def _ping(state: ServiceState, command: PingHeartbeat, now: datetime) -> tuple[ServiceEvent, ...]:
    """The deadline moves to an interval from now; a missed heartbeat's alert is resolved."""
    beat = _heartbeat(state, command.heartbeat_id)
    generation = heartbeat.next_generation(beat.generation, now)
    due = heartbeat.deadline(beat.interval_seconds, beat.grace_seconds, now)
    pinged = HeartbeatPinged(state.service_id, beat.id, generation, due, now)
    if not beat.missed:
        return (pinged,)
    return (pinged, *_resolve_alert(state, _heartbeat_resolved(state, beat), now))


def _heartbeat_deadline(
    state: ServiceState,
    command: ReceiveHeartbeatDeadline,
    policy: EscalationPolicy | None,
    now: datetime,
    directory: Directory,
) -> tuple[ServiceEvent, ...]:
    beat = heartbeat.find(state.heartbeats, command.heartbeat_id)
    if beat is None or beat.missed or beat.generation != command.generation:
        return ()  # removed, pinged since or a duplicate: timers fire at least once
    missed = HeartbeatMissed(state.service_id, beat.id, beat.generation, beat.last_ping_at, now)
    alert = ReceiveAlert(
        state.service_id,
        command.incident_id,
        heartbeat.missed_message(beat),
        heartbeat.dedup_key(beat.id),
        "critical",
        heartbeat.SOURCE,
    )
    return (missed, *_receive_alert(state, alert, policy, now, directory))


def _heartbeat(state: ServiceState, heartbeat_id: str) -> Heartbeat:
    beat = heartbeat.find(state.heartbeats, heartbeat_id)
    if beat is None:
        raise HeartbeatNotFound(heartbeat_id)
    return beat


def _heartbeat_resolved(state: ServiceState, beat: Heartbeat) -> ResolveAlert:
    return ResolveAlert(state.service_id, heartbeat.dedup_key(beat.id))


def _evolve_heartbeat(
    state: ServiceState,
    event: HeartbeatDefined | HeartbeatRemoved | HeartbeatPinged | HeartbeatMissed,
) -> ServiceState:
    beats = state.heartbeats
    if isinstance(event, HeartbeatRemoved):
        return replace(state, heartbeats=heartbeat.without(beats, event.heartbeat_id))
    beat = heartbeat.find(beats, event.heartbeat_id)
    match event:
        case HeartbeatDefined():
            beat = Heartbeat(
                event.heartbeat_id,
                event.interval_seconds,
                event.grace_seconds,
                beat.defined_at if beat is not None else event.at,
                event.generation,
                event.due_at,
                beat.last_ping_at if beat is not None else None,
            )
        case HeartbeatPinged():
            assert beat is not None, "a ping needs its heartbeat"
            beat = heartbeat.pinged(beat, event.generation, event.due_at, event.at)
        case HeartbeatMissed():
            assert beat is not None, "a miss needs its heartbeat"
            beat = replace(beat, due_at=None)
        case _:
            assert_never(event)
    return replace(state, heartbeats=heartbeat.put(beats, beat))
