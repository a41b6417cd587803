"""Pages carry what the first alert said: the email its summary, runbook and dashboard links
and labels; chat messages the severity, a few labels and the runbook; the webhook all of it;
SMS stays within 160 characters. Real receivers: aiosmtpd, local HTTP servers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from pager.adapters.notify.mattermost import MattermostChannel
from pager.adapters.notify.message import SMS_LIMIT, sms_text
from pager.adapters.notify.slack import SlackChannel
from pager.adapters.notify.teams import TeamsChannel
from pager.adapters.notify.webhook import WebhookChannel
from pager.application.ports import OutgoingNotification
from pager.domain.content import AlertContent, ChangeLink
from pager.domain.policy import (
    EmailTarget,
    MattermostTarget,
    SlackTarget,
    SmsTarget,
    Target,
    TeamsTarget,
    WebhookTarget,
)
from tests.integration.test_channels import notification, send, smtp_channel
from tests.support.servers import (
    MattermostReceiver,
    SlackReceiver,
    SmtpSink,
    TeamsReceiver,
    WebhookReceiver,
)

RUNBOOK = "https://runbooks.example.com/disk-full"
DASHBOARD = "https://grafana.example.com/d/abc/disks"
SAID = AlertContent(
    labels=(
        ("alertname", "DiskFull"),
        ("instance", "db-1:9100"),
        ("job", "node"),
        ("severity", "critical"),
    ),
    annotations=(
        ("summary", "Disk 95% full on db-1"),
        ("description", "Only 2 GiB left on /var/lib/postgresql."),
        ("runbook_url", RUNBOOK),
        ("dashboard", DASHBOARD),
    ),
    links=(ChangeLink("javascript:alert(1)", "Sneaky"),),
    details=(("free_bytes", "2147483648"),),
    source_url="http://prometheus:9090/graph?g0.expr=disk",
)


def paged(target: Target) -> OutgoingNotification:
    return notification(
        target,
        message="DiskFull: Disk 95% full on db-1",
        severity="critical",
        content=SAID,
    )


def test_the_email_carries_the_summary_the_runbook_the_dashboard_and_the_labels(
    smtp: SmtpSink,
) -> None:
    send(smtp_channel(smtp.url()), paged(EmailTarget("oncall@example.com")))

    (mail,) = smtp.wait_for(1)
    body = mail.body.replace("\r\n", "\n")
    assert body.startswith("Checkout API: DiskFull: Disk 95% full on db-1\n")
    for line in (
        "Only 2 GiB left on /var/lib/postgresql.",
        f"Runbook:     {RUNBOOK}",
        f"Dashboard:   {DASHBOARD}",
        "Source:      http://prometheus:9090/graph?g0.expr=disk",
        "Severity:    critical",
        "Labels:\n  alertname: DiskFull\n  instance: db-1:9100\n  job: node\n  severity: critical",
        "Details:\n  free_bytes: 2147483648",
    ):
        assert line in body
    assert body.index(RUNBOOK) < body.index("Service:"), "the runbook comes before the facts"


def test_an_sms_stays_as_short_as_it_was() -> None:
    text = sms_text(paged(SmsTarget("+14155550100")))
    assert len(text) <= SMS_LIMIT
    assert RUNBOOK not in text


@pytest.fixture
def slack() -> Iterator[SlackReceiver]:
    with SlackReceiver() as server:
        yield server


def test_slack_shows_severity_a_few_labels_and_the_runbook(slack: SlackReceiver) -> None:
    send(SlackChannel(allow_private=True), paged(SlackTarget(slack.hook_url)))

    (request,) = slack.wait_for(1)
    text = request.json()["text"]
    assert "Severity *critical*" in text
    assert "`instance=db-1:9100`" in text
    assert "`alertname=" not in text, "the message already names the alert"
    assert f"<{RUNBOOK}|Runbook>" in text
    assert f"<{DASHBOARD}|Dashboard>" in text
    assert "javascript:" not in text


def test_teams_shows_severity_labels_and_runbook_and_dashboard_buttons() -> None:
    with TeamsReceiver() as teams:
        send(TeamsChannel(allow_private=True), paged(TeamsTarget(teams.hook_url)))
        (request,) = teams.wait_for(1)
    card = request.json()["attachments"][0]["content"]
    facts = {fact["title"]: fact["value"] for fact in card["body"][2]["facts"]}
    assert facts["Severity"] == "critical"
    assert facts["Labels"] == "instance=db-1:9100, job=node, severity=critical"
    urls = {action["title"]: action["url"] for action in card["actions"]}
    assert (urls["Runbook"], urls["Dashboard"]) == (RUNBOOK, DASHBOARD)
    # What a client that cannot draw the card (a notification, a screen reader) says instead.
    assert card["fallbackText"] == "Checkout API: DiskFull: Disk 95% full on db-1 (level 2)"


def test_mattermost_shows_severity_labels_and_the_runbook() -> None:
    with MattermostReceiver() as mattermost:
        outgoing = paged(MattermostTarget(mattermost.hook_url))
        send(MattermostChannel(allow_private=True), outgoing)
        (request,) = mattermost.wait_for(1)
    text = request.json()["text"]
    assert r"Severity **critical** instance=db-1:9100 job=node severity=critical" in text
    assert f"[Runbook]({RUNBOOK})" in text


def test_the_webhook_carries_everything_the_alert_said() -> None:
    pictured = replace(
        SAID,
        images=(ChangeLink("https://grafana.example.com/render/disks.png", "Disk usage"),),
        tags=("db", "storage"),
        entity="db-1",
    )
    outgoing = replace(paged(WebhookTarget("http://127.0.0.1")), content=pictured)
    with WebhookReceiver() as receiver:
        send(
            WebhookChannel(allow_private=True),
            replace(outgoing, target=WebhookTarget(receiver.url)),
        )
        (request,) = receiver.wait_for(1)
    alert = request.json()["alert"]
    assert alert["severity"] == "critical"
    assert alert["labels"]["instance"] == "db-1:9100"
    assert (alert["runbook"], alert["dashboard"]) == (RUNBOOK, DASHBOARD)
    assert alert["details"] == {"free_bytes": "2147483648"}
    assert alert["source_url"] == "http://prometheus:9090/graph?g0.expr=disk"
    # A receiver is a program: it gets the links as sent, unfollowable ones too.
    assert alert["links"] == [{"href": "javascript:alert(1)", "text": "Sneaky"}]
    assert alert["images"] == [
        {"href": "https://grafana.example.com/render/disks.png", "text": "Disk usage"}
    ]
    assert (alert["tags"], alert["entity"]) == (["db", "storage"], "db-1")
