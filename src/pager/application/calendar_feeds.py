"""Calendar feeds: secret addresses that calendar programs poll for on-call shifts. A user's
feed has their own shifts on every schedule, a schedule's feed everyone's on it; both from a
week ago to eight weeks ahead. The token is shown once, when the feed is made: only its
sha256 is kept, so a lost address is revoked and made anew, never shown again. An unknown
token and a revoked one look alike."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from pager.application.accounts import UserNotFound, normalize_email, secret_hash
from pager.application.ports import Clock
from pager.application.schedules import ScheduleNotFound, ScheduleStore
from pager.domain.errors import NotFound
from pager.domain.schedule import Schedule, shifts
from pager.ids import new_id

AHEAD = timedelta(weeks=8)
"""How far ahead a feed reaches."""
BEHIND = timedelta(days=7)
"""How far back, from the start of that day (UTC): last week's shifts stay in the calendar,
and the first one's start moves once a day at most."""
TOKEN_BYTES = 32

Kind = Literal["user", "schedule"]


class FeedNotFound(NotFound):
    def __init__(self, feed_id: str) -> None:
        super().__init__(f"there is no calendar feed {feed_id!r} here")


@dataclass(frozen=True, slots=True)
class Owner:
    """Whose feed: a user (`subject` is their email) or a schedule (its id)."""

    kind: Kind
    subject: str


@dataclass(frozen=True, slots=True)
class Feed:
    id: str
    owner: Owner
    created_at: datetime
    created_by: str


@dataclass(frozen=True, slots=True)
class NewFeed:
    feed: Feed
    token: str
    """The secret, this once."""


@dataclass(frozen=True, slots=True)
class Event:
    """One shift as a calendar shows it."""

    uid: str
    schedule_id: str
    schedule_name: str
    user: str
    start: datetime
    end: datetime
    override: bool


@dataclass(frozen=True, slots=True)
class Calendar:
    kind: Kind
    name: str
    generated_at: datetime
    events: tuple[Event, ...]


class CalendarFeedStore(Protocol):
    def add(self, feed: Feed, token_hash: str) -> bool:
        """Store it; False if its owner (user or schedule) does not exist."""
        ...

    def feeds(self, owner: Owner) -> list[Feed]:
        """The owner's feeds, oldest first."""
        ...

    def delete(self, owner: Owner, feed_id: str) -> bool: ...

    def by_token_hash(self, token_hash: str) -> Feed | None: ...


class CalendarFeeds:
    def __init__(
        self,
        store: CalendarFeedStore,
        schedules: ScheduleStore,
        clock: Clock,
        ids: Callable[[], str] = new_id,
    ) -> None:
        self._store = store
        self._schedules = schedules
        self._clock = clock
        self._ids = ids

    def create(self, owner: Owner, by: str) -> NewFeed:
        """A new feed; raises NotFound if the owner does not exist."""
        owner = _normal(owner)
        token = secrets.token_urlsafe(TOKEN_BYTES)
        feed = Feed(self._ids(), owner, self._clock.now(), by)
        if not self._store.add(feed, secret_hash(token)):
            raise _missing(owner)
        return NewFeed(feed, token)

    def feeds(self, owner: Owner) -> list[Feed]:
        return self._store.feeds(_normal(owner))

    def revoke(self, owner: Owner, feed_id: str) -> None:
        """The feed's address stops working at once."""
        if not self._store.delete(_normal(owner), feed_id):
            raise FeedNotFound(feed_id)

    def calendar(self, token: str) -> Calendar | None:
        """The shifts the feed whose token this is shows; None for an unknown token."""
        feed = self._store.by_token_hash(secret_hash(token))
        if feed is None:
            return None
        now = self._clock.now()
        start = datetime.combine((now - BEHIND).astimezone(UTC).date(), datetime.min.time(), UTC)
        end = now + AHEAD
        owner = feed.owner
        if owner.kind == "schedule":
            schedule = self._schedules.schedule(owner.subject, start)
            if schedule is None:  # deleted since the lookup
                return None
            events = _events(schedule, start, end, "schedule", None)
            return Calendar(
                "schedule", f"On call: {schedule.name or schedule.id}", now, tuple(events)
            )
        found = [
            event
            for schedule in self._schedules.schedules(start)
            if _names(schedule, owner.subject)
            for event in _events(schedule, start, end, "user", owner.subject)
        ]
        found.sort(key=lambda event: (event.start, event.schedule_id))
        return Calendar("user", f"On call: {owner.subject}", now, tuple(found))


def _events(
    schedule: Schedule, start: datetime, end: datetime, kind: Kind, user: str | None
) -> list[Event]:
    return [
        Event(
            _uid(kind, schedule.id, shift.user, shift.start),
            schedule.id,
            schedule.name or schedule.id,
            shift.user,
            shift.start,
            shift.end,
            shift.override,
        )
        for shift in shifts(schedule, start, end)
        if user is None or shift.user == user
    ]


def _names(schedule: Schedule, user: str) -> bool:
    """Whether the user is in one of the schedule's layers or overrides: only then can a
    shift of it be theirs (the others' shifts are not worked out)."""
    return any(user in layer.users for layer in schedule.layers) or any(
        override.user == user for override in schedule.overrides
    )


def _uid(kind: Kind, schedule_id: str, user: str, start: datetime) -> str:
    """The same shift has the same UID on every fetch, so calendars update it in place."""
    key = f"{kind}\n{schedule_id}\n{user}\n{start.isoformat()}".encode()
    return f"{hashlib.sha256(key).hexdigest()[:32]}@pager"


def _normal(owner: Owner) -> Owner:
    if owner.kind == "user":
        return Owner("user", normalize_email(owner.subject))
    return owner


def _missing(owner: Owner) -> NotFound:
    if owner.kind == "schedule":
        return ScheduleNotFound(owner.subject)
    return UserNotFound(owner.subject)
