"""Where a heartbeat is defined: on the service its definition names. Moving one to another
service is its removal from the old one and its definition on the new, in one transaction
(`Handlers.execute`)."""

from __future__ import annotations

from pager.application.queries import HeartbeatView
from pager.domain.commands import DefineHeartbeat, RemoveHeartbeat, ServiceCommand


def define_commands(
    current: HeartbeatView | None,
    heartbeat_id: str,
    service_id: str,
    interval_seconds: int,
    grace_seconds: int,
) -> list[ServiceCommand]:
    """The commands that define the heartbeat as given, where it is now `current`."""
    define = DefineHeartbeat(service_id, heartbeat_id, interval_seconds, grace_seconds)
    if current is None or current.service == service_id:
        return [define]
    # The removal first: its projection drops the heartbeat's timer, the definition sets one.
    return [RemoveHeartbeat(current.service, heartbeat_id), define]
