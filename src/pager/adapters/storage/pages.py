"""Sent pages as providers' callbacks name them (`SentPages`): a call's page by its id, the
SMS pages a phone was texted, and a placed call that went unanswered."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pager.adapters.storage import tables as t
from pager.adapters.storage.codec import decode_target
from pager.adapters.storage.engine import write_transaction
from pager.application.ports import PageSent

_n, _i = t.notifications, t.incidents
_PAGES = (
    sa.select(
        _n.c.id,
        _n.c.incident_id,
        _n.c.service_id,
        sa.func.coalesce(t.services.c.name, _n.c.service_id).label("service_name"),
        _i.c.message,
        _n.c.level,
        _n.c.target,
        _n.c.target_key,
        _n.c.status,
        _i.c.status.label("incident_status"),
        _i.c.acknowledged_by,
    )
    .join(_i, _i.c.id == _n.c.incident_id)
    .outerjoin(t.services, t.services.c.id == _n.c.service_id)
)


class SqlSentPages:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def page(self, notification_id: str) -> PageSent | None:
        with self._engine.connect() as conn:
            row = conn.execute(_PAGES.where(_n.c.id == notification_id)).first()
        return None if row is None else _page(row)

    def texted(self, phone: str, limit: int = 50) -> list[PageSent]:
        query = (
            _PAGES.where(
                _n.c.channel == "sms",
                sa.or_(_n.c.status == "sent", _n.c.status == "logged"),
                _n.c.target["phone"].as_string() == phone,
            )
            .order_by(_i.c.opened_at.desc(), _n.c.created_at.desc())
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [_page(row) for row in conn.execute(query)]

    def call_failed(
        self, notification_id: str, at: datetime, reason: str, provider_id: str | None
    ) -> bool:
        with write_transaction(self._engine) as conn:
            attempts = conn.scalar(
                _n.update()
                .where(_n.c.id == notification_id, _n.c.channel == "voice", _n.c.status == "sent")
                .values(status="failed", attempts=_n.c.attempts + 1, last_error=reason)
                .returning(_n.c.attempts)
            )
            if attempts is None:
                return False
            conn.execute(
                t.notification_attempts.insert().values(
                    notification_id=notification_id,
                    attempt=attempts,
                    at=at,
                    outcome="failed",
                    error=reason,
                    provider_id=provider_id,
                )
            )
        return True


def _page(row: Any) -> PageSent:
    return PageSent(
        id=row.id,
        incident_id=row.incident_id,
        service_id=row.service_id,
        service_name=row.service_name,
        message=row.message,
        level=row.level,
        target=decode_target(row.target),
        target_key=row.target_key,
        status=row.status,
        incident_status=row.incident_status,
        acknowledged_by=row.acknowledged_by,
    )
