"""Read models, outbox rows and timer rows that follow from events, written in the same
transaction as the events. A `Projection` gathers what a whole batch of appends implies and
writes it with one statement per kind of change (executemany), so that a batch of a hundred
alerts costs a handful of round trips, not hundreds."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from pager.adapters.handoff import Handoff
from pager.adapters.storage import tables as t
from pager.adapters.storage.codec import encode_keys, encode_levels, encode_target
from pager.adapters.storage.prepared import Prepared
from pager.adapters.wakeup import PAGES, TIMERS
from pager.application.ports import ClaimedNotification
from pager.domain.events import (
    Acknowledged,
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
    Unacknowledged,
)
from pager.domain.incident import OpenIncident, ServiceState
from pager.ids import new_id

_b = sa.bindparam

_INSERT_SERVICES = Prepared(t.services.insert())
_INSERT_INCIDENTS = Prepared(t.incidents.insert(), json_text=["dedup_keys"])
_INSERT_NOTIFICATIONS = Prepared(t.notifications.insert())
_INSERT_TIMERS = Prepared(t.timers.insert())

_UPDATE_SERVICE = Prepared(
    t.services.update()
    .where(t.services.c.id == _b("b_id"))
    .values(name=_b("name"), policy_id=_b("policy_id"), updated_at=_b("updated_at"))
)
_SERVICE_STATE = Prepared(
    t.services.update()
    .where(t.services.c.id == _b("b_id"))
    .values(state=_b("state"), open_incident_id=_b("open_incident_id"), updated_at=_b("updated_at"))
)
_INCIDENT = Prepared(
    t.incidents.update()
    .where(t.incidents.c.id == _b("b_id"))
    .values(
        status=_b("status"),
        alert_count=_b("alert_count"),
        level=_b("level"),
        round=_b("round"),
        dedup_keys=_b("dedup_keys"),
        acknowledged_at=_b("acknowledged_at"),
        acknowledged_by=_b("acknowledged_by"),
        resolved_at=_b("resolved_at"),
        resolved_by=_b("resolved_by"),
        unreached=_b("unreached"),
    ),
    json_text=["dedup_keys"],
)
_DROP_TIMERS = Prepared(t.timers.delete().where(t.timers.c.incident_id == _b("b_id")))
_CANCEL_NOTIFICATIONS = Prepared(
    t.notifications.update()
    .where(t.notifications.c.incident_id == _b("b_id"), t.notifications.c.status == "queued")
    .values(status="cancelled", last_error="incident acknowledged or resolved before sending")
)


@dataclass
class Projection:
    """Everything a batch of service events implies for the read models, written at once.
    With a `handoff`, the pages it queues are claimed for this process's dispatcher as far
    as it has room (`handed`: to give it once the transaction has committed)."""

    handoff: Handoff | None = None
    handed: list[ClaimedNotification] = field(default_factory=list)

    created_services: list[dict[str, Any]] = field(default_factory=list)
    updated_services: dict[str, dict[str, Any]] = field(default_factory=dict)
    deleted_services: list[str] = field(default_factory=list)
    service_states: dict[str, dict[str, Any]] = field(default_factory=dict)
    opened: list[dict[str, Any]] = field(default_factory=list)
    incidents: dict[str, tuple[OpenIncident, tuple[datetime, str] | None]] = field(
        default_factory=dict
    )
    notifications: list[dict[str, Any]] = field(default_factory=list)
    timers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Timer rows to insert, by incident: only those set after its last acknowledgement or
    resolution in the batch."""
    opening: dict[str, IncidentOpened] = field(default_factory=dict)
    """The incidents opened in this batch, by id: their pages carry what the first alert
    said (pages of older incidents are claimed from the outbox, which reads it there)."""
    finished: list[str] = field(default_factory=list)
    """Incidents acknowledged or resolved: their timers and unsent pages go (rows written
    before this batch; the batch's own timers for them are dropped as it goes)."""

    @property
    def queued_work(self) -> frozenset[str]:
        """What the worker should wake up for (pages handed off need no waking)."""
        work = set()
        if self.timers:
            work.add(TIMERS)
        if any(row["claimed_until"] is None for row in self.notifications):
            work.add(PAGES)
        return frozenset(work)

    def add(self, before: ServiceState, event: ServiceEvent, after: ServiceState) -> None:
        match event:
            case ServiceCreated():
                self.created_services.append(
                    {
                        "id": event.service_id,
                        "name": event.name,
                        "policy_id": event.policy_id,
                        "state": "healthy",
                        "created_at": event.at,
                        "updated_at": event.at,
                    }
                )
            case ServiceUpdated():
                self.updated_services[event.service_id] = {
                    "b_id": event.service_id,
                    "name": event.name,
                    "policy_id": event.policy_id,
                    "updated_at": event.at,
                }
            case ServiceDeleted():
                self.deleted_services.append(event.service_id)
                self.service_states.pop(event.service_id, None)
            case IncidentOpened():
                self.opening[event.incident_id] = event
                self.opened.append(
                    {
                        "id": event.incident_id,
                        "service_id": event.service_id,
                        "status": "triggered",
                        "message": event.message,
                        "alert_count": 1,
                        "level": 0,
                        "round": 1,
                        "dedup_keys": encode_keys((event.dedup_key,) if event.dedup_key else ()),
                        "opened_at": event.at,
                    }
                )
                self._service_state(after, event.at)
            case IncidentResolved():
                assert before.incident is not None
                self._incident(before.incident, resolved=(event.at, event.by))
                self._finish(event.incident_id)
                if after.exists:
                    self._service_state(after, event.at)
            case _:
                if isinstance(event, LevelNotified):
                    self._notify(event, after)
                if isinstance(event, Acknowledged):
                    self._finish(event.incident_id)
                if isinstance(event, Unacknowledged) and event.timer_due_at is not None:
                    self._timer(event.incident_id, after.service_id, event)
                if after.incident is not None:
                    self._incident(after.incident)

    def _finish(self, incident_id: str) -> None:
        self.finished.append(incident_id)
        self.timers.pop(incident_id, None)

    def _timer(
        self, incident_id: str, service_id: str, event: LevelNotified | Unacknowledged
    ) -> None:
        assert event.timer_due_at is not None
        row = {
            "incident_id": incident_id,
            "service_id": service_id,
            "round": event.round,
            "level": event.level,
            "due_at": event.timer_due_at,
        }
        self.timers.setdefault(incident_id, []).append(row)

    def _incident(
        self, incident: OpenIncident, resolved: tuple[datetime, str] | None = None
    ) -> None:
        """The incident's row as of this event; the last one of a batch is written (and only
        that one turned into a row: an incident may hold hundreds of keys)."""
        self.incidents[incident.id] = (incident, resolved)

    def _service_state(self, state: ServiceState, at: datetime) -> None:
        incident = state.incident
        self.service_states[state.service_id] = {
            "b_id": state.service_id,
            "state": "healthy" if incident is None else "unhealthy",
            "open_incident_id": None if incident is None else incident.id,
            "updated_at": at,
        }

    def _notify(self, event: LevelNotified, after: ServiceState) -> None:
        service_id = after.service_id
        for page in event.paged:
            notification_id = new_id()
            due = event.at + timedelta(seconds=page.delay_seconds)
            row: dict[str, Any] = {
                "id": notification_id,
                "incident_id": event.incident_id,
                "service_id": service_id,
                "round": event.round,
                "level": event.level,
                "target_key": page.key,
                "target": encode_target(page.target),
                "channel": page.target.type,
                "status": "queued",
                "attempts": 0,
                "next_attempt_at": due,
                # When it is due: its time to be delivered in counts from then.
                "created_at": due,
                "claimed_until": None,
                "via": page.via or None,
            }
            # A page that is due now goes straight to this process's dispatcher; a rule's
            # later page waits in the outbox for its time, as any claim does.
            lease = None
            opening = self.opening.get(event.incident_id)
            if self.handoff is not None and page.delay_seconds == 0 and opening is not None:
                lease = self.handoff.reserve()
            if lease is not None:
                assert after.incident is not None
                assert opening is not None
                row["claimed_until"] = event.at + lease
                self.handed.append(
                    ClaimedNotification(
                        notification_id,
                        event.incident_id,
                        service_id,
                        after.name or service_id,
                        after.incident.message,
                        after.incident.alert_count,
                        after.incident.opened_at,
                        event.level,
                        event.round,
                        page.target,
                        0,
                        due,
                        opening.severity,
                        opening.content,
                    )
                )
            self.notifications.append(row)
        if event.timer_due_at is not None:  # None: it paged nobody, the next level followed
            self._timer(event.incident_id, service_id, event)

    def write(self, conn: sa.Connection) -> None:
        """In an order where every row exists before it is changed; each kind of row in one
        statement (a statement given no rows does nothing)."""
        _INSERT_SERVICES.executemany(conn, self.created_services)
        _UPDATE_SERVICE.executemany(conn, list(self.updated_services.values()))
        _INSERT_INCIDENTS.executemany(conn, self.opened)
        _INCIDENT.executemany(conn, [_incident_row(*item) for item in self.incidents.values()])
        _INSERT_NOTIFICATIONS.executemany(conn, self.notifications)
        finished = [{"b_id": incident_id} for incident_id in dict.fromkeys(self.finished)]
        # Dropped before the batch's timers go in: an incident acknowledged, then
        # unacknowledged in one batch keeps the timer its un-acknowledgement set.
        _DROP_TIMERS.executemany(conn, finished)
        _INSERT_TIMERS.executemany(conn, [row for rows in self.timers.values() for row in rows])
        _CANCEL_NOTIFICATIONS.executemany(conn, finished)
        _SERVICE_STATE.executemany(conn, list(self.service_states.values()))
        if self.deleted_services:
            conn.execute(t.services.delete().where(t.services.c.id.in_(self.deleted_services)))


def _incident_row(incident: OpenIncident, resolved: tuple[datetime, str] | None) -> dict[str, Any]:
    return {
        "b_id": incident.id,
        "status": "resolved" if resolved else incident.status,
        "alert_count": incident.alert_count,
        "level": incident.level,
        "round": incident.round,
        "dedup_keys": encode_keys(incident.open_keys),
        "acknowledged_at": incident.acknowledged_at,
        "acknowledged_by": incident.acknowledged_by,
        "resolved_at": resolved[0] if resolved else None,
        "resolved_by": resolved[1] if resolved else None,
        "unreached": incident.unreached,
    }


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
