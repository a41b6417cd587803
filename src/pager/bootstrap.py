"""The composition root: the one place that builds the database, clock and handlers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from pager.adapters.clock import SystemClock
from pager.adapters.storage.engine import create_engine
from pager.adapters.storage.migrate import migrate
from pager.adapters.storage.uow import unit_of_work_factory
from pager.application.handlers import Handlers
from pager.application.ports import Clock
from pager.config import Settings


@dataclass
class App:
    settings: Settings
    engine: Engine
    clock: Clock
    handlers: Handlers


def bootstrap(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    engine: Engine | None = None,
    run_migrations: bool = False,
    on_work: Callable[[], None] | None = None,
) -> App:
    settings = settings or Settings()
    engine = engine or create_engine(settings.database_url)
    if run_migrations:
        migrate(engine)
    clock = clock or SystemClock()
    handlers = Handlers(unit_of_work_factory(engine, on_work), clock)
    return App(settings, engine, clock, handlers)
