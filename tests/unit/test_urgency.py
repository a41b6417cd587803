"""Severity and urgency (DESIGN.md §7): every sender's word maps onto four severities; a
service may page some of them at low urgency (level 1's email, chat and webhooks, no
escalation), and a later alert of another severity raises the incident to high urgency."""

from __future__ import annotations

import pytest

from pager.domain.commands import (
    Acknowledge,
    DefineService,
    Escalate,
    ReceiveAckTimeout,
    ReceiveAlert,
    Resolve,
    Unacknowledge,
)
from pager.domain.errors import NothingToEscalateTo, ValidationFailed
from pager.domain.events import (
    Acknowledged,
    AlertAttached,
    Escalated,
    IncidentOpened,
    IncidentResolved,
    LevelNotified,
    ServiceCreated,
    ServiceUpdated,
    Unacknowledged,
    UrgencyRaised,
)
from pager.domain.incident import ServiceState, decide, decide_all, fold
from pager.domain.paging import Page, Unreached
from pager.domain.people import ContactMethod, NotificationRule, Person
from pager.domain.policy import (
    Address,
    EscalationPolicy,
    Level,
    MattermostTarget,
    TeamsTarget,
    UserTarget,
    VoiceTarget,
)
from pager.domain.schedule import Schedule
from pager.domain.severity import SEVERITIES, Severity, Urgency, highest, severity_of
from tests.unit.scenario import (
    ALICE,
    BOB,
    CAROL,
    INCIDENT,
    OPS_HOOK,
    SERVICE,
    T0,
    TEAM_SLACK,
    at,
    given,
)

LOW: tuple[Severity, ...] = ("warning", "info")
CALL = VoiceTarget("+14155550111")
TEAMS = TeamsTarget("https://example.webhook.office.com/webhookb2/x")
MATTERMOST = MattermostTarget("https://chat.example.com/hooks/x")
# Level 1: Alice by email, Bob by SMS, a call, the team's chats and webhook; level 2: Carol.
EVERYONE: tuple[Address, ...] = (ALICE, BOB, CALL, TEAM_SLACK, TEAMS, MATTERMOST, OPS_HOOK)
URGENT = EscalationPolicy(
    "ops", "Ops", (Level(EVERYONE, ack_timeout_seconds=60), Level((CAROL,), 120))
)
HELD = (
    Unreached(BOB.label, "low urgency: sms is paged at high urgency only"),
    Unreached(CALL.label, "low urgency: voice is paged at high urgency only"),
)


def created(low: tuple[Severity, ...] = LOW) -> ServiceCreated:
    return ServiceCreated(SERVICE, "Checkout", URGENT.id, T0, low_urgency_severities=low)


def alert(severity: Severity | None, key: str | None = None) -> ReceiveAlert:
    return ReceiveAlert(SERVICE, INCIDENT, "disk 91% full", key, severity)


def opened(severity: Severity | None, urgency: Urgency = "low") -> IncidentOpened:
    return IncidentOpened(
        INCIDENT,
        SERVICE,
        "disk 91% full",
        None,
        severity,
        "api",
        T0,
        urgency=urgency,
    )


def pages(*targets: Address) -> tuple[Page, ...]:
    return tuple(Page(target, target.key) for target in targets)


def level_1(targets: tuple[Address, ...], *, now: float = 0, low: bool = False) -> LevelNotified:
    step = URGENT.level(1)
    return LevelNotified(
        INCIDENT,
        URGENT.id,
        1,
        1,
        step.targets,
        60,
        None if low else at(now + 60),
        at(now),
        pages(*targets),
        urgency="low" if low else "high",
        held_back=HELD if low else (),
    )


LOW_PAGES = (ALICE, TEAM_SLACK, TEAMS, MATTERMOST, OPS_HOOK)
LOW_OPENING = (opened("warning"), level_1(LOW_PAGES, low=True))


# -- severity


@pytest.mark.parametrize(
    ("word", "severity"),
    [
        ("critical", "critical"),
        ("CRIT", "critical"),
        ("fatal", "critical"),
        ("page", "critical"),
        ("emergency", "critical"),
        ("high", "critical"),
        ("P1", "critical"),
        ("error", "error"),
        ("err", "error"),
        ("major", "error"),
        ("P2", "error"),
        (" Warning ", "warning"),
        ("warn", "warning"),
        ("minor", "warning"),
        ("medium", "warning"),
        ("P3", "warning"),
        ("info", "info"),
        ("informational", "info"),
        ("low", "info"),
        ("none", "info"),
        ("ok", "info"),
        ("P4", "info"),
        ("P5", "info"),
        ("apocalyptic", None),
        ("", None),
        (None, None),
    ],
)
def test_every_senders_word_maps_onto_four_severities_or_none(
    word: str | None, severity: Severity | None
) -> None:
    assert severity_of(word) == severity


def test_the_highest_severity_wins_and_none_is_lowest() -> None:
    assert highest(None, "info") == "info"
    assert highest("warning", None) == "warning"
    assert highest("warning", "critical") == "critical"
    assert highest("error", "info") == "error"
    assert highest(None, None) is None


# -- the service's low-urgency severities


def test_a_service_keeps_its_low_urgency_severities_highest_first() -> None:
    command = DefineService(SERVICE, "Checkout", URGENT.id, ("info", "warning"))
    given().when(command, policy=URGENT).then(created(("warning", "info")))


def test_changing_only_the_low_urgency_severities_updates_the_service() -> None:
    later = given(created()).when(DefineService(SERVICE, "Checkout", URGENT.id), policy=URGENT)
    later.then(ServiceUpdated(SERVICE, "Checkout", URGENT.id, T0, low_urgency_severities=()))
    same = DefineService(SERVICE, "Checkout", URGENT.id, ("info", "warning"))
    given(created()).when(same, policy=URGENT).then()


@pytest.mark.parametrize("low", [("info", "info"), ("info", "P5")])
def test_a_severity_twice_or_an_unknown_one_is_refused_naming_the_field(
    low: tuple[Severity, ...],
) -> None:
    command = DefineService(SERVICE, "Checkout", URGENT.id, low)
    refused = given().when(command, policy=URGENT).raises(ValidationFailed)
    assert [where for where, _ in refused.problems] == ["low_urgency_severities"]


# -- opening at low urgency


def test_a_low_urgency_alert_pages_level_1_by_email_chat_and_webhook_only_and_sets_no_timer() -> (
    None
):
    given(created()).when(alert("warning"), policy=URGENT).then(*LOW_OPENING)
    state = given(created(), *LOW_OPENING).state
    assert state.incident is not None
    assert (state.incident.urgency, state.incident.severity, state.incident.level) == (
        "low",
        "warning",
        1,
    )


def test_an_alert_without_severity_is_high_urgency() -> None:
    given(created()).when(alert(None), policy=URGENT).then(
        opened(None, "high"),
        level_1(EVERYONE),
    )


def test_a_severity_the_service_does_not_list_is_high_urgency() -> None:
    given(created()).when(alert("error"), policy=URGENT).then(
        opened("error", "high"),
        level_1(EVERYONE),
    )


def test_a_service_with_no_low_urgency_severities_pages_every_alert_as_before() -> None:
    given(created(())).when(alert("info"), policy=URGENT).then(
        opened("info", "high"),
        level_1(EVERYONE),
    )


def test_a_low_urgency_incident_never_escalates_on_a_timer() -> None:
    timer = ReceiveAckTimeout(SERVICE, INCIDENT, 1, 1)
    given(created(), *LOW_OPENING).when(timer, policy=URGENT, now=at(3600)).then()


def test_a_level_1_of_phones_only_pages_nobody_at_low_urgency_and_goes_no_further() -> None:
    phones = EscalationPolicy("ops", "Ops", (Level((BOB,), 60), Level((CAROL,), 60)))
    held = (Unreached(BOB.label, "low urgency: sms is paged at high urgency only"),)
    step = LevelNotified(
        INCIDENT, "ops", 1, 1, (BOB,), 60, None, T0, (), urgency="low", held_back=held
    )
    given(created()).when(alert("info"), policy=phones).then(opened("info"), step)


def test_a_users_phone_methods_are_held_back_at_low_urgency_and_said_why() -> None:
    phone = ContactMethod("phone", "sms", "+14155550100")
    mail = ContactMethod("work", "email", "dana@example.com")
    dana = Person(
        "dana@example.com",
        contact_methods=(phone, mail),
        rules=(NotificationRule(0, "phone"), NotificationRule(0, "work")),
    )
    policy = EscalationPolicy("ops", "Ops", (Level((UserTarget("dana@example.com"),), 60),))
    state = fold(ServiceState(SERVICE), (created(),))
    events = decide(state, alert("warning"), policy, T0, _People(dana))
    step = events[1]
    assert isinstance(step, LevelNotified)
    assert [page.target for page in step.paged] == [mail.target]
    assert step.held_back == (
        Unreached(
            "user dana@example.com (sms phone, after 0 min)",
            "low urgency: sms is paged at high urgency only",
        ),
    )
    assert (step.timer_due_at, step.unreached) == (None, ())


# -- raising the urgency


def test_a_later_low_urgency_alert_only_attaches() -> None:
    attached = AlertAttached(INCIDENT, "disk 91% full", "k2", "info", "api", at(5))
    given(created(), *LOW_OPENING).when(alert("info", "k2"), policy=URGENT, now=at(5)).then(
        attached
    )


def test_a_later_critical_alert_raises_the_urgency_and_pages_level_1_fully_with_its_timer() -> None:
    attached = AlertAttached(INCIDENT, "disk 91% full", "k2", "critical", "api", at(5))
    raised = UrgencyRaised(INCIDENT, "alert", "critical", "api", at(5))
    then = (
        given(created(), *LOW_OPENING)
        .when(alert("critical", "k2"), policy=URGENT, now=at(5))
        .then(attached, raised, level_1((BOB, CALL), now=5))
    )
    incident = then.state.incident
    assert incident is not None
    assert (incident.urgency, incident.severity) == ("high", "critical")
    # ... and escalates as any high-urgency incident does.
    [step] = decide(then.state, ReceiveAckTimeout(SERVICE, INCIDENT, 1, 1), URGENT, at(65))
    assert isinstance(step, LevelNotified)
    assert (step.level, step.targets, step.urgency) == (2, (CAROL,), "high")


def test_an_alert_without_severity_raises_the_urgency_too() -> None:
    events = decide(given(created(), *LOW_OPENING).state, alert(None, "k2"), URGENT, at(5))
    assert [type(e) for e in events] == [AlertAttached, UrgencyRaised, LevelNotified]


def test_a_raise_while_acknowledged_pages_nobody_and_un_acknowledging_resumes_at_high() -> None:
    acked = given(created(), *LOW_OPENING, Acknowledged(INCIDENT, "alice", at(2)))
    attached = AlertAttached(INCIDENT, "disk 91% full", "k2", "critical", "api", at(5))
    raised = UrgencyRaised(INCIDENT, "alert", "critical", "api", at(5))
    then = acked.when(alert("critical", "k2"), policy=URGENT, now=at(5)).then(attached, raised)
    unacked = Unacknowledged(INCIDENT, "bob", 1, 1, 60, at(70), at(10))
    then.when(Unacknowledge(SERVICE, INCIDENT, "bob"), policy=URGENT, now=at(10)).then(unacked)


def test_un_acknowledging_a_low_urgency_incident_sets_no_timer() -> None:
    acked = given(created(), *LOW_OPENING, Acknowledged(INCIDENT, "alice", at(2)))
    unacked = Unacknowledged(INCIDENT, "bob", 1, 1, None, None, at(10))
    acked.when(Unacknowledge(SERVICE, INCIDENT, "bob"), policy=URGENT, now=at(10)).then(unacked)


def test_escalating_a_low_urgency_incident_raises_it_and_pages_the_next_level() -> None:
    raised = UrgencyRaised(INCIDENT, "escalated", None, "carol", at(5))
    escalated = Escalated(INCIDENT, "carol", 1, 1, at(5))
    step = LevelNotified(INCIDENT, "ops", 2, 1, (CAROL,), 120, at(125), at(5), pages(CAROL))
    given(created(), *LOW_OPENING).when(
        Escalate(SERVICE, INCIDENT, "carol"), policy=URGENT, now=at(5)
    ).then(raised, escalated, step)


def test_escalating_a_low_urgency_incident_with_nowhere_to_go_is_refused_and_stays_low() -> None:
    alone = EscalationPolicy("ops", "Ops", (URGENT.level(1),))
    command = Escalate(SERVICE, INCIDENT, "carol")
    given(created(), *LOW_OPENING).when(command, policy=alone).raises(NothingToEscalateTo)


def test_acknowledging_and_resolving_a_low_urgency_incident_work_as_ever() -> None:
    low = given(created(), *LOW_OPENING)
    low.when(Acknowledge(SERVICE, INCIDENT, "alice"), now=at(3)).then(
        Acknowledged(INCIDENT, "alice", at(3))
    )
    low.when(Resolve(SERVICE, INCIDENT, "alice"), now=at(3)).then(
        IncidentResolved(INCIDENT, "alice", "resolved", at(3))
    )


def test_a_run_of_alerts_raises_at_the_first_high_one_as_one_by_one_does() -> None:
    state = given(created(), *LOW_OPENING).state
    run = [alert("info", "a"), alert("critical", "b"), alert("warning", "c"), alert(None, "d")]
    decided = decide_all(state, run, {URGENT.id: URGENT}.get, at(5))
    types = [type(e).__name__ for e in decided.events]
    assert types == [
        "AlertAttached",
        "AlertAttached",
        "UrgencyRaised",
        "LevelNotified",
        "AlertAttached",
        "AlertAttached",
    ]
    assert decided.state == fold(state, decided.events)
    assert decided.state.incident is not None
    assert decided.state.incident.severity == "critical"
    assert decided.state.incident.alert_count == 5


def test_every_severity_is_known_to_the_table() -> None:
    assert [severity_of(s) for s in SEVERITIES] == list(SEVERITIES)


class _People:
    def __init__(self, *people: Person) -> None:
        self._people = {p.email: p for p in people}

    def person(self, email: str) -> Person | None:
        return self._people.get(email)

    def schedule(self, schedule_id: str) -> Schedule | None:
        return None
