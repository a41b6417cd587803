"""`decide_all` decides a service's commands exactly as `decide` and `evolve` do one after the
other: the same events, the same refusals, the same state after; alerts on an open incident
are decided together as one run, and that changes nothing of what they decide."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal

from hypothesis import given
from hypothesis import strategies as st

from pager.domain.commands import (
    Acknowledge,
    AcknowledgeAlert,
    AddNote,
    DefineService,
    DeleteService,
    MarkHealthy,
    ReceiveAckTimeout,
    ReceiveAlert,
    ReportChange,
    Resolve,
    ResolveAlert,
    ServiceCommand,
    Unacknowledge,
)
from pager.domain.errors import DomainError, ValidationFailed
from pager.domain.events import ServiceEvent
from pager.domain.incident import (
    Decided,
    OpenIncident,
    ServiceState,
    decide,
    decide_all,
    evolve,
)
from pager.domain.policy import EmailTarget, EscalationPolicy, Level, SmsTarget
from pager.domain.severity import SEVERITIES

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
OPENED = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
OPS = EscalationPolicy(
    "ops",
    "Ops",
    (
        Level((EmailTarget("a@example.com"), SmsTarget("+14155550100")), 60),
        Level((EmailTarget("b@example.com"),), 60),
    ),
    repeat=1,
)
POLICIES = {OPS.id: OPS}


def open_incident(keys: frozenset[str]) -> ServiceState:
    incident = OpenIncident("inc-1", "acknowledged", "disk full", 3, OPENED, 2, 1, keys)
    return ServiceState("db", True, "Database", "ops", incident)


def low_urgency_incident(
    keys: frozenset[str], status: Literal["triggered", "acknowledged"]
) -> ServiceState:
    """Opened by a warning on a service that pages warnings and infos at low urgency."""
    incident = OpenIncident(
        "inc-1", status, "disk 91%", 1, OPENED, 1, 1, keys, urgency="low", severity="warning"
    )
    return ServiceState("db", True, "Database", "ops", incident, ("warning", "info"))


def one_by_one(
    state: ServiceState, commands: Sequence[ServiceCommand]
) -> list[tuple[ServiceState, tuple[ServiceEvent, ...]] | DomainError]:
    results: list[tuple[ServiceState, tuple[ServiceEvent, ...]] | DomainError] = []
    for command in commands:
        policy_id = command.policy_id if isinstance(command, DefineService) else state.policy_id
        try:
            events = decide(state, command, POLICIES.get(policy_id), NOW)
        except DomainError as refused:
            results.append(refused)
            continue
        results.append((state, events))
        for event in events:
            state = evolve(state, event)
    return results


def final_state(
    state: ServiceState, results: list[tuple[ServiceState, tuple[ServiceEvent, ...]] | DomainError]
) -> ServiceState:
    for result in results:
        if not isinstance(result, DomainError):
            for event in result[1]:
                state = evolve(state, event)
    return state


def comparable(results: Sequence[object]) -> list[object]:
    """Refusals as (kind, message), exceptions not being equal by value; a decision as its
    events and the incident it was decided on (what callers read of `before`)."""
    out: list[object] = []
    for result in results:
        if isinstance(result, DomainError):
            out.append((type(result), str(result)))
        else:
            assert isinstance(result, tuple)
            before, events = result
            out.append((before.incident.id if before.incident else None, events))
    return out


keys = st.sampled_from(["a", "b", "c", "d", "e"])
messages = st.sampled_from(["cpu hot", "  disk full  ", "", "   ", "x" * 5000])
incidents = st.sampled_from(["inc-1", "i1", "i2", "other"])
alerts = st.builds(
    ReceiveAlert,
    service_id=st.just("db"),
    incident_id=st.sampled_from(["i1", "i2"]),
    message=messages,
    dedup_key=st.none() | keys,
    severity=st.none() | st.sampled_from(SEVERITIES),
    source=st.sampled_from(["api", "alertmanager"]),
)
commands = st.one_of(
    alerts,
    alerts,
    alerts,
    st.builds(Acknowledge, st.just("db"), incidents, st.just("alice")),
    st.builds(AcknowledgeAlert, st.just("db"), keys, st.just("pagerduty")),
    st.builds(Resolve, st.just("db"), incidents, st.just("alice")),
    st.builds(ResolveAlert, st.just("db"), keys),
    st.builds(Unacknowledge, st.just("db"), incidents, st.just("bob")),
    st.builds(AddNote, st.just("db"), incidents, messages, st.just("alice")),
    st.builds(ReportChange, st.just("db"), messages),
    st.builds(MarkHealthy, st.just("db")),
    st.builds(
        ReceiveAckTimeout,
        st.just("db"),
        incidents,
        st.integers(1, 2),
        st.integers(1, 2),
    ),
    st.builds(
        DefineService,
        st.just("db"),
        st.just("Database"),
        st.sampled_from(["ops", "x"]),
        st.sampled_from([(), ("warning", "info")]),
    ),
    st.builds(DeleteService, st.just("db")),
)
starts = st.one_of(
    st.just(ServiceState("db")),
    st.just(ServiceState("db", True, "Database", "ops")),
    st.frozensets(keys).map(open_incident),
    st.builds(
        low_urgency_incident, st.frozensets(keys), st.sampled_from(["triggered", "acknowledged"])
    ),
)


@given(starts, st.lists(commands, max_size=16))
def test_decide_all_decides_what_one_by_one_decides(
    state: ServiceState, run: list[ServiceCommand]
) -> None:
    decided = decide_all(state, run, POLICIES.get, NOW)
    expected = one_by_one(state, run)
    assert comparable(decided.results) == comparable(expected)
    assert decided.state == final_state(state, expected)
    events = [e for r in expected if not isinstance(r, DomainError) for e in r[1]]
    assert list(decided.events) == events
    assert len(decided.states) == len(decided.events)
    assert decided.states[-1:] == ((decided.state,) if events else ())


def test_a_run_that_changes_nothing_leaves_the_state_as_it_was() -> None:
    state = open_incident(frozenset({"a"}))
    again = ReceiveAlert("db", "unused", "still firing", "a")
    empty = ReceiveAlert("db", "unused", "  ")
    decided = decide_all(state, [again, empty, again], POLICIES.get, NOW)
    assert decided.results[0] == (state, ())
    assert decided.results[2] == (state, ())
    assert isinstance(decided.results[1], ValidationFailed)
    assert decided.state is state
    assert decided.events == ()


def test_a_run_counts_every_alert_and_remembers_each_new_key_once() -> None:
    state = open_incident(frozenset({"a"}))
    run = [
        ReceiveAlert("db", "unused", "one", "b"),
        ReceiveAlert("db", "unused", "two", "b"),  # b is firing now: nothing
        ReceiveAlert("db", "unused", "three"),  # no key: attaches, remembers nothing
    ]
    decided = decide_all(state, run, POLICIES.get, NOW)
    assert [len(r[1]) for r in decided.results if isinstance(r, tuple)] == [1, 0, 1]
    assert decided.state.incident is not None
    assert decided.state.incident.alert_count == 5
    assert decided.state.incident.open_keys == {"a", "b"}
    assert decided.states == (decided.state, decided.state)


def test_a_policy_is_looked_up_only_by_a_command_that_needs_it() -> None:
    asked: list[str] = []

    def policies(policy_id: str) -> EscalationPolicy | None:
        asked.append(policy_id)
        return POLICIES.get(policy_id)

    state = open_incident(frozenset({"a"}))
    decided: Decided = decide_all(
        state,
        [ReceiveAlert("db", "i1", "more", "b"), Acknowledge("db", "inc-1", "alice")],
        policies,
        NOW,
    )
    assert asked == []
    assert len(decided.events) == 1  # acknowledged already: the ack changes nothing
    decide_all(
        ServiceState("db", True, "Database", "ops"), [ReceiveAlert("db", "i1", "x")], policies, NOW
    )
    assert asked == ["ops"]
