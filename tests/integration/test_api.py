"""The API in process (FastAPI's TestClient over real SQLite and PostgreSQL): hostile and odd
input that a client can send gets a clear 4xx, never a 500."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from pager.adapters.storage import tables as t
from pager.adapters.storage.engine import create_engine
from pager.bootstrap import bootstrap
from pager.config import Settings
from pager.entrypoints.cli_admin import accounts_for
from pager.entrypoints.http.app import create_app
from pager.entrypoints.http.errors import ApiError
from pager.entrypoints.http.limits import RateLimiter
from tests.support.builders import two_level_policy
from tests.support.clock import FakeClock


@contextmanager
def api_client(database_url: str, clock: FakeClock, **settings: Any) -> Iterator[TestClient]:
    """An admin's client of the API on the database, with these settings."""
    container = bootstrap(
        Settings(database_url=database_url, max_body_bytes=4096, **settings), clock=clock
    )
    accounts = accounts_for(container.engine)
    accounts.add_user("admin@example.com", "admin")
    token = accounts.create_token("admin@example.com")
    container.handlers.define_policy(two_level_policy())
    # A service made without the API (as `pagerd apply` may) has no integration key yet.
    container.handlers.define_service("db", "Database", "ops")
    with TestClient(
        create_app(container), headers={"Authorization": f"Bearer {token}"}
    ) as test_client:
        yield test_client
    container.engine.dispose()


@pytest.fixture
def client(database_url: str, clock: FakeClock) -> Iterator[TestClient]:
    with api_client(database_url, clock) as test_client:
        yield test_client


def test_a_service_without_a_key_gets_one_on_its_next_put(client: TestClient) -> None:
    assert client.get("/api/v1/services/db").json()["integration_key_hint"] is None
    answer = client.put(
        "/api/v1/services/db", json={"name": "Database", "escalation_policy": "ops"}
    )
    assert answer.status_code == 200
    key = answer.json()["integration_key"]
    assert key
    again = client.put("/api/v1/services/db", json={"name": "Database", "escalation_policy": "ops"})
    assert again.json()["integration_key"] is None
    sent = client.post(
        "/api/v1/alerts",
        json={"service": "db", "message": "x"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert sent.status_code == 202


def test_an_incident_says_how_many_of_its_pages_failed_for_good(
    client: TestClient, engine: sa.Engine
) -> None:
    incident_id = client.post("/api/v1/alerts", json={"service": "db", "message": "x"}).json()[
        "incident_id"
    ]
    assert client.get(f"/api/v1/incidents/{incident_id}").json()["failed_notifications"] == 0
    with engine.begin() as conn:
        conn.execute(
            t.notifications.update()
            .where(t.notifications.c.incident_id == incident_id, t.notifications.c.channel == "sms")
            .values(status="failed", last_error="400 not a valid phone number")
        )
    assert client.get(f"/api/v1/incidents/{incident_id}").json()["failed_notifications"] == 1
    (listed,) = client.get("/api/v1/incidents").json()["incidents"]
    assert (listed["id"], listed["failed_notifications"]) == (incident_id, 1)
    assert client.get("/api/v1/services/db").json()["open_incident"]["failed_notifications"] == 1


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        ("GET", "/api/v1/services/db%00", None, 422),
        ("GET", "/api/v1/incidents/x%00y", None, 422),
        ("GET", "/api/v1/incidents?service=db%00", None, 422),
        ("GET", "/api/v1/services/db/events?after=99999999999999999999", None, 422),
        ("PUT", "/api/v1/services/db", {"name": "a\u0000b", "escalation_policy": "ops"}, 422),
        ("PUT", "/api/v1/services/db", {"name": "x" * 300, "escalation_policy": "ops"}, 422),
        (
            "PUT",
            "/api/v1/escalation-policies/p",
            {"name": "p", "levels": [{"ack_timeout_seconds": 10**30, "targets": []}]},
            422,
        ),
        (
            "PUT",
            "/api/v1/escalation-policies/p",
            {
                "name": "p",
                "levels": [
                    {"targets": [{"type": "webhook", "url": "http://h.example/" + "a" * 600}]}
                ],
            },
            422,
        ),
        (
            "PUT",
            "/api/v1/escalation-policies/p",
            {
                "name": "p",
                "levels": [{"targets": [{"type": "email", "address": "a@b.co", "x": 1}]}],
            },
            422,
        ),
        ("POST", "/api/v1/alerts", {"service": "db", "message": "x", "dedup_key": "k\u0000"}, 422),
        ("POST", "/api/v1/incidents/nope/acknowledge", {"by": 12}, 422),
        ("POST", "/v2/alerts/x%00y/close", None, 401),
        ("DELETE", "/api/v1/users/not-an-email", None, 422),
    ],
)
def test_hostile_input_is_a_4xx(
    client: TestClient, method: str, path: str, body: object, expected: int
) -> None:
    answer = client.request(method, path, json=body)
    assert answer.status_code == expected, answer.text
    assert "error" in answer.json()


@pytest.mark.parametrize("allowed", [False, True])
def test_a_private_target_is_a_422_naming_its_place_unless_allowed(
    database_url: str, clock: FakeClock, allowed: bool
) -> None:
    targets = [
        {"type": "email", "address": "alice@example.com"},
        {"type": "webhook", "url": "http://10.1.2.3:8080/hook"},
    ]
    body = {"name": "Private", "levels": [{"targets": targets}]}
    with api_client(database_url, clock, allow_private_targets=allowed) as client:
        answer = client.put("/api/v1/escalation-policies/private", json=body)
    if allowed:
        assert answer.status_code == 201, answer.text
        return
    assert answer.status_code == 422, answer.text
    what = "10.1.2.3 is a private address; set PAGER_ALLOW_PRIVATE_TARGETS=true on the server"
    error = answer.json()["error"]
    assert error["message"] == f"level 1 target 2: {what} to allow it"
    assert error["problems"] == [{"field": "level 1 target 2", "message": f"{what} to allow it"}]


@pytest.mark.parametrize(
    ("level", "repeat", "field"),
    [
        ({"ack_timeout_seconds": True}, 0, "levels.0.ack_timeout_seconds"),
        ({"ack_timeout_seconds": "60"}, 0, "levels.0.ack_timeout_seconds"),
        ({"ack_timeout_seconds": 60.5}, 0, "levels.0.ack_timeout_seconds"),
        ({}, True, "repeat"),
        ({}, "1", "repeat"),
    ],
)
def test_an_integer_is_an_integer_not_a_boolean_or_text(
    client: TestClient, level: dict[str, object], repeat: object, field: str
) -> None:
    targets = [{"type": "email", "address": "alice@example.com"}]
    body = {"name": "P", "repeat": repeat, "levels": [{**level, "targets": targets}]}
    answer = client.put("/api/v1/escalation-policies/strict", json=body)
    assert answer.status_code == 422, answer.text
    assert [p["field"] for p in answer.json()["error"]["problems"]] == [field]
    assert client.get("/api/v1/escalation-policies/strict").status_code == 404


def test_an_integer_may_be_written_as_a_whole_number_with_a_point(client: TestClient) -> None:
    targets = [{"type": "email", "address": "alice@example.com"}]
    body = {
        "name": "P",
        "repeat": 2.0,
        "levels": [{"ack_timeout_seconds": 60.0, "targets": targets}],
    }
    answer = client.put("/api/v1/escalation-policies/whole", json=body)
    assert answer.status_code == 201, answer.text
    assert answer.json()["repeat"] == 2
    assert answer.json()["levels"][0]["ack_timeout_seconds"] == 60


SAMPLE_PARAMETERS = {
    "{service_id}": "db",
    "{policy_id}": "ops",
    "{incident_id}": "i1",
    "{email}": "admin@example.com",
    "{identifier}": "i1",
    "{token}": "A" * 43,
    "{feed_id}": "0" * 32,
}


def test_options_lists_each_paths_methods_and_a_405_keeps_them(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert len(paths) > 20
    for template, operations in paths.items():
        path = template
        for name, value in SAMPLE_PARAMETERS.items():
            path = path.replace(name, value)
        documented = {method.upper() for method in operations}

        options = client.options(path)
        assert options.status_code == 204, (path, options.text)
        assert set(options.headers["Allow"].split(", ")) == documented | {"OPTIONS"}, path
        assert options.content == b""

        refused = client.request("PATCH", path)
        assert refused.status_code == 405, path
        assert refused.headers["Allow"] == options.headers["Allow"]
        body = refused.json()
        if path.endswith("/enqueue"):  # PagerDuty's error shape, as on every answer there
            assert body["status"] == "invalid event"
        elif path.startswith("/pagerduty/"):  # PagerDuty's REST API's error shape
            assert body["error"]["code"] == 2101
            assert body["error"]["message"] == "Method Not Allowed"
        else:
            assert body["error"]["code"] == "method_not_allowed"
            assert body["error"]["message"] == (
                f"PATCH is not allowed here; this path takes {options.headers['Allow']}"
            )


def test_integrations_clean_what_they_cannot_refuse(client: TestClient) -> None:
    key = client.post("/api/v1/services/db/integration-key").json()["integration_key"]
    event = {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": "k\u0000ey",
        "payload": {"summary": "disk\u0000 full", "source": "db", "severity": "error"},
    }
    answer = client.post("/v2/enqueue", json=event, headers={"Authorization": ""})
    assert answer.status_code == 202, answer.text
    assert answer.json()["dedup_key"] == "key"
    webhook = {
        "version": "4",
        "alerts": [
            {"status": "firing", "labels": {"alertname": "A\u0000B"}, "fingerprint": "f\u0000"}
        ],
    }
    sent = client.post(
        "/integrations/alertmanager", json=webhook, headers={"Authorization": f"Bearer {key}"}
    )
    assert sent.status_code == 202, sent.text
    assert sent.json()["alerts"][0]["dedup_key"] == "f"
    genie = {"Authorization": f"GenieKey {key}"}
    closed = client.post("/v2/alerts/x%00y/close", headers=genie)
    assert closed.status_code == 404


def _opened() -> float:
    return REGISTRY.get_sample_value("pager_incidents_opened_total") or 0.0


def test_a_webhooks_answer_says_what_each_alert_did_and_to_which_incident(
    client: TestClient,
) -> None:
    """And `pager_incidents_opened_total` moves by the incidents a webhook opened, not by
    the alerts that did something else."""
    key = client.post("/api/v1/services/db/integration-key").json()["integration_key"]
    headers = {"Authorization": f"Bearer {key}"}
    opened_before = _opened()

    def send(*alerts: tuple[str, str]) -> list[dict[str, object]]:
        webhook = {
            "version": "4",
            "alerts": [
                {"status": status, "labels": {"alertname": name}, "fingerprint": name}
                for name, status in alerts
            ],
        }
        answer = client.post("/integrations/alertmanager", json=webhook, headers=headers)
        assert answer.status_code == 202, answer.text
        assert answer.json()["source"] == "alertmanager"
        handled: list[dict[str, object]] = answer.json()["alerts"]
        return handled

    opened = send(("a", "firing"), ("b", "firing"), ("c", "firing"))
    incident = opened[0]["incident_id"]
    assert isinstance(incident, str)
    assert opened == [
        {"dedup_key": "a", "status": "firing", "action": "opened", "incident_id": incident},
        {"dedup_key": "b", "status": "firing", "action": "attached", "incident_id": incident},
        {"dedup_key": "c", "status": "firing", "action": "attached", "incident_id": incident},
    ]
    assert _opened() == opened_before + 1
    assert send(("a", "resolved"), ("b", "firing")) == [
        {"dedup_key": "b", "status": "firing", "action": "unchanged", "incident_id": incident},
        {"dedup_key": "a", "status": "resolved", "action": "resolved", "incident_id": incident},
    ]
    assert _opened() == opened_before + 1
    assert send(("a", "resolved")) == [
        {"dedup_key": "a", "status": "resolved", "action": "unchanged", "incident_id": None}
    ]
    assert _opened() == opened_before + 1


def test_deeply_nested_json_is_a_400(client: TestClient) -> None:
    nested = b"[" * 100_000 + b"]" * 100_000
    headers = {"Content-Type": "application/json"}
    answer = client.post("/api/v1/alerts", content=nested[:4000], headers=headers)
    assert answer.status_code in (400, 422), answer.text
    pd = client.post("/v2/enqueue", content=b"[" * 3000 + b"]" * 1000, headers=headers)
    assert pd.status_code == 400


def test_a_streamed_body_over_the_limit_is_a_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"x" * 1000

    answer = client.post(
        "/api/v1/alerts", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "too_large"


def test_readyz_says_why_a_database_is_not_ready(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    container = bootstrap(Settings(database_url="sqlite://"), engine=engine)
    with TestClient(create_app(container)) as test_client:
        answer = test_client.get("/readyz")
        assert answer.status_code == 503
        assert "schema" in answer.json()["error"]["message"]
        assert test_client.get("/healthz").status_code == 200
    engine.dispose()


def test_the_rate_limiter_refills_over_time() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=2.0, burst=2, monotonic=lambda: now[0])
    limiter.check("a")
    limiter.check("a")
    with pytest.raises(ApiError) as raised:
        limiter.check("a")
    assert raised.value.status == 429
    assert raised.value.headers["Retry-After"] == "1"
    limiter.check("b")  # another credential, another bucket
    now[0] += 0.5
    limiter.check("a")
    RateLimiter(rate=0, burst=0).check("anything")  # 0 turns it off


def test_no_page_loads_anything_from_another_site(client: TestClient) -> None:
    for path in ("/docs", "/login"):
        page = client.get(path)
        assert page.status_code == 200
        linked = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert linked, path
        for url in linked:
            assert url.startswith("/"), (path, url)  # this server's, not a CDN's
            assert client.get(url).status_code == 200, url
        assert "https://" not in page.text, path


def test_an_opsgenie_request_is_polled_at_any_process(sqlite_url: str, clock: FakeClock) -> None:
    # Two processes on one database, as behind a load balancer: neither keeps the outcome.
    first, second = (bootstrap(Settings(database_url=sqlite_url), clock=clock) for _ in "ab")
    first.handlers.define_policy(two_level_policy())
    first.handlers.define_service("db", "Database", "ops")
    genie = {"Authorization": f"GenieKey {first.accounts.rotate_integration_key('db').key}"}
    with TestClient(create_app(first)) as one, TestClient(create_app(second)) as other:
        created = one.post(
            "/v2/alerts", json={"message": "disk full", "alias": "disk"}, headers=genie
        )
        assert created.status_code == 202
        polled = other.get(f"/v2/alerts/requests/{created.json()['requestId']}", headers=genie)
    assert polled.status_code == 200, polled.text
    assert polled.json()["data"]["status"] == "Created alert"
    assert polled.json()["data"]["alias"] == "disk"
    for container in (first, second):
        container.engine.dispose()


def test_escalating_pages_the_next_level_now_and_is_a_409_past_the_last(
    client: TestClient, engine: sa.Engine
) -> None:
    incident_id = client.post("/api/v1/alerts", json={"service": "db", "message": "x"}).json()[
        "incident_id"
    ]
    client.post(f"/api/v1/incidents/{incident_id}/acknowledge")

    answer = client.post(f"/api/v1/incidents/{incident_id}/escalate", json={"by": "alice"})

    assert answer.status_code == 200
    incident = answer.json()
    assert (incident["status"], incident["level"]) == ("triggered", 2)
    with engine.connect() as conn:
        paged = conn.execute(
            sa.select(t.notifications.c.level, t.notifications.c.target_key).where(
                t.notifications.c.incident_id == incident_id, t.notifications.c.level == 2
            )
        ).all()
    assert [tuple(row) for row in paged] == [(2, "email:bob@example.com")]
    types = [
        event["type"] for event in client.get(f"/api/v1/incidents/{incident_id}").json()["timeline"]
    ]
    assert "Escalated" in types

    last = client.post(f"/api/v1/incidents/{incident_id}/escalate")
    assert last.status_code == 409
    assert "no next level" in last.json()["error"]["message"]
    client.post(f"/api/v1/incidents/{incident_id}/resolve")
    assert client.post(f"/api/v1/incidents/{incident_id}/escalate").status_code == 409
