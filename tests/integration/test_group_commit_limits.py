"""Group commit at its limits: a batch holds at most `max_batch` commands (whole groups, as
queued), and when a batch's transaction fails every caller in it hears why."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest
from sqlalchemy.engine import Engine

from pager.adapters.storage.uow import SqlUnitOfWork
from pager.application.group_commit import GroupCommitter
from pager.application.handlers import Handlers, Result
from pager.application.ports import UnitOfWork
from pager.domain.commands import ServiceCommand
from tests.support.builders import two_level_policy
from tests.support.clock import FakeClock


class HeldHandlers(Handlers):
    """Handlers whose first transaction waits until the test lets it go, and which note how
    many commands each transaction held."""

    def __init__(self, engine: Engine, clock: FakeClock) -> None:
        super().__init__(lambda: SqlUnitOfWork(engine), clock)
        self.release = threading.Event()
        self.started = threading.Event()
        self.sizes: list[int] = []

    def execute(self, commands: Sequence[ServiceCommand]) -> list[Result]:
        self.sizes.append(len(commands))
        self.started.set()
        assert self.release.wait(10)
        return super().execute(commands)


def test_a_batch_takes_whole_groups_up_to_its_limit(engine: Engine, clock: FakeClock) -> None:
    handlers = HeldHandlers(engine, clock)
    handlers.release.set()
    handlers.define_policy(two_level_policy())
    handlers.define_service("db", "Database", "ops")
    handlers.release.clear()
    handlers.started.clear()
    handlers.sizes.clear()
    committer = GroupCommitter(handlers, max_batch=3)
    alert = handlers.alert_command("db", "disk full")
    first = committer.submit(alert)
    assert handlers.started.wait(10)  # the first batch is in its transaction
    queued = [committer.submit_many([alert, alert]) for _ in range(3)]
    queued.append(committer.submit_many([alert]))
    handlers.release.set()
    first.result(10)
    for future in queued:
        future.result(10)
    committer.close()
    # 1; then groups of 2 while the batch is under 3 commands: 2+2, 2+1.
    assert handlers.sizes == [1, 4, 3]


class DownUnitOfWork:
    def __call__(self) -> UnitOfWork:
        raise ConnectionError("the database is down")


def test_every_caller_of_a_failed_batch_hears_the_failure(clock: FakeClock) -> None:
    handlers = Handlers(DownUnitOfWork(), clock)
    committer = GroupCommitter(handlers)
    alert = handlers.alert_command("db", "disk full")
    futures = [committer.submit(alert), committer.submit_many([alert, alert])]
    for future in futures:
        with pytest.raises(ConnectionError, match="the database is down"):
            future.result(10)
    committer.close()
