"""The durable timers of service commands, in one place: the command a due timer issues,
and the timer a command fires (removed in the transaction that commits its events). A kind
of timer is added here, with the events that set and drop it in the storage projection."""

from __future__ import annotations

from pager.application.ports import DueTimer, TimerKey
from pager.domain.commands import (
    EndSnooze,
    ReceiveAckTimeout,
    ReceiveHeartbeatDeadline,
    ReceiveMaintenanceEnd,
    ReceiveMaintenanceStart,
    ServiceCommand,
)
from pager.ids import new_id

ACK = "ack"
"""An incident's level waits for an acknowledgement: subject the incident."""

SNOOZE = "snooze"
"""A snoozed incident waits to be triggered again: subject the incident, `level` the
snooze's generation (so a snooze moved later leaves the earlier timer stale), round 0."""
MAINTENANCE = "maintenance"
"""A maintenance window begins (level 0) or ends (level 1): subject the window. Windows never
change, so one key per moment is enough; ending early cancels both."""
MAINTENANCE_START = 0
MAINTENANCE_END = 1
HEARTBEAT = "heartbeat"
"""A heartbeat's deadline: subject the heartbeat, `level` its generation, `round` 0."""

INCIDENT_KINDS = (ACK, SNOOZE)
"""Timers of an incident (subject its id), dropped when it is acknowledged or resolved."""


class UnknownTimer(Exception):
    """A timer of a kind this version does not know (written by a newer one)."""


def command_for(timer: DueTimer) -> ServiceCommand:
    if timer.kind == ACK:
        return ReceiveAckTimeout(timer.service_id, timer.subject, timer.level, timer.round)
    if timer.kind == MAINTENANCE and timer.level == MAINTENANCE_START:
        return ReceiveMaintenanceStart(timer.service_id, timer.subject)
    if timer.kind == MAINTENANCE and timer.level == MAINTENANCE_END:
        return ReceiveMaintenanceEnd(timer.service_id, timer.subject)
    if timer.kind == HEARTBEAT:
        return ReceiveHeartbeatDeadline(timer.service_id, timer.subject, timer.level, new_id())
    if timer.kind == SNOOZE:
        return EndSnooze(timer.service_id, timer.subject, timer.level)
    raise UnknownTimer(f"timer {timer.id} is of unknown kind {timer.kind!r}")


def fired_by(command: ServiceCommand) -> TimerKey | None:
    """The timer whose firing `command` is, if it is one."""
    if isinstance(command, ReceiveAckTimeout):
        return TimerKey(ACK, command.incident_id, command.level, command.round)
    if isinstance(command, ReceiveMaintenanceStart):
        return TimerKey(MAINTENANCE, command.window_id, MAINTENANCE_START)
    if isinstance(command, ReceiveMaintenanceEnd):
        return TimerKey(MAINTENANCE, command.window_id, MAINTENANCE_END)
    if isinstance(command, ReceiveHeartbeatDeadline):
        return TimerKey(HEARTBEAT, command.heartbeat_id, command.generation, 0)
    if isinstance(command, EndSnooze):
        return TimerKey(SNOOZE, command.incident_id, command.generation, 0)
    return None
