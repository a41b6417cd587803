"""Group commit keeps every guarantee: a batch decides exactly what the same commands decide
one by one, refuses bad commands on their own, and concurrent alerts still open one incident."""

from __future__ import annotations

import asyncio
import itertools
import random
import shutil
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pager.adapters.storage import tables as t
from pager.adapters.storage.codec import decode_event
from pager.adapters.storage.engine import create_engine
from pager.adapters.storage.uow import SqlUnitOfWork
from pager.application.group_commit import GroupCommitter
from pager.application.handlers import Handlers, Outcome, alert_outcome
from pager.domain.commands import MarkHealthy, ResolveAlert, ServiceCommand
from pager.domain.errors import ServiceNotFound, ValidationFailed
from tests.support.builders import two_level_policy
from tests.support.clock import FakeClock


def make_handlers(engine: Engine, clock: FakeClock) -> Handlers:
    counter = itertools.count(1)
    handlers = Handlers(lambda: SqlUnitOfWork(engine), clock, ids=lambda: f"i{next(counter)}")
    handlers.define_policy(two_level_policy())
    for service in ("db", "web", "api"):
        handlers.define_service(service, service.upper(), "ops")
    return handlers


def random_commands(handlers: Handlers, count: int, seed: int) -> list[ServiceCommand]:
    rng = random.Random(seed)
    commands: list[ServiceCommand] = []
    for n in range(count):
        service = rng.choice(["db", "web", "api"])
        key = rng.choice(["a", "b", "c", None])
        roll = rng.random()
        if roll < 0.6:
            commands.append(handlers.alert_command(service, f"alert {n}", dedup_key=key))
        elif roll < 0.85:
            commands.append(ResolveAlert(service, key or "a"))
        else:
            commands.append(MarkHealthy(service))
    return commands


def webhook_commands(handlers: Handlers, count: int, seed: int) -> list[ServiceCommand]:
    """Runs of alerts for one service, as webhooks bring them (some keys repeated, some
    alerts without a key, now and then one refused), between resolves and healthy marks."""
    rng = random.Random(seed)
    commands: list[ServiceCommand] = []
    while len(commands) < count:
        service = rng.choice(["db", "web", "api"])
        for n in range(rng.randint(1, 30)):
            key = rng.choice(["a", "b", "c", "d", "e", "f", None])
            message = " " if rng.random() < 0.05 else f"alert {len(commands)}-{n}"
            commands.append(handlers.alert_command(service, message, dedup_key=key))
        roll = rng.random()
        if roll < 0.3:
            commands.append(ResolveAlert(service, rng.choice(["a", "b", "c"])))
        elif roll < 0.45:
            commands.append(MarkHealthy(service))
    return commands


def everything(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    with engine.connect() as conn:
        events = conn.execute(
            sa.select(
                t.events.c.stream_id, t.events.c.version, t.events.c.type, t.events.c.data
            ).order_by(t.events.c.stream_id, t.events.c.version)
        ).all()
        incidents = conn.execute(sa.select(t.incidents).order_by(t.incidents.c.id)).all()
        services = conn.execute(sa.select(t.services).order_by(t.services.c.id)).all()
        outbox = conn.execute(
            sa.select(
                t.notifications.c.incident_id,
                t.notifications.c.round,
                t.notifications.c.level,
                t.notifications.c.target_key,
                t.notifications.c.status,
            ).order_by(t.notifications.c.incident_id, t.notifications.c.target_key)
        ).all()
        timers = conn.execute(
            sa.select(t.timers.c.subject, t.timers.c.level, t.timers.c.due_at).order_by(
                t.timers.c.subject
            )
        ).all()
    return {
        "events": [(s, v, decode_event(ty, d)) for s, v, ty, d in events],
        # Firing keys are a set ("in no particular order"): a run decided together builds
        # it in another order than alert by alert does.
        "incidents": [
            tuple(sorted(v) if k == "dedup_keys" else v for k, v in row._mapping.items())
            for row in incidents
        ],
        "services": [tuple(row) for row in services],
        "outbox": [tuple(row) for row in outbox],
        "timers": [tuple(row) for row in timers],
    }


@pytest.mark.parametrize(
    ("shape", "seed"),
    [(random_commands, 1), (random_commands, 2), (random_commands, 3), (webhook_commands, 4)],
)
def test_a_batch_decides_what_the_same_commands_decide_one_by_one(
    sqlite_template: Path,
    tmp_path: Path,
    shape: Callable[[Handlers, int, int], list[ServiceCommand]],
    seed: int,
    database_url: str,
) -> None:
    shutil.copy(sqlite_template, tmp_path / "alone.db")
    alone_url = f"sqlite:///{tmp_path / 'alone.db'}"
    batched_engine, alone_engine = create_engine(database_url), create_engine(alone_url)
    clock = FakeClock()
    batched, alone = make_handlers(batched_engine, clock), make_handlers(alone_engine, clock)
    commands = shape(batched, 150, seed)
    for command in commands:
        alone.execute([command])
    batched.execute(commands)
    assert everything(batched_engine) == everything(alone_engine)
    batched_engine.dispose()
    alone_engine.dispose()


def test_a_refused_command_does_not_stop_the_others(engine: Engine, clock: FakeClock) -> None:
    handlers = make_handlers(engine, clock)
    first = handlers.alert_command("db", "disk full")
    results = handlers.execute(
        [first, handlers.alert_command("nope", "x"), handlers.alert_command("db", " "), first]
    )
    assert isinstance(results[0], Outcome)
    assert isinstance(results[1], ServiceNotFound)
    assert isinstance(results[2], ValidationFailed)
    assert isinstance(results[3], Outcome)
    assert alert_outcome(first, results[0]).action == "opened"
    assert alert_outcome(first, results[3]).action == "attached"
    with engine.connect() as conn:
        assert conn.execute(sa.select(t.incidents.c.alert_count)).scalars().all() == [2]


def test_concurrent_alerts_through_group_commit_open_one_incident(
    engine: Engine, clock: FakeClock
) -> None:
    handlers = make_handlers(engine, clock)
    committer = GroupCommitter(handlers)
    barrier = threading.Barrier(50)
    actions: list[str] = []

    def one() -> None:
        barrier.wait()
        command = handlers.alert_command("db", "disk full")
        actions.append(alert_outcome(command, committer.submit(command).result(30)).action)

    run_threads(one, 50)
    committer.close()
    assert Counter(actions) == {"opened": 1, "attached": 49}
    with engine.connect() as conn:
        keys = conn.execute(sa.select(t.notifications.c.target_key)).scalars().all()
        counts = conn.execute(sa.select(t.incidents.c.alert_count)).scalars().all()
    assert sorted(keys) == ["email:alice@example.com", "sms:+14155550100"]
    assert counts == [50]


def test_group_commit_reports_refusals_to_their_callers(engine: Engine, clock: FakeClock) -> None:
    handlers = make_handlers(engine, clock)
    committer = GroupCommitter(handlers)
    good, bad = committer.submit_many(
        [handlers.alert_command("db", "disk full"), handlers.alert_command("nope", "x")]
    ).result(10)
    assert isinstance(good, Outcome)
    assert isinstance(bad, ServiceNotFound)
    with pytest.raises(ServiceNotFound):
        committer.submit(handlers.alert_command("nope", "x")).result(10)
    committer.close()


def test_callers_on_an_event_loop_hear_their_own_outcomes(engine: Engine, clock: FakeClock) -> None:
    handlers = make_handlers(engine, clock)
    committer = GroupCommitter(handlers)

    async def storm() -> list[list[object]]:
        requests = [
            [handlers.alert_command(service, f"alert {n}") for service in ("db", "nope", "web")]
            for n in range(40)
        ]
        return await asyncio.gather(*(committer.submit_async(r) for r in requests))

    answers = asyncio.run(storm())
    committer.close()
    assert len(answers) == 40
    assert all(isinstance(db, Outcome) and isinstance(web, Outcome) for db, _, web in answers)
    assert all(isinstance(nope, ServiceNotFound) for _, nope, _ in answers)
    with engine.connect() as conn:
        counts = conn.execute(sa.select(t.incidents.c.alert_count)).scalars().all()
    assert sorted(counts) == [40, 40]  # every alert of every request committed


def run_threads(target: Callable[[], None], count: int) -> None:
    threads = [threading.Thread(target=target) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


class _RecordingHandlers:
    """Handlers that record each batch they are given, and hold the first until released."""

    def __init__(self) -> None:
        self.batches: list[list[ServiceCommand]] = []
        self.holding = threading.Event()
        self.release = threading.Event()

    def execute(self, commands: list[ServiceCommand]) -> list[Outcome]:
        if not self.batches:
            self.holding.set()
            self.release.wait(10)
        self.batches.append(list(commands))
        return [None] * len(commands)  # type: ignore[list-item]


def test_callers_just_answered_share_the_next_commit() -> None:
    """Two callers answered together send again one after the other: the second is waited
    for (up to the gathering time), so both share one commit instead of one each."""
    handlers = _RecordingHandlers()
    committer = GroupCommitter(handlers, gather_seconds=10)  # type: ignore[arg-type]
    try:
        held = committer.submit(MarkHealthy("a"))  # taken at once, then held
        assert handlers.holding.wait(5)
        pair = [committer.submit(MarkHealthy("b")), committer.submit(MarkHealthy("c"))]
        handlers.release.set()
        for future in [held, *pair]:
            future.result(timeout=5)
        again = [committer.submit(MarkHealthy("b"))]
        threading.Timer(0.2, lambda: again.append(committer.submit(MarkHealthy("c")))).start()
        again[0].result(timeout=5)
        again[1].result(timeout=5)
        assert [len(batch) for batch in handlers.batches] == [1, 2, 2]
    finally:
        committer.close()


def test_a_lone_caller_is_never_kept_waiting() -> None:
    handlers = _RecordingHandlers()
    handlers.release.set()
    committer = GroupCommitter(handlers, gather_seconds=60)  # type: ignore[arg-type]
    try:
        for service in ("a", "b", "c"):
            committer.submit(MarkHealthy(service)).result(timeout=5)
        assert [len(batch) for batch in handlers.batches] == [1, 1, 1]
    finally:
        committer.close()
