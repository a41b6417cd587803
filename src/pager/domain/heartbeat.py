"""Heartbeats: a job that pings its service every `interval_seconds`; a ping that does not
come within the interval and `grace_seconds` is an outage too. A service's heartbeats are
part of its state, so that a missed deadline and the alert it raises are one decision (in
`incident.decide`); this module holds their values, bounds and the alert's words."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from pager.domain.errors import ValidationFailed
from pager.domain.policy import ID_PATTERN, valid_id

MIN_INTERVAL_SECONDS = 60  # Opsgenie's smallest interval is a minute
MAX_INTERVAL_SECONDS = 7 * 24 * 3600
MAX_GRACE_SECONDS = 24 * 3600
MAX_HEARTBEATS = 1000  # per service: the state is loaded with every command
SOURCE = "heartbeat"


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """One heartbeat of a service. `generation` names its current deadline (`due_at`, None
    once missed): a timer of another generation is stale."""

    id: str
    interval_seconds: int
    grace_seconds: int
    defined_at: datetime
    generation: int
    due_at: datetime | None
    last_ping_at: datetime | None = None

    @property
    def missed(self) -> bool:
        return self.due_at is None

    @property
    def state(self) -> str:
        if self.missed:
            return "missed"
        return "new" if self.last_ping_at is None else "ok"


def dedup_key(heartbeat_id: str) -> str:
    return f"heartbeat:{heartbeat_id}"


def validate(heartbeat_id: str, interval_seconds: int, grace_seconds: int) -> None:
    problems: list[tuple[str, str]] = []
    if not valid_id(heartbeat_id):
        problems.append(("id", f"{heartbeat_id!r} must match {ID_PATTERN.pattern}"))
    if not MIN_INTERVAL_SECONDS <= interval_seconds <= MAX_INTERVAL_SECONDS:
        problems.append(
            (
                "interval_seconds",
                f"must be between {MIN_INTERVAL_SECONDS} and {MAX_INTERVAL_SECONDS}",
            )
        )
    if not 0 <= grace_seconds <= MAX_GRACE_SECONDS:
        problems.append(("grace_seconds", f"must be between 0 and {MAX_GRACE_SECONDS}"))
    if problems:
        raise ValidationFailed(tuple(problems))


def next_generation(previous: int, now: datetime) -> int:
    """Past `previous` and at least the epoch second of `now`: distinct from the generations
    a heartbeat had before it was removed, moved or its service deleted (their timers may
    still fire)."""
    return max(previous + 1, int(now.timestamp()))


def deadline(interval_seconds: int, grace_seconds: int, since: datetime) -> datetime:
    return since + timedelta(seconds=interval_seconds + grace_seconds)


def find(beats: tuple[Heartbeat, ...], heartbeat_id: str) -> Heartbeat | None:
    return next((beat for beat in beats if beat.id == heartbeat_id), None)


def put(beats: tuple[Heartbeat, ...], beat: Heartbeat) -> tuple[Heartbeat, ...]:
    """`beats` with `beat` in place of the one of its id, kept in id order."""
    others = tuple(other for other in beats if other.id != beat.id)
    return tuple(sorted((*others, beat), key=lambda b: b.id))


def without(beats: tuple[Heartbeat, ...], heartbeat_id: str) -> tuple[Heartbeat, ...]:
    return tuple(beat for beat in beats if beat.id != heartbeat_id)


def pinged(beat: Heartbeat, generation: int, due_at: datetime, at: datetime) -> Heartbeat:
    return replace(beat, generation=generation, due_at=due_at, last_ping_at=at)


def missed_message(beat: Heartbeat) -> str:
    if beat.last_ping_at is None:
        seen = f"never pinged since it was defined at {_when(beat.defined_at)}"
    else:
        seen = f"last seen at {_when(beat.last_ping_at)}"
    expected = f"expected every {_duration(beat.interval_seconds)}"
    if beat.grace_seconds:
        expected += f" (+{_duration(beat.grace_seconds)} grace)"
    return f"Heartbeat {beat.id} missed: {seen}, {expected}"


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"
