"""Heartbeats through the HTTP API on SQLite and PostgreSQL: defined by admins, pinged with
the service's integration key (and at Opsgenie's ping), missed through the durable timers,
resolved by the next ping; moved, removed and refused as the contract says."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from pager.adapters.storage import tables as t
from pager.adapters.storage.timers import SqlTimerQueue
from pager.application.heartbeats import Heartbeats
from pager.application.queries import HeartbeatView, ReadModel
from pager.bootstrap import App, bootstrap
from pager.config import Settings
from pager.domain.commands import DefineHeartbeat, PingHeartbeat, RemoveHeartbeat
from pager.entrypoints.cli_admin import accounts_for
from pager.entrypoints.http.app import create_app
from pager.entrypoints.worker import TimersModule
from tests.integration.test_console import make_console
from tests.support.builders import two_level_policy
from tests.support.clock import FakeClock

BEAT = "nightly-backup"
BODY = {"service": "db", "interval_seconds": 3600, "grace_seconds": 300}


@dataclass
class Api:
    client: TestClient
    container: App
    clock: FakeClock
    token: str
    keys: dict[str, str]

    def key(self, service: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[service]}"}

    def genie(self, service: str) -> dict[str, str]:
        return {"Authorization": f"GenieKey {self.keys[service]}"}

    def fire_due_timers(self) -> int:
        module = TimersModule(
            SqlTimerQueue(self.container.engine), self.container.handlers, self.clock
        )
        return asyncio.run(module.tick())

    def heartbeat_timers(self) -> list[tuple[str, str, int]]:
        query = sa.select(t.timers.c.subject, t.timers.c.service_id, t.timers.c.level).where(
            t.timers.c.kind == "heartbeat"
        )
        with self.container.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(query)]  # type: ignore[misc]

    def incidents(self, service: str) -> list[dict[str, object]]:
        found: list[dict[str, object]] = self.client.get(
            "/api/v1/incidents", params={"service": service}
        ).json()["incidents"]
        return found


def opened_total() -> float:
    return REGISTRY.get_sample_value("pager_incidents_opened_total") or 0.0


@pytest.fixture
def api(database_url: str, clock: FakeClock) -> Iterator[Api]:
    container = bootstrap(Settings(database_url=database_url), clock=clock)
    accounts = accounts_for(container.engine)
    accounts.add_user("admin@example.com", "admin")
    token = accounts.create_token("admin@example.com")
    container.handlers.define_policy(two_level_policy())
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(container), headers=headers) as client:
        keys = {}
        for service in ("db", "web"):
            made = client.put(
                f"/api/v1/services/{service}", json={"name": service, "escalation_policy": "ops"}
            )
            keys[service] = made.json()["integration_key"]
        yield Api(client, container, clock, token, keys)
    container.engine.dispose()


def test_a_heartbeat_is_defined_shown_and_listed(api: Api) -> None:
    made = api.client.put(f"/api/v1/heartbeats/{BEAT}", json=BODY)
    assert made.status_code == 201
    body = made.json()
    assert body["service"] == "db"
    assert body["state"] == "new"
    assert body["last_ping_at"] is None
    assert body["due_at"] is not None
    assert api.client.put(f"/api/v1/heartbeats/{BEAT}", json=BODY).status_code == 200
    assert api.client.get(f"/api/v1/heartbeats/{BEAT}").json() == body
    assert [b["id"] for b in api.client.get("/api/v1/heartbeats").json()["heartbeats"]] == [BEAT]
    listed = api.client.get("/api/v1/heartbeats", params={"service": "web"}).json()
    assert listed == {"heartbeats": []}
    assert len(api.heartbeat_timers()) == 1


def test_a_missed_heartbeat_pages_and_the_next_ping_resolves_it(api: Api) -> None:
    api.client.put(f"/api/v1/heartbeats/{BEAT}", json=BODY)
    api.clock.advance(3600 + 299)
    assert api.fire_due_timers() == 0
    api.clock.advance(2)
    opened = opened_total()
    assert api.fire_due_timers() == 1
    assert opened_total() == opened + 1  # counted, as an alert's incident is
    [incident] = api.incidents("db")
    assert incident["status"] == "triggered"
    assert incident["dedup_keys"] == [f"heartbeat:{BEAT}"]
    assert str(incident["message"]).startswith(f"Heartbeat {BEAT} missed: never pinged since")
    detail = api.client.get(f"/api/v1/incidents/{incident['id']}").json()
    assert {n["channel"] for n in detail["notifications"]} == {"email", "sms"}
    assert api.client.get(f"/api/v1/heartbeats/{BEAT}").json()["state"] == "missed"
    assert api.heartbeat_timers() == []

    pinged = api.client.post(f"/api/v1/heartbeats/{BEAT}/ping", headers=api.key("db"))
    assert pinged.status_code == 200
    assert pinged.json()["state"] == "ok"
    [incident] = api.incidents("db")
    assert incident["status"] == "resolved"
    shown = api.client.get(f"/api/v1/heartbeats/{BEAT}").json()
    assert shown["state"] == "ok"
    assert shown["last_ping_at"] is not None
    assert len(api.heartbeat_timers()) == 1


def test_a_ping_before_the_deadline_moves_it(api: Api) -> None:
    api.client.put(f"/api/v1/heartbeats/{BEAT}", json=BODY)
    api.clock.advance(3000)
    assert api.client.get(f"/api/v1/heartbeats/{BEAT}/ping", headers=api.key("db")).is_success
    api.clock.advance(3600 + 300 - 3000 + 1)  # past the first deadline
    assert api.fire_due_timers() == 0
    assert api.incidents("db") == []
    api.clock.advance(3000)
    assert api.fire_due_timers() == 1
    [incident] = api.incidents("db")
    assert "last seen at" in str(incident["message"])


def test_a_ping_takes_only_the_heartbeats_own_services_key(api: Api) -> None:
    api.client.put(f"/api/v1/heartbeats/{BEAT}", json=BODY)
    ping = f"/api/v1/heartbeats/{BEAT}/ping"
    other = api.client.post(ping, headers=api.key("web"))
    assert other.status_code == 404
    assert other.json()["error"]["code"] == "not_found"
    assert api.client.post(ping, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert api.client.post(ping, headers={"Authorization": ""}).status_code == 401
    assert api.client.post(ping).status_code == 403  # the admin's API token
    assert api.client.get(f"/api/v1/heartbeats/{BEAT}").json()["state"] == "new"
    assert api.client.post("/api/v1/heartbeats/nope/ping", headers=api.key("db")).status_code == 404


def test_defining_takes_an_admin(api: Api) -> None:
    accounts = accounts_for(api.container.engine)
    accounts.add_user("responder@example.com", "responder")
    responder = {"Authorization": f"Bearer {accounts.create_token('responder@example.com')}"}
    assert (
        api.client.put(f"/api/v1/heartbeats/{BEAT}", json=BODY, headers=responder).status_code
        == 403
    )
    keyed = api.client.put(f"/api/v1/heartbeats/{BEAT}", json=BODY, headers=api.key("db"))
    assert keyed.status_code == 403
    assert api.client.get("/api/v1/heartbeats", headers={"Authorization": ""}).status_code == 401
    assert api.client.get("/api/v1/heartbeats", headers=responder).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**BODY, "interval_seconds": 59}, "interval_seconds"),
        ({**BODY, "interval_seconds": 7 * 86400 + 1}, "interval_seconds"),
        ({**BODY, "interval_seconds": "3600"}, "interval_seconds"),
        ({**BODY, "grace_seconds": -1}, "grace_seconds"),
        ({**BODY, "grace_seconds": 86401}, "grace_seconds"),
        ({**BODY, "service": "Not A Slug"}, "service"),
        ({"interval_seconds": 3600}, "service"),
        ({**BODY, "enabled": True}, "enabled"),
    ],
)
def test_bad_definitions_are_422s_naming_the_field(
    api: Api, body: dict[str, object], field: str
) -> None:
    answer = api.client.put(f"/api/v1/heartbeats/{BEAT}", json=body)
    assert answer.status_code == 422
    assert [p["field"] for p in answer.json()["error"]["problems"]] == [field]
    assert api.client.get(f"/api/v1/heartbeats/{BEAT}").status_code == 404


def test_bad_ids_and_unknown_services_are_refused(api: Api) -> None:
    assert api.client.put("/api/v1/heartbeats/Bad_Id", json=BODY).status_code == 422
    unknown = api.client.put(f"/api/v1/heartbeats/{BEAT}", json={**BODY, "service": "nope"})
    assert unknown.status_code == 404
    assert "nope" in unknown.json()["error"]["message"]
    assert api.client.get(f"/api/v1/heartbeats/{BEAT}").status_code == 404
    assert api.client.delete(f"/api/v1/heartbeats/{BEAT}").status_code == 404


def test_a_heartbeat_moves_to_another_service_in_one_step(api: Api) -> None:
    api.client.put(f"/api/v1/heartbeats/{BEAT}", json=BODY)
    moved = api.client.put(f"/api/v1/heartbeats/{BEAT}", json={**BODY, "service": "web"})
    assert moved.status_code == 200
    assert moved.json()["service"] == "web"
    [(subject, service, _)] = api.heartbeat_timers()
    assert (subject, service) == (BEAT, "web")
    ping = f"/api/v1/heartbeats/{BEAT}/ping"
    assert api.client.post(ping, headers=api.key("db")).status_code == 404
    assert api.client.post(ping, headers=api.key("web")).status_code == 200
    api.clock.advance(3600 + 301)
    assert api.fire_due_timers() == 1
    assert api.incidents("db") == []
    assert len(api.incidents("web")) == 1


def test_moving_a_missed_heartbeat_resolves_its_alert_on_the_old_service(api: Api) -> None:
    api.client.put(f"/api/v1/heartbeats/{BEAT}", json=BODY)
    api.clock.advance(3600 + 301)
    api.fire_due_timers()
    api.client.put(f"/api/v1/heartbeats/{BEAT}", json={**BODY, "service": "web"})
    [incident] = api.incidents("db")
    assert incident["status"] == "resolved"
    assert api.client.get(f"/api/v1/heartbeats/{BEAT}").json()["state"] == "new"


def test_removing_a_heartbeat_drops_its_timer(api: Api) -> None:
    api.client.put(f"/api/v1/heartbeats/{BEAT}", json=BODY)
    assert api.client.delete(f"/api/v1/heartbeats/{BEAT}").status_code == 204
    assert api.client.get(f"/api/v1/heartbeats/{BEAT}").status_code == 404
    assert api.heartbeat_timers() == []
    api.clock.advance(3600 + 301)
    assert api.fire_due_timers() == 0
    assert api.incidents("db") == []


def test_deleting_the_service_removes_its_heartbeats(api: Api) -> None:
    api.client.put(f"/api/v1/heartbeats/{BEAT}", json=BODY)
    assert api.client.delete("/api/v1/services/db").status_code == 204
    assert api.client.get("/api/v1/heartbeats").json() == {"heartbeats": []}
    assert api.heartbeat_timers() == []


def test_opsgenie_pings_answer_as_opsgenie_does(api: Api) -> None:
    api.client.put(f"/api/v1/heartbeats/{BEAT}", json=BODY)
    for method in ("GET", "POST", "PUT"):
        answer = api.client.request(method, f"/v2/heartbeats/{BEAT}/ping", headers=api.genie("db"))
        assert answer.status_code == 202
        body = answer.json()
        assert body["result"] == f"PING - Heartbeat [{BEAT}] is updated"
        assert isinstance(body["took"], float)
        assert body["requestId"]
    assert (
        api.client.head(f"/v2/heartbeats/{BEAT}/ping", headers=api.genie("db")).status_code == 202
    )
    assert api.client.get(f"/api/v1/heartbeats/{BEAT}").json()["state"] == "ok"


def test_opsgenie_pings_are_refused_in_opsgenie_shape(api: Api) -> None:
    api.client.put(f"/api/v1/heartbeats/{BEAT}", json=BODY)
    for name, headers, status in [
        (BEAT, api.genie("web"), 404),
        ("Nightly Backup", api.genie("db"), 404),
        (BEAT, {"Authorization": "GenieKey nope"}, 401),
        (BEAT, {"Authorization": f"Bearer {api.keys['db']}"}, 401),
    ]:
        answer = api.client.post(f"/v2/heartbeats/{name}/ping", headers=headers)
        assert answer.status_code == status
        body = answer.json()
        assert body["message"]
        assert body["requestId"]


def test_the_service_page_shows_each_heartbeats_state_and_last_ping(
    database_url: str, clock: FakeClock
) -> None:
    with make_console(database_url, clock) as console:
        handlers = console.app.handlers
        handlers.execute([DefineHeartbeat("db", "backup", 3600, 0)])
        handlers.execute([DefineHeartbeat("db", "cron", 60, 30)])
        clock.advance(600)
        handlers.run(PingHeartbeat("db", "cron"))
        clock.advance(120)
        page = console.responder.get("/services/db").text
        backup = page[page.index('id="heartbeat-backup"') :].split("</li>")[0]
        cron = page[page.index('id="heartbeat-cron"') :].split("</li>")[0]
        assert ">new<" in backup
        assert "never pinged" in backup
        assert "every 1 h" in backup
        assert ">ok<" in cron
        assert "last ping" in cron
        assert "2 min ago" in cron
        assert "(+30 s grace)" in cron


def test_a_move_holds_whatever_order_its_services_commit_in(api: Api) -> None:
    """Group commit may put the new service's definition before the old one's removal."""
    api.client.put(f"/api/v1/heartbeats/{BEAT}", json=BODY)
    api.container.handlers.execute(
        [DefineHeartbeat("web", BEAT, 3600, 300), RemoveHeartbeat("db", BEAT)]
    )
    assert api.client.get(f"/api/v1/heartbeats/{BEAT}").json()["service"] == "web"
    [(subject, service, _)] = api.heartbeat_timers()
    assert (subject, service) == (BEAT, "web")


@dataclass
class ReadBeforeTheOtherAdmin:
    """The read model as a PUT saw it just before another admin's PUT committed: without the
    heartbeat, the first time it is asked."""

    queries: ReadModel
    asked: int = 0

    def heartbeat(self, heartbeat_id: str) -> HeartbeatView | None:
        self.asked += 1
        return None if self.asked == 1 else self.queries.heartbeat(heartbeat_id)


def test_two_admins_creating_one_heartbeat_on_two_services_make_it_a_move(api: Api) -> None:
    api.client.put(f"/api/v1/heartbeats/{BEAT}", json={**BODY, "service": "web"})
    late = ReadBeforeTheOtherAdmin(api.container.queries)
    Heartbeats(api.container.handlers, late).define(BEAT, "db", 3600, 300)  # type: ignore[arg-type]
    assert api.client.get(f"/api/v1/heartbeats/{BEAT}").json()["service"] == "db"
    [(subject, service, _)] = api.heartbeat_timers()
    assert (subject, service) == (BEAT, "db")
