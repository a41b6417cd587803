"""`attach_alerts` decides a run of alerts on an open incident exactly as `decide` and
`evolve` do alert after alert: the same events, the same refusals, the same state after."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from pager.domain.commands import ReceiveAlert
from pager.domain.errors import DomainError, ValidationFailed
from pager.domain.events import ServiceEvent
from pager.domain.incident import OpenIncident, ServiceState, attach_alerts, decide, evolve

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
OPENED = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)


def open_incident(keys: frozenset[str]) -> ServiceState:
    incident = OpenIncident("inc-1", "acknowledged", "disk full", 3, OPENED, 2, 1, keys)
    return ServiceState("db", True, "Database", "ops", incident)


def one_by_one(
    state: ServiceState, alerts: list[ReceiveAlert]
) -> tuple[list[tuple[ServiceEvent, ...] | DomainError], ServiceState]:
    results: list[tuple[ServiceEvent, ...] | DomainError] = []
    for alert in alerts:
        try:
            events = decide(state, alert, None, NOW)
        except DomainError as refused:
            results.append(refused)
            continue
        results.append(events)
        for event in events:
            state = evolve(state, event)
    return results, state


keys = st.sampled_from(["a", "b", "c", "d", "e"])
alerts = st.builds(
    ReceiveAlert,
    service_id=st.just("db"),
    incident_id=st.just("unused"),
    message=st.sampled_from(["cpu hot", "  disk full  ", "", "   ", "x" * 5000]),
    dedup_key=st.none() | keys,
    severity=st.none() | st.just("critical"),
    source=st.sampled_from(["api", "alertmanager"]),
)


def comparable(
    decided: tuple[list[tuple[ServiceEvent, ...] | DomainError], ServiceState],
) -> tuple[list[object], ServiceState]:
    """Refusals as (kind, message): exceptions are not equal by value."""
    results, state = decided
    return [(type(r), str(r)) if isinstance(r, DomainError) else r for r in results], state


@given(st.frozensets(keys), st.lists(alerts, max_size=12))
def test_a_run_decides_what_one_by_one_decides(
    firing: frozenset[str], run: list[ReceiveAlert]
) -> None:
    state = open_incident(firing)
    assert comparable(attach_alerts(state, run, NOW)) == comparable(one_by_one(state, run))


def test_a_run_that_changes_nothing_leaves_the_state_as_it_was() -> None:
    state = open_incident(frozenset({"a"}))
    again = ReceiveAlert("db", "unused", "still firing", "a")
    empty = ReceiveAlert("db", "unused", "  ")
    results, after = attach_alerts(state, [again, empty, again], NOW)
    assert results[0] == ()
    assert results[2] == ()
    assert isinstance(results[1], ValidationFailed)
    assert after is state


def test_a_run_counts_every_alert_and_remembers_each_new_key_once() -> None:
    state = open_incident(frozenset({"a"}))
    run = [
        ReceiveAlert("db", "unused", "one", "b"),
        ReceiveAlert("db", "unused", "two", "b"),  # b is firing now: nothing
        ReceiveAlert("db", "unused", "three"),  # no key: attaches, remembers nothing
    ]
    results, after = attach_alerts(state, run, NOW)
    assert [len(r) for r in results if isinstance(r, tuple)] == [1, 0, 1]
    assert after.incident is not None
    assert after.incident.alert_count == 5
    assert after.incident.open_keys == {"a", "b"}
