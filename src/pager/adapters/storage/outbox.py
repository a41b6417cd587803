"""The outbox as the dispatcher sees it (`Outbox`): claim queued notifications, record each
attempt."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic_core import from_json
from sqlalchemy.engine import Engine

from pager.adapters.storage import tables as t
from pager.adapters.storage.codec import decode_content, decode_target
from pager.adapters.storage.engine import write_transaction
from pager.application.ports import Attempt, ClaimedNotification
from pager.domain.content import NO_CONTENT, AlertContent

_n = t.notifications
_b = sa.bindparam
# A notification cancelled (its incident acknowledged) while in flight: record what really
# happened to it, but never queue it again.
_UNSENT = sa.or_(_n.c.status == "queued", _n.c.status == "cancelled")  # no IN: executemany
_SENT = _n.update().where(_n.c.id == _b("b_id"), _UNSENT).values(status="sent", claimed_until=None)
_LOGGED = (
    _n.update().where(_n.c.id == _b("b_id"), _UNSENT).values(status="logged", claimed_until=None)
)
_FAILED = (
    _n.update().where(_n.c.id == _b("b_id"), _UNSENT).values(status="failed", claimed_until=None)
)
_RETRY = (
    _n.update().where(_n.c.id == _b("b_id"), _n.c.status == "queued").values(claimed_until=None)
)


class SqlOutbox:
    def __init__(self, engine: Engine, lease_seconds: float = 120.0) -> None:
        self._engine = engine
        self._lease = timedelta(seconds=lease_seconds)
        self._postgres = engine.dialect.name == "postgresql"

    @property
    def lease(self) -> timedelta:
        return self._lease

    def claim(
        self, now: datetime, limit: int = 100
    ) -> tuple[list[ClaimedNotification], datetime | None]:
        """Claim queued notifications that are due, for the lease; SKIP LOCKED on PostgreSQL
        so that any number of dispatchers share the work without sending anything twice.
        With none due, nothing is claimed and the second value says when the earliest
        claimable one is due (None: none queued): found by one read, without a write
        transaction."""
        n = t.notifications
        claimable = sa.or_(n.c.claimed_until.is_(None), n.c.claimed_until < now)
        with self._engine.connect() as conn:
            earliest: datetime | None = conn.scalar(
                sa.select(sa.func.min(n.c.next_attempt_at)).where(n.c.status == "queued", claimable)
            )
        if earliest is None or earliest > now:
            return [], earliest
        ids_query = (
            sa.select(n.c.id)
            .where(n.c.status == "queued", n.c.next_attempt_at <= now, claimable)
            .order_by(n.c.next_attempt_at)
            .limit(limit)
        )
        if self._postgres:
            ids_query = ids_query.with_for_update(skip_locked=True)
        with write_transaction(self._engine) as conn:
            ids = list(conn.scalars(ids_query))
            if not ids:
                return [], None
            conn.execute(n.update().where(n.c.id.in_(ids)).values(claimed_until=now + self._lease))
            opening = t.events.alias("opening")
            rows = conn.execute(
                sa.select(
                    n,
                    t.incidents.c.message,
                    t.incidents.c.alert_count,
                    t.incidents.c.opened_at,
                    t.incidents.c.urgency,
                    sa.func.coalesce(t.services.c.name, n.c.service_id).label("service_name"),
                    opening.c.data.label("opening"),
                )
                .join(t.incidents, t.incidents.c.id == n.c.incident_id)
                .outerjoin(t.services, t.services.c.id == n.c.service_id)
                # The incident's first alert: its severity and content go with every page.
                .outerjoin(
                    opening,
                    sa.and_(
                        opening.c.incident_id == n.c.incident_id,
                        opening.c.type == "IncidentOpened",
                    ),
                )
                .where(n.c.id.in_(ids))
                .order_by(n.c.next_attempt_at)
            ).all()
        claimed = [
            ClaimedNotification(
                row.id,
                row.incident_id,
                row.service_id,
                row.service_name,
                row.message,
                row.alert_count,
                row.opened_at,
                row.level,
                row.round,
                decode_target(row.target),
                row.attempts,
                row.created_at,
                *_opening(row.opening),
                urgency=row.urgency,
            )
            for row in rows
        ]
        return claimed, None

    def renew(self, ids: Sequence[str], now: datetime) -> None:
        """Extend the claims on these pages to `now` plus the lease, in one statement. A page
        whose attempt was recorded meanwhile (sent, or queued for a retry with no claim) is
        left as it is."""
        if not ids:
            return
        n = t.notifications
        with write_transaction(self._engine) as conn:
            conn.execute(
                n.update()
                .where(n.c.id.in_(ids), n.c.status == "queued", n.c.claimed_until.is_not(None))
                .values(claimed_until=now + self._lease)
            )

    def record(self, attempts: Sequence[Attempt]) -> None:
        """Record attempts, each `sent`, `logged` (written to the log: no provider),
        `retry` (queued again for `retry_at`) or `failed`, in one transaction: when many
        sends finish together they cost one commit."""
        if not attempts:
            return
        sent, logged, retry, failed = [], [], [], []
        for a in attempts:
            row = {
                "b_id": a.claimed.id,
                "attempts": a.claimed.attempts + 1,
                "last_error": a.error,
            }
            if a.outcome == "sent":
                sent.append({**row, "sent_at": a.at})
            elif a.outcome == "logged":
                logged.append(row)  # never sent: no sent_at
            elif a.outcome == "retry":
                retry.append({**row, "next_attempt_at": a.retry_at})
            else:
                failed.append(row)
        with write_transaction(self._engine) as conn:
            for statement, rows in (
                (_SENT, sent),
                (_LOGGED, logged),
                (_RETRY, retry),
                (_FAILED, failed),
            ):
                if rows:
                    conn.execute(statement, rows)
            conn.execute(
                t.notification_attempts.insert(),
                [
                    {
                        "notification_id": a.claimed.id,
                        "attempt": a.claimed.attempts + 1,
                        "at": a.at,
                        "outcome": a.outcome,
                        "error": a.error,
                        "provider_id": a.provider_id,
                    }
                    for a in attempts
                ],
            )

    def release(self, claimed: list[ClaimedNotification]) -> None:
        if not claimed:
            return
        n = t.notifications
        with write_transaction(self._engine) as conn:
            conn.execute(
                n.update().where(n.c.id.in_([c.id for c in claimed])).values(claimed_until=None)
            )

    def release_all(self) -> None:
        """Forget every claim: only for a database that has a single worker (SQLite)."""
        n = t.notifications
        with write_transaction(self._engine) as conn:
            conn.execute(
                n.update().where(n.c.claimed_until.is_not(None)).values(claimed_until=None)
            )


def _opening(data: Any) -> tuple[str | None, AlertContent]:
    """The severity and content of an incident's first alert, from its IncidentOpened."""
    if data is None:
        return None, NO_CONTENT
    opened = data if isinstance(data, dict) else from_json(data)
    return opened.get("severity"), decode_content(opened.get("content"))
