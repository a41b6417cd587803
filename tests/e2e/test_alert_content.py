"""What each sender says about an alert is kept and shown: content in through every dialect
(Alertmanager, Grafana, PagerDuty, Opsgenie, the native API), out through
`GET /api/v1/incidents/{id}` (`alerts`, firing and resolved); past the bounds a clear 4xx
naming the field, and nothing written. Also run in process by tests/integration."""

from __future__ import annotations

from typing import Any

from pager.domain.content import MAX_ENTRIES, MAX_VALUE
from tests.e2e.conftest import Pager
from tests.e2e.harness import payload


def first_alert(pager: Pager, incident_id: str) -> dict[str, Any]:
    alert: dict[str, Any] = pager.incident(incident_id)["alerts"][0]
    return alert


def test_an_alertmanager_alert_keeps_its_labels_annotations_and_generator_url(
    pager: Pager,
) -> None:
    service_id, key = pager.service()
    am = pager.client(key)
    body = payload("alertmanager-webhook-firing.json")
    sent = body["alerts"][0]
    sent["annotations"]["runbook_url"] = "https://runbooks.example.com/latency"
    sent["annotations"]["dashboard"] = "https://grafana.example.com/d/api"
    answer = am.post("/integrations/alertmanager", json=body)
    assert answer.status_code == 202, answer.text
    incident_id = answer.json()["alerts"][0]["incident_id"]

    alerts = pager.incident(incident_id)["alerts"]
    assert len(alerts) == 2
    alert = alerts[0]
    assert alert["labels"] == sent["labels"]
    assert alert["annotations"] == sent["annotations"]
    assert alert["source_url"] == sent["generatorURL"]
    assert alert["runbook"] == "https://runbooks.example.com/latency"
    assert alert["dashboard"] == "https://grafana.example.com/d/api"
    assert (alert["status"], alert["source"], alert["dedup_key"]) == (
        "firing",
        "alertmanager",
        sent["fingerprint"],
    )
    assert alerts[1]["labels"] == body["alerts"][1]["labels"]

    # One alert resolves: the incident lists it as resolved, the other still firing.
    partly = payload("alertmanager-webhook-partially-resolved.json")
    assert am.post("/integrations/alertmanager", json=partly).status_code == 202
    statuses = [(a["dedup_key"], a["status"]) for a in pager.incident(incident_id)["alerts"]]
    assert statuses == [
        (sent["fingerprint"], "resolved"),
        (body["alerts"][1]["fingerprint"], "firing"),
    ]
    assert pager.get_service(service_id)["state"] == "unhealthy"


def test_content_past_the_bounds_refuses_the_whole_webhook_naming_the_alert(
    pager: Pager,
) -> None:
    """Each bound the schema states (and the total, which the domain checks) refuses the
    webhook, naming the alert's field, before anything is committed."""
    service_id, key = pager.service()
    body = payload("alertmanager-webhook-firing.json")
    body["alerts"][1]["annotations"]["description"] = "x" * (MAX_VALUE + 1)
    answer = pager.client(key).post("/integrations/alertmanager", json=body)

    assert answer.status_code == 422, answer.text
    fields = [problem["field"] for problem in answer.json()["error"]["problems"]]
    assert fields == ["alerts.1.annotations.description"]
    assert pager.get_service(service_id)["state"] == "healthy", "nothing was written"

    body = payload("alertmanager-webhook-firing.json")
    body["alerts"][1]["annotations"] = {f"a{i}": "x" * (MAX_VALUE - 8) for i in range(5)}
    answer = pager.client(key).post("/integrations/alertmanager", json=body)
    assert answer.status_code == 422, answer.text
    assert [problem["field"] for problem in answer.json()["error"]["problems"]] == ["alerts.1"]
    assert pager.get_service(service_id)["state"] == "healthy", "nothing was written"


def test_a_grafana_alert_keeps_its_runbook_and_silence_link(pager: Pager) -> None:
    _service_id, key = pager.service()
    body = payload("grafana-webhook-firing.json")
    answer = pager.client(key).post("/integrations/alertmanager", json=body)
    alert = first_alert(pager, answer.json()["alerts"][0]["incident_id"])

    sent = body["alerts"][0]
    assert alert["labels"] == sent["labels"]
    assert alert["runbook"] == "https://myrunbook.example/runbook/1234"
    assert alert["links"] == [{"href": sent["silenceURL"], "text": "Silence"}]
    assert alert["source_url"] == sent["generatorURL"]
    assert alert["source"] == "grafana"


def test_a_pagerduty_trigger_keeps_its_payload_fields_details_links_and_images(
    pager: Pager,
) -> None:
    _service_id, key = pager.service()
    event = {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": "disk-db-1",
        "client": "Monitoring",
        "client_url": "https://monitoring.example.com/checks/42",
        "payload": {
            "summary": "Disk 95% full on db-1",
            "source": "db-1",
            "severity": "critical",
            "component": "postgres",
            "group": "storage",
            "class": "disk",
            "custom_details": {"free": "2 GiB", "mounts": ["/", "/var"], "used": 95},
        },
        "links": [{"href": "https://runbooks.example.com/disk", "text": "Runbook"}],
        "images": [{"src": "https://graphs.example.com/disk.png", "alt": "Disk usage"}],
    }
    answer = pager.anonymous.post("/v2/enqueue", json=event)
    assert answer.status_code == 202, answer.text
    service = pager.get_service(_service_id)
    alert = first_alert(pager, service["open_incident"]["id"])

    assert alert["labels"] == {
        "source": "db-1",
        "component": "postgres",
        "group": "storage",
        "class": "disk",
    }
    assert alert["details"] == {"free": "2 GiB", "mounts": '["/","/var"]', "used": "95"}
    assert alert["links"] == [{"href": "https://runbooks.example.com/disk", "text": "Runbook"}]
    assert alert["runbook"] == "https://runbooks.example.com/disk"
    assert alert["images"] == [
        {"href": "https://graphs.example.com/disk.png", "text": "Disk usage"}
    ]
    assert alert["source_url"] == "https://monitoring.example.com/checks/42"


def test_a_pagerduty_trigger_whose_details_are_text_keeps_them(pager: Pager) -> None:
    service_id, key = pager.service()
    event = {
        "routing_key": key,
        "event_action": "trigger",
        "payload": {
            "summary": "Backup failed",
            "source": "backup-1",
            "severity": "error",
            "custom_details": "exit 3: no space left on /backups",
        },
    }
    answer = pager.anonymous.post("/v2/enqueue", json=event)
    assert answer.status_code == 202, answer.text
    alert = first_alert(pager, pager.get_service(service_id)["open_incident"]["id"])
    assert alert["details"] == {"details": "exit 3: no space left on /backups"}


def test_a_pagerduty_trigger_past_the_bounds_is_an_invalid_event_naming_the_field(
    pager: Pager,
) -> None:
    service_id, key = pager.service()
    details = {f"d{i}": "v" for i in range(MAX_ENTRIES + 1)}
    event = {
        "routing_key": key,
        "event_action": "trigger",
        "payload": {"summary": "s", "source": "h", "severity": "info", "custom_details": details},
    }
    answer = pager.anonymous.post("/v2/enqueue", json=event)

    assert answer.status_code == 400, answer.text
    assert answer.json()["errors"] == [
        f"'payload.custom_details' must have at most {MAX_ENTRIES} entries"
    ]
    assert pager.get_service(service_id)["state"] == "healthy"


def test_an_opsgenie_alert_keeps_its_details_tags_entity_description_and_source(
    pager: Pager,
) -> None:
    service_id, key = pager.service()
    genie = pager.client(key, scheme="GenieKey")
    body = {
        "message": "Queue depth above 10k",
        "alias": "queue-depth",
        "description": "The orders queue is backing up.",
        "details": {"queue": "orders", "depth": 10423},
        "tags": ["queues", "orders"],
        "entity": "rabbitmq-1",
        "source": "nagios",
    }
    assert genie.post("/v2/alerts", json=body).status_code == 202
    alert = first_alert(pager, pager.get_service(service_id)["open_incident"]["id"])

    assert alert["details"] == {"queue": "orders", "depth": "10423"}
    assert alert["tags"] == ["queues", "orders"]
    assert alert["entity"] == "rabbitmq-1"
    assert alert["annotations"] == {"description": "The orders queue is backing up."}
    assert alert["labels"] == {"source": "nagios"}

    too_many = {**body, "alias": "other", "tags": [f"t{i}" for i in range(100)]}
    refused = genie.post("/v2/alerts", json=too_many)
    assert refused.status_code == 422, refused.text
    assert [p["field"] for p in refused.json()["error"]["problems"]] == ["tags"]
    assert len(pager.incident(alert_incident(pager, service_id))["alerts"]) == 1


def alert_incident(pager: Pager, service_id: str) -> str:
    incident_id: str = pager.get_service(service_id)["open_incident"]["id"]
    return incident_id


def test_the_native_api_takes_labels_annotations_links_and_details(pager: Pager) -> None:
    service_id, key = pager.service()
    body = {
        "service": service_id,
        "message": "Checkout 5xx above 5%",
        "labels": {"env": "prod", "region": "eu-west-1"},
        "annotations": {"runbook_url": "https://runbooks.example.com/5xx"},
        "links": [{"href": "https://status.example.com"}],
        "details": {"rate": 0.07, "note": "since the deploy"},
    }
    answer = pager.client(key).post("/api/v1/alerts", json=body)
    assert answer.status_code == 202, answer.text
    alert = first_alert(pager, answer.json()["incident_id"])

    assert alert["labels"] == body["labels"]
    assert alert["annotations"] == body["annotations"]
    assert alert["links"] == [{"href": "https://status.example.com", "text": None}]
    assert alert["details"] == {"rate": "0.07", "note": "since the deploy"}
    assert alert["runbook"] == "https://runbooks.example.com/5xx"


def test_the_native_api_refuses_content_past_the_bounds_naming_the_field(pager: Pager) -> None:
    service_id, key = pager.service()
    labels = {f"l{i}": "v" for i in range(MAX_ENTRIES + 1)}
    body = {"service": service_id, "message": "m", "labels": labels}
    answer = pager.client(key).post("/api/v1/alerts", json=body)

    assert answer.status_code == 422, answer.text
    assert [p["field"] for p in answer.json()["error"]["problems"]] == ["labels"]
    assert pager.get_service(service_id)["state"] == "healthy"

    huge = {"service": service_id, "message": "m", "details": {"blob": "x" * 2_000_000}}
    too_large = pager.client(key).post("/api/v1/alerts", json=huge)
    assert too_large.status_code == 413, too_large.text
    assert pager.get_service(service_id)["state"] == "healthy"
