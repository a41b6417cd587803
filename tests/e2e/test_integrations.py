"""Monitoring tools talk to Pager unchanged: request bodies exactly as Alertmanager, Grafana,
Zabbix and Opsgenie clients send them (payloads/), against a running `pagerd`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Pager
from tests.e2e.harness import payload, server_command


def level_one_pages(pager: Pager, incident_id: str) -> list[tuple[int, int, str]]:
    notifications = pager.incident(incident_id)["notifications"]
    return sorted((n["round"], n["level"], n["channel"]) for n in notifications)


# -- Alertmanager webhook (version 4)


def test_alertmanager_firing_resent_partially_resolved_then_resolved(pager: Pager) -> None:
    service_id, key = pager.service()
    am = pager.client(key)

    firing = am.post("/integrations/alertmanager", json=payload("alertmanager-webhook-firing.json"))
    assert firing.status_code == 202, firing.text
    handled = firing.json()["alerts"]
    assert [(a["dedup_key"], a["action"]) for a in handled] == [
        ("c8a375962cc9ad75", "opened"),
        ("ff6b7b7b7daf4046", "attached"),
    ]
    incident_id = handled[0]["incident_id"]
    incident = pager.incident(incident_id)
    assert incident["message"] == "HighLatency: p99 latency > 1s on api-1"
    assert sorted(incident["dedup_keys"]) == ["c8a375962cc9ad75", "ff6b7b7b7daf4046"]
    assert level_one_pages(pager, incident_id) == [(1, 1, "email"), (1, 1, "sms")]

    # Alertmanager sends the group again every repeat_interval: nothing changes, nobody is paged.
    resent = am.post("/integrations/alertmanager", json=payload("alertmanager-webhook-firing.json"))
    assert [a["action"] for a in resent.json()["alerts"]] == ["unchanged", "unchanged"]
    assert pager.incident(incident_id)["alert_count"] == 2
    assert level_one_pages(pager, incident_id) == [(1, 1, "email"), (1, 1, "sms")]

    # A "firing" group holding a resolved alert: that alert is done, the incident is not.
    partly = am.post(
        "/integrations/alertmanager", json=payload("alertmanager-webhook-partially-resolved.json")
    )
    assert partly.status_code == 202
    assert pager.incident(incident_id)["dedup_keys"] == ["ff6b7b7b7daf4046"]
    assert pager.get_service(service_id)["state"] == "unhealthy"

    # The last one resolves: the service is healthy again.
    resolved = am.post(
        "/integrations/alertmanager", json=payload("alertmanager-webhook-resolved.json")
    )
    assert resolved.json()["alerts"][0]["action"] == "resolved"
    incident = pager.incident(incident_id)
    assert (incident["status"], incident["resolved_by"]) == ("resolved", "integration")
    assert pager.get_service(service_id)["state"] == "healthy"
    # ... and a late re-send of "resolved" is harmless.
    late = am.post("/integrations/alertmanager", json=payload("alertmanager-webhook-resolved.json"))
    assert late.json()["alerts"][0]["action"] == "unchanged"


def test_an_acknowledged_incident_is_not_restarted_by_a_resend(pager: Pager) -> None:
    _service_id, key = pager.service()
    am = pager.client(key)
    body = payload("alertmanager-webhook-firing.json")
    incident_id = am.post("/integrations/alertmanager", json=body).json()["alerts"][0][
        "incident_id"
    ]
    pager.responder.post(f"/api/v1/incidents/{incident_id}/acknowledge")
    am.post("/integrations/alertmanager", json=body)
    incident = pager.incident(incident_id)
    assert incident["status"] == "acknowledged"
    assert incident["level"] == 1
    assert level_one_pages(pager, incident_id) == [(1, 1, "email"), (1, 1, "sms")]


def test_alerts_without_fingerprint_are_keyed_by_their_labels(pager: Pager) -> None:
    _service_id, key = pager.service()
    body = payload("alertmanager-webhook-firing.json")
    for alert in body["alerts"]:
        del alert["fingerprint"]
    first = pager.client(key).post("/integrations/alertmanager", json=body).json()["alerts"]
    second = pager.client(key).post("/integrations/alertmanager", json=body).json()["alerts"]
    assert [a["dedup_key"] for a in first] == [a["dedup_key"] for a in second]
    assert len({a["dedup_key"] for a in first}) == 2
    assert [a["action"] for a in second] == ["unchanged", "unchanged"]


def test_the_alertmanager_endpoint_wants_the_services_key(pager: Pager) -> None:
    body = payload("alertmanager-webhook-firing.json")
    assert pager.anonymous.post("/integrations/alertmanager", json=body).status_code == 401
    assert pager.client("nope").post("/integrations/alertmanager", json=body).status_code == 401
    _, key = pager.service()
    answer = pager.client(key).post("/integrations/alertmanager", json={"version": "4"})
    assert answer.status_code == 422


# -- Grafana webhook contact point (version 1)


def test_grafana_webhook_opens_and_resolves(pager: Pager) -> None:
    service_id, key = pager.service()
    grafana = pager.client(key)
    firing = grafana.post("/integrations/alertmanager", json=payload("grafana-webhook-firing.json"))
    assert firing.status_code == 202, firing.text
    assert firing.json()["source"] == "grafana"
    incident_id = firing.json()["alerts"][0]["incident_id"]
    incident = pager.incident(incident_id)
    assert incident["message"] == "High memory usage: This alert was triggered for zone us-1"
    assert incident["timeline"][0]["data"]["source"] == "grafana"

    grafana.post("/integrations/alertmanager", json=payload("grafana-webhook-resolved.json"))
    assert pager.incident(incident_id)["status"] == "resolved"
    assert pager.get_service(service_id)["state"] == "healthy"


# -- PagerDuty Events API v2


def enqueue(pager: Pager, body: dict[str, Any]) -> httpx.Response:
    return pager.anonymous.post("/v2/enqueue", json=body)


def test_alertmanager_pagerduty_receiver_triggers_and_resolves(pager: Pager) -> None:
    service_id, key = pager.service()
    firing = payload("alertmanager-pagerduty-firing.json") | {"routing_key": key}
    answer = enqueue(pager, firing)
    assert answer.status_code == 202
    assert answer.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": firing["dedup_key"],
    }
    incident = pager.open_incident(service_id)
    assert incident is not None
    assert incident["message"] == "[FIRING:2] HighLatency (api critical)"
    assert enqueue(pager, firing).status_code == 202  # re-sent: no-op
    assert level_one_pages(pager, incident["id"]) == [(1, 1, "email"), (1, 1, "sms")]

    resolved = payload("alertmanager-pagerduty-resolved.json") | {"routing_key": key}
    assert enqueue(pager, resolved).json()["dedup_key"] == firing["dedup_key"]
    assert pager.incident(incident["id"])["status"] == "resolved"
    assert pager.get_service(service_id)["state"] == "healthy"


def test_zabbix_pagerduty_media_type_trigger_acknowledge_resolve(pager: Pager) -> None:
    service_id, key = pager.service()
    answer = enqueue(pager, payload("zabbix-pagerduty-trigger.json", routing_key=key))
    assert answer.status_code == 202
    assert answer.json()["status"] == "success"  # what the Zabbix script checks
    incident = pager.open_incident(service_id)
    assert incident is not None
    assert incident["dedup_keys"] == ["21573"]

    acked = enqueue(pager, payload("zabbix-pagerduty-acknowledge.json", routing_key=key))
    assert acked.status_code == 202
    incident = pager.incident(incident["id"])
    assert (incident["status"], incident["acknowledged_by"]) == (
        "acknowledged",
        "PagerDuty Events API",
    )

    assert (
        enqueue(pager, payload("zabbix-pagerduty-resolve.json", routing_key=key)).status_code == 202
    )
    assert pager.incident(incident["id"])["status"] == "resolved"


def test_grafana_pagerduty_contact_point(pager: Pager) -> None:
    service_id, key = pager.service()
    answer = enqueue(pager, payload("grafana-pagerduty-trigger.json", routing_key=key))
    assert answer.status_code == 202, answer.text
    incident = pager.open_incident(service_id)
    assert incident is not None
    assert incident["message"] == "[FIRING:1] High memory usage Infrastructure (blue us-1)"


def test_a_trigger_without_dedup_key_gets_one(pager: Pager) -> None:
    service_id, key = pager.service()
    body = {
        "routing_key": key,
        "event_action": "trigger",
        "payload": {"summary": "disk full", "source": "db-1", "severity": "critical"},
    }
    dedup_key = enqueue(pager, body).json()["dedup_key"]
    assert dedup_key
    incident = pager.open_incident(service_id)
    assert incident is not None
    assert incident["dedup_keys"] == [dedup_key]
    resolve = {"routing_key": key, "event_action": "resolve", "dedup_key": dedup_key}
    assert enqueue(pager, resolve).status_code == 202
    assert pager.get_service(service_id)["state"] == "healthy"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"event_action": "trigger"}, "'routing_key' is missing or blank"),
        ({"routing_key": "{key}", "event_action": "explode"}, "'event_action' must be one of"),
        ({"routing_key": "{key}", "event_action": "trigger"}, "'payload' is missing"),
        (
            {
                "routing_key": "{key}",
                "event_action": "trigger",
                "payload": {"summary": "x", "source": "y", "severity": "apocalyptic"},
            },
            "'payload.severity' must be one of",
        ),
        (
            {"routing_key": "{key}", "event_action": "trigger", "payload": {"summary": " "}},
            "'payload.summary' is missing or blank",
        ),
        ({"routing_key": "{key}", "event_action": "resolve"}, "'dedup_key' is required"),
        (
            {
                "routing_key": "{key}",
                "event_action": "trigger",
                "payload": {"summary": "x", "source": "y", "severity": "info"},
                "images": True,
            },
            "'images' must be a list",
        ),
        (
            {"routing_key": "not-a-key", "event_action": "resolve", "dedup_key": "k"},
            "Invalid routing key",
        ),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_invalid_events_get_pagerdutys_400(pager: Pager, body: Any, error: str) -> None:
    _, key = pager.service()
    text = json.dumps(body).replace("{key}", key)
    answer = pager.anonymous.post(
        "/v2/enqueue", content=text, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400, answer.text
    reply = answer.json()
    assert set(reply) == {"status", "message", "errors"}
    assert reply["status"] == "invalid event"
    assert any(error in e for e in reply["errors"]), reply


def test_a_body_that_is_not_json_is_an_invalid_event(pager: Pager) -> None:
    answer = pager.anonymous.post("/v2/enqueue", content=b"routing_key=x")
    assert answer.status_code == 400
    assert answer.json()["status"] == "invalid event"


# -- PagerDuty change events


def test_a_change_event_is_recorded_on_the_services_stream_and_pages_nobody(
    pager: Pager,
) -> None:
    service_id, key = pager.service()
    body = payload("pagerduty-change-event.json", routing_key=key)
    answer = pager.anonymous.post("/v2/change/enqueue", json=body)
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"status": "success", "message": "Change event processed"}
    assert pager.get_service(service_id)["state"] == "healthy"
    events = pager.admin.get(f"/api/v1/services/{service_id}/events").json()["events"]
    change = events[-1]
    assert change["type"] == "ChangeReported"
    assert change["data"]["summary"] == (
        "Build Success: Increase snapshot create timeout to 30 seconds"
    )
    assert change["data"]["source"] == "acme-build-pipeline-tool-default-i-9999"
    assert change["data"]["timestamp"] == "2020-07-17T08:42:58.315+0000"
    assert change["data"]["links"] == [
        {"href": "https://acme.pagerduty.dev/build/2", "text": "View more details in Acme!"}
    ]
    assert ["build_number", "2"] in change["data"]["details"]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"payload": {"summary": "x"}}, "'routing_key' is missing or blank"),
        ({"routing_key": "{key}"}, "'payload' is missing or not an object"),
        ({"routing_key": "{key}", "payload": {"summary": "  "}}, "'payload.summary' is missing"),
        ({"routing_key": "{key}", "payload": {"summary": 7}}, "'payload.summary' must be a string"),
        (
            {"routing_key": "{key}", "payload": {"summary": "x", "custom_details": [1]}},
            "'payload.custom_details' must be an object",
        ),
        (
            {"routing_key": "{key}", "payload": {"summary": "x"}, "links": [{"text": "no href"}]},
            "'links' must be a list of objects",
        ),
        ({"routing_key": "not-a-key", "payload": {"summary": "x"}}, "Invalid routing key"),
        ("deployed", "must be a JSON object"),
    ],
)
def test_invalid_change_events_get_pagerdutys_400(pager: Pager, body: Any, error: str) -> None:
    _, key = pager.service()
    text = json.dumps(body).replace("{key}", key)
    answer = pager.anonymous.post(
        "/v2/change/enqueue", content=text, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400, answer.text
    reply = answer.json()
    assert set(reply) == {"status", "message", "errors"}
    assert reply["status"] == "invalid event"
    assert any(error in e for e in reply["errors"]), reply


def test_change_events_errors_have_pagerdutys_shape(pager: Pager) -> None:
    answer = pager.anonymous.post(
        "/v2/change/enqueue", content=b"x", headers={"Content-Type": "text/plain"}
    )
    assert answer.status_code == 415
    assert answer.json()["status"] == "invalid event"
    assert pager.anonymous.get("/v2/change/enqueue").json()["status"] == "invalid event"


# -- Opsgenie Alert API


def genie(pager: Pager, key: str) -> httpx.Client:
    return pager.client(key, scheme="GenieKey")


def accepted(answer: httpx.Response) -> None:
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["result"] == "Request will be processed"
    assert isinstance(body["took"], float)
    assert body["requestId"]


def test_alertmanager_opsgenie_receiver_creates_updates_and_closes(pager: Pager) -> None:
    service_id, key = pager.service()
    client = genie(pager, key)
    create = payload("opsgenie-alertmanager-create.json")
    accepted(client.post("/v2/alerts", json=create))
    accepted(client.post("/v2/alerts", json=create))  # re-sent: no-op
    alias = create["alias"]
    accepted(
        client.put(
            f"/v2/alerts/{alias}/message",
            params={"identifierType": "alias"},
            json=payload("opsgenie-alertmanager-update-message.json"),
        )
    )
    incident = pager.open_incident(service_id)
    assert incident is not None
    assert incident["message"] == "[FIRING:1] DiskFull (db-1:9100 critical)"
    assert incident["dedup_keys"] == [alias]
    assert incident["alert_count"] == 1
    assert pager.incident(incident["id"])["timeline"][0]["data"]["severity"] == "critical"

    accepted(
        client.post(
            f"/v2/alerts/{alias}/close",
            params={"identifierType": "alias"},
            json=payload("opsgenie-alertmanager-close.json"),
        )
    )
    assert pager.incident(incident["id"])["status"] == "resolved"


def test_opsgenie_acknowledge_and_close_by_incident_id(pager: Pager) -> None:
    service_id, key = pager.service()
    client = genie(pager, key)
    accepted(client.post("/v2/alerts", json={"message": "queue backlog", "priority": "P2"}))
    incident = pager.open_incident(service_id)
    assert incident is not None
    accepted(
        client.post(
            f"/v2/alerts/{incident['id']}/acknowledge", json={"user": "alice", "note": "on it"}
        )
    )
    assert pager.incident(incident["id"])["acknowledged_by"] == "alice"
    accepted(client.post(f"/v2/alerts/{incident['id']}/close?identifierType=id"))
    assert pager.incident(incident["id"])["status"] == "resolved"


def test_opsgenie_keys_reach_only_their_own_service(pager: Pager) -> None:
    service_id, key = pager.service()
    _, other_key = pager.service()
    accepted(genie(pager, key).post("/v2/alerts", json={"message": "x"}))
    incident = pager.open_incident(service_id)
    assert incident is not None
    answer = genie(pager, other_key).post(f"/v2/alerts/{incident['id']}/close")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"
    assert {"message", "took", "requestId"} <= set(answer.json())
    assert pager.incident(incident["id"])["status"] == "triggered"


def test_opsgenie_errors(pager: Pager) -> None:
    _, key = pager.service()
    answer = pager.anonymous.post("/v2/alerts", json={"message": "x"})
    assert answer.status_code == 401
    assert answer.json()["message"]
    assert pager.client(key).post("/v2/alerts", json={"message": "x"}).status_code == 401
    assert genie(pager, key).post("/v2/alerts", json={"alias": "a"}).status_code == 422
    assert (
        genie(pager, key).post("/v2/alerts", json={"message": "x", "priority": "P9"}).status_code
        == 422
    )
    assert (
        genie(pager, key).post("/v2/alerts/x/close", params={"identifierType": "tiny"}).status_code
        == 422
    )


# -- with the worker: escalation runs on, and a re-send never restarts it


def wait_for(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s")
        time.sleep(0.1)


@pytest.mark.skipif(server_command() != "serve", reason="needs the worker (`pagerd serve`)")
def test_a_resend_after_escalation_does_not_restart_it(pager: Pager) -> None:
    _service_id, key = pager.service(policy_id=pager.policy(timeout=1))
    am = pager.client(key)
    body = payload("alertmanager-webhook-firing.json")
    incident_id = am.post("/integrations/alertmanager", json=body).json()["alerts"][0][
        "incident_id"
    ]
    wait_for(lambda: pager.incident(incident_id)["level"] == 2)
    am.post("/integrations/alertmanager", json=body)  # Alertmanager's repeat_interval
    incident = pager.incident(incident_id)
    assert incident["level"] == 2
    assert level_one_pages(pager, incident_id) == [(1, 1, "email"), (1, 1, "sms"), (1, 2, "email")]
    wait_for(
        lambda: all(n["status"] != "queued" for n in pager.incident(incident_id)["notifications"])
    )
