"""Maintenance windows in the console (FastAPI's TestClient, real SQLite and PostgreSQL):
"for 1 h" and "until ..." from the service page, the window in force with "End now", and the
alerts it recorded on the service's timeline."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.integration.test_console import RESPONDER, Console, make_console
from tests.support.clock import FakeClock


@pytest.fixture
def console(database_url: str, clock: FakeClock) -> Iterator[Console]:
    with make_console(database_url, clock) as console:
        yield console


# The console's clock: Thursday 2026-01-01 03:00 UTC.


def test_for_one_hour_records_alerts_and_pages_nobody_until_end_now(console: Console) -> None:
    page = console.responder.get("/services/db").text
    assert "Not in maintenance" in page
    answer = console.responder.post("/services/db/maintenance", {"hours": "1"})
    assert answer.status_code == 303
    page = console.responder.get("/services/db").text
    assert "In maintenance until Thu 01 Jan 04:00" in page
    assert (
        '<span class="badge maintenance">in maintenance</span>' in console.responder.get("/").text
    )
    assert "alerts page nobody." in page  # the flash

    outcome = console.app.handlers.receive_alert("db", "disk full", dedup_key="disk")
    assert outcome.action == "suppressed"
    page = console.responder.get("/services/db").text
    assert "Alert during maintenance, nobody paged: disk full (key disk)" in page
    assert "(1 so far)" in page
    set_by = f"Maintenance window set by {RESPONDER}, 2026-01-01 03:00 UTC to 2026-01-01 04:00 UTC"
    assert set_by in page

    [window] = re.findall(r'action="/services/db/maintenance/([0-9a-f]+)/end"', page)
    console.responder.post(f"/services/db/maintenance/{window}/end")
    page = console.responder.get("/services/db").text
    assert "Maintenance ended: alerts page again." in page
    assert f"Maintenance window ended early by {RESPONDER}" in page
    assert "Open incident: disk full" in page  # still firing: it pages now


def test_until_a_local_time_and_a_bad_one(console: Console) -> None:
    console.responder.post("/services/db/maintenance", {"until": "2026-01-01T05:30"})
    page = console.responder.get("/services/db").text
    assert "In maintenance until Thu 01 Jan 05:30" in page
    console.responder.post("/services/db/maintenance", {"until": "2025-12-31T05:30"})
    assert (
        "No maintenance window set: end: must be after start"
        in console.responder.get("/services/db").text
    )
    console.responder.post("/services/db/maintenance", {"until": "soon"})
    assert "until: pick a date and time" in console.responder.get("/services/db").text
    assert console.responder.post("/services/db/maintenance/nope/end").status_code == 303
    assert "has no maintenance window" in console.responder.get("/services/db").text


def test_the_forms_need_the_csrf_token(console: Console) -> None:
    for path in ("/services/db/maintenance", "/services/db/maintenance/w1/end"):
        answer = console.responder.post(path, {"hours": "1", "csrf_token": "forged"}, csrf=False)
        assert answer.status_code == 403, path
    assert console.app.queries.maintenance_windows("db") == []
