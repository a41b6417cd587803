"""Random histories of alerts, acknowledgements and un-acknowledgements, timers, recoveries,
notes, changes and policy edits.

A hypothesis state machine drives three services (two of them share a policy) with a
fake clock, as the handlers would: decide on the snapshot, append, evolve. After every
step it checks the invariants the escalation rules exist to keep: at most one open
incident per service; each target paged at most once per (incident, round, level);
nobody paged while acknowledged, after a resolution or the end of the escalation; every
page sets its timer and names exactly the current policy's targets for its level;
escalation goes level by level, round by round; the incident's open dedup keys are the
ones still firing; and the snapshot equals the fold of the stream.
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
    DefinePolicy,
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
from pager.domain.content import MAX_ENTRIES, NO_CONTENT, AlertContent
from pager.domain.errors import (
    DomainError,
    IncidentAlreadyResolved,
    NothingToEscalateTo,
    ServiceNotFound,
    ValidationFailed,
)
from pager.domain.events import (
    Acknowledged,
    AlertAttached,
    ChangeReported,
    Escalated,
    EscalationExhausted,
    IncidentOpened,
    IncidentResolved,
    LevelNotified,
    NoteAdded,
    PolicyChanged,
    PolicyCreated,
    PolicyEvent,
    ServiceCreated,
    ServiceDeleted,
    ServiceEvent,
    ServiceUpdated,
    Unacknowledged,
)
from pager.domain.incident import ServiceState, decide, evolve, fold
from pager.domain.policy import (
    EmailTarget,
    EscalationPolicy,
    Level,
    SlackTarget,
    SmsTarget,
    Target,
    WebhookTarget,
)
from pager.domain.policy_stream import PolicyState, decide_policy, evolve_policy
from tests.unit.scenario import T0

SERVICE_POLICIES = {"api": "p-api", "db": "p-shared", "web": "p-shared"}
SERVICES = tuple(SERVICE_POLICIES)
POLICY_IDS = tuple(sorted(set(SERVICE_POLICIES.values())))
DEDUP_KEYS = ("k1", "k2", "k3")
MESSAGES = ("disk full", "  cpu hot \n", "5xx rate 12%", " ")
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
    WebhookTarget("https://hooks.example.com/pager", secret="s3cret"),
    SlackTarget("https://hooks.slack.com/services/T0/B0/XX"),
)

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
        self.due: dict[tuple[str, int, int], datetime] = {}
        self.pages: list[Page] = []
        self.exhaustions: list[tuple[EscalationExhausted, EscalationPolicy]] = []
        # The keys still firing, kept from the commands alone (not from `evolve`).
        self.firing: dict[str, set[str]] = {s: set() for s in SERVICES}

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
        events = decide(state, command, policy, self.now)
        for event in events:
            self.streams[service].append(event)
            self.snapshots[service] = evolve(self.snapshots[service], event)
            if isinstance(event, IncidentOpened):
                self.incidents[service].append(event.incident_id)
            if isinstance(event, LevelNotified):
                assert policy is not None
                self.pages.append(Page(event, policy, self.now))
                self.timers.append(
                    ReceiveAckTimeout(service, event.incident_id, *event_step(event))
                )
                self.due[(event.incident_id, event.level, event.round)] = event.timer_due_at
            if isinstance(event, Unacknowledged) and event.timer_due_at is not None:
                self.due[(event.incident_id, event.level, event.round)] = event.timer_due_at
            if isinstance(event, EscalationExhausted):
                assert policy is not None
                self.exhaustions.append((event, policy))
            if isinstance(event, IncidentResolved):
                self.firing[service].clear()
        return events

    def run_expecting(self, error: type[DomainError], command: ServiceCommand) -> None:
        state = self.snapshots[command.service_id]
        with pytest.raises(error):
            decide(state, command, self.policy_for(state.policy_id), self.now)

    def fresh_incident_id(self) -> str:
        return f"inc-{next(self.ids)}"

    # Rules.

    @initialize(
        first=policies(POLICY_IDS[0]),
        second=policies(POLICY_IDS[1]),
        dedup_key=st.none() | st.just(DEDUP_KEYS[0]),
    )
    def define_policies_and_services(
        self, first: EscalationPolicy, second: EscalationPolicy, dedup_key: str | None
    ) -> None:
        for policy in (first, second):
            self.define_policy(policy)
        for service, policy_id in SERVICE_POLICIES.items():
            command = DefineService(service, service.upper(), policy_id)
            events = self.run(service, command, policy_id=policy_id)
            assert [type(e) for e in events] == [ServiceCreated]
        # Every history starts with one outage, so that runs without alerts still escalate.
        self.receive_alert(SERVICES[0], "first outage", dedup_key)

    @rule(service=st.sampled_from(SERVICES), message=st.sampled_from(MESSAGES))
    def alert(self, service: str, message: str) -> None:
        self.receive_alert(service, message, dedup_key=None)

    @rule(data=st.data(), message=st.sampled_from(MESSAGES))
    def alert_with_dedup_key(self, data: st.DataObject, message: str) -> None:
        service = self.some_service(data, lambda state: state.incident is not None)
        unused = [key for key in DEDUP_KEYS if key not in self.firing[service]]
        any_key = st.sampled_from(DEDUP_KEYS)
        dedup_key = data.draw(st.one_of(st.sampled_from(unused), any_key) if unused else any_key)
        self.receive_alert(service, message, dedup_key)

    @rule(
        service=st.sampled_from(SERVICES),
        message=st.sampled_from(MESSAGES),
        content=st.sampled_from(CONTENTS),
    )
    def alert_with_content(self, service: str, message: str, content: AlertContent) -> None:
        self.receive_alert(service, message, None, content)

    def receive_alert(
        self,
        service: str,
        message: str,
        dedup_key: str | None,
        content: AlertContent = NO_CONTENT,
    ) -> None:
        before = self.snapshots[service].incident
        command = ReceiveAlert(service, self.fresh_incident_id(), message, dedup_key)
        command = replace(command, content=content)
        if not message.strip() or content is TOO_MUCH:
            self.run_expecting(ValidationFailed, command)
            return
        events = self.run(service, command)
        if before is None:
            assert [type(e) for e in events] == [IncidentOpened, LevelNotified]
            assert events[0] == IncidentOpened(
                command.incident_id,
                service,
                message.strip(),
                dedup_key,
                None,
                "api",
                self.now,
                content,
            )
        elif dedup_key in self.firing[service]:
            assert events == ()
        else:
            assert events == (
                AlertAttached(
                    before.id, message.strip(), dedup_key, None, "api", self.now, content
                ),
            )
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
        if before.status == "acknowledged":
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
        if before.exhausted:
            assert (event.ack_timeout_seconds, event.timer_due_at) == (None, None)
        else:
            step = policy.level(min(before.level, len(policy.levels)))
            assert event.ack_timeout_seconds == step.ack_timeout_seconds
            assert event.timer_due_at == self.now + timedelta(seconds=step.ack_timeout_seconds)
        assert self.snapshots[service].incident == replace(
            before, status="triggered", acknowledged_at=None, acknowledged_by=None
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
        assert events[0] == Escalated(incident_id, "carol", before.level, before.round, self.now)
        assert isinstance(events[1], LevelNotified)
        after = self.snapshots[service].incident
        assert after is not None
        assert after.acknowledged_by is None
        assert after.status == "triggered"

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
        self.now = max(self.now, self.due[(incident.id, incident.level, incident.round)])
        timer = ReceiveAckTimeout(service, incident.id, incident.level, incident.round)
        events = self.run(service, timer)
        if incident.status == "acknowledged" or incident.exhausted:
            assert events == ()
        else:
            assert len(events) == 1
            assert isinstance(events[0], LevelNotified | EscalationExhausted)

    @precondition(lambda self: self.timers)
    @rule(data=st.data())
    def an_old_timer_fires_again(self, data: st.DataObject) -> None:
        timer = data.draw(st.sampled_from(self.timers))
        self.now = max(self.now, self.due[timer_step(timer)])
        incident = self.snapshots[timer.service_id].incident
        current = (
            incident is not None
            and (incident.id, incident.level, incident.round) == timer_step(timer)
            and incident.status == "triggered"
            and not incident.exhausted
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
        events = self.run(service, MarkHealthy(service, by="monitor"))
        if before is None:
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
        events = self.run(service, ResolveAlert(service, dedup_key))
        if dedup_key not in was_firing:
            assert events == ()
        else:
            assert self.snapshots[service].healthy == (was_firing == {dedup_key})
        self.firing[service].discard(dedup_key)

    @rule(data=st.data(), policy_id=st.sampled_from(POLICY_IDS))
    def edit_policy(self, data: st.DataObject, policy_id: str) -> None:
        self.define_policy(data.draw(policies(policy_id)))

    @rule(
        service=st.sampled_from(SERVICES),
        policy_id=st.sampled_from(POLICY_IDS),
        name=st.sampled_from(("API", "Database", "Web")),
    )
    def redefine_service(self, service: str, policy_id: str, name: str) -> None:
        before = self.snapshots[service]
        events = self.run(service, DefineService(service, name, policy_id), policy_id=policy_id)
        if (before.name, before.policy_id) == (name, policy_id):
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
        self.run_expecting(ServiceNotFound, MarkHealthy(service))
        command = DefineService(service, service.upper(), policy_id)
        assert [type(e) for e in self.run(service, command, policy_id=policy_id)] == [
            ServiceCreated
        ]
        assert self.snapshots[service].healthy

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
                    case ServiceCreated() | ServiceUpdated() | ChangeReported():
                        pass
                    case NoteAdded():
                        assert event.incident_id in self.incidents[service]
                    case _:
                        assert open_id == event.incident_id, "an event for no open incident"
            snapshot = self.snapshots[service].incident
            assert (snapshot.id if snapshot else None) == open_id

    @invariant()
    def each_target_is_paged_at_most_once_per_incident_round_and_level(self) -> None:
        pages = Counter(
            (page.event.incident_id, page.event.round, page.event.level, target.key)
            for page in self.pages
            for target in page.event.targets
        )
        assert all(times == 1 for times in pages.values()), pages.most_common(1)

    @invariant()
    def nobody_is_paged_while_acknowledged_after_resolution_or_exhaustion(self) -> None:
        for stream in self.streams.values():
            acknowledged: set[str] = set()
            done: set[str] = set()
            for event in stream:
                match event:
                    case Acknowledged():
                        acknowledged.add(event.incident_id)
                    case Unacknowledged() | Escalated():
                        acknowledged.discard(event.incident_id)
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
            assert event.timer_due_at == event.at + timedelta(seconds=event.ack_timeout_seconds)

    @invariant()
    def escalation_goes_level_by_level_and_round_by_round(self) -> None:
        previous: dict[str, Page] = {}
        for page in self.pages:
            step = event_step(page.event)
            before = previous.get(page.event.incident_id)
            if before is None:
                assert step == (1, 1)
            else:
                last_level, last_round = event_step(before.event)
                policy = page.policy
                if last_level < len(policy.levels):
                    assert step == (last_level + 1, last_round)
                else:
                    assert step == (1, last_round + 1)
                    assert last_round <= policy.repeat
            previous[page.event.incident_id] = page
        for exhausted, policy in self.exhaustions:
            last = previous[exhausted.incident_id].event
            assert event_step(last) == (exhausted.level, exhausted.round)
            assert last.level >= len(policy.levels), "exhausted with levels left"
            assert last.round > policy.repeat, "exhausted with a round left"

    @invariant()
    def the_incident_remembers_exactly_the_keys_still_firing(self) -> None:
        for service, firing in self.firing.items():
            incident = self.snapshots[service].incident
            open_keys = incident.open_keys if incident else ()
            assert sorted(open_keys) == sorted(firing)


def event_step(event: LevelNotified) -> tuple[int, int]:
    return event.level, event.round


def timer_step(timer: ReceiveAckTimeout) -> tuple[str, int, int]:
    return timer.incident_id, timer.level, timer.round


EscalationMachine.TestCase.settings = settings(
    max_examples=200, stateful_step_count=40, deadline=None
)
TestEscalation = EscalationMachine.TestCase
