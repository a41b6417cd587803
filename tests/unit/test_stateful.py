"""Random histories of alerts (of every severity), acknowledgements and un-acknowledgements,
timers, recoveries, notes, changes, snoozes, reassignments, heartbeats, policy edits and
maintenance windows, on services that page some severities at low urgency.

A hypothesis state machine drives three services (two of them share a policy) with a
fake clock, as the handlers would: decide on the snapshot, append, evolve. After every
step it checks the invariants the escalation rules exist to keep: at most one open
incident per service; each target paged at most once per (incident, round, level);
nobody paged while acknowledged (or snoozed: until its time), after a resolution or the end
of the escalation (but by a reassignment, or a snooze's next round); every page sets its
timer (a low-urgency one none) and names exactly the current policy's targets for its
level; a low-urgency incident pages level 1's email, chat and webhooks only, and goes no
further until it is raised; escalation goes level by level, round by round; the incident's
open dedup keys are the ones still firing; no incident opens while a maintenance window is
in force, and those held then are the alerts still firing; a heartbeat's alert fires only
while it is missed, and each armed heartbeat has the timer of its deadline; and the
snapshot equals the fold of the stream.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import count

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from pager.domain.commands import (
    Acknowledge,
    AddNote,
    DefineHeartbeat,
    DefinePolicy,
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
from pager.domain.content import MAX_ENTRIES, NO_CONTENT, AlertContent
from pager.domain.errors import (
    DomainError,
    HeartbeatNotFound,
    IncidentAlreadyResolved,
    MaintenanceNotFound,
    NothingToEscalateTo,
    ServiceNotFound,
    ValidationFailed,
)
from pager.domain.events import (
    Acknowledged,
    AlertAttached,
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
    PolicyChanged,
    PolicyCreated,
    PolicyEvent,
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
from pager.domain.heartbeat import dedup_key as heartbeat_key
from pager.domain.heartbeat import find
from pager.domain.incident import MAX_SNOOZE, OpenIncident, ServiceState, decide, evolve, fold
from pager.domain.maintenance import MAX_HELD_ALERTS, MAX_WINDOWS
from pager.domain.people import ContactMethod, Person
from pager.domain.policy import (
    EmailTarget,
    EscalationPolicy,
    Level,
    ScheduleTarget,
    SlackTarget,
    SmsTarget,
    Target,
    UserTarget,
    VoiceTarget,
    WebhookTarget,
)
from pager.domain.policy_stream import PolicyState, decide_policy, evolve_policy
from pager.domain.schedule import Layer, Schedule, ShiftLength
from pager.domain.severity import LOW_URGENCY_CHANNELS, SEVERITIES, Severity
from tests.unit.scenario import T0

SERVICE_POLICIES = {"api": "p-api", "db": "p-shared", "web": "p-shared"}
SERVICES = tuple(SERVICE_POLICIES)
POLICY_IDS = tuple(sorted(set(SERVICE_POLICIES.values())))
DEDUP_KEYS = ("k1", "k2", "k3")
MESSAGES = ("disk full", "  cpu hot \n", "5xx rate 12%", " ")
LOW_SETS: tuple[tuple[Severity, ...], ...] = ((), ("info",), ("warning", "info"))
severities = st.none() | st.sampled_from(SEVERITIES)
BEATS = ("backup", "cron")
# What alerts say: nothing, labels and a runbook, or more than an alert may say (refused).
TOO_MUCH = AlertContent(labels=tuple((f"l{i}", "v") for i in range(MAX_ENTRIES + 1)))
CONTENTS = (
    NO_CONTENT,
    AlertContent(
        labels=(("instance", "db-1"),), annotations=(("runbook_url", "https://r.example/x"),)
    ),
    TOO_MUCH,
)

TARGETS: tuple[Target, ...] = (
    EmailTarget("alice@example.com"),
    EmailTarget("bob@example.com"),
    EmailTarget("carol@example.com"),
    SmsTarget("+14155550100"),
    SmsTarget("+442071838750"),
    VoiceTarget("+14155550111"),
    WebhookTarget("https://hooks.example.com/pager", secret="s3cret"),
    SlackTarget("https://hooks.slack.com/services/T0/B0/XX"),
)

DAVE = Person("dave@example.com", "Dave", contact_methods=(ContactMethod("m", "email", "d@x.io"),))
NIGHT = Schedule(
    "night", "Night", "UTC", (Layer((DAVE.email,), ShiftLength(1, "days"), datetime(2024, 1, 1)),)
)
EMPTY = Schedule("empty", "Empty", "UTC", ())
REASSIGN_TO = (
    UserTarget(DAVE.email),
    ScheduleTarget("night"),
    ScheduleTarget("empty"),
    UserTarget("ghost@example.com"),
)
SNOOZE_MINUTES = (-1, 0, 1, 60, 7 * 24 * 60, 7 * 24 * 60 + 1)


class People:
    """Dave, a schedule that has him on call, and one with nobody: whom a reassign reaches."""

    def person(self, email: str) -> Person | None:
        return DAVE if email == DAVE.email else None

    def schedule(self, schedule_id: str) -> Schedule | None:
        return {"night": NIGHT, "empty": EMPTY}.get(schedule_id)


PEOPLE = People()

levels = st.builds(
    Level,
    st.lists(st.sampled_from(TARGETS), min_size=1, max_size=3, unique_by=lambda t: t.key).map(
        tuple
    ),
    st.sampled_from((1, 30, 60, 300, 900)),
)


def policies(policy_id: str) -> st.SearchStrategy[EscalationPolicy]:
    return st.builds(
        EscalationPolicy,
        st.just(policy_id),
        st.sampled_from(("Ops", "Platform")),
        st.lists(levels, min_size=1, max_size=3).map(tuple),
        st.integers(min_value=0, max_value=2),
    )


@dataclass(frozen=True, slots=True)
class Page:
    """A LevelNotified as it was decided: the policy and the time it was decided with."""

    event: LevelNotified
    policy: EscalationPolicy
    now: datetime
    woke: bool = False
    """The first step after a snooze: level 1 of the next round."""


class EscalationMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.ids = count(1)
        self.streams: dict[str, list[ServiceEvent]] = {s: [] for s in SERVICES}
        self.snapshots = {s: ServiceState(s) for s in SERVICES}
        self.policy_streams: dict[str, list[PolicyEvent]] = {p: [] for p in POLICY_IDS}
        self.policies = {p: PolicyState(p) for p in POLICY_IDS}
        self.incidents: dict[str, list[str]] = {s: [] for s in SERVICES}
        self.timers: list[ReceiveAckTimeout] = []
        self.due: dict[tuple[str, int, int], datetime | None] = {}
        self.pages: list[Page] = []
        self.snooze_timers: list[EndSnooze] = []
        # Each end of an escalation, with how many pages there were then (a snooze may wake
        # the incident for another round after it).
        self.exhaustions: list[tuple[EscalationExhausted, EscalationPolicy, int]] = []
        # The keys still firing, kept from the commands alone (not from `evolve`).
        self.firing: dict[str, set[str]] = {s: set() for s in SERVICES}
        # Maintenance, kept from the commands alone: each service's windows (start, end) and
        # the keys its alerts held, oldest first; every window id ever scheduled.
        self.windows: dict[str, dict[str, tuple[datetime, datetime]]] = {s: {} for s in SERVICES}
        self.held: dict[str, list[str]] = {s: [] for s in SERVICES}
        self.window_ids: list[tuple[str, str]] = []
        self.beats: dict[str, str] = {}  # heartbeat -> its service, kept from the commands
        self.deadlines: list[ReceiveHeartbeatDeadline] = []
        self.deadline_due: dict[tuple[str, str, int], datetime] = {}

    # Running commands against the snapshots, as a handler would.

    def policy_for(self, policy_id: str) -> EscalationPolicy | None:
        state = self.policies.get(policy_id)
        return state.policy if state else None

    def run(
        self, service: str, command: ServiceCommand, *, policy_id: str | None = None
    ) -> tuple[ServiceEvent, ...]:
        """Decide with the service's current policy (or `policy_id`'s) and record the events."""
        self.now += timedelta(seconds=1)
        state = self.snapshots[service]
        policy = self.policy_for(state.policy_id if policy_id is None else policy_id)
        events = decide(state, command, policy, self.now, PEOPLE)
        for position, event in enumerate(events):
            self.streams[service].append(event)
            self.snapshots[service] = evolve(self.snapshots[service], event)
            if isinstance(event, IncidentOpened):
                self.incidents[service].append(event.incident_id)
            if isinstance(event, LevelNotified):
                assert policy is not None
                woke = position > 0 and isinstance(events[position - 1], SnoozeEnded)
                self.pages.append(Page(event, policy, self.now, woke))
                self.timers.append(
                    ReceiveAckTimeout(service, event.incident_id, *event_step(event))
                )
                self.due[(event.incident_id, event.level, event.round)] = event.timer_due_at
            if isinstance(event, Snoozed):
                self.snooze_timers.append(EndSnooze(service, event.incident_id, event.generation))
            if isinstance(event, Unacknowledged | Reassigned) and event.timer_due_at is not None:
                self.due[(event.incident_id, event.level, event.round)] = event.timer_due_at
            if isinstance(event, EscalationExhausted):
                assert policy is not None
                self.exhaustions.append((event, policy, len(self.pages)))
            if isinstance(event, IncidentResolved):
                self.firing[service].clear()
            if isinstance(event, ServiceDeleted):
                self.windows[service].clear()
                self.held[service].clear()
            if isinstance(event, HeartbeatDefined | HeartbeatPinged) and event.due_at:
                beat = (service, event.heartbeat_id, event.generation)
                self.deadlines.append(ReceiveHeartbeatDeadline(*beat, "unused"))
                self.deadline_due[beat] = event.due_at
        return events

    def in_maintenance(self, service: str, at: datetime) -> bool:
        return any(start <= at for start, _ in self.windows[service].values())

    def run_expecting(self, error: type[DomainError], command: ServiceCommand) -> None:
        state = self.snapshots[command.service_id]
        with pytest.raises(error):
            decide(state, command, self.policy_for(state.policy_id), self.now, PEOPLE)

    def fresh_incident_id(self) -> str:
        return f"inc-{next(self.ids)}"

    def due_at(self, incident_id: str, level: int, round_: int) -> datetime:
        """When the timer of that step is due (a low-urgency step's has none: now)."""
        return max(self.now, self.due.get((incident_id, level, round_)) or self.now)

    # Rules.

    @initialize(
        first=policies(POLICY_IDS[0]),
        second=policies(POLICY_IDS[1]),
        dedup_key=st.none() | st.just(DEDUP_KEYS[0]),
        low=st.lists(st.sampled_from(LOW_SETS), min_size=3, max_size=3),
        severity=severities,
    )
    def define_policies_and_services(
        self,
        first: EscalationPolicy,
        second: EscalationPolicy,
        dedup_key: str | None,
        low: list[tuple[Severity, ...]],
        severity: Severity | None,
    ) -> None:
        for policy in (first, second):
            self.define_policy(policy)
        for (service, policy_id), low_set in zip(SERVICE_POLICIES.items(), low, strict=True):
            command = DefineService(service, service.upper(), policy_id, low_set)
            events = self.run(service, command, policy_id=policy_id)
            assert [type(e) for e in events] == [ServiceCreated]
        # Every history starts with one outage, so that runs without alerts still escalate.
        self.receive_alert(SERVICES[0], "first outage", dedup_key, severity)

    @rule(
        service=st.sampled_from(SERVICES),
        message=st.sampled_from(MESSAGES),
        severity=severities,
    )
    def alert(self, service: str, message: str, severity: Severity | None) -> None:
        self.receive_alert(service, message, None, severity)

    @rule(data=st.data(), message=st.sampled_from(MESSAGES), severity=severities)
    def alert_with_dedup_key(
        self, data: st.DataObject, message: str, severity: Severity | None
    ) -> None:
        service = self.some_service(data, lambda state: state.incident is not None)
        unused = [key for key in DEDUP_KEYS if key not in self.firing[service]]
        any_key = st.sampled_from(DEDUP_KEYS)
        dedup_key = data.draw(st.one_of(st.sampled_from(unused), any_key) if unused else any_key)
        self.receive_alert(service, message, dedup_key, severity)

    @rule(data=st.data(), dedup_key=st.sampled_from(DEDUP_KEYS))
    def alert_during_maintenance(self, data: st.DataObject, dedup_key: str) -> None:
        later = self.now + timedelta(seconds=1)
        service = self.some_service(
            data, lambda state: state.healthy and self.in_maintenance(state.service_id, later)
        )
        self.receive_alert(service, "disk full", dedup_key, None)

    @rule(
        service=st.sampled_from(SERVICES),
        message=st.sampled_from(MESSAGES),
        content=st.sampled_from(CONTENTS),
        severity=severities,
    )
    def alert_with_content(
        self, service: str, message: str, content: AlertContent, severity: Severity | None
    ) -> None:
        self.receive_alert(service, message, None, severity, content)

    def receive_alert(
        self,
        service: str,
        message: str,
        dedup_key: str | None,
        severity: Severity | None,
        content: AlertContent = NO_CONTENT,
    ) -> None:
        before = self.snapshots[service].incident
        low_set = self.snapshots[service].low_urgency_severities
        low = severity is not None and severity in low_set
        command = ReceiveAlert(service, self.fresh_incident_id(), message, dedup_key, severity)
        command = replace(command, content=content)
        if not message.strip() or content is TOO_MUCH:
            self.run_expecting(ValidationFailed, command)
            return
        held_before = list(self.held[service])
        window_in_force = self.in_maintenance(service, self.now + timedelta(seconds=1))
        events = self.run(service, command)
        if before is None and window_in_force:
            if dedup_key is not None and dedup_key in held_before:
                assert events == ()
                return
            [event] = events
            assert isinstance(event, AlertSuppressed)
            assert event.held == (dedup_key is not None and len(held_before) < MAX_HELD_ALERTS)
            if event.held:
                assert dedup_key is not None
                self.held[service].append(dedup_key)
            return
        if before is None:
            assert [type(e) for e in events] == [IncidentOpened, LevelNotified]
            assert events[0] == IncidentOpened(
                command.incident_id,
                service,
                message.strip(),
                dedup_key,
                severity,
                "api",
                self.now,
                content,
                urgency="low" if low else "high",
            )
        elif dedup_key in self.firing[service]:
            assert events == ()
        else:
            attached = AlertAttached(
                before.id, message.strip(), dedup_key, severity, "api", self.now, content
            )
            assert events[0] == attached
            raised = UrgencyRaised(before.id, "alert", severity, "api", self.now)
            if before.urgency == "high" or low:
                assert events == (attached,)
            elif before.status == "acknowledged":
                assert events == (attached, raised)
            else:
                assert events[:2] == (attached, raised)
                assert [type(e) for e in events[2:]] == [LevelNotified]
        if dedup_key:
            self.firing[service].add(dedup_key)

    def some_service(self, data: st.DataObject, prefer: Callable[[ServiceState], bool]) -> str:
        """Half the time a service in the state that `prefer` likes, if any."""
        liked = [s for s in SERVICES if prefer(self.snapshots[s])]
        anyone = st.sampled_from(SERVICES)
        return data.draw(st.one_of(st.sampled_from(liked), anyone) if liked else anyone)

    def some_incident_of(self, service: str, data: st.DataObject) -> str:
        """Half the time the open incident, else any incident the service ever had, or none."""
        ever = st.sampled_from((*self.incidents[service], "inc-never"))
        incident = self.snapshots[service].incident
        return data.draw(st.one_of(st.just(incident.id), ever) if incident else ever)

    @rule(service=st.sampled_from(SERVICES), data=st.data())
    def acknowledge(self, service: str, data: st.DataObject) -> None:
        incident_id = self.some_incident_of(service, data)
        before = self.snapshots[service].incident
        command = Acknowledge(service, incident_id, "alice")
        if before is None or before.id != incident_id:
            self.run_expecting(IncidentAlreadyResolved, command)
            return
        events = self.run(service, command)
        if before.status == "acknowledged" and before.snoozed_until is None:
            assert events == ()
        else:
            assert events == (Acknowledged(incident_id, "alice", self.now),)

    @rule(service=st.sampled_from(SERVICES), data=st.data())
    def unacknowledge(self, service: str, data: st.DataObject) -> None:
        incident_id = self.some_incident_of(service, data)
        before = self.snapshots[service].incident
        command = Unacknowledge(service, incident_id, "bob")
        if before is None or before.id != incident_id:
            self.run_expecting(IncidentAlreadyResolved, command)
            return
        policy = self.policy_for(self.snapshots[service].policy_id)
        events = self.run(service, command)
        if before.status == "triggered":
            assert events == ()
            return
        assert policy is not None
        [event] = events
        assert isinstance(event, Unacknowledged)
        assert (event.level, event.round) == (before.level, before.round)
        if before.exhausted or before.urgency == "low":
            assert (event.ack_timeout_seconds, event.timer_due_at) == (None, None)
        else:
            step = policy.level(min(before.level, len(policy.levels)))
            assert event.ack_timeout_seconds == step.ack_timeout_seconds
            assert event.timer_due_at == self.now + timedelta(seconds=step.ack_timeout_seconds)
        assert self.snapshots[service].incident == replace(
            before,
            status="triggered",
            acknowledged_at=None,
            acknowledged_by=None,
            snoozed_until=None,
        )

    @rule(service=st.sampled_from(SERVICES), data=st.data())
    def escalate(self, service: str, data: st.DataObject) -> None:
        incident_id = self.some_incident_of(service, data)
        before = self.snapshots[service].incident
        command = Escalate(service, incident_id, "carol")
        if before is None or before.id != incident_id:
            self.run_expecting(IncidentAlreadyResolved, command)
            return
        policy = self.policy_for(self.snapshots[service].policy_id)
        assert policy is not None
        last = before.level >= len(policy.levels) and before.round > policy.repeat
        if before.exhausted or last:
            self.run_expecting(NothingToEscalateTo, command)
            return
        events = self.run(service, command)
        if before.urgency == "low":
            raised = UrgencyRaised(incident_id, "escalated", None, "carol", self.now)
            assert events[0] == raised
            events = events[1:]
        assert events[0] == Escalated(incident_id, "carol", before.level, before.round, self.now)
        assert isinstance(events[1], LevelNotified)
        after = self.snapshots[service].incident
        assert after is not None
        assert after.acknowledged_by is None
        assert after.status == "triggered"
        assert after.urgency == "high"

    @rule(
        service=st.sampled_from(SERVICES),
        data=st.data(),
        minutes=st.sampled_from(SNOOZE_MINUTES),
    )
    def snooze(self, service: str, data: st.DataObject, minutes: int) -> None:
        incident_id = self.some_incident_of(service, data)
        before = self.snapshots[service].incident
        ahead = timedelta(minutes=minutes)
        if before is None or before.id != incident_id:
            command = Snooze(service, incident_id, self.now + ahead, "dave")
            self.run_expecting(IncidentAlreadyResolved, command)
            return
        if not timedelta(0) < ahead <= MAX_SNOOZE:
            self.run_expecting(
                ValidationFailed, Snooze(service, incident_id, self.now + ahead, "dave")
            )
            return
        until = self.now + timedelta(seconds=1) + ahead  # `run` moves the clock on by a second
        events = self.run(service, Snooze(service, incident_id, until, "dave"))
        assert events == (Snoozed(incident_id, "dave", until, before.snoozes + 1, self.now),)
        after = self.snapshots[service].incident
        assert after is not None
        assert (after.status, after.snoozed_until) == ("acknowledged", until)
        assert (after.level, after.round) == (before.level, before.round)

    @rule(service=st.sampled_from(SERVICES))
    def the_snooze_runs_out(self, service: str) -> None:
        incident = self.snapshots[service].incident
        if incident is None or incident.snoozed_until is None:
            return
        self.now = max(self.now, incident.snoozed_until)
        events = self.run(service, EndSnooze(service, incident.id, incident.snoozes))
        assert events[0] == SnoozeEnded(incident.id, incident.snoozes, self.now)
        assert isinstance(events[1], LevelNotified)
        assert event_step(events[1]) == (1, incident.round + 1)
        after = self.snapshots[service].incident
        assert after is not None
        assert (after.status, after.snoozed_until, after.acknowledged_by) == (
            "triggered",
            None,
            None,
        )

    @precondition(lambda self: self.snooze_timers)
    @rule(data=st.data())
    def an_old_snooze_timer_fires(self, data: st.DataObject) -> None:
        timer = data.draw(st.sampled_from(self.snooze_timers))
        incident = self.snapshots[timer.service_id].incident
        current = (
            incident is not None
            and incident.id == timer.incident_id
            and incident.snoozed_until is not None
            and incident.snoozes == timer.generation
        )
        if current:
            return  # that one is the snooze running out
        assert self.run(timer.service_id, timer) == ()

    @rule(service=st.sampled_from(SERVICES), data=st.data())
    def reassign(self, service: str, data: st.DataObject) -> None:
        incident_id = self.some_incident_of(service, data)
        target = data.draw(st.sampled_from(REASSIGN_TO))
        before = self.snapshots[service].incident
        command = Reassign(service, incident_id, target, "erin")
        if before is None or before.id != incident_id:
            self.run_expecting(IncidentAlreadyResolved, command)
            return
        if target in (UserTarget("ghost@example.com"),):
            self.run_expecting(ValidationFailed, command)
            return
        [event] = self.run(service, command)
        assert isinstance(event, Reassigned)
        assert (event.level, event.round, event.number) == (
            before.level,
            before.round,
            before.reassigns + 1,
        )
        assert (event.timer_due_at is None) == (before.exhausted or before.urgency == "low")
        assert bool(event.pages) == (target != ScheduleTarget("empty"))
        after = self.snapshots[service].incident
        assert after is not None
        assert (after.status, after.snoozed_until) == ("triggered", None)

    @rule(service=st.sampled_from(SERVICES), data=st.data())
    def add_note(self, service: str, data: st.DataObject) -> None:
        ever = self.incidents[service]
        if not ever:
            return
        incident_id = data.draw(st.sampled_from(ever))
        before = self.snapshots[service]
        events = self.run(service, AddNote(service, incident_id, " on it ", "carol"))
        assert events == (NoteAdded(incident_id, "on it", "carol", self.now),)
        assert self.snapshots[service] == before

    @rule(service=st.sampled_from(SERVICES))
    def report_change(self, service: str) -> None:
        before = self.snapshots[service]
        [event] = self.run(service, ReportChange(service, "deployed 1.2"))
        assert isinstance(event, ChangeReported)
        assert self.snapshots[service] == before

    @rule(service=st.sampled_from(SERVICES))
    def the_current_timer_fires(self, service: str) -> None:
        incident = self.snapshots[service].incident
        if incident is None:
            return
        self.now = self.due_at(incident.id, incident.level, incident.round)
        timer = ReceiveAckTimeout(service, incident.id, incident.level, incident.round)
        events = self.run(service, timer)
        if incident.status == "acknowledged" or incident.exhausted or incident.urgency == "low":
            assert events == ()
        else:
            assert len(events) == 1
            assert isinstance(events[0], LevelNotified | EscalationExhausted)

    @precondition(lambda self: self.timers)
    @rule(data=st.data())
    def an_old_timer_fires_again(self, data: st.DataObject) -> None:
        timer = data.draw(st.sampled_from(self.timers))
        self.now = self.due_at(*timer_step(timer))
        incident = self.snapshots[timer.service_id].incident
        current = (
            incident is not None
            and (incident.id, incident.level, incident.round) == timer_step(timer)
            and incident.status == "triggered"
            and not incident.exhausted
            and incident.urgency == "high"
        )
        events = self.run(timer.service_id, timer)
        if not current:
            assert events == ()

    @rule(
        service=st.sampled_from(SERVICES),
        level=st.integers(min_value=0, max_value=4),
        round_=st.integers(min_value=0, max_value=4),
    )
    def a_stray_timer_fires(self, service: str, level: int, round_: int) -> None:
        incident = self.snapshots[service].incident
        incident_id = incident.id if incident else "inc-never"
        if incident is not None and (incident.level, incident.round) == (level, round_):
            return  # that one is current, not stray
        assert self.run(service, ReceiveAckTimeout(service, incident_id, level, round_)) == ()

    @rule(service=st.sampled_from(SERVICES))
    def healthy(self, service: str) -> None:
        before = self.snapshots[service].incident
        held = tuple(self.held[service])
        events = self.run(service, MarkHealthy(service, by="monitor"))
        if before is None and held:
            assert events == (SuppressedAlertsResolved(service, held, "monitor", self.now),)
            self.held[service].clear()
        elif before is None:
            assert events == ()
        else:
            assert events == (IncidentResolved(before.id, "monitor", "healthy", self.now),)
        assert self.snapshots[service].healthy

    @rule(service=st.sampled_from(SERVICES), data=st.data())
    def resolve(self, service: str, data: st.DataObject) -> None:
        incident_id = self.some_incident_of(service, data)
        before = self.snapshots[service].incident
        events = self.run(service, Resolve(service, incident_id, by="bob"))
        if before is not None and before.id == incident_id:
            assert events == (IncidentResolved(incident_id, "bob", "resolved", self.now),)
        else:
            assert events == ()

    @rule(data=st.data())
    def an_alert_stops_firing(self, data: st.DataObject) -> None:
        service = self.some_service(
            data, lambda state: bool(state.incident and state.incident.open_keys)
        )
        before = self.snapshots[service].incident
        any_key = st.sampled_from(DEDUP_KEYS)
        open_keys = sorted(before.open_keys) if before else []
        dedup_key = data.draw(
            st.one_of(st.sampled_from(open_keys), any_key) if open_keys else any_key
        )
        was_firing = set(self.firing[service])
        was_held = dedup_key in self.held[service]
        events = self.run(service, ResolveAlert(service, dedup_key))
        if was_held:
            resolved = SuppressedAlertsResolved(service, (dedup_key,), "integration", self.now)
            assert events == (resolved,)
            self.held[service].remove(dedup_key)
        elif dedup_key not in was_firing:
            assert events == ()
        else:
            assert self.snapshots[service].healthy == (was_firing == {dedup_key})
        self.firing[service].discard(dedup_key)

    @rule(
        service=st.sampled_from(SERVICES),
        start=st.sampled_from((-30, 1, 5, 60)),
        length=st.sampled_from((-5, 10, 120, 900)),
    )
    def schedule_maintenance(self, service: str, start: int, length: int) -> None:
        window_id = f"w-{next(self.ids)}"
        begins = self.now + timedelta(seconds=1 + start)
        ends = begins + timedelta(seconds=length)
        command = ScheduleMaintenance(service, window_id, begins, ends, "dave")
        if length <= 0 or ends <= self.now + timedelta(seconds=1):
            self.run_expecting(ValidationFailed, command)
            return
        if len(self.windows[service]) >= MAX_WINDOWS:
            self.run_expecting(ValidationFailed, command)
            return
        events = self.run(service, command)
        assert events == (MaintenanceScheduled(service, window_id, begins, ends, "dave", self.now),)
        self.windows[service][window_id] = (begins, ends)
        self.window_ids.append((service, window_id))

    def end_window(self, service: str, window_id: str, command: ServiceCommand) -> None:
        """A window ends (its timer or by hand): what it held opens the incident unless
        another window is in force or an incident is open."""
        before = self.snapshots[service].incident
        held = list(self.held[service])
        del self.windows[service][window_id]
        still = self.in_maintenance(service, self.now + timedelta(seconds=1))
        events = self.run(service, command)
        assert isinstance(events[0], MaintenanceEnded)
        if before is not None or not held or still:
            assert len(events) == 1
            return
        assert [type(e) for e in events[1:3]] == [IncidentOpened, LevelNotified]
        assert all(isinstance(e, AlertAttached) for e in events[3:])
        assert len(events) == 2 + len(held)
        self.firing[service] = set(held)
        self.held[service].clear()

    @rule(
        service=st.sampled_from(SERVICES),
        dedup_key=st.sampled_from(DEDUP_KEYS),
        early=st.booleans(),
    )
    def an_alert_held_through_a_window(self, service: str, dedup_key: str, early: bool) -> None:
        """A window now, an alert in it, and its end: the path from holding to paging."""
        self.schedule_maintenance(service, 0, 120)
        self.receive_alert(service, "disk full", dedup_key, None)
        window_id = sorted(self.windows[service], key=lambda w: self.windows[service][w])[-1]
        if early:
            self.end_window(service, window_id, EndMaintenance(service, window_id, "erin"))
            return
        self.now = max(self.now, self.windows[service][window_id][1])
        self.end_window(service, window_id, ReceiveMaintenanceEnd(service, window_id))

    @rule(service=st.sampled_from(SERVICES), data=st.data())
    def a_window_ends(self, service: str, data: st.DataObject) -> None:
        windows = sorted(self.windows[service])
        if not windows:
            return
        window_id = data.draw(st.sampled_from(windows))
        self.now = max(self.now, self.windows[service][window_id][1])
        self.end_window(service, window_id, ReceiveMaintenanceEnd(service, window_id))

    @rule(service=st.sampled_from(SERVICES), data=st.data())
    def a_window_is_ended_early(self, service: str, data: st.DataObject) -> None:
        window_id = data.draw(st.sampled_from((*sorted(self.windows[service]), "w-never")))
        command = EndMaintenance(service, window_id, "erin")
        if window_id not in self.windows[service]:
            self.run_expecting(MaintenanceNotFound, command)
            return
        self.end_window(service, window_id, command)

    @rule(service=st.sampled_from(SERVICES), data=st.data())
    def a_window_begins(self, service: str, data: st.DataObject) -> None:
        windows = sorted(self.windows[service])
        if not windows:
            return
        window_id = data.draw(st.sampled_from(windows))
        self.now = max(self.now, self.windows[service][window_id][0])
        before = self.snapshots[service]
        events = self.run(service, ReceiveMaintenanceStart(service, window_id))
        assert all(isinstance(e, MaintenanceStarted) for e in events)
        assert self.snapshots[service].held == before.held

    @precondition(lambda self: self.window_ids)
    @rule(data=st.data(), end=st.booleans())
    def an_old_window_timer_fires_again(self, data: st.DataObject, end: bool) -> None:
        service, window_id = data.draw(st.sampled_from(self.window_ids))
        if window_id in self.windows[service]:
            return  # that one is current, not stale
        command = (ReceiveMaintenanceEnd if end else ReceiveMaintenanceStart)(service, window_id)
        assert self.run(service, command) == ()

    @rule(data=st.data(), policy_id=st.sampled_from(POLICY_IDS))
    def edit_policy(self, data: st.DataObject, policy_id: str) -> None:
        self.define_policy(data.draw(policies(policy_id)))

    @rule(
        service=st.sampled_from(SERVICES),
        policy_id=st.sampled_from(POLICY_IDS),
        name=st.sampled_from(("API", "Database", "Web")),
        low=st.sampled_from(LOW_SETS),
    )
    def redefine_service(
        self, service: str, policy_id: str, name: str, low: tuple[Severity, ...]
    ) -> None:
        before = self.snapshots[service]
        command = DefineService(service, name, policy_id, low)
        events = self.run(service, command, policy_id=policy_id)
        if (before.name, before.policy_id, before.low_urgency_severities) == (
            name,
            policy_id,
            low,
        ):
            assert events == ()
        else:
            assert [type(e) for e in events] == [ServiceUpdated]
        assert self.snapshots[service].incident == before.incident

    @precondition(lambda self: any(not state.healthy for state in self.snapshots.values()))
    @rule(data=st.data())
    def delete_and_define_again(self, data: st.DataObject) -> None:
        unhealthy = [s for s in SERVICES if not self.snapshots[s].healthy]
        service = data.draw(st.sampled_from(unhealthy))
        policy_id = self.snapshots[service].policy_id
        events = self.run(service, DeleteService(service))
        assert isinstance(events[-1], ServiceDeleted)
        self.beats = {beat: at for beat, at in self.beats.items() if at != service}
        self.run_expecting(ServiceNotFound, MarkHealthy(service))
        command = DefineService(service, service.upper(), policy_id)
        assert [type(e) for e in self.run(service, command, policy_id=policy_id)] == [
            ServiceCreated
        ]
        assert self.snapshots[service].healthy

    @rule(
        beat=st.sampled_from(BEATS),
        service=st.sampled_from(SERVICES),
        interval=st.sampled_from((60, 3600)),
        grace=st.sampled_from((0, 30)),
    )
    def define_heartbeat(self, beat: str, service: str, interval: int, grace: int) -> None:
        """Defined, changed, or moved from its service to another (removed, then defined)."""
        was = self.beats.get(beat)
        if was is not None and was != service:
            removed = self.run(was, RemoveHeartbeat(was, beat))
            assert isinstance(removed[0], HeartbeatRemoved)
            self.forget_heartbeat_alert(was, beat)
            assert find(self.snapshots[was].heartbeats, beat) is None
        before = find(self.snapshots[service].heartbeats, beat)
        events = self.run(service, DefineHeartbeat(service, beat, interval, grace))
        self.beats[beat] = service
        if before is not None and (before.interval_seconds, before.grace_seconds) == (
            interval,
            grace,
        ):
            assert events == ()
            return
        [event] = events
        assert isinstance(event, HeartbeatDefined)
        if before is None or not before.missed:
            assert event.due_at == self.now + timedelta(seconds=interval + grace)
        else:
            assert event.due_at is None

    @rule(beat=st.sampled_from(BEATS), data=st.data())
    def ping_heartbeat(self, beat: str, data: st.DataObject) -> None:
        owner = self.beats.get(beat)
        service = data.draw(
            st.sampled_from((owner,) if owner else SERVICES) | st.sampled_from(SERVICES)
        )
        if owner != service:
            self.run_expecting(HeartbeatNotFound, PingHeartbeat(service, beat))
            return
        before = find(self.snapshots[service].heartbeats, beat)
        assert before is not None
        key = heartbeat_key(beat)
        was_firing = set(self.firing[service])
        events = self.run(service, PingHeartbeat(service, beat))
        assert isinstance(events[0], HeartbeatPinged)
        held = key in self.held[service]
        assert (len(events) > 1) == (key in was_firing or held)
        self.firing[service].discard(key)
        if held:
            self.held[service].remove(key)
        after = find(self.snapshots[service].heartbeats, beat)
        assert after is not None
        assert after.state == "ok"

    @rule(beat=st.sampled_from(BEATS))
    def a_heartbeat_is_missed(self, beat: str) -> None:
        service = self.beats.get(beat)
        if service is None:
            return
        state = find(self.snapshots[service].heartbeats, beat)
        assert state is not None
        if state.due_at is not None:
            self.now = max(self.now, state.due_at)
        before = self.snapshots[service].incident
        window_in_force = self.in_maintenance(service, self.now + timedelta(seconds=1))
        command = ReceiveHeartbeatDeadline(
            service, beat, state.generation, self.fresh_incident_id()
        )
        events = self.run(service, command)
        if state.missed:
            assert events == ()
            return
        assert isinstance(events[0], HeartbeatMissed)
        self.heartbeat_alert(service, beat, before, window_in_force, events[1:])

    def heartbeat_alert(
        self,
        service: str,
        beat: str,
        before: OpenIncident | None,
        window_in_force: bool,
        events: tuple[ServiceEvent, ...],
    ) -> None:
        """What a missed heartbeat's alert did: as any alert of its severity (critical)."""
        key = heartbeat_key(beat)
        if before is None and window_in_force:
            [suppressed] = events
            assert isinstance(suppressed, AlertSuppressed)
            if suppressed.held:
                self.held[service].append(key)
            return
        if before is None:
            assert [type(e) for e in events[:2]] == [IncidentOpened, LevelNotified]
        else:
            assert isinstance(events[0], AlertAttached)
            if before.urgency == "high":
                assert len(events) == 1
        self.firing[service].add(key)

    @precondition(lambda self: self.deadlines)
    @rule(data=st.data())
    def an_old_heartbeat_timer_fires(self, data: st.DataObject) -> None:
        timer = data.draw(st.sampled_from(self.deadlines))
        self.now = max(self.now, self.deadline_due[deadline_step(timer)])
        state = find(self.snapshots[timer.service_id].heartbeats, timer.heartbeat_id)
        current = state is not None and not state.missed and state.generation == timer.generation
        service = timer.service_id
        before = self.snapshots[service].incident
        window_in_force = self.in_maintenance(service, self.now + timedelta(seconds=1))
        events = self.run(service, replace(timer, incident_id=self.fresh_incident_id()))
        if not current:
            assert events == ()
        else:
            assert isinstance(events[0], HeartbeatMissed)
            self.heartbeat_alert(service, timer.heartbeat_id, before, window_in_force, events[1:])

    @rule(beat=st.sampled_from(BEATS), service=st.sampled_from(SERVICES))
    def remove_heartbeat(self, beat: str, service: str) -> None:
        if self.beats.get(beat) != service:
            self.run_expecting(HeartbeatNotFound, RemoveHeartbeat(service, beat))
            return
        events = self.run(service, RemoveHeartbeat(service, beat))
        assert isinstance(events[0], HeartbeatRemoved)
        del self.beats[beat]
        self.forget_heartbeat_alert(service, beat)

    def forget_heartbeat_alert(self, service: str, beat: str) -> None:
        """Its alert resolved with it: firing on the incident, or held in maintenance."""
        key = heartbeat_key(beat)
        self.firing[service].discard(key)
        if key in self.held[service]:
            self.held[service].remove(key)

    def define_policy(self, policy: EscalationPolicy) -> None:
        self.now += timedelta(seconds=1)
        before = self.policies[policy.id].policy
        events = decide_policy(self.policies[policy.id], DefinePolicy(policy), self.now)
        if before is None:
            assert events == (PolicyCreated(policy, self.now),)
        elif before == policy:
            assert events == ()
        else:
            assert events == (PolicyChanged(policy, self.now),)
        for event in events:
            self.policy_streams[policy.id].append(event)
            self.policies[policy.id] = evolve_policy(self.policies[policy.id], event)
        assert self.policies[policy.id].policy == policy

    # Invariants, checked after every step.

    @invariant()
    def snapshot_is_the_fold_of_the_stream(self) -> None:
        for service, stream in self.streams.items():
            assert fold(ServiceState(service), stream) == self.snapshots[service]
        for policy_id, policy_stream in self.policy_streams.items():
            folded = PolicyState(policy_id)
            for event in policy_stream:
                folded = evolve_policy(folded, event)
            assert folded == self.policies[policy_id]

    @invariant()
    def at_most_one_open_incident_per_service(self) -> None:
        for service, stream in self.streams.items():
            open_id: str | None = None
            for event in stream:
                match event:
                    case IncidentOpened():
                        assert open_id is None, "a second incident opened"
                        open_id = event.incident_id
                    case IncidentResolved():
                        assert open_id == event.incident_id
                        open_id = None
                    case ServiceDeleted():
                        assert open_id is None
                    case (
                        ServiceCreated()
                        | ServiceUpdated()
                        | ChangeReported()
                        | HeartbeatDefined()
                        | HeartbeatPinged()
                        | HeartbeatMissed()
                        | HeartbeatRemoved()
                    ):
                        pass
                    case (
                        MaintenanceScheduled()
                        | MaintenanceStarted()
                        | MaintenanceEnded()
                        | AlertSuppressed()
                        | SuppressedAlertsResolved()
                    ):
                        assert open_id is None or not isinstance(event, AlertSuppressed)
                    case NoteAdded():
                        assert event.incident_id in self.incidents[service]
                    case _:
                        assert open_id == event.incident_id, "an event for no open incident"
            snapshot = self.snapshots[service].incident
            assert (snapshot.id if snapshot else None) == open_id

    @invariant()
    def each_target_is_paged_at_most_once_per_incident_round_and_level(self) -> None:
        pages = Counter(
            (page.event.incident_id, page.event.round, page.event.level, sent.key)
            for page in self.pages
            for sent in page.event.paged
        )
        assert all(times == 1 for times in pages.values()), pages.most_common(1)

    @invariant()
    def nobody_is_paged_while_acknowledged_after_resolution_or_exhaustion(self) -> None:
        for stream in self.streams.values():
            acknowledged: set[str] = set()
            done: set[str] = set()
            snoozed: dict[str, datetime] = {}
            for event in stream:
                match event:
                    case Acknowledged():
                        acknowledged.add(event.incident_id)
                        snoozed.pop(event.incident_id, None)
                    case Snoozed():
                        acknowledged.add(event.incident_id)
                        snoozed[event.incident_id] = event.until
                    case SnoozeEnded():
                        assert event.at >= snoozed.pop(event.incident_id), "woken early"
                        acknowledged.discard(event.incident_id)
                        done.discard(event.incident_id)  # a new round begins
                    case Unacknowledged() | Escalated() | Reassigned():
                        acknowledged.discard(event.incident_id)
                        snoozed.pop(event.incident_id, None)
                    case IncidentResolved():
                        done.add(event.incident_id)
                    case LevelNotified() | EscalationExhausted():
                        assert event.incident_id not in acknowledged | done
                        if isinstance(event, EscalationExhausted):
                            done.add(event.incident_id)

    @invariant()
    def every_page_sets_the_timer_of_exactly_the_current_policys_level(self) -> None:
        in_streams = [e for s in self.streams.values() for e in s if isinstance(e, LevelNotified)]
        assert sorted(in_streams, key=repr) == sorted((p.event for p in self.pages), key=repr)
        assert len(self.timers) == len(self.pages)
        for page in self.pages:
            event, step = page.event, page.policy.level(page.event.level)
            assert event.policy_id == page.policy.id
            assert event.targets == step.targets
            assert event.ack_timeout_seconds == step.ack_timeout_seconds
            assert event.at == page.now
            if event.urgency == "low":
                assert event.timer_due_at is None
            else:
                due = event.at + timedelta(seconds=event.ack_timeout_seconds)
                assert event.timer_due_at == due

    @invariant()
    def a_low_urgency_incident_writes_only_at_level_1_until_it_is_raised(self) -> None:
        for stream in self.streams.values():
            urgency: dict[str, str] = {}
            for event in stream:
                match event:
                    case IncidentOpened():
                        urgency[event.incident_id] = event.urgency
                    case UrgencyRaised():
                        assert urgency[event.incident_id] == "low"
                        urgency[event.incident_id] = "high"
                    case LevelNotified():
                        assert event.urgency == urgency[event.incident_id]
                        if event.urgency == "low":  # level 1 (of the next round: a snooze)
                            assert event.level == 1
                            sent = {page.target.type for page in event.paged}
                            assert sent <= LOW_URGENCY_CHANNELS
                            assert len(event.paged) + len(event.held_back) == len(event.targets)
                    case EscalationExhausted() | Escalated():
                        assert urgency[event.incident_id] == "high"

    @invariant()
    def escalation_goes_level_by_level_and_round_by_round(self) -> None:
        previous: dict[str, Page] = {}
        for page in self.pages:
            step = event_step(page.event)
            before = previous.get(page.event.incident_id)
            if before is None:
                assert step == (1, 1)
            elif before.event.urgency == "low" and step == (1, 1):
                pass  # raised: level 1 again, for what low urgency held back
            elif page.woke:
                assert step == (1, event_step(before.event)[1] + 1)
            else:
                last_level, last_round = event_step(before.event)
                policy = page.policy
                if last_level < len(policy.levels):
                    assert step == (last_level + 1, last_round)
                else:
                    assert step == (1, last_round + 1)
                    assert last_round <= policy.repeat
            previous[page.event.incident_id] = page
        for exhausted, policy, so_far in self.exhaustions:
            its = [
                p.event for p in self.pages[:so_far] if p.event.incident_id == exhausted.incident_id
            ]
            last = its[-1]
            assert event_step(last) == (exhausted.level, exhausted.round)
            assert last.level >= len(policy.levels), "exhausted with levels left"
            assert last.round > policy.repeat, "exhausted with a round left"

    @invariant()
    def no_incident_opens_while_a_window_is_in_force(self) -> None:
        for stream in self.streams.values():
            windows: dict[str, datetime] = {}
            for event in stream:
                match event:
                    case MaintenanceScheduled():
                        windows[event.window_id] = event.start
                    case MaintenanceEnded():
                        del windows[event.window_id]
                    case ServiceDeleted():
                        windows.clear()
                    case IncidentOpened():
                        assert all(start > event.at for start in windows.values())

    @invariant()
    def what_maintenance_holds_is_what_still_fires_with_no_incident_open(self) -> None:
        for service, held in self.held.items():
            state = self.snapshots[service]
            assert [alert.dedup_key for alert in state.held] == held
            assert not held or state.incident is None
            assert sorted(w.id for w in state.maintenance) == sorted(self.windows[service])

    @invariant()
    def the_incident_remembers_exactly_the_keys_still_firing(self) -> None:
        for service, firing in self.firing.items():
            incident = self.snapshots[service].incident
            open_keys = incident.open_keys if incident else ()
            assert sorted(open_keys) == sorted(firing)

    @invariant()
    def a_heartbeats_alert_fires_only_while_it_is_missed(self) -> None:
        for service, state in self.snapshots.items():
            keys = state.incident.open_keys if state.incident else frozenset()
            for key in keys - set(DEDUP_KEYS):
                beat = find(state.heartbeats, key.removeprefix("heartbeat:"))
                assert beat is not None, f"{key} fires on {service}"
                assert beat.missed, f"{key} fires on {service}"

    @invariant()
    def each_heartbeat_is_on_one_service_with_the_timer_of_its_deadline(self) -> None:
        on = {b.id: s for s, state in self.snapshots.items() for b in state.heartbeats}
        assert on == self.beats
        for service, state in self.snapshots.items():
            for beat in state.heartbeats:
                if beat.missed:
                    continue
                armed = [t for t in self.deadlines if deadline_step(t)[:2] == (service, beat.id)][
                    -1
                ]
                assert armed.generation == beat.generation
                assert self.deadline_due[deadline_step(armed)] == beat.due_at


def event_step(event: LevelNotified) -> tuple[int, int]:
    return event.level, event.round


def deadline_step(timer: ReceiveHeartbeatDeadline) -> tuple[str, str, int]:
    return timer.service_id, timer.heartbeat_id, timer.generation


def timer_step(timer: ReceiveAckTimeout) -> tuple[str, int, int]:
    return timer.incident_id, timer.level, timer.round


EscalationMachine.TestCase.settings = settings(
    max_examples=200, stateful_step_count=40, deadline=None
)
TestEscalation = EscalationMachine.TestCase
