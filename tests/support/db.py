"""Real databases for tests: a migrated SQLite file per test, and a PostgreSQL database with a
random name per test run, dropped at the end (as GoAlert's harness does)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from pager.adapters.storage import tables
from pager.adapters.storage.engine import create_engine, normalize_url

POSTGRES_ENV = "PAGER_TEST_POSTGRES_URL"
SKIP_MESSAGE = (
    f"PostgreSQL tests need {POSTGRES_ENV}, e.g. "
    "postgresql://postgres@127.0.0.1:5432/test (a server where the user may create databases)"
)


def postgres_server_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


def running_in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@contextmanager
def temporary_postgres_database(server_url: str) -> Iterator[str]:
    """Create a database with a random name; yield its URL; drop it afterwards."""
    name = f"pager_test_{secrets.token_hex(6)}"
    admin = sa.create_engine(normalize_url(server_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = make_url(normalize_url(server_url)).set(database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def truncate_all(engine: Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(table.name for table in tables.metadata.sorted_tables)
            conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY"))
        else:
            for table in reversed(tables.metadata.sorted_tables):
                conn.execute(table.delete())


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            table.name: conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0
            for table in tables.metadata.sorted_tables
        }


__all__ = ["create_engine"]
