"""The incident page's story, newest first: each event in words, and the delivery attempts
of one page folded into one line that opens on the attempts, so that a webhook failing
again and again does not push the rest of the story off the screen."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pager.application.queries import IncidentDetail, NotificationView, TimelineEntry
from pager.entrypoints.console.display import Line, target, timeline_line

ATTEMPTED = "NotificationAttempted"


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the timeline; `attempts`, newest first, are what it folds, if anything,
    and `page` is then the notification they are of."""

    line: Line
    attempts: tuple[Line, ...] = ()
    page: str = ""


def story(detail: IncidentDetail) -> list[Entry]:
    """The timeline newest first, a page's attempts as one entry where its last one was."""
    by_page: dict[str, list[TimelineEntry]] = {}
    for entry in detail.timeline:
        if entry.type == ATTEMPTED:
            by_page.setdefault(str(entry.data.get("notification_id")), []).append(entry)
    pages = {notification.id: notification for notification in detail.notifications}
    lines: list[Entry] = []
    for entry in detail.timeline:
        if entry.type != ATTEMPTED:
            lines.append(Entry(timeline_line(entry)))
            continue
        attempts = by_page[str(entry.data.get("notification_id"))]
        if len(attempts) == 1:
            lines.append(Entry(timeline_line(entry)))
        elif entry is attempts[-1]:
            lines.append(_folded(attempts, pages))
    return lines[::-1]


def _folded(attempts: list[TimelineEntry], pages: Mapping[str, NotificationView]) -> Entry:
    last = attempts[-1].data
    page_id = str(last.get("notification_id"))
    page = pages.get(page_id)
    who = target(page.target) if page is not None else str(last.get("channel", "?"))
    who = who[:1].upper() + who[1:]
    count = f"{len(attempts)} attempts"
    match last.get("outcome"):
        case "sent":
            kind, text = "ok", f"{who}: {count}, sent on the last"
        case "retry":
            kind, text = "warn", f"{who}: {count} so far, retrying"
        case _:
            kind, text = "fail", f"{who}: {count}, failed for good"
    error = _last_error(attempts)
    return Entry(
        Line(attempts[-1].at, kind, text, f"Last error: {error}" if error else ""),
        tuple(timeline_line(attempt) for attempt in reversed(attempts)),
        page_id,
    )


def _last_error(attempts: Iterable[TimelineEntry]) -> str:
    errors = [str(a.data["error"]) for a in attempts if a.data.get("error")]
    return errors[-1] if errors else ""
