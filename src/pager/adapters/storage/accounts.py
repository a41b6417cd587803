"""Accounts on SQLAlchemy Core: users, API tokens, console sessions and integration keys
(hashes only)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pager.adapters.storage import tables as t
from pager.adapters.storage.codec import (
    decode_person,
    decode_policy,
    decode_schedule,
    encode_methods,
    encode_rules,
)
from pager.adapters.storage.engine import WRITE
from pager.adapters.storage.prepared import query
from pager.application.accounts import KeyInfo, Role, User, UserExists, UserInUse
from pager.domain.people import Person
from pager.domain.policy import UserTarget


def _user(row: sa.Row[Any]) -> User:
    return User(row.id, row.email, cast(Role, row.role), row.created_at)


_KEY = "SELECT service_id FROM integration_keys WHERE key_hash = ?"
_KEY_PG = "SELECT service_id FROM integration_keys WHERE key_hash = %(key_hash)s"
_USER_COLUMNS = (t.users.c.id, t.users.c.email, t.users.c.role, t.users.c.created_at)
_sessions = t.console_sessions


class SqlAccountStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def _write(self) -> Any:
        return self._engine.connect().execution_options(**WRITE)

    def add_user(
        self, user: User, password_hash: str | None, profile: Person | None = None
    ) -> None:
        row = _user_row(user, password_hash)
        if profile is not None:
            row |= _profile_row(profile)
        try:
            with self._write() as conn, conn.begin():
                conn.execute(t.users.insert().values(row))
        except sa.exc.IntegrityError:
            raise UserExists(user.email) from None

    def add_first_user(self, user: User, password_hash: str) -> bool:
        try:
            with self._write() as conn, conn.begin():
                if conn.scalar(sa.select(sa.func.count()).select_from(t.users)):
                    return False
                conn.execute(t.users.insert().values(_user_row(user, password_hash)))
        except sa.exc.IntegrityError:  # another process made the same first admin meanwhile
            return False
        return True

    def user_by_email(self, email: str) -> User | None:
        return self._one_user(t.users.c.email == email)

    def user_by_id(self, user_id: str) -> User | None:
        return self._one_user(t.users.c.id == user_id)

    def _one_user(self, condition: sa.ColumnElement[bool]) -> User | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(*_USER_COLUMNS).where(condition)).first()
        return None if row is None else _user(row)

    def credentials(self, email: str) -> tuple[User, str] | None:
        """One query: a user removed between reading the hash and reading the user cannot
        be signed in as nobody."""
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(*_USER_COLUMNS, t.users.c.password_hash).where(
                    t.users.c.email == email, t.users.c.password_hash.is_not(None)
                )
            ).first()
        return None if row is None else (_user(row), row.password_hash)

    def users(self) -> list[User]:
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(*_USER_COLUMNS).order_by(t.users.c.email))
            return [_user(row) for row in rows]

    def delete_user(self, email: str) -> bool:
        with self._write() as conn, conn.begin():
            # FOR UPDATE first: a policy naming the user that is being defined (which holds
            # the row FOR SHARE) commits before the policies are read below.
            user_id = conn.scalar(
                sa.select(t.users.c.id).where(t.users.c.email == email).with_for_update()
            )
            if user_id is None:
                return False
            policies = _policies_targeting(conn, email)
            schedules = _schedules_naming(conn, email)
            if policies or schedules:
                raise UserInUse(email, policies, schedules)
            # Explicitly, so that it holds where foreign keys are not enforced.
            conn.execute(t.api_tokens.delete().where(t.api_tokens.c.user_id == user_id))
            conn.execute(_sessions.delete().where(_sessions.c.user_id == user_id))
            conn.execute(t.users.delete().where(t.users.c.id == user_id))
        return True

    def set_role(self, email: str, role: Role) -> bool:
        return self._update_user(email, role=role)

    def set_password_hash(
        self, email: str, password_hash: str, keep_session_hash: str | None = None
    ) -> bool:
        with self._write() as conn, conn.begin():
            user_id = conn.scalar(
                t.users.update()
                .where(t.users.c.email == email)
                .values(password_hash=password_hash)
                .returning(t.users.c.id)
            )
            if user_id is None:
                return False
            ended = _sessions.delete().where(_sessions.c.user_id == user_id)
            if keep_session_hash is not None:
                ended = ended.where(_sessions.c.id_hash != keep_session_hash)
            conn.execute(ended)
        return True

    def _update_user(self, email: str, **values: str) -> bool:
        with self._write() as conn, conn.begin():
            updated = conn.execute(t.users.update().where(t.users.c.email == email).values(values))
        return bool(updated.rowcount == 1)

    def add_session(
        self,
        session_hash: str,
        user_id: str,
        password_hash: str,
        at: datetime,
        expires_at: datetime,
    ) -> bool:
        with self._write() as conn, conn.begin():
            # FOR SHARE on PostgreSQL: a password change or removal of this user waits for
            # this insert, or this reads its outcome; SQLite serialises writers anyway.
            current = conn.scalar(
                sa.select(t.users.c.password_hash)
                .where(t.users.c.id == user_id)
                .with_for_update(read=True)
            )
            if current != password_hash:
                return False
            conn.execute(_sessions.delete().where(_sessions.c.expires_at <= at))
            conn.execute(
                _sessions.insert().values(
                    id_hash=session_hash, user_id=user_id, created_at=at, expires_at=expires_at
                )
            )
        return True

    def user_by_session(self, session_hash: str, user_id: str, at: datetime) -> User | None:
        query = (
            sa.select(*_USER_COLUMNS)
            .join(_sessions, _sessions.c.user_id == t.users.c.id)
            .where(
                _sessions.c.id_hash == session_hash,
                _sessions.c.user_id == user_id,
                _sessions.c.expires_at > at,
            )
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _user(row)

    def delete_session(self, session_hash: str) -> None:
        with self._write() as conn, conn.begin():
            conn.execute(_sessions.delete().where(_sessions.c.id_hash == session_hash))

    def add_token(
        self, token_id: str, user_id: str, name: str, token_hash: str, at: datetime
    ) -> None:
        with self._write() as conn, conn.begin():
            conn.execute(
                t.api_tokens.insert().values(
                    id=token_id, user_id=user_id, name=name, token_hash=token_hash, created_at=at
                )
            )

    def user_by_token_hash(self, token_hash: str) -> User | None:
        query = (
            sa.select(*_USER_COLUMNS)
            .join(t.api_tokens, t.api_tokens.c.user_id == t.users.c.id)
            .where(t.api_tokens.c.token_hash == token_hash)
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _user(row)

    def set_integration_key(self, info: KeyInfo, key_hash: str) -> None:
        with self._write() as conn, conn.begin():
            conn.execute(
                t.integration_keys.delete().where(
                    t.integration_keys.c.service_id == info.service_id
                )
            )
            conn.execute(t.integration_keys.insert().values(_key_row(info, key_hash)))

    def add_integration_key(self, info: KeyInfo, key_hash: str) -> bool:
        try:
            with self._write() as conn, conn.begin():
                conn.execute(t.integration_keys.insert().values(_key_row(info, key_hash)))
        except sa.exc.IntegrityError:
            return False
        return True

    def integration_key(self, service_id: str) -> KeyInfo | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(t.integration_keys.c.hint, t.integration_keys.c.created_at).where(
                    t.integration_keys.c.service_id == service_id
                )
            ).first()
        return None if row is None else KeyInfo(service_id, row.hint, row.created_at)

    def service_by_key_hash(self, key_hash: str) -> str | None:
        # In the driver's SQL: every webhook and integration event asks, and Core's execution
        # cost six times the database's answer (docs/benchmarks.md, "Against Alertmanager").
        with self._engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                rows = query(conn, _KEY_PG, {"key_hash": key_hash})
            else:
                rows = query(conn, _KEY, (key_hash,))
        return str(rows[0][0]) if rows else None

    def delete_integration_key(self, service_id: str) -> None:
        with self._write() as conn, conn.begin():
            conn.execute(
                t.integration_keys.delete().where(t.integration_keys.c.service_id == service_id)
            )

    # -- profiles

    def profile(self, email: str) -> Person | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(*t.person_columns).where(t.users.c.email == email)).first()
        return None if row is None else decode_person(*row)

    def update_profile(self, email: str, change: Callable[[Person], Person]) -> Person | None:
        with self._write() as conn, conn.begin():
            row = conn.execute(
                sa.select(*t.person_columns).where(t.users.c.email == email).with_for_update()
            ).first()
            if row is None:
                return None
            person = change(decode_person(*row))
            conn.execute(
                t.users.update().where(t.users.c.email == email).values(_profile_row(person))
            )
        return person


def _policies_targeting(conn: sa.Connection, email: str) -> tuple[str, ...]:
    """The escalation policies with a level that targets the user (as policies store a
    user target: its email in lower case)."""
    p = t.policies.c
    found = []
    for row in conn.execute(sa.select(p.id, p.name, p.repeat, p.levels).order_by(p.id)):
        policy = decode_policy(row.id, row.name, row.repeat, row.levels)
        if any(
            isinstance(target, UserTarget) and target.user.lower() == email
            for level in policy.levels
            for target in level.targets
        ):
            found.append(policy.id)
    return tuple(found)


def _schedules_naming(conn: sa.Connection, email: str) -> tuple[str, ...]:
    """The schedules with a layer that names the user."""
    s = t.schedules.c
    found = []
    for row in conn.execute(sa.select(s.id, s.name, s.time_zone, s.layers).order_by(s.id)):
        schedule = decode_schedule(row.id, row.name, row.time_zone, row.layers, ())
        if any(email in (user.lower() for user in layer.users) for layer in schedule.layers):
            found.append(schedule.id)
    return tuple(found)


def _profile_row(person: Person) -> dict[str, Any]:
    return {
        "name": person.name,
        "time_zone": person.time_zone,
        "contact_methods": encode_methods(person.contact_methods),
        "notification_rules": encode_rules(person.rules),
    }


def _user_row(user: User, password_hash: str | None) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "password_hash": password_hash,
        "created_at": user.created_at,
    }


def _key_row(info: KeyInfo, key_hash: str) -> dict[str, Any]:
    return {
        "service_id": info.service_id,
        "key_hash": key_hash,
        "hint": info.hint,
        "created_at": info.created_at,
    }
