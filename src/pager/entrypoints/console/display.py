"""How the console words things: times, durations, targets and timeline entries."""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pager.application.queries import TimelineEntry
from pager.domain.policy import (
    EmailTarget,
    MattermostTarget,
    ScheduleTarget,
    SlackTarget,
    SmsTarget,
    Target,
    TeamsTarget,
    UserTarget,
    VoiceTarget,
    WebhookTarget,
)

_TIMEOUT = re.compile(r"(?:(\d{1,6})h)?(?:(\d{1,6})m)?(?:(\d{1,9})s?)?")


def when(moment: datetime | None, zone: str = "UTC", *, seconds: bool = True) -> str:
    """`moment` in the time zone `zone` (the viewer's), named: "2026-01-01 04:00:00 CET"."""
    if moment is None:
        return ""
    try:
        local = moment.astimezone(UTC if zone == "UTC" else zoneinfo.ZoneInfo(zone))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        local = moment.astimezone(UTC)
    return local.strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z")


def local(moment: datetime | None, zone: str) -> str:
    """An instant as a schedule's clocks show it: "Mon 02 Mar 09:00 (Europe/Berlin)"."""
    if moment is None:
        return ""
    return f"{moment.astimezone(ZoneInfo(zone)):%a %d %b %H:%M} ({zone})"


def ago(moment: datetime, now: datetime) -> str:
    seconds = int((now - moment).total_seconds())
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 48 * 3600:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def duration(seconds: int) -> str:
    """900 -> "15 min"; 5400 -> "1 h 30 min"; 45 -> "45 s"."""
    if seconds < 60:
        return f"{seconds} s"
    parts = []
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        parts.append(f"{hours} h")
    if minutes:
        parts.append(f"{minutes} min")
    if secs:
        parts.append(f"{secs} s")
    return " ".join(parts)


def timeout_input(seconds: int) -> str:
    """The editor's spelling of a timeout: 900 -> "15m", 5400 -> "1h30m", 45 -> "45s"."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return text + (f"{secs}s" if secs or not text else "")


def parse_timeout(text: str) -> int | None:
    """Seconds from "900", "900s", "15m", "1h30m"; None if it is none of those."""
    cleaned = text.strip().lower().replace(" ", "")
    match = _TIMEOUT.fullmatch(cleaned)
    if not cleaned or match is None:
        return None
    hours, minutes, secs = (int(part) if part else 0 for part in match.groups())
    return hours * 3600 + minutes * 60 + secs


def host(url: str) -> str:
    try:
        return urlsplit(url).hostname or url
    except ValueError:
        return url


def target(value: Target | Mapping[str, Any]) -> str:
    """Who is paged, without the secret part of a webhook or Slack URL (only its host)."""
    match value:
        case EmailTarget(address=address):
            return f"email {address}"
        case SmsTarget(phone=phone):
            return f"SMS {phone}"
        case WebhookTarget(url=url):
            return f"webhook {host(url)}"
        case SlackTarget(channel=str() as channel):
            return f"Slack channel {channel}"
        case SlackTarget(url=url):
            return f"Slack {host(url or '')}"
        case VoiceTarget(phone=phone):
            return f"voice call {phone}"
        case TeamsTarget(url=url):
            return f"Teams {host(url)}"
        case MattermostTarget(url=url):
            return f"Mattermost {host(url)}"
        case {"type": "email", "address": address}:
            return f"email {address}"
        case {"type": "sms", "phone": phone}:
            return f"SMS {phone}"
        case {"type": "webhook", "url": url}:
            return f"webhook {host(str(url))}"
        case {"type": "slack", "channel": str() as channel}:
            return f"Slack channel {channel}"
        case {"type": "slack", "url": url}:
            return f"Slack {host(str(url))}"
        case {"type": "voice", "phone": phone}:
            return f"voice call {phone}"
        case {"type": "teams", "url": url}:
            return f"Teams {host(str(url))}"
        case {"type": "mattermost", "url": url}:
            return f"Mattermost {host(str(url))}"
        case UserTarget(user=user) | {"type": "user", "user": user}:
            return f"user {user}"
        case ScheduleTarget(schedule=schedule) | {"type": "schedule", "schedule": schedule}:
            return f"schedule {schedule}"
    return "unknown target"


_PROVIDERS = {"email": "SMTP", "sms": "Twilio", "voice": "Twilio"}


def logged(channel: str) -> str:
    """What became of a page with status `logged`: nobody got it."""
    return f"written to the log — no {_PROVIDERS.get(channel, 'provider')} configured"


@dataclass(frozen=True, slots=True)
class Line:
    """One timeline entry in words; `kind` picks its colour."""

    at: datetime
    kind: str
    text: str
    detail: str = ""


_CAUSES = {
    "healthy": "the service was marked healthy",
    "resolved": "resolved",
    "alerts_resolved": "every alert cleared",
    "service_deleted": "the service was deleted",
}


def timeline_line(entry: TimelineEntry) -> Line:
    data = entry.data
    match entry.type:
        case "IncidentOpened":
            low = " at low urgency" if data.get("urgency") == "low" else ""
            return Line(
                entry.at, "alert", f"Opened by an alert from {data.get('source', '?')}{low}",
                _alert_detail(data),
            )  # fmt: skip
        case "UrgencyRaised":
            return Line(entry.at, "warn", _raised(data), _RAISED)
        case "AlertAttached":
            return Line(
                entry.at, "alert", f"Another alert from {data.get('source', '?')}",
                _alert_detail(data),
            )  # fmt: skip
        case "LevelNotified":
            return _level_notified(entry.at, data)
        case "EscalationExhausted":
            return Line(
                entry.at,
                "fail",
                f"Level {data.get('level')}{_round(data)} timed out with no level left",
                "Nobody more will be paged; the incident stays open.",
            )
        case "Acknowledged":
            return Line(entry.at, "ack", f"Acknowledged by {data.get('by')}")
        case "Escalated":
            return Line(
                entry.at,
                "warn",
                f"Escalated by {data.get('by')} from level {data.get('level')}{_round(data)}",
            )
        case "Unacknowledged":
            timeout = data.get("ack_timeout_seconds")
            detail = (
                f"Escalates after {duration(int(timeout))} unless acknowledged."
                if isinstance(timeout, int)
                else "Every level was paged: nobody more will be paged."
            )
            return Line(entry.at, "warn", f"Unacknowledged by {data.get('by')}", detail)
        case "NoteAdded":
            return Line(entry.at, "other", f"Note by {data.get('by')}", str(data.get("text", "")))
        case "Snoozed":
            until = _instant(data.get("until"))
            detail = "Nobody is paged until then; then level 1 is paged again (a new round)."
            return Line(entry.at, "ack", f"Snoozed by {data.get('by')} until {until}", detail)
        case "SnoozeEnded":
            return Line(entry.at, "warn", "Snooze over: triggered again")
        case "Reassigned":
            return _reassigned(entry.at, data)
        case "AlertResolved":
            return Line(entry.at, "ok", f"Alert {data.get('dedup_key')} cleared")
        case "IncidentResolved":
            cause = _CAUSES.get(str(data.get("cause")), str(data.get("cause")))
            return Line(entry.at, "ok", f"Resolved by {data.get('by')}: {cause}")
        case "NotificationAttempted":
            return _attempt(entry)
    return Line(entry.at, "other", entry.type)


_RAISED = "From now on it pages by SMS and calls too, and escalates."


def _raised(data: Mapping[str, Any]) -> str:
    if data.get("cause") == "escalated":
        return f"Raised to high urgency: escalated by {data.get('by')}"
    severity = data.get("severity")
    what = f"a {severity} alert" if severity else "an alert without severity"
    return f"Raised to high urgency by {what} from {data.get('by')}"


def _level_notified(at: datetime, data: Mapping[str, Any]) -> Line:
    """Whom the step paged and why: each schedule's people then, and what reached nobody."""
    targets = ", ".join(target(t) for t in data.get("targets", ()))
    said = _reached(data)
    said += [
        f"{held.get('target')} not paged: {held.get('reason')}."
        for held in data.get("held_back") or ()
    ]
    if data.get("urgency") == "low":
        said.append("Low urgency: it does not escalate.")
        kind = "page" if data.get("pages") else "warn"
    elif data.get("timer_due_at") is None and data.get("pages") is not None:
        said.append("Nobody was paged: the next level follows at once.")
        kind = "fail"
    else:
        timeout = duration(int(data.get("ack_timeout_seconds", 0)))
        said.append(f"Escalates after {timeout} unless acknowledged.")
        kind = "warn" if data.get("unreached") else "page"
    low = " at low urgency" if data.get("urgency") == "low" else ""
    text = f"Paged level {data.get('level')}{_round(data)}{low}: {targets}"
    return Line(at, kind, text, " ".join(said))


def _reassigned(at: datetime, data: Mapping[str, Any]) -> Line:
    """Whom a reassignment paged, as a level's step says it."""
    said = _reached(data)
    timeout = data.get("ack_timeout_seconds")
    if not data.get("pages"):
        said.append("Nobody was paged.")
    if isinstance(timeout, int):
        said.append(f"Escalates after {duration(timeout)} unless acknowledged.")
    kind = "fail" if not data.get("pages") else "warn" if data.get("unreached") else "page"
    text = f"Reassigned by {data.get('by')} to {target(data.get('target') or {})}"
    return Line(at, kind, text, " ".join(said))


def _reached(data: Mapping[str, Any]) -> list[str]:
    """Each schedule's people at the step, and what reached nobody."""
    said = [
        f"{found.get('schedule')} had {', '.join(found.get('users') or ()) or 'nobody'} on call."
        for found in data.get("on_call") or ()
    ]
    said += [
        f"{missed.get('target')} paged nobody: {missed.get('reason')}."
        for missed in data.get("unreached") or ()
    ]
    return said


def _instant(value: Any) -> str:
    try:
        return when(datetime.fromisoformat(str(value)), seconds=False)
    except ValueError:
        return str(value)


def _alert_detail(data: Mapping[str, Any]) -> str:
    parts = [str(data.get("message", ""))]
    if data.get("severity"):
        parts.append(f"severity {data['severity']}")
    if data.get("dedup_key"):
        parts.append(f"key {data['dedup_key']}")
    return " · ".join(parts)


def _round(data: Mapping[str, Any]) -> str:
    round_ = data.get("round", 1)
    return f" (round {round_})" if isinstance(round_, int) and round_ > 1 else ""


def _attempt(entry: TimelineEntry) -> Line:
    data = entry.data
    channel = str(data.get("channel", "?"))
    label = {
        "sms": "SMS",
        "email": "Email",
        "voice": "Voice call",
        "webhook": "Webhook",
        "slack": "Slack",
        "teams": "Teams",
        "mattermost": "Mattermost",
    }.get(channel, channel)
    attempt = data.get("attempt")
    error = str(data.get("error") or "")
    match data.get("outcome"):
        case "sent":
            return Line(entry.at, "ok", f"{label} sent (attempt {attempt})")
        case "logged":
            return Line(entry.at, "warn", f"{label} {logged(channel)}")
        case "retry":
            return Line(entry.at, "warn", f"{label} failed (attempt {attempt}), retrying", error)
        case _:
            return Line(entry.at, "fail", f"{label} failed for good (attempt {attempt})", error)
