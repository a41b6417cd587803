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

from pager.domain.commands import (
    Acknowledge,
    AcknowledgeAlert,
    AddNote,
    DefineService,
    DeleteService,
    Escalate,
    MarkHealthy,
    ReceiveAckTimeout,
    ReceiveAlert,
    ReportChange,
    Resolve,
    ResolveAlert,
    ServiceCommand,
    Unacknowledge,
)
from pager.domain.content import check_content
from pager.domain.errors import (
    DomainError,
    IncidentAlreadyResolved,
    NothingToEscalateTo,
    PolicyNotFound,
    ServiceNotFound,
    ValidationFailed,
)
from pager.domain.events import (
    Acknowledged,
    AlertAttached,
    AlertResolved,
    ChangeReported,
    Escalated,
    EscalationExhausted,
    IncidentOpened,
    IncidentResolved,
    LevelNotified,
    NoteAdded,
    ServiceCreated,
    ServiceDeleted,
    ServiceEvent,
    ServiceUpdated,
    Unacknowledged,
)
from pager.domain.paging import NO_ONE, Directory, resolve
from pager.domain.policy import ID_PATTERN, EscalationPolicy, valid_id

MAX_MESSAGE_LENGTH = 4096
MAX_NOTE_LENGTH = 25_000  # Opsgenie's limit for a note
MAX_SUMMARY_LENGTH = 1024  # PagerDuty's limit for a change event's summary


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
        case NoteAdded() | ChangeReported():
            return state  # words for the timeline: they change nothing the rules read
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
                incident.unreached + len(event.unreached),
            )
        case EscalationExhausted():
            incident = replace(incident, exhausted=True)
        case Acknowledged():
            incident = replace(
                incident, status="acknowledged", acknowledged_at=event.at, acknowledged_by=event.by
            )
        case Unacknowledged() | Escalated():
            incident = replace(
                incident, status="triggered", acknowledged_at=None, acknowledged_by=None
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
        incident.unreached,
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
    state: ServiceState,
    command: ReceiveAlert,
    policy: EscalationPolicy | None,
    now: datetime,
    directory: Directory,
) -> tuple[ServiceEvent, ...]:
    message = _alert_message(command)
    incident = state.incident
    if incident is not None:
        if _fires(incident.open_keys, command.dedup_key):
            return ()
        return (_attached(incident.id, message, command, now),)
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
    )
    return (opened, *_steps(command.incident_id, policy, 1, 1, now, directory))


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
            state = _attach_run(state, alerts, now, results, events, states)
            start = end
            continue
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
    if isinstance(command, ReceiveAckTimeout | Unacknowledge | Escalate) or (
        isinstance(command, ReceiveAlert) and state.incident is None
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
) -> ServiceState:
    """`decide_all` for alerts on an open incident: each attaches, changes nothing (its key
    is still firing) or is refused; the incident is rebuilt once, at the end."""
    incident = state.incident
    assert incident is not None
    firing = set(incident.open_keys)
    attached: list[ServiceEvent] = []
    for command in alerts:
        try:
            message = _alert_message(command)
        except ValidationFailed as refused:
            results.append(refused)
            continue
        key = command.dedup_key
        if _fires(firing, key):
            results.append((state, ()))
            continue
        event = _attached(incident.id, message, command, now)
        results.append((state, (event,)))
        attached.append(event)
        if key:
            firing.add(key)
    if not attached:
        return state
    keys = incident.open_keys if len(firing) == len(incident.open_keys) else frozenset(firing)
    after = _with_incident(state, _with_alerts(incident, len(attached), keys))
    events.extend(attached)
    states.extend(after for _ in attached)
    return after


def _acknowledge(
    state: ServiceState, command: Acknowledge, now: datetime
) -> tuple[ServiceEvent, ...]:
    incident = state.incident
    if incident is None or incident.id != command.incident_id:
        raise IncidentAlreadyResolved(command.incident_id)
    if incident.status == "acknowledged":
        return ()
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
    timeout: int | None = None
    due: datetime | None = None
    if not incident.exhausted:
        policy = _require_policy(state, policy)
        # Below a policy shrunk under the current level, its last level's timeout: then the
        # round ends, as `_ack_timeout` decides.
        timeout = policy.level(min(max(incident.level, 1), len(policy.levels))).ack_timeout_seconds
        due = now + timedelta(seconds=timeout)
    unacknowledged = Unacknowledged(
        incident.id, command.by, incident.level, incident.round, timeout, due, now
    )
    return (unacknowledged,)


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
    fires, it is stale). Acknowledged or not; never past the last level and round."""
    incident = state.incident
    if incident is None or incident.id != command.incident_id:
        raise IncidentAlreadyResolved(command.incident_id)
    policy = _require_policy(state, policy)
    following = None if incident.exhausted else _after(policy, incident.level, incident.round)
    if following is None:
        raise NothingToEscalateTo(incident.id)
    escalated = Escalated(incident.id, command.by, incident.level, incident.round, now)
    return (escalated, *_steps(incident.id, policy, *following, now, directory))


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
) -> tuple[ServiceEvent, ...]:
    """The step to `level` of `round_`, its targets resolved now; while a level pages
    nobody, the next one at once (recorded, never a silent wait for its timeout), until a
    level pages someone or the last is done."""
    events: list[ServiceEvent] = []
    step: tuple[int, int] | None = (level, round_)
    while step is not None:
        level, round_ = step
        found = resolve(policy.level(level), directory, now)
        timeout = policy.level(level).ack_timeout_seconds
        due = now + timedelta(seconds=timeout) if found.pages else None
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
                found.pages,
                found.unreached,
                found.on_call,
            )
        )
        if found.pages:
            return tuple(events)
        step = _after(policy, level, round_)
    events.append(EscalationExhausted(incident_id, level, round_, now))
    return tuple(events)
