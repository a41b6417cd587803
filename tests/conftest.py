from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from pager.adapters.storage.engine import create_engine
from pager.adapters.storage.migrate import migrate
from tests.support.clock import FakeClock
from tests.support.db import (
    SKIP_MESSAGE,
    postgres_server_url,
    running_in_ci,
    temporary_postgres_database,
    truncate_all,
)
from tests.support.servers import ALLOW_PRIVATE_TARGETS, SmtpSink, TwilioServer

# At import, before any Settings() is read: the test servers listen on 127.0.0.1. The tests
# of the refusal turn it off where they need to.
os.environ.update(ALLOW_PRIVATE_TARGETS)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test gets a copy, so migrations run once."""
    path = tmp_path_factory.mktemp("template") / "pager.db"
    engine = create_engine(f"sqlite:///{path}")
    migrate(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "pager.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    server = postgres_server_url()
    if server is None:
        if running_in_ci():
            pytest.fail(f"CI must run the PostgreSQL tests: {SKIP_MESSAGE}")
        pytest.skip(SKIP_MESSAGE)
    with temporary_postgres_database(server) as url:
        engine = create_engine(url)
        migrate(engine)
        engine.dispose()
        yield url


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    engine = create_engine(postgres_database)
    truncate_all(engine)
    engine.dispose()
    return postgres_database


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test that takes this runs once on SQLite and once on PostgreSQL."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    """An SMTP server on 127.0.0.1 that records every message."""
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def twilio() -> Iterator[TwilioServer]:
    """Twilio's Messages API on 127.0.0.1, recording every request."""
    with TwilioServer() as server:
        yield server
