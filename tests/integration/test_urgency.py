"""Severity and urgency through the API, the integrations and `pagerd apply` on SQLite and
PostgreSQL: a service's low-urgency severities are kept and shown, bad ones are a 422 naming
the field; every integration's word reaches the incident as one of the four; a low-urgency
incident queues its email and no SMS until a critical alert raises it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from pager.adapters.storage import tables as t
from pager.adapters.storage.codec import decode_event, decode_service_state, encode_service_state
from pager.adapters.storage.migrate import MIGRATIONS, head_revision, migrate
from pager.bootstrap import bootstrap
from pager.config import Settings
from pager.domain.events import IncidentOpened, ServiceCreated
from pager.domain.incident import ServiceState, fold
from pager.entrypoints.cli import app as cli
from pager.entrypoints.cli_admin import accounts_for
from pager.entrypoints.http.app import create_app
from tests.support.builders import two_level_policy
from tests.support.clock import FakeClock


@pytest.fixture
def client(database_url: str, clock: FakeClock) -> Iterator[TestClient]:
    """An admin's client; policy `ops` pages alice by email and +14155550100 by SMS at level
    1, bob by email at level 2."""
    container = bootstrap(Settings(database_url=database_url), clock=clock)
    accounts = accounts_for(container.engine)
    accounts.add_user("admin@example.com", "admin")
    token = accounts.create_token("admin@example.com")
    container.handlers.define_policy(two_level_policy())
    with TestClient(
        create_app(container), headers={"Authorization": f"Bearer {token}"}
    ) as test_client:
        yield test_client
    container.engine.dispose()


def put_service(client: TestClient, low: list[Any] | None = None) -> Any:
    body: dict[str, Any] = {"name": "Database", "escalation_policy": "ops"}
    if low is not None:
        body["low_urgency_severities"] = low
    return client.put("/api/v1/services/db", json=body)


def alert(client: TestClient, severity: str | None, key: str) -> Any:
    body = {"service": "db", "message": "disk 91% full", "dedup_key": key}
    if severity is not None:
        body["severity"] = severity
    return client.post("/api/v1/alerts", json=body)


def channels(client: TestClient, incident_id: str) -> list[str]:
    found = client.get(f"/api/v1/incidents/{incident_id}").json()["notifications"]
    return sorted(n["channel"] for n in found)


def fields(answer: Any) -> list[str]:
    assert answer.status_code == 422, answer.text
    return [problem["field"] for problem in answer.json()["error"]["problems"]]


def test_a_service_keeps_its_low_urgency_severities_and_shows_them(client: TestClient) -> None:
    made = put_service(client, ["info", "warning"])
    assert made.status_code == 201, made.text
    assert made.json()["low_urgency_severities"] == ["warning", "info"]
    assert client.get("/api/v1/services/db").json()["low_urgency_severities"] == [
        "warning",
        "info",
    ]
    cleared = put_service(client)
    assert cleared.status_code == 200
    assert cleared.json()["low_urgency_severities"] == []
    events = client.get("/api/v1/services/db/events").json()["events"]
    assert [e["data"]["low_urgency_severities"] for e in events] == [["warning", "info"], []]


@pytest.mark.parametrize(
    "low", [["info", "bogus"], "info", [None], ["info", "info"], ["critical"] * 5]
)
def test_a_bad_low_urgency_list_is_a_422_naming_the_field(
    client: TestClient, low: list[Any]
) -> None:
    assert {f.split(".")[0] for f in fields(put_service(client, low))} == {"low_urgency_severities"}
    assert client.get("/api/v1/services/db").status_code == 404


def test_an_alert_of_another_severity_than_the_four_is_a_422_naming_it(
    client: TestClient,
) -> None:
    put_service(client)
    assert fields(alert(client, "high", "k")) == ["severity"]
    assert client.get("/api/v1/services/db").json()["open_incident"] is None


def test_a_low_urgency_incident_queues_email_only_until_a_critical_alert_raises_it(
    client: TestClient,
) -> None:
    put_service(client, ["warning", "info"])
    opened = alert(client, "warning", "disk")
    assert opened.status_code == 202, opened.text
    incident_id = opened.json()["incident_id"]
    shown = client.get(f"/api/v1/incidents/{incident_id}").json()
    assert (shown["urgency"], shown["severity"], shown["level"]) == ("low", "warning", 1)
    assert channels(client, incident_id) == ["email"]
    [step] = [e for e in shown["timeline"] if e["type"] == "LevelNotified"]
    assert step["data"]["urgency"] == "low"
    assert step["data"]["timer_due_at"] is None
    assert step["data"]["held_back"] == [
        {"target": "sms +14155550100", "reason": "low urgency: sms is paged at high urgency only"}
    ]
    assert alert(client, "info", "disk-2").json()["action"] == "attached"
    assert channels(client, incident_id) == ["email"]

    assert alert(client, "critical", "disk-3").json()["action"] == "attached"
    shown = client.get(f"/api/v1/incidents/{incident_id}").json()
    assert (shown["urgency"], shown["severity"]) == ("high", "critical")
    assert channels(client, incident_id) == ["email", "sms"]
    raised = [e["data"] for e in shown["timeline"] if e["type"] == "UrgencyRaised"]
    assert raised == [{"cause": "alert", "severity": "critical", "by": "api"}]
    listed = client.get("/api/v1/incidents", params={"service": "db"}).json()["incidents"]
    assert [(i["urgency"], i["severity"]) for i in listed] == [("high", "critical")]


def test_a_service_without_low_urgency_severities_pages_an_info_alert_fully(
    client: TestClient,
) -> None:
    put_service(client)
    incident_id = alert(client, "info", "disk").json()["incident_id"]
    assert client.get(f"/api/v1/incidents/{incident_id}").json()["urgency"] == "high"
    assert channels(client, incident_id) == ["email", "sms"]


def test_escalating_a_low_urgency_incident_raises_it_and_pages_level_2(
    client: TestClient,
) -> None:
    put_service(client, ["warning"])
    incident_id = alert(client, "warning", "disk").json()["incident_id"]
    answer = client.post(f"/api/v1/incidents/{incident_id}/escalate")
    assert answer.status_code == 200, answer.text
    assert (answer.json()["urgency"], answer.json()["level"]) == ("high", 2)


def test_every_integration_maps_its_severity_onto_the_four(client: TestClient) -> None:
    key = put_service(client).json()["integration_key"]
    bearer = {"Authorization": f"Bearer {key}"}
    webhook = {
        "version": "4",
        "alerts": [
            {"labels": {"alertname": "A", "severity": "warn"}, "fingerprint": "a"},
            {"labels": {"alertname": "B", "severity": "page"}, "fingerprint": "b"},
            {"labels": {"alertname": "C", "severity": "whatever"}, "fingerprint": "c"},
        ],
    }
    assert client.post("/integrations/alertmanager", json=webhook, headers=bearer).is_success
    event = {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": "pd",
        "payload": {"summary": "x", "source": "db", "severity": "error"},
    }
    assert client.post("/v2/enqueue", json=event, headers={"Authorization": ""}).is_success
    genie = {"Authorization": f"GenieKey {key}"}
    created = client.post("/v2/alerts", json={"message": "y", "priority": "P4"}, headers=genie)
    assert created.status_code == 202
    events = client.get("/api/v1/services/db/events").json()["events"]
    alerts = [e["data"] for e in events if e["type"] in ("IncidentOpened", "AlertAttached")]
    assert [(a["source"], a["severity"]) for a in alerts] == [
        ("alertmanager", "warning"),
        ("alertmanager", "critical"),
        ("alertmanager", None),
        ("pagerduty", "error"),
        ("opsgenie", "info"),
    ]
    incident = client.get("/api/v1/services/db").json()["open_incident"]
    assert incident["severity"] == "critical"


CONFIG = """\
escalation_policies:
  - id: ops
    name: Ops on call
    levels:
      - targets:
          - {type: email, address: alice@example.com}
services:
  - id: db
    name: Database
    escalation_policy: ops
    low_urgency_severities: [info, warning]
"""


def test_pager_yaml_applies_and_exports_the_low_urgency_severities(
    database_url: str, tmp_path: Path
) -> None:
    runner = CliRunner()
    env = {"PAGER_DATABASE_URL": database_url}
    path = tmp_path / "pager.yaml"
    path.write_text(CONFIG)
    applied = runner.invoke(cli, ["apply", "-f", str(path)], env=env)
    assert applied.exit_code == 0, applied.output
    assert "+ create service db (escalation policy ops, low urgency for warning, info)" in (
        applied.stdout
    )
    exported = runner.invoke(cli, ["export"], env=env)
    assert exported.exit_code == 0, exported.output
    assert "  low_urgency_severities: [warning, info]\n" in exported.stdout
    path.write_text(exported.stdout)
    again = runner.invoke(cli, ["apply", "-f", str(path)], env=env)
    assert "no changes" in again.stdout, again.output
    path.write_text(CONFIG.replace("[info, warning]", "[info]"))
    changed = runner.invoke(cli, ["apply", "-f", str(path)], env=env)
    assert "~ update service db: low urgency severities warning, info -> info" in changed.stdout
    path.write_text(CONFIG.replace("[info, warning]", "[info, loud]"))
    refused = runner.invoke(cli, ["apply", "-f", str(path)], env=env)
    assert refused.exit_code == 1
    assert "low_urgency_severities" in refused.stderr


def test_events_and_snapshots_written_before_urgency_decode_as_high_urgency() -> None:
    created = decode_event(
        "ServiceCreated",
        {"service_id": "db", "name": "Database", "policy_id": "ops", "at": "2026-01-01T00:00:00Z"},
    )
    assert isinstance(created, ServiceCreated)
    assert created.low_urgency_severities == ()
    opened = decode_event(
        "IncidentOpened",
        {
            "incident_id": "i1",
            "service_id": "db",
            "message": "disk full",
            "dedup_key": None,
            "severity": "P1",  # as Opsgenie's priority was kept before it was mapped
            "source": "opsgenie",
            "at": "2026-01-01T00:00:00Z",
        },
    )
    assert isinstance(opened, IncidentOpened)
    assert opened.urgency == "high"
    state = fold(ServiceState("db"), (created, opened))
    assert state.incident is not None
    assert (state.incident.urgency, state.incident.severity) == ("high", "critical")
    old = json.loads(encode_service_state(state))
    del old["low_urgency_severities"], old["incident"]["urgency"], old["incident"]["severity"]
    again = decode_service_state(json.dumps(old))
    assert again.incident is not None
    assert (again.low_urgency_severities, again.incident.urgency) == ((), "high")


def test_the_urgency_migration_goes_back_one_step_and_keeps_services_and_incidents(
    engine: Engine,
) -> None:
    app = bootstrap(engine=engine)
    app.handlers.define_policy(two_level_policy())
    app.handlers.define_service("keep", "Keep", "ops", ("info",))
    app.handlers.receive_alert("keep", "disk full", severity="info")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    before = ScriptDirectory.from_config(config).get_revision("0009").down_revision
    try:
        with engine.connect() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, str(before))
            conn.commit()
            assert "urgency" not in {c["name"] for c in sa.inspect(conn).get_columns("incidents")}
    finally:
        before_after = migrate(engine)  # the database is shared with other tests
    assert before_after == (before, head_revision())
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), t.metadata) == []
    [service] = [s for s in app.queries.services() if s.id == "keep"]
    assert service.low_urgency_severities == ()  # the column came back empty
    assert service.open_incident is not None
    assert service.open_incident.urgency == "high"
