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
from pager.application.ports import ClaimedNotification, TimerKey
from pager.application.timers import (
    ACK,
    HEARTBEAT,
    INCIDENT_KINDS,
    MAINTENANCE,
    MAINTENANCE_END,
    MAINTENANCE_START,
    SNOOZE,
)
from pager.domain import heartbeat
from pager.domain.events import (
    Acknowledged,
    AlertSuppressed,
    HeartbeatDefined,
    HeartbeatMissed,
    HeartbeatPinged,
    HeartbeatRemoved,
    IncidentOpened,
    IncidentResolved,
    LevelNotified,
    MaintenanceEnded,
    MaintenanceScheduled,
    PolicyChanged,
    PolicyCreated,
    PolicyDeleted,
    PolicyEvent,
    Reassigned,
    ServiceCreated,
    ServiceDeleted,
    ServiceEvent,
    ServiceUpdated,
    Snoozed,
    Unacknowledged,
)
from pager.domain.incident import OpenIncident, ServiceState
from pager.ids import new_id

_b = sa.bindparam

_INSERT_SERVICES = Prepared(t.services.insert(), json_text=["low_urgency_severities"])
_INSERT_INCIDENTS = Prepared(t.incidents.insert(), json_text=["dedup_keys"])
_INSERT_NOTIFICATIONS = Prepared(t.notifications.insert())
_INSERT_TIMERS = Prepared(t.timers.insert())
_INSERT_WINDOWS = Prepared(t.maintenance_windows.insert())
_WINDOW_ENDED = Prepared(
    t.maintenance_windows.update()
    .where(t.maintenance_windows.c.id == _b("b_id"))
    .values(ended_at=_b("ended_at"), ended_by=_b("ended_by"))
)
_WINDOW_SUPPRESSED = Prepared(
    t.maintenance_windows.update()
    .where(t.maintenance_windows.c.id == _b("b_id"))
    .values(suppressed=t.maintenance_windows.c.suppressed + _b("more"))
)
_DROP_WINDOWS = Prepared(
    t.maintenance_windows.delete().where(t.maintenance_windows.c.service_id == _b("b_id"))
)
_INSERT_HEARTBEATS = Prepared(t.heartbeats.insert())
_DELETE_HEARTBEAT = Prepared(t.heartbeats.delete().where(t.heartbeats.c.id == _b("b_id")))

_UPDATE_SERVICE = Prepared(
    t.services.update()
    .where(t.services.c.id == _b("b_id"))
    .values(
        name=_b("name"),
        policy_id=_b("policy_id"),
        low_urgency_severities=_b("low_urgency_severities"),
        updated_at=_b("updated_at"),
    ),
    json_text=["low_urgency_severities"],
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
        urgency=_b("urgency"),
        severity=_b("severity"),
        snoozed_until=_b("snoozed_until"),
    ),
    json_text=["dedup_keys"],
)
_DROP_TIMERS = Prepared(
    t.timers.delete().where(
        t.timers.c.subject == _b("b_id"),
        # Constants written into the statement: a prepared one takes no expanding list.
        t.timers.c.kind.in_([sa.literal_column(f"'{kind}'") for kind in INCIDENT_KINDS]),
    )
)
_CANCEL_TIMERS = Prepared(
    t.timers.delete().where(t.timers.c.kind == _b("b_kind"), t.timers.c.subject == _b("b_id"))
)
_NOT_SENT = "incident acknowledged or resolved before sending"
_CANCEL_NOTIFICATIONS = Prepared(
    t.notifications.update()
    .where(t.notifications.c.incident_id == _b("b_id"), t.notifications.c.status == "queued")
    .values(status="cancelled", last_error=_NOT_SENT)
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
    """Timer rows to insert, by subject: only those set after the last drop of their kind
    for it in the batch (an incident's: its last acknowledgement or resolution)."""
    opening: dict[str, IncidentOpened] = field(default_factory=dict)
    """The incidents opened in this batch, by id: their pages carry what the first alert
    said (pages of older incidents are claimed from the outbox, which reads it there)."""
    finished: list[str] = field(default_factory=list)
    """Incidents acknowledged or resolved: their timers and unsent pages go (rows written
    before this batch; the batch's own timers for them are dropped as it goes)."""
    cancelled_timers: list[tuple[str, str]] = field(default_factory=list)
    """(kind, subject) of timers dropped (rows written before this batch)."""
    windows: list[dict[str, Any]] = field(default_factory=list)
    ended_windows: list[dict[str, Any]] = field(default_factory=list)
    suppressed: dict[str, int] = field(default_factory=dict)
    """Alerts recorded during each window, in this batch."""
    windows_dropped: list[str] = field(default_factory=list)
    """Services deleted: their windows' rows written before this batch go."""
    heartbeats: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    """Each heartbeat's row as the batch leaves it, by id (None: removed)."""

    @property
    def queued_work(self) -> frozenset[str]:
        """What the worker should wake up for (pages handed off need no waking)."""
        work = set()
        if any(self.timers.values()):
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
                        "low_urgency_severities": encode_keys(event.low_urgency_severities),
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
                    "low_urgency_severities": encode_keys(event.low_urgency_severities),
                    "updated_at": event.at,
                }
            case ServiceDeleted():
                self.deleted_services.append(event.service_id)
                self.service_states.pop(event.service_id, None)
                self._drop_windows(before)
            case MaintenanceScheduled():
                self._window(event)
            case MaintenanceEnded():
                self.cancel_timers(MAINTENANCE, event.window_id)
                ended = {"b_id": event.window_id, "ended_at": event.at, "ended_by": event.by}
                self.ended_windows.append(ended)
            case AlertSuppressed():
                self.suppressed[event.window_id] = self.suppressed.get(event.window_id, 0) + 1
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
                        "urgency": event.urgency,
                        "severity": after.incident.severity if after.incident else None,
                    }
                )
                self._service_state(after, event.at)
            case IncidentResolved():
                assert before.incident is not None
                self._incident(before.incident, resolved=(event.at, event.by))
                self._finish(event.incident_id)
                if after.exists:
                    self._service_state(after, event.at)
            case HeartbeatDefined() | HeartbeatPinged() | HeartbeatMissed() | HeartbeatRemoved():
                self._heartbeat(event, after)
            case _:
                if isinstance(event, LevelNotified | Reassigned):
                    self._notify(event, after)
                if isinstance(event, Acknowledged | Snoozed):
                    self._finish(event.incident_id)
                if isinstance(event, Snoozed):
                    key = TimerKey(SNOOZE, event.incident_id, event.generation, 0)
                    self.set_timer(key, after.service_id, event.until)
                self._unsnoozed(before, after)
                if isinstance(event, Unacknowledged) and event.timer_due_at is not None:
                    self._timer(event.incident_id, after.service_id, event)
                if after.incident is not None:
                    self._incident(after.incident)

    def _window(self, event: MaintenanceScheduled) -> None:
        self.windows.append(
            {
                "id": event.window_id,
                "service_id": event.service_id,
                "start_at": event.start,
                "end_at": event.end,
                "created_by": event.by,
                "created_at": event.at,
                "suppressed": 0,
            }
        )
        if event.start > event.at:
            key = TimerKey(MAINTENANCE, event.window_id, MAINTENANCE_START)
            self.set_timer(key, event.service_id, event.start)
        key = TimerKey(MAINTENANCE, event.window_id, MAINTENANCE_END)
        self.set_timer(key, event.service_id, event.end)

    def _drop_windows(self, before: ServiceState) -> None:
        """A deleted service's windows go, with their timers (written before or in the batch)."""
        self.windows_dropped.append(before.service_id)
        self.windows = [row for row in self.windows if row["service_id"] != before.service_id]
        for window in before.maintenance:
            self.cancel_timers(MAINTENANCE, window.id)

    def _heartbeat(
        self,
        event: HeartbeatDefined | HeartbeatPinged | HeartbeatMissed | HeartbeatRemoved,
        after: ServiceState,
    ) -> None:
        """Its row, and its timer: one per heartbeat, of its current generation (the fired
        one is removed with the command that handled it)."""
        beat = heartbeat.find(after.heartbeats, event.heartbeat_id)
        if not isinstance(event, HeartbeatMissed):
            self.cancel_timers(HEARTBEAT, event.heartbeat_id, after.service_id)
        if beat is None:
            # Moved: its removal may come after its definition elsewhere, in a batch whose
            # commands came from several requests.
            row = self.heartbeats.get(event.heartbeat_id)
            if row is None or row["service_id"] == after.service_id:
                self.heartbeats[event.heartbeat_id] = None
            return
        if beat.due_at is not None and not isinstance(event, HeartbeatMissed):
            key = TimerKey(HEARTBEAT, beat.id, beat.generation, 0)
            self.set_timer(key, after.service_id, beat.due_at)
        self.heartbeats[beat.id] = {
            "id": beat.id,
            "service_id": after.service_id,
            "interval_seconds": beat.interval_seconds,
            "grace_seconds": beat.grace_seconds,
            "state": beat.state,
            "defined_at": beat.defined_at,
            "last_ping_at": beat.last_ping_at,
            "due_at": beat.due_at,
            "updated_at": event.at,
        }

    def _finish(self, incident_id: str) -> None:
        self.finished.append(incident_id)
        self._drop_pending(incident_id, INCIDENT_KINDS)
        # The batch's own pages so far go too; those after this (an escalation, a
        # reassignment in the same batch) stay queued.
        cancelled = set()
        for row in self.notifications:
            if row["incident_id"] == incident_id and row["status"] == "queued":
                row.update(status="cancelled", last_error=_NOT_SENT, claimed_until=None)
                cancelled.add(row["id"])
        handed = [page for page in self.handed if page.id not in cancelled]
        if self.handoff is not None and len(handed) < len(self.handed):
            self.handoff.cancel(len(self.handed) - len(handed))
        self.handed[:] = handed

    def _unsnoozed(self, before: ServiceState, after: ServiceState) -> None:
        """A snooze ended early (triggered again by hand) takes its timer with it."""
        was, now = before.incident, after.incident
        snoozed = was is not None and was.snoozed_until is not None
        if snoozed and now is not None and now.status == "triggered":
            self.cancel_timers(SNOOZE, now.id)

    def _timer(
        self,
        incident_id: str,
        service_id: str,
        event: LevelNotified | Unacknowledged | Reassigned,
    ) -> None:
        assert event.timer_due_at is not None
        self.set_timer(TimerKey(ACK, incident_id, event.level, event.round), service_id,
                       event.timer_due_at)  # fmt: skip

    def set_timer(self, key: TimerKey, service_id: str, due_at: datetime) -> None:
        row = {
            "kind": key.kind,
            "subject": key.subject,
            "service_id": service_id,
            "round": key.round,
            "level": key.level,
            "due_at": due_at,
        }
        self.timers.setdefault(key.subject, []).append(row)

    def cancel_timers(self, kind: str, subject: str, service_id: str | None = None) -> None:
        """Every timer of `kind` for `subject`, set before or earlier in this batch (with
        `service_id`, earlier in this batch by that service only: a subject that moved to
        another service in this batch keeps the timer set there)."""
        self.cancelled_timers.append((kind, subject))
        self._drop_pending(subject, (kind,), service_id)

    def _drop_pending(
        self, subject: str, kinds: tuple[str, ...], service_id: str | None = None
    ) -> None:
        rows = self.timers.get(subject)
        if rows:
            self.timers[subject] = [
                row
                for row in rows
                if row["kind"] not in kinds
                or (service_id is not None and row["service_id"] != service_id)
            ]

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

    def _notify(self, event: LevelNotified | Reassigned, after: ServiceState) -> None:
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
                "last_error": None,
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
                        after.incident.urgency,
                    )
                )
            self.notifications.append(row)
        if isinstance(event, Reassigned):  # the current level's timer runs again from now
            self.cancel_timers(ACK, event.incident_id)
        if event.timer_due_at is not None:  # None: it paged nobody, the next level followed
            self._timer(event.incident_id, service_id, event)

    def write(self, conn: sa.Connection) -> None:
        """In an order where every row exists before it is changed; each kind of row in one
        statement (a statement given no rows does nothing)."""
        _INSERT_SERVICES.executemany(conn, self.created_services)
        _UPDATE_SERVICE.executemany(conn, list(self.updated_services.values()))
        _INSERT_INCIDENTS.executemany(conn, self.opened)
        _INCIDENT.executemany(conn, [_incident_row(*item) for item in self.incidents.values()])
        finished = [{"b_id": incident_id} for incident_id in dict.fromkeys(self.finished)]
        # Before the batch's pages go in: those it cancelled already say so, and those it
        # queued after an acknowledgement (an escalation in the same batch) stay queued.
        _CANCEL_NOTIFICATIONS.executemany(conn, finished)
        _INSERT_NOTIFICATIONS.executemany(conn, self.notifications)
        # Dropped before the batch's timers go in: an incident acknowledged, then
        # unacknowledged in one batch keeps the timer its un-acknowledgement set.
        _DROP_TIMERS.executemany(conn, finished)
        _CANCEL_TIMERS.executemany(
            conn, [{"b_kind": kind, "b_id": subject} for kind, subject in self.cancelled_timers]
        )
        _INSERT_TIMERS.executemany(conn, [row for rows in self.timers.values() for row in rows])
        _DROP_WINDOWS.executemany(conn, [{"b_id": s} for s in dict.fromkeys(self.windows_dropped)])
        _INSERT_WINDOWS.executemany(conn, self.windows)
        _WINDOW_ENDED.executemany(conn, self.ended_windows)
        _WINDOW_SUPPRESSED.executemany(
            conn, [{"b_id": window, "more": n} for window, n in self.suppressed.items()]
        )
        _SERVICE_STATE.executemany(conn, list(self.service_states.values()))
        # Replaced rather than updated: a heartbeat moved between services in this batch is
        # removed from one and defined on the other.
        _DELETE_HEARTBEAT.executemany(conn, [{"b_id": id_} for id_ in self.heartbeats])
        _INSERT_HEARTBEATS.executemany(conn, [row for row in self.heartbeats.values() if row])
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
        "urgency": incident.urgency,
        "severity": incident.severity,
        "snoozed_until": None if resolved else incident.snoozed_until,
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
