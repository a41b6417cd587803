"""The incident actions through the API on SQLite and PostgreSQL: notes, un-acknowledging,
snoozing (its durable timer, fired by the worker's timers module on a fake clock) and
reassigning, with Opsgenie's snooze and escalate; bad input is a 4xx naming the field."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from pager.adapters.storage import tables as t
from pager.bootstrap import App, bootstrap
from pager.config import Settings
from pager.domain.commands import Acknowledge, Escalate, Reassign, Snooze
from pager.domain.policy import UserTarget
from pager.entrypoints.cli_admin import accounts_for
from pager.entrypoints.http.app import create_app
from pager.entrypoints.worker import TimersModule
from tests.support.builders import BOB, add_people, two_level_policy
from tests.support.clock import FakeClock


@dataclass
class Api:
    client: TestClient
    app: App
    clock: FakeClock
    genie: dict[str, str]

    def open_incident(self) -> str:
        answer = self.client.post("/api/v1/alerts", json={"service": "db", "message": "disk"})
        incident_id: str = answer.json()["incident_id"]
        return incident_id

    def act(self, incident_id: str, action: str, body: Any = None) -> Any:
        return self.client.post(f"/api/v1/incidents/{incident_id}/{action}", json=body)

    def timers(self) -> list[tuple[str, int, int]]:
        with self.app.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.timers.c.kind, t.timers.c.level, t.timers.c.round).order_by(
                    t.timers.c.kind, t.timers.c.level
                )
            ).all()
        return [tuple(row) for row in rows]  # type: ignore[misc]

    def pages(self, incident_id: str) -> list[tuple[int, int, str]]:
        with self.app.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.notifications.c.round, t.notifications.c.level,
                          t.notifications.c.target_key)
                .where(t.notifications.c.incident_id == incident_id)
                .order_by(t.notifications.c.round, t.notifications.c.level,
                          t.notifications.c.target_key)
            ).all()  # fmt: skip
        return [tuple(row) for row in rows]  # type: ignore[misc]

    def fire_due_timers(self) -> int:
        module = TimersModule(self.app.worker_parts().timers, self.app.handlers, self.clock)
        return asyncio.run(module.tick())

    def types(self, incident_id: str) -> list[str]:
        timeline = self.client.get(f"/api/v1/incidents/{incident_id}").json()["timeline"]
        return [entry["type"] for entry in timeline]


@pytest.fixture
def api(database_url: str, clock: FakeClock) -> Iterator[Api]:
    app = bootstrap(Settings(database_url=database_url), clock=clock)
    accounts = accounts_for(app.engine)
    accounts.add_user("admin@example.com", "admin")
    token = accounts.create_token("admin@example.com")
    add_people(app.engine)
    app.handlers.define_policy(two_level_policy())
    app.handlers.define_service("db", "Database", "ops")
    genie = {"Authorization": f"GenieKey {app.accounts.rotate_integration_key('db').key}"}
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(app), headers=headers) as client:
        yield Api(client, app, clock, genie)
    app.engine.dispose()


def fields(answer: Any) -> list[str]:
    return [problem["field"] for problem in answer.json()["error"]["problems"]]


def test_a_note_is_on_the_timeline_and_blank_or_huge_ones_are_refused(api: Api) -> None:
    incident_id = api.open_incident()
    made = api.act(incident_id, "notes", {"text": " <b>rolling back</b> "})
    assert made.status_code == 201, made.text
    [note] = [e for e in made.json()["timeline"] if e["type"] == "NoteAdded"]
    assert note["data"]["text"] == "<b>rolling back</b>"
    assert note["data"]["by"] == "admin@example.com"
    assert fields(api.act(incident_id, "notes", {"text": "  "})) == ["text"]
    assert api.act(incident_id, "notes", {"text": "x" * 25_001}).status_code == 422
    assert api.act(incident_id, "notes", {}).status_code == 422
    assert api.act("no-such-incident", "notes", {"text": "hi"}).status_code == 404
    api.act(incident_id, "resolve")
    assert api.act(incident_id, "notes", {"text": "post-mortem on Friday"}).status_code == 201


def test_unacknowledging_triggers_again_and_sets_the_levels_timer(api: Api) -> None:
    incident_id = api.open_incident()
    api.act(incident_id, "acknowledge")
    assert api.timers() == []
    answer = api.act(incident_id, "unacknowledge", {"by": "bob"})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["status"], answer.json()["level"]) == ("triggered", 1)
    assert api.timers() == [("ack", 1, 1)]
    assert "Unacknowledged" in api.types(incident_id)
    api.act(incident_id, "resolve")
    assert api.act(incident_id, "unacknowledge").status_code == 409


def test_a_snooze_acknowledges_until_its_time_then_pages_level_1_of_the_next_round(
    api: Api,
) -> None:
    incident_id = api.open_incident()
    until = api.clock.now() + timedelta(hours=1)
    answer = api.act(incident_id, "snooze", {"until": until.isoformat()})
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "acknowledged"
    assert datetime.fromisoformat(answer.json()["snoozed_until"]) == until
    assert api.timers() == [("snooze", 1, 0)]
    later = api.clock.now() + timedelta(hours=2)
    assert api.act(incident_id, "snooze", {"until": later.isoformat()}).status_code == 200
    assert api.timers() == [("snooze", 2, 0)]  # moved: the first one is gone

    api.clock.advance(3600)
    assert api.fire_due_timers() == 0  # the first time passes, nothing to wake
    api.clock.advance(3600)
    assert api.fire_due_timers() == 1
    detail = api.client.get(f"/api/v1/incidents/{incident_id}").json()
    assert (detail["status"], detail["level"], detail["round"]) == ("triggered", 1, 2)
    assert detail["snoozed_until"] is None
    assert [p for p in api.pages(incident_id) if p[0] == 2] == [
        (2, 1, "email:alice@example.com"),
        (2, 1, "sms:+14155550100"),
    ]
    assert api.timers() == [("ack", 1, 2)]
    assert api.types(incident_id)[-2:] == ["SnoozeEnded", "LevelNotified"]


@pytest.mark.parametrize("action", ["acknowledge", "unacknowledge", "escalate", "resolve"])
def test_acting_on_a_snoozed_incident_drops_its_timer(api: Api, action: str) -> None:
    incident_id = api.open_incident()
    until = api.clock.now() + timedelta(hours=1)
    api.act(incident_id, "snooze", {"until": until.isoformat()})
    answer = api.act(incident_id, action)
    assert answer.status_code == 200
    assert answer.json()["snoozed_until"] is None
    assert ("snooze", 1, 0) not in api.timers()
    api.clock.advance(7200)
    api.fire_due_timers()
    assert "SnoozeEnded" not in api.types(incident_id)


@pytest.mark.parametrize(
    "until",
    [
        "2020-01-01T00:00:00+00:00",  # past
        "2099-01-01T00:00:00+00:00",  # more than 7 days ahead
        "2024-05-01T13:00:00",  # no offset
        "tomorrow",
        3600,
    ],
)
def test_a_bad_snooze_time_is_a_422_naming_until(api: Api, until: Any) -> None:
    incident_id = api.open_incident()
    answer = api.act(incident_id, "snooze", {"until": until})
    assert answer.status_code == 422, answer.text
    assert fields(answer) == ["until"]
    assert api.client.get(f"/api/v1/incidents/{incident_id}").json()["status"] == "triggered"


def test_snoozing_a_resolved_incident_is_a_409(api: Api) -> None:
    incident_id = api.open_incident()
    api.act(incident_id, "resolve")
    until = (api.clock.now() + timedelta(hours=1)).isoformat()
    assert api.act(incident_id, "snooze", {"until": until}).status_code == 409


def test_reassigning_pages_the_user_now_and_triggers_an_acknowledged_incident(
    api: Api,
) -> None:
    incident_id = api.open_incident()
    api.act(incident_id, "acknowledge")
    api.clock.advance(30)
    answer = api.act(incident_id, "reassign", {"user": "Bob@Example.com"})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["status"], answer.json()["level"]) == ("triggered", 1)
    assert (1, 1, "user:bob@example.com:mail/reassign-1") in api.pages(incident_id)
    assert api.timers() == [("ack", 1, 1)]
    [event] = [e for e in answer.json()["timeline"] if e["type"] == "Reassigned"]
    assert event["data"]["target"] == {"type": "user", "user": "bob@example.com"}
    assert event["data"]["by"] == "admin@example.com"
    # The level's timer runs from the reassignment: level 2 follows 60 s after it.
    api.clock.advance(45)
    assert api.fire_due_timers() == 0
    api.clock.advance(20)
    assert api.fire_due_timers() == 1
    assert api.client.get(f"/api/v1/incidents/{incident_id}").json()["level"] == 2


def test_reassigning_to_a_schedule_pages_whoever_is_on_call(api: Api) -> None:
    incident_id = api.open_incident()
    answer = api.act(incident_id, "reassign", {"schedule": "primary"})
    assert answer.status_code == 200, answer.text
    assert (1, 1, "user:alice@example.com:phone/reassign-1") in api.pages(incident_id)
    again = api.act(incident_id, "reassign", {"schedule": "primary"})
    assert (1, 1, "user:alice@example.com:phone/reassign-2") in api.pages(incident_id)
    assert again.status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user": "nobody@example.com"}, "user"),
        ({"schedule": "nope"}, "schedule"),
        ({"user": "bob@example.com", "schedule": "primary"}, "user"),
        ({}, "user"),
        ({"user": "not an email"}, "user"),
        ({"schedule": "Not An Id"}, "schedule"),
    ],
)
def test_reassigning_to_someone_unknown_is_a_422_naming_the_field(
    api: Api, body: dict[str, str], field: str
) -> None:
    incident_id = api.open_incident()
    answer = api.act(incident_id, "reassign", body)
    assert answer.status_code == 422, answer.text
    assert fields(answer) == [field]
    assert "Reassigned" not in api.types(incident_id)


@pytest.mark.parametrize(
    "body", [{"user": "bob@example.com", "schedule": "primary"}, {}], ids=["both", "neither"]
)
def test_reassigning_to_both_or_neither_says_to_give_exactly_one(
    api: Api, body: dict[str, str]
) -> None:
    incident_id = api.open_incident()
    answer = api.act(incident_id, "reassign", body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == {
        "code": "invalid",
        "message": "user: give exactly one of user and schedule",
        "problems": [{"field": "user", "message": "give exactly one of user and schedule"}],
    }


def test_reassigning_a_resolved_incident_is_a_409(api: Api) -> None:
    incident_id = api.open_incident()
    api.act(incident_id, "resolve")
    assert api.act(incident_id, "reassign", {"user": "bob@example.com"}).status_code == 409


@pytest.mark.parametrize("action", ["notes", "unacknowledge", "snooze", "reassign"])
def test_every_action_needs_a_user_token(api: Api, action: str) -> None:
    incident_id = api.open_incident()
    path = f"/api/v1/incidents/{incident_id}/{action}"
    body = {"text": "x", "until": "2024-05-01T13:00:00+00:00", "user": "bob@example.com"}
    assert api.client.post(path, json=body, headers={"Authorization": ""}).status_code == 401
    assert api.client.post(path, json=body, headers=api.genie).status_code in (401, 403)
    assert api.types(incident_id) == ["IncidentOpened", "LevelNotified"] + [
        t for t in api.types(incident_id)[2:] if t == "NotificationAttempted"
    ]


def test_opsgenie_snooze_and_escalate_map_onto_pagers(api: Api) -> None:
    created = api.client.post(
        "/v2/alerts", json={"message": "disk full", "alias": "disk"}, headers=api.genie
    )
    assert created.status_code == 202
    incident_id = api.client.get("/api/v1/incidents").json()["incidents"][0]["id"]
    end = (api.clock.now() + timedelta(minutes=30)).isoformat()
    body = {"endTime": end, "user": "ann", "note": "after lunch"}
    snoozed = api.client.post(
        "/v2/alerts/disk/snooze?identifierType=alias", json=body, headers=api.genie
    )
    assert snoozed.status_code == 202, snoozed.text
    assert snoozed.json()["result"] == "Request will be processed"
    assert api.timers() == [("snooze", 1, 0)]
    assert api.types(incident_id)[-2:] == ["Snoozed", "NoteAdded"]
    alert = api.client.get(f"/v2/alerts/{incident_id}", headers=api.genie).json()["data"]
    assert (alert["snoozed"], alert["acknowledged"]) == (True, True)
    assert datetime.fromisoformat(alert["snoozedUntil"]) == datetime.fromisoformat(end)
    past = {"endTime": "2020-01-01T00:00:00Z"}
    refused = api.client.post(f"/v2/alerts/{incident_id}/snooze", json=past, headers=api.genie)
    assert refused.status_code == 422

    escalation = {"escalation": {"name": "Ops"}, "user": "ann"}
    escalated = api.client.post(
        f"/v2/alerts/{incident_id}/escalate", json=escalation, headers=api.genie
    )
    assert escalated.status_code == 202, escalated.text
    detail = api.client.get(f"/api/v1/incidents/{incident_id}").json()
    assert (detail["status"], detail["level"]) == ("triggered", 2)
    assert api.timers() == [("ack", 2, 1)]
    last = api.client.post(f"/v2/alerts/{incident_id}/escalate", json=escalation, headers=api.genie)
    assert last.status_code == 409
    no_key = api.client.post(
        f"/v2/alerts/{incident_id}/escalate", json=escalation, headers={"Authorization": ""}
    )
    assert no_key.status_code in (401, 403, 422)


@pytest.mark.parametrize("first", ["snooze", "acknowledge"], ids=["snoozed", "acknowledged"])
def test_pages_queued_after_an_acknowledgement_in_the_same_batch_stay_queued(
    api: Api, first: str
) -> None:
    # Two commands committed together (group commit batches them): the level 1 pages from
    # before the acknowledgement are cancelled, the escalation's and reassignment's are not.
    incident_id = api.open_incident()
    until = api.clock.now() + timedelta(hours=1)
    stop = (
        Snooze("db", incident_id, until, "ann")
        if first == "snooze"
        else Acknowledge("db", incident_id, "ann")
    )
    api.app.handlers.execute(
        [
            stop,
            Escalate("db", incident_id, "bob"),
            Reassign("db", incident_id, UserTarget(BOB.email), "bob"),
        ]
    )
    with api.app.engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.notifications.c.level, t.notifications.c.target_key,
                      t.notifications.c.status)
            .where(t.notifications.c.incident_id == incident_id)
        ).all()  # fmt: skip
    assert sorted(tuple(row) for row in rows) == [
        (1, "email:alice@example.com", "cancelled"),
        (1, "sms:+14155550100", "cancelled"),
        (2, "email:bob@example.com", "queued"),
        (2, "user:bob@example.com:mail/reassign-1", "queued"),
    ]
