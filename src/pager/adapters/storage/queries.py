"""The read side's SQL (`ReadModel`): read straight from the read models and the event
store. Nothing here writes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import cache
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pager.adapters.clock import SystemClock
from pager.adapters.storage import tables as t
from pager.adapters.storage.codec import decode_content, decode_datetime, decode_policy
from pager.adapters.storage.migrate import current_revision, head_revision
from pager.adapters.storage.uow import service_stream
from pager.application.ports import Clock
from pager.application.queries import (
    MAINTENANCE_EVENTS,
    OPEN_STATUSES,
    AlertView,
    HeartbeatView,
    IncidentDetail,
    IncidentView,
    MaintenanceView,
    NotificationView,
    OpeningAlert,
    PolicyView,
    ServiceView,
    StreamEvent,
    TimelineEntry,
    redact,
)

# Pages of the incident that failed for good, beside each incident read: the API and the
# console flag it.
_FAILED_PAGES = (
    sa.select(sa.func.count())
    .select_from(t.notifications)
    .where(t.notifications.c.incident_id == t.incidents.c.id, t.notifications.c.status == "failed")
    .correlate(t.incidents)
    .scalar_subquery()
    .label("failed_notifications")
)

S = TypeVar("S", bound=sa.Select[Any])


def _filtered(query: S, service_id: str | None, status: str | None, acknowledged: bool | None) -> S:
    incidents = t.incidents.c
    if service_id is not None:
        query = query.where(incidents.service_id == service_id)
    if status == "open":
        query = query.where(incidents.status.in_(OPEN_STATUSES))
    elif status is not None:
        query = query.where(incidents.status == status)
    if acknowledged is not None:
        seen = incidents.acknowledged_at.is_not(None)
        query = query.where(seen if acknowledged else sa.not_(seen))
    return query


def _incident(row: Any, failed_notifications: int) -> IncidentView:
    return IncidentView(
        id=row.id,
        service=row.service_id,
        status=row.status,
        message=row.message,
        alert_count=row.alert_count,
        level=row.level,
        round=row.round,
        dedup_keys=tuple(row.dedup_keys or ()),
        opened_at=row.opened_at,
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
        resolved_at=row.resolved_at,
        resolved_by=row.resolved_by,
        failed_notifications=failed_notifications,
        unreached=row.unreached or 0,
        urgency=row.urgency or "high",
        severity=row.severity,
        snoozed_until=row.snoozed_until,
    )


class SqlQueries:
    def __init__(self, engine: Engine, clock: Clock | None = None) -> None:
        """`clock` says which maintenance windows are in force."""
        self._engine = engine
        self._clock = clock or SystemClock()

    # -- services

    def services(self) -> list[ServiceView]:
        return self._services(None)

    def service(self, service_id: str) -> ServiceView | None:
        found = self._services(service_id)
        return found[0] if found else None

    def _services(self, service_id: str | None) -> list[ServiceView]:
        query = (
            sa.select(t.services, t.incidents, _FAILED_PAGES)
            .outerjoin(t.incidents, t.incidents.c.id == t.services.c.open_incident_id)
            .order_by(t.services.c.id)
        )
        if service_id is not None:
            query = query.where(t.services.c.id == service_id)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
            windows = self._windows(conn, service_id, ended=False)
        by_service: dict[str, list[MaintenanceView]] = {}
        for window in windows:
            by_service.setdefault(window.service, []).append(window)
        views = []
        for row in rows:
            mapping = row._mapping
            open_incident = None
            if mapping[t.incidents.c.id] is not None:
                open_incident = _incident(_IncidentRow(mapping), mapping["failed_notifications"])
            views.append(
                ServiceView(
                    id=mapping[t.services.c.id],
                    name=mapping[t.services.c.name],
                    escalation_policy=mapping[t.services.c.policy_id],
                    state=mapping[t.services.c.state],
                    open_incident=open_incident,
                    created_at=mapping[t.services.c.created_at],
                    updated_at=mapping[t.services.c.updated_at],
                    low_urgency_severities=tuple(mapping[t.services.c.low_urgency_severities]),
                    maintenance=tuple(by_service.get(mapping[t.services.c.id], ())),
                )
            )
        return views

    # -- maintenance windows

    def maintenance_windows(
        self, service_id: str, *, ended: bool = False, limit: int = 100
    ) -> list[MaintenanceView]:
        with self._engine.connect() as conn:
            return self._windows(conn, service_id, ended=ended, limit=limit)

    def maintenance_window(self, window_id: str) -> MaintenanceView | None:
        windows = t.maintenance_windows
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(windows).where(windows.c.id == window_id)).first()
        return None if row is None else self._window(row)

    def maintenance_timeline(self, service_id: str, limit: int = 50) -> list[StreamEvent]:
        events = t.events.c
        query = (
            sa.select(t.events)
            .where(
                events.stream_id == service_stream(service_id),
                events.type.in_(MAINTENANCE_EVENTS),
            )
            .order_by(events.version.desc())
            .limit(limit)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            StreamEvent(row.version, row.type, row.recorded_at, None, _data(row.data))
            for row in rows
        ]

    def _windows(
        self, conn: sa.Connection, service_id: str | None, *, ended: bool, limit: int | None = None
    ) -> list[MaintenanceView]:
        windows = t.maintenance_windows
        query = sa.select(windows).where(
            windows.c.ended_at.is_not(None) if ended else windows.c.ended_at.is_(None)
        )
        if service_id is not None:
            query = query.where(windows.c.service_id == service_id)
        if ended:
            query = query.order_by(windows.c.ended_at.desc(), windows.c.id)
        else:
            query = query.order_by(windows.c.start_at, windows.c.id)
        return [self._window(row) for row in conn.execute(query.limit(limit))]

    def _window(self, row: Any) -> MaintenanceView:
        return MaintenanceView(
            id=row.id,
            service=row.service_id,
            start=row.start_at,
            end=row.end_at,
            created_by=row.created_by,
            created_at=row.created_at,
            ended_at=row.ended_at,
            ended_by=row.ended_by,
            suppressed=row.suppressed,
            in_force=row.ended_at is None and row.start_at <= self._clock.now(),
        )

    # -- heartbeats

    def heartbeats(self, service_id: str | None = None) -> list[HeartbeatView]:
        query = sa.select(t.heartbeats).order_by(t.heartbeats.c.id)
        if service_id is not None:
            query = query.where(t.heartbeats.c.service_id == service_id)
        return self._heartbeats(query)

    def heartbeat(self, heartbeat_id: str) -> HeartbeatView | None:
        found = self._heartbeats(sa.select(t.heartbeats).where(t.heartbeats.c.id == heartbeat_id))
        return found[0] if found else None

    def _heartbeats(self, query: sa.Select[Any]) -> list[HeartbeatView]:
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            HeartbeatView(
                row.id,
                row.service_id,
                row.interval_seconds,
                row.grace_seconds,
                row.state,
                row.defined_at,
                row.last_ping_at,
                row.due_at,
            )
            for row in rows
        ]

    # -- escalation policies

    def policies(self) -> list[PolicyView]:
        return self._policies(None)

    def policy(self, policy_id: str) -> PolicyView | None:
        found = self._policies(policy_id)
        return found[0] if found else None

    def _policies(self, policy_id: str | None) -> list[PolicyView]:
        query = sa.select(t.policies).order_by(t.policies.c.id)
        if policy_id is not None:
            query = query.where(t.policies.c.id == policy_id)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
            users: dict[str, list[str]] = {}
            service_rows = conn.execute(
                sa.select(t.services.c.policy_id, t.services.c.id).order_by(t.services.c.id)
            )
            for used_policy, service_id in service_rows:
                users.setdefault(used_policy, []).append(service_id)
        return [
            PolicyView(
                decode_policy(row.id, row.name, row.repeat, row.levels),
                tuple(users.get(row.id, ())),
                row.created_at,
                row.updated_at,
            )
            for row in rows
        ]

    # -- incidents

    def incidents(
        self,
        service_id: str | None = None,
        status: str | None = None,
        limit: int = 100,
        *,
        offset: int = 0,
        acknowledged: bool | None = None,
        oldest_first: bool = False,
    ) -> list[IncidentView]:
        opened = t.incidents.c.opened_at
        query = (
            _filtered(sa.select(t.incidents, _FAILED_PAGES), service_id, status, acknowledged)
            .order_by(opened.asc() if oldest_first else opened.desc(), t.incidents.c.id)
            .offset(offset)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [_incident(row, row.failed_notifications) for row in conn.execute(query)]

    def incident_count(
        self,
        service_id: str | None = None,
        status: str | None = None,
        *,
        acknowledged: bool | None = None,
    ) -> int:
        query = sa.select(sa.func.count()).select_from(t.incidents)
        with self._engine.connect() as conn:
            count = conn.scalar(_filtered(query, service_id, status, acknowledged))
        return int(count or 0)

    def opening_alerts(self, incident_ids: Sequence[str]) -> dict[str, OpeningAlert]:
        if not incident_ids:
            return {}
        query = sa.select(t.events.c.incident_id, t.events.c.data).where(
            t.events.c.incident_id.in_(list(incident_ids)),
            t.events.c.type == "IncidentOpened",
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return {
            incident_id: OpeningAlert(data.get("dedup_key"), data.get("severity"), data["source"])
            for incident_id, data in rows
        }

    def incident(self, incident_id: str) -> IncidentDetail | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(t.incidents).where(t.incidents.c.id == incident_id)
            ).first()
            if row is None:
                return None
            events = conn.execute(
                sa.select(t.events.c.type, t.events.c.data, t.events.c.recorded_at)
                .where(t.events.c.incident_id == incident_id)
                .order_by(t.events.c.position)
            ).all()
            notifications = conn.execute(
                sa.select(t.notifications)
                .where(t.notifications.c.incident_id == incident_id)
                .order_by(t.notifications.c.created_at, t.notifications.c.level)
            ).all()
            attempts = conn.execute(
                sa.select(t.notification_attempts, t.notifications.c.channel)
                .join(
                    t.notifications,
                    t.notifications.c.id == t.notification_attempts.c.notification_id,
                )
                .where(t.notifications.c.incident_id == incident_id)
                .order_by(t.notification_attempts.c.id)
            ).all()
        timeline = [
            TimelineEntry(
                recorded_at,
                type_,
                redact({k: v for k, v in data.items() if k not in ("at", "incident_id")}),
            )
            for type_, data, recorded_at in events
        ]
        timeline += [
            TimelineEntry(
                attempt.at,
                "NotificationAttempted",
                {
                    "notification_id": attempt.notification_id,
                    "channel": attempt.channel,
                    "attempt": attempt.attempt,
                    "outcome": attempt.outcome,
                    "error": attempt.error,
                },
            )
            for attempt in attempts
        ]
        timeline.sort(key=lambda entry: entry.at)  # stable: events keep their order
        failed = sum(1 for n in notifications if n.status == "failed")
        return IncidentDetail(
            _incident(row, failed),
            tuple(timeline),
            tuple(
                NotificationView(
                    id=n.id,
                    channel=n.channel,
                    target=redact(n.target),
                    level=n.level,
                    round=n.round,
                    status=n.status,
                    attempts=n.attempts,
                    last_error=n.last_error,
                    created_at=n.created_at,
                    sent_at=n.sent_at,
                    via=n.via,
                )
                for n in notifications
            ),
            _alerts(events, row.resolved_at),
        )

    def incident_service(self, incident_id: str) -> str | None:
        with self._engine.connect() as conn:
            found: str | None = conn.scalar(
                sa.select(t.incidents.c.service_id).where(t.incidents.c.id == incident_id)
            )
        return found

    def open_incident_count(self) -> int:
        with self._engine.connect() as conn:
            count = conn.scalar(
                sa.select(sa.func.count())
                .select_from(t.incidents)
                .where(t.incidents.c.status.in_(OPEN_STATUSES))
            )
        return int(count or 0)

    # -- the event stream

    def service_events(
        self, service_id: str, after: int = 0, limit: int = 100
    ) -> list[StreamEvent] | None:
        """Events after version `after`, oldest first; None if the service never existed."""
        stream_id = service_stream(service_id)
        with self._engine.connect() as conn:
            exists = conn.scalar(
                sa.select(t.streams.c.version).where(t.streams.c.stream_id == stream_id)
            )
            if exists is None:
                return None
            rows = conn.execute(
                sa.select(t.events)
                .where(t.events.c.stream_id == stream_id, t.events.c.version > after)
                .order_by(t.events.c.version)
                .limit(limit)
            ).all()
        return [
            StreamEvent(
                row.version,
                row.type,
                row.recorded_at,
                row.incident_id,
                redact({k: v for k, v in row.data.items() if k != "at"}),
            )
            for row in rows
        ]

    # -- operations

    def ready(self) -> str | None:
        """None if the database answers and is at the newest schema; else what is wrong."""
        try:
            revision = current_revision(self._engine)
        except Exception as error:  # any failure to reach the database means "not ready"
            return f"database unreachable: {type(error).__name__}"
        if revision != _head():
            return f"database schema at {revision or 'nothing'}, expected {_head()}"
        return None


def _data(data: Any) -> dict[str, Any]:
    """An event's data as stored, without its time (the row's is the same)."""
    found: dict[str, Any] = redact({k: v for k, v in data.items() if k != "at"})
    return found


def _alerts(events: Sequence[Any], resolved_at: Any) -> tuple[AlertView, ...]:
    """The incident's alerts from its events: each resolved by the first AlertResolved of
    its key after it, or with the incident."""
    alerts: list[AlertView] = []
    firing: dict[str, int] = {}  # dedup key -> index of the alert firing with it
    for type_, data, _recorded_at in events:
        if type_ in ("IncidentOpened", "AlertAttached"):
            key = data.get("dedup_key")
            if key:
                firing[key] = len(alerts)
            alerts.append(
                AlertView(
                    data["message"],
                    key,
                    data.get("severity"),
                    data["source"],
                    decode_datetime(data["at"]),
                    None,
                    decode_content(data.get("content")),
                )
            )
        elif type_ == "AlertResolved":
            index = firing.pop(data["dedup_key"], None)
            if index is not None:
                at = decode_datetime(data["at"])
                alerts[index] = replace(alerts[index], resolved_at=at)
    if resolved_at is not None:
        alerts = [a if a.resolved_at else replace(a, resolved_at=resolved_at) for a in alerts]
    return tuple(alerts)


@cache
def _head() -> str | None:
    return head_revision()


class _IncidentRow:
    """Attribute access to the incident columns of a services-join-incidents row."""

    def __init__(self, mapping: Any) -> None:
        self._mapping = mapping

    def __getattr__(self, name: str) -> Any:
        return self._mapping[t.incidents.c[name]]
