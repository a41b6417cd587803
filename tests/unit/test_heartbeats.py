"""Heartbeats: a missed ping raises an alert on the service and pages, its next ping resolves
it; stale, removed and moved heartbeats' timers do nothing. Given / when / then."""

from __future__ import annotations

from datetime import datetime

import pytest

from pager.domain.commands import (
    Acknowledge,
    DefineHeartbeat,
    DeleteService,
    PingHeartbeat,
    ReceiveAlert,
    ReceiveHeartbeatDeadline,
    RemoveHeartbeat,
)
from pager.domain.errors import HeartbeatNotFound, ServiceNotFound, ValidationFailed
from pager.domain.events import (
    Acknowledged,
    AlertAttached,
    AlertResolved,
    HeartbeatDefined,
    HeartbeatMissed,
    HeartbeatPinged,
    HeartbeatRemoved,
    IncidentOpened,
    IncidentResolved,
    ServiceDeleted,
)
from pager.domain.heartbeat import MAX_HEARTBEATS, missed_message
from tests.unit.scenario import INCIDENT, SERVICE, T0, at, created, given, notified, opened

BEAT = "nightly-backup"
KEY = f"heartbeat:{BEAT}"
INTERVAL = 3600
GRACE = 300
WAIT = INTERVAL + GRACE


def gen(now: datetime) -> int:
    """The generation a heartbeat first armed at `now` gets (its epoch second)."""
    return int(now.timestamp())


def defined(now: datetime = T0, due: datetime | None = None) -> HeartbeatDefined:
    return HeartbeatDefined(SERVICE, BEAT, INTERVAL, GRACE, gen(now), due or at(WAIT), now)


def deadline(now: datetime = T0) -> ReceiveHeartbeatDeadline:
    return ReceiveHeartbeatDeadline(SERVICE, BEAT, gen(now), INCIDENT)


def missed_at(seconds: float) -> tuple[HeartbeatMissed, IncidentOpened]:
    message = (
        f"Heartbeat {BEAT} missed: never pinged since it was defined at 2024-05-01 12:00:00 UTC"
    )
    message += ", expected every 1 h (+5 min grace)"
    now = at(seconds)
    return (
        HeartbeatMissed(SERVICE, BEAT, gen(T0), None, now),
        IncidentOpened(INCIDENT, SERVICE, message, KEY, "critical", "heartbeat", now),
    )


def test_defining_a_heartbeat_arms_its_deadline_an_interval_and_grace_away() -> None:
    given(created()).when(DefineHeartbeat(SERVICE, BEAT, INTERVAL, GRACE)).then(defined())


def test_defining_it_again_unchanged_is_a_no_op() -> None:
    given(created(), defined()).when(DefineHeartbeat(SERVICE, BEAT, INTERVAL, GRACE)).then()


def test_changing_the_interval_re_arms_from_now_with_a_new_generation() -> None:
    now = at(100)
    given(created(), defined()).when(DefineHeartbeat(SERVICE, BEAT, 600, 0), now=now).then(
        HeartbeatDefined(SERVICE, BEAT, 600, 0, gen(now), at(700), now)
    )


def test_a_missed_deadline_raises_the_alert_and_pages_level_1() -> None:
    missed, opening = missed_at(WAIT)
    given(created(), defined()).when(deadline(), now=at(WAIT)).then(
        missed, opening, notified(1, now=at(WAIT))
    )


def test_the_next_ping_resolves_the_alert_and_re_arms() -> None:
    missed, opening = missed_at(WAIT)
    history = given(created(), defined(), missed, opening, notified(1, now=at(WAIT)))
    now = at(WAIT + 60)
    history.when(PingHeartbeat(SERVICE, BEAT), now=now).then(
        HeartbeatPinged(SERVICE, BEAT, gen(now), at(WAIT + 60 + WAIT), now),
        AlertResolved(INCIDENT, KEY, now),
        IncidentResolved(INCIDENT, "integration", "alerts_resolved", now),
    )


def test_a_ping_before_the_deadline_re_arms_it_and_the_old_timer_is_stale() -> None:
    now = at(600)
    pinged = HeartbeatPinged(SERVICE, BEAT, gen(now), at(600 + WAIT), now)
    history = given(created(), defined()).when(PingHeartbeat(SERVICE, BEAT), now=now).then(pinged)
    history.when(deadline(), now=at(WAIT)).then()


def test_a_missed_heartbeat_names_when_it_was_last_seen() -> None:
    now = at(600)
    pinged = HeartbeatPinged(SERVICE, BEAT, gen(now), at(600 + WAIT), now)
    history = given(created(), defined(), pinged)
    beat = history.state.heartbeats[0]
    assert missed_message(beat) == (
        f"Heartbeat {BEAT} missed: last seen at 2024-05-01 12:10:00 UTC, "
        "expected every 1 h (+5 min grace)"
    )
    late = at(600 + WAIT)
    history.when(ReceiveHeartbeatDeadline(SERVICE, BEAT, gen(now), INCIDENT), now=late).then(
        HeartbeatMissed(SERVICE, BEAT, gen(now), now, late),
        IncidentOpened(INCIDENT, SERVICE, missed_message(beat), KEY, "critical", "heartbeat", late),
        notified(1, now=late),
    )


def test_a_deadline_fired_twice_raises_one_alert() -> None:
    missed, opening = missed_at(WAIT)
    history = given(created(), defined(), missed, opening, notified(1, now=at(WAIT)))
    history.when(deadline(), now=at(WAIT + 1)).then()


def test_a_missed_heartbeat_on_an_unhealthy_service_attaches_its_alert() -> None:
    missed, _ = missed_at(WAIT)
    history = given(created(), defined(), opened(), notified(1))
    message = missed_at(WAIT)[1].message
    history.when(deadline(), now=at(WAIT)).then(
        missed, AlertAttached(INCIDENT, message, KEY, "critical", "heartbeat", at(WAIT))
    )


def test_a_ping_after_the_incident_was_resolved_by_hand_only_re_arms() -> None:
    missed, opening = missed_at(WAIT)
    resolved = IncidentResolved(INCIDENT, "alice", "resolved", at(WAIT + 10))
    history = given(created(), defined(), missed, opening, notified(1, now=at(WAIT)), resolved)
    now = at(WAIT + 60)
    history.when(PingHeartbeat(SERVICE, BEAT), now=now).then(
        HeartbeatPinged(SERVICE, BEAT, gen(now), at(WAIT + 60 + WAIT), now)
    )


def test_a_ping_resolves_only_its_own_alert_and_acknowledging_does_not_silence_it() -> None:
    missed, opening = missed_at(WAIT)
    other = AlertAttached(INCIDENT, "disk full", "disk", None, "api", at(WAIT))
    history = given(created(), defined(), missed, opening, notified(1, now=at(WAIT)), other)
    history = history.when(Acknowledge(SERVICE, INCIDENT, "alice"), now=at(WAIT + 5)).then(
        Acknowledged(INCIDENT, "alice", at(WAIT + 5))
    )
    now = at(WAIT + 60)
    history.when(PingHeartbeat(SERVICE, BEAT), now=now).then(
        HeartbeatPinged(SERVICE, BEAT, gen(now), at(WAIT + 60 + WAIT), now),
        AlertResolved(INCIDENT, KEY, now),
    )


def test_a_removed_heartbeats_timer_does_nothing() -> None:
    history = (
        given(created(), defined())
        .when(RemoveHeartbeat(SERVICE, BEAT), now=at(5))
        .then(HeartbeatRemoved(SERVICE, BEAT, at(5)))
    )
    history.when(deadline(), now=at(WAIT)).then()
    history.when(PingHeartbeat(SERVICE, BEAT)).raises(HeartbeatNotFound)


def test_removing_a_missed_heartbeat_resolves_its_alert() -> None:
    missed, opening = missed_at(WAIT)
    history = given(created(), defined(), missed, opening, notified(1, now=at(WAIT)))
    now = at(WAIT + 5)
    history.when(RemoveHeartbeat(SERVICE, BEAT), now=now).then(
        HeartbeatRemoved(SERVICE, BEAT, now),
        AlertResolved(INCIDENT, KEY, now),
        IncidentResolved(INCIDENT, "integration", "alerts_resolved", now),
    )


def test_a_heartbeat_defined_again_after_removal_ignores_the_old_timer() -> None:
    removed = HeartbeatRemoved(SERVICE, BEAT, at(1))
    now = at(2)
    history = given(created(), defined(), removed)
    history = history.when(DefineHeartbeat(SERVICE, BEAT, INTERVAL, GRACE), now=now).then(
        HeartbeatDefined(SERVICE, BEAT, INTERVAL, GRACE, gen(now), at(2 + WAIT), now)
    )
    history.when(deadline(), now=at(WAIT)).then()


def test_a_moved_heartbeat_is_gone_from_its_old_service_and_armed_on_the_new() -> None:
    old = given(created(), defined())
    old = old.when(RemoveHeartbeat(SERVICE, BEAT), now=at(5)).then(
        HeartbeatRemoved(SERVICE, BEAT, at(5))
    )
    old.when(deadline(), now=at(WAIT)).then()  # the old service's timer, had it fired
    other = "billing"
    new = given(created(other), service_id=other)
    new.when(DefineHeartbeat(other, BEAT, INTERVAL, GRACE), now=at(5)).then(
        HeartbeatDefined(other, BEAT, INTERVAL, GRACE, gen(at(5)), at(5 + WAIT), at(5))
    )


def test_a_missed_heartbeat_stays_missed_when_changed_and_waits_for_a_ping() -> None:
    missed, opening = missed_at(WAIT)
    history = given(created(), defined(), missed, opening, notified(1, now=at(WAIT)))
    now = at(WAIT + 10)
    history = history.when(DefineHeartbeat(SERVICE, BEAT, 600, 0), now=now).then(
        HeartbeatDefined(SERVICE, BEAT, 600, 0, gen(now), None, now)
    )
    assert history.state.heartbeats[0].state == "missed"


def test_deleting_the_service_removes_its_heartbeats() -> None:
    missed, opening = missed_at(WAIT)
    history = given(created(), defined(), missed, opening, notified(1, now=at(WAIT)))
    now = at(WAIT + 5)
    after = history.when(DeleteService(SERVICE), now=now).then(
        IncidentResolved(INCIDENT, "system", "service_deleted", now),
        HeartbeatRemoved(SERVICE, BEAT, now),
        ServiceDeleted(SERVICE, now),
    )
    assert after.state.heartbeats == ()


def test_states_new_ok_and_missed() -> None:
    history = given(created(), defined())
    assert history.state.heartbeats[0].state == "new"
    pinged = HeartbeatPinged(SERVICE, BEAT, gen(at(5)), at(5 + WAIT), at(5))
    assert given(created(), defined(), pinged).state.heartbeats[0].state == "ok"
    missed, opening = missed_at(WAIT)
    assert given(created(), defined(), missed, opening).state.heartbeats[0].state == "missed"


@pytest.mark.parametrize(
    ("heartbeat_id", "interval", "grace", "field"),
    [
        ("Nightly", INTERVAL, GRACE, "id"),
        ("", INTERVAL, GRACE, "id"),
        (BEAT, 59, GRACE, "interval_seconds"),
        (BEAT, 7 * 86400 + 1, GRACE, "interval_seconds"),
        (BEAT, INTERVAL, -1, "grace_seconds"),
        (BEAT, INTERVAL, 86401, "grace_seconds"),
    ],
)
def test_bad_definitions_are_refused_naming_the_field(
    heartbeat_id: str, interval: int, grace: int, field: str
) -> None:
    refused = (
        given(created())
        .when(DefineHeartbeat(SERVICE, heartbeat_id, interval, grace))
        .raises(ValidationFailed)
    )
    assert [where for where, _ in refused.problems] == [field]


def test_a_service_holds_a_bounded_number_of_heartbeats() -> None:
    beats = [
        HeartbeatDefined(SERVICE, f"b{n}", INTERVAL, GRACE, gen(T0), at(WAIT), T0)
        for n in range(MAX_HEARTBEATS)
    ]
    refused = (
        given(created(), *beats)
        .when(DefineHeartbeat(SERVICE, BEAT, INTERVAL, GRACE))
        .raises(ValidationFailed)
    )
    assert refused.problems[0][0] == "service"


def test_heartbeats_of_an_unknown_service_or_heartbeat_are_refused() -> None:
    given().when(DefineHeartbeat(SERVICE, BEAT, INTERVAL, GRACE)).raises(ServiceNotFound)
    given(created()).when(PingHeartbeat(SERVICE, BEAT)).raises(HeartbeatNotFound)
    given(created()).when(RemoveHeartbeat(SERVICE, BEAT)).raises(HeartbeatNotFound)
    given(created()).when(deadline()).then()


def test_an_alert_with_the_heartbeats_key_is_the_same_alert() -> None:
    missed, opening = missed_at(WAIT)
    history = given(created(), defined(), missed, opening, notified(1, now=at(WAIT)))
    history.when(ReceiveAlert(SERVICE, "inc-2", "again", KEY)).then()
