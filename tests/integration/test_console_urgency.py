"""The console shows and edits a service's low-urgency severities, and marks a low-urgency
incident wherever it is shown, with its timeline saying what was held back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.test_console import Console, make_console
from tests.support.clock import FakeClock


@pytest.fixture
def console(database_url: str, clock: FakeClock) -> Iterator[Console]:
    with make_console(database_url, clock) as console:
        yield console


def test_admins_choose_the_severities_a_service_pages_at_low_urgency(console: Console) -> None:
    assert "Every alert pages at high urgency." in console.admin.get("/services/db").text
    form = {
        "name": "Database",
        "policy": "ops",
        "low_urgency": ["info", "warning", "nonsense"],
        "csrf_token": console.admin.csrf("/services/db"),
    }
    answer = console.admin.client.post("/services/db", data=form, follow_redirects=False)
    assert answer.status_code in (200, 303), answer.text  # 200: with its new key
    page = console.admin.get("/services/db").text
    assert "Low urgency for warning, info alerts" in page
    assert 'value="warning" checked' in page
    assert 'value="critical">' in page
    [view] = console.app.queries.services()
    assert view.low_urgency_severities == ("warning", "info")


def test_a_new_service_is_made_with_its_low_urgency_severities(console: Console) -> None:
    form = {
        "id": "disks",
        "name": "Disks",
        "policy": "ops",
        "low_urgency": ["info", "warning"],
        "csrf_token": console.admin.csrf("/services/new"),
    }
    answer = console.admin.client.post("/services", data=form)
    assert answer.status_code == 200, answer.text
    assert "Low urgency for warning, info alerts" in answer.text
    view = console.app.queries.service("disks")
    assert view is not None
    assert view.low_urgency_severities == ("warning", "info")


def test_a_refused_new_service_keeps_the_severities_ticked(console: Console) -> None:
    form = {
        "id": "Not An Id",
        "name": "Disks",
        "policy": "ops",
        "low_urgency": ["info"],
        "csrf_token": console.admin.csrf("/services/new"),
    }
    answer = console.admin.client.post("/services", data=form)
    assert answer.status_code == 422
    assert 'value="info" checked' in answer.text
    assert 'value="warning">' in answer.text
    assert console.app.queries.service("disks") is None


def test_a_low_urgency_incident_is_marked_and_its_timeline_says_why(console: Console) -> None:
    console.app.handlers.define_service("db", "Database", "ops", ("warning",))
    incident_id = console.app.handlers.receive_alert(
        "db", "disk 91% full", severity="warning"
    ).incident_id
    page = console.responder.get(f"/incidents/{incident_id}").text
    assert '<span class="badge low-urgency">low urgency</span>' in page
    assert 'id="low-urgency"' in page
    assert "Opened by an alert from api at low urgency" in page
    assert "Paged level 1 at low urgency" in page
    assert "sms +14155550100 not paged: low urgency: sms is paged at high urgency only." in page
    assert "low urgency" in console.responder.get("/").text

    console.app.handlers.receive_alert("db", "disk 99% full", dedup_key="k2", severity="critical")
    page = console.responder.get(f"/incidents/{incident_id}").text
    assert "Raised to high urgency by a critical alert from api" in page
    assert 'id="low-urgency"' not in page
    assert "<dt>Severity</dt><dd>critical</dd>" in page
