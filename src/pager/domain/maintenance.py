"""Maintenance windows: when a service's alerts page nobody.

A window is in force from its `start` until it ends: by its end timer, or early, by hand.
While one is in force and no incident is open, an alert is recorded on the service's
timeline and held (by its dedup key) instead of opening an incident; when the last window in
force ends, the alerts still held open the incident then, as if they had just come. An
incident already open when a window starts carries on: a window only keeps new incidents
from opening. An alert without a dedup key is recorded and not held: nothing can say later
whether it still fires, and holding it would page, at the end, for the very noise the window
was for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pager.domain.errors import ValidationFailed
from pager.domain.policy import ID_PATTERN, valid_id

MAX_WINDOWS = 20
"""Windows a service may have at once, in force or to come."""
MAX_LENGTH = timedelta(days=30)
MAX_LEAD = timedelta(days=366)
"""How far ahead a window may start."""
MAX_HELD_ALERTS = 200
"""Alerts held per service during maintenance: later ones are recorded, not held."""


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    id: str
    start: datetime
    end: datetime
    by: str = ""
    started: bool = False
    """Whether its beginning is on the timeline (scheduled to start at once, or its start
    timer fired)."""

    def in_force(self, now: datetime) -> bool:
        """Whether it has begun (it lasts until it is ended, by its timer or by hand)."""
        return self.start <= now


def in_maintenance(windows: tuple[MaintenanceWindow, ...], now: datetime) -> bool:
    return any(window.in_force(now) for window in windows)


def find(windows: tuple[MaintenanceWindow, ...], window_id: str) -> MaintenanceWindow | None:
    return next((window for window in windows if window.id == window_id), None)


def check_window(
    windows: tuple[MaintenanceWindow, ...], window: MaintenanceWindow, now: datetime
) -> None:
    """Raise ValidationFailed, naming each field, unless `window` may be added to `windows`.
    A start in the past is accepted (the window is in force at once): a configuration file
    applied again names the window that is running."""
    if window.start.tzinfo is None or window.end.tzinfo is None:
        field = "start" if window.start.tzinfo is None else "end"
        raise ValidationFailed(((field, "must be an instant with its UTC offset"),))
    problems: list[tuple[str, str]] = []
    if not valid_id(window.id):
        problems.append(("id", f"{window.id!r} must match {ID_PATTERN.pattern}"))
    if window.end <= window.start:
        problems.append(("end", "must be after start"))
    elif window.end <= now:
        problems.append(("end", "must be in the future"))
    elif window.end - window.start > MAX_LENGTH:
        problems.append(("end", f"a window lasts at most {MAX_LENGTH.days} days"))
    if window.start - now > MAX_LEAD:
        problems.append(("start", f"must be within {MAX_LEAD.days} days from now"))
    if find(windows, window.id) is not None:
        problems.append(("id", f"the service already has a window {window.id!r}"))
    elif len(windows) >= MAX_WINDOWS:
        problems.append(("start", f"a service has at most {MAX_WINDOWS} windows at once"))
    if problems:
        raise ValidationFailed(tuple(problems))
