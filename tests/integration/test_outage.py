"""A database outage answers 503 with Retry-After on every endpoint, in each endpoint's own
dialect, with one log line per failed request and no traceback; when the database is back,
so is Pager. The outage is real: PostgreSQL stops accepting connections to the database and
drops the ones it had."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from pager.adapters.storage.engine import normalize_url, outage
from pager.bootstrap import bootstrap
from pager.config import Settings
from pager.entrypoints.http.app import create_app
from tests.support.builders import two_level_policy
from tests.support.clock import FakeClock
from tests.support.db import postgres_server_url


@contextmanager
def database_down(database_url: str) -> Iterator[None]:
    """While the block runs, PostgreSQL refuses connections to the database and has dropped
    every one it had."""
    name = make_url(normalize_url(database_url)).database
    server = postgres_server_url()
    assert server is not None
    admin = sa.create_engine(normalize_url(server), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        )
    try:
        yield
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()


@pytest.mark.postgres
def test_every_endpoint_answers_503_with_retry_after_and_logs_one_line(
    postgres_url: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    container = bootstrap(
        Settings(database_url=postgres_url, credential_cache_seconds=0), clock=clock
    )
    container.accounts.add_user("admin@example.com", "admin")
    token = container.accounts.create_token("admin@example.com")
    container.handlers.define_policy(two_level_policy())
    container.handlers.define_service("db", "Database", "ops")
    key = container.accounts.rotate_integration_key("db").key
    bearer = {"Authorization": f"Bearer {token}"}
    requests = [
        ("GET", "/api/v1/incidents", {"headers": bearer}),
        ("POST", "/api/v1/alerts", {"headers": bearer, "json": {"service": "db", "message": "x"}}),
        (
            "POST",
            "/integrations/alertmanager",
            {"headers": {"Authorization": f"Bearer {key}"}, "json": {"alerts": [{}]}},
        ),
        (
            "POST",
            "/v2/enqueue",
            {
                "json": {
                    "routing_key": key,
                    "event_action": "trigger",
                    "payload": {"summary": "x", "source": "y", "severity": "error"},
                }
            },
        ),
        (
            "POST",
            "/v2/alerts",
            {"headers": {"Authorization": f"GenieKey {key}"}, "json": {"message": "x"}},
        ),
        ("GET", "/login", {}),
    ]
    with TestClient(create_app(container)) as client:
        assert (
            client.post(
                "/api/v1/alerts", headers=bearer, json={"service": "db", "message": "up"}
            ).status_code
            == 202
        )
        with database_down(postgres_url):
            caplog.clear()
            with caplog.at_level(logging.INFO):
                answers = [client.request(method, path, **kw) for method, path, kw in requests]
            records = [r for r in caplog.records if r.levelno >= logging.WARNING]
        back = client.get("/api/v1/incidents", headers=bearer)
    container.engine.dispose()

    for (method, path, _), answer in zip(requests, answers, strict=True):
        assert answer.status_code == 503, (method, path, answer.text)
        assert answer.headers["Retry-After"] == "5", path
    assert answers[0].json()["error"]["code"] == "unavailable"
    assert answers[1].json()["error"]["code"] == "unavailable"
    assert answers[3].json()["status"] != "success"  # PagerDuty's shape: status, message, errors
    assert set(answers[3].json()) == {"status", "message", "errors"}
    assert {"message", "took", "requestId"} <= set(answers[4].json())  # Opsgenie's
    assert answers[5].headers["Content-Type"].startswith("text/html")  # a console page
    assert "cannot reach its database" in answers[5].text
    assert len(records) == len(requests), [r.getMessage() for r in records]
    for record in records:
        assert record.exc_info is None, record.getMessage()
        assert "database unavailable" in record.getMessage()
        assert "\n" not in record.getMessage()
    assert back.status_code == 200  # the pool reconnects once the database is back
    assert len(back.json()["incidents"]) == 1


def test_an_outage_is_told_apart_from_a_wrong_statement(sqlite_url: str) -> None:
    locker = sa.create_engine(sqlite_url, isolation_level="AUTOCOMMIT")
    engine = sa.create_engine(sqlite_url, connect_args={"timeout": 0.1})
    with locker.connect() as holder:
        holder.exec_driver_sql("BEGIN IMMEDIATE")  # the writer's lock, held
        with engine.connect() as conn, pytest.raises(sa.exc.OperationalError) as locked:
            conn.exec_driver_sql("DELETE FROM timers")
        with engine.connect() as conn, pytest.raises(sa.exc.OperationalError) as mistake:
            conn.exec_driver_sql("SELECT * FROM no_such_table")
        holder.exec_driver_sql("ROLLBACK")
    engine.dispose()
    locker.dispose()
    reason = outage(locked.value)
    assert reason == "database unavailable: OperationalError: database is locked"
    assert outage(mistake.value) is None  # SQLite's OperationalError for a wrong statement
    assert outage(sa.exc.IntegrityError("INSERT", {}, Exception("duplicate"))) is None
    assert outage(ValueError("no")) is None
