"""API tokens as the admin console lists and revokes them (names and dates, never secrets)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pager.adapters.storage import tables as t
from pager.adapters.storage.engine import WRITE


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: str
    user_email: str
    name: str
    created_at: datetime


class SqlApiTokens:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def all(self) -> list[TokenInfo]:
        query = (
            sa.select(
                t.api_tokens.c.id, t.users.c.email, t.api_tokens.c.name, t.api_tokens.c.created_at
            )
            .join(t.users, t.users.c.id == t.api_tokens.c.user_id)
            .order_by(t.users.c.email, t.api_tokens.c.created_at)
        )
        with self._engine.connect() as conn:
            return [TokenInfo(*row) for row in conn.execute(query)]

    def revoke(self, token_id: str) -> bool:
        """False if there was no such token. The token stops working at once."""
        with self._engine.connect().execution_options(**WRITE) as conn, conn.begin():
            deleted = conn.execute(t.api_tokens.delete().where(t.api_tokens.c.id == token_id))
        return bool(deleted.rowcount == 1)
