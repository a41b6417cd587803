"""PagerDuty's official Python client for the REST API v2 (`pagerduty.RestApiV2Client`,
which refuses any http:// URL) against `pagerd serve` over HTTPS, changed only in its base
URL (`<Pager>/pagerduty`): an alert triggered with the Events API client is noted, snoozed,
escalated, acknowledged and resolved through the REST client, and read back; the README's
example runs as it is shown."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pagerduty
import pytest

from tests.e2e.conftest import Pager, start_pager
from tests.support.readme import snippet
from tests.support.servers import Certificate


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return Certificate.create(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def pager(tmp_path_factory: pytest.TempPathFactory, certificate: Certificate) -> Iterator[Pager]:
    workdir = tmp_path_factory.mktemp("pager-pagerduty-rest")
    yield from start_pager(f"sqlite:///{workdir / 'pager.db'}", workdir, tls=certificate)


def test_the_rest_api_client_acts_on_an_incident(pager: Pager, certificate: Certificate) -> None:
    service_id, key = pager.service()
    verify = certificate.client_context()
    with pagerduty.EventsApiV2Client(key, base_url=pager.url, verify=verify) as events:
        events.trigger("Disk 95% full on db-1", "db-1", dedup_key="disk-db-1")
    opened = pager.open_incident(service_id)
    assert opened is not None
    incident_id = opened["id"]

    client = pagerduty.RestApiV2Client(
        pager.admin_token, default_from="admin@example.com", verify=verify
    )
    client.url = pager.url + "/pagerduty"
    with client:
        incident = client.rget(f"incidents/{incident_id}")
        assert isinstance(incident, dict)
        assert (incident["id"], incident["status"], incident["summary"]) == (
            incident_id,
            "triggered",
            "Disk 95% full on db-1",
        )
        assert incident["service"]["id"] == service_id
        assert incident["html_url"] == f"{pager.url}/incidents/{incident_id}"

        note = client.rpost(f"incidents/{incident_id}/notes", json={"content": "rolling back"})
        assert isinstance(note, dict)
        assert note["content"] == "rolling back"
        assert note["user"]["summary"] == "admin@example.com"

        snoozed = client.rpost(f"incidents/{incident_id}/snooze", json={"duration": 3600})
        assert isinstance(snoozed, dict)
        assert snoozed["status"] == "acknowledged"

        # The incident itself (its `self`) as the resource, as scripts often pass it.
        escalated = client.rput(
            incident, json={"type": "incident_reference", "escalation_level": 2}
        )
        assert isinstance(escalated, dict)
        assert (escalated["escalation_level"], escalated["status"]) == (2, "triggered")

        with pytest.raises(pagerduty.HttpError) as refused:
            client.rput(f"incidents/{incident_id}", json={"status": "triggered"})
        assert refused.value.response.status_code == 400
        assert refused.value.response.json()["error"]["code"] == 2001

        acknowledged = client.rput(
            f"incidents/{incident_id}",
            json={"type": "incident_reference", "status": "acknowledged"},
        )
        assert isinstance(acknowledged, dict)
        assert acknowledged["status"] == "acknowledged"
        resolved = client.rput(
            f"incidents/{incident_id}", json={"type": "incident_reference", "status": "resolved"}
        )
        assert isinstance(resolved, dict)
        assert resolved["status"] == "resolved"

        read = client.rget(f"incidents/{incident_id}")
        assert isinstance(read, dict)
        assert read["status"] == "resolved"
        assert read["resolved_at"]
        notes = client.rget(f"incidents/{incident_id}/notes")
        assert [n["content"] for n in notes] == ["rolling back"]

    # All of it on the incident's own timeline, by the token's user.
    timeline = pager.incident(incident_id)["timeline"]
    done = {entry["type"]: entry["data"].get("by") for entry in timeline}
    for kind in ("NoteAdded", "Snoozed", "Escalated", "Acknowledged", "IncidentResolved"):
        assert done.get(kind) == "admin@example.com", (kind, done)


def test_a_wrong_token_is_pagerdutys_401(pager: Pager, certificate: Certificate) -> None:
    client = pagerduty.RestApiV2Client("not-a-token", verify=certificate.client_context())
    client.url = pager.url + "/pagerduty"
    with client, pytest.raises(pagerduty.HttpError) as refused:
        client.rget("incidents/anything")
    assert refused.value.response.status_code == 401
    assert refused.value.response.json()["error"]["code"] == 2006


def test_the_readmes_example_notes_and_acknowledges(pager: Pager, certificate: Certificate) -> None:
    service_id, key = pager.service()
    sent = pager.client(key).post("/api/v1/alerts", json={"service": service_id, "message": "x"})
    assert sent.status_code == 202, sent.text
    incident_id = sent.json()["incident_id"]
    env = {
        **os.environ,
        "PAGER_URL": pager.url,
        "PAGER_TOKEN": pager.admin_token,
        "INCIDENT_ID": incident_id,
        "SSL_CERT_FILE": str(certificate.cert),  # the reader's trust of Pager's certificate
    }
    done = subprocess.run(
        [sys.executable, "-c", snippet("pagerduty-rest")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    detail = pager.incident(incident_id)
    assert detail["status"] == "acknowledged"
    notes = [e["data"]["text"] for e in detail["timeline"] if e["type"] == "NoteAdded"]
    assert notes == ["Rolling back checkout 4.2.1"]
