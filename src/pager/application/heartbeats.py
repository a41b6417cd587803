"""Where a heartbeat is defined: on the service its definition names. Moving one to another
service is its removal from the old one and its definition on the new, in one transaction
(`Handlers.execute`)."""

from __future__ import annotations

from collections.abc import Sequence

from pager.application.handlers import Handlers, Result
from pager.application.ports import ConcurrencyConflict
from pager.application.queries import HeartbeatView, ReadModel
from pager.domain.commands import DefineHeartbeat, RemoveHeartbeat, ServiceCommand
from pager.domain.errors import DomainError, HeartbeatNotFound


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


class Heartbeats:
    """Heartbeats defined and removed by id, wherever they are (the API's admin calls and
    `pagerd apply`)."""

    def __init__(self, handlers: Handlers, queries: ReadModel) -> None:
        self._handlers = handlers
        self._queries = queries

    def define(
        self, heartbeat_id: str, service_id: str, interval_seconds: int, grace_seconds: int
    ) -> bool:
        """Whether it was created (it was on no service)."""
        current = self._queries.heartbeat(heartbeat_id)
        commands = define_commands(
            current, heartbeat_id, service_id, interval_seconds, grace_seconds
        )
        try:
            _raise_refused(self._handlers.execute(commands))
        except ConcurrencyConflict:
            # Defined on another service meanwhile (its id is taken there): then this is a
            # move from there, as if it had come second.
            moved = self._queries.heartbeat(heartbeat_id)
            if moved is None or moved == current:
                raise
            commands = define_commands(
                moved, heartbeat_id, service_id, interval_seconds, grace_seconds
            )
            _raise_refused(self._handlers.execute(commands))
        return current is None

    def remove(self, heartbeat_id: str) -> None:
        current = self._queries.heartbeat(heartbeat_id)
        if current is None:
            raise HeartbeatNotFound(heartbeat_id)
        _raise_refused(self._handlers.execute([RemoveHeartbeat(current.service, heartbeat_id)]))


def _raise_refused(results: Sequence[Result]) -> None:
    for result in results:
        if isinstance(result, DomainError):
            raise result
