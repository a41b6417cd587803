"""Pending contact-method codes (their hashes) on SQLAlchemy Core: one row per method."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pager.adapters.storage import tables as t
from pager.adapters.storage.engine import WRITE
from pager.application.contact import MAX_TRIES, PendingCode

_v = t.contact_verifications
_COLUMNS = (_v.c.code_hash, _v.c.tries, _v.c.sent_at, _v.c.expires_at)


def _where(user_id: str, method_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(_v.c.user_id == user_id, _v.c.method_id == method_id)


def _pending(row: sa.Row[Any] | None) -> PendingCode | None:
    if row is None:
        return None
    return PendingCode(row.code_hash, row.tries, row.sent_at, row.expires_at)


class SqlVerificationStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def _write(self) -> Any:
        return self._engine.connect().execution_options(**WRITE)

    def pending(self, user_id: str, method_id: str) -> PendingCode | None:
        with self._engine.connect() as conn:
            return _pending(
                conn.execute(sa.select(*_COLUMNS).where(_where(user_id, method_id))).first()
            )

    def replace(
        self, user_id: str, method_id: str, code: PendingCode, unless_sent_after: datetime
    ) -> bool:
        values = {
            "code_hash": code.code_hash,
            "tries": 0,
            "sent_at": code.sent_at,
            "expires_at": code.expires_at,
        }
        with self._write() as conn, conn.begin():
            replaced = conn.execute(
                _v.update()
                .where(_where(user_id, method_id), _v.c.sent_at <= unless_sent_after)
                .values(values)
            ).rowcount
            if replaced:
                return True
            if conn.scalar(sa.select(sa.func.count()).where(_where(user_id, method_id))):
                return False  # one was sent too recently
            try:
                with conn.begin_nested():
                    conn.execute(_v.insert().values(user_id=user_id, method_id=method_id, **values))
            except sa.exc.IntegrityError:
                return False  # another process sent one at the same moment
        return True

    def take_try(self, user_id: str, method_id: str, now: datetime) -> PendingCode | None:
        with self._write() as conn, conn.begin():
            counted = conn.execute(
                _v.update()
                .where(_where(user_id, method_id), _v.c.tries < MAX_TRIES, _v.c.expires_at > now)
                .values(tries=_v.c.tries + 1)
            ).rowcount
            if not counted:
                return None
            return _pending(
                conn.execute(sa.select(*_COLUMNS).where(_where(user_id, method_id))).first()
            )

    def consume(self, user_id: str, method_id: str, code_hash: str) -> bool:
        with self._write() as conn, conn.begin():
            deleted = conn.execute(
                _v.delete().where(_where(user_id, method_id), _v.c.code_hash == code_hash)
            ).rowcount
        return bool(deleted)

    def forget(self, user_id: str, method_id: str) -> None:
        with self._write() as conn, conn.begin():
            conn.execute(_v.delete().where(_where(user_id, method_id)))
