"""The key that signs console sessions and ack links.

PAGER_SECRET_KEY when it is set; otherwise a random key made on first use and kept in the
database, so that sessions and ack links survive restarts and every process sharing the
database (`pagerd serve`, `api`, `worker`, on one machine or several) signs and checks with
the same key. Whoever can read the database can already do anything Pager can.
"""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, datetime

import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from pager.adapters.storage import tables as t
from pager.adapters.storage.engine import WRITE

SIGNING_KEY = "signing_key"


def stored_secret(engine: Engine, name: str) -> str:
    """The secret called `name`, made now if there is none. When several processes make one
    at once, the first to commit wins and all of them return that one."""
    found = _read(engine, name)
    if found is not None:
        return found
    try:
        with engine.connect().execution_options(**WRITE) as conn, conn.begin():
            conn.execute(
                t.server_secrets.insert().values(
                    name=name, value=secrets.token_urlsafe(48), created_at=datetime.now(UTC)
                )
            )
    except sa.exc.IntegrityError:
        pass  # another process made it first
    made = _read(engine, name)
    if made is None:
        raise RuntimeError(f"the secret {name!r} could not be stored")
    return made


def _read(engine: Engine, name: str) -> str | None:
    with engine.connect() as conn:
        found: str | None = conn.scalar(
            sa.select(t.server_secrets.c.value).where(t.server_secrets.c.name == name)
        )
    return found


class SecretKey:
    """The signing key, read once per process (on first use, so after migrations)."""

    def __init__(self, configured: SecretStr | str | None, engine: Engine) -> None:
        if isinstance(configured, SecretStr):
            configured = configured.get_secret_value()
        self._configured = configured or None
        self._engine = engine
        self._value: bytes | None = None
        self._lock = threading.Lock()

    @property
    def from_settings(self) -> bool:
        return self._configured is not None

    def value(self) -> bytes:
        with self._lock:
            if self._value is None:
                text = self._configured or stored_secret(self._engine, SIGNING_KEY)
                self._value = text.encode()
            return self._value
