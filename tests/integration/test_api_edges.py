"""The API's answers at their edges, in process: what a webhook target's secret looks like
to whom, a service's key hint, a 404's code, and who resolved an incident."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pager.adapters.storage.engine import create_engine
from pager.adapters.storage.queries import SqlQueries
from pager.bootstrap import App, bootstrap
from pager.config import Settings
from pager.entrypoints.http.app import create_app
from tests.support.builders import two_level_policy
from tests.support.clock import FakeClock


@pytest.fixture
def app(sqlite_url: str, clock: FakeClock) -> Iterator[tuple[App, TestClient]]:
    container = bootstrap(Settings(database_url=sqlite_url), clock=clock)
    with TestClient(create_app(container)) as client:
        yield container, client
    container.engine.dispose()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_webhook_secret_is_shown_to_admins_only(app: tuple[App, TestClient]) -> None:
    container, client = app
    container.accounts.add_user("admin@example.com", "admin")
    container.accounts.add_user("bob@example.com", "responder")
    admin = bearer(container.accounts.create_token("admin@example.com"))
    responder = bearer(container.accounts.create_token("bob@example.com"))
    target = {"type": "webhook", "url": "https://hooks.example.com/x", "secret": "s3cret-value"}
    body = {"name": "Hooks", "levels": [{"ack_timeout_seconds": 60, "targets": [target]}]}
    assert client.put("/api/v1/escalation-policies/hooks", json=body, headers=admin).is_success
    [shown] = client.get("/api/v1/escalation-policies/hooks", headers=admin).json()["levels"]
    [hidden] = client.get("/api/v1/escalation-policies/hooks", headers=responder).json()["levels"]
    assert shown["targets"] == [target]
    assert hidden["targets"] == [{**target, "secret": "[redacted]"}]


@pytest.mark.parametrize(
    "target",
    [
        {"type": "slack", "url": "https://hooks.slack.com/services/T0/B0/x", "channel": None},
        {"type": "slack", "url": None, "channel": "C0PAGER01"},
        {"type": "teams", "url": "https://example.webhook.office.com/webhookb2/x"},
        {"type": "mattermost", "url": "https://chat.example.com/hooks/x"},
    ],
    ids=["slack webhook", "slack channel", "teams", "mattermost"],
)
def test_a_chat_target_reads_back_as_it_was_given(
    app: tuple[App, TestClient], target: dict[str, str | None]
) -> None:
    container, client = app
    container.accounts.add_user("admin@example.com", "admin")
    admin = bearer(container.accounts.create_token("admin@example.com"))
    sent = {name: value for name, value in target.items() if value is not None}
    body = {"name": "Chat", "levels": [{"ack_timeout_seconds": 60, "targets": [sent]}]}
    put = client.put("/api/v1/escalation-policies/chat", json=body, headers=admin)
    assert put.is_success, put.text
    [level] = client.get("/api/v1/escalation-policies/chat", headers=admin).json()["levels"]
    assert level["targets"] == [target]


def test_a_service_shows_the_end_of_its_key_and_resolving_says_by_whom(
    app: tuple[App, TestClient], clock: FakeClock
) -> None:
    container, client = app
    container.accounts.add_user("admin@example.com", "admin")
    admin = bearer(container.accounts.create_token("admin@example.com"))
    container.handlers.define_policy(two_level_policy())
    made = client.put(
        "/api/v1/services/db", json={"name": "Database", "escalation_policy": "ops"}, headers=admin
    ).json()
    key = made["integration_key"]
    hint = client.get("/api/v1/services/db", headers=admin).json()["integration_key_hint"]
    assert hint.startswith("…")
    assert key.endswith(hint.removeprefix("…"))
    assert 0 < len(hint) - 1 < len(key)

    incident_id = container.handlers.receive_alert("db", "disk full").incident_id
    assert client.post("/api/v1/services/db/healthy", headers=admin).is_success
    resolved = client.get(f"/api/v1/incidents/{incident_id}", headers=admin).json()
    assert (resolved["status"], resolved["resolved_by"]) == ("resolved", "admin@example.com")
    clock.advance(60)
    container.handlers.receive_alert("db", "disk full again")
    container.handlers.mark_healthy("db", by="checker")
    [latest, _] = client.get("/api/v1/incidents", headers=admin).json()["incidents"]
    assert latest["resolved_by"] == "checker"


def test_a_responder_asking_for_what_only_admins_may_do_is_told_so(
    app: tuple[App, TestClient],
) -> None:
    container, client = app
    container.accounts.add_user("bob@example.com", "responder")
    responder = bearer(container.accounts.create_token("bob@example.com"))
    body = {"name": "Ops", "levels": [{"ack_timeout_seconds": 60, "targets": []}]}
    answer = client.put("/api/v1/escalation-policies/ops", json=body, headers=responder)
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"] == {"code": "forbidden", "message": "only admins may do this"}
    assert client.get("/api/v1/escalation-policies/ops", headers=responder).status_code == 404


def test_an_unknown_incident_is_a_404_that_says_so(app: tuple[App, TestClient]) -> None:
    container, client = app
    container.accounts.add_user("admin@example.com", "admin")
    admin = bearer(container.accounts.create_token("admin@example.com"))
    answer = client.get("/api/v1/incidents/nope", headers=admin)
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"
    assert "nope" in answer.json()["error"]["message"]


def test_an_unknown_user_is_named(app: tuple[App, TestClient]) -> None:
    container, client = app
    container.accounts.add_user("admin@example.com", "admin")
    admin = bearer(container.accounts.create_token("admin@example.com"))
    answer = client.post("/api/v1/users/nobody@example.com/tokens", json={}, headers=admin)
    assert answer.status_code == 404
    assert answer.json()["error"]["message"] == "user 'nobody@example.com' does not exist"


def test_a_database_out_of_reach_is_not_ready_and_says_why(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'pager.db'}")
    assert SqlQueries(engine).ready() == "database unreachable: OperationalError"
    engine.dispose()


def test_a_lone_surrogate_from_a_monitoring_tool_is_stored_replaced(
    app: tuple[App, TestClient],
) -> None:
    container, client = app
    container.handlers.define_policy(two_level_policy())
    container.handlers.define_service("db", "Database", "ops")
    key = container.accounts.rotate_integration_key("db").key
    body = '{"version": "4", "alerts": [{"status": "firing", "labels": {"alertname": "D\\ud800"}}]}'
    answer = client.post("/integrations/alertmanager", content=body, headers=bearer(key))
    assert answer.status_code == 202, answer.text
    [incident] = container.queries.incidents()
    assert incident.message == "D?"


def test_an_integration_key_cannot_read_and_the_answer_says_so(app: tuple[App, TestClient]) -> None:
    container, client = app
    container.handlers.define_policy(two_level_policy())
    container.handlers.define_service("db", "Database", "ops")
    key = container.accounts.rotate_integration_key("db").key
    answer = client.get("/api/v1/incidents", headers=bearer(key))
    assert answer.status_code == 403
    assert answer.json()["error"] == {
        "code": "forbidden",
        "message": "an integration key may only send alerts for its own service",
    }


def test_an_alert_keeps_its_severity_and_the_api_its_title(app: tuple[App, TestClient]) -> None:
    container, client = app
    container.handlers.define_policy(two_level_policy())
    container.handlers.define_service("db", "Database", "ops")
    opened_by = container.handlers.receive_alert(
        "db", "disk full", severity="critical", source="checks"
    )
    [_, opened, *_] = container.queries.service_events("db", 0, 10)
    assert (opened.data["severity"], opened.data["source"]) == ("critical", "checks")
    container.accounts.add_user("admin@example.com", "admin")
    admin = bearer(container.accounts.create_token("admin@example.com"))
    shown = client.get(f"/api/v1/incidents/{opened_by.incident_id}", headers=admin).json()
    [alert] = shown["alerts"]
    assert (alert["severity"], alert["source"]) == ("critical", "checks")
    assert client.get("/openapi.json").json()["info"]["title"] == "Pager"


def test_a_body_over_the_limit_is_a_413_on_every_route(sqlite_url: str, clock: FakeClock) -> None:
    container = bootstrap(Settings(database_url=sqlite_url, max_body_bytes=1000), clock=clock)
    container.accounts.add_user("admin@example.com", "admin")
    admin = bearer(container.accounts.create_token("admin@example.com"))
    with TestClient(create_app(container)) as client:
        body = {"name": "x" * 2000, "levels": []}
        answer = client.put("/api/v1/escalation-policies/ops", json=body, headers=admin)
    container.engine.dispose()
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "too_large"


def test_metrics_count_the_open_incidents_in_the_database(app: tuple[App, TestClient]) -> None:
    container, client = app
    container.handlers.define_policy(two_level_policy())
    for service in ("db", "web", "queue"):
        container.handlers.define_service(service, service.title(), "ops")
        container.handlers.receive_alert(service, "down")
    container.handlers.mark_healthy("queue", by="checker")  # resolved: no longer open

    def open_now() -> str:
        lines = client.get("/metrics").text.splitlines()
        return next(line for line in lines if line.startswith("pager_open_incidents "))

    assert open_now() == "pager_open_incidents 2.0"


def test_a_database_url_of_another_kind_is_refused_naming_only_its_scheme() -> None:
    with pytest.raises(
        ValueError, match=r"^unsupported database URL 'mysql': use sqlite or postgresql$"
    ):
        create_engine("mysql://pager:secret@db.example.com/pager")
