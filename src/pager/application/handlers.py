"""One handler per command. Each runs in one unit of work: load the stream, decide, append
(events, snapshot, read models, outbox, timers), commit; on a concurrent append, again."""

from __future__ import annotations

import os
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar, cast

from pager.application.ports import Clock, ConcurrencyConflict, UnitOfWork, UnitOfWorkFactory
from pager.domain.commands import (
    Acknowledge,
    DefinePolicy,
    DefineService,
    DeletePolicy,
    DeleteService,
    MarkHealthy,
    ReceiveAckTimeout,
    ReceiveAlert,
    Resolve,
    ResolveAlert,
    ServiceCommand,
)
from pager.domain.errors import DomainError, IncidentNotFound, ServiceNotFound
from pager.domain.events import PolicyEvent, ServiceEvent
from pager.domain.incident import ServiceState, attach_alerts, decide, evolve
from pager.domain.policy import EscalationPolicy
from pager.domain.policy_stream import decide_policy

T = TypeVar("T")

BatchCommand = ReceiveAlert | ResolveAlert | MarkHealthy | ReceiveAckTimeout
"""Commands that may be grouped into one transaction (the high-volume ones)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a command did: the state it was decided on and the events it committed. For
    alerts that a batch decided together on one open incident (`attach_alerts`), `before`
    is the state at the start of their run: the same incident, as it was before any of
    them attached."""

    before: ServiceState
    events: tuple[ServiceEvent, ...]


@dataclass(frozen=True, slots=True)
class AlertOutcome:
    incident_id: str
    action: Literal["opened", "attached"]
    events: tuple[ServiceEvent, ...]


_random_bytes: list[bytes] = []
_random_lock = threading.Lock()
os.register_at_fork(after_in_child=_random_bytes.clear)  # a child draws its own


def new_id() -> str:
    """A random (version 4) UUID in hex, as `uuid.uuid4().hex`. The randomness is read 256
    ids at a time: one system call per id cost more than deciding an alert."""
    with _random_lock:
        if not _random_bytes:
            pool = os.urandom(16 * 256)
            _random_bytes.extend(pool[n : n + 16] for n in range(0, len(pool), 16))
        raw = bytearray(_random_bytes.pop())
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    return raw.hex()


class Handlers:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        ids: Callable[[], str] = new_id,
        max_attempts: int = 100,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._max_attempts = max_attempts

    # -- escalation policies

    def define_policy(self, policy: EscalationPolicy) -> tuple[PolicyEvent, ...]:
        def run(uow: UnitOfWork) -> tuple[PolicyEvent, ...]:
            loaded = uow.policies.load(policy.id)
            events = decide_policy(loaded.state, DefinePolicy(policy), self._clock.now())
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

    # -- services

    def define_service(self, service_id: str, name: str, policy_id: str) -> Outcome:
        def run(uow: UnitOfWork) -> Outcome:
            # Locking the policy's stream keeps a concurrent delete of that policy out.
            policy = uow.policies.load(policy_id).state.policy
            return self._decide(uow, DefineService(service_id, name, policy_id), policy)

        return self._retrying(run)

    def delete_service(self, service_id: str) -> Outcome:
        return self._retrying(lambda uow: self._decide(uow, DeleteService(service_id)))

    # -- incidents

    def receive_alert(
        self,
        service_id: str,
        message: str,
        *,
        dedup_key: str | None = None,
        severity: str | None = None,
        source: str = "api",
    ) -> AlertOutcome:
        command = self.alert_command(
            service_id, message, dedup_key=dedup_key, severity=severity, source=source
        )
        return self._retrying(lambda uow: alert_outcome(command, self._decide(uow, command)))

    def acknowledge(self, incident_id: str, by: str) -> Outcome:
        def run(uow: UnitOfWork) -> Outcome:
            service_id = self._service_of(uow, incident_id)
            return self._decide(uow, Acknowledge(service_id, incident_id, by))

        return self._retrying(run)

    def acknowledge_key(self, service_id: str, dedup_key: str, by: str) -> Outcome:
        """Acknowledge the open incident that holds this dedup key; nothing if none does."""

        def run(uow: UnitOfWork) -> Outcome:
            state = uow.services.load(service_id).state
            incident = state.incident
            if incident is not None and dedup_key in incident.open_keys:
                return self._decide(uow, Acknowledge(service_id, incident.id, by))
            if not state.exists:
                raise ServiceNotFound(service_id)
            return Outcome(state, ())

        return self._retrying(run)

    def resolve(self, incident_id: str, by: str) -> Outcome:
        def run(uow: UnitOfWork) -> Outcome:
            service_id = self._service_of(uow, incident_id)
            return self._decide(uow, Resolve(service_id, incident_id, by))

        return self._retrying(run)

    def mark_healthy(self, service_id: str, by: str = "api") -> Outcome:
        return self._retrying(lambda uow: self._decide(uow, MarkHealthy(service_id, by)))

    def resolve_alert(self, service_id: str, dedup_key: str) -> Outcome:
        return self._retrying(lambda uow: self._decide(uow, ResolveAlert(service_id, dedup_key)))

    def receive_ack_timeout(
        self, service_id: str, incident_id: str, level: int, round_: int
    ) -> Outcome:
        """Handle a due ack timer; the timer row goes in the same transaction."""

        def run(uow: UnitOfWork) -> Outcome:
            command = ReceiveAckTimeout(service_id, incident_id, level, round_)
            outcome = self._decide(uow, command)
            uow.timers.remove(incident_id, level, round_)
            return outcome

        return self._retrying(run)

    # -- many commands, one transaction

    def execute_many(self, commands: Sequence[BatchCommand]) -> list[Outcome | DomainError]:
        """Decide and commit `commands` in one transaction (group commit): one load per
        service, one write per kind of row. Each command's outcome is what it would have been
        had it been handled alone, in this order; a command that is refused (a DomainError in
        its place) does not stop the others. The timer of each ReceiveAckTimeout goes in the
        same transaction, handled or refused (a refused one could never be handled).
        Consecutive alerts for a service whose incident is open are decided as one run."""

        def run(uow: UnitOfWork) -> list[Outcome | DomainError]:
            loaded = uow.services.load_many([command.service_id for command in commands])
            states = {service_id: item.state for service_id, item in loaded.items()}
            appended: dict[str, list[ServiceEvent]] = defaultdict(list)
            after: dict[str, list[ServiceState]] = defaultdict(list)
            policies: dict[str, EscalationPolicy | None] = {}
            now = self._clock.now()
            results: list[Outcome | DomainError] = []
            for group in _runs(commands, states):
                if len(group) > 1:  # alerts for one open incident: decided together
                    service_id = group[0].service_id
                    state = states[service_id]
                    alerts = cast(Sequence[ReceiveAlert], group)  # _runs made sure
                    decided, state_after = attach_alerts(state, alerts, now)
                    for events in decided:
                        if isinstance(events, DomainError):
                            results.append(events)
                            continue
                        results.append(Outcome(state, events))
                        appended[service_id].extend(events)
                        after[service_id].extend(state_after for _ in events)
                    states[service_id] = state_after
                    continue
                [command] = group
                state = states[command.service_id]
                policy = None
                if _needs_policy(state, command):
                    if state.policy_id not in policies:
                        policies[state.policy_id] = uow.policies.current(state.policy_id)
                    policy = policies[state.policy_id]
                try:
                    events = decide(state, command, policy, now)
                except DomainError as refused:
                    results.append(refused)
                    continue
                results.append(Outcome(state, events))
                for event in events:
                    state = evolve(state, event)
                    after[command.service_id].append(state)
                states[command.service_id] = state
                appended[command.service_id].extend(events)
            fired = [c for c in commands if isinstance(c, ReceiveAckTimeout)]
            if fired:
                uow.timers.remove_many([(c.incident_id, c.level, c.round) for c in fired])
            uow.services.append_many(
                [(loaded[service_id], events) for service_id, events in appended.items()],
                [after[service_id] for service_id in appended],
            )
            return results

        return self._retrying(run)

    def alert_command(
        self,
        service_id: str,
        message: str,
        *,
        dedup_key: str | None = None,
        severity: str | None = None,
        source: str = "api",
    ) -> ReceiveAlert:
        """The command for one alert, with the id its incident gets if it opens one."""
        return ReceiveAlert(service_id, self._ids(), message, dedup_key, severity, source)

    # -- the one way every service command runs

    def _decide(
        self,
        uow: UnitOfWork,
        command: ServiceCommand,
        policy: EscalationPolicy | None = None,
    ) -> Outcome:
        loaded = uow.services.load(command.service_id)
        state = loaded.state
        if policy is None and _needs_policy(state, command):
            policy = uow.policies.current(state.policy_id)
        events = decide(state, command, policy, self._clock.now())
        if events:
            uow.services.append(loaded, events)
        return Outcome(state, events)

    def _service_of(self, uow: UnitOfWork, incident_id: str) -> str:
        service_id = uow.services.service_of_incident(incident_id)
        if service_id is None:
            raise IncidentNotFound(incident_id)
        return service_id

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


def _runs(
    commands: Sequence[BatchCommand], states: dict[str, ServiceState]
) -> Iterator[Sequence[BatchCommand]]:
    """The commands one by one, except that consecutive alerts for a service whose incident
    is open (as the batch starts) come as one run, for `attach_alerts`."""
    start = 0
    while start < len(commands):
        first = commands[start]
        end = start + 1
        state = states[first.service_id]
        if isinstance(first, ReceiveAlert) and state.exists and state.incident is not None:
            while (
                end < len(commands)
                and isinstance(commands[end], ReceiveAlert)
                and commands[end].service_id == first.service_id
            ):
                end += 1
        yield commands[start:end]
        start = end


def alert_outcome(command: ReceiveAlert, outcome: Outcome) -> AlertOutcome:
    if outcome.before.incident is not None:
        return AlertOutcome(outcome.before.incident.id, "attached", outcome.events)
    return AlertOutcome(command.incident_id, "opened", outcome.events)


def _needs_policy(state: ServiceState, command: ServiceCommand) -> bool:
    if isinstance(command, ReceiveAlert):
        return state.incident is None
    return isinstance(command, ReceiveAckTimeout)
