"""The monitoring tools' endpoints at their edges, in process: an alert's key that does not
depend on the order of its labels, what message and severity an incident takes from an
alert, who may call which endpoint, and one routing key's events reaching only its own
service among several that share dedup keys."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from pager.bootstrap import bootstrap
from pager.config import Settings
from pager.entrypoints.http.app import create_app
from tests.support.builders import two_level_policy
from tests.support.clock import FakeClock


@dataclass
class Api:
    client: TestClient
    token: str
    keys: dict[str, str]

    def as_admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return self.client.request(method, path, headers=headers, **kwargs)

    def webhook(self, service: str, body: dict[str, Any]) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.keys[service]}"}
        return self.client.post("/integrations/alertmanager", headers=headers, json=body)

    def opened(self, service: str) -> dict[str, Any]:
        """The data of the service's IncidentOpened events, in order."""
        events = self.as_admin("GET", f"/api/v1/services/{service}/events").json()["events"]
        return [event["data"] for event in events if event["type"] == "IncidentOpened"]

    def incident(self, incident_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.as_admin("GET", f"/api/v1/incidents/{incident_id}").json()
        return found


@pytest.fixture
def api(sqlite_url: str, clock: FakeClock) -> Iterator[Api]:
    container = bootstrap(Settings(database_url=sqlite_url), clock=clock)
    container.accounts.add_user("admin@example.com", "admin")
    token = container.accounts.create_token("admin@example.com")
    container.handlers.define_policy(two_level_policy())
    keys = {}
    for service in ("db", "web"):
        container.handlers.define_service(service, service.title(), "ops")
        keys[service] = container.accounts.rotate_integration_key(service).key
    with TestClient(create_app(container)) as client:
        yield Api(client, token, keys)
    container.engine.dispose()


def firing(labels: dict[str, str], **annotations: str) -> dict[str, Any]:
    return {"status": "firing", "labels": labels, "annotations": annotations}


# --- Alertmanager and Grafana ---------------------------------------------------------------


def test_an_alert_without_fingerprint_is_keyed_by_its_labels_in_any_order(api: Api) -> None:
    first = api.webhook("db", {"version": "4", "alerts": [firing({"b": "2", "a": "1"})]})
    again = api.webhook("db", {"version": "4", "alerts": [firing({"a": "1", "b": "2"})]})
    other = api.webhook("db", {"version": "4", "alerts": [firing({"a": "1", "b": "3"})]})
    [opened], [resent], [different] = (r.json()["alerts"] for r in (first, again, other))
    assert re.fullmatch(r"[0-9a-f]{32}", opened["dedup_key"])
    assert resent["dedup_key"] == opened["dedup_key"]
    assert different["dedup_key"] != opened["dedup_key"]
    assert (opened["action"], resent["action"]) == ("opened", "unchanged")
    assert resent["incident_id"] == opened["incident_id"]
    assert different["action"] == "attached"
    assert api.incident(opened["incident_id"])["alert_count"] == 2


def test_a_fingerprint_is_the_key_as_sent(api: Api) -> None:
    alert = {**firing({"alertname": "Disk"}), "fingerprint": "abc123"}
    [handled] = api.webhook("db", {"version": "4", "alerts": [alert]}).json()["alerts"]
    assert handled["dedup_key"] == "abc123"


def test_a_fingerprint_that_cleans_to_nothing_falls_back_to_the_labels(api: Api) -> None:
    # Two different alerts whose fingerprints are only NULs must not share the key "".
    alerts = [
        {**firing({"alertname": "Disk"}), "fingerprint": "\x00"},
        {**firing({"alertname": "Load"}), "fingerprint": "\x00\x00"},
    ]
    handled = api.webhook("db", {"version": "4", "alerts": alerts}).json()["alerts"]
    keys = [alert["dedup_key"] for alert in handled]
    assert all(re.fullmatch(r"[0-9a-f]{32}", key) for key in keys)
    assert keys[0] != keys[1]
    assert [alert["action"] for alert in handled] == ["opened", "attached"]


@pytest.mark.parametrize(
    ("labels", "annotations", "message"),
    [
        ({"alertname": "Disk"}, {"summary": "full", "description": "d", "message": "m"}, "full"),
        ({"alertname": "Disk"}, {"description": "nearly full", "message": "m"}, "nearly full"),
        ({"alertname": "Disk"}, {"message": "90 % used"}, "90 % used"),
        ({"alertname": "Disk"}, {}, ""),
        ({"host": "a", "disk": "sda"}, {"message": "  "}, "disk=sda, host=a"),
        ({}, {"message": "only words"}, "only words"),
    ],
)
def test_the_message_is_name_and_the_first_annotation_that_says_something(
    api: Api, labels: dict[str, str], annotations: dict[str, str], message: str
) -> None:
    api.webhook("db", {"version": "4", "alerts": [firing(labels, **annotations)]})
    [opened] = api.opened("db")
    name = labels.get("alertname")
    expected = f"{name}: {message}" if name and message else name or message
    assert opened["message"] == expected


def test_the_severity_label_and_the_source_reach_the_incident(api: Api) -> None:
    alerts = [firing({"alertname": "A", "severity": "critical"}), firing({"alertname": "B"})]
    api.webhook("db", {"version": "4", "alerts": alerts})
    api.webhook("web", {"version": "1", "alerts": [firing({"alertname": "C"})]})
    api.webhook("web", {"version": "4", "orgId": 1, "alerts": [firing({"alertname": "D"})]})
    assert [(o["severity"], o["source"]) for o in api.opened("db")] == [
        ("critical", "alertmanager")
    ]
    db = api.as_admin("GET", "/api/v1/services/db").json()["open_incident"]
    assert db["alert_count"] == 2
    [web] = api.opened("web")
    assert web["source"] == "grafana"
    answer = api.webhook("web", {"version": "4", "orgId": 1, "alerts": []})
    assert answer.json() == {"source": "grafana", "alerts": []}
    assert api.webhook("web", {"version": "4", "alerts": []}).json()["source"] == "alertmanager"


def test_resolving_says_what_it_did_to_each_alert(api: Api) -> None:
    alerts = [firing({"alertname": "A"}), firing({"alertname": "B"})]
    [a, b] = api.webhook("db", {"version": "4", "alerts": alerts}).json()["alerts"]
    resolved = [{**firing({"alertname": "A"}), "status": "resolved"}]
    unknown = [{**firing({"alertname": "Z"}), "status": "resolved"}]
    body = {"version": "4", "alerts": [*resolved, *unknown, firing({"alertname": "B"})]}
    handled = api.webhook("db", body).json()["alerts"]
    assert handled == [
        {"dedup_key": b["dedup_key"], "status": "firing", "action": "unchanged"}
        | {"incident_id": b["incident_id"]},
        {"dedup_key": a["dedup_key"], "status": "resolved", "action": "resolved"}
        | {"incident_id": a["incident_id"]},
        {"dedup_key": handled[2]["dedup_key"], "status": "resolved", "action": "unchanged"}
        | {"incident_id": None},
    ]
    again = api.webhook("db", {"version": "4", "alerts": resolved}).json()["alerts"]
    assert [(h["action"], h["incident_id"]) for h in again] == [("unchanged", None)]


def test_a_nul_in_a_label_key_is_kept_as_a_replacement_character(api: Api) -> None:
    # A key keeps a character where the NUL was (one of only a NUL is never made empty);
    # a value just loses it.
    labels = {"alertname": "Disk", "mount\x00point": "/var\x00", "\x00": "x"}
    [handled] = api.webhook("db", {"version": "4", "alerts": [firing(labels)]}).json()["alerts"]
    assert handled["action"] == "opened"
    [alert] = api.incident(handled["incident_id"])["alerts"]
    assert alert["labels"] == {"alertname": "Disk", "mount\ufffdpoint": "/var", "\ufffd": "x"}


def test_grafanas_dashboard_panel_and_silence_urls_are_named_links(api: Api) -> None:
    urls = {
        "dashboardURL": "https://grafana.example.com/d/disk",
        "panelURL": "https://grafana.example.com/d/disk?viewPanel=2",
        "silenceURL": "https://grafana.example.com/alerting/silence/new",
    }
    alert = {**firing({"alertname": "Disk"}), **urls}
    [handled] = api.webhook("db", {"version": "1", "alerts": [alert]}).json()["alerts"]
    [shown] = api.incident(handled["incident_id"])["alerts"]
    assert shown["links"] == [
        {"href": urls["dashboardURL"], "text": "Dashboard"},
        {"href": urls["panelURL"], "text": "Panel"},
        {"href": urls["silenceURL"], "text": "Silence"},
    ]
    assert shown["dashboard"] == urls["dashboardURL"]


# --- who may call what ------------------------------------------------------------------------


def test_the_integrations_take_a_services_key_and_nothing_else(api: Api) -> None:
    body = {"version": "4", "alerts": []}
    token = {"Authorization": f"Bearer {api.token}"}
    answer = api.client.post("/integrations/alertmanager", headers=token, json=body)
    assert answer.status_code == 403
    assert answer.json()["error"] == {
        "code": "forbidden",
        "message": "this endpoint takes a service's integration key, not an API token",
    }
    wrong = api.client.post(
        "/integrations/alertmanager", headers={"Authorization": "Bearer nope"}, json=body
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"]["message"] == "the integration key is not valid"
    none = api.client.post("/integrations/alertmanager", json=body)
    assert none.status_code == 401
    assert none.json()["error"]["message"] == "an integration key is required"


def test_a_key_sends_alerts_for_its_own_service_only(api: Api) -> None:
    headers = {"Authorization": f"Bearer {api.keys['db']}"}
    other = api.client.post(
        "/api/v1/alerts", headers=headers, json={"service": "web", "message": "x"}
    )
    assert other.status_code == 403
    assert other.json()["error"] == {
        "code": "forbidden",
        "message": "an integration key may only send alerts for its own service",
    }
    own = api.client.post("/api/v1/alerts", headers=headers, json={"service": "db", "message": "x"})
    assert own.status_code == 202
    assert api.opened("web") == []


# --- PagerDuty's Events API -------------------------------------------------------------------


def enqueue(api: Api, **event: Any) -> httpx.Response:
    return api.client.post("/v2/enqueue", json=event)


def trigger(api: Api, service: str, key: str, summary: str = "disk full") -> httpx.Response:
    payload = {"summary": summary, "source": "host-1", "severity": "error"}
    return enqueue(
        api,
        routing_key=api.keys[service],
        event_action="trigger",
        dedup_key=key,
        payload=payload,
    )


def test_a_routing_key_reaches_only_its_own_services_alert_among_several(api: Api) -> None:
    assert trigger(api, "db", "disk").status_code == 202
    assert trigger(api, "web", "disk").status_code == 202
    db = api.as_admin("GET", "/api/v1/services/db").json()["open_incident"]
    web = api.as_admin("GET", "/api/v1/services/web").json()["open_incident"]
    acked = enqueue(api, routing_key=api.keys["web"], event_action="acknowledge", dedup_key="disk")
    assert acked.json() == {"status": "success", "message": "Event processed", "dedup_key": "disk"}
    assert api.incident(web["id"])["status"] == "acknowledged"
    assert api.incident(web["id"])["acknowledged_by"] == "PagerDuty Events API"
    assert api.incident(db["id"])["status"] == "triggered"
    enqueue(api, routing_key=api.keys["db"], event_action="resolve", dedup_key="disk")
    assert api.incident(db["id"])["status"] == "resolved"
    assert api.incident(web["id"])["status"] == "acknowledged"


def test_an_api_token_or_unknown_key_is_an_invalid_routing_key(api: Api) -> None:
    for routing_key in (api.token, "nope"):
        answer = enqueue(api, routing_key=routing_key, event_action="resolve", dedup_key="k")
        assert answer.status_code == 400
        assert answer.json()["errors"] == ["Invalid routing key"]


@pytest.mark.parametrize(
    ("event", "errors"),
    [
        (
            {"event_action": "resolve"},
            ["'dedup_key' is required to resolve"],
        ),
        (
            {"event_action": "acknowledge", "dedup_key": ""},
            [
                "'dedup_key' must be 1 to 255 characters",
                "'dedup_key' is required to acknowledge",
            ],
        ),
        (
            {"event_action": "trigger", "payload": {"summary": " ", "severity": "bad"}},
            [
                "'payload.summary' is missing or blank",
                "'payload.source' is missing or blank",
                "'payload.severity' must be one of critical, error, warning, info",
            ],
        ),
        (
            {"event_action": "trigger", "payload": {"summary": 1, "source": "s"}},
            ["'payload.summary' must be a string"],
        ),
    ],
)
def test_each_problem_of_an_event_is_named(
    api: Api, event: dict[str, Any], errors: list[str]
) -> None:
    answer = enqueue(api, routing_key=api.keys["db"], **event)
    assert answer.status_code == 400
    assert answer.json()["errors"] == errors


def test_a_services_events_say_their_time_once_beside_their_data(
    api: Api, clock: FakeClock
) -> None:
    api.webhook("db", {"version": "4", "alerts": [firing({"alertname": "Disk"})]})
    events = api.as_admin("GET", "/api/v1/services/db/events").json()["events"]
    assert events, "the webhook's alert opened an incident"
    for event in events:
        assert event["at"] == clock.now().isoformat().replace("+00:00", "Z")
        assert "at" not in event["data"]
