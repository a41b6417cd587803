"""The escalation rules of DESIGN.md §1, one given / when / then test each."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from pager.domain.commands import (
    Acknowledge,
    AcknowledgeAlert,
    AddNote,
    DefinePolicy,
    DefineService,
    DeletePolicy,
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
from pager.domain.errors import (
    IncidentAlreadyResolved,
    NothingToEscalateTo,
    PolicyInUse,
    PolicyNotFound,
    ServiceNotFound,
    ValidationFailed,
)
from pager.domain.events import (
    Acknowledged,
    AlertAttached,
    AlertResolved,
    ChangeLink,
    ChangeReported,
    Escalated,
    EscalationExhausted,
    IncidentOpened,
    IncidentResolved,
    LevelNotified,
    NoteAdded,
    PolicyChanged,
    PolicyCreated,
    PolicyDeleted,
    ServiceCreated,
    ServiceDeleted,
    ServiceEvent,
    ServiceUpdated,
    Unacknowledged,
)
from pager.domain.incident import (
    MAX_MESSAGE_LENGTH,
    MAX_NOTE_LENGTH,
    MAX_SUMMARY_LENGTH,
    OpenIncident,
)
from pager.domain.policy import EmailTarget, EscalationPolicy, Level, WebhookTarget
from pager.domain.policy_stream import PolicyState, decide_policy, evolve_policy
from tests.unit.scenario import (
    ALICE,
    BOB,
    CAROL,
    INCIDENT,
    OPS_HOOK,
    POLICY,
    SERVICE,
    T0,
    TEAM_SLACK,
    acked,
    at,
    created,
    given,
    notified,
    opened,
    page_level_1,
    stepped,
)

ALERT = ReceiveAlert(SERVICE, INCIDENT, "disk full")
TIMEOUT_1 = ReceiveAckTimeout(SERVICE, INCIDENT, level=1, round=1)
TIMEOUT_2 = ReceiveAckTimeout(SERVICE, INCIDENT, level=2, round=1)
REPEAT_ONCE = replace(POLICY, repeat=1)


def timeout(level: int, round_: int = 1, incident_id: str = INCIDENT) -> ReceiveAckTimeout:
    return ReceiveAckTimeout(SERVICE, incident_id, level, round_)


def paged_to_level_2(policy: EscalationPolicy = POLICY) -> tuple[LevelNotified, ...]:
    """Level 1 paged at T0, then level 2 at T0+60 s: the incident waits on level 2."""
    return (notified(1, policy=policy), notified(2, now=at(60), policy=policy))


# The five original scenarios.


def test_scenario_1_healthy_service_alert_opens_incident_and_pages_level_1() -> None:
    after = (
        given(created())
        .when(ALERT, now=T0)
        .then(
            IncidentOpened(INCIDENT, SERVICE, "disk full", None, None, "api", T0),
            stepped(INCIDENT, "ops", 1, 1, (ALICE,), 60, at(60), T0),
        )
    )

    assert not after.state.healthy
    assert after.state.incident == OpenIncident(
        INCIDENT, "triggered", "disk full", alert_count=1, opened_at=T0, level=1, round=1
    )


def test_scenario_2_unacknowledged_timeout_pages_next_level_and_sets_a_new_timer() -> None:
    after = (
        given(created(), *page_level_1())
        .when(TIMEOUT_1, now=at(60))
        .then(stepped(INCIDENT, "ops", 2, 1, (BOB, OPS_HOOK), 120, at(180), at(60)))
    )

    assert after.state.incident is not None
    assert (after.state.incident.level, after.state.incident.status) == (2, "triggered")


def test_scenario_3_acknowledged_incident_then_timeout_notifies_nobody() -> None:
    after = (
        given(created(), *page_level_1())
        .when(Acknowledge(SERVICE, INCIDENT, by="alice"), now=at(30))
        .then(Acknowledged(INCIDENT, "alice", at(30)))
        .when(TIMEOUT_1, now=at(60))
        .then()
    )

    assert after.state.incident is not None
    assert after.state.incident.status == "acknowledged"
    assert after.state.incident.level == 1


def test_scenario_4_alert_on_unhealthy_service_attaches_and_notifies_nobody() -> None:
    after = (
        given(created(), *page_level_1())
        .when(ReceiveAlert(SERVICE, "inc-2", "disk still full"), now=at(10))
        .then(AlertAttached(INCIDENT, "disk still full", None, None, "api", at(10)))
    )

    incident = after.state.incident
    assert incident is not None
    assert (incident.id, incident.alert_count, incident.message) == (INCIDENT, 2, "disk full")
    assert (incident.level, incident.round) == (1, 1)


def test_scenario_5_healthy_event_then_timeout_notifies_nobody() -> None:
    after = (
        given(created(), *page_level_1())
        .when(MarkHealthy(SERVICE, by="monitor"), now=at(20))
        .then(IncidentResolved(INCIDENT, "monitor", "healthy", at(20)))
        .when(TIMEOUT_1, now=at(60))
        .then()
    )

    assert after.state.healthy
    assert after.state.incident is None


# The last level.


def test_timeout_at_last_level_with_repeat_left_pages_level_1_in_the_next_round() -> None:
    after = (
        given(created(), opened(), *paged_to_level_2(REPEAT_ONCE))
        .when(TIMEOUT_2, policy=REPEAT_ONCE, now=at(180))
        .then(notified(1, 2, now=at(180), policy=REPEAT_ONCE))
    )

    assert after.state.incident is not None
    assert (after.state.incident.level, after.state.incident.round) == (1, 2)


def test_repeat_runs_through_all_levels_that_many_more_times_then_exhausts() -> None:
    policy = replace(POLICY, levels=(Level((ALICE,), 60),), repeat=2)

    (
        given(created(), opened(), notified(1, 1, policy=policy))
        .when(timeout(1, 1), policy=policy, now=at(60))
        .then(notified(1, 2, now=at(60), policy=policy))
        .when(timeout(1, 2), policy=policy, now=at(120))
        .then(notified(1, 3, now=at(120), policy=policy))
        .when(timeout(1, 3), policy=policy, now=at(180))
        .then(EscalationExhausted(INCIDENT, 1, 3, at(180)))
    )


def test_timeout_at_last_level_without_repeat_exhausts_and_the_incident_stays_triggered() -> None:
    after = (
        given(created(), opened(), *paged_to_level_2())
        .when(TIMEOUT_2, now=at(180))
        .then(EscalationExhausted(INCIDENT, level=2, round=1, at=at(180)))
    )

    assert not after.state.healthy
    assert after.state.incident is not None
    assert after.state.incident.status == "triggered"
    assert (after.state.incident.level, after.state.incident.round) == (2, 1)


def test_after_exhaustion_later_timeouts_are_ignored() -> None:
    exhausted = given(
        created(), opened(), *paged_to_level_2(), EscalationExhausted(INCIDENT, 2, 1, at(180))
    )

    exhausted.when(TIMEOUT_2, now=at(181)).then()
    exhausted.when(TIMEOUT_2, policy=REPEAT_ONCE, now=at(182)).then()


def test_an_exhausted_incident_can_still_be_acknowledged_and_resolved() -> None:
    (
        given(
            created(), opened(), *paged_to_level_2(), EscalationExhausted(INCIDENT, 2, 1, at(180))
        )
        .when(Acknowledge(SERVICE, INCIDENT, "bob"), now=at(200))
        .then(Acknowledged(INCIDENT, "bob", at(200)))
        .when(MarkHealthy(SERVICE), now=at(300))
        .then(IncidentResolved(INCIDENT, "api", "healthy", at(300)))
    )


# Timers fire at least once: stale and duplicate timeouts are ignored.


@pytest.mark.parametrize(
    ("level", "round_"),
    [
        pytest.param(1, 1, id="earlier-level"),
        pytest.param(3, 1, id="later-level"),
        pytest.param(2, 2, id="later-round"),
        pytest.param(2, 0, id="earlier-round"),
        pytest.param(0, 1, id="level-0"),
    ],
)
def test_a_timeout_for_another_level_or_round_is_ignored(level: int, round_: int) -> None:
    given(created(), opened(), *paged_to_level_2()).when(timeout(level, round_), now=at(500)).then()


def test_a_duplicate_timeout_is_ignored() -> None:
    (
        given(created(), *page_level_1())
        .when(TIMEOUT_1, now=at(60))
        .then(notified(2, now=at(60)))
        .when(TIMEOUT_1, now=at(61))
        .then()
    )


def test_a_timeout_for_another_incident_of_the_service_is_ignored() -> None:
    given(created(), *page_level_1()).when(timeout(1, 1, "inc-other"), now=at(60)).then()


def test_a_timeout_for_a_resolved_incident_is_ignored() -> None:
    resolved = IncidentResolved(INCIDENT, "alice", "resolved", at(30))

    given(created(), *page_level_1(), resolved).when(TIMEOUT_1, now=at(60)).then()


def test_a_timeout_for_a_resolved_incident_does_not_touch_the_next_one() -> None:
    resolved = IncidentResolved(INCIDENT, "alice", "resolved", at(30))
    second = opened(incident_id="inc-2", now=at(40))

    given(
        created(), *page_level_1(), resolved, second, notified(1, now=at(40), incident_id="inc-2")
    ).when(TIMEOUT_1, now=at(60)).then()


# Acknowledgement.


def test_acknowledgement_records_who_and_when() -> None:
    after = (
        given(created(), *page_level_1())
        .when(Acknowledge(SERVICE, INCIDENT, "alice@example.com"), now=at(42))
        .then(Acknowledged(INCIDENT, "alice@example.com", at(42)))
    )

    incident = after.state.incident
    assert incident is not None
    assert (incident.status, incident.acknowledged_by, incident.acknowledged_at) == (
        "acknowledged",
        "alice@example.com",
        at(42),
    )


def test_acknowledging_twice_is_a_no_op_and_keeps_the_first_acknowledgement() -> None:
    after = (
        given(created(), *page_level_1(), acked("alice", at(10)))
        .when(Acknowledge(SERVICE, INCIDENT, "bob"), now=at(20))
        .then()
    )

    assert after.state.incident is not None
    assert after.state.incident.acknowledged_by == "alice"
    assert after.state.incident.acknowledged_at == at(10)


def test_acknowledging_a_resolved_incident_raises_incident_already_resolved() -> None:
    resolved = IncidentResolved(INCIDENT, "monitor", "healthy", at(30))

    error = (
        given(created(), *page_level_1(), resolved)
        .when(Acknowledge(SERVICE, INCIDENT, "alice"), now=at(40))
        .raises(IncidentAlreadyResolved)
    )

    assert error.incident_id == INCIDENT
    assert error.code == "conflict"


def test_acknowledging_by_a_firing_dedup_key_acknowledges_its_incident() -> None:
    (
        given(created(), *page_level_1(dedup_key="disk"))
        .when(AcknowledgeAlert(SERVICE, "disk", "pagerduty"), now=at(10))
        .then(Acknowledged(INCIDENT, "pagerduty", at(10)))
        .when(AcknowledgeAlert(SERVICE, "disk", "again"), now=at(20))
        .then()
    )


def test_acknowledging_by_a_key_that_is_not_firing_changes_nothing() -> None:
    resolved = AlertResolved(INCIDENT, "disk", at(5))
    given(created(), *page_level_1(dedup_key="cpu")).when(
        AcknowledgeAlert(SERVICE, "disk", "pagerduty"), now=at(10)
    ).then()
    given(created(), *page_level_1(dedup_key="disk"), resolved).when(
        AcknowledgeAlert(SERVICE, "disk", "pagerduty"), now=at(10)
    ).then()
    given(created()).when(AcknowledgeAlert(SERVICE, "disk", "pagerduty")).then()
    given().when(AcknowledgeAlert(SERVICE, "disk", "pagerduty")).raises(ServiceNotFound)


def test_acknowledging_a_resolved_incident_leaves_the_open_one_alone() -> None:
    resolved = IncidentResolved(INCIDENT, "monitor", "healthy", at(30))
    second = (opened(incident_id="inc-2", now=at(40)), notified(1, now=at(40), incident_id="inc-2"))

    (
        given(created(), *page_level_1(), resolved, *second)
        .when(Acknowledge(SERVICE, INCIDENT, "alice"), now=at(50))
        .raises(IncidentAlreadyResolved)
    )


def test_an_acknowledged_incident_still_counts_alerts_and_notifies_nobody() -> None:
    after = (
        given(created(), *page_level_1(), acked())
        .when(ReceiveAlert(SERVICE, "inc-2", "again"), now=at(5))
        .then(AlertAttached(INCIDENT, "again", None, None, "api", at(5)))
    )

    assert after.state.incident is not None
    assert after.state.incident.status == "acknowledged"


# Healthy events and resolution.


def test_a_healthy_event_for_a_healthy_service_is_a_no_op() -> None:
    given(created()).when(MarkHealthy(SERVICE), now=at(1)).then()


def test_a_healthy_event_after_resolution_is_a_no_op() -> None:
    resolved = IncidentResolved(INCIDENT, "monitor", "healthy", at(30))

    given(created(), *page_level_1(), resolved).when(MarkHealthy(SERVICE), now=at(40)).then()


def test_a_healthy_event_resolves_an_acknowledged_incident() -> None:
    (
        given(created(), *page_level_1(), acked())
        .when(MarkHealthy(SERVICE, by="prometheus"), now=at(90))
        .then(IncidentResolved(INCIDENT, "prometheus", "healthy", at(90)))
    )


def test_after_recovery_the_next_alert_opens_a_new_incident_from_level_1() -> None:
    recovered = given(
        created(),
        opened(),
        *paged_to_level_2(),
        IncidentResolved(INCIDENT, "api", "healthy", at(200)),
    )

    after = (
        recovered.when(ReceiveAlert(SERVICE, "inc-2", "down again"), now=at(300))
        .then(
            IncidentOpened("inc-2", SERVICE, "down again", None, None, "api", at(300)),
            notified(1, 1, now=at(300), incident_id="inc-2"),
        )
        .state
    )

    assert after.incident is not None
    assert (after.incident.id, after.incident.alert_count, after.incident.level) == ("inc-2", 1, 1)


def test_resolving_the_open_incident_resolves_it_and_the_service_is_healthy() -> None:
    after = (
        given(created(), *page_level_1())
        .when(Resolve(SERVICE, INCIDENT, by="alice"), now=at(30))
        .then(IncidentResolved(INCIDENT, "alice", "resolved", at(30)))
    )

    assert after.state.healthy


@pytest.mark.parametrize(
    "events",
    [
        pytest.param((created(),), id="healthy-service"),
        pytest.param(
            (created(), *page_level_1(), IncidentResolved(INCIDENT, "a", "resolved", at(1))),
            id="already-resolved",
        ),
        pytest.param(
            (created(), opened(incident_id="inc-2"), notified(1, incident_id="inc-2")),
            id="another-incident-open",
        ),
    ],
)
def test_resolving_an_incident_that_is_not_open_is_a_no_op(
    events: tuple[ServiceEvent, ...],
) -> None:
    given(*events).when(Resolve(SERVICE, INCIDENT, by="alice"), now=at(60)).then()


# Each escalation step reads the service's current policy.


def test_each_escalation_step_reads_the_current_policy() -> None:
    level_2_fixed = replace(
        POLICY, levels=(POLICY.level(1), Level((CAROL, TEAM_SLACK), ack_timeout_seconds=30))
    )
    then_rewritten = replace(POLICY, levels=(Level((BOB,), 45), Level((CAROL,), 30)), repeat=1)

    (
        given(created(), *page_level_1())
        .when(TIMEOUT_1, policy=level_2_fixed, now=at(60))
        .then(stepped(INCIDENT, "ops", 2, 1, (CAROL, TEAM_SLACK), 30, at(90), at(60)))
        .when(TIMEOUT_2, policy=then_rewritten, now=at(90))
        .then(stepped(INCIDENT, "ops", 1, 2, (BOB,), 45, at(135), at(90)))
    )


def test_a_level_added_to_the_policy_is_paged_after_the_old_last_level() -> None:
    grown = replace(POLICY, levels=(*POLICY.levels, Level((CAROL,), 300)))

    (
        given(created(), opened(), *paged_to_level_2())
        .when(TIMEOUT_2, policy=grown, now=at(180))
        .then(notified(3, now=at(180), policy=grown))
    )


@pytest.mark.parametrize(
    ("repeat", "expected"),
    [
        pytest.param(0, EscalationExhausted(INCIDENT, 2, 1, at(180)), id="no-repeat"),
        pytest.param(
            1,
            stepped(INCIDENT, "ops", 1, 2, (CAROL,), 10, at(190), at(180)),
            id="repeat-left",
        ),
    ],
)
def test_a_policy_shrunk_below_the_current_level_goes_to_the_end_of_the_round(
    repeat: int, expected: ServiceEvent
) -> None:
    shrunk = EscalationPolicy("ops", "Ops", (Level((CAROL,), 10),), repeat=repeat)

    (
        given(created(), opened(), *paged_to_level_2())
        .when(TIMEOUT_2, policy=shrunk, now=at(180))
        .then(expected)
    )


def test_a_service_moved_to_another_policy_escalates_on_the_new_one() -> None:
    night = EscalationPolicy("night", "Night", (Level((BOB,), 5), Level((CAROL,), 5)))

    (
        given(created(), *page_level_1())
        .when(DefineService(SERVICE, "Checkout", "night"), policy=night, now=at(10))
        .then(ServiceUpdated(SERVICE, "Checkout", "night", at(10)))
        .when(TIMEOUT_1, policy=night, now=at(60))
        .then(stepped(INCIDENT, "night", 2, 1, (CAROL,), 5, at(65), at(60)))
    )


@pytest.mark.parametrize(
    "command",
    [pytest.param(ALERT, id="alert"), pytest.param(TIMEOUT_1, id="timeout")],
)
@pytest.mark.parametrize(
    "policy",
    [
        pytest.param(None, id="no-policy"),
        pytest.param(replace(POLICY, id="other"), id="another-policy"),
    ],
)
def test_an_escalation_step_without_the_services_policy_raises_policy_not_found(
    command: ServiceCommand, policy: EscalationPolicy | None
) -> None:
    events = (created(),) if command is ALERT else (created(), *page_level_1())

    error = given(*events).when(command, policy=policy, now=at(60)).raises(PolicyNotFound)

    assert error.policy_id == "ops"


# Dedup keys (Alertmanager, PagerDuty Events API v2).


def test_an_alert_with_a_dedup_key_opens_the_incident_with_that_key_open() -> None:
    after = (
        given(created())
        .when(
            ReceiveAlert(
                SERVICE, INCIDENT, "HighLatency", "k1", severity="critical", source="alertmanager"
            )
        )
        .then(
            IncidentOpened(INCIDENT, SERVICE, "HighLatency", "k1", "critical", "alertmanager", T0),
            notified(1),
        )
    )

    assert after.state.incident is not None
    assert after.state.incident.open_keys == {"k1"}


def test_a_repeated_trigger_for_an_open_key_is_a_no_op() -> None:
    after = (
        given(created(), *page_level_1(dedup_key="k1"))
        .when(ReceiveAlert(SERVICE, "inc-2", "disk full", "k1"), now=at(30))
        .then()
    )

    assert after.state.incident is not None
    assert after.state.incident.alert_count == 1


def test_a_repeated_trigger_never_restarts_the_escalation() -> None:
    after = (
        given(created(), opened(dedup_key="k1"), *paged_to_level_2())
        .when(ReceiveAlert(SERVICE, "inc-2", "disk full", "k1"), now=at(100))
        .then()
        .when(TIMEOUT_2, now=at(180))
        .then(EscalationExhausted(INCIDENT, 2, 1, at(180)))
    )

    assert after.state.incident is not None
    assert after.state.incident.level == 2


def test_a_trigger_with_a_new_key_attaches_and_opens_that_key() -> None:
    after = (
        given(created(), *page_level_1(dedup_key="k1"))
        .when(ReceiveAlert(SERVICE, "inc-2", "cpu hot", "k2"), now=at(5))
        .then(AlertAttached(INCIDENT, "cpu hot", "k2", None, "api", at(5)))
    )

    assert after.state.incident is not None
    assert after.state.incident.open_keys == {"k1", "k2"}
    assert after.state.incident.alert_count == 2


def test_resolving_the_last_open_key_resolves_the_incident() -> None:
    after = (
        given(created(), *page_level_1(dedup_key="k1"))
        .when(ResolveAlert(SERVICE, "k1"), now=at(50))
        .then(
            AlertResolved(INCIDENT, "k1", at(50)),
            IncidentResolved(INCIDENT, "integration", "alerts_resolved", at(50)),
        )
    )

    assert after.state.healthy


def test_resolving_one_of_two_keys_keeps_the_incident_open() -> None:
    two_keys = given(
        created(),
        *page_level_1(dedup_key="k1"),
        AlertAttached(INCIDENT, "cpu hot", "k2", None, "api", at(5)),
    )

    after = (
        two_keys.when(ResolveAlert(SERVICE, "k1"), now=at(50))
        .then(AlertResolved(INCIDENT, "k1", at(50)))
        .when(TIMEOUT_1, now=at(60))
        .then(notified(2, now=at(60)))
    )
    assert after.state.incident is not None
    assert after.state.incident.open_keys == {"k2"}

    after.when(ResolveAlert(SERVICE, "k2"), now=at(70)).then(
        AlertResolved(INCIDENT, "k2", at(70)),
        IncidentResolved(INCIDENT, "integration", "alerts_resolved", at(70)),
    )


def test_a_resolved_key_that_fires_again_attaches_again() -> None:
    two_keys = given(
        created(),
        *page_level_1(dedup_key="k1"),
        AlertAttached(INCIDENT, "cpu hot", "k2", None, "api", at(5)),
        AlertResolved(INCIDENT, "k1", at(6)),
    )

    after = two_keys.when(ReceiveAlert(SERVICE, "inc-2", "disk full", "k1"), now=at(7)).then(
        AlertAttached(INCIDENT, "disk full", "k1", None, "api", at(7))
    )

    assert after.state.incident is not None
    assert after.state.incident.open_keys == {"k2", "k1"}


@pytest.mark.parametrize(
    "events",
    [
        pytest.param((created(),), id="healthy-service"),
        pytest.param((created(), *page_level_1(dedup_key="k1")), id="other-key-open"),
        pytest.param((created(), *page_level_1()), id="incident-without-keys"),
    ],
)
def test_resolving_a_key_that_is_not_open_is_a_no_op(events: tuple[ServiceEvent, ...]) -> None:
    given(*events).when(ResolveAlert(SERVICE, "k9"), now=at(50)).then()


def test_an_alert_without_key_does_not_keep_the_incident_open_once_all_keys_resolve() -> None:
    # The incident remembers only keyed alerts; the integration's resolve of the last key
    # makes the service healthy (DESIGN.md §3, integrations).
    (
        given(
            created(),
            *page_level_1(dedup_key="k1"),
            AlertAttached(INCIDENT, "manual", None, None, "api", at(5)),
        )
        .when(ResolveAlert(SERVICE, "k1"), now=at(10))
        .then(
            AlertResolved(INCIDENT, "k1", at(10)),
            IncidentResolved(INCIDENT, "integration", "alerts_resolved", at(10)),
        )
    )


def test_a_key_of_a_resolved_incident_opens_a_new_incident() -> None:
    resolved = IncidentResolved(INCIDENT, "monitor", "healthy", at(30))

    (
        given(created(), *page_level_1(dedup_key="k1"), resolved)
        .when(ReceiveAlert(SERVICE, "inc-2", "disk full", "k1"), now=at(40))
        .then(
            opened(incident_id="inc-2", dedup_key="k1", now=at(40)),
            notified(1, now=at(40), incident_id="inc-2"),
        )
    )


# Alert messages.


@pytest.mark.parametrize(
    "message",
    [
        pytest.param("", id="empty"),
        pytest.param(" \t\n ", id="blank"),
        pytest.param("x" * (MAX_MESSAGE_LENGTH + 1), id="too-long"),
    ],
)
@pytest.mark.parametrize("open_incident", [False, True], ids=["opening", "attaching"])
def test_an_alert_message_must_have_1_to_4096_characters(message: str, open_incident: bool) -> None:
    history = (created(), *page_level_1()) if open_incident else (created(),)

    error = (
        given(*history)
        .when(ReceiveAlert(SERVICE, "inc-2", message), now=at(1))
        .raises(ValidationFailed)
    )

    assert [where for where, _ in error.problems] == ["message"]


def test_an_alert_message_of_exactly_4096_characters_is_accepted() -> None:
    message = "x" * MAX_MESSAGE_LENGTH

    given(created()).when(ReceiveAlert(SERVICE, INCIDENT, message)).then(
        opened(message), notified(1)
    )


def test_an_alert_message_is_stored_without_surrounding_whitespace() -> None:
    padded = "  disk full \n"

    given(created()).when(ReceiveAlert(SERVICE, INCIDENT, padded)).then(opened(), notified(1))
    given(created(), *page_level_1()).when(ReceiveAlert(SERVICE, "i2", padded), now=at(1)).then(
        AlertAttached(INCIDENT, "disk full", None, None, "api", at(1))
    )


# Un-acknowledging: triggered again, escalating on from the current level.

UNACK = Unacknowledge(SERVICE, INCIDENT, by="alice")


def test_unacknowledging_triggers_again_and_runs_the_current_levels_timer_from_now() -> None:
    after = (
        given(created(), *page_level_1(), acked(now=at(30)))
        .when(UNACK, now=at(50))
        .then(Unacknowledged(INCIDENT, "alice", 1, 1, 60, at(110), at(50)))
    )

    assert after.state.incident == OpenIncident(
        INCIDENT, "triggered", "disk full", alert_count=1, opened_at=T0, level=1, round=1
    )
    # Level 1 is not paged again; its timeout escalates to level 2, as if never acknowledged.
    after.when(TIMEOUT_1, now=at(110)).then(notified(2, now=at(110)))


def test_unacknowledging_at_a_later_level_resumes_from_that_level() -> None:
    (
        given(created(), opened(), *paged_to_level_2(), acked(now=at(70)))
        .when(UNACK, policy=REPEAT_ONCE, now=at(100))
        .then(Unacknowledged(INCIDENT, "alice", 2, 1, 120, at(220), at(100)))
        .when(TIMEOUT_2, policy=REPEAT_ONCE, now=at(220))
        .then(notified(1, 2, now=at(220), policy=REPEAT_ONCE))
    )


def test_an_incident_unacknowledged_then_acknowledged_again_pages_nobody() -> None:
    (
        given(created(), *page_level_1(), acked(now=at(10)))
        .when(UNACK, now=at(20))
        .then(Unacknowledged(INCIDENT, "alice", 1, 1, 60, at(80), at(20)))
        .when(Acknowledge(SERVICE, INCIDENT, "bob"), now=at(30))
        .then(Acknowledged(INCIDENT, "bob", at(30)))
        .when(TIMEOUT_1, now=at(80))
        .then()
    )


def test_unacknowledging_a_triggered_incident_is_a_no_op() -> None:
    given(created(), *page_level_1()).when(UNACK, now=at(10)).then()


@pytest.mark.parametrize(
    "history",
    [
        pytest.param((created(),), id="no-incident"),
        pytest.param(
            (created(), *page_level_1(), IncidentResolved(INCIDENT, "bob", "resolved", at(5))),
            id="resolved",
        ),
        pytest.param(
            (created(), opened(incident_id="inc-2"), notified(1, incident_id="inc-2")),
            id="another-incident-open",
        ),
    ],
)
def test_unacknowledging_an_incident_that_is_not_open_raises_incident_already_resolved(
    history: tuple[ServiceEvent, ...],
) -> None:
    error = given(*history).when(UNACK, now=at(10)).raises(IncidentAlreadyResolved)

    assert (error.incident_id, error.code) == (INCIDENT, "conflict")


def test_unacknowledging_an_exhausted_incident_sets_no_timer() -> None:
    after = (
        given(
            created(),
            opened(),
            *paged_to_level_2(),
            EscalationExhausted(INCIDENT, 2, 1, at(180)),
            acked(now=at(200)),
        )
        .when(UNACK, policy=None, now=at(210))
        .then(Unacknowledged(INCIDENT, "alice", 2, 1, None, None, at(210)))
    )

    assert after.state.incident is not None
    assert (after.state.incident.status, after.state.incident.exhausted) == ("triggered", True)
    after.when(TIMEOUT_2, now=at(400)).then()


def test_unacknowledging_below_a_shrunk_policy_times_out_as_its_last_level() -> None:
    shrunk = EscalationPolicy("ops", "Ops", (Level((CAROL,), 10),))

    (
        given(created(), opened(), *paged_to_level_2(), acked(now=at(70)))
        .when(UNACK, policy=shrunk, now=at(100))
        .then(Unacknowledged(INCIDENT, "alice", 2, 1, 10, at(110), at(100)))
        .when(TIMEOUT_2, policy=shrunk, now=at(110))
        .then(EscalationExhausted(INCIDENT, 2, 1, at(110)))
    )


@pytest.mark.parametrize(
    "policy",
    [
        pytest.param(None, id="no-policy"),
        pytest.param(replace(POLICY, id="other"), id="another-policy"),
    ],
)
def test_unacknowledging_without_the_services_policy_raises_policy_not_found(
    policy: EscalationPolicy | None,
) -> None:
    given(created(), *page_level_1(), acked()).when(UNACK, policy=policy).raises(PolicyNotFound)


# Escalating by hand: the next level now (a key press on a call, a Slack button).

ESCALATE = Escalate(SERVICE, INCIDENT, by="alice")


def test_escalating_pages_the_next_level_now_and_leaves_the_old_timer_stale() -> None:
    after = (
        given(created(), *page_level_1())
        .when(ESCALATE, now=at(20))
        .then(Escalated(INCIDENT, "alice", 1, 1, at(20)), notified(2, now=at(20)))
    )

    assert after.state.incident is not None
    assert (after.state.incident.level, after.state.incident.status) == (2, "triggered")
    after.when(TIMEOUT_1, now=at(60)).then()  # level 1's timer was overtaken


def test_escalating_an_acknowledged_incident_triggers_it_again() -> None:
    after = (
        given(created(), *page_level_1(), acked(now=at(10)))
        .when(ESCALATE, now=at(20))
        .then(Escalated(INCIDENT, "alice", 1, 1, at(20)), notified(2, now=at(20)))
    )

    assert after.state.incident is not None
    assert after.state.incident.status == "triggered"
    assert after.state.incident.acknowledged_by is None


def test_escalating_from_the_last_level_starts_the_next_round_while_repeat_allows() -> None:
    (
        given(created(), opened(), *paged_to_level_2())
        .when(ESCALATE, policy=REPEAT_ONCE, now=at(100))
        .then(
            Escalated(INCIDENT, "alice", 2, 1, at(100)),
            notified(1, 2, now=at(100), policy=REPEAT_ONCE),
        )
    )


@pytest.mark.parametrize(
    "history",
    [
        pytest.param((created(), opened(), *paged_to_level_2()), id="last-level"),
        pytest.param(
            (created(), opened(), *paged_to_level_2(), EscalationExhausted(INCIDENT, 2, 1, at(9))),
            id="exhausted",
        ),
    ],
)
def test_escalating_past_the_last_level_raises_nothing_to_escalate_to(
    history: tuple[ServiceEvent, ...],
) -> None:
    error = given(*history).when(ESCALATE, now=at(100)).raises(NothingToEscalateTo)

    assert (error.incident_id, error.code) == (INCIDENT, "conflict")


@pytest.mark.parametrize(
    "history",
    [
        pytest.param((created(),), id="no-incident"),
        pytest.param(
            (created(), *page_level_1(), IncidentResolved(INCIDENT, "bob", "resolved", at(5))),
            id="resolved",
        ),
    ],
)
def test_escalating_an_incident_that_is_not_open_raises_incident_already_resolved(
    history: tuple[ServiceEvent, ...],
) -> None:
    given(*history).when(ESCALATE, now=at(10)).raises(IncidentAlreadyResolved)


def test_escalating_without_the_services_policy_raises_policy_not_found() -> None:
    given(created(), *page_level_1()).when(ESCALATE, policy=None).raises(PolicyNotFound)


# Notes and change events: words for the timeline, which page nobody.


@pytest.mark.parametrize(
    "history",
    [
        pytest.param((created(), *page_level_1()), id="open"),
        pytest.param((created(), *page_level_1(), acked(now=at(1))), id="acknowledged"),
        pytest.param(
            (created(), *page_level_1(), IncidentResolved(INCIDENT, "bob", "resolved", at(5))),
            id="resolved",
        ),
    ],
)
def test_a_note_is_recorded_on_the_incident_and_changes_nothing_else(
    history: tuple[ServiceEvent, ...],
) -> None:
    before = given(*history).state

    after = (
        given(*history)
        .when(AddNote(SERVICE, INCIDENT, "  rolled back 4.2.1\n", "alice"), now=at(10))
        .then(NoteAdded(INCIDENT, "rolled back 4.2.1", "alice", at(10)))
    )

    assert after.state == before


@pytest.mark.parametrize(
    "text", ["", " \n ", "x" * (MAX_NOTE_LENGTH + 1)], ids=["empty", "blank", "too-long"]
)
def test_a_note_must_have_words(text: str) -> None:
    error = (
        given(created(), *page_level_1())
        .when(AddNote(SERVICE, INCIDENT, text, "alice"))
        .raises(ValidationFailed)
    )

    assert error.problems == (("text", f"must be between 1 and {MAX_NOTE_LENGTH} characters"),)


CHANGE = ReportChange(
    SERVICE,
    " Deployed checkout 4.2.1 ",
    source="ci",
    timestamp="2024-05-01T11:59:00.000+0000",
    links=(ChangeLink("https://ci.example.com/builds/7", "Build 7"),),
    details=(("build", "7"),),
    by="pagerduty",
)


@pytest.mark.parametrize(
    "history",
    [
        pytest.param((created(),), id="healthy"),
        pytest.param((created(), *page_level_1()), id="unhealthy"),
    ],
)
def test_a_change_is_recorded_on_the_service_and_pages_nobody(
    history: tuple[ServiceEvent, ...],
) -> None:
    before = given(*history).state

    after = (
        given(*history)
        .when(CHANGE, policy=None, now=at(10))
        .then(
            ChangeReported(
                SERVICE,
                "Deployed checkout 4.2.1",
                "ci",
                "2024-05-01T11:59:00.000+0000",
                (ChangeLink("https://ci.example.com/builds/7", "Build 7"),),
                (("build", "7"),),
                "pagerduty",
                at(10),
            )
        )
    )

    assert after.state == before


@pytest.mark.parametrize(
    "summary", ["", "   ", "x" * (MAX_SUMMARY_LENGTH + 1)], ids=["empty", "blank", "too-long"]
)
def test_a_change_must_say_what_changed(summary: str) -> None:
    error = given(created()).when(replace(CHANGE, summary=summary)).raises(ValidationFailed)

    assert error.problems == (
        ("summary", f"must be between 1 and {MAX_SUMMARY_LENGTH} characters"),
    )


# Defining and deleting services.


def test_defining_a_new_service_creates_it_healthy() -> None:
    after = (
        given()
        .when(DefineService(SERVICE, "Checkout", "ops"), now=T0)
        .then(ServiceCreated(SERVICE, "Checkout", "ops", T0))
    )

    state = after.state
    assert (state.exists, state.name, state.policy_id, state.healthy) == (
        True,
        "Checkout",
        "ops",
        True,
    )


@pytest.mark.parametrize(
    ("name", "policy"),
    [
        pytest.param("Checkout API", POLICY, id="new-name"),
        pytest.param("Checkout", replace(POLICY, id="night"), id="new-policy"),
    ],
)
def test_redefining_a_service_updates_it(name: str, policy: EscalationPolicy) -> None:
    after = (
        given(created())
        .when(DefineService(SERVICE, name, policy.id), policy=policy, now=at(5))
        .then(ServiceUpdated(SERVICE, name, policy.id, at(5)))
    )

    assert (after.state.name, after.state.policy_id) == (name, policy.id)


def test_redefining_a_service_as_it_is_is_a_no_op() -> None:
    given(created()).when(DefineService(SERVICE, "Checkout", "ops"), now=at(5)).then()


def test_redefining_a_service_keeps_its_open_incident() -> None:
    after = (
        given(created(), *page_level_1())
        .when(DefineService(SERVICE, "Checkout API", "ops"), now=at(5))
        .then(ServiceUpdated(SERVICE, "Checkout API", "ops", at(5)))
    )

    assert after.state.incident is not None
    assert after.state.incident.id == INCIDENT


@pytest.mark.parametrize(
    "policy",
    [
        pytest.param(None, id="no-such-policy"),
        pytest.param(replace(POLICY, id="other"), id="another-policy"),
    ],
)
@pytest.mark.parametrize("exists", [False, True], ids=["create", "update"])
def test_defining_a_service_on_an_unknown_policy_raises_policy_not_found(
    policy: EscalationPolicy | None, exists: bool
) -> None:
    history = (created(),) if exists else ()

    error = (
        given(*history)
        .when(DefineService(SERVICE, "Checkout", "missing"), policy=policy)
        .raises(PolicyNotFound)
    )

    assert error.policy_id == "missing"


@pytest.mark.parametrize(
    ("service_id", "name", "places"),
    [
        pytest.param("Checkout", "Checkout", ["id"], id="upper-case-id"),
        pytest.param("-checkout", "Checkout", ["id"], id="id-starts-with-dash"),
        pytest.param("check_out", "Checkout", ["id"], id="underscore"),
        pytest.param("", "Checkout", ["id"], id="empty-id"),
        pytest.param("c" * 64, "Checkout", ["id"], id="id-too-long"),
        pytest.param("checkout", " ", ["name"], id="blank-name"),
        pytest.param("Check Out", "", ["id", "name"], id="both"),
    ],
)
def test_defining_a_service_with_an_invalid_id_or_name_is_refused(
    service_id: str, name: str, places: list[str]
) -> None:
    error = (
        given(service_id=service_id)
        .when(DefineService(service_id, name, "ops"))
        .raises(ValidationFailed)
    )

    assert [where for where, _ in error.problems] == places


def test_deleting_a_healthy_service_deletes_it() -> None:
    after = (
        given(created())
        .when(DeleteService(SERVICE), now=at(5))
        .then(ServiceDeleted(SERVICE, at(5)))
    )

    assert after.state == given().state  # as if it had never been defined


def test_deleting_a_service_with_an_open_incident_resolves_the_incident_first() -> None:
    after = (
        given(created(), *page_level_1())
        .when(DeleteService(SERVICE), now=at(5))
        .then(
            IncidentResolved(INCIDENT, "system", "service_deleted", at(5)),
            ServiceDeleted(SERVICE, at(5)),
        )
    )

    assert not after.state.exists
    assert after.state.incident is None


def test_a_deleted_service_can_be_defined_again_from_scratch() -> None:
    after = (
        given(created(), *page_level_1())
        .when(DeleteService(SERVICE), now=at(5))
        .then(
            IncidentResolved(INCIDENT, "system", "service_deleted", at(5)),
            ServiceDeleted(SERVICE, at(5)),
        )
        .when(DefineService(SERVICE, "Checkout", "ops"), now=at(6))
        .then(ServiceCreated(SERVICE, "Checkout", "ops", at(6)))
    )

    assert after.state.exists
    assert after.state.healthy


EVERY_SERVICE_COMMAND = [
    pytest.param(DeleteService(SERVICE), id="delete"),
    pytest.param(ALERT, id="alert"),
    pytest.param(Acknowledge(SERVICE, INCIDENT, "alice"), id="acknowledge"),
    pytest.param(TIMEOUT_1, id="ack-timeout"),
    pytest.param(MarkHealthy(SERVICE), id="healthy"),
    pytest.param(Resolve(SERVICE, INCIDENT, "alice"), id="resolve"),
    pytest.param(ResolveAlert(SERVICE, "k1"), id="resolve-alert"),
    pytest.param(UNACK, id="unacknowledge"),
    pytest.param(AddNote(SERVICE, INCIDENT, "note", "alice"), id="note"),
    pytest.param(CHANGE, id="change"),
]


@pytest.mark.parametrize("command", EVERY_SERVICE_COMMAND)
@pytest.mark.parametrize(
    "history",
    [
        pytest.param((), id="never-defined"),
        pytest.param((created(), ServiceDeleted(SERVICE, at(1))), id="deleted"),
    ],
)
def test_a_command_for_a_service_that_does_not_exist_raises_service_not_found(
    command: ServiceCommand, history: tuple[ServiceCreated | ServiceDeleted, ...]
) -> None:
    error = given(*history).when(command, now=at(2)).raises(ServiceNotFound)

    assert error.service_id == SERVICE
    assert error.code == "not_found"


# The escalation policy's own stream.

NEW = PolicyState("ops")
EXISTING = evolve_policy(NEW, PolicyCreated(POLICY, T0))


def test_defining_a_new_policy_creates_it() -> None:
    events = decide_policy(NEW, DefinePolicy(POLICY), at(1))

    assert events == (PolicyCreated(POLICY, at(1)),)
    assert evolve_policy(NEW, events[0]) == PolicyState("ops", POLICY)


@pytest.mark.parametrize(
    "changed",
    [
        pytest.param(replace(POLICY, name="Operations"), id="name"),
        pytest.param(replace(POLICY, repeat=2), id="repeat"),
        pytest.param(replace(POLICY, levels=(Level((CAROL,), 5),)), id="levels"),
        pytest.param(
            replace(POLICY, levels=(Level((ALICE,), 61), POLICY.level(2))), id="ack-timeout"
        ),
    ],
)
def test_redefining_a_policy_with_a_change_records_the_new_policy(
    changed: EscalationPolicy,
) -> None:
    events = decide_policy(EXISTING, DefinePolicy(changed), at(1))

    assert events == (PolicyChanged(changed, at(1)),)
    assert evolve_policy(EXISTING, events[0]).policy == changed


def test_redefining_a_policy_as_it_is_is_a_no_op() -> None:
    same = EscalationPolicy("ops", "Ops", (Level((ALICE,), 60), Level((BOB, OPS_HOOK), 120)))

    assert decide_policy(EXISTING, DefinePolicy(same), at(1)) == ()


def test_defining_an_invalid_policy_is_refused() -> None:
    invalid = replace(POLICY, levels=(Level((EmailTarget("nobody"),)),))

    with pytest.raises(ValidationFailed) as caught:
        decide_policy(EXISTING, DefinePolicy(invalid), at(1))

    assert [where for where, _ in caught.value.problems] == ["level 1 target 1"]


def test_a_policy_pages_a_private_address_only_when_allowed() -> None:
    private = replace(POLICY, levels=(Level((WebhookTarget("http://10.0.0.5/hook"),)),))

    with pytest.raises(ValidationFailed) as caught:
        decide_policy(EXISTING, DefinePolicy(private), at(1))

    assert [where for where, _ in caught.value.problems] == ["level 1 target 1"]
    allowed = decide_policy(EXISTING, DefinePolicy(private), at(1), allow_private=True)
    assert allowed == (PolicyChanged(private, at(1)),)


def test_deleting_an_unused_policy_deletes_it() -> None:
    events = decide_policy(EXISTING, DeletePolicy("ops"), at(1))

    assert events == (PolicyDeleted("ops", at(1)),)
    assert evolve_policy(EXISTING, events[0]) == NEW


def test_deleting_a_policy_in_use_raises_policy_in_use_naming_the_services() -> None:
    with pytest.raises(PolicyInUse) as caught:
        decide_policy(EXISTING, DeletePolicy("ops", used_by=("checkout", "search")), at(1))

    assert caught.value.services == ("checkout", "search")
    assert caught.value.code == "conflict"
    assert "checkout, search" in caught.value.message


@pytest.mark.parametrize(
    "state",
    [
        pytest.param(NEW, id="never-defined"),
        pytest.param(evolve_policy(EXISTING, PolicyDeleted("ops", at(1))), id="deleted"),
    ],
)
def test_deleting_an_unknown_policy_raises_policy_not_found(state: PolicyState) -> None:
    with pytest.raises(PolicyNotFound) as caught:
        decide_policy(state, DeletePolicy("ops"), at(2))

    assert caught.value.policy_id == "ops"


def test_a_deleted_policy_can_be_defined_again() -> None:
    deleted = evolve_policy(EXISTING, PolicyDeleted("ops", at(1)))

    assert decide_policy(deleted, DefinePolicy(POLICY), at(2)) == (PolicyCreated(POLICY, at(2)),)


def test_time_is_what_the_caller_says() -> None:
    # decide never reads a clock: the same command at another `now` records that `now`.
    later = datetime(2031, 1, 1, tzinfo=UTC)

    given(created()).when(ALERT, now=later).then(
        IncidentOpened(INCIDENT, SERVICE, "disk full", None, None, "api", later),
        notified(1, now=later),
    )
