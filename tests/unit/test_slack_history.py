"""The history a Slack app page's message keeps: who did what, and from where an escalation
went (its round too, once the policy has repeated)."""

from __future__ import annotations

from datetime import UTC, datetime

from pager.adapters.notify.slack_app import incident_message
from pager.application.queries import IncidentDetail, IncidentView, TimelineEntry

OPENED = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def _detail(*timeline: TimelineEntry) -> IncidentDetail:
    incident = IncidentView(
        id="inc-1",
        service="checkout",
        status="triggered",
        message="p99 latency above 1s",
        alert_count=1,
        level=1,
        round=3,
        dedup_keys=("k",),
        opened_at=OPENED,
        acknowledged_at=None,
        acknowledged_by=None,
        resolved_at=None,
        resolved_by=None,
    )
    return IncidentDetail(incident, timeline, ())


def _escalated(level: int, round_: int, minute: int) -> TimelineEntry:
    at = OPENED.replace(minute=minute)
    return TimelineEntry(at, "Escalated", {"by": "alice", "level": level, "round": round_})


def test_an_escalation_says_the_level_it_left_and_its_round_after_the_first() -> None:
    text, _ = incident_message(_detail(_escalated(1, 1, 5), _escalated(2, 2, 20)), "Checkout", None)
    # The headline carries the newest line of the history.
    assert text.endswith("Escalated from level 2, round 2 by alice at 09:20 UTC)"), text


def test_a_first_round_escalation_names_only_its_level() -> None:
    text, blocks = incident_message(_detail(_escalated(1, 1, 5)), "Checkout", None)
    assert text.endswith("Escalated from level 1 by alice at 09:05 UTC)"), text
    assert "round" not in str(blocks[-1])
