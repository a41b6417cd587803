"""Users as people Pager pages, through the API in process (TestClient over real SQLite and
PostgreSQL): GET|PUT|DELETE /api/v1/users/{email} with contact methods and rules, who may
change what, and bad input refused whole with the place named."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from pager.domain.policy import UserTarget
from pager.entrypoints.cli_admin import accounts_for
from tests.integration.test_api import api_client
from tests.integration.test_console import RESPONDER, make_console
from tests.support.builders import single_level_policy
from tests.support.clock import FakeClock

ALICE = "/api/v1/users/alice@example.com"
PROFILE: dict[str, Any] = {
    "name": "Alice Liddell",
    "time_zone": "Europe/Paris",
    "contact_methods": [
        {"id": "phone", "type": "sms", "phone": "+14155550100"},
        {"id": "mail", "type": "email", "address": "alice@example.com"},
        {"id": "desk", "type": "voice", "phone": "+14155550101", "enabled": False},
    ],
    "notification_rules": [
        {"delay_minutes": 0, "contact_method": "phone"},
        {"delay_minutes": 5, "contact_method": "mail"},
    ],
}


@pytest.fixture
def client(database_url: str, clock: FakeClock) -> Iterator[TestClient]:
    with api_client(database_url, clock) as test_client:
        yield test_client


def token_of(client: TestClient, email: str) -> dict[str, str]:
    token = client.post(f"/api/v1/users/{email}/tokens").json()["token"]
    return {"Authorization": f"Bearer {token}"}


def fields(answer: Any) -> list[str]:
    return [problem["field"] for problem in answer.json()["error"]["problems"]]


def test_put_creates_then_replaces_a_user_and_get_shows_them(client: TestClient) -> None:
    made = client.put(ALICE, json=PROFILE)
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["email"] == "alice@example.com"
    assert body["role"] == "responder"
    assert {k: body[k] for k in PROFILE} == {
        **PROFILE,
        "contact_methods": [
            {"id": "phone", "type": "sms", "phone": "+14155550100", "enabled": True},
            {"id": "mail", "type": "email", "address": "alice@example.com", "enabled": True},
            {"id": "desk", "type": "voice", "phone": "+14155550101", "enabled": False},
        ],
        "notification_rules": [
            {**rule, "repeat_every_minutes": None} for rule in PROFILE["notification_rules"]
        ],
    }
    assert client.get(ALICE).json() == body
    assert client.get("/api/v1/users/ALICE@example.com").json() == body

    replaced = client.put(ALICE, json={"name": "Alice", "role": "admin"})
    assert replaced.status_code == 200
    after = replaced.json()
    # A PUT is the whole profile: what it leaves out is empty, or UTC.
    assert (after["name"], after["time_zone"], after["role"]) == ("Alice", "UTC", "admin")
    assert (after["contact_methods"], after["notification_rules"]) == ([], [])
    assert after["created_at"] == body["created_at"]
    assert client.get(ALICE).json() == after


def test_an_unknown_user_is_a_404(client: TestClient) -> None:
    answer = client.get("/api/v1/users/nobody@example.com")
    assert answer.status_code == 404
    assert "nobody@example.com" in answer.json()["error"]["message"]


def test_a_wrong_time_zone_is_a_422_naming_the_field_and_nothing_is_made(
    client: TestClient,
) -> None:
    answer = client.put(ALICE, json={**PROFILE, "time_zone": "Mars/Olympus_Mons"})
    assert answer.status_code == 422
    assert fields(answer) == ["time_zone"]
    assert client.get(ALICE).status_code == 404


def test_what_the_domain_refuses_is_named_and_nothing_is_changed(client: TestClient) -> None:
    before = client.put(ALICE, json=PROFILE).json()
    wrong = {
        **PROFILE,
        "contact_methods": [*PROFILE["contact_methods"], PROFILE["contact_methods"][0]],
        "notification_rules": [{"delay_minutes": 1, "contact_method": "pager"}],
        "role": "admin",
    }
    answer = client.put(ALICE, json=wrong)
    assert answer.status_code == 422
    assert fields(answer) == ["contact method 4 id", "notification rule 1 contact_method"]
    assert client.get(ALICE).json() == before  # the role too


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"contact_methods": [{"id": "p", "type": "sms", "phone": "555-0100"}]}, "phone"),
        ({"contact_methods": [{"id": "m", "type": "email", "address": "nobody"}]}, "address"),
        ({"contact_methods": [{"id": "m", "type": "pager", "address": "x@y.io"}]}, "methods"),
        ({"notification_rules": [{"delay_minutes": -1, "contact_method": "phone"}]}, "delay"),
        ({"notification_rules": [{"delay_minutes": "1", "contact_method": "phone"}]}, "delay"),
        ({"notification_rules": [{"delay_minutes": 0, "contact_method": "phone",
                                  "repeat_every_minutes": 0}]}, "repeat_every_minutes"),
        ({"notification_rules": [{"delay_minutes": 0, "contact_method": "phone",
                                  "repeat_every_minutes": 61}]}, "repeat_every_minutes"),
        ({"notification_rules": [{"delay_minutes": 0, "contact_method": "phone",
                                  "repeat_every_minutes": 2.5}]}, "repeat_every_minutes"),
        ({"name": "Alice\u202eecila"}, "name"),
        ({"role": "owner"}, "role"),
        ({"password": "short"}, "password"),
        ({"nickname": "Al"}, "nickname"),
    ],
)  # fmt: skip
def test_bad_input_is_a_422_naming_the_field(
    client: TestClient, change: dict[str, Any], field: str
) -> None:
    answer = client.put(ALICE, json={**PROFILE, **change})
    assert answer.status_code == 422, answer.text
    assert any(field in where for where in fields(answer)), fields(answer)
    assert client.get(ALICE).status_code == 404


def test_a_repeating_rule_is_kept_and_shown(client: TestClient) -> None:
    rules = [
        {"delay_minutes": 0, "contact_method": "mail", "repeat_every_minutes": None},
        {"delay_minutes": 2, "contact_method": "phone", "repeat_every_minutes": 5},
    ]
    made = client.put(ALICE, json={**PROFILE, "notification_rules": rules})
    assert made.status_code == 201, made.text
    assert made.json()["notification_rules"] == rules
    assert client.get(ALICE).json()["notification_rules"] == rules


def test_users_change_their_own_profile_and_nothing_else(client: TestClient) -> None:
    client.put(ALICE, json=PROFILE)
    client.put("/api/v1/users/bob@example.com", json={"name": "Bob"})
    alice = token_of(client, "alice@example.com")

    own = client.put(
        ALICE, json={**PROFILE, "name": "Al", "password": "a new password"}, headers=alice
    )
    assert own.status_code == 200
    assert own.json()["name"] == "Al"
    assert client.get(ALICE, headers=alice).json()["name"] == "Al"
    # Restating their own role is no change.
    assert client.put(ALICE, json={"role": "responder"}, headers=alice).status_code == 200

    for method, path, body in [
        ("PUT", ALICE, {"role": "admin"}),
        ("PUT", "/api/v1/users/bob@example.com", {"name": "Bobby"}),
        ("PUT", "/api/v1/users/carol@example.com", {"name": "Carol"}),
        ("GET", "/api/v1/users/bob@example.com", None),
        ("DELETE", "/api/v1/users/bob@example.com", None),
    ]:
        answer = client.request(method, path, json=body, headers=alice)
        assert answer.status_code == 403, (method, path, answer.text)
    assert client.get(ALICE).json()["role"] == "responder"
    assert client.get("/api/v1/users/bob@example.com").json()["name"] == "Bob"
    assert client.get("/api/v1/users/carol@example.com").status_code == 404


def test_users_add_their_own_phones_disabled_until_verified(client: TestClient) -> None:
    client.put(ALICE, json=PROFILE)  # an admin's: enabled as given
    alice = token_of(client, "alice@example.com")
    methods = PROFILE["contact_methods"]
    new_phone = {"id": "cell", "type": "sms", "phone": "+14155550199"}
    moved = {**methods[0], "phone": "+14155550198"}
    for changed, place in [([*methods, new_phone], 4), ([moved, *methods[1:]], 1)]:
        answer = client.put(ALICE, json={**PROFILE, "contact_methods": changed}, headers=alice)
        assert answer.status_code == 403, answer.text
        assert fields(answer) == [f"contact method {place} enabled"]
        [problem] = answer.json()["error"]["problems"]
        assert problem["message"] == (
            "a phone you add yourself is enabled once you type back the code Pager sends it, "
            "on your profile page: add it with enabled false"
        )
    assert client.get(ALICE).json()["contact_methods"][0]["phone"] == methods[0]["phone"]
    assert len(client.get(ALICE).json()["contact_methods"]) == len(methods)
    kept = client.put(ALICE, json={**PROFILE, "name": "Al"}, headers=alice)
    assert kept.status_code == 200  # the verified phone stays enabled
    disabled = {**new_phone, "enabled": False}
    added = client.put(
        ALICE, json={**PROFILE, "contact_methods": [*methods, disabled]}, headers=alice
    )
    assert added.status_code == 200
    assert added.json()["contact_methods"][-1]["enabled"] is False
    assert (
        client.put(  # an admin may enable it as given
            ALICE, json={**PROFILE, "contact_methods": [*methods, new_phone]}
        ).status_code
        == 200
    )


def test_an_admin_cannot_change_their_own_role(client: TestClient) -> None:
    me = "/api/v1/users/admin@example.com"
    answer = client.put(me, json={"name": "Admin", "role": "responder"})
    assert answer.status_code == 409
    assert "own role" in answer.json()["error"]["message"]
    kept = client.get(me).json()
    assert (kept["role"], kept["name"]) == ("admin", "")
    assert client.put(me, json={"name": "Admin", "role": "admin"}).status_code == 200


def test_a_password_put_signs_the_user_in(client: TestClient, engine: Engine) -> None:
    client.put(ALICE, json={"password": "correct horse"})
    accounts = accounts_for(engine)
    assert accounts.check_password("alice@example.com", "correct horse") is not None
    client.put(ALICE, json={"name": "Alice"})  # no password: kept
    assert accounts.check_password("alice@example.com", "correct horse") is not None


def test_a_user_a_policy_targets_cannot_be_deleted(client: TestClient) -> None:
    client.put(ALICE, json=PROFILE)
    for policy_id in ("web", "db"):
        level = {"targets": [{"type": "user", "user": "Alice@example.com"}]}
        answer = client.put(
            f"/api/v1/escalation-policies/{policy_id}", json={"name": policy_id, "levels": [level]}
        )
        assert answer.status_code in (200, 201), answer.text
    refused = client.delete(ALICE)
    assert refused.status_code == 409
    message = refused.json()["error"]["message"]
    assert "db" in message
    assert "web" in message
    assert client.get(ALICE).status_code == 200
    for policy_id in ("web", "db"):
        level = {"targets": [{"type": "email", "address": "ops@example.com"}]}
        client.put(
            f"/api/v1/escalation-policies/{policy_id}", json={"name": policy_id, "levels": [level]}
        )
    assert client.delete(ALICE).status_code == 204
    assert client.get(ALICE).status_code == 404


def test_a_user_on_a_schedule_cannot_be_deleted(client: TestClient) -> None:
    client.put(ALICE, json=PROFILE)
    rota = {
        "name": "Rota",
        "time_zone": "UTC",
        "layers": [
            {
                "users": ["admin@example.com", "alice@example.com"],
                "shift": {"days": 1},
                "start": "2026-01-05T09:00",
            }
        ],
    }
    assert client.put("/api/v1/schedules/rota", json=rota).status_code == 201
    refused = client.delete(ALICE)
    assert refused.status_code == 409
    assert "schedules: rota" in refused.json()["error"]["message"]
    assert client.get(ALICE).status_code == 200
    rota["layers"][0]["users"] = ["admin@example.com"]
    assert client.put("/api/v1/schedules/rota", json=rota).status_code == 200
    assert client.delete(ALICE).status_code == 204


def test_post_users_and_tokens_keep_working(client: TestClient) -> None:
    made = client.post("/api/v1/users", json={"email": "dave@example.com", "role": "responder"})
    assert made.status_code == 201
    dave = token_of(client, "dave@example.com")
    assert client.get("/api/v1/me", headers=dave).json()["email"] == "dave@example.com"
    profile = client.get("/api/v1/users/dave@example.com", headers=dave).json()
    assert (profile["name"], profile["time_zone"], profile["contact_methods"]) == ("", "UTC", [])


def test_the_console_and_the_cli_refuse_to_remove_a_targeted_user_naming_the_policy(
    database_url: str, clock: FakeClock
) -> None:
    with make_console(database_url, clock) as console:
        policy = single_level_policy("night", UserTarget(RESPONDER))
        console.app.handlers.define_policy(policy)
        answer = console.admin.post("/admin/users/delete", {"email": RESPONDER})
        assert answer.status_code == 303
        page = console.admin.get("/admin").text
        assert "night" in page
        assert "escalation policies" in page
        assert console.accounts.user(RESPONDER).email == RESPONDER

        env = {k: v for k, v in os.environ.items() if not k.startswith("PAGER_")}
        removed = subprocess.run(
            [sys.executable, "-m", "pager", "user", "remove", RESPONDER],
            env={**env, "PAGER_DATABASE_URL": database_url},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert removed.returncode == 1
        assert "night" in removed.stderr
        assert "Traceback" not in removed.stderr
        assert console.accounts.user(RESPONDER).email == RESPONDER
