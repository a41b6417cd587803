"""Maintenance windows (DESIGN.md §7): alerts during a window page nobody and are recorded;
one still firing when the window ends opens its incident then."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pager.application.ports import DueTimer, TimerKey
from pager.application.timers import MAINTENANCE, command_for, fired_by
from pager.domain.commands import (
    Acknowledge,
    EndMaintenance,
    MarkHealthy,
    ReceiveAlert,
    ReceiveMaintenanceEnd,
    ReceiveMaintenanceStart,
    ResolveAlert,
    ScheduleMaintenance,
)
from pager.domain.errors import MaintenanceNotFound, ValidationFailed
from pager.domain.events import (
    AlertAttached,
    AlertSuppressed,
    IncidentOpened,
    IncidentResolved,
    MaintenanceEnded,
    MaintenanceScheduled,
    MaintenanceStarted,
    ServiceEvent,
    SuppressedAlertsResolved,
)
from pager.domain.incident import decide_all
from pager.domain.maintenance import MAX_HELD_ALERTS, MAX_WINDOWS
from tests.unit.scenario import (
    INCIDENT,
    POLICY,
    SERVICE,
    T0,
    acked,
    at,
    created,
    given,
    notified,
    page_level_1,
)

WINDOW = "w1"
HOUR = 3600


def scheduled(
    start: float = 0, end: float = HOUR, *, window: str = WINDOW, now: float = 0
) -> MaintenanceScheduled:
    return MaintenanceScheduled(SERVICE, window, at(start), at(end), "alice", at(now))


def schedule(start: float = 0, end: float = HOUR, window: str = WINDOW) -> ScheduleMaintenance:
    return ScheduleMaintenance(SERVICE, window, at(start), at(end), "alice")


def alert(
    key: str | None = "disk", message: str = "disk full", incident: str = INCIDENT
) -> ReceiveAlert:
    return ReceiveAlert(SERVICE, incident, message, key)


def suppressed(
    key: str | None = "disk", *, now: float = 60, held: bool = True, window: str = WINDOW
) -> AlertSuppressed:
    return AlertSuppressed(SERVICE, window, alert(key), held, at(now))


def ended(now: float = HOUR, *, early: bool = False, by: str = "system") -> MaintenanceEnded:
    return MaintenanceEnded(SERVICE, WINDOW, early, by, at(now))


def test_scheduling_a_window_from_now_records_it_begun() -> None:
    state = given(created()).when(schedule()).then(scheduled()).state
    assert [w.id for w in state.maintenance] == [WINDOW]
    assert state.maintenance[0].started


def test_a_window_to_come_begins_with_its_start_timer_once() -> None:
    history = given(created()).when(schedule(600, HOUR)).then(scheduled(600, HOUR))
    start = ReceiveMaintenanceStart(SERVICE, WINDOW)
    history = history.when(start, now=at(600)).then(MaintenanceStarted(SERVICE, WINDOW, at(600)))
    history.when(start, now=at(601)).then()  # timers fire at least once


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (0, 0, "end"),
        (600, 300, "end"),
        (-HOUR, -60, "end"),
        (0, 31 * 24 * HOUR, "end"),
        (400 * 24 * HOUR, 401 * 24 * HOUR, "start"),
    ],
)
def test_a_window_must_end_after_it_starts_in_the_future_and_within_30_days(
    start: float, end: float, field: str
) -> None:
    refused = given(created()).when(schedule(start, end)).raises(ValidationFailed)
    assert [where for where, _ in refused.problems] == [field]


def test_a_window_id_is_a_slug() -> None:
    refused = given(created()).when(schedule(window="Not An Id")).raises(ValidationFailed)
    assert [where for where, _ in refused.problems] == ["id"]


def test_a_window_needs_instants_with_an_offset() -> None:
    naive = ScheduleMaintenance(SERVICE, WINDOW, T0.replace(tzinfo=None), at(60), "alice")
    refused = given(created()).when(naive).raises(ValidationFailed)
    assert refused.problems[0][0] == "start"


def test_a_window_that_began_before_now_is_in_force_at_once() -> None:
    history = given(created()).when(schedule(-600, HOUR), now=at(0))
    history.then(scheduled(-600, HOUR)).when(alert(), now=at(1)).then(suppressed(now=1))


def test_the_same_window_again_is_a_no_op_and_another_with_its_id_is_refused() -> None:
    history = given(created(), scheduled())
    history.when(schedule()).then()
    assert history.when(schedule(0, 2 * HOUR)).raises(ValidationFailed).problems[0][0] == "id"


def test_a_service_has_a_bounded_number_of_windows() -> None:
    windows = [scheduled(window=f"w{n}") for n in range(MAX_WINDOWS)]
    refused = given(created(), *windows).when(schedule(window="one-more")).raises(ValidationFailed)
    assert refused.problems[0][0] == "start"


def test_an_alert_in_a_window_pages_nobody_and_is_recorded_on_the_timeline() -> None:
    state = given(created(), scheduled()).when(alert(), now=at(60)).then(suppressed()).state
    assert state.incident is None
    assert state.healthy
    assert [a.dedup_key for a in state.held] == ["disk"]


def test_a_resent_alert_in_a_window_records_nothing_more() -> None:
    given(created(), scheduled(), suppressed()).when(alert(), now=at(120)).then()


def test_an_alert_in_a_window_is_still_checked() -> None:
    given(created(), scheduled()).when(alert(message=" "), now=at(60)).raises(ValidationFailed)


def test_an_alert_before_a_window_begins_pages_as_usual() -> None:
    history = given(created(), scheduled(600, HOUR)).when(alert(), now=at(60))
    events = history.then(*page_level_opened(60)).events
    assert isinstance(events[-2], IncidentOpened)


def page_level_opened(now: float, key: str | None = "disk") -> tuple[ServiceEvent, ...]:
    """The incident the alert opens at `now`, and its page of level 1."""
    return (
        IncidentOpened(INCIDENT, SERVICE, "disk full", key, None, "api", at(now)),
        notified(1, now=at(now)),
    )


def test_an_alert_still_firing_at_the_end_opens_its_incident_and_pages_level_1() -> None:
    history = given(created(), scheduled(), suppressed())
    after = history.when(ReceiveMaintenanceEnd(SERVICE, WINDOW), now=at(HOUR))
    state = after.then(ended(), *page_level_opened(HOUR)).state
    assert state.incident is not None
    assert state.incident.open_keys == {"disk"}
    assert state.held == ()
    assert state.maintenance == ()


def test_every_alert_still_firing_at_the_end_is_the_incidents() -> None:
    second = AlertSuppressed(SERVICE, WINDOW, alert("cpu", "cpu hot", "inc-2"), True, at(70))
    history = given(created(), scheduled(), suppressed(), second)
    state = (
        history.when(ReceiveMaintenanceEnd(SERVICE, WINDOW), now=at(HOUR))
        .then(
            ended(),
            *page_level_opened(HOUR),
            AlertAttached(INCIDENT, "cpu hot", "cpu", None, "api", at(HOUR)),
        )
        .state
    )
    assert state.incident is not None
    assert state.incident.open_keys == {"disk", "cpu"}
    assert state.incident.alert_count == 2


def test_an_alert_resolved_during_the_window_leaves_nothing_at_the_end() -> None:
    history = given(created(), scheduled(), suppressed())
    history = history.when(ResolveAlert(SERVICE, "disk"), now=at(120)).then(
        SuppressedAlertsResolved(SERVICE, ("disk",), "integration", at(120))
    )
    assert history.state.held == ()
    history.when(ReceiveMaintenanceEnd(SERVICE, WINDOW), now=at(HOUR)).then(ended())


def test_marking_the_service_healthy_during_the_window_drops_what_it_held() -> None:
    history = given(created(), scheduled(), suppressed())
    history = history.when(MarkHealthy(SERVICE, "bob"), now=at(120)).then(
        SuppressedAlertsResolved(SERVICE, ("disk",), "bob", at(120))
    )
    history.when(ReceiveMaintenanceEnd(SERVICE, WINDOW), now=at(HOUR)).then(ended())


def test_an_alert_without_a_dedup_key_is_recorded_and_not_held() -> None:
    history = given(created(), scheduled()).when(alert(None), now=at(60))
    history = history.then(suppressed(None, held=False))
    history.when(ReceiveMaintenanceEnd(SERVICE, WINDOW), now=at(HOUR)).then(ended())


def test_past_the_bound_alerts_are_recorded_and_not_held() -> None:
    many = [suppressed(f"k{n}") for n in range(MAX_HELD_ALERTS)]
    history = given(created(), scheduled(), *many).when(alert("one-more"), now=at(60))
    history.then(suppressed("one-more", held=False))


def test_ending_a_window_early_is_an_event_and_what_still_fires_pages_then() -> None:
    history = given(created(), scheduled(), suppressed())
    after = history.when(EndMaintenance(SERVICE, WINDOW, "carol"), now=at(600))
    after.then(ended(600, early=True, by="carol"), *page_level_opened(600))


def test_cancelling_a_window_to_come_says_it_never_began() -> None:
    history = given(created(), scheduled(600, HOUR))
    history.when(EndMaintenance(SERVICE, WINDOW, "carol"), now=at(60)).then(
        MaintenanceEnded(SERVICE, WINDOW, True, "carol", at(60), started=False)
    )


def test_ending_a_window_that_is_not_there_is_not_found() -> None:
    given(created()).when(EndMaintenance(SERVICE, WINDOW, "carol")).raises(MaintenanceNotFound)


def test_a_stale_end_timer_after_an_early_end_does_nothing() -> None:
    history = given(created(), scheduled(), suppressed(), ended(600, early=True, by="carol"))
    history.when(ReceiveMaintenanceEnd(SERVICE, WINDOW), now=at(HOUR)).then()
    history.when(ReceiveMaintenanceStart(SERVICE, WINDOW), now=at(HOUR)).then()


def test_an_incident_open_when_a_window_starts_carries_on() -> None:
    history = given(created(), *page_level_1("disk")).when(schedule(60, HOUR), now=at(30))
    history = history.then(scheduled(60, HOUR, now=30))
    history = history.when(alert("cpu", "cpu hot", "inc-2"), now=at(90)).then(
        AlertAttached(INCIDENT, "cpu hot", "cpu", None, "api", at(90))
    )
    history = history.when(Acknowledge(SERVICE, INCIDENT, "alice"), now=at(100))
    history.then(acked(now=at(100)))


def test_after_the_open_incident_is_resolved_in_a_window_new_alerts_are_held() -> None:
    history = given(created(), *page_level_1("disk"), scheduled(now=10))
    history = history.when(MarkHealthy(SERVICE), now=at(20)).then(
        IncidentResolved(INCIDENT, "api", "healthy", at(20))
    )
    history.when(alert("cpu", "cpu hot", "inc-2"), now=at(30)).then(
        AlertSuppressed(SERVICE, WINDOW, alert("cpu", "cpu hot", "inc-2"), True, at(30))
    )


def test_overlapping_windows_hold_alerts_until_the_last_in_force_ends() -> None:
    second = scheduled(0, 2 * HOUR, window="w2")
    history = given(created(), scheduled(), second, suppressed())
    history = history.when(ReceiveMaintenanceEnd(SERVICE, WINDOW), now=at(HOUR)).then(ended())
    assert [a.dedup_key for a in history.state.held] == ["disk"]
    end_second = ReceiveMaintenanceEnd(SERVICE, "w2")
    history.when(end_second, now=at(2 * HOUR)).then(
        MaintenanceEnded(SERVICE, "w2", False, "system", at(2 * HOUR)),
        *page_level_opened(2 * HOUR),
    )


def test_a_window_ending_before_another_begins_releases_what_it_held() -> None:
    later = scheduled(2 * HOUR, 3 * HOUR, window="w2")
    history = given(created(), scheduled(), later, suppressed())
    history.when(ReceiveMaintenanceEnd(SERVICE, WINDOW), now=at(HOUR)).then(
        ended(), *page_level_opened(HOUR)
    )


def test_decide_all_holds_a_batch_of_alerts_in_a_window() -> None:
    state = given(created(), scheduled()).state
    alerts = [alert("a", incident="i1"), alert("b", incident="i2"), alert("a", incident="i3")]
    decided = decide_all(state, alerts, lambda _: POLICY, at(60))
    assert [type(e) for e in decided.events] == [AlertSuppressed, AlertSuppressed]
    assert decided.state.incident is None
    assert [a.dedup_key for a in decided.state.held] == ["a", "b"]


def test_the_windows_timers_map_onto_their_commands_and_back() -> None:
    start = DueTimer(1, MAINTENANCE, WINDOW, SERVICE, 0, 0, T0)
    end = DueTimer(2, MAINTENANCE, WINDOW, SERVICE, 1, 0, T0 + timedelta(hours=1))
    assert command_for(start) == ReceiveMaintenanceStart(SERVICE, WINDOW)
    assert command_for(end) == ReceiveMaintenanceEnd(SERVICE, WINDOW)
    assert fired_by(command_for(start)) == TimerKey(MAINTENANCE, WINDOW, 0)
    assert fired_by(command_for(end)) == TimerKey(MAINTENANCE, WINDOW, 1)


def test_the_alert_still_firing_keeps_its_policys_current_level_1() -> None:
    history = given(created(), scheduled(), suppressed())
    events = history.when(ReceiveMaintenanceEnd(SERVICE, WINDOW), now=at(HOUR)).then(
        ended(), *page_level_opened(HOUR)
    )
    assert events.state.incident is not None
    assert events.state.incident.level == 1
