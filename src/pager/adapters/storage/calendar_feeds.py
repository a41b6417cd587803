"""Calendar feeds on SQLAlchemy Core: the sha256 of each token, and its owner."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pager.adapters.storage import tables as t
from pager.adapters.storage.engine import write_transaction
from pager.application.calendar_feeds import Feed, Owner

_f, _u = t.calendar_feeds.c, t.users.c
_COLUMNS = (_f.id, _u.email, _f.schedule_id, _f.created_at, _f.created_by)


def _select() -> sa.Select[Any]:
    return sa.select(*_COLUMNS).select_from(
        t.calendar_feeds.outerjoin(t.users, _u.id == _f.user_id)
    )


def _feed(row: sa.Row[Any]) -> Feed:
    if row.schedule_id is not None:
        owner = Owner("schedule", row.schedule_id)
    else:
        owner = Owner("user", row.email)
    return Feed(row.id, owner, row.created_at, row.created_by)


def _owned_by(owner: Owner) -> sa.ColumnElement[bool]:
    if owner.kind == "schedule":
        return _f.schedule_id == owner.subject
    return _f.user_id == sa.select(_u.id).where(_u.email == owner.subject).scalar_subquery()


class SqlCalendarFeedStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, feed: Feed, token_hash: str) -> bool:
        owner = feed.owner
        with write_transaction(self._engine) as conn:
            if owner.kind == "schedule":
                found = conn.scalar(
                    sa.select(t.schedules.c.id).where(t.schedules.c.id == owner.subject)
                )
                columns = {"schedule_id": found}
            else:
                found = conn.scalar(sa.select(_u.id).where(_u.email == owner.subject))
                columns = {"user_id": found}
            if found is None:
                return False
            conn.execute(
                t.calendar_feeds.insert().values(
                    id=feed.id,
                    token_hash=token_hash,
                    created_at=feed.created_at,
                    created_by=feed.created_by,
                    **columns,
                )
            )
            return True

    def feeds(self, owner: Owner) -> list[Feed]:
        query = _select().where(_owned_by(owner)).order_by(_f.created_at, _f.id)
        with self._engine.connect() as conn:
            return [_feed(row) for row in conn.execute(query)]

    def delete(self, owner: Owner, feed_id: str) -> bool:
        with write_transaction(self._engine) as conn:
            deleted = conn.execute(
                t.calendar_feeds.delete().where(_f.id == feed_id, _owned_by(owner))
            ).rowcount
        return bool(deleted)

    def by_token_hash(self, token_hash: str) -> Feed | None:
        with self._engine.connect() as conn:
            row = conn.execute(_select().where(_f.token_hash == token_hash)).first()
        return None if row is None else _feed(row)
