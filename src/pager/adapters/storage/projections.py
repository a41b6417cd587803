"""Read models, outbox rows and timer rows that follow from events, written in the same
transaction as the events themselves."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa

from pager.adapters.storage import tables as t
from pager.adapters.storage.codec import encode_levels, encode_target
from pager.domain.events import (
    Acknowledged,
    AlertAttached,
    AlertResolved,
    EscalationExhausted,
    IncidentOpened,
    IncidentResolved,
    LevelNotified,
    PolicyChanged,
    PolicyCreated,
    PolicyDeleted,
    PolicyEvent,
    ServiceCreated,
    ServiceDeleted,
    ServiceEvent,
    ServiceUpdated,
)
from pager.domain.incident import ServiceState


def project_service_event(conn: sa.Connection, event: ServiceEvent, after: ServiceState) -> bool:
    """Apply one event to the read models. True if it queued work for the worker."""
    match event:
        case ServiceCreated():
            conn.execute(
                t.services.insert().values(
                    id=event.service_id,
                    name=event.name,
                    policy_id=event.policy_id,
                    state="healthy",
                    created_at=event.at,
                    updated_at=event.at,
                )
            )
        case ServiceUpdated():
            conn.execute(
                t.services.update()
                .where(t.services.c.id == event.service_id)
                .values(name=event.name, policy_id=event.policy_id, updated_at=event.at)
            )
        case ServiceDeleted():
            conn.execute(t.services.delete().where(t.services.c.id == event.service_id))
        case IncidentOpened():
            conn.execute(
                t.incidents.insert().values(
                    id=event.incident_id,
                    service_id=event.service_id,
                    status="triggered",
                    message=event.message,
                    alert_count=1,
                    level=0,
                    round=1,
                    dedup_keys=[event.dedup_key] if event.dedup_key else [],
                    opened_at=event.at,
                )
            )
            _set_service_state(conn, after, event.at)
        case AlertAttached() | AlertResolved():
            _sync_incident_keys(conn, after)
            if isinstance(event, AlertAttached):
                conn.execute(
                    t.incidents.update()
                    .where(t.incidents.c.id == event.incident_id)
                    .values(alert_count=t.incidents.c.alert_count + 1)
                )
        case LevelNotified():
            _notify(conn, event, after)
            return True
        case EscalationExhausted():
            pass  # visible in the timeline; the incident stays open and triggered
        case Acknowledged():
            conn.execute(
                t.incidents.update()
                .where(t.incidents.c.id == event.incident_id)
                .values(status="acknowledged", acknowledged_at=event.at, acknowledged_by=event.by)
            )
            _drop_pending_work(conn, event.incident_id)
        case IncidentResolved():
            conn.execute(
                t.incidents.update()
                .where(t.incidents.c.id == event.incident_id)
                .values(status="resolved", resolved_at=event.at, resolved_by=event.by)
            )
            _drop_pending_work(conn, event.incident_id)
            if after.exists:
                _set_service_state(conn, after, event.at)
    return False


def project_policy_event(conn: sa.Connection, event: PolicyEvent) -> None:
    match event:
        case PolicyCreated(policy=policy):
            conn.execute(
                t.policies.insert().values(
                    id=policy.id,
                    name=policy.name,
                    repeat=policy.repeat,
                    levels=encode_levels(policy.levels),
                    created_at=event.at,
                    updated_at=event.at,
                )
            )
        case PolicyChanged(policy=policy):
            conn.execute(
                t.policies.update()
                .where(t.policies.c.id == policy.id)
                .values(
                    name=policy.name,
                    repeat=policy.repeat,
                    levels=encode_levels(policy.levels),
                    updated_at=event.at,
                )
            )
        case PolicyDeleted():
            conn.execute(t.policies.delete().where(t.policies.c.id == event.policy_id))


def _set_service_state(conn: sa.Connection, state: ServiceState, at: datetime) -> None:
    incident = state.incident
    conn.execute(
        t.services.update()
        .where(t.services.c.id == state.service_id)
        .values(
            state="healthy" if incident is None else "unhealthy",
            open_incident_id=None if incident is None else incident.id,
            updated_at=at,
        )
    )


def _sync_incident_keys(conn: sa.Connection, state: ServiceState) -> None:
    assert state.incident is not None
    conn.execute(
        t.incidents.update()
        .where(t.incidents.c.id == state.incident.id)
        .values(dedup_keys=list(state.incident.open_keys))
    )


def _notify(conn: sa.Connection, event: LevelNotified, after: ServiceState) -> None:
    conn.execute(
        t.incidents.update()
        .where(t.incidents.c.id == event.incident_id)
        .values(level=event.level, round=event.round)
    )
    conn.execute(
        t.notifications.insert(),
        [
            {
                "id": uuid.uuid4().hex,
                "incident_id": event.incident_id,
                "service_id": after.service_id,
                "round": event.round,
                "level": event.level,
                "target_key": target.key,
                "target": encode_target(target),
                "channel": target.type,
                "status": "queued",
                "attempts": 0,
                "next_attempt_at": event.at,
                "created_at": event.at,
            }
            for target in event.targets
        ],
    )
    conn.execute(
        t.timers.insert().values(
            incident_id=event.incident_id,
            service_id=after.service_id,
            round=event.round,
            level=event.level,
            due_at=event.timer_due_at,
        )
    )


def _drop_pending_work(conn: sa.Connection, incident_id: str) -> None:
    """An acknowledged or resolved incident escalates no further and pages nobody more."""
    conn.execute(t.timers.delete().where(t.timers.c.incident_id == incident_id))
    conn.execute(
        t.notifications.update()
        .where(t.notifications.c.incident_id == incident_id, t.notifications.c.status == "queued")
        .values(status="cancelled", last_error="incident acknowledged or resolved before sending")
    )
