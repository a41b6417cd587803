from __future__ import annotations

import itertools
import subprocess
import uuid
from collections.abc import Generator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.e2e.harness import PagerProcess, base_env, pagerd
from tests.support.db import (
    SKIP_MESSAGE,
    postgres_server_url,
    running_in_ci,
    temporary_postgres_database,
)
from tests.support.servers import Certificate

ADMIN = "admin@example.com"
RESPONDER = "responder@example.com"
_counter = itertools.count(1)


@dataclass
class Pager:
    """A running Pager with an admin and a responder, and helpers to seed it."""

    process: PagerProcess
    admin_token: str
    responder_token: str
    admin: httpx.Client
    responder: httpx.Client
    anonymous: httpx.Client
    _clients: list[httpx.Client] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.process.url

    def client(self, credential: str | None, scheme: str = "Bearer") -> httpx.Client:
        client = self.process.client(credential, scheme)
        self._clients.append(client)
        return client

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(_counter)}-{uuid.uuid4().hex[:6]}"

    def policy(self, policy_id: str | None = None, timeout: int = 3600, **body: Any) -> str:
        policy_id = policy_id or self.new_id("policy")
        body.setdefault("name", "Ops on call")
        body.setdefault(
            "levels",
            [
                {
                    "ack_timeout_seconds": timeout,
                    "targets": [
                        {"type": "email", "address": "alice@example.com"},
                        {"type": "sms", "phone": "+14155550100"},
                    ],
                },
                {
                    "ack_timeout_seconds": timeout,
                    "targets": [{"type": "email", "address": "bob@example.com"}],
                },
            ],
        )
        answer = self.admin.put(f"/api/v1/escalation-policies/{policy_id}", json=body)
        assert answer.status_code == 201, answer.text
        return policy_id

    def service(
        self, service_id: str | None = None, policy_id: str | None = None
    ) -> tuple[str, str]:
        """A new service (and policy); returns its id and integration key."""
        service_id = service_id or self.new_id("svc")
        policy_id = policy_id or self.policy()
        answer = self.admin.put(
            f"/api/v1/services/{service_id}",
            json={"name": service_id.title(), "escalation_policy": policy_id},
        )
        assert answer.status_code == 201, answer.text
        key: str = answer.json()["integration_key"]
        return service_id, key

    def incident(self, incident_id: str) -> dict[str, Any]:
        answer = self.admin.get(f"/api/v1/incidents/{incident_id}")
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    def get_service(self, service_id: str) -> dict[str, Any]:
        answer = self.admin.get(f"/api/v1/services/{service_id}")
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    def open_incident(self, service_id: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.get_service(service_id)["open_incident"]
        return found

    def close(self) -> None:
        for client in (self.admin, self.responder, self.anonymous, *self._clients):
            client.close()


def start_pager(
    database_url: str,
    workdir: Any,
    env: dict[str, str] | None = None,
    tls: Certificate | None = None,
) -> Iterator[Pager]:
    """Seed the accounts with the CLI (as an operator would), then serve."""
    with ExitStack() as stack:
        # The admin commands work on the database directly, before any server ran.
        environment = base_env(database_url, env)
        subprocess.run(
            pagerd("user", "add", ADMIN, "--role", "admin"),
            env=environment,
            check=True,
            capture_output=True,
        )
        admin_token = subprocess.run(
            pagerd("token", "create", "--user", ADMIN, "--name", "e2e"),
            env=environment, check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        process = stack.enter_context(PagerProcess.start(database_url, workdir, env, tls=tls))
        admin = process.client(admin_token)
        assert (
            admin.post("/api/v1/users", json={"email": RESPONDER, "role": "responder"}).status_code
            == 201
        )
        made = admin.post(f"/api/v1/users/{RESPONDER}/tokens", json={"name": "e2e"})
        assert made.status_code == 201, made.text
        responder_token = made.json()["token"]
        pager = Pager(
            process,
            admin_token,
            responder_token,
            admin,
            process.client(responder_token),
            process.client(),
        )
        stack.callback(pager.close)
        yield pager


@pytest.fixture(scope="session")
def pager_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pager]:
    workdir = tmp_path_factory.mktemp("pager-sqlite")
    yield from start_pager(f"sqlite:///{workdir / 'pager.db'}", workdir)


@pytest.fixture(scope="session")
def pager_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pager]:
    server = postgres_server_url()
    if server is None:
        if running_in_ci():
            pytest.fail(f"CI must run the PostgreSQL tests: {SKIP_MESSAGE}")
        pytest.skip(SKIP_MESSAGE)
    workdir = tmp_path_factory.mktemp("pager-postgres")
    with temporary_postgres_database(server) as url:
        yield from start_pager(url, workdir)


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def pager(request: pytest.FixtureRequest) -> Pager:
    """A running Pager on SQLite, and again on PostgreSQL."""
    found: Pager = request.getfixturevalue(f"pager_{request.param}")
    return found


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        funcargs = getattr(item, "funcargs", {})
        for value in funcargs.values():
            process = value.process if isinstance(value, Pager) else value
            if isinstance(process, PagerProcess):
                tail = "\n".join(process.log().splitlines()[-150:])
                report.sections.append((f"pagerd {process.command} log (last lines)", tail))
    return report
