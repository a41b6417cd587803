"""Pager driven by the official clients teams already use, changed only in the URL they talk
to, against `pagerd serve` over HTTPS with a self-signed certificate: PagerDuty's Python
client (`pagerduty`, which refuses any http:// URL), Opsgenie's Python SDK (`opsgenie-sdk`)
and Opsgenie's Node SDK (`opsgenie-sdk` on npm, pinned in node/package-lock.json; `npm ci`
in tests/e2e/node installs it). Each triggers, acknowledges and resolves; the Opsgenie SDKs
also poll the request status and read the alert, as they do after every create."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import opsgenie_sdk
import pagerduty
import pytest

from tests.e2e.conftest import Pager, start_pager
from tests.support.db import running_in_ci
from tests.support.servers import Certificate, SmtpSink
from tests.support.worker import wait_until

NODE_CLIENTS = Path(__file__).with_name("node")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return Certificate.create(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def mail() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture(scope="module")
def pager(
    tmp_path_factory: pytest.TempPathFactory, certificate: Certificate, mail: SmtpSink
) -> Iterator[Pager]:
    """`pagerd serve --tls-cert --tls-key`, paging by email."""
    workdir = tmp_path_factory.mktemp("pager-https")
    env = {"PAGER_SMTP_URL": mail.url(), "PAGER_SMTP_FROM": "pager@example.com"}
    yield from start_pager(f"sqlite:///{workdir / 'pager.db'}", workdir, env, tls=certificate)


def test_pagerd_serve_answers_over_https_and_pages_link_to_https(
    pager: Pager, mail: SmtpSink, certificate: Certificate
) -> None:
    assert pager.url.startswith("https://127.0.0.1:")
    assert httpx.get(pager.url + "/readyz", verify=certificate.client_context()).status_code == 200
    with pytest.raises(httpx.ConnectError):  # nobody else's trust: the certificate is checked
        httpx.get(pager.url + "/readyz")
    with pytest.raises(httpx.TransportError):  # no plain HTTP on the TLS port
        httpx.get(pager.url.replace("https://", "http://") + "/readyz")

    service_id, key = pager.service()
    sent = pager.client(key).post("/api/v1/alerts", json={"service": service_id, "message": "x"})
    assert sent.status_code == 202, sent.text
    incident_id = sent.json()["incident_id"]
    wait_until(lambda: any(incident_id in m.body for m in mail.messages), 30, "the page")
    [page] = [m for m in mail.messages if incident_id in m.body]
    links = [word for word in page.body.split() if "://" in word]
    assert links, page.body
    assert all(link.startswith(pager.url + "/") for link in links), links
    [ack_link] = [link for link in links if "/ack/" in link]
    confirm = pager.anonymous.get(ack_link)
    assert confirm.status_code == 200
    assert "Acknowledge" in confirm.text


# -- PagerDuty's official Python client


def test_pagerduty_python_client_triggers_acknowledges_resolves_and_reports_changes(
    pager: Pager, certificate: Certificate
) -> None:
    with pytest.raises(pagerduty.UrlError):
        pagerduty.EventsApiV2Client("key", base_url=pager.url.replace("https", "http"))
    service_id, key = pager.service()
    events = pagerduty.EventsApiV2Client(
        key, base_url=pager.url, verify=certificate.client_context()
    )
    with events:
        pagerduty_client_run(pager, events, service_id)


def pagerduty_client_run(
    pager: Pager, events: pagerduty.EventsApiV2Client, service_id: str
) -> None:
    dedup_key = events.trigger("Disk 95% full on db-1", "db-1", dedup_key="disk-db-1")
    assert dedup_key == "disk-db-1"
    incident = pager.open_incident(service_id)
    assert incident is not None
    assert (incident["message"], incident["dedup_keys"]) == ("Disk 95% full on db-1", [dedup_key])
    assert events.trigger("Disk 95% full on db-1", "db-1", dedup_key=dedup_key) == dedup_key

    events.acknowledge(dedup_key)
    detail = pager.incident(incident["id"])
    assert (detail["status"], detail["alert_count"]) == ("acknowledged", 1)
    events.resolve(dedup_key)
    assert pager.incident(incident["id"])["status"] == "resolved"
    assert pager.get_service(service_id)["state"] == "healthy"

    # Without a dedup key, Pager makes one and the client hands it back.
    made = events.trigger("CPU hot", "web-1", severity="warning")
    assert made
    events.resolve(made)

    events.submit(
        "Deployed checkout 4.2.1",
        # Given: without one, pagerduty 7.2.0's own default timestamp raises AttributeError.
        timestamp="2026-05-01T12:00:00Z",
        source="ci",
        custom_details={"build": 7},
        links=[{"href": "https://ci.example.com/7", "text": "Build 7"}],
    )
    stream = pager.admin.get(f"/api/v1/services/{service_id}/events").json()["events"]
    change = stream[-1]
    assert (change["type"], change["data"]["summary"]) == (
        "ChangeReported",
        "Deployed checkout 4.2.1",
    )
    assert change["data"]["details"] == [["build", "7"]]
    assert pager.get_service(service_id)["state"] == "healthy"


# -- Opsgenie's official Python SDK


@pytest.fixture
def opsgenie_service(pager: Pager, certificate: Certificate) -> Iterator[tuple[str, Any]]:
    """A service, and Opsgenie's AlertApi with its key, configured as the SDK's README says
    but for the host (and the certificate to trust)."""
    service_id, key = pager.service()
    configuration = opsgenie_sdk.Configuration()
    configuration.host = pager.url
    configuration.api_key["Authorization"] = key
    configuration.api_key_prefix["Authorization"] = "GenieKey"
    configuration.ssl_ca_cert = str(certificate.cert)
    configuration.retry_enabled = False  # a failure shows at once, not after 5 slow retries
    client = opsgenie_sdk.ApiClient(configuration=configuration)
    yield service_id, opsgenie_sdk.AlertApi(api_client=client)
    client.rest_client.pool_manager.clear()


def test_opsgenie_python_sdk_creates_polls_reads_acknowledges_and_closes(
    pager: Pager, opsgenie_service: tuple[str, Any]
) -> None:
    service_id, alerts = opsgenie_service
    payload = opsgenie_sdk.CreateAlertPayload(
        message="Queue depth above 10k", alias="queue-depth", priority="P2", tags=["queue"]
    )
    created = alerts.create_alert(create_alert_payload=payload)
    assert created.result == "Request will be processed"
    status = created.retrieve_result()  # polls GET /v2/alerts/requests/{requestId}
    assert (status.data.is_success, status.data.action, status.data.alias) == (
        True,
        "Create",
        "queue-depth",
    )
    incident = pager.open_incident(service_id)
    assert incident is not None
    assert created.id == incident["id"]
    alert = created.retrieve_resulting_action().data  # GET /v2/alerts/{id}
    assert (alert.id, alert.alias, alert.message, alert.priority) == (
        incident["id"],
        "queue-depth",
        "Queue depth above 10k",
        "P2",
    )
    assert (alert.status, alert.acknowledged, alert.count) == ("open", False, 1)
    assert alert.created_at.tzinfo is not None

    acknowledged = alerts.acknowledge_alert(
        identifier=alert.id,
        acknowledge_alert_payload=opsgenie_sdk.AcknowledgeAlertPayload(user="py", note="on it"),
    )
    assert acknowledged.retrieve_result().data.status == "Acknowledged alert"
    assert alerts.get_alert(identifier=alert.id).data.acknowledged is True

    note = opsgenie_sdk.AddNoteToAlertPayload(user="py", note="rolled back 4.2.1")
    noted = alerts.add_note(
        identifier="queue-depth", identifier_type="alias", add_note_to_alert_payload=note
    )
    assert noted.retrieve_result().data.is_success is True
    undone = alerts.un_acknowledge_alert(identifier=alert.id)
    assert undone.retrieve_result().data.status == "Unacknowledged alert"
    assert pager.incident(alert.id)["status"] == "triggered"

    closed = alerts.close_alert(
        identifier="queue-depth",
        identifier_type="alias",
        close_alert_payload=opsgenie_sdk.CloseAlertPayload(user="py"),
    )
    assert closed.retrieve_result().data.alert_id == alert.id
    after = alerts.get_alert(identifier=alert.id).data
    assert (after.status, after.report.closed_by) == ("closed", "integration")
    assert [a.id for a in alerts.list_alerts(query="status:closed").data] == [alert.id]
    assert alerts.count_alerts(query="status:open").data.count == 0
    notes = [
        entry["data"]["text"]
        for entry in pager.incident(alert.id)["timeline"]
        if entry["type"] == "NoteAdded"
    ]
    assert notes == ["on it", "rolled back 4.2.1"]


def test_opsgenie_python_sdk_snoozes_and_escalates(
    pager: Pager, opsgenie_service: tuple[str, Any]
) -> None:
    _, alerts = opsgenie_service
    payload = opsgenie_sdk.CreateAlertPayload(message="Replica lag", alias="replica-lag")
    alert_id = alerts.create_alert(create_alert_payload=payload).retrieve_result().data.alert_id
    end = datetime.now(UTC) + timedelta(hours=1)
    snooze = opsgenie_sdk.SnoozeAlertPayload(end_time=end, user="py", note="after the deploy")
    snoozed = alerts.snooze_alert(
        identifier="replica-lag", identifier_type="alias", snooze_alert_payload=snooze
    )
    assert snoozed.retrieve_result().data.status == "Snoozed alert"
    incident = pager.incident(alert_id)
    assert incident["status"] == "acknowledged"
    [event] = [e for e in incident["timeline"] if e["type"] == "Snoozed"]
    # The SDK sends the time to the millisecond.
    assert abs(datetime.fromisoformat(event["data"]["until"]) - end) < timedelta(seconds=1)

    escalation = opsgenie_sdk.EscalationRecipient(name="Ops on call")
    escalated = alerts.escalate_alert(
        identifier=alert_id,
        escalate_alert_to_next_payload=opsgenie_sdk.EscalateAlertToNextPayload(
            escalation=escalation, user="py"
        ),
    )
    assert escalated.retrieve_result().data.status == "Escalated alert"
    incident = pager.incident(alert_id)
    assert (incident["status"], incident["level"]) == ("triggered", 2)


# -- Opsgenie's official Node SDK


@pytest.fixture(scope="module")
def node() -> str:
    found = shutil.which("node")
    missing = None
    if found is None:
        missing = "node is missing: apt-get install nodejs npm"
    elif not (NODE_CLIENTS / "node_modules" / "opsgenie-sdk").is_dir():
        missing = f"the Node clients are not installed: cd {NODE_CLIENTS} && npm ci"
    if missing is not None:
        if running_in_ci():
            pytest.fail(missing)
        pytest.skip(missing)
    assert found is not None
    return found


def test_opsgenie_node_sdk_creates_polls_reads_acknowledges_and_closes(
    pager: Pager, certificate: Certificate, node: str
) -> None:
    service_id, key = pager.service()
    env = {
        "PATH": "/usr/bin:/bin",
        "PAGER_URL": pager.url,
        "GENIE_KEY": key,
        "ALIAS": "queue-depth",
        "NODE_EXTRA_CA_CERTS": str(certificate.cert),
    }
    run = subprocess.run(
        [node, "opsgenie.js"], cwd=NODE_CLIENTS, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    answers = json.loads(run.stdout)
    assert answers["create"]["result"] == "Request will be processed"
    created = answers["createStatus"]["data"]
    incident_id = created["alertId"]
    assert (created["isSuccess"], created["action"], created["alias"]) == (
        True,
        "Create",
        "queue-depth",
    )
    assert pager.incident(incident_id)["service"] == service_id
    assert answers["get"] == {**answers["getByAlias"], "took": answers["get"]["took"],
                              "requestId": answers["get"]["requestId"]}  # fmt: skip
    alert = answers["get"]["data"]
    assert (alert["id"], alert["alias"], alert["priority"]) == (incident_id, "queue-depth", "P2")
    assert answers["acknowledgeStatus"]["data"]["status"] == "Acknowledged alert"
    assert answers["afterAcknowledge"]["data"]["acknowledged"] is True
    assert answers["noteStatus"]["data"]["status"] == "Added note"
    assert answers["unacknowledgeStatus"]["data"]["isSuccess"] is True
    assert answers["afterUnacknowledge"]["data"]["acknowledged"] is False
    assert answers["snoozeStatus"]["data"]["status"] == "Snoozed alert"
    snoozed = answers["afterSnooze"]["data"]
    assert (snoozed["snoozed"], snoozed["acknowledged"]) == (True, True)
    assert snoozed["snoozedUntil"] == answers["snoozedUntil"]
    assert answers["escalateStatus"]["data"]["status"] == "Escalated alert"
    assert answers["afterEscalate"]["data"]["snoozed"] is False
    assert pager.incident(incident_id)["level"] == 2
    assert answers["closeStatus"]["data"]["alertId"] == incident_id
    assert answers["afterClose"]["data"]["status"] == "closed"
    assert [a["id"] for a in answers["list"]["data"]] == [incident_id]
    assert pager.get_service(service_id)["state"] == "healthy"
