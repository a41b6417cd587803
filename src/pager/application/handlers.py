"""The one way a command reaches a commit: `Handlers.execute` loads the services' snapshots,
decides (`decide_all`), and appends events, snapshots, read models, outbox rows and timer rows
in one transaction; on a concurrent append, it runs again. Single alerts, webhook batches,
acknowledgements, resolves, healthy events and ack timers all take it, whoever sends them
(group commit, the console, the CLI, the worker). Escalation policies have their own streams
and their own two handlers."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypeVar

from pager.application.ports import Clock, ConcurrencyConflict, UnitOfWork, UnitOfWorkFactory
from pager.application.timers import fired_by
from pager.domain.commands import (
    Acknowledge,
    AcknowledgeAlert,
    AddNote,
    DefinePolicy,
    DefineService,
    DeletePolicy,
    DeleteService,
    EndMaintenance,
    Escalate,
    MarkHealthy,
    ReceiveAckTimeout,
    ReceiveAlert,
    Resolve,
    ResolveAlert,
    ScheduleMaintenance,
    ServiceCommand,
    Unacknowledge,
)
from pager.domain.content import NO_CONTENT, AlertContent
from pager.domain.errors import DomainError, IncidentNotFound
from pager.domain.events import IncidentOpened, PolicyEvent, ServiceEvent
from pager.domain.incident import ServiceState, decide_all
from pager.domain.policy import EscalationPolicy
from pager.domain.policy_stream import decide_policy
from pager.domain.severity import Severity
from pager.ids import new_id

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a command did: the state it was decided on and the events it committed. For
    alerts decided together as one run on an open incident, `before` is the state at the
    start of their run: the same incident, as it was before any of them attached."""

    before: ServiceState
    events: tuple[ServiceEvent, ...]


@dataclass(frozen=True, slots=True)
class AlertOutcome:
    incident_id: str
    action: Literal["opened", "attached", "suppressed"]
    """"suppressed": a maintenance window is in force; nobody was paged. Then `incident_id`
    is the id its incident gets if this alert, still firing, opens one when the window ends."""
    events: tuple[ServiceEvent, ...]


Result = Outcome | DomainError


class Handlers:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        ids: Callable[[], str] = new_id,
        max_attempts: int = 100,
        incident_service: Callable[[str], str | None] | None = None,
        allow_private_targets: bool = False,
    ) -> None:
        """`incident_service` reads which service an incident belongs to, outside any write
        transaction (the read side's); without it, a unit of work is opened to read it.
        `allow_private_targets`: whether policies may page private addresses."""
        self.allow_private_targets = allow_private_targets
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._max_attempts = max_attempts
        self._incident_service = incident_service

    # -- the one path for service commands

    def execute(self, commands: Sequence[ServiceCommand]) -> list[Result]:
        """Decide and commit `commands` in one transaction: one load per service, one write
        per kind of row. Each command's outcome is what it would have been had it been
        handled alone, in this order; a command that is refused (a DomainError in its place)
        does not stop the others. Each ReceiveAckTimeout's timer row goes in the same
        transaction, handled or refused (a refused one could never be handled)."""
        return self._retrying(lambda uow: self._execute(uow, commands))

    def _execute(self, uow: UnitOfWork, commands: Sequence[ServiceCommand]) -> list[Result]:
        by_service: dict[str, list[int]] = {}
        for position, command in enumerate(commands):
            by_service.setdefault(command.service_id, []).append(position)
        loaded = uow.services.load_many(list(by_service))
        # A service defined with a policy locks that policy's stream: a concurrent delete of
        # the policy waits, then sees the service that uses it.
        locked = {
            command.policy_id: uow.policies.load(command.policy_id).state.policy
            for command in commands
            if isinstance(command, DefineService)
        }
        policies: dict[str, EscalationPolicy | None] = {}

        def policy(policy_id: str) -> EscalationPolicy | None:
            if policy_id in locked:
                return locked[policy_id]
            if policy_id not in policies:
                policies[policy_id] = uow.policies.current(policy_id)
            return policies[policy_id]

        now = self._clock.now()
        directory = uow.directory(now)
        results: list[Result | None] = [None] * len(commands)
        appends = []
        for service_id, positions in by_service.items():
            decided = decide_all(
                loaded[service_id].state, [commands[p] for p in positions], policy, now, directory
            )
            for position, result in zip(positions, decided.results, strict=True):
                results[position] = result if isinstance(result, DomainError) else Outcome(*result)
            if decided.events:
                appends.append((loaded[service_id], decided.events, decided.states))
        fired = [key for key in map(fired_by, commands) if key is not None]
        if fired:
            uow.timers.remove_many(fired)
        uow.services.append_many(
            [(item, events) for item, events, _ in appends], [states for *_, states in appends]
        )
        return [result for result in results if result is not None]

    # -- each command alone: built, executed, its refusal raised

    def run(self, command: ServiceCommand) -> Outcome:
        [result] = self.execute([command])
        if isinstance(result, DomainError):
            raise result
        return result

    def alert_command(
        self,
        service_id: str,
        message: str,
        *,
        dedup_key: str | None = None,
        severity: Severity | None = None,
        source: str = "api",
        content: AlertContent = NO_CONTENT,
    ) -> ReceiveAlert:
        """The command for one alert, with the id its incident gets if it opens one."""
        return ReceiveAlert(service_id, self._ids(), message, dedup_key, severity, source, content)

    def receive_alert(
        self,
        service_id: str,
        message: str,
        *,
        dedup_key: str | None = None,
        severity: Severity | None = None,
        source: str = "api",
        content: AlertContent = NO_CONTENT,
    ) -> AlertOutcome:
        command = self.alert_command(
            service_id,
            message,
            dedup_key=dedup_key,
            severity=severity,
            source=source,
            content=content,
        )
        return alert_outcome(command, self.run(command))

    def acknowledge(self, incident_id: str, by: str) -> Outcome:
        return self.run(Acknowledge(self.service_of(incident_id), incident_id, by))

    def unacknowledge(self, incident_id: str, by: str) -> Outcome:
        return self.run(Unacknowledge(self.service_of(incident_id), incident_id, by))

    def escalate(self, incident_id: str, by: str) -> Outcome:
        return self.run(Escalate(self.service_of(incident_id), incident_id, by))

    def add_note(self, incident_id: str, text: str, by: str) -> Outcome:
        return self.run(AddNote(self.service_of(incident_id), incident_id, text, by))

    def acknowledge_alert(self, service_id: str, dedup_key: str, by: str) -> Outcome:
        return self.run(AcknowledgeAlert(service_id, dedup_key, by))

    def resolve(self, incident_id: str, by: str) -> Outcome:
        return self.run(Resolve(self.service_of(incident_id), incident_id, by))

    def mark_healthy(self, service_id: str, by: str = "api") -> Outcome:
        return self.run(MarkHealthy(service_id, by))

    def resolve_alert(self, service_id: str, dedup_key: str) -> Outcome:
        return self.run(ResolveAlert(service_id, dedup_key))

    def receive_ack_timeout(
        self, service_id: str, incident_id: str, level: int, round_: int
    ) -> Outcome:
        return self.run(ReceiveAckTimeout(service_id, incident_id, level, round_))

    def define_service(
        self,
        service_id: str,
        name: str,
        policy_id: str,
        low_urgency_severities: tuple[Severity, ...] = (),
    ) -> Outcome:
        return self.run(DefineService(service_id, name, policy_id, low_urgency_severities))

    def delete_service(self, service_id: str) -> Outcome:
        return self.run(DeleteService(service_id))

    def schedule_maintenance(
        self, service_id: str, start: datetime | None, end: datetime, by: str
    ) -> str:
        """A new window (from now if `start` is None); its id."""
        window_id = self._ids()
        start = self._clock.now() if start is None else start
        self.run(ScheduleMaintenance(service_id, window_id, start, end, by))
        return window_id

    def end_maintenance(self, service_id: str, window_id: str, by: str) -> Outcome:
        return self.run(EndMaintenance(service_id, window_id, by))

    def service_of(self, incident_id: str) -> str:
        """The service an incident belongs to (which never changes); IncidentNotFound."""
        if self._incident_service is not None:
            service_id = self._incident_service(incident_id)
        else:
            with self._uow() as uow:
                service_id = uow.services.service_of_incident(incident_id)
        if service_id is None:
            raise IncidentNotFound(incident_id)
        return service_id

    # -- escalation policies

    def define_policy(self, policy: EscalationPolicy) -> tuple[PolicyEvent, ...]:
        def run(uow: UnitOfWork) -> tuple[PolicyEvent, ...]:
            loaded = uow.policies.load(policy.id)
            now = self._clock.now()
            events = decide_policy(
                loaded.state,
                DefinePolicy(policy),
                now,
                allow_private=self.allow_private_targets,
                directory=uow.directory(now, hold=True),
            )
            if events:
                uow.policies.append(loaded, events)
            return events

        return self._retrying(run)

    def delete_policy(self, policy_id: str) -> tuple[PolicyEvent, ...]:
        def run(uow: UnitOfWork) -> tuple[PolicyEvent, ...]:
            loaded = uow.policies.load(policy_id)  # locks the policy against new users
            command = DeletePolicy(policy_id, uow.policies.used_by(policy_id))
            events = decide_policy(loaded.state, command, self._clock.now())
            uow.policies.append(loaded, events)
            return events

        return self._retrying(run)

    def _retrying(self, run: Callable[[UnitOfWork], T]) -> T:
        for attempt in range(1, self._max_attempts + 1):
            try:
                with self._uow() as uow:
                    result = run(uow)
                    uow.commit()
                    return result
            except ConcurrencyConflict:
                if attempt == self._max_attempts:
                    raise
                # Another writer got there first: read its outcome and decide again.
                time.sleep(random.uniform(0, 0.002 * min(attempt, 10)))
        raise AssertionError("unreachable")


def alert_outcome(command: ReceiveAlert, outcome: Outcome) -> AlertOutcome:
    if outcome.before.incident is not None:
        return AlertOutcome(outcome.before.incident.id, "attached", outcome.events)
    if not any(isinstance(event, IncidentOpened) for event in outcome.events):
        return AlertOutcome(command.incident_id, "suppressed", outcome.events)
    return AlertOutcome(command.incident_id, "opened", outcome.events)
