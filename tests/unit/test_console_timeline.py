"""The incident page's timeline folds the delivery attempts of one page into one line; times
are shown in the viewer's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pager.application.queries import (
    IncidentDetail,
    IncidentView,
    NotificationView,
    TimelineEntry,
)
from pager.entrypoints.console import display
from pager.entrypoints.console.timeline import story

T0 = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)
INCIDENT = IncidentView("inc-1", "db", "triggered", "disk full", 1, 1, 1, ("k",), T0,
                        None, None, None, None)  # fmt: skip
HOOK = NotificationView("n-hook", "webhook", {"type": "webhook", "url": "https://h.example/x"},
                        1, 1, "failed", 3, "boom 3", T0, None)  # fmt: skip


def attempt(n: int, outcome: str, error: str | None = None, page: str = "n-hook") -> TimelineEntry:
    data = {"notification_id": page, "channel": "webhook", "attempt": n, "outcome": outcome,
            "error": error}  # fmt: skip
    return TimelineEntry(T0 + timedelta(seconds=n), "NotificationAttempted", data)


def detail(*attempts: TimelineEntry) -> IncidentDetail:
    opened = TimelineEntry(T0, "IncidentOpened", {"source": "api", "message": "disk full"})
    return IncidentDetail(INCIDENT, (opened, *attempts), (HOOK,))


@pytest.mark.parametrize(
    ("last", "kind", "text"),
    [
        (attempt(3, "sent"), "ok", "Webhook h.example: 3 attempts, sent on the last"),
        (attempt(3, "retry", "boom 3"), "warn", "Webhook h.example: 3 attempts so far, retrying"),
        (attempt(3, "failed", "boom 3"), "fail", "Webhook h.example: 3 attempts, failed for good"),
    ],
)
def test_the_attempts_of_one_page_are_one_line_saying_how_it_ended(
    last: TimelineEntry, kind: str, text: str
) -> None:
    first, opened = story(
        detail(attempt(1, "retry", "boom 1"), attempt(2, "retry", "boom 2"), last)
    )
    assert (first.line.kind, first.line.text, first.line.at) == (kind, text, last.at)
    assert first.line.detail == f"Last error: {last.data['error'] or 'boom 2'}"
    assert [line.text.split(" (")[1] for line in first.attempts] == [
        "attempt 3)" + (", retrying" if kind == "warn" else ""),
        "attempt 2), retrying",
        "attempt 1), retrying",
    ]
    assert opened.line.text == "Opened by an alert from api"
    assert opened.attempts == ()


def test_a_page_sent_at_once_stays_one_plain_line() -> None:
    entries = story(detail(attempt(1, "sent")))
    assert [(e.line.text, e.attempts) for e in entries] == [
        ("Webhook sent (attempt 1)", ()),
        ("Opened by an alert from api", ()),
    ]


def test_a_fold_stands_where_its_last_attempt_is_and_a_page_unknown_is_named_by_channel() -> None:
    other = [attempt(n, "retry", "x", page="n-gone") for n in (2, 4)]
    entries = story(detail(attempt(1, "retry", "a"), other[0], attempt(3, "sent"), other[1]))
    assert [e.line.text for e in entries] == [
        "Webhook: 2 attempts so far, retrying",
        "Webhook h.example: 2 attempts, sent on the last",
        "Opened by an alert from api",
    ]


def test_times_are_shown_in_the_viewers_time_zone_named() -> None:
    moment = datetime(2026, 7, 1, 12, 30, 5, tzinfo=UTC)
    assert display.when(moment) == "2026-07-01 12:30:05 UTC"
    assert display.when(moment, "Europe/Paris") == "2026-07-01 14:30:05 CEST"
    assert display.when(moment, "America/New_York", seconds=False) == "2026-07-01 08:30 EDT"
    assert display.when(moment, "Not/AZone") == "2026-07-01 12:30:05 UTC"
    assert display.when(None, "Europe/Paris") == ""


@pytest.mark.parametrize(
    ("data", "text"),
    [
        ({"cause": "alert", "severity": "critical", "by": "alertmanager"},
         "Raised to high urgency by a critical alert from alertmanager"),
        ({"cause": "alert", "severity": None, "by": "api"},
         "Raised to high urgency by an alert without severity from api"),
        ({"cause": "escalated", "severity": None, "by": "carol@example.com"},
         "Raised to high urgency: escalated by carol@example.com"),
    ],
)  # fmt: skip
def test_a_raised_urgency_says_what_raised_it(data: dict[str, object], text: str) -> None:
    line = display.timeline_line(TimelineEntry(T0, "UrgencyRaised", data))
    assert (line.kind, line.text) == ("warn", text)


def test_a_low_urgency_step_says_what_it_held_back_and_that_it_does_not_escalate() -> None:
    data = {
        "level": 1,
        "round": 1,
        "targets": [{"type": "email", "address": "a@example.com"}],
        "ack_timeout_seconds": 60,
        "timer_due_at": None,
        "pages": [],
        "urgency": "low",
        "held_back": [{"target": "sms +14155550100", "reason": "low urgency: no SMS"}],
    }
    line = display.timeline_line(TimelineEntry(T0, "LevelNotified", data))
    assert line.text == "Paged level 1 at low urgency: email a@example.com"
    assert line.detail == (
        "sms +14155550100 not paged: low urgency: no SMS. Low urgency: it does not escalate."
    )
    assert line.kind == "warn"  # it paged nobody
