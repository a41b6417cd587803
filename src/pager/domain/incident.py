"""A monitored service and its incidents: the escalation rules as `decide` and `evolve`.

A service's state is the fold of its event stream. `decide` is pure: it reads the state,
the command, the service's *current* escalation policy and the time, and returns the
events that follow (possibly none). It never reads a clock and never does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import reduce
from typing import Literal, assert_never

from pager.domain.commands import (
    Acknowledge,
    DefineService,
    DeleteService,
    MarkHealthy,
    ReceiveAckTimeout,
    ReceiveAlert,
    Resolve,
    ResolveAlert,
    ServiceCommand,
)
from pager.domain.errors import (
    DomainError,
    IncidentAlreadyResolved,
    PolicyNotFound,
    ServiceNotFound,
    ValidationFailed,
)
from pager.domain.events import (
    Acknowledged,
    AlertAttached,
    AlertResolved,
    EscalationExhausted,
    IncidentOpened,
    IncidentResolved,
    LevelNotified,
    ServiceCreated,
    ServiceDeleted,
    ServiceEvent,
    ServiceUpdated,
)
from pager.domain.policy import ID_PATTERN, EscalationPolicy, valid_id

MAX_MESSAGE_LENGTH = 4096


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


@dataclass(frozen=True, slots=True)
class ServiceState:
    service_id: str
    exists: bool = False
    name: str = ""
    policy_id: str = ""
    incident: OpenIncident | None = None

    @property
    def healthy(self) -> bool:
        return self.incident is None


def decide(
    state: ServiceState,
    command: ServiceCommand,
    policy: EscalationPolicy | None,
    now: datetime,
) -> tuple[ServiceEvent, ...]:
    """The events that `command` causes. `policy` is the service's current policy, if any."""
    if isinstance(command, DefineService):
        return _define(state, command, policy, now)
    if not state.exists:
        raise ServiceNotFound(command.service_id)
    match command:
        case DeleteService():
            return _delete(state, now)
        case ReceiveAlert():
            return _receive_alert(state, command, policy, now)
        case Acknowledge():
            return _acknowledge(state, command, now)
        case ReceiveAckTimeout():
            return _ack_timeout(state, command, policy, now)
        case MarkHealthy():
            return _resolve_open(state, command.by, "healthy", now)
        case Resolve():
            if state.incident is None or state.incident.id != command.incident_id:
                return ()
            return _resolve_open(state, command.by, "resolved", now)
        case ResolveAlert():
            return _resolve_alert(state, command, now)
        case _:
            assert_never(command)


def evolve(state: ServiceState, event: ServiceEvent) -> ServiceState:
    """The state after `event`. Total: every event applies to the state its stream implies."""
    match event:
        case ServiceCreated() | ServiceUpdated():
            return replace(state, exists=True, name=event.name, policy_id=event.policy_id)
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
            )
            return _with_incident(state, opened)
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
            incident = _with_alerts(incident, 1, keys)
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
            )
        case EscalationExhausted():
            incident = replace(incident, exhausted=True)
        case Acknowledged():
            incident = replace(
                incident, status="acknowledged", acknowledged_at=event.at, acknowledged_by=event.by
            )
        case AlertResolved():
            incident = replace(incident, open_keys=incident.open_keys - {event.dedup_key})
        case IncidentResolved():
            return replace(state, incident=None)
        case _:
            assert_never(event)
    return _with_incident(state, incident)


def _with_alerts(incident: OpenIncident, alerts: int, keys: frozenset[str]) -> OpenIncident:
    """`incident` with `alerts` more alerts attached and these keys firing."""
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
    )


def _with_incident(state: ServiceState, incident: OpenIncident) -> ServiceState:
    return ServiceState(state.service_id, state.exists, state.name, state.policy_id, incident)


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
    if problems:
        raise ValidationFailed(tuple(problems))
    if policy is None or policy.id != command.policy_id:
        raise PolicyNotFound(command.policy_id)
    if not state.exists:
        return (ServiceCreated(command.service_id, command.name, command.policy_id, now),)
    if (state.name, state.policy_id) == (command.name, command.policy_id):
        return ()
    return (ServiceUpdated(command.service_id, command.name, command.policy_id, now),)


def _delete(state: ServiceState, now: datetime) -> tuple[ServiceEvent, ...]:
    deleted = ServiceDeleted(state.service_id, now)
    if state.incident is None:
        return (deleted,)
    return (IncidentResolved(state.incident.id, "system", "service_deleted", now), deleted)


def _receive_alert(
    state: ServiceState, command: ReceiveAlert, policy: EscalationPolicy | None, now: datetime
) -> tuple[ServiceEvent, ...]:
    message = _alert_message(command)
    incident = state.incident
    if incident is not None:
        if command.dedup_key and command.dedup_key in incident.open_keys:
            return ()  # a re-sent alert for a key that is still firing: never restart anything
        return (
            AlertAttached(
                incident.id, message, command.dedup_key, command.severity, command.source, now
            ),
        )
    policy = _require_policy(state, policy)
    opened = IncidentOpened(
        command.incident_id,
        state.service_id,
        message,
        command.dedup_key,
        command.severity,
        command.source,
        now,
    )
    return (opened, _notify(command.incident_id, policy, 1, 1, now))


def _alert_message(command: ReceiveAlert) -> str:
    message = command.message.strip()
    if not message or len(message) > MAX_MESSAGE_LENGTH:
        raise ValidationFailed(
            (("message", f"must be between 1 and {MAX_MESSAGE_LENGTH} characters"),)
        )
    return message


def attach_alerts(
    state: ServiceState, commands: Sequence[ReceiveAlert], now: datetime
) -> tuple[list[tuple[ServiceEvent, ...] | DomainError], ServiceState]:
    """What `decide` then `evolve` give, alert after alert, on a service whose incident is
    open: each alert attaches to it, changes nothing (its key is still firing) or is
    refused. The same events, and the same state after them all, but the incident is
    rebuilt once for the run instead of once per alert: a webhook brings a hundred alerts,
    and in a storm an incident holds hundreds of firing keys, which each rebuild copied.
    Returns each alert's events (or refusal) and the state after the run."""
    incident = state.incident
    assert state.exists, "attach_alerts needs a service"
    assert incident is not None, "attach_alerts needs an open incident"
    firing = incident.open_keys
    added: set[str] = set()
    results: list[tuple[ServiceEvent, ...] | DomainError] = []
    attached = 0
    for command in commands:
        try:
            message = _alert_message(command)
        except ValidationFailed as refused:
            results.append(refused)
            continue
        key = command.dedup_key
        if key and (key in firing or key in added):
            results.append(())  # as in _receive_alert: a key still firing restarts nothing
            continue
        event = AlertAttached(incident.id, message, key, command.severity, command.source, now)
        results.append((event,))
        attached += 1
        if key:
            added.add(key)
    if not attached:
        return results, state
    after = _with_alerts(incident, attached, firing | added if added else firing)
    return results, _with_incident(state, after)


def _acknowledge(
    state: ServiceState, command: Acknowledge, now: datetime
) -> tuple[ServiceEvent, ...]:
    incident = state.incident
    if incident is None or incident.id != command.incident_id:
        raise IncidentAlreadyResolved(command.incident_id)
    if incident.status == "acknowledged":
        return ()
    return (Acknowledged(incident.id, command.by, now),)


def _ack_timeout(
    state: ServiceState,
    command: ReceiveAckTimeout,
    policy: EscalationPolicy | None,
    now: datetime,
) -> tuple[ServiceEvent, ...]:
    incident = state.incident
    if (
        incident is None
        or incident.id != command.incident_id
        or incident.status != "triggered"
        or incident.exhausted
        or (incident.level, incident.round) != (command.level, command.round)
    ):
        return ()  # stale, duplicate or overtaken: timers fire at least once
    policy = _require_policy(state, policy)
    if incident.level < len(policy.levels):
        return (_notify(incident.id, policy, incident.level + 1, incident.round, now),)
    if incident.round <= policy.repeat:
        return (_notify(incident.id, policy, 1, incident.round + 1, now),)
    return (EscalationExhausted(incident.id, incident.level, incident.round, now),)


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
    if incident is None or command.dedup_key not in incident.open_keys:
        return ()
    resolved = AlertResolved(incident.id, command.dedup_key, now)
    if len(incident.open_keys) > 1:
        return (resolved,)
    return (resolved, IncidentResolved(incident.id, "integration", "alerts_resolved", now))


def _require_policy(state: ServiceState, policy: EscalationPolicy | None) -> EscalationPolicy:
    if policy is None or policy.id != state.policy_id:
        raise PolicyNotFound(state.policy_id)
    return policy


def _notify(
    incident_id: str, policy: EscalationPolicy, level: int, round_: int, now: datetime
) -> LevelNotified:
    step = policy.level(level)
    due = now + timedelta(seconds=step.ack_timeout_seconds)
    return LevelNotified(
        incident_id, policy.id, level, round_, step.targets, step.ack_timeout_seconds, due, now
    )
