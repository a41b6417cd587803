"""On-call schedules and their overrides on SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pager.adapters.storage import tables as t
from pager.adapters.storage.codec import (
    decode_person,
    decode_policy,
    decode_schedule,
    encode_layers,
)
from pager.adapters.storage.engine import write_transaction
from pager.application.schedules import ScheduleInUse, ScheduleNotFound, StoredOverride
from pager.domain.people import Person
from pager.domain.policy import ScheduleTarget
from pager.domain.schedule import Override, Schedule

_s, _o = t.schedules.c, t.schedule_overrides.c
_OVERRIDE_COLUMNS = (_o.schedule_id, _o.id, _o.user_email, _o.start, _o.end, _o.created_at)


def _override(row: sa.Row[Any]) -> Override:
    return Override(row.id, row.user_email, row.start, row.end, row.created_at)


class SqlScheduleStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def schedule(self, schedule_id: str, ending_after: datetime) -> Schedule | None:
        found = self._read(ending_after, schedule_id)
        return found[0] if found else None

    def schedules(self, ending_after: datetime) -> list[Schedule]:
        return self._read(ending_after, None)

    def _read(self, ending_after: datetime, schedule_id: str | None) -> list[Schedule]:
        rows = sa.select(_s.id, _s.name, _s.time_zone, _s.layers).order_by(_s.id)
        overrides = sa.select(*_OVERRIDE_COLUMNS).where(_o.end > ending_after)
        if schedule_id is not None:
            rows = rows.where(_s.id == schedule_id)
            overrides = overrides.where(_o.schedule_id == schedule_id)
        with self._engine.connect() as conn:
            schedule_rows = conn.execute(rows).all()
            by_schedule: dict[str, list[Override]] = {}
            for row in conn.execute(overrides.order_by(_o.start, _o.id)):
                by_schedule.setdefault(row.schedule_id, []).append(_override(row))
        return [
            decode_schedule(
                row.id, row.name, row.time_zone, row.layers, tuple(by_schedule.get(row.id, ()))
            )
            for row in schedule_rows
        ]

    def put(self, schedule: Schedule, at: datetime) -> bool:
        values = {
            "name": schedule.name,
            "time_zone": schedule.time_zone,
            "layers": encode_layers(schedule.layers),
            "updated_at": at,
        }
        with write_transaction(self._engine) as conn:
            updated = conn.execute(
                t.schedules.update().where(_s.id == schedule.id).values(values)
            ).rowcount
            if updated:
                return False
            conn.execute(t.schedules.insert().values(id=schedule.id, created_at=at, **values))
            return True

    def delete(self, schedule_id: str) -> bool:
        with write_transaction(self._engine) as conn:
            # Locked first: a policy being defined that names it is committed (and seen
            # below) before this goes on, or finds it gone (see SqlDirectory).
            locked = sa.select(_s.id).where(_s.id == schedule_id).with_for_update()
            if conn.execute(locked).first() is None:
                return False
            policies = _policies_paging(conn, schedule_id)
            if policies:
                raise ScheduleInUse(schedule_id, policies)
            conn.execute(t.schedule_overrides.delete().where(_o.schedule_id == schedule_id))
            conn.execute(t.schedules.delete().where(_s.id == schedule_id))
            return True

    def add_override(self, schedule_id: str, override: Override, created_by: str) -> bool:
        with write_transaction(self._engine) as conn:
            if conn.execute(sa.select(_s.id).where(_s.id == schedule_id)).first() is None:
                raise ScheduleNotFound(schedule_id)
            if conn.execute(sa.select(_o.id).where(_o.id == override.id)).first() is not None:
                return False
            conn.execute(
                t.schedule_overrides.insert().values(
                    id=override.id,
                    schedule_id=schedule_id,
                    user_email=override.user,
                    start=override.start,
                    end=override.end,
                    created_at=override.created_at,
                    created_by=created_by,
                )
            )
            return True

    def override(self, schedule_id: str, override_id: str) -> StoredOverride | None:
        query = sa.select(*_OVERRIDE_COLUMNS, _o.created_by).where(
            _o.schedule_id == schedule_id, _o.id == override_id
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else StoredOverride(_override(row), row.created_by)

    def delete_override(self, schedule_id: str, override_id: str) -> bool:
        with write_transaction(self._engine) as conn:
            deleted = conn.execute(
                t.schedule_overrides.delete().where(
                    _o.schedule_id == schedule_id, _o.id == override_id
                )
            ).rowcount
        return bool(deleted)

    def people(self, emails: Sequence[str]) -> dict[str, Person]:
        if not emails:
            return {}
        with self._engine.connect() as conn:
            return _people_rows(conn, emails)

    def missing_users(self, emails: Sequence[str]) -> frozenset[str]:
        if not emails:
            return frozenset()
        query = sa.select(t.users.c.email).where(t.users.c.email.in_(list(emails)))
        with self._engine.connect() as conn:
            known = set(conn.scalars(query))
        return frozenset(emails) - known


def _people_rows(conn: sa.Connection, emails: Sequence[str]) -> dict[str, Person]:
    rows = conn.execute(sa.select(*t.person_columns).where(t.users.c.email.in_(list(emails))))
    return {row.email: decode_person(*row) for row in rows}


def _policies_paging(conn: sa.Connection, schedule_id: str) -> tuple[str, ...]:
    """The policies with a level that names the schedule (read in `conn`'s transaction)."""
    paging = []
    rows = conn.execute(
        sa.select(t.policies.c.id, t.policies.c.name, t.policies.c.repeat, t.policies.c.levels)
    )
    for row in rows:
        policy = decode_policy(row.id, row.name, row.repeat, row.levels)
        targets = (target for level in policy.levels for target in level.targets)
        if ScheduleTarget(schedule_id) in targets:
            paging.append(row.id)
    return tuple(sorted(paging))
