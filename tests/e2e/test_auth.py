"""Who may do what: 401 without valid credentials, 403 for the wrong role or key, and the
admin commands that bootstrap a fresh install."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import ADMIN, Pager
from tests.e2e.test_api import error_of

ENDPOINTS = [
    ("GET", "/api/v1/services"),
    ("GET", "/api/v1/incidents"),
    ("POST", "/api/v1/alerts"),
    ("PUT", "/api/v1/escalation-policies/p"),
    ("DELETE", "/api/v1/services/s"),
    ("POST", "/integrations/alertmanager"),
    ("GET", "/api/v1/users"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_no_or_unknown_credentials_are_a_401(pager: Pager, method: str, path: str) -> None:
    for client in (
        pager.anonymous,
        pager.client("pgr_not-a-real-token"),
        pager.client("0123456789abcdef0123456789abcdef"),
        pager.client(pager.admin_token, scheme="Basic"),
    ):
        answer = client.request(method, path, json={})
        error = error_of(answer, 401)
        assert error["code"] == "unauthorized"
        assert answer.headers["WWW-Authenticate"] == "Bearer"


ADMIN_ONLY = [
    ("PUT", "/api/v1/escalation-policies/{policy}", {"name": "x", "levels": []}),
    ("DELETE", "/api/v1/escalation-policies/{policy}", None),
    ("PUT", "/api/v1/services/{service}", {"name": "x", "escalation_policy": "{policy}"}),
    ("DELETE", "/api/v1/services/{service}", None),
    ("POST", "/api/v1/services/{service}/integration-key", None),
    ("GET", "/api/v1/users", None),
    ("POST", "/api/v1/users", {"email": "eve@example.com"}),
    ("DELETE", "/api/v1/users/admin@example.com", None),
    ("POST", "/api/v1/users/admin@example.com/tokens", None),
]


def test_responders_may_not_change_services_policies_or_users(pager: Pager) -> None:
    service_id, _ = pager.service()
    policy_id = pager.get_service(service_id)["escalation_policy"]
    for method, path, body in ADMIN_ONLY:
        url = path.format(service=service_id, policy=policy_id)
        if body is not None and "escalation_policy" in body:
            body = {**body, "escalation_policy": policy_id}
        error = error_of(pager.responder.request(method, url, json=body), 403)
        assert error["code"] == "forbidden", (method, url)
    # ... and nothing changed.
    assert pager.get_service(service_id)["name"] == service_id.title()


def test_responders_acknowledge_resolve_and_read(pager: Pager) -> None:
    service_id, _ = pager.service()
    incident_id = pager.responder.post(
        "/api/v1/alerts", json={"service": service_id, "message": "x"}
    ).json()["incident_id"]
    for method, path in [
        ("GET", "/api/v1/services"),
        ("GET", f"/api/v1/services/{service_id}"),
        ("GET", f"/api/v1/services/{service_id}/events"),
        ("GET", "/api/v1/escalation-policies"),
        ("GET", "/api/v1/incidents"),
        ("GET", f"/api/v1/incidents/{incident_id}"),
        ("POST", f"/api/v1/incidents/{incident_id}/acknowledge"),
        ("POST", f"/api/v1/incidents/{incident_id}/resolve"),
        ("POST", f"/api/v1/services/{service_id}/healthy"),
        ("GET", "/api/v1/me"),
    ]:
        answer = pager.responder.request(method, path)
        assert answer.status_code == 200, (method, path, answer.text)


def test_an_integration_key_only_sends_alerts_for_its_own_service(pager: Pager) -> None:
    service_id, key = pager.service()
    other_id, _ = pager.service()
    keyed = pager.client(key)
    error = error_of(keyed.post("/api/v1/alerts", json={"service": other_id, "message": "x"}), 403)
    assert "own service" in error["message"]
    error_of(keyed.post(f"/api/v1/services/{other_id}/healthy"), 403)
    incident_id = keyed.post("/api/v1/alerts", json={"service": service_id, "message": "x"}).json()[
        "incident_id"
    ]
    for method, path in [
        ("GET", "/api/v1/services"),
        ("GET", f"/api/v1/incidents/{incident_id}"),
        ("POST", f"/api/v1/incidents/{incident_id}/acknowledge"),
        ("POST", f"/api/v1/incidents/{incident_id}/resolve"),
        ("PUT", f"/api/v1/services/{service_id}"),
        ("GET", "/api/v1/me"),
    ]:
        error_of(keyed.request(method, path, json={"name": "x", "escalation_policy": "p"}), 403)
    assert pager.incident(incident_id)["status"] == "triggered"


def test_integration_endpoints_take_integration_keys_not_api_tokens(pager: Pager) -> None:
    error_of(pager.admin.post("/integrations/alertmanager", json={"alerts": []}), 403)
    answer = pager.client(pager.admin_token, scheme="GenieKey").post(
        "/v2/alerts", json={"message": "x"}
    )
    assert answer.status_code == 403


def test_admins_manage_users_and_tokens(pager: Pager) -> None:
    email = f"{pager.new_id('user')}@example.com"
    made = pager.admin.post("/api/v1/users", json={"email": email.upper(), "role": "responder"})
    assert made.status_code == 201, made.text
    assert made.json()["email"] == email
    error_of(pager.admin.post("/api/v1/users", json={"email": email}), 409)
    token = pager.admin.post(f"/api/v1/users/{email}/tokens", json={"name": "phone"}).json()[
        "token"
    ]
    user = pager.client(token)
    assert user.get("/api/v1/me").json()["email"] == email
    # A user may make tokens for themselves, not for others.
    assert user.post(f"/api/v1/users/{email}/tokens").status_code == 201
    error_of(user.post(f"/api/v1/users/{ADMIN}/tokens"), 403)
    error_of(pager.admin.delete(f"/api/v1/users/{ADMIN}"), 409)  # not yourself

    assert pager.admin.delete(f"/api/v1/users/{email}").status_code == 204
    error_of(user.get("/api/v1/me"), 401)  # their tokens went with them
    error_of(pager.admin.delete(f"/api/v1/users/{email}"), 404)


def test_the_admin_commands_work_on_the_database(pager: Pager) -> None:
    email = f"{pager.new_id('ops')}@example.com"
    added = pager.process.cli("user", "add", email, "--role", "admin", "--password-stdin",
                              input="correct horse battery\n")  # fmt: skip
    assert email in added.stdout
    created = pager.process.cli("token", "create", "--user", email, "--name", "ci")
    token = created.stdout
    assert token.startswith("pgr_")
    assert token.count("\n") == 1
    assert pager.client(token.strip()).get("/api/v1/users").status_code == 200

    again = pager.process.cli("user", "add", email, check=False)
    assert again.returncode == 1
    assert "already exists" in again.stderr
    nobody = pager.process.cli("token", "create", "--user", "nobody@example.com", check=False)
    assert nobody.returncode == 1
    assert "does not exist" in nobody.stderr
    assert nobody.stdout == ""
    short = pager.process.cli("user", "add", "x" + email, "--password-stdin", input="short\n",
                              check=False)  # fmt: skip
    assert short.returncode == 1
    assert "password" in short.stderr


def test_secrets_never_reach_the_log(pager: Pager) -> None:
    service_id, key = pager.service()
    pager.client(key).post("/api/v1/alerts", json={"service": service_id, "message": "x"})
    pager.client(key, scheme="GenieKey").post("/v2/alerts", json={"message": "y"})
    log = pager.process.log()
    assert key not in log
    assert pager.admin_token not in log
    assert pager.responder_token not in log
