"""PagerDuty's REST API v2 for incidents (`/pagerduty`), on SQLite and PostgreSQL: each call
maps onto Pager's own incident action, shows on the incident's timeline, and every refusal
is PagerDuty's error shape (400 naming the field, 401, 404), never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pager.bootstrap import App, bootstrap
from pager.config import Settings
from pager.entrypoints.cli_admin import accounts_for
from pager.entrypoints.http.app import create_app
from tests.support.builders import add_people, two_level_policy
from tests.support.clock import FakeClock

PD_HEADERS = {"Accept": "application/vnd.pagerduty+json;version=2", "From": "x@example.com"}


@dataclass
class Api:
    client: TestClient
    app: App
    clock: FakeClock
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {**PD_HEADERS, "Authorization": f"Token token={self.token}"}

    def open_incident(self) -> str:
        answer = self.client.post(
            "/api/v1/alerts",
            json={"service": "db", "message": "disk full"},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        incident_id: str = answer.json()["incident_id"]
        return incident_id

    def put(self, incident_id: str, incident: Any) -> Any:
        body = {"incident": incident}
        return self.client.put(f"/pagerduty/incidents/{incident_id}", json=body, headers=self.auth)

    def post(self, path: str, body: Any) -> Any:
        return self.client.post(f"/pagerduty/incidents/{path}", json=body, headers=self.auth)

    def get(self, path: str) -> Any:
        return self.client.get(f"/pagerduty/incidents/{path}", headers=self.auth)

    def timeline(self, incident_id: str) -> list[dict[str, Any]]:
        answer = self.client.get(
            f"/api/v1/incidents/{incident_id}", headers={"Authorization": f"Bearer {self.token}"}
        )
        entries: list[dict[str, Any]] = answer.json()["timeline"]
        return entries

    def types(self, incident_id: str) -> list[str]:
        return [entry["type"] for entry in self.timeline(incident_id)]


@pytest.fixture
def api(database_url: str, clock: FakeClock) -> Iterator[Api]:
    settings = Settings(database_url=database_url, public_url="https://pager.example.com")
    app = bootstrap(settings, clock=clock)
    accounts = accounts_for(app.engine)
    accounts.add_user("admin@example.com", "admin")
    token = accounts.create_token("admin@example.com")
    add_people(app.engine)
    app.handlers.define_policy(two_level_policy())
    app.handlers.define_service("db", "Database", "ops")
    with TestClient(create_app(app)) as client:
        yield Api(client, app, clock, token)
    app.engine.dispose()


def invalid(answer: Any) -> list[str]:
    """The errors of PagerDuty's 400 "Invalid Input Provided"."""
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert (error["message"], error["code"]) == ("Invalid Input Provided", 2001)
    errors: list[str] = error["errors"]
    return errors


def test_an_incident_reads_as_pagerdutys(api: Api) -> None:
    incident_id = api.open_incident()
    answer = api.get(incident_id)
    assert answer.status_code == 200, answer.text
    incident = answer.json()["incident"]
    assert incident["id"] == incident_id
    assert incident["type"] == "incident"
    assert (incident["summary"], incident["title"]) == ("disk full", "disk full")
    assert (incident["status"], incident["urgency"], incident["escalation_level"]) == (
        "triggered",
        "high",
        1,
    )
    assert incident["html_url"] == f"https://pager.example.com/incidents/{incident_id}"
    assert incident["self"] == f"https://pager.example.com/pagerduty/incidents/{incident_id}"
    assert incident["service"] == {"id": "db", "type": "service_reference", "summary": "Database"}
    assert incident["created_at"]
    assert incident["resolved_at"] is None


def test_put_acknowledges_and_resolves(api: Api) -> None:
    incident_id = api.open_incident()
    answer = api.put(incident_id, {"type": "incident_reference", "status": "acknowledged"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["incident"]["status"] == "acknowledged"
    answer = api.put(incident_id, {"type": "incident_reference", "status": "resolved"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["incident"]["status"] == "resolved"
    assert answer.json()["incident"]["resolved_at"]
    types = api.types(incident_id)
    assert "Acknowledged" in types
    assert "IncidentResolved" in types
    [resolved] = [e for e in api.timeline(incident_id) if e["type"] == "IncidentResolved"]
    assert resolved["data"]["by"] == "admin@example.com"
    # A resolved incident cannot be acknowledged again: a 400 saying so.
    [error] = invalid(api.put(incident_id, {"status": "acknowledged"}))
    assert "resolved" in error


def test_put_escalates_to_the_next_level_only(api: Api) -> None:
    incident_id = api.open_incident()
    [error] = invalid(api.put(incident_id, {"escalation_level": 3}))
    assert error.startswith("incident.escalation_level must be 2")
    [error] = invalid(api.put(incident_id, {"escalation_level": 1}))
    assert error.startswith("incident.escalation_level")
    answer = api.put(incident_id, {"type": "incident", "escalation_level": 2})
    assert answer.status_code == 200, answer.text
    assert answer.json()["incident"]["escalation_level"] == 2
    assert "Escalated" in api.types(incident_id)
    # After the last level comes level 1 (of the next round); this policy does not repeat,
    # so Pager refuses, as a 400.
    [error] = invalid(api.put(incident_id, {"escalation_level": 3}))
    assert error.startswith("incident.escalation_level must be 1")
    [error] = invalid(api.put(incident_id, {"escalation_level": 1}))
    assert "level" in error


def test_put_escalates_to_the_next_rounds_first_level(api: Api) -> None:
    api.app.handlers.define_policy(two_level_policy(repeat=1))
    incident_id = api.open_incident()
    assert api.put(incident_id, {"escalation_level": 2}).status_code == 200
    answer = api.put(incident_id, {"escalation_level": 1})
    assert answer.status_code == 200, answer.text
    assert answer.json()["incident"]["escalation_level"] == 1
    assert api.types(incident_id).count("Escalated") == 2


def test_put_changes_one_thing_at_a_time_and_nothing_of_a_refused_request(api: Api) -> None:
    incident_id = api.open_incident()
    before = api.types(incident_id)
    [error] = invalid(api.put(incident_id, {"status": "resolved", "escalation_level": 2}))
    assert error.startswith("incident must change one of status, escalation_level and assignments")
    assert api.types(incident_id) == before  # neither resolved nor escalated


def test_put_reassigns_to_one_user(api: Api) -> None:
    incident_id = api.open_incident()
    bob = api.app.accounts.user("bob@example.com")
    assignee = {"id": bob.id, "type": "user_reference"}
    answer = api.put(incident_id, {"assignments": [{"assignee": assignee}]})
    assert answer.status_code == 200, answer.text
    [reassigned] = [e for e in api.timeline(incident_id) if e["type"] == "Reassigned"]
    assert reassigned["data"]["by"] == "admin@example.com"
    assert "bob@example.com" in str(reassigned["data"]["target"])

    two = [{"assignee": assignee}, {"assignee": assignee}]
    [error] = invalid(api.put(incident_id, {"assignments": two}))
    assert error.startswith("incident.assignments")
    policy = {"id": "P1", "type": "escalation_policy_reference"}
    [error] = invalid(api.put(incident_id, {"assignments": [{"assignee": policy}]}))
    assert error.startswith("incident.assignments.0.assignee.type")
    nobody = {"id": "no-such-user", "type": "user_reference"}
    [error] = invalid(api.put(incident_id, {"assignments": [{"assignee": nobody}]}))
    assert error.startswith("incident.assignments.0.assignee.id")


def test_unacknowledging_is_pagers_own_call(api: Api) -> None:
    incident_id = api.open_incident()
    api.put(incident_id, {"status": "acknowledged"})
    [error] = invalid(api.put(incident_id, {"status": "triggered"}))
    assert error.startswith("incident.status must be acknowledged or resolved")
    assert "/api/v1/incidents/{id}/unacknowledge" in error
    [error] = invalid(api.put(incident_id, {"status": "open"}))
    assert error.startswith("incident.status")
    assert api.get(incident_id).json()["incident"]["status"] == "acknowledged"


def test_notes_are_added_and_listed_from_the_timeline(api: Api) -> None:
    incident_id = api.open_incident()
    admin = api.app.accounts.user("admin@example.com")
    answer = api.post(f"{incident_id}/notes", {"note": {"content": "rolling back"}})
    assert answer.status_code == 201, answer.text
    note = answer.json()["note"]
    assert note["content"] == "rolling back"
    assert note["user"] == {"id": admin.id, "type": "user_reference", "summary": admin.email}
    assert note["id"]
    assert note["created_at"]
    api.clock.advance(5)
    api.post(f"{incident_id}/notes", {"note": {"content": "fixed"}})
    listed = api.get(f"{incident_id}/notes")
    assert listed.status_code == 200, listed.text
    notes = listed.json()["notes"]
    assert [n["content"] for n in notes] == ["rolling back", "fixed"]
    assert notes[0] == note
    assert len({n["id"] for n in notes}) == 2
    assert api.types(incident_id).count("NoteAdded") == 2

    [error] = invalid(api.post(f"{incident_id}/notes", {"note": {"content": "   "}}))
    assert error.startswith("note.content")
    [error] = invalid(api.post(f"{incident_id}/notes", {"note": {}}))
    assert error.startswith("note.content")
    [error] = invalid(api.post(f"{incident_id}/notes", {"content": "hi"}))
    assert error.startswith("note")
    # A resolved incident still takes notes, as in Pager's own API.
    api.put(incident_id, {"status": "resolved"})
    assert api.post(f"{incident_id}/notes", {"note": {"content": "post-mortem"}}).status_code == 201


def test_snooze_acknowledges_until_then(api: Api) -> None:
    incident_id = api.open_incident()
    answer = api.post(f"{incident_id}/snooze", {"duration": 3600})
    assert answer.status_code == 201, answer.text
    assert answer.json()["incident"]["status"] == "acknowledged"
    [snoozed] = [e for e in api.timeline(incident_id) if e["type"] == "Snoozed"]
    assert snoozed["data"]["by"] == "admin@example.com"
    [error] = invalid(api.post(f"{incident_id}/snooze", {"duration": 8 * 24 * 3600}))
    assert error.startswith("duration")
    [error] = invalid(api.post(f"{incident_id}/snooze", {"duration": 0}))
    assert error.startswith("duration")
    [error] = invalid(api.post(f"{incident_id}/snooze", {"duration": True}))
    assert error.startswith("duration")
    [error] = invalid(api.post(f"{incident_id}/snooze", {"duration": "60"}))
    assert error.startswith("duration")
    api.put(incident_id, {"status": "resolved"})
    [error] = invalid(api.post(f"{incident_id}/snooze", {"duration": 60}))
    assert "resolved" in error


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b'"incident"',
        b"null",
        b'{"incident": []}',
        b'{"incident": {"escalation_level": true}}',
        b'{"incident": {"escalation_level": "2"}}',
        b'{"incident": {"escalation_level": 0}}',
        b'{"incident": {"assignments": []}}',
        b'{"incident": {"assignments": [{"assignee": "bob"}]}}',
        b'{"incident": {"type": "service"}}',
    ],
)
def test_bad_input_is_a_400_never_a_500(api: Api, body: bytes) -> None:
    incident_id = api.open_incident()
    headers = {**api.auth, "Content-Type": "application/json"}
    answer = api.client.put(f"/pagerduty/incidents/{incident_id}", content=body, headers=headers)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == 2001
    assert answer.json()["error"]["errors"]


def test_without_a_users_token_it_is_a_401(api: Api) -> None:
    incident_id = api.open_incident()
    key = api.app.accounts.rotate_integration_key("db").key
    for headers in (
        {},
        {"Authorization": "Token token=nope"},
        {"Authorization": f"Bearer {api.token}"},
        {"Authorization": "Token"},
        {"Authorization": "Token token="},
    ):
        for answer in (
            api.client.get(f"/pagerduty/incidents/{incident_id}", headers=headers),
            api.client.put(
                f"/pagerduty/incidents/{incident_id}",
                json={"incident": {"status": "resolved"}},
                headers=headers,
            ),
            api.client.post(
                f"/pagerduty/incidents/{incident_id}/notes",
                json={"note": {"content": "hi"}},
                headers=headers,
            ),
            api.client.post(
                f"/pagerduty/incidents/{incident_id}/snooze",
                json={"duration": 60},
                headers=headers,
            ),
        ):
            assert answer.status_code == 401, (headers, answer.text)
            error = answer.json()["error"]
            assert (error["message"], error["code"]) == ("Authentication failed", 2006)
    # An integration key is not a user: it may not act through this API.
    answer = api.client.get(
        f"/pagerduty/incidents/{incident_id}", headers={"Authorization": f"Token token={key}"}
    )
    assert answer.status_code == 403, answer.text
    assert api.get(incident_id).json()["incident"]["status"] == "triggered"


def test_an_unknown_incident_is_pagerdutys_404(api: Api) -> None:
    for answer in (
        api.get("no-such-incident"),
        api.get("no-such-incident/notes"),
        api.put("no-such-incident", {"status": "acknowledged"}),
        api.post("no-such-incident/notes", {"note": {"content": "hi"}}),
        api.post("no-such-incident/snooze", {"duration": 60}),
        api.client.get("/pagerduty/no-such-path", headers=api.auth),
    ):
        assert answer.status_code == 404, answer.text
        assert answer.json()["error"]["message"] == "Not Found"
        assert answer.json()["error"]["code"] == 2100


def test_odd_requests_get_pagerdutys_errors_never_a_500(api: Api) -> None:
    incident_id = api.open_incident()
    url = f"/pagerduty/incidents/{incident_id}"
    as_json = {**api.auth, "Content-Type": "application/json"}
    client = api.client
    answers = {
        "text": client.put(url, content=b"{}", headers={**api.auth, "Content-Type": "text/plain"}),
        "delete": client.delete(url, headers=api.auth),
        "nul": client.post(url + "/notes", json={"note": {"content": "a\x00b"}}, headers=api.auth),
        "surrogate": client.post(
            url + "/notes", content=b'{"note": {"content": "a\\ud800b"}}', headers=as_json
        ),
        "huge level": client.put(
            url, json={"incident": {"escalation_level": 10**40}}, headers=api.auth
        ),
        "bad id": client.get("/pagerduty/incidents/a%20b", headers=api.auth),
        "deep": client.put(url, content=b"[" * 100_000, headers=as_json),
        "float": client.post(url + "/snooze", json={"duration": 60.5}, headers=api.auth),
    }
    statuses = {name: answer.status_code for name, answer in answers.items()}
    assert statuses == {
        "text": 415,
        "delete": 405,
        "nul": 400,
        "surrogate": 400,
        "huge level": 400,
        "bad id": 400,
        "deep": 400,
        "float": 400,
    }, {name: answer.text for name, answer in answers.items()}
    for answer in answers.values():
        if answer.status_code >= 400:
            error = answer.json()["error"]
            assert isinstance(error["code"], int)
            assert error["errors"]
    # Nothing to change is no change.
    same = api.put(incident_id, {"status": None, "escalation_level": None, "assignments": None})
    assert same.status_code == 200, same.text
    assert same.json()["incident"]["status"] == "triggered"
