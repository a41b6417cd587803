"""Severity: what every integration's severity or priority maps onto, and urgency: whether an
incident pages phones and escalates (high) or only writes (low: email, chat and webhooks of
level 1, no escalation)."""

from __future__ import annotations

from typing import Literal

Severity = Literal["critical", "error", "warning", "info"]
Urgency = Literal["high", "low"]

SEVERITIES: tuple[Severity, ...] = ("critical", "error", "warning", "info")
"""Highest first."""

# The one table of the words senders use: Alertmanager and Grafana `severity` labels,
# PagerDuty's `payload.severity`, Opsgenie's `priority` (P1 to P5), and the usual others.
_WORDS: dict[str, Severity] = {
    **dict.fromkeys(("critical", "crit", "fatal", "page", "emergency", "high"), "critical"),
    **dict.fromkeys(("error", "err", "major"), "error"),
    **dict.fromkeys(("warning", "warn", "minor", "medium"), "warning"),
    **dict.fromkeys(("info", "informational", "low", "none", "ok"), "info"),
    # Opsgenie's priorities, PagerDuty's incident priorities, and "sev" numbers alike.
    **dict.fromkeys(("p1", "sev1"), "critical"),
    **dict.fromkeys(("p2", "sev2"), "error"),
    **dict.fromkeys(("p3", "sev3"), "warning"),
    **dict.fromkeys(("p4", "p5", "sev4", "sev5"), "info"),
}
_RANK: dict[Severity, int] = {severity: rank for rank, severity in enumerate(SEVERITIES)}

LOW_URGENCY_CHANNELS = frozenset({"email", "webhook", "slack", "teams", "mattermost"})
"""What a low-urgency page may use: nothing that rings a phone (no SMS, no voice)."""


def severity_of(word: str | None) -> Severity | None:
    """The severity a sender's word means, whatever its case; None for no word or one this
    table does not know: such an alert is treated as having no severity (high urgency, so
    that an unknown word never silences a page)."""
    if not word:
        return None
    return _WORDS.get(word.strip().lower())


def highest(first: Severity | None, second: Severity | None) -> Severity | None:
    """The higher of two severities (None is lower than any)."""
    if first is None or (second is not None and _RANK[second] < _RANK[first]):
        return second
    return first


def urgency_of(severity: Severity | None, low_urgency: tuple[Severity, ...]) -> Urgency:
    """Low if the service pages this severity at low urgency; an alert without one is high."""
    return "low" if severity is not None and severity in low_urgency else "high"
