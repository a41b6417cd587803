"""What a notification says, in each channel's shape: one wording, shared by every channel."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from pager.application.ports import DeliveryFailed, OutgoingNotification
from pager.domain.content import followable
from pager.domain.policy import Target

SMS_LIMIT = 160
SUBJECT_MESSAGE_LIMIT = 100
# Below this many characters of the alert message, an SMS drops the ack link instead.
SMS_MIN_MESSAGE = 30


def one_line(text: str, limit: int) -> str:
    """`text` on one line, cut to at most `limit` characters with "..." (ASCII: SMS-safe)."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    if limit <= 3:
        return flat[:limit]
    return flat[: limit - 3].rstrip() + "..."


def short_id(incident_id: str) -> str:
    return incident_id[:8]


def utc(when: datetime) -> datetime:
    """`when` in UTC; a naive time is taken to be UTC already."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def opened(notification: OutgoingNotification) -> str:
    return utc(notification.opened_at).strftime("%Y-%m-%d %H:%M:%S UTC")


def step(notification: OutgoingNotification) -> str:
    """ "level 2", or "level 2, round 3" once the policy has started over; "level 1, low
    urgency" for an incident that pages only email, chat and webhooks and never escalates."""
    text = level_text(notification.level, notification.round)
    return f"{text}, low urgency" if notification.urgency == "low" else text


def level_text(level: int, round_: int) -> str:
    return f"level {level}, round {round_}" if round_ > 1 else f"level {level}"


def wrong_target(channel: str, target: Target) -> DeliveryFailed:
    return DeliveryFailed(
        f"the {channel} channel cannot send to a {target.type} target", transient=False
    )


def host_of(url: str) -> str:
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


KEY_LABELS = 5
"""How many labels a chat message shows (email shows them all)."""


def key_labels(notification: OutgoingNotification) -> list[tuple[str, str]]:
    """The first few labels, without `alertname` (the message starts with it)."""
    labels = [(k, v) for k, v in notification.content.labels if k != "alertname"]
    return labels[:KEY_LABELS]


def subject(notification: OutgoingNotification) -> str:
    message = one_line(notification.message, SUBJECT_MESSAGE_LIMIT)
    return f"[Pager] {one_line(notification.service_name, 80)}: {message} ({step(notification)})"


def email_body(notification: OutgoingNotification) -> str:
    n = notification
    lines = [f"{n.service_name}: {n.message}", ""]
    if n.ack_url:
        lines.append(f"Acknowledge: {n.ack_url}")
    if n.incident_url:
        lines.append(f"Incident:    {n.incident_url}")
    if n.ack_url or n.incident_url:
        lines.append("")
    lines += _what_it_says(n)
    if n.severity:
        lines.append(f"Severity:    {n.severity}")
    lines += [
        f"Service:     {n.service_name} ({n.service_id})",
        f"Escalation:  {step(n)}",
        f"Alerts:      {n.alert_count}",
        f"Opened:      {opened(n)}",
        f"Incident id: {n.incident_id}",
        "",
        *_labels_and_details(n),
        "-- ",
        f"Sent by Pager because you are on {level_text(n.level, n.round)} of the escalation "
        f"policy of {n.service_name}. Notification {n.id}, attempt {n.attempt}.",
    ]
    return "\n".join(lines) + "\n"


def _what_it_says(notification: OutgoingNotification) -> list[str]:
    """The first alert's description (unless the message has it) and its links, the runbook
    and the dashboard first."""
    content = notification.content
    lines: list[str] = []
    description = content.annotation("description")
    if description and description not in notification.message:
        lines += [description, ""]
    found = [
        (title, url)
        for title, url in (("Runbook", content.runbook), ("Dashboard", content.dashboard))
        if url
    ]
    found += [
        (link.text or "Link", link.href)
        for link in content.references()
        if link.href not in (content.runbook, content.dashboard)
    ]
    lines += [f"{title + ':':<12} {url}" for title, url in found]
    return [*lines, ""] if found else lines


def _labels_and_details(notification: OutgoingNotification) -> list[str]:
    content = notification.content
    lines: list[str] = []
    for title, pairs in (("Labels", content.labels), ("Details", content.details)):
        if pairs:
            lines += [f"{title}:", *(f"  {key}: {value}" for key, value in pairs), ""]
    if content.tags:
        lines += [f"Tags:        {', '.join(content.tags)}", ""]
    if content.entity:
        lines += [f"Entity:      {content.entity}", ""]
    return lines


def sms_text(notification: OutgoingNotification) -> str:
    """At most 160 characters, ASCII framing (one GSM-7 segment unless the alert itself is not).
    With a reply code it ends with the reply line; the ack link goes first where both do
    not fit with room for the message, then the service's name is cut shorter."""
    n = notification
    tail = f" ({step(n)}, #{short_id(n.incident_id)})"
    ack = f" Ack: {n.ack_url}" if n.ack_url else ""
    reply = ""
    if n.reply_code:
        reply = f" {reply_line(n.reply_code)}"
    service = one_line(n.service_name, 40)

    def room() -> int:
        return SMS_LIMIT - len(f"[Pager] {service}: ") - len(tail) - len(ack) - len(reply)

    if ack and room() < SMS_MIN_MESSAGE:
        ack = ""
    if room() < SMS_MIN_MESSAGE:
        service = one_line(n.service_name, max(len(service) - (SMS_MIN_MESSAGE - room()), 10))
    text = f"[Pager] {service}: " + one_line(n.message, max(room(), 0)) + tail + ack
    # Only a level or round in the thousands gets here: the reply line is kept whole.
    return text[: SMS_LIMIT - len(reply)] + reply


def reply_line(code: str) -> str:
    return f"Reply 1 {code} to acknowledge, 2 {code} to resolve"


def slack_escape(text: str) -> str:
    """Slack's mrkdwn needs exactly these three escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_text(notification: OutgoingNotification) -> str:
    n = notification
    return slack_summary(
        service_name=n.service_name,
        message=n.message,
        step=step(n),
        alert_count=n.alert_count,
        opened=opened(n),
        incident_id=n.incident_id,
        incident_url=n.incident_url,
        ack_url=n.ack_url,
        severity=n.severity,
        labels=key_labels(n),
        runbook=followable(n.content.runbook),
        dashboard=followable(n.content.dashboard),
    )


def slack_summary(
    *,
    service_name: str,
    message: str,
    step: str,
    alert_count: int,
    opened: str,
    incident_id: str,
    incident_url: str | None,
    ack_url: str | None = None,
    severity: str | None = None,
    labels: Sequence[tuple[str, str]] = (),
    runbook: str | None = None,
    dashboard: str | None = None,
) -> str:
    """An incident in Slack's mrkdwn: what a Slack page says, and what its message shows
    once the buttons have been pressed."""
    alerts = "1 alert" if alert_count == 1 else f"{alert_count} alerts"
    lines = [
        f":rotating_light: *{slack_escape(service_name)}*: {slack_escape(message)}",
        f"{step.capitalize()} · {alerts} · opened {opened} · "
        f"incident `{slack_escape(incident_id)}`",
    ]
    fields = [f"Severity *{slack_escape(severity)}*"] if severity else []
    fields += [f"`{slack_escape(one_line(f'{k}={v}', 80))}`" for k, v in labels]
    if fields:
        lines.append(" ".join(fields))
    links = []
    if ack_url:
        links.append(f"<{ack_url}|Acknowledge>")
    if incident_url:
        links.append(f"<{incident_url}|Open incident>")
    if runbook:
        links.append(f"<{slack_escape(runbook)}|Runbook>")
    if dashboard:
        links.append(f"<{slack_escape(dashboard)}|Dashboard>")
    if links:
        lines.append(" · ".join(links))
    return "\n".join(lines)


# The Slack app's buttons: action_id, label, style. Their value is the incident id.
SLACK_BUTTONS = (
    ("pager_ack", "Acknowledge", "primary"),
    ("pager_resolve", "Resolve", None),
    ("pager_escalate", "Escalate", "danger"),
)
SLACK_ACTIONS = tuple(action for action, _, _ in SLACK_BUTTONS)
# Block Kit's limits: a section's text, and a context block's elements.
SLACK_SECTION_LIMIT = 3000
SLACK_CONTEXT_LIMIT = 10


def slack_blocks(
    summary: str,
    incident_id: str,
    actions: Sequence[str] = SLACK_ACTIONS,
    status: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """A Slack app message: the summary, what has been done (`status`, mrkdwn lines, the
    last ones if there are many), and the buttons named in `actions` (none: no buttons)."""
    if len(summary) > SLACK_SECTION_LIMIT:
        summary = summary[: SLACK_SECTION_LIMIT - 3] + "..."
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "block_id": "pager_summary",
            "text": {"type": "mrkdwn", "text": summary},
        }
    ]
    if status:
        lines = status[-SLACK_CONTEXT_LIMIT:]
        elements = [{"type": "mrkdwn", "text": line[:SLACK_SECTION_LIMIT]} for line in lines]
        blocks.append({"type": "context", "block_id": "pager_status", "elements": elements})
    buttons = []
    for action, label, style in SLACK_BUTTONS:
        if action not in actions:
            continue
        button: dict[str, Any] = {
            "type": "button",
            "action_id": action,
            "text": {"type": "plain_text", "text": label},
            "value": incident_id,
        }
        if style:
            button["style"] = style
        buttons.append(button)
    if buttons:
        blocks.append({"type": "actions", "block_id": "pager_actions", "elements": buttons})
    return blocks


def slack_page(notification: OutgoingNotification) -> tuple[str, list[dict[str, Any]]]:
    """A Slack app page: its plain-text fallback (notifications, search) and its blocks."""
    text = slack_text(notification)
    return text, slack_blocks(text, notification.incident_id)


def webhook_payload(notification: OutgoingNotification) -> dict[str, Any]:
    """The JSON documented in pager.adapters.notify.webhook."""
    n = notification
    return {
        "event": "incident.notify",
        "notification_id": n.id,
        "attempt": n.attempt,
        "incident": {
            "id": n.incident_id,
            "service": n.service_id,
            "service_name": n.service_name,
            "message": n.message,
            "level": n.level,
            "round": n.round,
            "urgency": n.urgency,
            "alert_count": n.alert_count,
            "opened_at": utc(n.opened_at).isoformat().replace("+00:00", "Z"),
            "url": n.incident_url,
        },
        "alert": alert_payload(n),
        "ack_url": n.ack_url,
    }


def alert_payload(notification: OutgoingNotification) -> dict[str, Any]:
    """What the incident's first alert said, for a webhook's receiver."""
    content = notification.content
    return {
        "severity": notification.severity,
        "labels": dict(content.labels),
        "annotations": dict(content.annotations),
        "runbook": content.runbook,
        "dashboard": content.dashboard,
        "links": [{"href": link.href, "text": link.text} for link in content.links],
        "images": [{"href": link.href, "text": link.text} for link in content.images],
        "details": dict(content.details),
        "tags": list(content.tags),
        "entity": content.entity,
        "source_url": content.source_url,
    }


def alerts(notification: OutgoingNotification) -> str:
    return "1 alert" if notification.alert_count == 1 else f"{notification.alert_count} alerts"


def links(notification: OutgoingNotification) -> tuple[tuple[str, str], ...]:
    """(title, url) of what a reader can press: acknowledge first, then the incident, the
    runbook and the dashboard."""
    n = notification
    found = (
        ("Acknowledge", n.ack_url),
        ("Open incident", n.incident_url),
        ("Runbook", followable(n.content.runbook)),
        ("Dashboard", followable(n.content.dashboard)),
    )
    return tuple((title, url) for title, url in found if url)


def teams_message(notification: OutgoingNotification) -> dict[str, Any]:
    """A Teams webhook message holding one Adaptive Card (schema 1.4, which Teams renders)."""
    n = notification
    facts = [
        ("Service", f"{n.service_name} ({n.service_id})"),
        ("Escalation", step(n).capitalize()),
        ("Alerts", str(n.alert_count)),
        ("Opened", opened(n)),
        ("Incident", n.incident_id),
    ]
    if n.severity:
        facts.insert(0, ("Severity", n.severity))
    if labels := key_labels(n):
        facts.append(("Labels", ", ".join(f"{k}={v}" for k, v in labels)))
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "fallbackText": f"{n.service_name}: {n.message} ({step(n)})",
        "body": [
            {
                "type": "TextBlock",
                "text": n.service_name,
                "size": "Large",
                "weight": "Bolder",
                "color": "Attention",
                "wrap": True,
            },
            {"type": "TextBlock", "text": n.message, "wrap": True},
            {
                "type": "FactSet",
                "facts": [{"title": title, "value": value} for title, value in facts],
            },
        ],
    }
    actions = [{"type": "Action.OpenUrl", "title": t, "url": u} for t, u in links(n)]
    if actions:
        card["actions"] = actions
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


# Inline Markdown only: the text is put on one line, where no block syntax can start.
_MARKDOWN = {ord(c): "\\" + c for c in "\\`*_~[]()<>|"}


def markdown_escape(text: str) -> str:
    """`text` on one line, shown as written by a Markdown renderer (Mattermost's)."""
    return " ".join(text.split()).translate(_MARKDOWN)


def mattermost_text(notification: OutgoingNotification) -> str:
    n = notification
    lines = [
        f":rotating_light: **{markdown_escape(n.service_name)}**: {markdown_escape(n.message)}",
        f"{step(n).capitalize()} · {alerts(n)} · opened {opened(n)} · incident `{n.incident_id}`",
    ]
    fields = [f"Severity **{markdown_escape(n.severity)}**"] if n.severity else []
    fields += [markdown_escape(one_line(f"{k}={v}", 80)) for k, v in key_labels(n)]
    if fields:
        lines.append(" ".join(fields))
    if found := links(n):
        lines.append(" · ".join(f"[{title}]({url})" for title, url in found))
    return "\n".join(lines)
