"""The ports the application needs from the world: storage, time, ids, and channels."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Generic, Literal, NamedTuple, Protocol, Self, TypeVar

from pager.domain.content import NO_CONTENT, AlertContent
from pager.domain.events import PolicyEvent, ServiceEvent
from pager.domain.incident import ServiceState
from pager.domain.paging import Directory
from pager.domain.policy import Address, EscalationPolicy
from pager.domain.policy_stream import PolicyState
from pager.domain.severity import Urgency


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...


class ConcurrencyConflict(Exception):
    """Another transaction appended to the same stream first; the command is retried."""


S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class Loaded(Generic[S]):
    """A stream's current state and the version it was read at (0: no events yet)."""

    state: S
    version: int


class ServiceStreams(Protocol):
    def load(self, service_id: str) -> Loaded[ServiceState]:
        """The service's snapshot, locked for this unit of work where the database can."""
        ...

    def load_many(self, service_ids: Sequence[str]) -> dict[str, Loaded[ServiceState]]: ...

    def append(self, loaded: Loaded[ServiceState], events: Sequence[ServiceEvent]) -> None:
        """Append at `loaded.version`, and in the same transaction update the snapshot, the
        read models, the outbox and the timers. Raises ConcurrencyConflict."""
        ...

    def append_many(
        self,
        appends: Sequence[tuple[Loaded[ServiceState], Sequence[ServiceEvent]]],
        states: Sequence[Sequence[ServiceState]] | None = None,
    ) -> None:
        """`append` for several services in one go. `states`, if given, holds for each
        append the state after each of its events, as the caller has folded them already:
        they are not worked out again."""
        ...

    def service_of_incident(self, incident_id: str) -> str | None: ...


class PolicyStreams(Protocol):
    def load(self, policy_id: str) -> Loaded[PolicyState]: ...

    def append(self, loaded: Loaded[PolicyState], events: Sequence[PolicyEvent]) -> None: ...

    def current(self, policy_id: str) -> EscalationPolicy | None: ...

    def used_by(self, policy_id: str) -> tuple[str, ...]:
        """The services that name this policy now."""
        ...


class TimerKey(NamedTuple):
    """What makes a timer one: its kind, what it is for, and where a kind has them (ack
    timers) the level and round, else 0."""

    kind: str
    subject: str
    level: int = 0
    round: int = 0


class Timers(Protocol):
    def remove_many(self, timers: Sequence[TimerKey]) -> None:
        """Forget handled timers."""
        ...


class UnitOfWork(Protocol):
    @property
    def services(self) -> ServiceStreams: ...

    @property
    def policies(self) -> PolicyStreams: ...

    @property
    def timers(self) -> Timers: ...

    def directory(self, now: datetime, *, hold: bool = False) -> Directory:
        """The people and schedules levels name, as they are now (a schedule with the
        overrides that have not ended by `now`), read in this unit of work. `hold`: the
        people read cannot be removed until it ends (a policy that names them is
        committed before a removal looks for policies naming them, or sees them gone)."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back whatever was not committed."""
        ...

    def commit(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


@dataclass(frozen=True, slots=True)
class OutgoingNotification:
    """Everything a channel needs to send one notification; `id` is its idempotency key."""

    id: str
    incident_id: str
    service_id: str
    service_name: str
    message: str
    level: int
    round: int
    target: Address
    attempt: int
    opened_at: datetime
    alert_count: int = 1
    incident_url: str | None = None
    ack_url: str | None = None
    reply_code: str | None = None
    """What an SMS page asks to be replied with ("Reply 1 4821 ..."); None: no reply line."""
    severity: str | None = None
    content: AlertContent = NO_CONTENT
    """What the incident's first alert said (its labels, runbook, dashboard, ...)."""
    urgency: Urgency = "high"
    """The incident's urgency when the page is sent: a low one says so."""


class DeliveryFailed(Exception):
    """A send that did not go through. `transient` failures are retried; the rest are final."""

    def __init__(self, reason: str, *, transient: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.retry_after = retry_after


class Channel(Protocol):
    """Sends one notification to one target of the channel's type (email, sms, ...).

    A channel that only writes pages down (the log, standing in for a provider that is not
    configured) says so with a class attribute `delivers = False`: its pages are recorded
    as `logged`, never as `sent`."""

    async def send(self, notification: OutgoingNotification) -> str | None:
        """Send it; return the provider's id for it if there is one. Raise DeliveryFailed."""
        ...


@dataclass(frozen=True, slots=True)
class DirectMessage:
    """A message to one address outside any incident: a contact method's test page or its
    verification code. `id` is its idempotency key; `subject` is an email's subject and all
    that a log line may say of it (the text may hold a secret, such as a code)."""

    id: str
    target: Address
    subject: str
    text: str


class Messenger(Protocol):
    """A channel that can also send a `DirectMessage` (email and SMS). One that only writes
    messages down says so with `delivers = False`, as a `Channel` does."""

    async def send_message(self, message: DirectMessage) -> str | None:
        """Send it; return the provider's id for it if there is one. Raise DeliveryFailed."""
        ...


# -- delivery: what the dispatcher and the timers module need from storage


@dataclass(frozen=True, slots=True)
class ClaimedNotification:
    """A queued page, claimed by one dispatcher for a lease: nobody else sends it meanwhile."""

    id: str
    incident_id: str
    service_id: str
    service_name: str
    message: str
    alert_count: int
    opened_at: datetime
    level: int
    round: int
    target: Address
    attempts: int
    created_at: datetime
    severity: str | None = None
    content: AlertContent = NO_CONTENT
    """The incident's first alert's severity and content, which its pages carry."""
    urgency: Urgency = "high"


@dataclass(frozen=True, slots=True)
class Attempt:
    claimed: ClaimedNotification
    at: datetime
    outcome: Literal["sent", "logged", "retry", "failed"]
    error: str | None = None
    provider_id: str | None = None
    retry_at: datetime | None = None


class Outbox(Protocol):
    @property
    def lease(self) -> timedelta:
        """How long a claim lasts unless it is renewed."""
        ...

    def claim(
        self, now: datetime, limit: int = 100
    ) -> tuple[list[ClaimedNotification], datetime | None]:
        """Claim up to `limit` due pages for the lease. With none due: ([], when the earliest
        claimable one is due, or None)."""
        ...

    def renew(self, ids: Sequence[str], now: datetime) -> None:
        """Extend the claims on these pages in flight by a lease from `now`, in one
        statement; pages no longer claimed (recorded meanwhile) are left alone."""
        ...

    def record(self, attempts: Sequence[Attempt]) -> None:
        """Record attempts, in one transaction."""
        ...

    def release(self, claimed: list[ClaimedNotification]) -> None:
        """Give claims back (at shutdown), so that nobody waits out their lease."""
        ...


@dataclass(frozen=True, slots=True)
class DueTimer:
    id: int
    kind: str
    subject: str
    service_id: str
    level: int
    round: int
    due_at: datetime


class TimerQueue(Protocol):
    def claim_due(self, now: datetime, limit: int = 200) -> tuple[list[DueTimer], datetime | None]:
        """Claim up to `limit` due timers for the lease. With none due: ([], when the earliest
        one falls due, or None)."""
        ...

    def release(self, timers: list[DueTimer]) -> None: ...


# -- provider callbacks: a call's TwiML and status, an SMS reply (Twilio)


@dataclass(frozen=True, slots=True)
class PageSent:
    """A page as a provider's callback names it, with its incident as it is now."""

    id: str
    incident_id: str
    service_id: str
    service_name: str
    message: str
    level: int
    target: Address
    target_key: str
    """`Page.key`: `user:{email}:{method}` for a person's page, else the address's key."""
    status: str
    """The page's: queued, sent, logged, failed or cancelled."""
    incident_status: str
    acknowledged_by: str | None


class SentPages(Protocol):
    def page(self, notification_id: str) -> PageSent | None: ...

    def texted(self, phone: str, limit: int = 50) -> list[PageSent]:
        """The SMS pages sent (or logged) to `phone`, newest first."""
        ...

    def call_failed(
        self, notification_id: str, at: datetime, reason: str, provider_id: str | None
    ) -> bool:
        """A placed call that nobody answered (or that failed): the page is failed, with an
        attempt recorded for it. False, changing nothing, unless it is a sent voice page."""
        ...
