"""People and schedules as a step reads them (`Directory`), in the unit of work's transaction."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from pager.adapters.storage import tables as t
from pager.adapters.storage.codec import decode_person, decode_schedule
from pager.domain.people import Person
from pager.domain.schedule import Override, Schedule


class SqlDirectory:
    """Each person and schedule read once per unit of work: a storm's steps ask for the
    same few again and again."""

    def __init__(self, conn: sa.Connection, now: datetime, *, hold: bool = False) -> None:
        self._conn = conn
        self._now = now
        self._hold = hold
        self._people: dict[str, Person | None] = {}
        self._schedules: dict[str, Schedule | None] = {}

    def person(self, email: str) -> Person | None:
        key = email.lower()
        if key not in self._people:
            query = sa.select(*t.person_columns).where(t.users.c.email == key)
            if self._hold:  # FOR SHARE on PostgreSQL; SQLite's writers take turns anyway
                query = query.with_for_update(read=True)
            row = self._conn.execute(query).first()
            self._people[key] = None if row is None else decode_person(*row)
        return self._people[key]

    def schedule(self, schedule_id: str) -> Schedule | None:
        if schedule_id not in self._schedules:
            self._schedules[schedule_id] = self._read_schedule(schedule_id)
        return self._schedules[schedule_id]

    def _read_schedule(self, schedule_id: str) -> Schedule | None:
        s, o = t.schedules.c, t.schedule_overrides.c
        # FOR KEY SHARE (PostgreSQL; SQLite runs one writer at a time): a schedule that a
        # policy being defined names cannot be deleted before that policy is committed, and
        # the delete then sees it. Reads, pages and changes to the schedule do not wait.
        row = self._conn.execute(
            sa.select(s.name, s.time_zone, s.layers)
            .where(s.id == schedule_id)
            .with_for_update(read=True, key_share=True)
        ).first()
        if row is None:
            return None
        # Those that have ended cannot change who is on call now or later.
        overrides = tuple(
            Override(r.id, r.user_email, r.start, r.end, r.created_at)
            for r in self._conn.execute(
                sa.select(o.id, o.user_email, o.start, o.end, o.created_at)
                .where(o.schedule_id == schedule_id, o.end > self._now)
                .order_by(o.start)
            )
        )
        return decode_schedule(schedule_id, row.name, row.time_zone, row.layers, overrides)
