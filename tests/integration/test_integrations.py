"""The monitoring tools' tests of tests/e2e (Alertmanager, Grafana, Zabbix, PagerDuty's Events
API, Opsgenie's Alert API), run again in this process against the same app on a TestClient:
the integration endpoints' behaviour is then seen by coverage and by `make mutation`, which
cannot look inside a `pagerd` subprocess. The tests that need the worker stay in tests/e2e.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from pager.bootstrap import App, bootstrap
from pager.config import Settings
from pager.domain.content import MAX_TOTAL, MAX_VALUE
from pager.entrypoints.http.app import create_app
from tests.e2e import test_alert_content as content
from tests.e2e import test_integrations as integrations
from tests.e2e import test_opsgenie_api as opsgenie
from tests.e2e.conftest import ADMIN, RESPONDER, Pager

BASE_URL = "http://testserver"


class InProcess:
    """What the tests use of a `PagerProcess`: its URL and clients with a credential."""

    def __init__(self, container: App) -> None:
        self.url = BASE_URL
        self._app = create_app(container)

    def client(self, token: str | None = None, scheme: str = "Bearer") -> httpx.Client:
        headers = {"Authorization": f"{scheme} {token}"} if token else {}
        return TestClient(self._app, base_url=BASE_URL, headers=headers)


@pytest.fixture(scope="module")
def pager(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pager]:
    path = tmp_path_factory.mktemp("in-process") / "pager.db"
    shutil.copy(sqlite_template, path)
    container = bootstrap(Settings(database_url=f"sqlite:///{path}"))
    container.accounts.add_user(ADMIN, "admin")
    container.accounts.add_user(RESPONDER, "responder")
    admin_token = container.accounts.create_token(ADMIN)
    responder_token = container.accounts.create_token(RESPONDER)
    process = InProcess(container)
    pager = Pager(
        process,  # type: ignore[arg-type]
        admin_token,
        responder_token,
        process.client(admin_token),
        process.client(responder_token),
        process.client(),
    )
    yield pager
    pager.close()
    container.engine.dispose()


def _tests(module: object) -> dict[str, object]:
    """The module's tests that need no worker (those are marked skipif on the command)."""
    return {
        name: test
        for name, test in vars(module).items()
        if name.startswith("test_")
        and not any(mark.name == "skipif" for mark in getattr(test, "pytestmark", []))
    }


globals().update(_tests(integrations))
globals().update(_tests(opsgenie))
globals().update(_tests(content))


# --- Opsgenie's Alert API, beyond the e2e tests ----------------------------------------------


def notes_of(pager: Pager, incident_id: str) -> list[tuple[str, str]]:
    return [
        (entry["data"]["by"], entry["data"]["text"])
        for entry in pager.incident(incident_id)["timeline"]
        if entry["type"] == "NoteAdded"
    ]


def test_an_opsgenie_action_by_alias_puts_its_note_on_the_timeline(pager: Pager) -> None:
    service_id, key = pager.service()
    client = integrations.genie(pager, key)
    integrations.accepted(client.post("/v2/alerts", json={"message": "disk full", "alias": "disk"}))
    incident = pager.open_incident(service_id)
    assert incident is not None
    by_alias = {"identifierType": "alias"}
    acknowledged = client.post(
        "/v2/alerts/disk/acknowledge", params=by_alias, json={"user": "ann", "note": "looking"}
    )
    integrations.accepted(acknowledged)
    closed = client.post(
        "/v2/alerts/disk/close", params=by_alias, json={"user": "bob", "note": "fixed"}
    )
    integrations.accepted(closed)
    shown = pager.incident(incident["id"])
    assert (shown["status"], shown["acknowledged_by"]) == ("resolved", "ann")
    assert notes_of(pager, incident["id"]) == [("ann", "looking"), ("bob", "fixed")]


@pytest.mark.parametrize(
    ("sent", "problem"),
    [
        (
            {"details": {"log": "x" * (MAX_VALUE + 1)}},
            {"field": "details.log", "message": f"must be at most {MAX_VALUE} characters"},
        ),
        (
            {
                "description": "d" * MAX_VALUE,
                "source": "s" * MAX_VALUE,
                "details": {f"d{i}": "x" * MAX_VALUE for i in range(3)},
            },
            {"field": "content", "message": f"must be at most {MAX_TOTAL} characters in all"},
        ),
    ],
    ids=["a detail", "all of it"],
)
def test_an_opsgenie_alert_past_the_content_bounds_is_a_422_naming_the_field(
    pager: Pager, sent: dict[str, object], problem: dict[str, str]
) -> None:
    service_id, key = pager.service()
    answer = integrations.genie(pager, key).post("/v2/alerts", json={"message": "x", **sent})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["problems"] == [problem]
    assert answer.json()["message"] == f"{problem['field']}: {problem['message']}"
    assert pager.open_incident(service_id) is None, "nothing was written"


def test_the_alert_lists_paging_links_name_the_limit_even_when_the_caller_left_it_out(
    pager: Pager,
) -> None:
    # Opsgenie's links carry both offset and limit; a link built from a request that gave
    # a limit keeps it anyway, so only the default (20, over 21 incidents) shows one missing.
    # A service's open incident takes its next alert: each is closed before the next.
    _, key = pager.service()
    client = integrations.genie(pager, key)
    by_alias = {"identifierType": "alias"}
    for n in range(21):
        sent = {"message": f"outage {n}", "alias": f"o{n}"}
        integrations.accepted(client.post("/v2/alerts", json=sent))
        integrations.accepted(client.post(f"/v2/alerts/o{n}/close", params=by_alias))

    def query(link: str) -> dict[str, list[str]]:
        return parse_qs(urlsplit(link).query)

    paging = client.get("/v2/alerts").json()["paging"]
    assert set(paging) == {"first", "next", "last"}
    assert query(paging["next"]) == {"offset": ["20"], "limit": ["20"]}
    assert query(paging["first"]) == {"offset": ["0"], "limit": ["20"]}
    assert query(paging["last"]) == {"offset": ["20"], "limit": ["20"]}
    small = client.get("/v2/alerts", params={"limit": 2, "order": "asc"}).json()["paging"]
    assert query(small["next"]) == {"limit": ["2"], "order": ["asc"], "offset": ["2"]}
