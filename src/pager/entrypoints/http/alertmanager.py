"""POST /integrations/alertmanager: Prometheus Alertmanager's webhook (version 4) and
Grafana's webhook contact point (version 1, the same shape).

Alertmanager sends a whole group at a time and sends it again every `repeat_interval`; a
group marked "firing" may hold resolved alerts, and a later "resolved" message may list only
some of them. So each alert is handled on its own, by its fingerprint (or a hash of its
labels): firing ones first, so that a group that swaps one alert for another never lets the
incident close and reopen in between, then resolved ones.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from pager.domain.commands import ResolveAlert
from pager.domain.content import (
    AlertContent,
    ChangeLink,
    check_content,
)
from pager.domain.errors import ValidationFailed
from pager.domain.incident import MAX_MESSAGE_LENGTH
from pager.domain.severity import Severity, severity_of
from pager.entrypoints.http.alerting import clean, commit, counted_all, storable, storable_all
from pager.entrypoints.http.context import Context, context

router = APIRouter(tags=["integrations"])
Ctx = Annotated[Context, Depends(context)]


class WebhookAlert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: str = "firing"
    # Plain text here: the domain checks the content's bounds and names the alert's field,
    # and a lone surrogate a tool sent is stored replaced rather than refused.
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    fingerprint: str | None = None
    startsAt: str | None = None
    endsAt: str | None = None
    generatorURL: str | None = None
    # Grafana's, beside Alertmanager's fields.
    dashboardURL: str | None = None
    panelURL: str | None = None
    silenceURL: str | None = None
    imageURL: str | None = None


class WebhookMessage(BaseModel):
    """Alertmanager's webhook message; Grafana adds `orgId`, `title`, `state`, `message`."""

    model_config = ConfigDict(extra="ignore")

    version: str | None = None
    status: str | None = None
    receiver: str | None = None
    groupKey: str | None = None
    alerts: list[WebhookAlert] = Field(max_length=10_000)
    orgId: StrictInt | None = None  # as Grafana sends it: `true` or "1" is not an org


class HandledAlert(BaseModel):
    dedup_key: str
    status: Literal["firing", "resolved"]
    action: Literal["opened", "attached", "suppressed", "unchanged", "resolved"]
    incident_id: str | None


class WebhookAccepted(BaseModel):
    source: Literal["alertmanager", "grafana"]
    alerts: list[HandledAlert]


async def accept_webhook(ctx: Context, body: WebhookMessage, service_id: str) -> WebhookAccepted:
    """What the webhook does (`ingest` answers it): firing alerts, then resolved ones, in one
    commit."""
    source: Literal["alertmanager", "grafana"] = (
        "grafana" if body.version == "1" or body.orgId is not None else "alertmanager"
    )
    firing = [(i, alert) for i, alert in enumerate(body.alerts) if alert.status != "resolved"]
    resolved = [alert for alert in body.alerts if alert.status == "resolved"]
    triggers = [
        ctx.handlers.alert_command(
            service_id,
            message(alert),
            dedup_key=dedup_key(alert),
            severity=_severity(alert),
            source=source,
            content=alert_content(alert, index),
        )
        for index, alert in firing
    ]
    resolves = [ResolveAlert(service_id, dedup_key(alert)) for alert in resolved]
    outcomes = await commit(ctx, [*triggers, *resolves])
    # The answer is validated once, as a whole: a model built per alert cost a third more.
    handled: list[dict[str, str | None]] = [
        {
            "dedup_key": command.dedup_key or "",
            "status": "firing",
            "action": result.action if result.events else "unchanged",
            "incident_id": result.incident_id,
        }
        for command, result in zip(
            triggers, counted_all(triggers, outcomes[: len(triggers)]), strict=True
        )
    ]
    for resolve, outcome in zip(resolves, outcomes[len(triggers) :], strict=True):
        incident = outcome.before.incident
        handled.append(
            {
                "dedup_key": resolve.dedup_key,
                "status": "resolved",
                "action": "resolved" if outcome.events else "unchanged",
                "incident_id": incident.id if incident is not None and outcome.events else None,
            }
        )
    return WebhookAccepted.model_validate({"source": source, "alerts": handled})


def dedup_key(alert: WebhookAlert) -> str:
    """The alert's fingerprint as sent, else (none, or nothing left of it once cleaned) a
    hash of its labels in any order."""
    if alert.fingerprint and (cleaned := clean(alert.fingerprint, 512)):
        return cleaned
    labels = json.dumps(alert.labels, sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(labels.encode()).hexdigest()[:32]


def message(alert: WebhookAlert) -> str:
    """`alertname: summary`, from what the alert has; its labels as a last resort."""
    name = alert.labels.get("alertname", "").strip()
    summary = ""
    for annotation in ("summary", "description", "message"):
        summary = alert.annotations.get(annotation, "").strip()
        if summary:
            break
    text = f"{name}: {summary}" if name and summary else name or summary
    if not text.strip():
        text = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items())) or "alert"
    return clean(text, MAX_MESSAGE_LENGTH).strip() or "alert"


def alert_content(alert: WebhookAlert, index: int) -> AlertContent:
    """What the alert says, as sent (made storable, never cut); past the bounds it is
    refused, naming `alerts.{index}`'s field, before anything of the message is committed."""
    links: tuple[ChangeLink, ...] = ()
    if alert.dashboardURL or alert.panelURL or alert.silenceURL:
        grafana = (
            (alert.dashboardURL, "Dashboard"),
            (alert.panelURL, "Panel"),
            (alert.silenceURL, "Silence"),
        )
        links = tuple(ChangeLink(storable(url), text) for url, text in grafana if url)
    labels, annotations = alert.labels, alert.annotations
    content = AlertContent(
        tuple(labels.items()) if storable_all(labels) else _storable(labels),
        tuple(annotations.items()) if storable_all(annotations) else _storable(annotations),
        links,
        (ChangeLink(storable(alert.imageURL)),) if alert.imageURL else (),
        source_url=storable(alert.generatorURL) if alert.generatorURL else None,
    )
    try:
        check_content(content)
    except ValidationFailed:
        where = f"alerts.{index}"  # as the schema's own refusals name it
        names = {field: f"{where}.{sent}" for field, sent in _SENT_AS.items()}
        check_content(content, {**names, "content": where})
        raise
    return content


def _storable(pairs: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """Keys keep a character where a NUL was: a key is never made empty."""
    return tuple(
        (storable(key.replace("\x00", "\ufffd")), storable(value)) for key, value in pairs.items()
    )


# The webhook's names for the content's fields.
_SENT_AS = {
    "labels": "labels",
    "annotations": "annotations",
    "links": "dashboardURL",
    "images": "imageURL",
    "source_url": "generatorURL",
}


def _severity(alert: WebhookAlert) -> Severity | None:
    """The `severity` label mapped onto the four (a word it does not know: none)."""
    return severity_of(alert.labels.get("severity"))
