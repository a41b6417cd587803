"""The ingest routes (`POST /api/v1/alerts`, `POST /integrations/alertmanager`) are answered
by `Ingest` alone, in front of FastAPI: every answer an endpoint gives, they give, and what
is not JSON is refused as such on every route that takes alerts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

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
    key: str


@pytest.fixture
def api(sqlite_url: str, clock: FakeClock) -> Iterator[Api]:
    container = bootstrap(Settings(database_url=sqlite_url, max_body_bytes=4096), clock=clock)
    container.accounts.add_user("admin@example.com", "admin")
    token = container.accounts.create_token("admin@example.com")
    container.handlers.define_policy(two_level_policy())
    container.handlers.define_service("db", "Database", "ops")
    key = container.accounts.rotate_integration_key("db").key
    with TestClient(create_app(container)) as client:
        yield Api(client, token, key)
    container.engine.dispose()


ALERT = b'{"service": "db", "message": "disk full"}'
WEBHOOK = b'{"version": "4", "alerts": [{"status": "firing", "labels": {"alertname": "Disk"}}]}'


def post(api: Api, path: str, body: bytes, **headers: str) -> httpx.Response:
    secret = api.token if path == "/api/v1/alerts" else api.key
    return api.client.post(
        path, content=body, headers={"Authorization": f"Bearer {secret}", **headers}
    )


@pytest.mark.parametrize(
    ("path", "body"), [("/api/v1/alerts", ALERT), ("/integrations/alertmanager", WEBHOOK)]
)
@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/xml", "multipart/form-data"],
)
def test_a_body_that_says_it_is_not_json_is_a_415(
    api: Api, path: str, body: bytes, content_type: str
) -> None:
    answer = post(api, path, body, **{"Content-Type": content_type})
    assert answer.status_code == 415
    error = answer.json()["error"]
    assert error["code"] == "unsupported_media_type"
    assert content_type in error["message"]
    assert api.client.get(
        "/api/v1/incidents", headers={"Authorization": f"Bearer {api.token}"}
    ).json() == {"incidents": []}


@pytest.mark.parametrize(
    ("path", "body"), [("/api/v1/alerts", ALERT), ("/integrations/alertmanager", WEBHOOK)]
)
@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "application/vnd.x+json", None],
)
def test_json_or_no_content_type_is_taken(
    api: Api, path: str, body: bytes, content_type: str | None
) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    assert post(api, path, body, **headers).status_code == 202


def test_the_integrations_refuse_bodies_that_are_not_json_too(api: Api) -> None:
    event = b'{"routing_key": "%s", "event_action": "trigger"}' % api.key.encode()
    answer = api.client.post("/v2/enqueue", content=event, headers={"Content-Type": "text/plain"})
    assert answer.status_code == 415
    assert answer.json()["status"] == "invalid event"  # PagerDuty's shape
    answer = api.client.post(
        "/v2/alerts",
        content=b'{"message": "x"}',
        headers={"Content-Type": "text/xml", "Authorization": f"GenieKey {api.key}"},
    )
    assert answer.status_code == 415
    assert {"message", "took", "requestId"} <= set(answer.json())  # Opsgenie's shape


@pytest.mark.parametrize("path", ["/api/v1/alerts/", "/integrations/alertmanager/"])
def test_a_trailing_slash_is_the_same_route(api: Api, path: str) -> None:
    body = ALERT if path.startswith("/api") else WEBHOOK
    secret = api.token if path.startswith("/api") else api.key
    answer = api.client.post(
        path,
        content=body,
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
        follow_redirects=False,
    )
    assert answer.status_code == 202


@pytest.mark.parametrize("path", ["/api/v1/alerts", "/integrations/alertmanager"])
def test_other_methods_get_405_and_options_the_allowed_ones(api: Api, path: str) -> None:
    options = api.client.options(path)
    assert options.status_code == 204
    assert options.headers["Allow"] == "POST, OPTIONS"
    got = api.client.get(path)
    assert got.status_code == 405
    assert got.headers["Allow"] == "POST, OPTIONS"
    assert got.json()["error"]["code"] == "method_not_allowed"


def test_credentials_are_checked_before_the_body(api: Api) -> None:
    for path in ("/api/v1/alerts", "/integrations/alertmanager"):
        missing = api.client.post(path, content=b"not json", headers={"Content-Type": "text/plain"})
        assert missing.status_code == 401
        assert missing.headers["WWW-Authenticate"] == "Bearer"
    basic = api.client.post(
        "/api/v1/alerts", content=ALERT, headers={"Authorization": "Basic eA=="}
    )
    assert basic.status_code == 401
    assert "Bearer" in basic.json()["error"]["message"]
    token_on_webhook = api.client.post(
        "/integrations/alertmanager",
        content=WEBHOOK,
        headers={"Authorization": f"Bearer {api.token}"},
    )
    assert token_on_webhook.status_code == 403


def test_validation_names_each_field_and_a_lone_surrogate_is_a_field_error(api: Api) -> None:
    answer = post(api, "/api/v1/alerts", b'{"service": "db"}')
    assert answer.status_code == 422
    problems = answer.json()["error"]["problems"]
    assert problems == [{"field": "message", "message": "Field required"}]
    surrogate = post(api, "/api/v1/alerts", b'{"service": "db", "message": "\\ud800"}')
    assert surrogate.status_code == 422
    assert surrogate.json()["error"]["problems"][0]["field"] == "message"
    broken = post(api, "/api/v1/alerts", b'{"service": ')
    assert broken.status_code == 400
    assert broken.json()["error"]["code"] == "invalid_json"


def test_a_declared_length_over_the_limit_is_refused_before_reading(api: Api) -> None:
    answer = post(api, "/api/v1/alerts", b"x" * 5000)
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "too_large"
    assert "over 4096 bytes" in answer.json()["error"]["message"]


def test_the_openapi_document_still_describes_the_ingest_routes(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    alerts = paths["/api/v1/alerts"]["post"]
    assert "415" in alerts["responses"]
    assert alerts["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "AlertIn"
    )
    assert "post" in paths["/integrations/alertmanager"]


def test_every_integration_route_takes_a_trailing_slash_without_a_redirect(api: Api) -> None:
    event = {"routing_key": api.key, "event_action": "trigger", "dedup_key": "disk"}
    event["payload"] = {"summary": "disk full", "source": "db-1", "severity": "critical"}
    enqueued = api.client.post("/v2/enqueue/", json=event, follow_redirects=False)
    assert enqueued.status_code == 202, enqueued.text
    genie = {"Authorization": f"GenieKey {api.key}"}
    created = api.client.post(
        "/v2/alerts/", json={"message": "x", "alias": "a"}, headers=genie, follow_redirects=False
    )
    assert created.status_code == 202, created.text
    acknowledged = api.client.post(
        "/v2/alerts/a/acknowledge/?identifierType=alias", headers=genie, follow_redirects=False
    )
    assert acknowledged.status_code == 202, acknowledged.text
    listed = api.client.get("/api/v1/incidents/", headers={"Authorization": f"Bearer {api.token}"})
    assert listed.status_code == 200
    assert listed.json()["incidents"][0]["status"] == "acknowledged"
