"""The Opsgenie Alert API calls besides create, acknowledge and close, in the shapes of
Opsgenie's documentation: request status, get, list and count alerts, add note,
unacknowledge; each within the service of the GenieKey."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Pager
from tests.e2e.harness import server_command
from tests.e2e.test_integrations import accepted, genie, wait_for

INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def request_status(client: httpx.Client, answer: httpx.Response) -> dict[str, Any]:
    accepted(answer)
    polled = client.get(f"/v2/alerts/requests/{answer.json()['requestId']}")
    assert polled.status_code == 200, polled.text
    body: dict[str, Any] = polled.json()
    assert set(body) == {"data", "took", "requestId"}
    assert isinstance(body["took"], float)
    assert INSTANT.match(body["data"]["processedAt"])
    assert body["data"]["success"] is body["data"]["isSuccess"]
    data: dict[str, Any] = body["data"]
    return data


def get_alert(client: httpx.Client, identifier: str, **params: str) -> dict[str, Any]:
    answer = client.get(f"/v2/alerts/{identifier}", params=params)
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == {"data", "took", "requestId"}
    alert: dict[str, Any] = answer.json()["data"]
    return alert


def test_each_request_can_be_polled_for_what_it_did(pager: Pager) -> None:
    service_id, key = pager.service()
    client = genie(pager, key)
    created = request_status(
        client, client.post("/v2/alerts", json={"message": "disk full", "alias": "disk"})
    )
    incident = pager.open_incident(service_id)
    assert incident is not None
    assert {k: v for k, v in created.items() if k != "processedAt"} == {
        "success": True,
        "action": "Create",
        "integrationId": service_id,
        "isSuccess": True,
        "status": "Created alert",
        "alertId": incident["id"],
        "alias": "disk",
    }
    again = request_status(
        client, client.post("/v2/alerts", json={"message": "x", "alias": "disk"})
    )
    assert (again["isSuccess"], again["alertId"]) == (True, incident["id"])
    acked = request_status(client, client.post(f"/v2/alerts/{incident['id']}/acknowledge"))
    assert (acked["action"], acked["status"], acked["alias"]) == (
        "Acknowledge",
        "Acknowledged alert",
        "disk",
    )
    closed = request_status(
        client, client.post("/v2/alerts/disk/close", params={"identifierType": "alias"})
    )
    assert (closed["action"], closed["isSuccess"], closed["alertId"]) == (
        "Close",
        True,
        incident["id"],
    )
    # An alias that fires nowhere: accepted, and its request says nothing was done.
    missed = request_status(
        client, client.post("/v2/alerts/disk/acknowledge", params={"identifierType": "alias"})
    )
    assert (missed["isSuccess"], missed["status"], missed["alertId"]) == (
        False,
        "Alert does not exist",
        "",
    )


def test_an_alert_without_alias_is_known_by_its_id_as_alias(pager: Pager) -> None:
    service_id, key = pager.service()
    client = genie(pager, key)
    created = request_status(client, client.post("/v2/alerts", json={"message": "queue stuck"}))
    assert created["alias"] == created["alertId"]
    alert = get_alert(client, created["alias"], identifierType="alias")
    assert (alert["id"], alert["alias"]) == (created["alertId"], created["alertId"])
    accepted(client.post(f"/v2/alerts/{created['alias']}/close?identifierType=alias"))
    assert pager.get_service(service_id)["state"] == "healthy"


def test_unknown_and_other_keys_requests_are_not_found(pager: Pager) -> None:
    _, key = pager.service()
    _, other_key = pager.service()
    mine = genie(pager, key).post("/v2/alerts", json={"message": "x"}).json()["requestId"]
    forged = mine[:-2] + ("AA" if not mine.endswith("AA") else "BB")
    for client, request_id in [
        (genie(pager, key), "6b6d7b8e-0000-4000-8000-000000000000"),
        (genie(pager, key), forged),  # what a request id says is signed
        (genie(pager, other_key), mine),
    ]:
        answer = client.get(f"/v2/alerts/requests/{request_id}")
        assert answer.status_code == 404
        body = answer.json()
        assert body["message"] == "Request not found. It might not be processed, yet."
        assert {"took", "requestId"} <= set(body)
    anonymous = pager.anonymous.get(f"/v2/alerts/requests/{mine}")
    assert anonymous.status_code == 401
    assert anonymous.json()["message"] == "use `Authorization: GenieKey <integration key>`"


def test_get_alert_by_id_and_by_alias(pager: Pager) -> None:
    service_id, key = pager.service()
    client = genie(pager, key)
    accepted(
        client.post("/v2/alerts", json={"message": "disk full", "alias": "disk", "priority": "P2"})
    )
    accepted(client.post("/v2/alerts", json={"message": "disk fuller", "alias": "disk-2"}))
    incident = pager.open_incident(service_id)
    assert incident is not None
    alert = get_alert(client, incident["id"])
    assert alert == get_alert(client, "disk-2", identifierType="alias")
    assert alert["id"] == incident["id"]
    assert alert["tinyId"] == incident["id"][:8]
    assert (alert["alias"], alert["message"], alert["count"]) == ("disk", "disk full", 2)
    assert (alert["status"], alert["acknowledged"], alert["snoozed"]) == ("open", False, False)
    assert (alert["priority"], alert["source"], alert["owner"]) == ("P2", "opsgenie", "")
    assert alert["integration"] == {"id": service_id, "name": service_id.title(), "type": "API"}
    assert INSTANT.match(alert["createdAt"])
    assert alert["createdAt"] == alert["updatedAt"]
    assert alert["report"] == {}

    accepted(client.post(f"/v2/alerts/{incident['id']}/acknowledge", json={"user": "alice"}))
    alert = get_alert(client, incident["id"])
    assert (alert["acknowledged"], alert["owner"]) == (True, "alice")
    assert alert["report"]["acknowledgedBy"] == "alice"
    assert isinstance(alert["report"]["ackTime"], int)
    accepted(client.post(f"/v2/alerts/{incident['id']}/close", json={"user": "bob"}))
    alert = get_alert(client, incident["id"])
    assert (alert["status"], alert["report"]["closedBy"]) == ("closed", "bob")
    assert alert["updatedAt"] >= alert["createdAt"]
    # A closed alert is still there by id; by alias, only open ones are.
    gone = client.get("/v2/alerts/disk", params={"identifierType": "alias"})
    assert gone.status_code == 404
    assert gone.json()["message"].startswith("Alert does not exist")


def test_an_integration_key_sees_only_its_own_services_alerts(pager: Pager) -> None:
    service_id, key = pager.service()
    _, other_key = pager.service()
    accepted(genie(pager, key).post("/v2/alerts", json={"message": "x", "alias": "a"}))
    incident = pager.open_incident(service_id)
    assert incident is not None
    other = genie(pager, other_key)
    for method, path in [
        ("GET", f"/v2/alerts/{incident['id']}"),
        ("GET", "/v2/alerts/a?identifierType=alias"),
        ("POST", f"/v2/alerts/{incident['id']}/notes"),
        ("POST", f"/v2/alerts/{incident['id']}/unacknowledge"),
        ("POST", "/v2/alerts/a/notes?identifierType=alias"),
    ]:
        answer = other.request(method, path, json={"note": "hello"})
        assert answer.status_code == 404, (path, answer.text)
        assert {"message", "took", "requestId"} <= set(answer.json())
    assert other.get("/v2/alerts").json()["data"] == []
    assert other.get("/v2/alerts/count").json()["data"] == {"count": 0}
    assert pager.incident(incident["id"])["timeline"][-1]["type"] != "NoteAdded"


def test_list_and_count_alerts_with_paging_and_queries(pager: Pager) -> None:
    service_id, key = pager.service()
    client = genie(pager, key)
    ids = []
    for n in range(3):
        accepted(client.post("/v2/alerts", json={"message": f"outage {n}", "alias": f"o{n}"}))
        incident = pager.open_incident(service_id)
        assert incident is not None
        ids.append(incident["id"])
        if n < 2:
            accepted(client.post(f"/v2/alerts/{incident['id']}/acknowledge"))
            accepted(client.post(f"/v2/alerts/{incident['id']}/close"))
    listed = client.get("/v2/alerts", params={"limit": 2})
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert set(body) == {"data", "paging", "took", "requestId"}
    assert [alert["id"] for alert in body["data"]] == [ids[2], ids[1]]
    paging = body["paging"]
    assert set(paging) == {"first", "next", "last"}
    assert "offset=2" in paging["next"]
    assert "limit=2" in paging["next"]
    assert paging["next"].startswith(pager.url + "/v2/alerts?")
    following = client.get(paging["next"]).json()
    assert [alert["id"] for alert in following["data"]] == [ids[0]]
    assert "next" not in following["paging"]
    assert "offset=0" in following["paging"]["prev"]
    oldest = client.get("/v2/alerts", params={"order": "asc"}).json()["data"]
    assert [alert["id"] for alert in oldest] == ids

    def count(query: str) -> int:
        answer = client.get("/v2/alerts/count", params={"query": query})
        assert answer.status_code == 200, answer.text
        assert set(answer.json()) == {"data", "took", "requestId"}
        found: int = answer.json()["data"]["count"]
        return found

    assert count("") == 3
    assert count("status:open") == 1
    assert count("status: closed AND acknowledged: true") == 2
    assert count("acknowledged:false") == 1
    opened = client.get("/v2/alerts", params={"query": "status:open"}).json()["data"]
    assert [(a["id"], a["status"]) for a in opened] == [(ids[2], "open")]


@pytest.mark.parametrize(
    "params",
    [
        {"query": "tag:critical"},
        {"query": "status:snoozed"},
        {"searchIdentifier": "mine"},
        {"limit": "101"},
        {"limit": "0"},
        {"offset": "-1"},
        {"sort": "message"},
        {"order": "sideways"},
    ],
)
def test_list_alerts_refuses_what_it_cannot_answer(pager: Pager, params: dict[str, str]) -> None:
    _, key = pager.service()
    answer = genie(pager, key).get("/v2/alerts", params=params)
    assert answer.status_code == 422, answer.text
    assert {"message", "took", "requestId", "error"} <= set(answer.json())


def test_notes_go_on_the_incidents_timeline(pager: Pager) -> None:
    service_id, key = pager.service()
    client = genie(pager, key)
    accepted(client.post("/v2/alerts", json={"message": "disk full", "alias": "disk"}))
    incident = pager.open_incident(service_id)
    assert incident is not None
    note = {"user": "alice", "source": "runbook", "note": "Cleared /var/log"}
    added = request_status(
        client, client.post("/v2/alerts/disk/notes", params={"identifierType": "alias"}, json=note)
    )
    assert (added["action"], added["status"], added["alertId"]) == (
        "AddNote",
        "Added note",
        incident["id"],
    )
    # The note of an action goes on the timeline too; a resolved incident still takes notes.
    accepted(
        client.post(f"/v2/alerts/{incident['id']}/close", json={"note": "fixed", "user": "bob"})
    )
    accepted(client.post(f"/v2/alerts/{incident['id']}/notes", json={"note": "postmortem: PM-12"}))
    notes = [
        (entry["data"]["by"], entry["data"]["text"])
        for entry in pager.incident(incident["id"])["timeline"]
        if entry["type"] == "NoteAdded"
    ]
    assert notes == [
        ("alice", "Cleared /var/log"),
        ("bob", "fixed"),
        ("opsgenie", "postmortem: PM-12"),
    ]


@pytest.mark.parametrize(
    ("body", "status"),
    [({}, 422), ({"note": ""}, 422), ({"note": "   "}, 422), ({"note": "x" * 25_001}, 422)],
)
def test_a_note_needs_words(pager: Pager, body: dict[str, str], status: int) -> None:
    service_id, key = pager.service()
    client = genie(pager, key)
    accepted(client.post("/v2/alerts", json={"message": "x"}))
    incident = pager.open_incident(service_id)
    assert incident is not None
    answer = client.post(f"/v2/alerts/{incident['id']}/notes", json=body)
    assert answer.status_code == status, answer.text
    assert {"message", "took", "requestId"} <= set(answer.json())


def test_unacknowledging_triggers_the_incident_again(pager: Pager) -> None:
    service_id, key = pager.service()
    client = genie(pager, key)
    accepted(client.post("/v2/alerts", json={"message": "disk full", "alias": "disk"}))
    incident = pager.open_incident(service_id)
    assert incident is not None
    accepted(client.post("/v2/alerts/disk/acknowledge?identifierType=alias", json={"user": "al"}))
    assert pager.incident(incident["id"])["status"] == "acknowledged"
    undone = request_status(
        client,
        client.post("/v2/alerts/disk/unacknowledge?identifierType=alias", json={"user": "al"}),
    )
    assert (undone["action"], undone["status"], undone["alertId"]) == (
        "UnAcknowledge",
        "Unacknowledged alert",
        incident["id"],
    )
    detail = pager.incident(incident["id"])
    assert (detail["status"], detail["acknowledged_by"]) == ("triggered", None)
    assert detail["timeline"][-1]["type"] == "Unacknowledged"
    assert get_alert(client, incident["id"])["acknowledged"] is False
    accepted(client.post(f"/v2/alerts/{incident['id']}/unacknowledge"))  # triggered: no-op
    accepted(client.post(f"/v2/alerts/{incident['id']}/close"))
    conflict = client.post(f"/v2/alerts/{incident['id']}/unacknowledge")
    assert conflict.status_code == 409
    assert {"message", "took", "requestId"} <= set(conflict.json())


@pytest.mark.skipif(server_command() != "serve", reason="needs the worker (`pagerd serve`)")
def test_after_unacknowledging_the_escalation_resumes_from_the_current_level(
    pager: Pager,
) -> None:
    service_id, key = pager.service(policy_id=pager.policy(timeout=2))
    client = genie(pager, key)
    accepted(client.post("/v2/alerts", json={"message": "disk full"}))
    incident = pager.open_incident(service_id)
    assert incident is not None
    accepted(client.post(f"/v2/alerts/{incident['id']}/acknowledge"))
    accepted(client.post(f"/v2/alerts/{incident['id']}/unacknowledge"))
    wait_for(lambda: pager.incident(incident["id"])["level"] == 2)
    levels = [(n["level"], n["channel"]) for n in pager.incident(incident["id"])["notifications"]]
    assert sorted(levels) == [(1, "email"), (1, "sms"), (2, "email")]  # level 1 paged once
