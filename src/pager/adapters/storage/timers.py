"""Durable timers (`TimerQueue`): claim due rows (SKIP LOCKED on PostgreSQL) for the
timers module."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pager.adapters.storage import tables as t
from pager.adapters.storage.engine import write_transaction
from pager.application.ports import DueTimer


class SqlTimerQueue:
    def __init__(self, engine: Engine, lease_seconds: float = 30.0) -> None:
        self._engine = engine
        self._lease = timedelta(seconds=lease_seconds)
        self._postgres = engine.dialect.name == "postgresql"

    def claim_due(self, now: datetime, limit: int = 200) -> tuple[list[DueTimer], datetime | None]:
        """Claim up to `limit` due timers for `lease_seconds`; a crashed claimer's lease runs
        out and another worker takes the timer over (timers fire at least once). With none
        due, nothing is claimed and the second value says when the earliest claimable timer
        falls due (None: no timers): found by one read, without a write transaction, which
        is the usual case after a commit."""
        claimable = sa.or_(t.timers.c.claimed_until.is_(None), t.timers.c.claimed_until < now)
        with self._engine.connect() as conn:
            earliest: datetime | None = conn.scalar(
                sa.select(sa.func.min(t.timers.c.due_at)).where(claimable)
            )
        if earliest is None or earliest > now:
            return [], earliest
        query = (
            sa.select(t.timers)
            .where(t.timers.c.due_at <= now, claimable)
            .order_by(t.timers.c.due_at)
            .limit(limit)
        )
        if self._postgres:
            query = query.with_for_update(skip_locked=True)
        with write_transaction(self._engine) as conn:
            rows = conn.execute(query).all()
            if rows:
                conn.execute(
                    t.timers.update()
                    .where(t.timers.c.id.in_([row.id for row in rows]))
                    .values(claimed_until=now + self._lease)
                )
        timers = [
            DueTimer(
                row.id, row.kind, row.subject, row.service_id, row.level, row.round, row.due_at
            )
            for row in rows
        ]
        return timers, None

    def release(self, timers: list[DueTimer]) -> None:
        """Give claimed timers back at shutdown, so another worker need not wait out a lease."""
        if not timers:
            return
        with write_transaction(self._engine) as conn:
            conn.execute(
                t.timers.update()
                .where(t.timers.c.id.in_([timer.id for timer in timers]))
                .values(claimed_until=None)
            )

    def release_all(self) -> None:
        """Forget every claim: only for a database that has a single worker (SQLite)."""
        with write_transaction(self._engine) as conn:
            conn.execute(t.timers.update().values(claimed_until=None))
