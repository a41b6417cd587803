"""Given-events / when-command / then-events, on top of the domain's own `fold` and `decide`.

    given(created(), *page_level_1()).when(ReceiveAckTimeout(...), now=at(60)).then(...)

`then` checks the events exactly, folds them in, and returns a new `Given` so that a
scenario can go on with its next step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest

from pager.domain.commands import ServiceCommand
from pager.domain.errors import DomainError
from pager.domain.events import (
    Acknowledged,
    IncidentOpened,
    LevelNotified,
    ServiceCreated,
    ServiceEvent,
)
from pager.domain.incident import ServiceState, decide, fold
from pager.domain.paging import NO_ONE, Directory, Page
from pager.domain.policy import (
    Address,
    EmailTarget,
    EscalationPolicy,
    Level,
    SlackTarget,
    SmsTarget,
    WebhookTarget,
)

E = TypeVar("E", bound=DomainError)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SERVICE = "checkout"
INCIDENT = "inc-1"

ALICE = EmailTarget("alice@example.com")
BOB = SmsTarget("+14155550100")
OPS_HOOK = WebhookTarget("https://hooks.example.com/pager", secret="s3cret")
CAROL = EmailTarget("carol@example.com")
TEAM_SLACK = SlackTarget("https://hooks.slack.com/services/T000/B000/XXXX")

# Level 1 pages Alice with 60 s to answer; level 2 pages Bob and the ops webhook with 120 s.
POLICY = EscalationPolicy(
    "ops",
    "Ops",
    (Level((ALICE,), ack_timeout_seconds=60), Level((BOB, OPS_HOOK), ack_timeout_seconds=120)),
)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def created(service_id: str = SERVICE, policy_id: str = POLICY.id) -> ServiceCreated:
    return ServiceCreated(service_id, "Checkout", policy_id, T0)


def opened(
    message: str = "disk full",
    *,
    incident_id: str = INCIDENT,
    dedup_key: str | None = None,
    now: datetime = T0,
) -> IncidentOpened:
    return IncidentOpened(incident_id, SERVICE, message, dedup_key, None, "api", now)


def notified(
    level: int,
    round_: int = 1,
    *,
    now: datetime = T0,
    policy: EscalationPolicy = POLICY,
    incident_id: str = INCIDENT,
) -> LevelNotified:
    """The LevelNotified the rules must emit for `level` of `policy` at `now`."""
    step = policy.level(level)
    due = now + timedelta(seconds=step.ack_timeout_seconds)
    pages = tuple(Page(target, target.key) for target in step.targets)  # addresses only
    return LevelNotified(
        incident_id,
        policy.id,
        level,
        round_,
        step.targets,
        step.ack_timeout_seconds,
        due,
        now,
        pages,
    )


def stepped(
    incident_id: str,
    policy_id: str,
    level: int,
    round_: int,
    targets: tuple[Address, ...],
    timeout: int,
    due: datetime,
    now: datetime,
) -> LevelNotified:
    """A step whose level names addresses only: each paged at once."""
    pages = tuple(Page(target, target.key) for target in targets)
    return LevelNotified(incident_id, policy_id, level, round_, targets, timeout, due, now, pages)


def page_level_1(dedup_key: str | None = None) -> tuple[ServiceEvent, ...]:
    """The events of an alert that opened INCIDENT at T0 and paged level 1 of POLICY."""
    return (opened(dedup_key=dedup_key), notified(1))


def acked(by: str = "alice", now: datetime = T0) -> Acknowledged:
    return Acknowledged(INCIDENT, by, now)


@dataclass(frozen=True, slots=True)
class Given:
    events: tuple[ServiceEvent, ...]
    service_id: str = SERVICE

    @property
    def state(self) -> ServiceState:
        return fold(ServiceState(self.service_id), self.events)

    def when(
        self,
        command: ServiceCommand,
        *,
        policy: EscalationPolicy | None = POLICY,
        now: datetime = T0,
        directory: Directory = NO_ONE,
    ) -> When:
        return When(self, command, policy, now, directory)


@dataclass(frozen=True, slots=True)
class When:
    given: Given
    command: ServiceCommand
    policy: EscalationPolicy | None
    now: datetime
    directory: Directory = NO_ONE

    def then(self, *expected: ServiceEvent) -> Given:
        """Assert the command causes exactly `expected`; return the history that follows."""
        events = decide(self.given.state, self.command, self.policy, self.now, self.directory)
        assert events == expected
        return Given((*self.given.events, *events), self.given.service_id)

    def raises(self, error: type[E]) -> E:
        with pytest.raises(error) as caught:
            decide(self.given.state, self.command, self.policy, self.now, self.directory)
        return caught.value


def given(*events: ServiceEvent, service_id: str = SERVICE) -> Given:
    return Given(events, service_id)
