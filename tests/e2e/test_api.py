"""The HTTP API of a running `pagerd`, endpoint by endpoint, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Pager


def error_of(answer: Any, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert set(body) == {"error"}, body
    assert {"code", "message"} <= set(body["error"]), body
    return body["error"]


# -- escalation policies


def test_a_policy_is_created_read_replaced_listed_and_deleted(pager: Pager) -> None:
    policy_id = pager.new_id("pol")
    body = {
        "name": "Database on call",
        "repeat": 1,
        "levels": [
            {
                "ack_timeout_seconds": 300,
                "targets": [{"type": "email", "address": "a@example.com"}],
            },
            {
                "targets": [
                    {"type": "webhook", "url": "https://hooks.example/p", "secret": "s3cret"}
                ]
            },
        ],
    }
    created = pager.admin.put(f"/api/v1/escalation-policies/{policy_id}", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["levels"][1] == {
        "ack_timeout_seconds": 900,
        "targets": [{"type": "webhook", "url": "https://hooks.example/p", "secret": "s3cret"}],
    }
    assert pager.admin.put(f"/api/v1/escalation-policies/{policy_id}", json=body).status_code == 200

    body["name"] = "DB on call"
    changed = pager.admin.put(f"/api/v1/escalation-policies/{policy_id}", json=body)
    assert (changed.status_code, changed.json()["name"]) == (200, "DB on call")

    read = pager.admin.get(f"/api/v1/escalation-policies/{policy_id}").json()
    assert read["repeat"] == 1
    assert read["used_by"] == []
    # Responders see who is paged, not the webhook's secret.
    seen = pager.responder.get(f"/api/v1/escalation-policies/{policy_id}").json()
    assert seen["levels"][1]["targets"][0]["secret"] == "[redacted]"

    listed = pager.admin.get("/api/v1/escalation-policies").json()["escalation_policies"]
    assert policy_id in [p["id"] for p in listed]

    assert pager.admin.delete(f"/api/v1/escalation-policies/{policy_id}").status_code == 204
    error_of(pager.admin.get(f"/api/v1/escalation-policies/{policy_id}"), 404)
    error_of(pager.admin.delete(f"/api/v1/escalation-policies/{policy_id}"), 404)


def test_deleting_a_policy_in_use_is_a_conflict(pager: Pager) -> None:
    service_id, _ = pager.service()
    policy_id = pager.get_service(service_id)["escalation_policy"]
    error = error_of(pager.admin.delete(f"/api/v1/escalation-policies/{policy_id}"), 409)
    assert service_id in error["message"]
    used_by = pager.admin.get(f"/api/v1/escalation-policies/{policy_id}").json()["used_by"]
    assert used_by == [service_id]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "levels": []}, "levels"),
        ({"name": "x", "levels": [{"targets": []}]}, "levels.0.targets"),
        ({"name": "", "levels": [{"targets": [{"type": "email", "address": "a@b.co"}]}]}, "name"),
        (
            {"name": "x", "levels": [{"targets": [{"type": "sms", "phone": "555-0100"}]}]},
            "level 1 target 1",
        ),
        (
            {"name": "x", "levels": [{"targets": [{"type": "pigeon", "to": "roof"}]}]},
            "levels.0.targets.0",
        ),
        (
            {
                "name": "x",
                "levels": [
                    {"ack_timeout_seconds": 0, "targets": [{"type": "email", "address": "a@b.co"}]}
                ],
            },
            "levels.0.ack_timeout_seconds",
        ),
        ({"name": "x", "repeat": -1, "levels": [{"targets": []}]}, "repeat"),
    ],
)
def test_an_invalid_policy_is_a_422_naming_the_problem(
    pager: Pager, body: dict[str, Any], field: str
) -> None:
    answer = pager.admin.put(f"/api/v1/escalation-policies/{pager.new_id('bad')}", json=body)
    error = error_of(answer, 422)
    assert any(p["field"].startswith(field) for p in error["problems"]), error


# -- services


def test_a_service_is_created_with_an_integration_key_shown_once(pager: Pager) -> None:
    policy_id = pager.policy()
    service_id = pager.new_id("svc")
    body = {"name": "Checkout", "escalation_policy": policy_id}
    created = pager.admin.put(f"/api/v1/services/{service_id}", json=body)
    assert created.status_code == 201, created.text
    service = created.json()
    key = service["integration_key"]
    assert len(key) == 32
    assert service["integration_key_hint"] == "…" + key[-4:]
    assert service["state"] == "healthy"
    assert service["open_incident"] is None

    again = pager.admin.put(f"/api/v1/services/{service_id}", json=body)
    assert again.status_code == 200
    assert again.json()["integration_key"] is None  # stored hashed: never shown again
    read = pager.admin.get(f"/api/v1/services/{service_id}").json()
    assert read["integration_key"] is None
    assert read["integration_key_hint"] == "…" + key[-4:]
    # Responders do not even see the hint.
    seen = pager.responder.get(f"/api/v1/services/{service_id}").json()
    assert seen["integration_key_hint"] is None
    assert seen["integration_key"] is None

    renamed = pager.admin.put(f"/api/v1/services/{service_id}", json={**body, "name": "Till"})
    assert (renamed.status_code, renamed.json()["name"]) == (200, "Till")
    listed = pager.responder.get("/api/v1/services").json()["services"]
    assert {"id": service_id, "state": "healthy"}.items() <= next(
        s for s in listed if s["id"] == service_id
    ).items()


def test_rotating_the_integration_key_revokes_the_old_one(pager: Pager) -> None:
    service_id, old = pager.service()
    rotated = pager.admin.post(f"/api/v1/services/{service_id}/integration-key")
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["integration_key"]
    assert new
    assert new != old
    alert = {"service": service_id, "message": "disk full"}
    error_of(pager.client(old).post("/api/v1/alerts", json=alert), 401)
    assert pager.client(new).post("/api/v1/alerts", json=alert).status_code == 202
    error_of(pager.admin.post("/api/v1/services/nope-nope/integration-key"), 404)


def test_a_service_needs_an_existing_policy(pager: Pager) -> None:
    answer = pager.admin.put(
        f"/api/v1/services/{pager.new_id('svc')}",
        json={"name": "Web", "escalation_policy": "no-such-policy"},
    )
    assert error_of(answer, 404)["code"] == "not_found"
    error_of(pager.admin.put("/api/v1/services/Not_A_Slug", json={"name": "x"}), 422)


def test_deleting_a_service_resolves_its_incident_and_revokes_its_key(pager: Pager) -> None:
    service_id, key = pager.service()
    incident_id = (
        pager.client(key)
        .post("/api/v1/alerts", json={"service": service_id, "message": "down"})
        .json()["incident_id"]
    )
    assert pager.admin.delete(f"/api/v1/services/{service_id}").status_code == 204
    error_of(pager.admin.get(f"/api/v1/services/{service_id}"), 404)
    assert pager.incident(incident_id)["status"] == "resolved"
    error_of(
        pager.client(key).post("/api/v1/alerts", json={"service": service_id, "message": "x"}), 401
    )
    error_of(pager.admin.delete(f"/api/v1/services/{service_id}"), 404)


# -- alerts and incidents


def test_an_alert_opens_an_incident_that_pages_level_one(pager: Pager) -> None:
    service_id, key = pager.service()
    answer = pager.client(key).post(
        "/api/v1/alerts",
        json={"service": service_id, "message": "checkout 5xx > 5%", "severity": "critical"},
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["action"] == "opened"
    incident = pager.incident(answer.json()["incident_id"])
    assert incident["status"] == "triggered"
    assert incident["level"] == 1
    assert incident["message"] == "checkout 5xx > 5%"
    notified = sorted((n["level"], n["channel"]) for n in incident["notifications"])
    assert notified == [(1, "email"), (1, "sms")]
    # No SMTP or Twilio configured here: pages are written to the log.
    assert {n["status"] for n in incident["notifications"]} <= {"queued", "logged"}
    types = [e["type"] for e in incident["timeline"] if e["type"] != "NotificationAttempted"]
    assert types[:2] == ["IncidentOpened", "LevelNotified"]

    service = pager.get_service(service_id)
    assert service["state"] == "unhealthy"
    assert service["open_incident"]["id"] == incident["id"]


def test_later_alerts_attach_and_a_repeated_key_changes_nothing(pager: Pager) -> None:
    service_id, _ = pager.service()
    first = {"service": service_id, "message": "disk 91%", "dedup_key": "disk"}
    opened = pager.admin.post("/api/v1/alerts", json=first).json()
    again = pager.admin.post("/api/v1/alerts", json=first).json()
    other = pager.responder.post(
        "/api/v1/alerts", json={"service": service_id, "message": "cpu", "dedup_key": "cpu"}
    ).json()
    assert again == {"incident_id": opened["incident_id"], "action": "attached"}
    assert other["action"] == "attached"
    incident = pager.incident(opened["incident_id"])
    assert incident["alert_count"] == 2  # the repeat was not counted
    assert sorted(incident["dedup_keys"]) == ["cpu", "disk"]
    assert len(incident["notifications"]) == 2  # level 1 only, once


def test_acknowledge_then_resolve(pager: Pager) -> None:
    service_id, _ = pager.service()
    incident_id = pager.admin.post(
        "/api/v1/alerts", json={"service": service_id, "message": "down"}
    ).json()["incident_id"]

    acked = pager.responder.post(f"/api/v1/incidents/{incident_id}/acknowledge")
    assert acked.status_code == 200, acked.text
    assert acked.json()["status"] == "acknowledged"
    assert acked.json()["acknowledged_by"] == "responder@example.com"
    twice = pager.responder.post(
        f"/api/v1/incidents/{incident_id}/acknowledge", json={"by": "someone else"}
    )
    assert twice.json()["acknowledged_by"] == "responder@example.com"  # a no-op

    resolved = pager.responder.post(f"/api/v1/incidents/{incident_id}/resolve", json={"by": "al"})
    assert resolved.status_code == 200
    assert (resolved.json()["status"], resolved.json()["resolved_by"]) == ("resolved", "al")
    assert pager.get_service(service_id)["state"] == "healthy"
    timeline = resolved.json()["timeline"]
    # Delivery attempts (by the worker, if one runs) interleave with the events.
    types = [entry["type"] for entry in timeline if entry["type"] != "NotificationAttempted"]
    assert types[-2:] == ["Acknowledged", "IncidentResolved"]

    error = error_of(pager.responder.post(f"/api/v1/incidents/{incident_id}/acknowledge"), 409)
    assert "resolved" in error["message"]
    assert pager.responder.post(f"/api/v1/incidents/{incident_id}/resolve").status_code == 200


def test_a_healthy_event_resolves_the_open_incident(pager: Pager) -> None:
    service_id, key = pager.service()
    incident_id = (
        pager.client(key)
        .post("/api/v1/alerts", json={"service": service_id, "message": "down"})
        .json()["incident_id"]
    )
    healthy = pager.client(key).post(f"/api/v1/services/{service_id}/healthy")
    assert healthy.status_code == 200, healthy.text
    assert healthy.json()["state"] == "healthy"
    assert healthy.json()["open_incident"] is None
    incident = pager.incident(incident_id)
    assert incident["status"] == "resolved"
    assert {n["status"] for n in incident["notifications"]} <= {"logged", "cancelled"}
    assert pager.responder.post(f"/api/v1/services/{service_id}/healthy").status_code == 200
    error_of(pager.admin.post("/api/v1/services/no-such-service/healthy"), 404)


def test_incidents_are_listed_by_service_and_status(pager: Pager) -> None:
    service_id, _ = pager.service()
    first = pager.admin.post("/api/v1/alerts", json={"service": service_id, "message": "one"})
    pager.admin.post(f"/api/v1/services/{service_id}/healthy")
    second = pager.admin.post("/api/v1/alerts", json={"service": service_id, "message": "two"})

    def ids(**params: str) -> list[str]:
        answer = pager.responder.get("/api/v1/incidents", params={"service": service_id, **params})
        assert answer.status_code == 200, answer.text
        return [incident["id"] for incident in answer.json()["incidents"]]

    assert ids() == [second.json()["incident_id"], first.json()["incident_id"]]
    assert ids(status="resolved") == [first.json()["incident_id"]]
    assert ids(status="open") == ids(status="triggered") == [second.json()["incident_id"]]
    assert ids(status="acknowledged") == []
    error_of(pager.responder.get("/api/v1/incidents", params={"status": "sleeping"}), 422)


def test_unknown_things_are_404(pager: Pager) -> None:
    error_of(pager.admin.get("/api/v1/incidents/0123456789abcdef"), 404)
    error_of(pager.admin.post("/api/v1/incidents/0123456789abcdef/acknowledge"), 404)
    error_of(pager.admin.post("/api/v1/incidents/0123456789abcdef/resolve"), 404)
    error_of(pager.admin.get("/api/v1/services/no-such-service"), 404)
    error_of(pager.admin.get("/api/v1/services/no-such-service/events"), 404)
    error = error_of(
        pager.admin.post("/api/v1/alerts", json={"service": "no-such-service", "message": "x"}),
        404,
    )
    assert error["code"] == "not_found"
    error_of(pager.admin.get("/api/v1/nothing-here"), 404)


def test_the_event_stream_reads_on_from_a_version(pager: Pager) -> None:
    service_id, _ = pager.service()
    pager.admin.post("/api/v1/alerts", json={"service": service_id, "message": "down"})
    everything = pager.responder.get(f"/api/v1/services/{service_id}/events").json()
    types = [event["type"] for event in everything["events"]]
    assert types == ["ServiceCreated", "IncidentOpened", "LevelNotified"]
    assert [event["version"] for event in everything["events"]] == [1, 2, 3]
    assert everything["last_version"] == 3

    pager.admin.post(f"/api/v1/services/{service_id}/healthy")
    later = pager.responder.get(
        f"/api/v1/services/{service_id}/events", params={"after": everything["last_version"]}
    ).json()
    assert [(e["version"], e["type"]) for e in later["events"]] == [(4, "IncidentResolved")]
    error_of(pager.responder.get(f"/api/v1/services/{service_id}/events?after=-1"), 422)


# -- bad input: always a JSON error, never a 500


def test_bad_input_gets_json_errors(pager: Pager) -> None:
    service_id, _ = pager.service()
    headers = {"Content-Type": "application/json"}
    assert (
        error_of(pager.admin.post("/api/v1/alerts", content=b"{", headers=headers), 400)["code"]
        == "invalid_json"
    )
    error = error_of(pager.admin.post("/api/v1/alerts", json={"service": service_id}), 422)
    assert error["problems"] == [{"field": "message", "message": "Field required"}]
    error_of(pager.admin.post("/api/v1/alerts", json={"service": service_id, "message": "  "}), 422)
    error_of(
        pager.admin.post("/api/v1/alerts", json={"service": service_id, "message": "a\u0000b"}),
        422,
    )
    error_of(
        pager.admin.post(
            "/api/v1/alerts",
            content=b'{"service": "%s", "message": "\\ud800"}' % service_id.encode(),
            headers=headers,
        ),
        422,
    )
    error_of(pager.admin.post("/api/v1/alerts", json=["not", "an", "object"]), 422)
    error_of(
        pager.admin.post("/api/v1/alerts", json={"service": service_id, "message": "x" * 5000}), 422
    )
    error_of(
        pager.admin.put(
            f"/api/v1/services/{service_id}", json={"name": "x" * 201, "escalation_policy": "p"}
        ),
        422,
    )


def test_a_body_over_the_limit_is_a_413(pager: Pager) -> None:
    big = {"service": "whatever", "message": "x" * (1024 * 1024)}
    assert error_of(pager.admin.post("/api/v1/alerts", json=big), 413)["code"] == "too_large"


def test_openapi_and_docs_are_served(pager: Pager) -> None:
    schema = pager.anonymous.get("/openapi.json").json()
    for path in (
        "/api/v1/alerts",
        "/api/v1/incidents/{incident_id}/acknowledge",
        "/api/v1/services/{service_id}/integration-key",
        "/api/v1/escalation-policies/{policy_id}",
        "/integrations/alertmanager",
        "/v2/enqueue",
        "/v2/alerts",
    ):
        assert path in schema["paths"], path
    assert "swagger" in pager.anonymous.get("/docs").text.lower()
