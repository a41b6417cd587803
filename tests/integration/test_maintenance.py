"""Maintenance windows through the API, on SQLite and PostgreSQL: alerts during a window are
recorded on the service's timeline and page nobody; one still firing at the end (its durable
timer) or when the window is ended early opens its incident then; bad input is a 422 naming
the field."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from pager.adapters.storage import tables as t
from pager.adapters.storage.codec import decode_event, decode_service_state
from pager.bootstrap import App, bootstrap
from pager.config import Settings
from pager.domain.incident import ServiceState, fold
from pager.entrypoints.cli_admin import accounts_for
from pager.entrypoints.http.app import create_app
from pager.entrypoints.worker import TimersModule
from tests.support.builders import two_level_policy
from tests.support.clock import FakeClock


@pytest.fixture
def app(database_url: str, clock: FakeClock) -> Iterator[App]:
    container = bootstrap(Settings(database_url=database_url), clock=clock)
    container.handlers.define_policy(two_level_policy())
    container.handlers.define_service("db", "Database", "ops")
    yield container
    container.engine.dispose()


@pytest.fixture
def client(app: App) -> Iterator[TestClient]:
    accounts = accounts_for(app.engine)
    accounts.add_user("rita@example.com", "responder")
    token = accounts.create_token("rita@example.com")
    with TestClient(create_app(app), headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


def fire_due_timers(app: App) -> int:
    timers = TimersModule(app.worker_parts({}).timers, app.handlers, app.clock)
    return asyncio.run(timers.tick())


def pages(app: App) -> int:
    with app.engine.connect() as conn:
        return conn.scalar(sa.select(sa.func.count()).select_from(t.notifications)) or 0


def alert(client: TestClient, key: str | None = "disk") -> dict[str, Any]:
    body: dict[str, Any] = {"service": "db", "message": "disk full"}
    if key:
        body["dedup_key"] = key
    answer = client.post("/api/v1/alerts", json=body)
    assert answer.status_code == 202, answer.text
    found: dict[str, Any] = answer.json()
    return found


def event_types(client: TestClient) -> list[str]:
    events = client.get("/api/v1/services/db/events").json()["events"]
    return [event["type"] for event in events]


def test_a_webhooks_alerts_in_a_window_are_each_counted_as_suppressed(
    app: App, client: TestClient
) -> None:
    assert client.post("/api/v1/services/db/maintenance", json={"duration_minutes": 60}).is_success
    key = app.accounts.rotate_integration_key("db").key
    alerts = [{"labels": {"alertname": "DiskFull", "instance": f"db-{n}"}} for n in range(3)]
    answer = client.post(
        "/integrations/alertmanager",
        json={"version": "4", "alerts": alerts},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert answer.status_code == 202, answer.text
    assert [a["action"] for a in answer.json()["alerts"]] == ["suppressed"] * 3
    [listed] = client.get("/api/v1/services/db/maintenance").json()["windows"]
    assert listed["suppressed"] == 3  # three in one commit, each counted
    assert pages(app) == 0


def test_an_alert_in_a_window_pages_nobody_and_still_firing_at_the_end_pages_then(
    app: App, client: TestClient, clock: FakeClock
) -> None:
    made = client.post("/api/v1/services/db/maintenance", json={"duration_minutes": 60})
    assert made.status_code == 201, made.text
    window = made.json()
    assert window["start"] == clock.now().isoformat().replace("+00:00", "Z")
    assert (window["in_force"], window["created_by"], window["ended_at"]) == (
        True,
        "rita@example.com",
        None,
    )
    service = client.get("/api/v1/services/db").json()
    assert service["in_maintenance"] is True
    assert [w["id"] for w in service["maintenance"]] == [window["id"]]

    assert alert(client)["action"] == "suppressed"
    assert alert(client)["action"] == "suppressed"  # a re-send: nothing more recorded
    assert pages(app) == 0
    assert client.get("/api/v1/incidents").json()["incidents"] == []
    assert event_types(client)[-2:] == ["MaintenanceScheduled", "AlertSuppressed"]
    [listed] = client.get("/api/v1/services/db/maintenance").json()["windows"]
    assert listed["suppressed"] == 1

    clock.advance(59 * 60)
    assert fire_due_timers(app) == 0
    clock.advance(60)
    assert fire_due_timers(app) == 1
    [incident] = client.get("/api/v1/incidents").json()["incidents"]
    assert (incident["message"], incident["dedup_keys"], incident["level"]) == (
        "disk full",
        ["disk"],
        1,
    )
    assert pages(app) > 0
    service = client.get("/api/v1/services/db").json()
    assert (service["in_maintenance"], service["maintenance"], service["state"]) == (
        False,
        [],
        "unhealthy",
    )
    assert client.get("/api/v1/services/db/maintenance").json()["windows"] == []


def test_an_alert_resolved_during_the_window_opens_nothing_at_the_end(
    app: App, client: TestClient, clock: FakeClock
) -> None:
    client.post("/api/v1/services/db/maintenance", json={"duration_minutes": 10})
    alert(client)
    resolved = client.post(
        "/v2/enqueue",
        json={"routing_key": _key(app), "event_action": "resolve", "dedup_key": "disk"},
    )
    assert resolved.status_code == 202, resolved.text
    assert event_types(client)[-1] == "SuppressedAlertsResolved"
    clock.advance(600)
    assert fire_due_timers(app) == 1
    assert client.get("/api/v1/incidents").json()["incidents"] == []
    assert pages(app) == 0


def _key(app: App) -> str:
    return app.accounts.rotate_integration_key("db").key


def test_ending_a_window_early_pages_what_still_fires_and_its_timer_goes(
    app: App, client: TestClient, clock: FakeClock
) -> None:
    window = client.post("/api/v1/services/db/maintenance", json={"duration_minutes": 60}).json()
    alert(client)
    clock.advance(60)
    ended = client.delete(f"/api/v1/services/db/maintenance/{window['id']}")
    assert ended.status_code == 200, ended.text
    assert ended.json()["ended_by"] == "rita@example.com"
    assert ended.json()["ended_at"] is not None
    assert len(client.get("/api/v1/incidents").json()["incidents"]) == 1
    with app.engine.connect() as conn:
        kinds = conn.scalars(sa.select(t.timers.c.kind)).all()
    assert kinds == ["ack"]  # the window's end timer went with it
    again = client.delete(f"/api/v1/services/db/maintenance/{window['id']}")
    assert again.status_code == 404


def test_a_window_to_come_begins_with_its_timer_and_alerts_before_it_page(
    app: App, client: TestClient, clock: FakeClock
) -> None:
    start = clock.now() + timedelta(minutes=5)
    body = {"start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat()}
    window = client.post("/api/v1/services/db/maintenance", json=body).json()
    assert window["in_force"] is False
    assert client.get("/api/v1/services/db").json()["in_maintenance"] is False
    clock.advance(300)
    assert fire_due_timers(app) == 1
    assert event_types(client)[-1] == "MaintenanceStarted"
    assert alert(client)["action"] == "suppressed"


def test_cancelling_a_window_to_come_drops_both_its_timers(
    app: App, client: TestClient, clock: FakeClock
) -> None:
    start = clock.now() + timedelta(hours=1)
    body = {"start": start.isoformat(), "duration_minutes": 30}
    window = client.post("/api/v1/services/db/maintenance", json=body).json()
    assert window["end"] == (start + timedelta(minutes=30)).isoformat().replace("+00:00", "Z")
    with app.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(t.timers)) == 2
    assert client.delete(f"/api/v1/services/db/maintenance/{window['id']}").status_code == 200
    with app.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(t.timers)) == 0
    assert alert(client)["action"] == "opened"


def test_an_incident_open_when_a_window_starts_carries_on(
    app: App, client: TestClient, clock: FakeClock
) -> None:
    opened = alert(client)
    client.post("/api/v1/services/db/maintenance", json={"duration_minutes": 60})
    assert alert(client, "cpu")["action"] == "attached"
    assert client.get(f"/api/v1/incidents/{opened['incident_id']}").json()["alert_count"] == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "end"),
        ({"end": "2026-01-01T04:00:00Z", "duration_minutes": 5}, "end"),
        ({"end": "2025-12-31T00:00:00Z"}, "end"),
        ({"start": "2026-01-01T05:00:00Z", "end": "2026-01-01T04:00:00Z"}, "end"),
        ({"end": "2026-03-01T00:00:00Z"}, "end"),
        ({"end": "2026-01-01T04:00:00"}, "end"),
        ({"end": "tomorrow"}, "end"),
        ({"end": 1767243600}, "end"),
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"duration_minutes": 60 * 24 * 31}, "duration_minutes"),
        ({"duration_minutes": "60"}, "duration_minutes"),
        ({"duration_minutes": 60, "until": "x"}, "until"),
    ],
)
def test_bad_windows_are_a_422_naming_the_field(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    answer = client.post("/api/v1/services/db/maintenance", json=body)
    assert answer.status_code == 422, answer.text
    assert [p["field"] for p in answer.json()["error"]["problems"]] == [field]
    assert client.get("/api/v1/services/db/maintenance").json()["windows"] == []


def test_unknown_services_and_windows_are_404_and_callers_must_be_users(
    app: App, client: TestClient
) -> None:
    assert (
        client.post("/api/v1/services/nope/maintenance", json={"duration_minutes": 5}).status_code
        == 404
    )
    assert client.get("/api/v1/services/nope/maintenance").status_code == 404
    assert client.delete("/api/v1/services/db/maintenance/nope").status_code == 404
    key = {"Authorization": f"Bearer {_key(app)}"}
    refused = client.post(
        "/api/v1/services/db/maintenance", json={"duration_minutes": 5}, headers=key
    )
    assert refused.status_code in (401, 403)
    anonymous = client.post(
        "/api/v1/services/db/maintenance",
        json={"duration_minutes": 5},
        headers={"Authorization": ""},
    )
    assert anonymous.status_code == 401


def test_deleting_a_service_drops_its_windows_and_their_timers(
    app: App, client: TestClient, clock: FakeClock
) -> None:
    start = clock.now() + timedelta(minutes=5)
    body = {"start": start.isoformat(), "duration_minutes": 30}
    assert client.post("/api/v1/services/db/maintenance", json=body).status_code == 201
    app.handlers.delete_service("db")
    with app.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(t.timers)) == 0
        windows = conn.scalar(sa.select(sa.func.count()).select_from(t.maintenance_windows))
    assert windows == 0
    app.handlers.define_service("db", "Database", "ops")
    clock.advance(3600)
    assert fire_due_timers(app) == 0
    assert alert(client)["action"] == "opened"


def test_what_a_window_holds_is_in_the_snapshot_as_in_the_stream(
    app: App, client: TestClient
) -> None:
    client.post("/api/v1/services/db/maintenance", json={"duration_minutes": 60})
    alert(client)
    with app.engine.connect() as conn:
        [(stored,)] = conn.execute(
            sa.select(t.streams.c.snapshot).where(t.streams.c.stream_id == "service:db")
        ).all()
        events = conn.execute(
            sa.select(t.events.c.type, t.events.c.data)
            .where(t.events.c.stream_id == "service:db")
            .order_by(t.events.c.version)
        ).all()
    snapshot = decode_service_state(stored if isinstance(stored, str) else json.dumps(stored))
    folded = fold(ServiceState("db"), [decode_event(type_, data) for type_, data in events])
    assert snapshot == folded
    assert [a.dedup_key for a in snapshot.held] == ["disk"]
    assert len(snapshot.maintenance) == 1
