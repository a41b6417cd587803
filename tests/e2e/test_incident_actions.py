"""Incident actions against `pagerd serve` on SQLite and PostgreSQL: a snooze of a couple of
seconds runs out on the worker's durable timer and pages level 1 of the next round;
reassigning pages a user at once; a note is on the timeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.e2e.conftest import RESPONDER, Pager
from tests.support.worker import wait_until


def open_incident(pager: Pager) -> str:
    service_id, key = pager.service()
    answer = pager.client(key).post(
        "/api/v1/alerts", json={"service": service_id, "message": "disk full"}
    )
    assert answer.status_code in (200, 201, 202), answer.text
    incident_id: str = answer.json()["incident_id"]
    return incident_id


def types(incident: dict[str, Any]) -> list[str]:
    """The timeline's events, without the delivery attempts between them."""
    return [e["type"] for e in incident["timeline"] if e["type"] != "NotificationAttempted"]


def test_a_snooze_runs_out_and_pages_level_1_of_the_next_round(pager: Pager) -> None:
    incident_id = open_incident(pager)
    until = datetime.now(UTC) + timedelta(seconds=2)
    answer = pager.responder.post(
        f"/api/v1/incidents/{incident_id}/snooze", json={"until": until.isoformat()}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "acknowledged"

    wait_until(lambda: pager.incident(incident_id)["round"] == 2, what="the snooze to run out")
    incident = pager.incident(incident_id)
    assert (incident["status"], incident["level"]) == ("triggered", 1)
    assert types(incident)[-2:] == ["SnoozeEnded", "LevelNotified"]
    assert sorted(n["level"] for n in incident["notifications"] if n["round"] == 2) == [1, 1]


def test_reassigning_pages_a_user_now_and_notes_stay_on_the_timeline(pager: Pager) -> None:
    incident_id = open_incident(pager)
    person = {
        "contact_methods": [{"id": "mail", "type": "email", "address": "r@example.com"}],
    }
    assert pager.admin.put(f"/api/v1/users/{RESPONDER}", json=person).status_code == 200
    answer = pager.responder.post(
        f"/api/v1/incidents/{incident_id}/reassign", json={"user": RESPONDER}
    )
    assert answer.status_code == 200, answer.text
    paged = [n for n in answer.json()["notifications"] if n["target"].get("address")]
    assert "r@example.com" in [n["target"]["address"] for n in paged]
    noted = pager.responder.post(
        f"/api/v1/incidents/{incident_id}/notes", json={"text": "looking at the replica"}
    )
    assert noted.status_code == 201, noted.text
    assert types(pager.incident(incident_id))[-2:] == ["Reassigned", "NoteAdded"]
